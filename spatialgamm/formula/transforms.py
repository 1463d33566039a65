"""R's data-dependent transforms, with the state R keeps for prediction.

``poly(x, k)`` (orthogonal polynomials), ``contr.poly(n)`` (the polynomial contrasts of
ordered factors), ``bs()`` and ``ns()`` (the splines package's B-spline and natural cubic
spline bases, knots at quantiles of the fitting data) and ``scale()``. Each keeps what it
learnt on the fitting data (recursion coefficients, knots, centre and scale) and rebuilds the
basis for new values from it, as R's ``makepredictcall`` arranges for ``predict()``.

``poly`` and ``bs`` are formulaic's transforms, whose numbers are R's (to 1e-15, checked in
tests/test_formula_r.py). formulaic has no ``ns()`` (its ``natural_cubic_spline`` is mgcv's
``cr`` basis), so the natural spline is built here from scipy's B-splines as the splines
package defines it (de Boor 2001): the cubic B-spline basis projected onto the null space of
the second derivatives at the boundary knots, linear beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from formulaic.transforms import basis_spline
from formulaic.transforms import poly as formulaic_poly
from scipy.interpolate import BSpline

from .errors import FormulaError


# ---- orthogonal polynomials (formulaic's, which are R's) -------------------------------------
def poly_basis(x: np.ndarray, degree: int, raw: bool, state: dict, what: str = "poly()"
               ) -> np.ndarray:
    """``poly(x, degree)``: orthonormal polynomials with a positive leading coefficient (the
    QR construction and three-term recursion R uses; formulaic's ``poly`` gives R's numbers to
    1e-15). An empty ``state`` is filled with the recursion coefficients (R's
    ``attr(, "coefs")``); a filled one is reused for new values.

    Examples
    --------
    >>> st = {}
    >>> np.round(poly_basis(np.array([1.0, 2.0, 3.0, 4.0]), 2, False, st)[:, 0], 6).tolist()
    [-0.67082, -0.223607, 0.223607, 0.67082]
    """
    x = np.asarray(x, dtype=float)
    if degree < 1:
        raise FormulaError(f"'degree' must be at least 1 in {what}")
    if not raw and not state and len(np.unique(x[np.isfinite(x)])) <= degree:
        raise FormulaError(f"'degree' must be less than number of unique points in {what} "
                           f"({len(np.unique(x[np.isfinite(x)]))} unique values)")
    return np.asarray(formulaic_poly(x, degree, raw=raw, _state=state), dtype=float)


def contr_poly(n: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(n)``: n x (n-1) orthonormal polynomial contrasts and their names
    (orthogonal polynomials of the scores 1..n).

    >>> C, names = contr_poly(4)
    >>> names, np.round(C[:, 0], 6).tolist()
    (['.L', '.Q', '.C'], [-0.67082, -0.223607, 0.223607, 0.67082])
    """
    if n < 2:
        raise FormulaError(f"contrasts need at least 2 levels, got {n}")
    Z = poly_basis(np.arange(1.0, n + 1), n - 1, False, {}, "contr.poly()")
    names = [".L", ".Q", ".C"] + [f"^{j}" for j in range(4, n)]
    return Z, names[: n - 1]


def bs_basis(x: np.ndarray, df: int | None, knots, degree: int, intercept: bool, boundary,
             state: dict, what: str = "bs()") -> np.ndarray:
    """``splines::bs``: formulaic's B-spline basis, which is R's (knots at quantiles of the
    fitting data, polynomial continuation beyond the boundary knots); ``state`` keeps the
    knots for new data."""
    if not state and df is not None and knots is None and df < degree + 1 - int(intercept):
        raise FormulaError(f"df = {df} is too small for {what} (degree {degree})")
    lo, hi = (None, None) if boundary is None else (float(boundary[0]), float(boundary[1]))
    out = basis_spline(np.asarray(x, dtype=float), df=df,
                       knots=None if knots is None else list(np.atleast_1d(knots)),
                       degree=degree, include_intercept=intercept, lower_bound=lo,
                       upper_bound=hi, extrapolation="extend", _state=state)
    return np.column_stack([np.asarray(v, dtype=float) for v in out.values()])


# ---- natural splines (splines::ns; formulaic has no such basis) ---------------------------------
def spline_design(knots: np.ndarray, x: np.ndarray, order: int, deriv: int = 0) -> np.ndarray:
    """``splines::splineDesign``: every B-spline of ``order`` on ``knots`` (or a derivative)
    at ``x``; polynomial continuation beyond the end knots."""
    nb = len(knots) - order
    spl = BSpline(np.asarray(knots, float), np.eye(nb), order - 1, extrapolate=True)
    return np.atleast_2d(spl(np.asarray(x, float), nu=deriv))


@dataclass(frozen=True)
class NsState:
    """Interior and boundary knots and the intercept flag: what ``predict()`` reuses."""

    knots: np.ndarray
    boundary: tuple[float, float]
    intercept: bool


def ns_fit(x: np.ndarray, df: int | None = None, knots=None, intercept: bool = False,
           boundary=None, what: str = "ns()") -> NsState:
    """Choose knots as ``splines::ns`` does on the fitting data: ``df - 1 - intercept``
    interior knots at quantiles (R's type 7) of the values inside the boundary knots, which
    default to the range of ``x``."""
    x = np.asarray(x, dtype=float)
    if boundary is None:
        boundary = (float(np.min(x)), float(np.max(x)))
    b0, b1 = float(boundary[0]), float(boundary[1])
    if knots is None:
        n_inner = 0 if df is None else df - 1 - int(intercept)
        if n_inner < 0:
            raise FormulaError(f"df = {df} is too small for {what}")
        inside = x[(x >= b0) & (x <= b1)]
        probs = np.linspace(0, 1, n_inner + 2)[1:-1]
        knots = np.quantile(inside, probs) if n_inner else np.zeros(0)
    return NsState(np.atleast_1d(np.asarray(knots, dtype=float)), (b0, b1), bool(intercept))


def ns_apply(x: np.ndarray, st: NsState) -> np.ndarray:
    """The natural cubic spline basis of ``st`` at ``x`` (linear beyond the boundary knots).

    Examples
    --------
    >>> st = ns_fit(np.linspace(0, 1, 11), df=2)
    >>> ns_apply(np.array([0.0, 1.0]), st).shape
    (2, 2)
    """
    x = np.asarray(x, dtype=float)
    b0, b1 = st.boundary
    aknots = np.sort(np.concatenate([np.repeat([b0, b1], 4), st.knots]))
    basis = spline_design(aknots, x, 4)
    # beyond the boundary a natural spline is linear: value and slope at the boundary
    for side, b in ((x < b0, b0), (x > b1, b1)):
        if np.any(side):
            v = spline_design(aknots, np.array([b]), 4, 0)[0]
            d = spline_design(aknots, np.array([b]), 4, 1)[0]
            basis[side] = v[None, :] + (x[side] - b)[:, None] * d[None, :]
    const = spline_design(aknots, np.array([b0, b1]), 4, 2)
    if not st.intercept:
        basis, const = basis[:, 1:], const[:, 1:]
    # project onto the null space of the boundary second derivatives with the full Q of
    # R's Householder QR of t(const); Householder reflections are unique for a given target,
    # so LAPACK's Q equals LINPACK's here
    Q, _ = sla.qr(const.T, mode="full")
    return basis @ Q[:, 2:]


# ---- scale ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaleState:
    center: float | None
    scale: float | None


def scale_fit(x: np.ndarray, center=True, scale=True) -> ScaleState:
    """``scale(x, center, scale)``: the mean and the root-mean-square (n - 1) of the centred
    values, or given numbers."""
    x = np.asarray(x, dtype=float)
    c = float(np.mean(x)) if center is True else (None if center is False else float(center))
    xc = x - (c or 0.0)
    if scale is True:
        s = float(np.sqrt(np.sum(xc ** 2) / max(len(x) - 1, 1)))
    else:
        s = None if scale is False else float(scale)
    return ScaleState(c, s)


def scale_apply(x: np.ndarray, st: ScaleState) -> np.ndarray:
    out = np.asarray(x, dtype=float)
    if st.center is not None:
        out = out - st.center
    if st.scale is not None:
        out = out / st.scale
    return out
