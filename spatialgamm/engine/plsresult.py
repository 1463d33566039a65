"""The result of one penalised least-squares solve, shared by every PLS backend.

Its own module so that the backends (:mod:`.pls`'s sparse/dense/block solves and
:mod:`.nform`'s n x n form) can all return it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linalg import SPDFactor


@dataclass
class PLSResult:
    """The PLS solution and the pieces of the likelihood."""

    beta: np.ndarray
    u: np.ndarray
    logdet_A: float
    logdet_P: float
    logdet_XtVX: float
    pwrss: float  # weighted penalised residual sum of squares
    factor: SPDFactor
    XtVX: np.ndarray
    B: np.ndarray  # Lambda' Z'WX (q x p)
    Lam: object

    def b(self) -> np.ndarray:
        return np.asarray(self.Lam @ self.u).ravel()
