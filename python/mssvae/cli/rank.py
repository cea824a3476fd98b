"""``mssvae rank``: genes (or factors) ranked by a group's specific signal (:mod:`mssvae.analysis.ranking`).

The main group (:mod:`mssvae.cli`) registers it with ``main.add_command``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..model import MSSVAE
from .common import friendly_errors, read_h5ad


@click.command("rank")
@click.argument("fitted", type=click.Path(exists=True, dir_okay=False))
@click.option("--group", "group", required=True, help="The group whose specific genes (or factors) to rank.")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None,
              help="The fitted model (default: FITTED without .h5ad + '_model', as `mssvae fit` writes it).")
@click.option("--group-key", default=None, help="Column of obs with the groups (default: the one of the fit).")
@click.option("--layer", default=None, help="Layer holding the data (default: X, as in the fit).")
@click.option("--level", type=click.Choice(["gene", "factor"]), default="gene", show_default=True,
              help="gene: log-likelihood ratio per gene (multiGroupVI's Bayes factor); factor: per group factor.")
@click.option("--top", "n_print", type=click.IntRange(1), default=20, show_default=True, help="Rows to print.")
@click.option("--threshold", type=click.FloatRange(min=0), default=None,
              help="|W| above which a gene loads on a factor (--level factor); default: each factor's gene-set threshold.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Write the whole table to this CSV.")
def rank_cmd(fitted, group, model_dir, group_key, layer, level, n_print, threshold, out):
    """Rank the genes of FITTED (.h5ad) by how much GROUP's own factors matter for them.

    For GROUP's samples, each gene's score is the log-likelihood ratio of its data under the
    full decoding versus the shared-only decoding (GROUP's factors set to 0), at the posterior
    means; --level factor scores each of GROUP's factors by the log-likelihood lost when only it
    is zeroed, beside its top genes by |W|.
    """
    @friendly_errors
    def run():
        adata = read_h5ad(fitted)
        directory = Path(model_dir) if model_dir else Path(str(Path(fitted).with_suffix("")) + "_model")
        if not directory.exists():
            raise click.ClickException(f"no fitted model in {directory}; give --model-dir (the one `mssvae fit` wrote)")
        model = MSSVAE.load(directory)
        if level == "gene":
            table = model.rank_group_genes(adata, group, group_key=group_key, layer=layer)
        else:
            table = model.rank_group_factors(adata, group, group_key=group_key, layer=layer, threshold=threshold)
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(out, index=False)
        with_opts = table.head(n_print)
        click.echo(with_opts.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if out:
            click.echo(f"wrote {len(table)} rows to {out}")

    run()
