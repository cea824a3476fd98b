"""The main job on the shipped example: 700 PBMCs (10x Genomics, annotated cell types), counts, grouped by
lineage or cell type — which gene programs are shared across groups, which belong to one?"""

from __future__ import annotations

from pathlib import Path

import click

from ..analysis.diagnostics import overlap_notes
from ..analysis.plotting import plot_loadings, plot_stability
from ..io.example import example_data
from ..io.results import fit_threshold
from ..model import MSSVAE
from .common import friendly_errors, threshold_line

# Fewer epochs and narrower networks than Table 2 so the demo runs in minutes on 2 CPU cores.
# 700 cells are 2 minibatches of 512 per epoch: batch 128 at lr 0.01 gives the networks enough
# steps in 150 epochs (as in the fidelity benchmark), and weight 5 suits the [64, 32] decoder
# (the NB default, 10, is for Table 2's wider one; README, "The demo"; docs/design.md, "Penalty weight").
# λ0 anneals at the paper's 5% and 30% of those 150 epochs of 6 steps; the stopping rule may
# end the fit sooner.
DEMO_EPOCHS = 150
# Three starts so the demo says which programs recur across seeds (each factor's stability) at
# three times one fit's time; README, "The demo".
DEMO_STARTS = 3
DEMO_SETTINGS = dict(n_shared=10, n_specific=3, hidden=(64, 32), lr=0.01, lr_w=0.01, batch_size=128,
                     sparsity_weight=5.0, lambda0_breaks=(45, 270))


def run_demo(out_dir: Path, group_key: str = "lineage", epochs: int | None = None, seed: int = 0, progress: bool = True,
             starts: int = DEMO_STARTS):
    """Fit the NB MSSVAE to the example (``starts`` fits, the lowest loss kept), write results and
    figures, print the factors with their stability across the starts."""
    adata = example_data()
    out_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"PBMC example: {adata.n_obs} cells x {adata.n_vars} genes, groups = {group_key}: "
               + ", ".join(f"{k} ({v})" for k, v in adata.obs[group_key].value_counts().items()))
    model = MSSVAE("nb", **DEMO_SETTINGS)
    model.fit(adata, group_key=group_key, epochs=epochs or DEMO_EPOCHS, seed=seed, progress=progress,
              model_dir=out_dir / "model", starts=starts)
    model.save(out_dir / "model")
    h5ad = out_dir / "pbmc_demo_mssvae.h5ad"
    adata.write_h5ad(h5ad)
    pngs = [plot_loadings(adata, out_dir / "loadings.png")]
    table = model.active_factors()
    scored = "stability" in table and table["stability"].notna().any()
    if scored:
        pngs.append(plot_stability(adata, out_dir / "stability.png"))
    click.echo(threshold_line(fit_threshold(adata)))
    if scored:
        click.echo(f"stability: the share of the other {starts - 1} starts that found the factor's program "
                   "(its gene set, Jaccard >= 0.5)")
    for block, title in (("shared", "Shared across all groups"), (None, "Group-specific")):
        rows = table[table.block == "shared"] if block else table[table.block != "shared"]
        click.echo(f"\n{title}: {len(rows)} active factors")
        for r in rows.itertuples():
            genes = ", ".join(r.top_genes.split(", ")[:8])
            stable = f"  stability {r.stability:4.2f}" if scored else ""
            click.echo(f"  {r.factor:<16} {r.n_genes:>4} genes  max|W| {r.max_abs_w:5.2f}{stable}  top: {genes}")
    if model.state.stopping["dense"]:
        click.echo(f"note: {model.state.stopping['message']}")
    else:
        for note in overlap_notes(adata):
            click.echo(note)
    click.echo(f"\nwrote {h5ad}, {', '.join(map(str, pngs))} and {out_dir / 'model'}")
    return adata, model


@click.command("demo")
@click.option("--out-dir", type=click.Path(file_okay=False), default="mssvae_demo", show_default=True)
@click.option("--group-key", type=click.Choice(["lineage", "cell_type"]), default="lineage", show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Default: the demo's setting (fast).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--starts", type=click.IntRange(1), default=DEMO_STARTS, show_default=True,
              help="Fits from seeds SEED, SEED + 1, ...: the lowest loss is kept and each factor scored by how "
                   "many of the others found it (1: one fit, a third of the time, no scores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def demo_cmd(out_dir, group_key, epochs, seed, starts, quiet):
    """Fit the shipped PBMC example: which programs are shared across cell types, which are not, and
    which recur across starts."""
    run_demo(Path(out_dir), group_key=group_key, epochs=epochs, seed=seed, progress=not quiet, starts=starts)
