"""The one record of how an optimisation went: :class:`OptSummary` (``fit.optinfo``).

Its own module so that every search (:mod:`.optimize`'s L-BFGS-B / Brent with bound
probing, :mod:`.newton`'s average-information Newton steps) reports through it without
importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """A variance is estimated at zero or a correlation at +-1 (boundary, not failure)."""


@dataclass(frozen=True)
class OptSummary:
    """How an optimisation went (attached to every fit as ``fit.optinfo``; immutable: a
    step that changes it makes a new one with :func:`dataclasses.replace`)."""

    method: str
    x: np.ndarray
    fun: float
    converged: bool
    iterations: int
    n_evals: int
    gradient: np.ndarray
    scaled_gradient: float
    message: str
    boundary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: what the optimiser did beyond one search: restarts from the interior, bounds checked
    log: list[str] = field(default_factory=list)
    #: the settings the search ran with (tolerances, limits, the step rule)
    settings: dict[str, Any] = field(default_factory=dict)
    #: one record per evaluation, where the search keeps them (the Newton option)
    trace: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        state = "converged" if self.converged else "did NOT converge"
        g = np.max(np.abs(self.gradient)) if len(self.gradient) else 0.0
        s = (f"optimizer ({self.method}) {state} after {self.iterations} iterations, "
             f"{self.n_evals} evaluations; max|gradient| {g:.2g}")
        if self.boundary:
            s += "\nboundary (singular) fit: " + "; ".join(self.boundary)
        for line in self.log:
            s += "\n" + line
        return s
