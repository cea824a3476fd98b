"""The multiGroupVI two-group Splatter benchmark (Weinberger et al., 2022, §5 and App. D), in numpy.

multiGroupVI ran Splatter twice and concatenated the genes:

1. 5,000 "shared" genes for 10,000 cells in five equally likely cell types, Splatter defaults
   (library sizes LogNormal(11, 0.2^2));
2. 200 "program" genes for the same cells in four equally likely Splatter groups, library-size
   location 6 instead of 11; groups 1+2 form Group 1 (its two programs), 3+4 form Group 2.

:func:`splat_run` re-implements one Splatter run (Zappia et al., 2017; ``splatSimulate`` with
``method="groups"`` and no dropout): gene means Gamma(0.6, rate 0.3); expression outliers
(probability 0.05, median mean times LogNormal(4, 0.5^2)); library sizes LogNormal(lib_loc,
0.2^2); per-group DE with probability 0.1, factor LogNormal(0.1, 0.4^2), down-regulated (factor
inverted) with probability 0.5; cell means = library size x the cell's group means normalised to
sum 1; BCV = (0.1 + 1/sqrt(mean)) sqrt(60 / chi^2_60) with one chi^2 draw per *gene* (as
Splatter's ``splatSimBCVMeans``); counts Poisson(Gamma(1/BCV^2, mean BCV^2)).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .base import TRUE_MEAN_LAYER, assemble, group_labels, nb_counts

SPLAT_DEFAULTS = {
    "mean_shape": 0.6, "mean_rate": 0.3, "lib_scale": 0.2, "out_prob": 0.05, "out_fac_loc": 4.0,
    "out_fac_scale": 0.5, "de_prob": 0.1, "de_down_prob": 0.5, "de_fac_loc": 0.1, "de_fac_scale": 0.4,
    "bcv_common": 0.1, "bcv_df": 60.0,
}  # Splatter's SplatParams prototype (R/AllClasses.R)


def splat_run(rng, n_genes, labels, allowed, lib_loc, params=None, chunk=2000, keep_means=False):
    """One Splatter "groups" simulation (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    n_genes : int
    labels : numpy.ndarray
        Each cell's 0-based Splatter group.
    allowed : numpy.ndarray
        ``(n_labels, n_genes)`` bool: genes that may be DE in each group. Splatter allows all;
        :func:`splatter2` restricts each program to its own group's genes. At least
        ``params["min_de"]`` (default 2) DE genes are forced per group, so no program is empty.
    lib_loc : float
        meanlog of the library sizes.
    params : dict, optional
        Overrides of :data:`SPLAT_DEFAULTS`.
    chunk : int
        Cells per block when drawing counts (bounds memory at ``chunk * n_genes`` floats).
    keep_means : bool
        Also return the base cell means (the NB means).

    Returns
    -------
    counts : numpy.ndarray
        ``(n_cells, n_genes)`` float32 integer counts.
    log_fac : numpy.ndarray
        ``(n_genes, n_labels)`` signed log DE factors, exactly 0 for non-DE genes.
    library : numpy.ndarray
        Library sizes.
    means : numpy.ndarray or None
        ``(n_cells, n_genes)`` float32 base cell means if ``keep_means``.
    """
    p = {**SPLAT_DEFAULTS, "min_de": 2, **(params or {})}
    n_cells, n_labels = len(labels), allowed.shape[0]
    base = rng.gamma(p["mean_shape"], 1.0 / p["mean_rate"], size=n_genes)
    outlier = rng.random(n_genes) < p["out_prob"]
    out_fac = rng.lognormal(p["out_fac_loc"], p["out_fac_scale"], size=n_genes)
    base = np.where(outlier, np.median(base) * out_fac, base)
    library = rng.lognormal(lib_loc, p["lib_scale"], size=n_cells)

    log_fac = np.zeros((n_genes, n_labels))
    for label in range(n_labels):
        selected = (rng.random(n_genes) < p["de_prob"]) & allowed[label]
        missing = int(p["min_de"]) - int(selected.sum())
        if missing > 0:  # guarantee a non-empty program (rare: 0.9^100 for 100 allowed genes)
            selected[rng.choice(np.flatnonzero(allowed[label] & ~selected), size=missing, replace=False)] = True
        size = np.log(rng.lognormal(p["de_fac_loc"], p["de_fac_scale"], size=n_genes))
        sign = np.where(rng.random(n_genes) < p["de_down_prob"], -1.0, 1.0)
        log_fac[:, label] = np.where(selected, sign * size, 0.0)
    # Each Splatter group's gene means, normalised to proportions (cell means sum to the library).
    props = base[:, None] * np.exp(log_fac)
    props /= props.sum(axis=0, keepdims=True)
    bcv_gene = np.sqrt(p["bcv_df"] / rng.chisquare(p["bcv_df"], size=n_genes))

    counts = np.empty((n_cells, n_genes), dtype=np.float32)
    means = np.empty((n_cells, n_genes), dtype=np.float32) if keep_means else None
    for start in range(0, n_cells, chunk):
        rows = slice(start, start + chunk)
        mean = np.maximum(props[:, labels[rows]].T * library[rows, None], 1e-12)
        counts[rows] = nb_counts(rng, mean, (p["bcv_common"] + 1.0 / np.sqrt(mean)) * bcv_gene)
        if keep_means:
            means[rows] = mean
    return counts, log_fac, library, means


def splatter2(
    n_cells: int = 10000,
    n_shared_genes: int = 5000,
    n_program_genes: int = 200,
    n_cell_types: int = 5,
    n_groups: int = 2,
    n_programs: int = 2,
    seed: int = 0,
    lib_loc_shared: float = 11.0,
    lib_loc_program: float = 6.0,
    keep_means: bool = False,
    **splat_params,
) -> ad.AnnData:
    """Two-group Splatter data with known shared cell types and group-specific gene programs.

    Design of Weinberger et al. (2022) App. D (module docstring), with one change for a clean
    ground truth: each group's programs are DE only on that group's own contiguous
    ``n_program_genes / n_groups`` program genes (Splatter would draw DE genes for the four
    subgroups independently over all 200, so a gene could be a program gene of both groups).

    Ground truth, in the keys of :mod:`mssvae.sim.designs`:

    * ``TRUE_W_SHARED`` (G x n_cell_types): signed log DE factor of each cell type on the shared
      genes (non-zero = the gene distinguishes that cell type), zero on program genes;
    * ``TRUE_W_SPECIFIC`` (G x n_groups n_programs): group m's block holds the log DE factors of
      its programs, non-zero only on group m's program genes;
    * ``TRUE_Z_SHARED``: one-hot cell type (N x n_cell_types);
    * ``TRUE_Z_SPECIFIC``: one-hot program within the cell's own group (N x n_programs).

    Parameters
    ----------
    n_cells, n_shared_genes, n_program_genes, n_cell_types
        Paper: 10,000, 5,000, 200 and 5.
    n_groups, n_programs
        Groups and programs per group (paper: 2 and 2); cells pick one of the
        ``n_groups * n_programs`` Splatter subgroups uniformly.
    seed
        Seed of ``numpy.random.default_rng``.
    lib_loc_shared, lib_loc_program
        meanlog of the library sizes of the two Splatter runs (paper: 11 and 6).
    keep_means
        Store the NB means as ``layers["true_mean"]`` (float32).
    **splat_params
        Overrides of :data:`SPLAT_DEFAULTS` (e.g. ``de_prob``) and ``min_de``, for both runs.

    Returns
    -------
    anndata.AnnData
        ``X`` float32 integer counts (cells x [shared genes, program genes]); obs ``group``,
        ``cell_type``, ``program`` and both true library sizes; var ``gene_set`` ("shared" or
        the owning group's label).
    """
    rng = np.random.default_rng(seed)
    unknown = set(splat_params) - set(SPLAT_DEFAULTS) - {"min_de"}
    if unknown:
        raise TypeError(f"unknown Splatter parameters {sorted(unknown)}; known: {sorted(SPLAT_DEFAULTS)}")
    if n_program_genes < 2 * n_groups:
        raise ValueError("need at least two program genes per group")
    cell_type = rng.integers(n_cell_types, size=n_cells)
    subgroup = rng.integers(n_groups * n_programs, size=n_cells)
    group_index, program = subgroup // n_programs, subgroup % n_programs

    everywhere = np.ones((n_cell_types, n_shared_genes), dtype=bool)
    x_shared, fac_shared, lib_shared, mean_shared = splat_run(
        rng, n_shared_genes, cell_type, everywhere, lib_loc_shared, splat_params, keep_means=keep_means
    )
    owner = np.minimum(np.arange(n_program_genes) * n_groups // n_program_genes, n_groups - 1)
    allowed = owner[None, :] == (np.arange(n_groups * n_programs) // n_programs)[:, None]
    x_prog, fac_prog, lib_prog, mean_prog = splat_run(
        rng, n_program_genes, subgroup, allowed, lib_loc_program, splat_params, keep_means=keep_means
    )

    n_genes = n_shared_genes + n_program_genes
    w_shared = np.zeros((n_genes, n_cell_types))
    w_shared[:n_shared_genes] = fac_shared
    w_specific = np.zeros((n_genes, n_groups * n_programs))
    w_specific[n_shared_genes:] = fac_prog
    groups = group_labels(n_groups)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(cell_type, [f"type{k + 1}" for k in range(n_cell_types)]),
            "program": pd.Categorical.from_codes(program, [f"program{k + 1}" for k in range(n_programs)]),
            "true_library_size_shared": lib_shared,
            "true_library_size_program": lib_prog,
        },
        index=[f"cell_{i + 1}" for i in range(n_cells)],
    )
    uns = {
        "design": "splatter2",
        "seed": int(seed),
        "cell_types": list(obs["cell_type"].cat.categories),
        "params": {**SPLAT_DEFAULTS, "min_de": 2, **{k: float(v) for k, v in splat_params.items()},
                   "lib_loc_shared": float(lib_loc_shared), "lib_loc_program": float(lib_loc_program),
                   "n_shared_genes": int(n_shared_genes), "n_program_genes": int(n_program_genes),
                   "n_programs": int(n_programs)},
    }
    adata = assemble(
        np.hstack([x_shared, x_prog]), group_index, groups, np.eye(n_cell_types)[cell_type],
        np.eye(n_programs)[program], w_shared, w_specific, [n_programs] * n_groups, uns, prefix="gene", obs=obs,
    )
    adata.var["gene_set"] = pd.Categorical(["shared"] * n_shared_genes + [groups[m] for m in owner],
                                           categories=["shared", *groups])
    if keep_means:
        adata.layers[TRUE_MEAN_LAYER] = np.hstack([mean_shared, mean_prog])
    return adata
