"""Gaussian models with identity link: the exact profiled (RE)ML deviance.

With ``beta`` and the residual variance profiled out (Bates et al. 2015, eq. 34 and 41):

    ML:   d(phi) = log|A| - log|P| + n (1 + log(2 pi r2 / n))
    REML: d(phi) = log|A| - log|P| + log|X'VX| + (n - p) (1 + log(2 pi r2 / (n - p)))

where ``r2`` is the penalised weighted residual sum of squares. Prior weights add
``-sum(log w)``, as in lme4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pls import PLSResult, PLSSolver
from .system import LatentSystem

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class GaussianObjective:
    """The profiled deviance of a Gaussian model as a function of ``phi``."""

    system: LatentSystem
    X: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    weights: np.ndarray
    reml: bool

    def __post_init__(self) -> None:
        self.n, self.p = self.X.shape
        self.solver = PLSSolver(self.system, self.X)
        self.cp = self.solver.cross_products(self.y - self.offset, self.weights)
        self.sum_log_w = float(np.sum(np.log(self.weights)))
        self.n_evals = 0

    def solve(self, phi: np.ndarray) -> PLSResult:
        return self.solver.solve(phi, self.cp)

    def deviance_from(self, r: PLSResult) -> float:
        dof = self.n - self.p if self.reml else self.n
        if r.pwrss <= 0:
            return np.inf
        d = r.logdet_A - r.logdet_P + dof * (1 + LOG2PI + np.log(r.pwrss / dof))
        if self.reml:
            d += r.logdet_XtVX
        return float(d - self.sum_log_w)

    def __call__(self, phi: np.ndarray) -> float:
        self.n_evals += 1
        try:
            return self.deviance_from(self.solve(phi))
        except np.linalg.LinAlgError:
            return np.inf

    def sigma2(self, r: PLSResult) -> float:
        return r.pwrss / (self.n - self.p if self.reml else self.n)
