"""mgcv's cubic regression spline ``s(x, bs='cr', k=10)``.

A natural cubic spline parameterised by its values ``beta`` at k knots (placed at the
quantiles of the unique x values). With knot spacings ``h_j``, the second derivatives at
the knots are ``delta = F beta`` where ``F = [0; B^-1 D; 0]`` (natural ends) and

    D[i, i] = 1/h_i,  D[i, i+1] = -1/h_i - 1/h_{i+1},  D[i, i+2] = 1/h_{i+1}
    B[i, i] = (h_i + h_{i+1}) / 3,  B[i, i+1] = B[i+1, i] = h_{i+1} / 6

(i = 0..k-3), and the penalty ``integral f''(x)^2 dx = beta' D' B^-1 D beta``
(Wood 2017, *Generalized Additive Models*, 2nd ed., section 5.3.1). Beyond the end knots
the spline continues linearly, as a natural spline does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla

from .base import RawSmooth, SmoothBasis, numeric_matrix, warn_reset

__all__ = ["CubicRegressionSpline", "cr_penalty", "cr_design"]


def cr_penalty(knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(F, S)`` for knots ``knots``: F maps knot values to knot second derivatives.

    Examples
    --------
    >>> F, S = cr_penalty(np.array([0.0, 1.0, 2.0, 3.0]))
    >>> bool(np.allclose(S @ np.array([1.0, 2.0, 3.0, 4.0]), 0))   # linear: no penalty
    True
    """
    xk = np.asarray(knots, dtype=float)
    nk = xk.size
    h = np.diff(xk)
    n2 = nk - 2
    D = np.zeros((n2, nk))
    i = np.arange(n2)
    D[i, i] = 1.0 / h[:-1]
    D[i, i + 2] = 1.0 / h[1:]
    D[i, i + 1] = -D[i, i] - D[i, i + 2]
    # B is symmetric tridiagonal positive definite: banded solve for B^-1 D
    ab = np.zeros((2, n2))
    ab[1] = (h[:-1] + h[1:]) / 3.0
    ab[0, 1:] = h[1:-1] / 6.0
    BinvD = sla.solveh_banded(ab, D)
    F = np.zeros((nk, nk))
    F[1:-1] = BinvD
    S = D.T @ BinvD
    return F, 0.5 * (S + S.T)


def cr_design(x: np.ndarray, knots: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Basis matrix (n x k) of the cubic regression spline at ``x``."""
    x = np.asarray(x, dtype=float)
    xk = np.asarray(knots, dtype=float)
    nk = xk.size
    n = x.size
    X = np.zeros((n, nk))
    rows = np.arange(n)
    lo, hi = xk[0], xk[-1]
    inside = (x >= lo) & (x <= hi)
    # interior: f = a- b_j + a+ b_{j+1} + c- d_j + c+ d_{j+1}
    j = np.clip(np.searchsorted(xk, x, side="left") - 1, 0, nk - 2)
    r = rows[inside]
    ji = j[inside]
    xi = x[inside]
    hj = xk[ji + 1] - xk[ji]
    am = xk[ji + 1] - xi
    ap = xi - xk[ji]
    cm = am * (am * am / hj - hj) / 6.0
    cp = ap * (ap * ap / hj - hj) / 6.0
    X[r] = cm[:, None] * F[ji] + cp[:, None] * F[ji + 1]
    X[r, ji] += am / hj
    X[r, ji + 1] += ap / hj
    # below the first knot: f(x0) + (x - x0) f'(x0), f'(x0) from the first interval
    below = x < lo
    if below.any():
        r = rows[below]
        h0 = xk[1] - xk[0]
        t = x[below] - lo
        X[r] = (-t * h0 / 3.0)[:, None] * F[0] + (-t * h0 / 6.0)[:, None] * F[1]
        X[r, 0] += 1.0 - t / h0
        X[r, 1] += t / h0
    above = x > hi
    if above.any():
        r = rows[above]
        h1 = xk[-1] - xk[-2]
        t = x[above] - hi
        X[r] = (t * h1 / 6.0)[:, None] * F[-2] + (t * h1 / 3.0)[:, None] * F[-1]
        X[r, -2] += -t / h1
        X[r, -1] += 1.0 + t / h1
    return X


class CubicRegressionSpline(SmoothBasis):
    """``s(x, bs='cr')``: cubic regression spline with knots at quantiles of unique x.

    Parameters
    ----------
    variable : str
        One covariate column.
    k : int, optional
        Number of knots = basis dimension before the constraint (default 10, minimum 3).
    knots : array, optional
        k increasing knot locations instead of the quantiles.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 50)})
    >>> sm = CubicRegressionSpline("x", k=6).construct(d)
    >>> sm.X.shape, sm.null_dim
    ((50, 5), 1)
    """

    bs = "cr"

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        if len(self.variables) != 1:
            raise ValueError(f"{self.label}: bs='cr' handles one variable only")
        x = numeric_matrix(data, self.variables, self.label)[:, 0]
        k = 10 if self.k_user is None or self.k_user < 0 else self.k_user
        if k < 3:
            warn_reset(f"{self.label}: basis dimension k={k} increased to minimum possible 3")
            k = 3
        xu = np.unique(x)
        if xu.size < k:
            raise ValueError(
                f"{self.label}: {self.variables[0]} has {xu.size} unique values, too few to "
                f"support k={k} knots: reduce k"
            )
        if self.knots is None:
            # R's quantile(type = 7) of the unique values = numpy's 'linear' method
            knots = np.quantile(xu, np.linspace(0.0, 1.0, k))
        else:
            knots = np.asarray(self.knots, dtype=float).ravel()
            if knots.size != k:
                raise ValueError(f"{self.label}: {knots.size} knots supplied but k={k}")
            if np.any(np.diff(knots) <= 0):
                raise ValueError(f"{self.label}: knots must be strictly increasing")
        F, S = cr_penalty(knots)
        X = cr_design(x, knots, F)
        return RawSmooth(
            X=X, S=S, null_dim=2, rank=k - 2, k=k, state={"knots": knots, "F": F}, knots=knots
        )

    def _predict_raw(self, state: dict, newdata: pd.DataFrame) -> np.ndarray:
        x = numeric_matrix(newdata, self.variables, self.label)[:, 0]
        return cr_design(x, state["knots"], state["F"])
