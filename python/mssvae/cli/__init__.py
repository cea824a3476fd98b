"""The ``mssvae`` command line: ``fit``, ``demo``, ``prepare``, ``rank``, ``simulate`` and
``evaluate``, each defined in a module of its own."""

from __future__ import annotations

import click

from .._version import __version__
from .demo import demo_cmd
from .fit import fit_cmd
from .prepare import prepare_cmd
from .rank import rank_cmd
from .sim import evaluate_cmd, simulate_cmd


@click.group()
@click.version_option(__version__, prog_name="mssvae")
def main():
    """Multi-study sparse VAE: shared and group-specific factors with sparse loadings."""


for _cmd in (fit_cmd, demo_cmd, simulate_cmd, evaluate_cmd, prepare_cmd, rank_cmd):
    main.add_command(_cmd)
