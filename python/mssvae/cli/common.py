"""What every verb of the command line shares: errors as one clear line, and reading an .h5ad."""

from __future__ import annotations

import functools
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


def option_name(arg: str) -> str:
    """The command line's spelling of the Python argument ``arg``: ``--arg-name``."""
    return "--" + arg.replace("_", "-")


def read_h5ad(path: str, backed: bool = False):
    """``path`` in memory, or backed (its X stays on disk and is read in blocks)."""
    try:
        return anndata.read_h5ad(path, backed="r" if backed else None)
    except Exception as e:  # h5py/anndata raise many types for a bad file
        raise click.ClickException(f"cannot read {path} as an .h5ad file: {e}") from None


