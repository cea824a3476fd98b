"""``mssvae prepare``: the preprocessing of Moran & Krishnan, App. C.4, on the command line.

The main group (:mod:`mssvae.cli`) registers :data:`prepare_cmd` with ``main.add_command``.
"""

from __future__ import annotations

import os

import click

from ..errors import MSSVAEInputError
from ..pp import DEFAULT_MIN_TOTAL, format_report, prepare
from .common import option_name, read_h5ad


@click.command("prepare")
@click.argument("infile", metavar="IN.h5ad", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "outfile", metavar="OUT.h5ad", type=click.Path(dir_okay=False), required=True,
              help="Output .h5ad file (the filtered copy, report in uns['mssvae_prepare']).")
@click.option("--layer", default=None, help="Layer holding the raw counts  [default: .X]")
@click.option("--min-total", type=float, default=DEFAULT_MIN_TOTAL, show_default="e^12.5 = 268337",
              help="Step 1: keep samples with total count >= this (bulk RNA-seq value; lower it for single cells).")
@click.option("--min-counts", type=float, default=25, show_default=True,
              help="Step 2: keep genes with total count >= this.")
@click.option("--min-cpm", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Step 3: counts-per-million threshold (strict: CPM > this).")
@click.option("--min-frac", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Step 3: fraction of samples that must pass --min-cpm.")
@click.option("--n-top", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Step 4: number of genes with the largest Pearson-residual variance to keep.")
@click.option("--theta", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="Step 4: negative-binomial overdispersion.")
@click.option("--clip", type=click.FloatRange(min=0), default=None,
              help="Step 4: clip residuals to [-clip, clip]  [default: sqrt(number of samples)]")
@click.option("--quiet", is_flag=True, help="Do not print the report.")
def prepare_cmd(infile, outfile, layer, min_total, min_counts, min_cpm, min_frac, n_top, theta, clip, quiet):
    """Filter samples and genes of IN.h5ad as in the paper (App. C.4) and write OUT.h5ad.

    Steps: (1) samples with total count below --min-total go; (2) genes with fewer than
    --min-counts counts go; (3) genes need CPM > --min-cpm in at least --min-frac of the
    samples; (4) the --n-top genes with the largest variance of analytic Pearson residuals
    (Lause et al. 2021) stay. The counts must be raw (non-negative integers).
    """
    out_dir = os.path.dirname(os.path.abspath(outfile))
    if not os.path.isdir(out_dir):
        raise click.ClickException(f"cannot write {outfile}: the directory {out_dir} does not exist")
    adata = read_h5ad(infile)
    try:
        result = prepare(adata, layer=layer, min_total=min_total, min_counts=min_counts, min_cpm=min_cpm,
                         min_frac=min_frac, n_top=n_top, theta=theta, clip=clip)
    except MSSVAEInputError as err:
        raise click.ClickException(err.format(rename=option_name)) from None
    try:
        result.write_h5ad(outfile, compression="gzip")
    except OSError as err:
        raise click.ClickException(f"cannot write {outfile}: {err}") from None
    if not quiet:
        click.echo(format_report(result))
        click.echo(f"wrote {outfile}")
