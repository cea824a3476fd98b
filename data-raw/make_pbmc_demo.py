"""Build the shipped demo data ``python/mssvae/data/pbmc_demo.h5ad``.

Source: ``scanpy/datasets/10x_pbmc68k_reduced.h5ad`` inside the scanpy wheel
(BSD-3-Clause), a 700-cell x 765-gene subset of the 10x Genomics dataset
"Fresh 68k PBMCs (Donor A)" (Zheng et al. 2017, Nat. Commun. 8:14049).
See ``data-raw/README.md`` for provenance, licences and the arithmetic.

The scanpy file does not hold counts: ``.X`` is scaled and ``.raw.X`` is
``round(log1p(1e4 * counts / n_counts), 3)``.  Its ``obs["n_counts"]`` holds the
per-cell totals used for that normalisation, so the UMI counts are recovered as

    counts = round(expm1(raw.X) * n_counts / 1e4)

and the script proves, entry by entry, that the rounding is unambiguous.

Usage (from the repository root)::

    .venv/bin/python data-raw/make_pbmc_demo.py            # pip-downloads the pinned wheel
    .venv/bin/python data-raw/make_pbmc_demo.py path/to/scanpy-1.11.5-py3-none-any.whl

scanpy itself is never imported: the h5ad file is read straight out of the
wheel (a zip archive) with anndata.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

SCANPY_VERSION = "1.11.5"
MEMBER = "scanpy/datasets/10x_pbmc68k_reduced.h5ad"
TARGET_SUM = 1e4  # scanpy's normalize_total(target_sum=1e4) used to make the file
DECIMALS = 3  # scanpy rounded raw.X.data to 3 decimals (see the pbmc68k_reduced docstring)
OUT_DEFAULT = os.path.join("python", "mssvae", "data", "pbmc_demo.h5ad")

# Coarse lineage of each bulk label: lets a demo use fewer, larger groups.
LINEAGE = {
    "CD4+/CD25 T Reg": "T cell",
    "CD4+/CD45RA+/CD25- Naive T": "T cell",
    "CD4+/CD45RO+ Memory": "T cell",
    "CD8+ Cytotoxic T": "T cell",
    "CD8+/CD45RA+ Naive Cytotoxic": "T cell",
    "CD56+ NK": "NK",
    "CD19+ B": "B cell",
    "CD14+ Monocyte": "myeloid",
    "Dendritic": "myeloid",
    "CD34+": "progenitor",
}
LINEAGE_ORDER = ["T cell", "NK", "B cell", "myeloid", "progenitor"]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(tmpdir: str) -> str:
    """Download the pinned scanpy wheel (no dependencies) with pip."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        f"scanpy=={SCANPY_VERSION}", "-d", tmpdir,
    ]
    print("running:", " ".join(cmd))
    subprocess.run(cmd, check=True)
    wheels = glob.glob(os.path.join(tmpdir, f"scanpy-{SCANPY_VERSION}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one scanpy {SCANPY_VERSION} wheel in {tmpdir}, found {wheels}")
    return wheels[0]


def read_source(wheel: str, tmpdir: str) -> tuple[ad.AnnData, str]:
    """Extract the h5ad member of the wheel to ``tmpdir`` and read it."""
    with zipfile.ZipFile(wheel) as zf:
        path = zf.extract(MEMBER, tmpdir)
    with warnings.catch_warnings():
        # the file predates .obsp; anndata warns while moving the neighbour graphs
        warnings.simplefilter("ignore", FutureWarning)
        adata = ad.read_h5ad(path)
    return adata, _sha256(path)


def recover_counts(src: ad.AnnData) -> tuple[sp.csr_matrix, dict]:
    """Invert ``round(log1p(1e4 * counts / n_counts), 3)`` and verify it.

    Returns the integer counts (CSR, float64) and a dict of the checks' numbers.
    """
    raw = sp.csr_matrix(src.raw.X)
    raw.sort_indices()
    v = raw.data.astype(np.float64)
    n_counts = src.obs["n_counts"].to_numpy(np.float64)
    assert np.all(n_counts == np.round(n_counts)) and np.all(n_counts > 0)
    scale = np.repeat(n_counts / TARGET_SUM, np.diff(raw.indptr))  # per stored entry

    est = np.expm1(v) * scale
    k = np.round(est)
    dev = np.abs(est - k)

    # The stored values are log1p(...) rounded to 3 decimals and then stored as
    # float32, so each is within 5e-4 (+ float32 and round-half slack) of the
    # exact log1p(k / scale).  A slack of 5.5e-4 covers both.
    tol = 0.5 * 10.0 ** (-DECIMALS) + 5e-5
    forward = np.abs(np.log1p(k / scale) - v)
    assert forward.max() <= tol, f"stored value not reproduced: {forward.max()}"
    # Exactness: the interval of counts consistent with a stored value holds
    # exactly one integer, so no other count could have produced that value.
    lo = np.expm1(v - tol) * scale
    hi = np.expm1(v + tol) * scale
    n_int = np.floor(hi) - np.ceil(lo) + 1
    assert np.all(n_int == 1), f"{np.sum(n_int != 1)} entries are ambiguous"
    # The deviation from the nearest integer is bounded by what the 3-decimal
    # rounding allows: |d count| <= (count + scale) * (exp(tol) - 1).
    bound = (k + scale) * np.expm1(tol)
    assert np.all(dev <= bound), "deviation larger than the rounding explains"
    assert k.min() >= 1, "a stored non-zero maps to a zero count"
    # Where that bound is below 1e-2 (counts up to ~17), the recovered values
    # must be within 1e-2 of integers, as they are for exact data.
    small = bound < 1e-2
    assert np.all(dev[small] < 1e-2)

    counts = sp.csr_matrix((k, raw.indices.copy(), raw.indptr.copy()), shape=raw.shape)
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    assert np.all(row_sums <= n_counts)  # the 765 genes are a subset of those summed in n_counts
    frac = row_sums / n_counts
    info = {
        "n_entries": int(v.size),
        "max_dev_from_integer": float(dev.max()),
        "n_dev_over_1e-2": int(np.sum(dev > 1e-2)),
        "max_dev_where_bound_below_1e-2": float(dev[small].max()),
        "max_forward_error": float(forward.max()),
        "max_count": int(k.max()),
        "rowsum_over_n_counts_min": float(frac.min()),
        "rowsum_over_n_counts_median": float(np.median(frac)),
        "rowsum_over_n_counts_max": float(frac.max()),
    }
    return counts, info


def build(src: ad.AnnData, counts: sp.csr_matrix, provenance: dict) -> ad.AnnData:
    labels = src.obs["bulk_labels"].astype(str)
    unknown = sorted(set(labels) - set(LINEAGE))
    assert not unknown, f"no lineage for {unknown}"
    obs = pd.DataFrame(index=src.obs_names.astype(str))
    obs["cell_type"] = pd.Categorical(labels.to_numpy(), categories=list(src.obs["bulk_labels"].cat.categories))
    obs["lineage"] = pd.Categorical(labels.map(LINEAGE).to_numpy(), categories=LINEAGE_ORDER)
    # per-cell total of the full data set (not of the 765 genes here); kept as a
    # known library size for users who want one
    obs["n_counts_source"] = src.obs["n_counts"].to_numpy(np.float32)
    var = pd.DataFrame(index=src.raw.var_names.astype(str))
    out = ad.AnnData(X=counts.astype(np.float32), obs=obs, var=var)
    out.obs_names.name = None
    out.var_names.name = None
    out.uns["provenance"] = provenance
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", nargs="?", help=f"a scanpy {SCANPY_VERSION} wheel (default: pip download it)")
    parser.add_argument("--out", default=OUT_DEFAULT, help=f"output file (default {OUT_DEFAULT})")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmpdir:
        wheel = args.wheel or fetch_wheel(tmpdir)
        wheel_name = os.path.basename(wheel)
        if f"scanpy-{SCANPY_VERSION}-" not in wheel_name:
            print(f"warning: {wheel_name} is not scanpy {SCANPY_VERSION}; the provenance records it as given")
        wheel_sha = _sha256(wheel)
        src, member_sha = read_source(wheel, tmpdir)

    print(f"source: {MEMBER} in {wheel_name}: {src.n_obs} cells x {src.n_vars} genes")
    counts, info = recover_counts(src)
    print("count recovery, round(expm1(raw.X) * n_counts / 1e4):")
    for key, value in info.items():
        print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")

    provenance = {
        "source": f"{MEMBER} from the scanpy {SCANPY_VERSION} wheel ({wheel_name}), obs['bulk_labels'] and raw.X",
        "scanpy_version": SCANPY_VERSION,
        "scanpy_licence": "BSD-3-Clause",
        "wheel_sha256": wheel_sha,
        "h5ad_sha256": member_sha,
        "original_dataset": "10x Genomics, Fresh 68k PBMCs (Donor A), Cell Ranger 1.1.0; "
        "https://www.10xgenomics.com/datasets/fresh-68-k-pbm-cs-donor-a-1-standard-1-1-0",
        "citation": "Zheng, G. X. Y. et al. (2017). Massively parallel digital transcriptional "
        "profiling of single cells. Nature Communications 8, 14049. doi:10.1038/ncomms14049",
        "counts": "X = round(expm1(raw.X) * obs['n_counts'] / 1e4); exact, see data-raw/README.md",
        # two parallel arrays: the labels contain "/", which h5py would read as nested groups
        "lineage_map": {
            "cell_type": np.array(list(LINEAGE), dtype=object),
            "lineage": np.array(list(LINEAGE.values()), dtype=object),
        },
        "command": "data-raw/make_pbmc_demo.py" + (f" {wheel_name}" if args.wheel else ""),
        "recovery_checks": {k: v for k, v in info.items()},
    }
    out = build(src, counts, provenance)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    out.write_h5ad(args.out, compression="gzip", compression_opts=9)

    size = os.path.getsize(args.out)
    print(f"wrote {args.out}: {out.n_obs} cells x {out.n_vars} genes, {counts.nnz} non-zeros, {size / 1e6:.2f} MB")
    assert size < 2e6, "demo file is larger than 2 MB"
    for col in ("cell_type", "lineage"):
        print(f"{col} sizes:")
        for name, n in out.obs[col].value_counts(sort=True).items():
            print(f"  {n:4d}  {name}")


if __name__ == "__main__":
    main()
