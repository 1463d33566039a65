"""R's data-dependent transforms, with the state R keeps for prediction.

``poly(x, k)`` (orthogonal polynomials: three-term recursion coefficients ``alpha``,
``norm2``), ``contr.poly(n)`` (the polynomial contrasts of ordered factors), ``ns()`` and
``bs()`` (the splines package's natural cubic and B-spline bases: knots at quantiles of the
fitting data), ``scale()``. Each ``*_fit`` returns the basis on the fitting data and the state;
each ``*_apply`` rebuilds the basis for new values from that state, as R's
``makepredictcall`` arranges for ``predict()``.

The algorithms are the published ones (Kennedy & Gentle 1980 for orthogonal polynomials via
QR and the three-term recursion; de Boor 2001 for B-splines, evaluated with scipy); the numbers
agree with R's ``poly``, ``contr.poly``, ``splines::ns`` and ``splines::bs`` (see
tests/reference/formula/).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.interpolate import BSpline

from .errors import FormulaError


# ---- orthogonal polynomials -----------------------------------------------------------------
@dataclass(frozen=True)
class PolyState:
    """``alpha`` (degree,) and ``norm2`` (degree + 2,) as in R's ``attr(poly(x, k), "coefs")``."""

    alpha: np.ndarray
    norm2: np.ndarray


def poly_fit(x: np.ndarray, degree: int, what: str = "poly()") -> tuple[np.ndarray, PolyState]:
    """Orthonormal polynomials of ``x`` up to ``degree`` (n x degree) and their coefficients.

    Column j is x^j with the lower powers projected out, scaled to unit length, with a positive
    leading coefficient (QR of the centred Vandermonde matrix; Q times diag(R) does not depend
    on the sign convention of the Householder reflections).

    Examples
    --------
    >>> Z, st = poly_fit(np.array([1.0, 2.0, 3.0, 4.0]), 2)
    >>> np.round(Z[:, 0], 6).tolist()
    [-0.67082, -0.223607, 0.223607, 0.67082]
    """
    x = np.asarray(x, dtype=float)
    if degree < 1:
        raise FormulaError(f"'degree' must be at least 1 in {what}")
    if len(np.unique(x)) <= degree:
        raise FormulaError(f"'degree' must be less than number of unique points in {what} "
                           f"({len(np.unique(x))} unique values)")
    xbar = float(np.mean(x))
    xc = x - xbar
    V = np.vander(xc, degree + 1, increasing=True)
    Q, R = sla.qr(V, mode="economic")
    Z = Q * np.diag(R)[None, :]
    norm2 = np.sum(Z ** 2, axis=0)
    alpha = (np.sum(xc[:, None] * Z ** 2, axis=0) / norm2 + xbar)[:degree]
    norm2 = np.concatenate([[1.0], norm2])
    Z = Z / np.sqrt(norm2[1:])[None, :]
    return Z[:, 1:], PolyState(alpha, norm2)


def poly_apply(x: np.ndarray, st: PolyState) -> np.ndarray:
    """The same orthogonal polynomials at new ``x`` by the three-term recursion."""
    x = np.asarray(x, dtype=float)
    degree = len(st.alpha)
    Z = np.ones((len(x), degree + 1))
    Z[:, 1] = x - st.alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - st.alpha[i]) * Z[:, i] - (st.norm2[i + 1] / st.norm2[i]) * Z[:, i - 1]
    Z = Z / np.sqrt(st.norm2[1:])[None, :]
    return Z[:, 1:]


def contr_poly(n: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(n)``: n x (n-1) orthonormal polynomial contrasts and their names.

    >>> C, names = contr_poly(4)
    >>> names, np.round(C[:, 0], 6).tolist()
    (['.L', '.Q', '.C'], [-0.67082, -0.223607, 0.223607, 0.67082])
    """
    if n < 2:
        raise FormulaError(f"contrasts need at least 2 levels, got {n}")
    Z, _ = poly_fit(np.arange(1.0, n + 1), n - 1, "contr.poly()")
    names = [".L", ".Q", ".C"] + [f"^{j}" for j in range(4, n)]
    return Z, names[: n - 1]


# ---- B-splines (splines::bs, splines::ns) ---------------------------------------------------
def spline_design(knots: np.ndarray, x: np.ndarray, order: int, deriv: int = 0) -> np.ndarray:
    """``splines::splineDesign``: every B-spline of ``order`` on ``knots`` (or a derivative)
    at ``x``; polynomial continuation beyond the end knots."""
    nb = len(knots) - order
    spl = BSpline(np.asarray(knots, float), np.eye(nb), order - 1, extrapolate=True)
    return np.atleast_2d(spl(np.asarray(x, float), nu=deriv))


@dataclass(frozen=True)
class SplineState:
    """Interior and boundary knots, degree, intercept: what ``predict()`` reuses."""

    kind: str  # "bs" or "ns"
    knots: np.ndarray
    boundary: tuple[float, float]
    degree: int
    intercept: bool


def spline_fit(kind: str, x: np.ndarray, df: int | None = None, knots=None, degree: int = 3,
               intercept: bool = False, boundary=None, what: str = "") -> SplineState:
    """Choose knots as ``splines::bs`` / ``splines::ns`` do on the fitting data.

    ``df`` sets the number of interior knots (bs: ``df - degree - intercept``, ns:
    ``df - 1 - intercept``), placed at quantiles (R's type 7) of the values inside the
    boundary knots, which default to the range of ``x``.
    """
    x = np.asarray(x, dtype=float)
    if boundary is None:
        boundary = (float(np.min(x)), float(np.max(x)))
    b0, b1 = float(boundary[0]), float(boundary[1])
    if kind == "ns":
        degree = 3
    if knots is None:
        if df is None:
            n_inner = 0
        else:
            n_inner = (df - 1 - int(intercept)) if kind == "ns" else (
                df - (degree + 1) + (1 - int(intercept)))
            if n_inner < 0:
                raise FormulaError(f"df = {df} is too small for {what}")
        inside = x[(x >= b0) & (x <= b1)]
        probs = np.linspace(0, 1, n_inner + 2)[1:-1]
        knots = np.quantile(inside, probs) if n_inner else np.zeros(0)
    knots = np.atleast_1d(np.asarray(knots, dtype=float))
    return SplineState(kind, knots, (b0, b1), int(degree), bool(intercept))


def spline_apply(x: np.ndarray, st: SplineState) -> np.ndarray:
    """The basis of ``st`` at ``x``: bs continues the end polynomials beyond the boundary
    knots, ns continues linearly (as the splines package)."""
    x = np.asarray(x, dtype=float)
    b0, b1 = st.boundary
    order = st.degree + 1
    aknots = np.sort(np.concatenate([np.repeat([b0, b1], order), st.knots]))
    basis = spline_design(aknots, x, order)
    if st.kind == "ns":
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
        # R's Householder QR of t(const); Householder reflections are unique for a given
        # target, so LAPACK's Q equals LINPACK's here
        Q, _ = sla.qr(const.T, mode="full")
        return basis @ Q[:, 2:]
    if not st.intercept:
        basis = basis[:, 1:]
    return basis


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
