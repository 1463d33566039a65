"""mgcv's P-spline ``s(x, bs='ps', k=10, m=(2, 2))`` (Eilers & Marx 1996).

A B-spline basis of order ``m[0] + 2`` (cubic by default) on evenly spaced knots that
extend ``m[0] + 1`` spacings beyond the data range (widened by 0.1% at each end), with a
difference penalty of order ``m[1]`` on adjacent coefficients: ``S = D' D``,
``D = diff(I_k, m[1])``. The penalty's null space is the polynomials of degree
``m[1] - 1``. Outside the inner knots the basis continues linearly, as mgcv predicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.interpolate import BSpline

from .base import RawSmooth, SmoothBasis, numeric_matrix

__all__ = ["PSpline", "parse_ps_m", "bspline_basis"]


def parse_ps_m(m) -> tuple[int, int]:
    """mgcv's ``m`` for 'ps': ``(spline order - 2, penalty order)``, defaults (2, 2).

    Examples
    --------
    >>> parse_ps_m(None), parse_ps_m(3), parse_ps_m((2, 1))
    ((2, 2), (3, 3), (2, 1))
    """
    if m is None:
        return (2, 2)
    vals = [m, m] if np.isscalar(m) else list(m)
    if len(vals) == 1:
        vals = [vals[0], vals[0]]
    if len(vals) != 2:
        raise ValueError(f"ps m must be (basis order, penalty order), got m={m!r}")
    out = []
    for v in vals:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(2)
        elif int(v) != v or v < 0:
            raise ValueError(f"ps m entries must be non-negative integers, got m={m!r}")
        else:
            out.append(int(v))
    return (out[0], out[1])


def bspline_basis(x: np.ndarray, knots: np.ndarray, degree: int, deriv: int = 0) -> np.ndarray:
    """All B-splines (or their derivatives) of ``degree`` on ``knots`` at ``x`` (n x K)."""
    K = len(knots) - degree - 1
    spl = BSpline(np.asarray(knots, dtype=float), np.eye(K), degree, extrapolate=False)
    if deriv:
        spl = spl.derivative(deriv)
    out = spl(np.asarray(x, dtype=float))
    return np.nan_to_num(out, nan=0.0)  # exact knot ends evaluate inside; NaN only outside


class PSpline(SmoothBasis):
    """``s(x, bs='ps')``: mgcv's P-spline.

    Parameters
    ----------
    variable : str
        One covariate column.
    k : int, optional
        Basis dimension (default ``max(10, m[0] + 1)``).
    m : int or (int, int), optional
        ``(m0, m1)``: B-spline order ``m0 + 2`` and difference-penalty order ``m1``.
    knots : array, optional
        Two values (the range to cover) or all ``k + m0 + 2`` knots.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 50)})
    >>> PSpline("x", k=8).construct(d).X.shape
    (50, 7)
    """

    bs = "ps"

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        if len(self.variables) != 1:
            raise ValueError(f"{self.label}: bs='ps' handles one variable only")
        m0, m1 = parse_ps_m(self.m)
        x = numeric_matrix(data, self.variables, self.label)[:, 0]
        k = max(10, m0 + 1) if self.k_user is None or self.k_user < 0 else self.k_user
        nk = k - m0
        if nk <= 0:
            raise ValueError(f"{self.label}: k={k} is too small for B-spline order m[0]+2={m0 + 2}")
        if m1 >= k:
            raise ValueError(f"{self.label}: penalty order m[1]={m1} must be below k={k}")
        n_knots = nk + 2 * m0 + 2
        kn = None if self.knots is None else np.asarray(self.knots, dtype=float).ravel()
        if kn is None or kn.size == 2:
            if kn is None:
                xl, xu = float(x.min()), float(x.max())
            else:
                xl, xu = float(kn.min()), float(kn.max())
                if xl > x.min() or xu < x.max():
                    raise ValueError(f"{self.label}: knot range does not include the data")
            if xu <= xl:
                raise ValueError(f"{self.label}: {self.variables[0]} is constant")
            xr = xu - xl
            xl -= xr * 0.001
            xu += xr * 0.001
            dx = (xu - xl) / (nk - 1)
            knots = np.linspace(xl - dx * (m0 + 1), xu + dx * (m0 + 1), n_knots)
        else:
            if kn.size != n_knots:
                raise ValueError(f"{self.label}: there should be {n_knots} supplied knots")
            knots = kn
        degree = m0 + 1
        X = self._design(x, knots, degree)
        D = np.diff(np.eye(k), n=m1, axis=0) if m1 > 0 else np.eye(k)
        S = D.T @ D
        return RawSmooth(
            X=X,
            S=S,
            null_dim=m1,
            rank=k - m1,
            k=k,
            state={"knots": knots, "degree": degree},
            knots=knots,
        )

    @staticmethod
    def _design(x: np.ndarray, knots: np.ndarray, degree: int) -> np.ndarray:
        lo, hi = knots[degree], knots[-degree - 1]
        inside = (x >= lo) & (x <= hi)
        K = len(knots) - degree - 1
        X = np.zeros((x.size, K))
        if inside.any():
            X[inside] = bspline_basis(x[inside], knots, degree)
        if not inside.all():
            # linear continuation from the value and slope at the inner-knot ends
            ends = np.array([lo, hi])
            v = bspline_basis(ends, knots, degree)
            g = bspline_basis(ends, knots, degree, deriv=1)
            below, above = x < lo, x > hi
            X[below] = v[0] + (x[below] - lo)[:, None] * g[0]
            X[above] = v[1] + (x[above] - hi)[:, None] * g[1]
        return X

    def _predict_raw(self, state: dict, newdata: pd.DataFrame) -> np.ndarray:
        x = numeric_matrix(newdata, self.variables, self.label)[:, 0]
        return self._design(x, state["knots"], state["degree"])
