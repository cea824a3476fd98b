"""Shared and lineage-specific gene programs with mssvae — the R vignette's analysis, from Python.

    .venv/bin/python vignettes/mssvae_python.py --out-dir out/vignettes/python

Runs in a few minutes on 2 CPU cores: the settings are deliberately small (10 shared and 3
lineage-specific starting factors, hidden layers of 32 and 16, 200 epochs; the paper's Table 2
uses 50 and 10 factors, 256 and 128 units, 800 epochs). Steps, as in vignettes/mssvae.Rmd:

1. the shipped PBMC example (700 cells, 765 genes, five lineages);
2. the paper's preprocessing (App. C.4) with ``mssvae.pp.prepare``, thresholds for droplet data;
3. the fit, with the lineages as groups;
4. active factors, loadings heatmap, training history and latents (PNG files);
5. gene sets |W| > 0.5 and GO biological-process over-representation (one-sided Fisher's exact
   test, Benjamini–Yekutieli), with the annotations of Bioconductor's org.Hs.eg.db read through
   rpy2 (skipped with a message where R or rpy2 is missing);
6. the results as ``.h5ad`` and, through ``mssvae.write_sce``, as a SingleCellExperiment
   ``.rds`` for R users (``factorGeneSets(readRDS(...))`` works on it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

import mssvae
from mssvae import pp
from mssvae.io.example import example_data

# A narrow decoder for speed; the penalty weight goes with the width (README, "Penalty weight":
# the NB default, 10, is for Table 2's [256, 128]; at [32, 16] weight 2 did best). Minibatches
# of 512 (two steps an epoch here) with λ0 annealed at the paper's 5% and 30% of 200 such
# epochs; the fit may stop sooner.
SETTINGS = dict(n_shared=10, n_specific=3, hidden=(32, 16), sparsity_weight=2.0, batch_size=512,
                lambda0_breaks=(20, 120))


def go_term2gene(genes: list[str]) -> pd.DataFrame | None:
    """GO BP terms (with ancestors, GOALL) of gene symbols, from org.Hs.eg.db through rpy2."""
    try:
        import rpy2.robjects as ro
        from rpy2.robjects import pandas2ri
        from rpy2.robjects.conversion import localconverter

        ro.r("suppressPackageStartupMessages({library(AnnotationDbi); library(org.Hs.eg.db); library(GO.db)})")
        ro.globalenv["genes"] = ro.StrVector(genes)
        df = ro.r("""local({
            a <- suppressMessages(select(org.Hs.eg.db, keys = genes, keytype = "SYMBOL", columns = c("GOALL", "ONTOLOGYALL")))
            a <- unique(a[!is.na(a$GOALL) & a$ONTOLOGYALL == "BP", c("GOALL", "SYMBOL")])
            n <- suppressMessages(select(GO.db, keys = unique(a$GOALL), keytype = "GOID", columns = "TERM"))
            data.frame(term = a$GOALL, gene = a$SYMBOL, description = n$TERM[match(a$GOALL, n$GOID)])
        })""")
        with localconverter(ro.default_converter + pandas2ri.converter):
            return ro.conversion.get_conversion().rpy2py(df).reset_index(drop=True)
    except Exception as err:  # no rpy2, no R, or no annotation packages
        print(f"GO annotations unavailable ({type(err).__name__}: {err}); skipping the enrichment")
        return None


def by_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini–Yekutieli adjusted p-values (as R's p.adjust(method = "BY"))."""
    n = len(p)
    if n == 0:
        return p
    q = np.sum(1.0 / np.arange(1, n + 1))
    order = np.argsort(-p)
    ranks = n - np.arange(n)  # ranks of p in decreasing order: n, n-1, ..., 1
    adj = np.minimum.accumulate(q * n / ranks * p[order])
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def enrich(sets: dict[str, list[str]], universe: list[str], t2g: pd.DataFrame, min_size=10, max_size=500) -> pd.DataFrame:
    """One-sided Fisher's exact test (hypergeometric upper tail) per set and GO term, BY per set."""
    uni = set(universe)
    t2g = t2g[t2g.gene.isin(uni)].drop_duplicates(["term", "gene"])
    size = t2g.groupby("term").gene.size()
    t2g = t2g[t2g.term.isin(size[(size >= min_size) & (size <= max_size)].index)]
    desc = t2g.drop_duplicates("term").set_index("term").description
    N, rows = len(uni), []
    for name, genes in sets.items():
        s = set(genes) & uni
        hit = t2g[t2g.gene.isin(s)].groupby("term").gene.apply(list)
        if hit.empty:
            continue
        k = hit.map(len).to_numpy()
        M = size[hit.index].to_numpy()
        p = hypergeom.sf(k - 1, N, M, len(s))
        rows.append(pd.DataFrame({"set": name, "term": hit.index, "description": desc[hit.index].to_numpy(), "overlap": k,
                                  "set_size": len(s), "term_size": M, "fold_enrichment": (k / len(s)) / (M / N),
                                  "p_value": p, "p_adjust": by_adjust(p), "genes": hit.map("/".join).to_numpy()}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return out.sort_values(["set", "p_value"], kind="stable") if len(out) else out


def figures(adata, model, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mssvae.analysis.plotting import plot_loadings

    plot_loadings(adata, out / "loadings.png", max_features=70)
    h = model.history_frame()
    comps = [c for c in h.columns if c not in ("lambda0", "seconds")]
    fig, axes = plt.subplots(1, len(comps), figsize=(3 * len(comps), 2.6))
    for ax, c in zip(np.atleast_1d(axes), comps):
        ax.plot(h.index, h[c], color="0.2")
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    plt.close(fig)
    # shared latents: the two most active shared factors, coloured by cell type
    W = model.W_shared.abs()
    top2 = (W > 0.5).sum().sort_values(ascending=False).index[:2]
    idx = [model.W_shared.columns.get_loc(c) for c in top2]
    z = adata.obsm["X_mssvae_shared"][:, idx]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for ct, rows in adata.obs.groupby("cell_type", observed=True).indices.items():
        ax.scatter(z[rows, 0], z[rows, 1], s=6, label=ct)
    ax.set_xlabel(top2[0])
    ax.set_ylabel(top2[1])
    ax.legend(fontsize=6, markerscale=2, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.set_title("Shared latents")
    fig.tight_layout()
    fig.savefig(out / "latents_shared.png", dpi=110)
    plt.close(fig)


def enrichment_figure(sig: pd.DataFrame, n_sets: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq = sig.groupby("term").set.nunique()
    common = freq[freq > 0.1 * n_sets].index
    fig_df = sig[sig.term.isin(common)] if len(common) else sig
    fig_df = fig_df.sort_values(["set", "fold_enrichment"], ascending=[True, False]).groupby("set", sort=False).head(3)
    sets = list(dict.fromkeys(fig_df.set))
    terms = list(dict.fromkeys(fig_df.description))
    fig, ax = plt.subplots(figsize=(2 + 0.45 * len(sets), 1 + 0.25 * len(terms)))
    sc = ax.scatter([sets.index(s) for s in fig_df.set], [terms.index(t) for t in fig_df.description],
                    s=8 * fig_df.fold_enrichment, c=-np.log10(fig_df.p_adjust), cmap="viridis")
    ax.set_xticks(range(len(sets)), sets, rotation=90, fontsize=7)
    ax.set_yticks(range(len(terms)), terms, fontsize=7)
    fig.colorbar(sc, label="-log10 adj. p")
    ax.set_title("GO BP over-represented in the factor gene sets", fontsize=9)
    fig.savefig(out / "go_enrichment.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=Path("out/vignettes/python"))
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (small networks: 1 is as fast)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    adata = example_data()
    print(f"PBMC example: {adata.n_obs} cells x {adata.n_vars} genes; lineages:",
          dict(adata.obs.lineage.value_counts()))
    adata = pp.prepare(adata, min_total=400, n_top=300, verbose=True)  # App. C.4, droplet thresholds

    model = mssvae.fit(adata, group_key="lineage", likelihood="nb", epochs=args.epochs, seed=args.seed,
                       progress=False, **SETTINGS)
    print(f"fit: {time.time() - t0:.0f} s")
    active = model.active_factors()
    for label, rows in (("shared", active[active.block == "shared"]), ("lineage-specific", active[active.block != "shared"])):
        print(f"\n{len(rows)} active {label} factors")
        for r in rows.itertuples():
            print(f"  {r.factor:<14} {r.n_genes:>4} genes  top: {', '.join(r.top_genes.split(', ')[:8])}")
    figures(adata, model, out)

    sets = mssvae.factor_gene_sets(adata, threshold=0.5)
    t2g = go_term2gene(list(adata.var_names))
    if t2g is not None:
        ora = enrich(sets, list(adata.var_names), t2g)
        ora.to_csv(out / "go_enrichment.csv", index=False)
        sig = ora[ora.p_adjust < 0.05] if len(ora) else ora
        has = pd.Series({k: k in set(sig.set) if len(sig) else False for k in sets})
        blocks = pd.Series(["shared" if k.startswith("shared_") else "lineage-specific" for k in sets], index=has.index)
        print("\n% of gene sets with an enriched GO process (FDR < 0.05):", dict((100 * has.groupby(blocks).mean()).round()))
        if len(sig):
            top = sig.groupby("set", sort=False).head(2)
            print(top[["set", "description", "overlap", "fold_enrichment", "p_adjust"]].to_string(index=False))
            enrichment_figure(sig, len(sets), out)

    adata.write_h5ad(out / "pbmc_mssvae.h5ad")
    try:
        from mssvae.bridge.sce import write_sce

        write_sce(adata, out / "pbmc_mssvae.rds", x_assay="counts")
        print(f"\nwrote {out / 'pbmc_mssvae.rds'} (R: factorGeneSets(readRDS(...)))")
    except ImportError as err:
        print(f"no .rds written: {err}")
    print(f"wrote {out}/ in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
