"""Finite-difference derivatives: the one set of stencils every module uses.

Where an exact derivative is not available (a gradient of a criterion without an analytic
form, a Hessian for standard errors, the derivative of a link's ``mu_eta``), the package
differentiates numerically with these stencils only, so the steps and their accuracy are
chosen in one place:

* :func:`relative_steps` - the symmetric step in the parameter's own units,
  ``h_i = rel * max(1, |x_i|)``: relative for large values, absolute near zero.
* :func:`central_partial`, :func:`jacobian`, :func:`elementwise_derivative` - central
  differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` (error ``O(h^2)``) of a scalar,
  vector or matrix valued function, or of an elementwise one.
* :func:`gradient` - central differences, one-sided where a step would cross a bound.
* :func:`hessian` (four points per off-diagonal pair), :func:`hessian_and_gradient` (one
  stencil of ``1 + 2k + k(k-1)`` points giving both) and :func:`hessian_from_gradient`
  (central differences of an analytic gradient, symmetrised).
* :func:`check_gradient` - an analytic gradient against central differences.

Step sizes: ``1e-5`` relative balances truncation (``h^2 f'''``) against rounding
(``eps f / h``) for first derivatives of smooth functions evaluated to full precision
(~1e-10 relative error); second derivatives from values use ``1e-4``; functions that are
themselves only accurate to a tolerance (a PIRLS mode) need steps on their own scale
(``steps=``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["relative_steps", "central_partial", "jacobian", "elementwise_derivative",
           "gradient", "hessian", "hessian_and_gradient", "hessian_from_gradient",
           "check_gradient"]


def relative_steps(x: np.ndarray, rel: float) -> np.ndarray:
    """Symmetric steps ``rel * max(1, |x_i|)`` in each parameter's units.

    Examples
    --------
    >>> relative_steps(np.array([0.5, -20.0]), 1e-5)
    array([1.e-05, 2.e-04])
    """
    return rel * np.maximum(1.0, np.abs(np.asarray(x, dtype=float)))


def central_partial(f: Callable[[np.ndarray], object], x: np.ndarray, i: int, h: float):
    """``(f(x + h e_i) - f(x - h e_i)) / 2h`` for scalar- or array-valued ``f``.

    Examples
    --------
    >>> float(central_partial(lambda v: v[0] ** 3 + v[1], np.array([2.0, 1.0]), 0, 1e-5))
    ... # doctest: +ELLIPSIS
    12.0000...
    """
    e = np.zeros(len(x))
    e[i] = h
    return (f(x + e) - f(x - e)) / (2 * h)


def jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, rel: float = 1e-6,
             steps: np.ndarray | None = None) -> np.ndarray:
    """Central-difference Jacobian of an array-valued ``f``: shape ``f(x).shape + (k,)``.

    Examples
    --------
    >>> J = jacobian(lambda v: np.array([v[0] * v[1], v[1] ** 2]), np.array([1.0, 3.0]))
    >>> np.round(J, 6)
    array([[3., 1.],
           [0., 6.]])
    """
    x = np.asarray(x, dtype=float)
    steps = relative_steps(x, rel) if steps is None else np.asarray(steps, dtype=float)
    cols = [np.asarray(central_partial(f, x, i, float(steps[i]))) for i in range(len(x))]
    return np.stack(cols, axis=-1)


def elementwise_derivative(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                           rel: float = 1e-5) -> np.ndarray:
    """``f'(x)`` of an elementwise ``f`` (a link's ``mu_eta``), step ``rel * max(1, |x|)``.

    Examples
    --------
    >>> d = elementwise_derivative(np.exp, np.array([0.0, 1.0]))
    >>> bool(np.allclose(d, np.exp([0.0, 1.0]), rtol=1e-9))
    True
    """
    h = relative_steps(x, rel)
    return (f(x + h) - f(x - h)) / (2 * h)


def gradient(f: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
             upper: np.ndarray, h: float = 1e-5, steps: np.ndarray | None = None
             ) -> np.ndarray:
    """Central differences, one-sided at bounds (``steps`` overrides the relative step).

    Examples
    --------
    >>> g = gradient(lambda v: float(v @ v), np.array([0.0, 2.0]), np.array([0.0, -9.0]),
    ...              np.array([9.0, 9.0]))
    >>> np.round(g, 4)
    array([0., 4.])
    """
    g = np.zeros_like(x)
    f0 = None
    for i in range(len(x)):
        step = h * max(1.0, abs(x[i])) if steps is None else steps[i]
        xp, xm = x.copy(), x.copy()
        xp[i] += step
        xm[i] -= step
        if xm[i] < lower[i]:
            f0 = f(x) if f0 is None else f0
            g[i] = (f(xp) - f0) / step
        elif xp[i] > upper[i]:
            f0 = f(x) if f0 is None else f0
            g[i] = (f0 - f(xm)) / step
        else:
            g[i] = (f(xp) - f(xm)) / (2 * step)
    return g


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4,
            steps: np.ndarray | None = None) -> np.ndarray:
    """Symmetric central-difference Hessian (small parameter vectors only).

    ``steps`` gives per-parameter steps; badly scaled parameters (a coefficient of a
    covariate in metres) need steps on the scale of their standard errors.

    Examples
    --------
    >>> H = hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0]))
    >>> np.round(H, 6)
    array([[4., 2.],
           [2., 0.]])
    """
    k = len(x)
    H = np.zeros((k, k))
    steps = h * np.maximum(1.0, np.abs(x)) if steps is None else np.asarray(steps)
    f0 = f(x)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                xp, xm = x.copy(), x.copy()
                xp[i] += steps[i]
                xm[i] -= steps[i]
                H[i, i] = (f(xp) - 2 * f0 + f(xm)) / steps[i] ** 2
            else:
                vals = []
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    xx = x.copy()
                    xx[i] += si * steps[i]
                    xx[j] += sj * steps[j]
                    vals.append(f(xx))
                H[i, j] = H[j, i] = (vals[0] - vals[1] - vals[2] + vals[3]) / (
                    4 * steps[i] * steps[j])
    return H


def hessian_and_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                         steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Central-difference Hessian and gradient from one stencil of 1 + 2k + k(k-1) points.

    Off-diagonal terms use f(x + hi + hj) and f(x - hi - hj) with the axis points already
    needed for the diagonal (second order accurate), instead of four new points per pair.

    Examples
    --------
    >>> H, g, f0 = hessian_and_gradient(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0]),
    ...                                 np.array([1e-4, 1e-4]))
    >>> np.round(H, 5), np.round(g, 6), float(f0)
    (array([[4., 2.],
           [2., 0.]]), array([4., 1.]), 2.0)
    """
    k = len(x)
    f0 = f(x)
    fp, fm = np.empty(k), np.empty(k)
    E = np.diag(steps)
    for i in range(k):
        fp[i], fm[i] = f(x + E[i]), f(x - E[i])
    g = (fp - fm) / (2 * steps)
    H = np.diag((fp - 2 * f0 + fm) / steps ** 2)
    for i in range(k):
        for j in range(i):
            fpp, fmm = f(x + E[i] + E[j]), f(x - E[i] - E[j])
            H[i, j] = H[j, i] = (fpp - fp[i] - fp[j] + 2 * f0 - fm[i] - fm[j] + fmm) / (
                2 * steps[i] * steps[j])
    return H, g, f0


def hessian_from_gradient(fg: Callable[[np.ndarray], tuple[float, np.ndarray]],
                          x: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          steps: np.ndarray | None = None) -> np.ndarray:
    """Symmetrised Hessian by central differences of an analytic gradient (one-sided at
    the bounds); ``steps`` per parameter, else ``1e-5 max(1, |x|)``.

    Examples
    --------
    >>> fg = lambda v: (v[0] ** 2 * v[1], np.array([2 * v[0] * v[1], v[0] ** 2]))
    >>> x = np.array([1.0, 2.0])
    >>> H = hessian_from_gradient(fg, x, fg(x)[1], np.full(2, -np.inf), np.full(2, np.inf))
    >>> np.round(H, 6)
    array([[4., 2.],
           [2., 0.]])
    """
    k = len(x)
    H = np.zeros((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(x[j])) if steps is None else float(steps[j])
        e = np.zeros(k)
        e[j] = h
        lo, hi = x - e, x + e
        if lo[j] < lower[j]:
            H[:, j] = (fg(hi)[1] - g) / h
        elif hi[j] > upper[j]:
            H[:, j] = (g - fg(lo)[1]) / h
        else:
            H[:, j] = (fg(hi)[1] - fg(lo)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def check_gradient(f: Callable[[np.ndarray], float], grad: np.ndarray, x: np.ndarray,
                   rel: float = 1e-6) -> float:
    """Largest difference between ``grad`` at ``x`` and central differences of ``f``,
    relative to ``max(1, |grad|)`` (about 1e-8 for a correct gradient of a smooth ``f``).

    Examples
    --------
    >>> f = lambda v: float(np.sum(np.sin(v)))
    >>> x = np.array([0.3, 1.2])
    >>> check_gradient(f, np.cos(x), x) < 1e-8
    True
    >>> check_gradient(f, np.cos(x) + [0.0, 1e-3], x) > 1e-4
    True
    """
    x = np.asarray(x, dtype=float)
    fd = jacobian(lambda v: np.asarray(f(v), dtype=float), x, rel=rel)
    grad = np.asarray(grad, dtype=float)
    return float(np.max(np.abs(grad - fd) / np.maximum(1.0, np.abs(grad)))) if len(x) else 0.0
