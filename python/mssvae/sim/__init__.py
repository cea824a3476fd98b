"""The paper's simulation designs (§4) and the metrics that score a fit against their truth
(App. C.1)."""

from .designs import DESIGNS, design_parameters, simulate
from .metrics import evaluate

__all__ = ["DESIGNS", "design_parameters", "evaluate", "simulate"]
