"""What every verb of the command line shares: errors as one clear line, and reading an .h5ad."""

from __future__ import annotations

import functools
import shlex
import sys

import anndata
import click

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




def threshold_line(threshold: float) -> str:
    """The line that says which |W| the printed gene sets and active factors use."""
    paper = "the paper's §5 value" if threshold >= 0.5 else "below the paper's 0.5 because this fit's W is on a smaller scale"
    return f"gene sets and active factors: |W| > {threshold:.3g} ({paper}; recorded as uns['mssvae']['gene_set_threshold'])"
