"""``python -m mssvae``: the command line."""

from .cli import main

main()
