"""Optimising an objective over its parameters, and the one record of how it went.

Every fit carries an :class:`OptSummary`: optimiser, converged or not, iterations, function
evaluations, the final gradient (raw and scaled by the Hessian, as lme4's convergence check),
parameters on a boundary (a singular fit, reported apart from failures) and warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize, minimize_scalar


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """A variance is estimated at zero or a correlation at +-1 (boundary, not failure)."""


@dataclass
class OptSummary:
    """How an optimisation went (attached to every fit as ``fit.optinfo``)."""

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

    def describe(self) -> str:
        state = "converged" if self.converged else "did NOT converge"
        g = np.max(np.abs(self.gradient)) if len(self.gradient) else 0.0
        s = (f"optimizer ({self.method}) {state} after {self.iterations} iterations, "
             f"{self.n_evals} evaluations; max|gradient| {g:.2g}")
        if self.boundary:
            s += "\nboundary (singular) fit: " + "; ".join(self.boundary)
        return s


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
                       upper: np.ndarray, h: float = 1e-5,
                       steps: np.ndarray | None = None) -> np.ndarray:
    """Central differences, one-sided at bounds (``steps`` overrides the relative step)."""
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


def numerical_hessian(f: Callable[[np.ndarray], float], x: np.ndarray,
                      h: float = 1e-4, steps: np.ndarray | None = None) -> np.ndarray:
    """Symmetric central-difference Hessian (small parameter vectors only).

    ``steps`` gives per-parameter steps; badly scaled parameters (a coefficient of a
    covariate in metres) need steps on the scale of their standard errors."""
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


def optimize(f: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
             upper: np.ndarray, boundary: Callable[[np.ndarray], list[str]] | None = None,
             gtol: float = 1e-5, maxiter: int = 1000, check_hessian: bool = True,
             polish: bool = True, fd_eps: float = 1e-8, scaled_tol: float = 2e-3,
             fg: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None
             ) -> OptSummary:
    """Minimise ``f`` over a box with L-BFGS-B and record the outcome.

    ``fg``, when given, returns the value and its analytic gradient: the optimiser then uses
    it, and the final Hessian is a central difference of gradients.

    Examples
    --------
    >>> s = optimize(lambda x: float((x[0] - 2) ** 2), np.array([0.0]), np.array([0.0]),
    ...              np.array([np.inf]))
    >>> round(float(s.x[0]), 4), s.converged
    (2.0, True)
    """
    n_evals = [0]
    best = [np.inf]

    def fcount(x):
        n_evals[0] += 1
        v = f(x)
        if np.isfinite(v):
            best[0] = min(best[0], v)
            return v
        # a failed evaluation (system not positive definite far out on a boundary) is
        # reported as worse than anything seen, but finite, so the line search backs off
        return (best[0] if np.isfinite(best[0]) else 0.0) + 1e6 * (1.0 + float(np.sum(x * x)))

    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    if len(x0) == 0:
        v = f(x0)
        return OptSummary("none", x0, v, True, 0, 1, np.zeros(0), 0.0, "no parameters")
    if fg is not None:
        return _optimize_with_gradient(fg, x0, lower, upper, boundary, gtol, maxiter,
                                       polish or check_hessian, scaled_tol)
    if len(x0) == 1 and np.isfinite(lower[0]) and np.isfinite(upper[0]):
        res = minimize_scalar(lambda t: fcount(np.array([t])), bounds=(lower[0], upper[0]),
                              method="bounded", options={"xatol": 1e-5})  # Newton polishes below
        x, fun, nit, ok, msg, method = (np.array([res.x]), float(res.fun), res.nfev,
                                        res.success, str(res.message), "Brent (bounded)")
    else:
        bounds = list(zip(np.where(np.isfinite(lower), lower, None),
                          np.where(np.isfinite(upper), upper, None)))
        res = minimize(fcount, x0, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-13, "gtol": gtol,
                                "maxcor": 20, "eps": fd_eps})
        x, fun, nit, ok, msg, method = (res.x, float(res.fun), res.nit, res.success,
                                        str(res.message), "L-BFGS-B")
    # One safeguarded Newton step with the finite-difference Hessian polishes the last
    # digits L-BFGS-B leaves (R users compare to 1e-4); the same Hessian gives lme4's
    # scaled-gradient convergence check.
    g = numerical_gradient(fcount, x, lower, upper)
    free = ~(((x - lower) < 1e-8) & (g > 0)) & ~(((upper - x) < 1e-8) & (g < 0))
    scaled = float(np.max(np.abs(np.where(free, g, 0.0)))) if len(g) else 0.0
    if (polish or check_hessian) and len(x) <= 8 and np.any(free):
        try:
            H = numerical_hessian(fcount, x)[np.ix_(free, free)]
            np.linalg.cholesky(H)
            if polish and np.max(np.abs(g[free])) > 1e-8:
                step = np.linalg.solve(H, g[free])
                for t in (1.0, 0.5, 0.25):
                    xn = x.copy()
                    xn[free] = np.clip(x[free] - t * step, lower[free], upper[free])
                    fn = fcount(xn)
                    if fn < fun:
                        x, fun = xn, fn
                        g = numerical_gradient(fcount, x, lower, upper)
                        break
            scaled = float(np.max(np.abs(np.linalg.solve(H, g[free]))))
        except (np.linalg.LinAlgError, ValueError):
            pass
    summary = OptSummary(method, x, fun, bool(ok), int(nit), n_evals[0], g, scaled, msg)
    summary.boundary = boundary(x) if boundary else []
    return _finish(summary, bool(ok), msg, scaled_tol)


def _finish(summary: OptSummary, ok: bool, msg: str, tol: float = 2e-3) -> OptSummary:
    # lme4 flags a scaled gradient above 0.002 (and does not flag boundary fits as failures)
    scaled = summary.scaled_gradient
    if scaled > tol:
        summary.converged = False
        summary.warnings.append((f"optimizer did not converge: {msg} " if not ok else
                                 "model failed to converge: ") +
                                f"scaled gradient {scaled:.3g} > {tol:g}")
    else:
        summary.converged = True
    return summary


def hessian_from_gradient(fg: Callable[[np.ndarray], tuple[float, np.ndarray]],
                          x: np.ndarray, g: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          steps: np.ndarray | None = None) -> np.ndarray:
    """Symmetrised Hessian by central differences of an analytic gradient (one-sided at
    the bounds); ``steps`` per parameter, else ``1e-5 max(1, |x|)``."""
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


def _optimize_with_gradient(fg, x0, lower, upper, boundary, gtol, maxiter, polish=True,
                            scaled_tol=2e-3) -> OptSummary:
    """L-BFGS-B on an analytic gradient; with ``polish``, a Hessian by central differences
    of gradients, one Newton step and lme4's scaled-gradient check."""
    n_evals = [0]
    best = [np.inf]

    def fgc(x):
        n_evals[0] += 1
        v, g = fg(x)
        if np.isfinite(v):
            best[0] = min(best[0], v)
            return v, g
        return (best[0] if np.isfinite(best[0]) else 0.0) + 1e6 * (1.0 + float(x @ x)), -x

    bounds = list(zip(np.where(np.isfinite(lower), lower, None),
                      np.where(np.isfinite(upper), upper, None)))
    res = minimize(fgc, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": maxiter, "ftol": 1e-14, "gtol": gtol * 1e-2,
                            "maxcor": 20})
    x, fun = res.x, float(res.fun)
    fun, g = fgc(x)
    free = ~(((x - lower) < 1e-8) & (g > 0)) & ~(((upper - x) < 1e-8) & (g < 0))
    scaled = float(np.max(np.abs(np.where(free, g, 0.0)))) if len(g) else 0.0
    if polish and np.any(free) and len(x) <= 30:
        H = hessian_from_gradient(fgc, x, g, lower, upper)[np.ix_(free, free)]
        try:
            np.linalg.cholesky(H)
            step = np.linalg.solve(H, g[free])
            xn = x.copy()
            xn[free] = np.clip(x[free] - step, lower[free], upper[free])
            fn, gn = fgc(xn)
            if fn < fun:
                x, fun, g = xn, fn, gn
            scaled = float(np.max(np.abs(np.linalg.solve(H, g[free]))))
        except np.linalg.LinAlgError:
            pass
    summary = OptSummary("L-BFGS-B (analytic gradient)", x, fun, bool(res.success),
                         int(res.nit), n_evals[0], g, scaled, str(res.message))
    summary.boundary = boundary(x) if boundary else []
    return _finish(summary, bool(res.success), str(res.message), scaled_tol)


def emit_warnings(summary: OptSummary) -> None:
    """Raise the fit's convergence/boundary messages as Python warnings."""
    for w in summary.warnings:
        warnings.warn(w, ConvergenceWarning, stacklevel=3)
    if summary.boundary:
        warnings.warn("boundary (singular) fit: " + "; ".join(summary.boundary),
                      SingularFitWarning, stacklevel=3)
