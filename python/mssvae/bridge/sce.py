"""Bioconductor objects from Python: read a SingleCellExperiment (or SummarizedExperiment) saved
as ``.rds`` into an AnnData, and write an AnnData — with its MSSVAE results — back as a
SingleCellExperiment ``.rds`` laid out as the R package lays them out.

A Python user handed an R object can so fit the model and hand the result back::

    import mssvae
    adata = mssvae.read_sce("pbmc.rds")             # X = the "counts" assay
    mssvae.fit(adata, group_key="disease")
    mssvae.write_sce(adata, "pbmc_mssvae.rds")      # readRDS() in R; factorGeneSets() works

Results in the R layout (README, "Results contract"): ``rowData(x)$MSSVAE_W_shared`` and one
``rowData(x)$MSSVAE_W_<group>`` matrix column per group, ``reducedDim(x, "MSSVAE_shared")`` and
``"MSSVAE_specific"``, ``colData(x)$MSSVAE_group`` and ``metadata(x)$MSSVAE`` (the entries of
``.uns["mssvae"]``). Reading an object fitted in R maps them back to ``.varm``/``.obsm``/
``.uns["mssvae"]``.

Needs R with SingleCellExperiment and the mssvae R package (whose functions write and read the
layout, so that it exists once), and the Python packages rpy2 (< 3.6 with R 4.2) and anndata2ri:
``pip install "mssvae[r]"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import contract as C
from ..errors import MSSVAEInputError
from . import FACTOR_NAMES, GROUPS, METADATA, SAMPLE_GROUPS, W_SHARED, W_SPECIFIC, Z_SHARED, Z_SPECIFIC, results_dict

X_ASSAY = "sce_x_assay"  # .uns entry: the name of the assay read into .X

# R helpers for the conversion itself, defined once per session in their own environment. The
# layout of the results is the R package's own, through its exported functions (?MSSVAEResults):
# storeMSSVAEResults() writes it (as fitMSSVAE() does), readMSSVAEResults() and
# dropMSSVAEResults() read it back.
_R_CODE = r"""
local({
suppressPackageStartupMessages({
    library(SingleCellExperiment)
})
if (!requireNamespace("mssvae", quietly = TRUE)) {
    stop("the mssvae R package is not installed: read_sce/write_sce use its layout of the results; ",
         "install it with `make r-install` or `R CMD INSTALL r-package`")
}
plain_matrix <- function(m) {
    if (is.matrix(m) || is(m, "dgCMatrix")) return(m)
    if (is(m, "sparseMatrix")) {
        m <- as(m, "CsparseMatrix")
        if (!is(m, "generalMatrix")) m <- as(m, "generalMatrix")
        if (!is(m, "dMatrix")) m <- as(m, "dMatrix")
        return(m)
    }
    as.matrix(m)
}
is_mat <- function(col) length(dim(col)) == 2L
prep_read <- function(x, x_assay) {
    if (!is(x, "SummarizedExperiment")) {
        stop(sprintf("the file holds a %s, not a SummarizedExperiment or SingleCellExperiment", class(x)[1]))
    }
    if (!is(x, "SingleCellExperiment")) x <- as(x, "SingleCellExperiment")
    an <- assayNames(x)
    if (length(assays(x)) && is.null(an)) {
        an <- paste0("assay", seq_along(assays(x)))
        assayNames(x) <- an
    }
    if (is.null(x_assay)) x_assay <- if ("counts" %in% an) "counts" else if (length(an)) an[1] else NA_character_
    if (!is.na(x_assay)) {
        if (!x_assay %in% an) stop(sprintf("assay '%s' not found; available assays: %s", x_assay, paste(an, collapse = ", ")))
        assays(x) <- assays(x)[c(x_assay, setdiff(an, x_assay))]
        for (a in assayNames(x)) assay(x, a, withDimnames = FALSE) <- plain_matrix(assay(x, a, withDimnames = FALSE))
    }
    res <- mssvae::readMSSVAEResults(x)
    if (!is.null(res)) x <- mssvae::dropMSSVAEResults(x)
    rd <- rowData(x)
    cd <- colData(x)
    # anndata2ri cannot convert matrix columns of rowData/colData: they go to varm/obsm
    mr <- colnames(rd)[vapply(as.list(rd), is_mat, logical(1))]
    mc <- colnames(cd)[vapply(as.list(cd), is_mat, logical(1))]
    varm <- lapply(setNames(mr, mr), function(n) as.matrix(rd[[n]]))
    obsm <- lapply(setNames(mc, mc), function(n) as.matrix(cd[[n]]))
    rowData(x) <- rd[, !colnames(rd) %in% mr, drop = FALSE]
    colData(x) <- cd[, !colnames(cd) %in% mc, drop = FALSE]
    # metadata is converted in Python (anndata2ri leaves rpy2 containers h5ad cannot store)
    uns <- metadata(x)
    if (length(uns) && is.null(names(uns))) names(uns) <- paste0("metadata_", seq_along(uns))
    metadata(x) <- list()
    list(sce = x, x_assay = x_assay, varm = varm, obsm = obsm, uns = uns, mssvae = res)
}
rename_x <- function(x, x_assay) {
    an <- assayNames(x)
    if ("X" %in% an && !is.null(x_assay) && x_assay != "X") {
        if (x_assay %in% an) stop(sprintf("cannot name .X '%s': a layer has that name", x_assay))
        an[an == "X"] <- x_assay
        assayNames(x) <- an
    }
    x
}
list(prep_read = prep_read, rename_x = rename_x)
})
"""

_helpers = None


def _r():
    """rpy2's robjects and the helper functions (R is started on first use)."""
    global _helpers
    try:
        import rpy2.robjects as ro
    except Exception as err:  # ImportError, or R that cannot start
        raise ImportError(
            f"mssvae.read_sce/write_sce need rpy2 (< 3.6 with R 4.2) and anndata2ri and a working R ({err}); "
            'install them with `pip install "mssvae[r]"` (or `make setup` in the repository)'
        ) from err
    if _helpers is None:
        try:
            _helpers = ro.r(_R_CODE)
        except Exception as err:  # rpy2's RRuntimeError: a missing R package
            raise ImportError(f"mssvae.read_sce/write_sce: {str(err).strip()}") from None
    return ro, _helpers


def _from_r(obj):
    """An R value as plain Python: named lists → dicts, data.frames → dicts of arrays, atomic
    vectors → numpy arrays (length 1 → scalars, character → lists of str), NULL → None."""
    import rpy2.rinterface as ri
    import rpy2.robjects as ro

    if obj is None or isinstance(obj, ri.NULLType):
        return None
    rclass = list(obj.rclass) if hasattr(obj, "rclass") else []
    if "data.frame" in rclass:
        return {str(n): _from_r(col) for n, col in zip(obj.names, obj)}
    if isinstance(obj, (ri.ListSexpVector, ro.vectors.ListVector)):
        names = obj.names if not isinstance(obj.names, ri.NULLType) else None
        items = [_from_r(v) for v in obj]
        if names is None:
            return items
        return {str(n): v for n, v in zip(names, items)}
    if isinstance(obj, (ri.StrSexpVector, ro.vectors.StrVector)):
        vals = [None if v is ri.NA_Character else str(v) for v in obj]
        return vals[0] if len(vals) == 1 and "factor" not in rclass else vals
    if "factor" in rclass:
        levels = list(ro.r["levels"](obj))
        return [levels[i - 1] for i in obj]
    if isinstance(obj, (ri.BoolSexpVector, ro.vectors.BoolVector)):
        arr = np.array([bool(v) for v in obj])
    elif isinstance(obj, (ri.IntSexpVector, ro.vectors.IntVector)):
        arr = np.array(list(obj), dtype=np.int64)
    elif isinstance(obj, (ri.FloatSexpVector, ro.vectors.FloatVector)):
        arr = np.array(list(obj), dtype=np.float64)
    else:
        return str(obj)
    dim = ro.r["dim"](obj)
    if not isinstance(dim, ri.NULLType) and len(dim) == 2:
        return arr.reshape(tuple(int(d) for d in dim), order="F")
    return arr.item() if arr.size == 1 else arr


def _to_r(value):
    """Plain Python (the dicts of :mod:`mssvae.bridge`) as an R value."""
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    if value is None:
        return ro.NULL
    if isinstance(value, dict):
        return ro.vectors.ListVector({str(k): _to_r(v) for k, v in value.items()}) if value else ro.r("list()")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            return ro.StrVector([str(v) for v in value.ravel()])
        if value.dtype.kind == "b":
            arr = value
        elif value.dtype.kind in "iu" and np.abs(value).max(initial=0) < 2**31:
            arr = value.astype(np.int32)
        else:
            arr = value.astype(np.float64)
        with localconverter(ro.default_converter + numpy2ri.converter):
            return ro.conversion.get_conversion().py2rpy(arr)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value) and value:
            return ro.StrVector(list(value))
        if value and all(isinstance(v, (bool, np.bool_)) for v in value):
            return ro.BoolVector(list(value))
        if value and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value):
            return ro.FloatVector([float(v) for v in value]) if any(isinstance(v, (float, np.floating)) for v in value) \
                else ro.IntVector([int(v) for v in value])
        return ro.vectors.ListVector.from_length(0) if not value else ro.r["list"](*[_to_r(v) for v in value])
    if isinstance(value, (bool, np.bool_)):
        return ro.BoolVector([bool(value)])
    if isinstance(value, (int, np.integer)):
        return ro.IntVector([int(value)]) if abs(int(value)) < 2**31 else ro.FloatVector([float(value)])
    if isinstance(value, (float, np.floating)):
        return ro.FloatVector([float(value)])
    return ro.StrVector([str(value)])


def _h5ad_safe(value):
    if value is None:
        return "none"
    if isinstance(value, dict):
        return {k: _h5ad_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_h5ad_safe(v) for v in value]
    return value


def _plain_strings(adata) -> None:
    """anndata2ri gives string-dtype names (pandas ``StringDtype``), which h5ad files refuse by
    default and an old reticulate cannot convert: make them plain object strings."""
    import pandas as pd

    for df in (adata.obs, adata.var):
        df.index = pd.Index(df.index.astype(str), dtype=object)
        for col in df.columns:
            s = df[col]
            if isinstance(s.dtype, pd.StringDtype):
                df[col] = s.astype(object)
            elif isinstance(s.dtype, pd.CategoricalDtype) and isinstance(s.cat.categories.dtype, pd.StringDtype):
                df[col] = s.cat.rename_categories(pd.Index(s.cat.categories.astype(str), dtype=object))


def read_sce(path: str | Path, x_assay: str | None = None):
    """Read a SingleCellExperiment or SummarizedExperiment ``.rds`` file as an AnnData.

    Parameters
    ----------
    path
        An ``.rds`` file written by ``saveRDS()``.
    x_assay
        The assay to read into ``.X``; default ``"counts"`` when there is one, else the
        first assay. The other assays become layers of the same names; the name of this one
        is kept in ``.uns["sce_x_assay"]`` (used by :func:`write_sce`).

    Returns
    -------
    anndata.AnnData
        Samples × features: ``colData`` → ``.obs``, ``rowData`` → ``.var`` (matrix columns →
        ``.varm``), ``reducedDims`` → ``.obsm``, ``metadata`` → ``.uns``. MSSVAE results
        written by the R package (or :func:`write_sce`) are mapped back to ``.varm``,
        ``.obsm`` and ``.uns["mssvae"]`` as :func:`mssvae.fit` writes them.
    """
    import anndata2ri
    from rpy2.robjects.conversion import localconverter

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    ro, helpers = _r()
    try:
        obj = ro.r["readRDS"](str(path))
    except Exception as err:  # rpy2's RRuntimeError
        raise MSSVAEInputError(f"cannot read {path} with readRDS(): {err}") from None
    try:
        parts = helpers.rx2("prep_read")(obj, ro.NULL if x_assay is None else x_assay)
    except Exception as err:
        raise MSSVAEInputError(f"{path}: {str(err).strip()}") from None
    with localconverter(anndata2ri.converter):
        adata = parts.rx2("sce")  # converted on the way out
    _plain_strings(adata)
    for key in ("varm", "obsm"):
        for name, m in (_from_r(parts.rx2(key)) or {}).items():
            getattr(adata, key)[name] = np.asarray(m)
    for key, value in (_from_r(parts.rx2("uns")) or {}).items():
        adata.uns[key] = _h5ad_safe(value)
    name = _from_r(parts.rx2("x_assay"))
    if isinstance(name, str):
        adata.uns[X_ASSAY] = name
    res = _from_r(parts.rx2("mssvae"))
    if res is not None:
        adata.varm[C.W_SHARED] = np.asarray(res[W_SHARED], dtype=np.float64)
        adata.varm[C.W_SPECIFIC] = np.asarray(res[W_SPECIFIC], dtype=np.float64).reshape(adata.n_vars, -1)
        if res.get(Z_SHARED) is not None:
            adata.obsm[C.Z_SHARED] = np.asarray(res[Z_SHARED], dtype=np.float64)
            adata.obsm[C.Z_SPECIFIC] = np.asarray(res[Z_SPECIFIC], dtype=np.float64).reshape(adata.n_obs, -1)
        md = res[METADATA]
        md[C.GROUPS] = list(np.atleast_1d(md[C.GROUPS]))
        md[C.N_SPECIFIC] = np.atleast_1d(np.asarray(md[C.N_SPECIFIC], dtype=np.int64))
        adata.uns[C.UNS] = _h5ad_safe(md)
    return adata


def write_sce(adata, path: str | Path, x_assay: str | None = None) -> Path:
    """Write ``adata`` as a SingleCellExperiment ``.rds``, with its MSSVAE results in the R
    package's layout.

    Parameters
    ----------
    adata
        An AnnData, typically fitted with :func:`mssvae.fit` (results in ``.varm``/``.obsm``/
        ``.uns["mssvae"]``); one without results is written as is.
    path
        The ``.rds`` file to write.
    x_assay
        The assay name for ``.X``; default ``.uns["sce_x_assay"]`` (set by :func:`read_sce`),
        else ``"X"``. Layers become assays of their own names.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import anndata
    import anndata2ri
    from rpy2.robjects.conversion import localconverter


    ro, helpers = _r()
    has_results = C.UNS in adata.uns and C.W_SHARED in adata.varm
    res = results_dict(adata) if has_results else None
    skip_obsm = {C.Z_SHARED, C.Z_SPECIFIC} if has_results else set()
    base = anndata.AnnData(
        X=adata.X,
        obs=adata.obs,
        var=adata.var,
        layers={k: v for k, v in adata.layers.items()},
        obsm={k: v for k, v in adata.obsm.items() if k not in skip_obsm and isinstance(v, np.ndarray)},
        uns={k: v for k, v in adata.uns.items() if k not in (C.UNS, X_ASSAY)},
    )
    name = x_assay or adata.uns.get(X_ASSAY) or "X"
    with localconverter(anndata2ri.converter):
        sce = ro.conversion.get_conversion().py2rpy(base)
    sce = helpers.rx2("rename_x")(sce, str(name))
    if res is not None:
        payload = {k: res[k] for k in (GROUPS, FACTOR_NAMES, W_SHARED, W_SPECIFIC, Z_SHARED, Z_SPECIFIC, SAMPLE_GROUPS, METADATA)}
        store = ro.r("mssvae::storeMSSVAEResults")
        sce = store(sce, _to_r(payload), ro.r["seq_len"](adata.n_vars), str(name))
    path = Path(path)
    ro.r["saveRDS"](sce, str(path))
    return path


__all__ = ["read_sce", "write_sce"]
