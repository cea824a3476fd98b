"""What every verb of the command line shares: errors as one clear line, and reading an .h5ad."""

from __future__ import annotations

import functools
import shlex
import sys

import anndata
import click
import numpy as np

from ..errors import FitInterrupted, MSSVAEInputError


def friendly_errors(fn):
    """Bad input becomes one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FitInterrupted as e:
            click.echo(f"Interrupted: {e}", err=True)
            sys.exit(130)
        except MSSVAEInputError as e:
            raise click.ClickException(e.format(rename=option_name)) from None
        except (FileNotFoundError, KeyError, OSError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            raise click.ClickException(str(msg)) from None

    return wrapper


def command_line(ctx: click.Context, drop: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> str:
    """The command that ``ctx`` ran, rebuilt from its parsed parameters (those left at their
    defaults and those named in ``drop`` omitted), with the words ``extra`` appended: what to
    type to run it again."""
    words = ctx.command_path.split()
    for p in ctx.command.params:
        value = ctx.params.get(p.name)
        if isinstance(p, click.Argument):
            words.append(str(value))
        elif value is None or value == () or value == p.default or p.name in drop:
            continue
        elif getattr(p, "is_flag", False):
            if value or p.secondary_opts:
                words.append(p.opts[0] if value else p.secondary_opts[0])
        else:
            for v in (value if p.multiple else [value]):
                words += [p.opts[0], *(map(str, v) if isinstance(v, tuple) else [str(v)])]
    return " ".join(shlex.quote(w) for w in [*words, *extra])


def option_name(arg: str) -> str:
    """The command line's spelling of the Python argument ``arg``: ``--arg-name``."""
    return "--" + arg.replace("_", "-")


def read_h5ad(path: str, backed: bool = False):
    """``path`` in memory, or backed (its X stays on disk and is read in blocks)."""
    try:
        return anndata.read_h5ad(path, backed="r" if backed else None)
    except Exception as e:  # h5py/anndata raise many types for a bad file
        raise click.ClickException(f"cannot read {path} as an .h5ad file: {e}") from None


def threshold_line(thresholds) -> str:
    """The line that says which |W| the printed gene sets and active factors use (one threshold
    per factor, :func:`mssvae.io.results.gene_set_threshold`)."""
    t = np.asarray(thresholds, dtype=float)
    at_paper = int((t >= 0.5).sum())
    where = ("the paper's §5 value for every factor" if at_paper == len(t) else
             f"0.5, the paper's §5 value, for {at_paper} of {len(t)} factors; a fortieth of their largest |W|, "
             f"at least 0.03, for the others, whose W is on a smaller scale (from {t.min():.3g})")
    return f"gene sets and active factors: |W| above each factor's threshold ({where}; uns['mssvae']['gene_set_threshold'])"
