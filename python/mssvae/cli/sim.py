"""``mssvae simulate`` and ``mssvae evaluate``: the simulation designs and metrics on the command line.

The main group (:mod:`mssvae.cli`) registers both with ``main.add_command``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..contract import DEFAULT_THRESHOLD

from ..sim.metrics import MissingKeyError, evaluate
from ..sim.designs import DESIGNS, design_parameters, simulate

# size options -> keyword of the design functions; each design accepts a subset
SIZE_OPTIONS = {
    "n_per_group": "samples per group (gaussian, wide)",
    "n_groups": "number of groups (gaussian, splatter2, wide)",
    "n_samples": "total samples (rnaseq)",
    "n_cells": "cells (splatter2)",
    "n_features": "features / genes (gaussian, rnaseq, wide)",
    "n_shared": "true shared factors K_S (gaussian, rnaseq, wide)",
    "n_specific": "true specific factors K_m per group (gaussian, rnaseq, wide)",
    "overlap": "genes that adjacent programs share (gaussian, rnaseq)",
    "n_shared_genes": "cell-type genes (splatter2)",
    "n_program_genes": "program genes (splatter2)",
    "n_shared_features": "shared features (leakage)",
    "n_private_features": "group-only features, split over the groups (leakage)",
}


def _size_options(func):
    for name in reversed(list(SIZE_OPTIONS)):
        func = click.option(f"--{name.replace('_', '-')}", name, type=click.IntRange(min=0), default=None,
                            help=SIZE_OPTIONS[name])(func)
    return func


@click.command("simulate")
@click.argument("design", type=click.Choice(sorted(DESIGNS)))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of numpy's default_rng.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output .h5ad file.")
@_size_options
@click.option("--rho", type=click.FloatRange(-1, 1, min_open=True, max_open=True), default=None,
              help="factor correlation (toy)")
def simulate_cmd(design: str, seed: int, out: Path, **sizes) -> None:
    """Simulate DESIGN (gaussian: §4.1, rnaseq: §4.2, splatter2: multiGroupVI, toy: Sparse VAE Eq. 10,
    leakage: shared vs group-only features after Märtens & Yau, wide: Gaussian gene programs at a bulk study's
    shape) into an .h5ad file.

    Sizes left out take the paper's values. The ground truth is stored in the file (varm
    true_W_*, obsm true_z_*, uns simulation), ready for `mssvae fit` and `mssvae evaluate`.
    """
    given = {k: v for k, v in sizes.items() if v is not None}
    accepted = set(design_parameters(design))
    wrong = sorted(set(given) - accepted)
    if wrong:
        valid = ", ".join(f"--{k.replace('_', '-')}" for k in SIZE_OPTIONS if k in accepted)
        raise click.UsageError(
            f"design {design!r} does not take {', '.join('--' + k.replace('_', '-') for k in wrong)}; "
            f"its size options are: {valid}"
        )
    try:
        adata = simulate(design, seed=seed, **given)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    out.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(out)
    click.echo(f"{design}: {adata.n_obs} samples x {adata.n_vars} features, seed {seed} -> {out}")


@click.command("evaluate")
@click.argument("fitted", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--threshold", type=click.FloatRange(min=0), default=DEFAULT_THRESHOLD, show_default=True,
              help="|W_hat| above this counts as non-zero.")
@click.option("--max-density", type=click.FloatRange(0, 1), default=None,
              help="Drop estimated columns with more than this fraction of non-zeros (§4.2 uses 0.25).")
@click.option("--dci/--no-dci", default=True, show_default=True, help="Compute the disentanglement score.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the disentanglement trees.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the metrics to this JSON file.")
def evaluate_cmd(fitted: Path, threshold: float, max_density, dci: bool, seed: int, out) -> None:
    """Score a fitted FITTED.h5ad of simulated data against its ground truth (App. C.1); prints JSON."""
    import anndata as ad

    try:
        adata = ad.read_h5ad(fitted)
    except Exception as err:  # h5py/anndata raise many types for a file that is not h5ad
        raise click.ClickException(f"cannot read {fitted} as .h5ad: {err}") from err
    try:
        metrics = evaluate(adata, threshold=threshold, max_density=max_density, dci=dci, seed=seed)
    except MissingKeyError as err:
        raise click.ClickException(f"{fitted}: {err}") from err
    text = json.dumps(metrics, indent=2)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    click.echo(text)
