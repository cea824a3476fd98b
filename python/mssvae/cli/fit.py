"""``mssvae fit``: an MSSVAE fitted to an .h5ad, the results contract written into a copy."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..analysis.diagnostics import overlap_notes
from .. import contract as C
from ..errors import FitInterrupted
from ..core.distributed import launch
from ..io.ondisk import read_backed_by_size, write_whole
from ..io.results import fit_threshold
from ..model import settings_table
from ..model.job import FitJob
from .common import command_line, friendly_errors, read_h5ad, threshold_line


# what a fit adds to the file (the results contract)
RESULT_KEYS = {"varm": [C.W_SHARED, C.W_SPECIFIC], "obsm": [C.Z_SHARED, C.Z_SPECIFIC], "uns": [C.UNS]}


@click.command("fit")
@click.argument("infile", type=click.Path(exists=True, dir_okay=False))
@click.option("--group-key", required=True, help="Column of obs holding each sample's group.")
@click.option("--out", "outfile", required=True, type=click.Path(dir_okay=False), help="Output .h5ad with the results.")
@click.option("--layer", default=None, help="Layer holding the data (default: X).")
@click.option("--likelihood", type=click.Choice(["nb", "gaussian"]), default="nb", show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Default: the paper's (NB 800, Gaussian 500).")
@click.option("--batch-size", type=click.IntRange(2), default=None, help="Default 512.")
@click.option("--n-shared", type=click.IntRange(1), default=None, help="Initial K_S (default: the paper's).")
@click.option("--n-specific", type=click.IntRange(0), default=None, help="Initial K_m per group (default: the paper's).")
@click.option("--sparsity-weight", type=click.FloatRange(min=0, min_open=True), default=None, help="Weight of the sparsity prior [default: 20 (Gaussian); 10 (NB), times N / 3200 below 3200 samples].")
@click.option("--hidden", type=(click.IntRange(1), click.IntRange(1)), default=None, metavar="H1 H2",
              help="Widths of the two hidden layers (default: the paper's).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate of the networks.")
@click.option("--lr-w", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate of W.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="Arithmetic of the decoder (auto: bf16 on GPUs of compute capability 8.0 or more, fp16 on "
                   "older GPUs, bf16 on CPUs with native bf16, else fp32).")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads (default: the cores other processes leave idle).")
@click.option("--early-stopping/--no-early-stopping", default=True, show_default=True,
              help="Stop once W's supports and the loss have settled (--epochs is then a maximum).")
@click.option("--stopping-tol", type=click.FloatRange(min=0), default=None, help="Relative loss improvement (default 1e-3).")
@click.option("--stopping-patience", type=click.IntRange(1), default=None, help="Epochs W's supports must hold (default 10).")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Most gradient steps (default: twice the paper's).")
@click.option("--fold-nested/--no-fold-nested", default=None,
              help="Once W's supports settle, fold a column whose gene set lies mostly inside a larger column of its "
                   "block into that column and fit on (default: on for NB, off for Gaussian).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--starts", type=click.IntRange(1), default=1, show_default=True,
              help="Fits from seeds SEED, SEED+1, ...: the one of lowest final loss is kept, and every factor gets "
                   "its stability across them (the fraction of the other starts that hold it).")
@click.option("--parallel-starts", type=click.IntRange(1), default=None,
              help="Starts run at once, each in its own process on its share of --threads (default: one per thread "
                   "on a CPU, one on a GPU).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None,
              help="Where checkpoints and the fitted model go (default: OUT without .h5ad + '_model').")
@click.option("--resume", is_flag=True, help="Continue an interrupted fit from the checkpoint in --model-dir.")
@click.option("--covariate-key", "covariate_keys", multiple=True,
              help="Column of obs with a nuisance covariate (batch, donor, ...) the decoder conditions on; repeatable.")
@click.option("--fold-switched", is_flag=True,
              help="Move a program estimated once in every group's block into the shared block (App. C.3; "
                   "mssvae.fold_switched).")
@click.option("--set", "extra", multiple=True, metavar="NAME=VALUE",
              help="Any other setting of mssvae.MSSVAE, the value in JSON (e.g. --set lambda0_breaks=[100,600] "
                   "--set encoder_input=raw); repeatable.")
@click.option("--backed/--in-memory", default=None,
              help="Read X from disk in blocks (never the whole matrix) or load it; default: backed when the file "
                   "is larger than a quarter of the available memory. A backed fit writes OUT as a copy of IN "
                   "with the results added.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def fit_cmd(infile, group_key, outfile, layer, likelihood, epochs, batch_size, n_shared, n_specific, sparsity_weight, hidden, lr,
        lr_w, precision, threads, early_stopping, stopping_tol, stopping_patience, max_steps, fold_nested, seed, starts, parallel_starts, device, model_dir,
        resume, covariate_keys, fold_switched, extra, backed, quiet):
    """Fit an MSSVAE to INFILE (.h5ad) and write the results contract into --out.

    Launched by torchrun with several processes (torchrun --standalone --nproc-per-node 2
    $(which mssvae) fit ...), the fit is data-parallel; rank 0 writes the model and --out.
    """
    ranks = launch(device)  # one process, or this one's place in a torchrun launch
    model_dir = Path(model_dir) if model_dir else Path(str(Path(outfile).with_suffix("")) + "_model")
    options = dict(n_shared=n_shared, n_specific=n_specific, sparsity_weight=sparsity_weight, hidden=hidden, lr=lr, lr_w=lr_w,
                   stopping_tol=stopping_tol, stopping_patience=stopping_patience, max_steps=max_steps,
                   fold_nested=fold_nested)
    job = FitJob(likelihood, dict(precision=precision, early_stopping=early_stopping,
                                  **{k: v for k, v in options.items() if v is not None}, **extra_settings(extra)),
                 epochs=epochs, batch_size=batch_size, seed=seed, device=device, threads=threads, model_dir=model_dir,
                 resume=resume, fold_switched=fold_switched, starts=starts,
                 parallel_starts=parallel_starts)  # every setting checked before the file is read
    backed = read_backed_by_size(infile, ranks.local_world_size) if backed is None else backed
    adata = read_h5ad(infile, backed=backed)
    try:
        # the results file is complete or absent, never half-written
        outcome = job.run(adata, group_key=group_key, layer=layer, covariate_keys=list(covariate_keys) or None,
                          progress=not quiet, export=lambda a: write_whole(a, outfile, RESULT_KEYS))
    except FitInterrupted as e:
        again = command_line(click.get_current_context(), drop=("model_dir", "resume"),
                             extra=("--model-dir", str(model_dir), "--resume"))
        raise FitInterrupted(f"{e}\n  resume: {again}", e.epochs_done, e.max_epochs, e.checkpoint_dir) from None
    ranks.finish()  # rank 0 has written; the others waited for it
    if not outcome.is_main:
        return
    model = outcome.model
    for line in outcome.folded:
        click.echo(f"folded into the shared block: {line}")
    click.echo(f"wrote {outfile} (results) and {model_dir} (model)")
    if model.state.starts:
        chosen = model.state.starts["chosen"]
        click.echo(f"kept the start of seed {chosen}, the lowest final loss of {starts} "
                   f"(seeds {', '.join(map(str, model.state.starts['seed']))}); stability: the fraction of the other "
                   "starts that hold each factor")
    click.echo(threshold_line(fit_threshold(adata)))
    click.echo(model.active_factors().drop(columns="top_genes").to_string(index=False))
    stopping = model.state.stopping
    if stopping["dense"]:
        click.echo(f"note: {stopping['message']}")  # overlaps of a dense W say nothing
        return
    for note in overlap_notes(adata):
        click.echo(note)


def extra_settings(pairs) -> dict:
    """``--set NAME=VALUE`` pairs as settings: each name one of :func:`mssvae.model.settings_table`'s
    that has no option of its own, each value JSON (a bare word is taken as a string)."""
    own = {p.name for p in fit_cmd.params}
    allowed = [row["name"] for row in settings_table() if row["name"] not in own]
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in allowed:
            raise click.BadParameter(f"{pair!r}: give NAME=VALUE with NAME one of {', '.join(allowed)}",
                                     param_hint="--set")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out
