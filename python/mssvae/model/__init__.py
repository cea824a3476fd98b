"""The user-facing estimator :class:`MSSVAE`, its settings and its fitted state."""

from .estimator import MSSVAE
from .settings import PAPER_DEFAULTS, Settings, settings_table
from .state import FittedState

__all__ = ["MSSVAE", "PAPER_DEFAULTS", "FittedState", "Settings", "settings_table"]
