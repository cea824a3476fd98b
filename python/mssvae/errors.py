"""The errors the package raises on purpose: bad input, and a fit stopped by the user.

An :class:`MSSVAEInputError` carries its parts as fields — ``what`` is wrong, ``where``
(a sample, a feature, a column, a group) and a ``hint`` of what to do — besides the one-line
message, so that each front door (Python, the command line, R) can word them in its own terms
without parsing prose. Positions in ``where`` are 0-based rows (samples) and columns
(features) of the samples × features matrix; R, whose matrices are features × samples, says
"column i + 1" for a sample and "row j + 1" for a feature.
"""

from __future__ import annotations

import re


class MSSVAEInputError(ValueError):
    """Input the model cannot use; the message says what is wrong and how to fix it.

    Parameters
    ----------
    what
        The problem, e.g. ``"the data hold 3 NaN or infinite values"``.
    where
        Where it is, as a dict of named positions (``sample``, ``row``, ``feature``,
        ``column``: names as ``str``, positions 0-based) or ``None``.
    hint
        What to do about it, or ``None``.
    args_named
        The Python arguments the message names (as whole words), so that another front door can
        spell them its own way (R ``min.total``, ``assay.type``; the command line ``--min-total``).
    """

    def __init__(self, what: str, where: dict | None = None, hint: str | None = None, args_named: tuple[str, ...] = ()):
        self.what, self.where, self.hint, self.args_named = what, dict(where or {}), hint, tuple(args_named)
        super().__init__(self.format())

    def format(self, rename=None) -> str:
        """The message; ``rename`` maps each argument of ``args_named`` to the front door's
        spelling (default: Python's)."""
        text = self.what
        if self.where:
            text += f" (first at {where_text(self.where)})"
        if self.hint:
            text += f"; {self.hint}"
        if rename is not None:
            for name in self.args_named:
                text = re.sub(rf"\b{re.escape(name)}\b", lambda _m, n=name: rename(n), text)
        return text

    def fields(self) -> dict:
        """``what``, ``where``, ``hint`` and ``args_named`` as plain values (for the R door)."""
        return {"what": self.what, "where": dict(self.where), "hint": self.hint or "", "args_named": list(self.args_named)}


def where_text(where: dict) -> str:
    """``sample 'a' (row 0), feature 'g' (column 3)`` from the fields of ``where``."""
    parts = []
    if "row" in where:
        name = where.get("sample")
        parts.append(f"row {int(where['row'])}" if name is None else f"sample {name!r} (row {int(where['row'])})")
    if "column" in where:
        parts.append(f"feature {where.get('feature')!r} (column {int(where['column'])})")
    return ", ".join(parts)


class FitInterrupted(KeyboardInterrupt):
    """A fit stopped by Ctrl-C; the work up to the last complete epoch is kept.

    Besides the message it carries ``epochs_done``, ``max_epochs`` and ``checkpoint_dir`` (the
    folder of the saved state, or None), so that each front door says in its own terms how to
    continue.
    """

    def __init__(self, message: str, epochs_done: int | None = None, max_epochs: int | None = None,
                 checkpoint_dir: str | None = None):
        super().__init__(message)
        self.epochs_done, self.max_epochs = epochs_done, max_epochs
        self.checkpoint_dir = None if checkpoint_dir is None else str(checkpoint_dir)

    def fields(self) -> dict:
        """The interruption as plain fields: ``interrupted`` (True), ``epochs_done``,
        ``max_epochs``, ``checkpoint_dir``."""
        return dict(interrupted=True, epochs_done=self.epochs_done, max_epochs=self.max_epochs,
                    checkpoint_dir=self.checkpoint_dir)
