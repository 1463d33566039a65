"""Optimising an objective over its parameters, and the one record of how it went.

Every fit carries an :class:`OptSummary`: optimiser, converged or not, iterations, function
evaluations, the final gradient (raw and scaled by the Hessian, as lme4's convergence check),
parameters on a boundary (a singular fit, reported apart from failures) and warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize, minimize_scalar

# the stencils live in .derivatives; these names stay importable from here
from .derivatives import gradient as numerical_gradient  # noqa: F401
from .derivatives import hessian as numerical_hessian  # noqa: F401
from .derivatives import hessian_and_gradient, hessian_from_gradient  # noqa: F401
from .newton import newton_search
from .optsummary import ConvergenceWarning, OptSummary, SingularFitWarning  # noqa: F401

#: the Newton polish's stopping rule (``optimize(polish_tol=)``): a step below this in
#: optimiser units; the Gaussian fits with an analytic gradient use it in memory and out of
#: core, so that both end at one point of a flat optimum
POLISH_TOL = 1e-10


@dataclass(frozen=True)
class ParameterSpace:
    """Where the optimiser may search, and in which units.

    ``lower``/``upper`` are the parameters' bounds. ``scale`` gives the optimiser's units
    (it works on ``z = x * scale``), so that a covariate in micrometres or kilometres leads to
    the same search: blocks set it from their data (a random slope's column RMS, a fixed
    effect's column RMS), which makes the path, and so the answer, invariant to units.

    ``sign_free`` marks coordinates whose lower bound 0 exists only to pick one of several
    equivalent parameterisations: the objective is even in them (flipping the sign of a
    column of an lme4 relative covariance factor ``T`` leaves ``T T'`` unchanged). The search
    drops those bounds, so a step can pass through zero instead of sticking on a bound where
    the gradient vanishes by symmetry, and ``canonical`` maps the result back (diagonal of
    ``T`` non-negative).
    """

    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray | None = None
    sign_free: np.ndarray | None = None
    canonical: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def box(cls, lower: np.ndarray, upper: np.ndarray) -> ParameterSpace:
        return cls(np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))

    @property
    def k(self) -> int:
        return len(self.lower)

    @property
    def units(self) -> np.ndarray:
        return np.ones(self.k) if self.scale is None else np.asarray(self.scale, dtype=float)

    @property
    def free_sign(self) -> np.ndarray:
        return np.zeros(self.k, bool) if self.sign_free is None else np.asarray(
            self.sign_free, bool)

    def extend(self, lower: np.ndarray, upper: np.ndarray,
               scale: np.ndarray | None = None) -> ParameterSpace:
        """This space followed by further coordinates (glmer's fixed effects, a dispersion)."""
        lower, upper = np.atleast_1d(lower).astype(float), np.atleast_1d(upper).astype(float)
        k0, extra = self.k, len(lower)
        canon = self.canonical
        return ParameterSpace(
            np.concatenate([self.lower, lower]), np.concatenate([self.upper, upper]),
            np.concatenate([self.units, np.ones(extra) if scale is None else scale]),
            np.concatenate([self.free_sign, np.zeros(extra, bool)]),
            None if canon is None else (lambda x: np.concatenate([canon(x[:k0]), x[k0:]])))

    def canonicalise(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.canonical(x), dtype=float) if self.canonical else x

    def search_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds in optimiser units, without the sign-choosing bounds."""
        lo = np.where(self.free_sign & (self.lower == 0), -np.inf, self.lower)
        return lo * self.units, self.upper * self.units


@dataclass(frozen=True)
class Plan:
    """How to search an objective: its start, its parameter space and the settings of
    :func:`optimize` (keywords: ``gtol``, ``maxiter``, ``fg``, ``newton``, ...).

    ``optimize(objective, plan)`` is ``optimize(objective, plan.x0, plan.space,
    boundary=plan.boundary, **plan.settings)``; :func:`.objective.default_plan` gives
    each objective's.
    """

    x0: np.ndarray
    space: ParameterSpace
    boundary: Callable[[np.ndarray], list[str]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def optimize(f: Callable[[np.ndarray], float], x0: np.ndarray | Plan,
             lower: np.ndarray | ParameterSpace | None = None,
             upper: np.ndarray | None = None,
             boundary: Callable[[np.ndarray], list[str]] | None = None,
             gtol: float = 1e-5, maxiter: int = 1000, check_hessian: bool = True,
             polish: bool = True, fd_eps: float = 1e-8, scaled_tol: float = 2e-3,
             fg: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
             max_restarts: int = 3, extra_starts: tuple[np.ndarray, ...] = (),
             plateau: float = 5.0, newton: bool = False,
             polish_tol: float | None = None) -> OptSummary:
    """Minimise ``f`` over a box, check that the answer is a minimum, and record how it went.

    The search is L-BFGS-B (Brent for one bounded parameter) in the units of ``lower`` when
    it is a :class:`ParameterSpace`. An answer on a bound is a claim to be checked, since a
    projected-gradient method stops wherever the projected gradient vanishes: for every
    parameter on a bound the objective is probed into the interior; if it decreases there,
    the search restarts from the best probe (at most ``max_restarts`` times), and
    ``optinfo.log`` says so. ``fg``, when given, returns the value and its analytic gradient.
    ``extra_starts`` are further starting points for objectives known to have plateaus: they
    are searched when the first search ends within ``plateau`` (optimiser units) of a finite
    bound, where the objective stops depending on a parameter (a smooth fully penalised or
    not at all), and the best of all searches is kept and checked.

    ``newton=True`` takes damped Newton steps with the objective's average-information
    matrix instead (:func:`.newton.newton_search`; ``f`` then provides ``evaluate(phi,
    start)`` with exact gradients, as :class:`.precform.FieldObjective`): a handful of
    evaluations where each costs a sparse factorisation. Its answer goes through the same
    checks (bounds probed, negative curvature of the observed Hessian, restarts, lme4's
    scaled gradient). The summary records the settings of either search (``settings``) and
    its log.

    ``polish_tol`` (with ``fg``, or an ``f`` that has ``value_and_grad``): after the
    checks, Newton steps on the analytic gradient
    (:func:`newton_polish`) until a step is below ``polish_tol`` in optimiser units, so that
    two evaluations of one objective (in memory, or from statistics summed over partitions)
    end at the same point of a flat optimum, not wherever L-BFGS-B's tolerance stopped.

    Examples
    --------
    >>> s = optimize(lambda x: float((x[0] - 2) ** 2), np.array([0.0]), np.array([0.0]),
    ...              np.array([np.inf]))
    >>> round(float(s.x[0]), 4), s.converged
    (2.0, True)

    A function even in its parameter, whose minimum is not at the bound 0 (the shape of an
    lme4 profiled deviance in a relative standard deviation):

    >>> f = lambda x: float((x[0] ** 2 - 1) ** 2)
    >>> s = optimize(f, np.array([0.0]), np.array([0.0]), np.array([10.0]))
    >>> round(float(s.x[0]), 4), s.boundary
    (1.0, [])
    """
    if isinstance(x0, Plan):
        return optimize(f, x0.x0, x0.space, boundary=x0.boundary, **x0.settings)
    space = lower if isinstance(lower, ParameterSpace) else ParameterSpace.box(
        np.asarray(lower, dtype=float), np.asarray(upper, dtype=float))
    lower, upper = space.lower, space.upper
    if newton:
        return _newton_claimed(f, np.asarray(x0, dtype=float), space, boundary,
                               check_hessian, max_restarts, scaled_tol)
    settings = dict(gtol=gtol, maxiter=maxiter, check_hessian=check_hessian, polish=polish,
                    fd_eps=fd_eps, scaled_tol=scaled_tol, gradient=fg is not None,
                    max_restarts=max_restarts, extra_starts=len(extra_starts),
                    polish_tol=polish_tol)
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    if len(x0) == 0:
        v = f(x0)
        return OptSummary("none", x0, v, True, 0, 1, np.zeros(0), 0.0, "no parameters")
    counted = _Counted(f, fg)
    log: list[str] = []
    x, fun, nit, ok, msg, method = _search(counted, x0, space, gtol, maxiter, fd_eps)
    u0 = space.units
    far = ((x - lower) * u0 < plateau) | ((upper - x) * u0 < plateau)
    for xs in extra_starts if np.any(far & ~space.free_sign) else ():
        # screened by a short search; only one that gets below the best so far is finished
        xs = np.clip(np.asarray(xs, dtype=float), lower, upper)
        r = _search(counted, xs, space, gtol, 15, fd_eps)
        nit += r[2]
        if r[1] < fun - 1e-10 * max(1.0, abs(fun)):
            r = _search(counted, r[0], space, gtol, maxiter, fd_eps)
            nit += r[2]
            log.append(f"a search from another start {np.round(xs, 3).tolist()} reached a "
                       f"lower value ({r[1]:.10g} < {fun:.10g})")
            x, fun, ok, msg = r[0], r[1], r[3], r[4]
    x, fun = _settle(counted, x, fun, space)
    x, fun, g, scaled, ok, msg, nit = _check_claim(counted, x, fun, space, x0, fg is not None,
                                                   polish, check_hessian, gtol, maxiter,
                                                   fd_eps, max_restarts, ok, msg, nit, log)
    polish_fg = fg if fg is not None else getattr(f, "value_and_grad", None)
    if polish_tol is not None and polish_fg is not None and np.any(_free(x, g, space)):
        counted.fg = polish_fg  # (the search may have used values only)
        x, fun, g, sg, note = newton_polish(counted, x, fun, space, polish_tol)
        scaled = scaled if sg is None else sg
        log.append(note)
    summary = OptSummary(method, x, fun, bool(ok), int(nit), counted.n, g, scaled, msg,
                         boundary=boundary(x) if boundary else [], log=log, settings=settings)
    return finish_summary(summary, bool(ok), msg, scaled_tol)


def _newton_claimed(obj: Any, x0: np.ndarray, space: ParameterSpace,
                    boundary: Callable[[np.ndarray], list[str]] | None, check_hessian: bool,
                    max_restarts: int, scaled_tol: float) -> OptSummary:
    """The Newton option, its answer checked as :func:`_check_claim` checks L-BFGS-B's:
    on a bound the criterion is probed into the interior; inside, the observed Hessian
    (:func:`.newton.observed_hessian`, kept for the fit's standard errors) must have no
    negative curvature; a lower point found either way restarts the search (at most
    ``max_restarts`` times); lme4's scaled gradient decides convergence
    (:func:`finish_summary`). The probes evaluate ``obj(phi)``, warm-started at the mode."""
    from .newton import observed_hessian
    lower, upper = space.lower, space.upper
    x0 = np.clip(x0, lower, upper)
    summary, ev = newton_search(obj, x0, lower, upper, boundary, step_tol=scaled_tol)
    counted = _Counted(obj, None)
    log, trace = list(summary.log), list(summary.trace)
    iterations, n_evals = summary.iterations, summary.n_evals
    H = None
    for attempt in range(max_restarts + 1):
        probe = _probe_bounds(counted, ev.phi, ev.f, space, x0)
        if probe is None:
            H, down = None, None
            free = _free(ev.phi, ev.grad, space)
            if check_hessian and np.any(free):
                try:
                    H = observed_hessian(obj, ev)[0]
                except (*obj.failures, RuntimeError):
                    log.append("the observed Hessian could not be computed at the optimum")
                if H is not None and np.all(np.isfinite(H)):
                    down = _negative_direction(H[np.ix_(free, free)], free)
            probe = None if down is None else _probe_direction(counted, ev.phi, ev.f, space,
                                                               down)
            if probe is None and down is None and H is not None:
                log.append("checked: no lower point into the interior from a bound; "
                           "the observed Hessian is positive definite")
            on_bound = False
        else:
            down, on_bound = None, True
        if not _restart_from(probe, on_bound, down, attempt, max_restarts, ev.f, log):
            break
        summary, ev = newton_search(obj, probe[0], lower, upper, boundary,
                                    step_tol=scaled_tol)
        log += summary.log
        trace += summary.trace
        iterations += summary.iterations
        n_evals += summary.n_evals
    free = _free(ev.phi, ev.grad, space)
    scaled = summary.scaled_gradient
    if H is not None and np.any(free):
        Hf = H[np.ix_(free, free)]
        scaled = scaled_gradient(Hf, ev.grad[free])
        if scaled > scaled_tol:  # the L-BFGS path's polish: one step with the observed H
            ev, scaled, note = _newton_polish(obj, ev, Hf, free, space, scaled)
            counted.n += 1
            log.append(note)
    summary = replace(summary, iterations=iterations, n_evals=n_evals + counted.n,
                      scaled_gradient=scaled, log=log, trace=trace,
                      settings=dict(summary.settings, check_hessian=check_hessian,
                                    max_restarts=max_restarts, scaled_tol=scaled_tol))
    return finish_summary(summary, summary.converged, summary.message, scaled_tol)


def _newton_polish(obj: Any, ev: Any, Hf: np.ndarray, free: np.ndarray,
                   space: ParameterSpace, scaled: float) -> tuple[Any, float, str]:
    """One Newton step with the observed Hessian (free coordinates), kept when the
    criterion falls; lme4's scaled gradient there with the same Hessian (as
    :func:`_polish_with_gradient`)."""
    from .newton import predict_start
    phi = ev.phi.copy()
    phi[free] = np.clip(phi[free] - np.linalg.solve(Hf, ev.grad[free]),
                        space.lower[free], space.upper[free])
    try:
        new = obj.evaluate(phi, predict_start(ev, phi))
    except obj.failures:
        return ev, scaled, "a Newton step with the observed Hessian could not be evaluated"
    if not new.f < ev.f:
        return ev, scaled, (f"a Newton step with the observed Hessian did not lower the "
                            f"criterion (scaled gradient {scaled:.3g})")
    obj.remember(new)
    after = scaled_gradient(Hf, new.grad[free])
    return new, after, (f"scaled gradient {scaled:.3g} after the Newton search; one step "
                        f"with the observed Hessian: {after:.3g}")


def _restart_from(probe: tuple | None, on_bound: bool, down: np.ndarray | None, attempt: int,
                  max_restarts: int, fun: float, log: list[str]) -> bool:
    """Record what the checks found; True when the search restarts from ``probe``'s lower
    point (found from a bound, or along the Hessian's negative curvature ``down``)."""
    if probe is None:
        if down is not None:
            log.append("the Hessian at the optimum is not positive definite, and "
                       "no lower point was found along its negative curvature")
        return False
    why = (f"on the bound of parameter(s) {probe[2]}" if on_bound
           else "at a stationary point that is not a minimum")
    if attempt == max_restarts:
        log.append(f"stopped {why} with lower values nearby after {max_restarts} restarts")
        return False
    log.append(f"stopped {why} at {fun:.10g}, but the objective is lower nearby "
               f"({probe[1]:.10g}): restart {attempt + 1} from there")
    return True


def _check_claim(counted: _Counted, x: np.ndarray, fun: float, space: ParameterSpace,
                 x0: np.ndarray, has_grad: bool, polish: bool, check_hessian: bool,
                 gtol: float, maxiter: int, fd_eps: float, max_restarts: int, ok: bool,
                 msg: str, nit: int, log: list[str]):
    """Check the search's answer before it is claimed, restarting when it fails: on a bound
    the objective must not decrease into the interior; inside, the Hessian must not have
    negative curvature. Returns ``(x, fun, gradient, scaled gradient, ok, message,
    iterations)``; what happened goes to ``log``."""
    for attempt in range(max_restarts + 1):
        # an answer is checked before it is reported: on a bound, the objective must not
        # decrease into the interior; inside, the Hessian must not have negative curvature
        probe = _probe_bounds(counted, x, fun, space, x0)
        if probe is None:
            if has_grad:
                xp, fp, g, scaled, down = _polish_with_gradient(
                    counted, x, fun, space, polish or check_hessian)
            else:
                xp, fp, g, scaled, down = _polish(counted, x, fun, space, polish,
                                                  check_hessian)
            x, fun = xp, fp
            probe = None if down is None else _probe_direction(counted, x, fun, space, down)
            on_bound = False
        else:
            down, on_bound = None, True
        if not _restart_from(probe, on_bound, down, attempt, max_restarts, fun, log):
            break
        xp, fp = probe[0], probe[1]
        xr, fr, nr, okr, msgr, _ = _search(counted, xp, space, gtol, maxiter, fd_eps)
        xr, fr = _settle(counted, xr, fr, space)
        nit += nr
        x, fun, ok, msg = (xr, fr, okr, msgr) if fr <= fp else (xp, fp, ok, msg)
    return x, fun, g, scaled, ok, msg, nit


class _Counted:
    """The objective (and gradient) with an evaluation count; failed evaluations (a system
    not positive definite far out on a boundary) come back finite but worse than anything
    seen, so line searches back off instead of stopping."""

    def __init__(self, f, fg):
        self.f, self.fg = f, fg
        self.n = 0
        self.best = np.inf

    def _bad(self, x) -> float:
        return (self.best if np.isfinite(self.best) else 0.0) + 1e6 * (1.0 + float(x @ x))

    def __call__(self, x: np.ndarray) -> float:
        self.n += 1
        v = float(self.f(x))
        if np.isfinite(v):
            self.best = min(self.best, v)
            return v
        return self._bad(x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.n += 1
        v, g = self.fg(x)
        if np.isfinite(v):
            self.best = min(self.best, v)
            return float(v), np.asarray(g, dtype=float)
        return self._bad(x), -x


def _search(fc: _Counted, x0: np.ndarray, space: ParameterSpace, gtol: float, maxiter: int,
            fd_eps: float):
    """One run of the search in optimiser units; returns the point in user units."""
    u = space.units
    lo, hi = space.search_bounds()
    z0 = x0 * u
    if fc.fg is None and len(x0) == 1 and np.isfinite(lo[0]) and np.isfinite(hi[0]):
        res = minimize_scalar(lambda t: fc(np.array([t]) / u), bounds=(lo[0], hi[0]),
                              method="bounded", options={"xatol": 1e-5})  # polish finishes
        return (np.array([res.x]) / u, float(res.fun), int(res.nfev), bool(res.success),
                str(res.message), "Brent (bounded)")
    bounds = list(zip(np.where(np.isfinite(lo), lo, None), np.where(np.isfinite(hi), hi, None)))
    if fc.fg is not None:
        def fgz(z):
            v, g = fc.value_and_grad(z / u)
            return v, g / u
        res = minimize(fgz, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-12, "gtol": gtol * 1e-2,
                                "maxcor": 20})
        method = "L-BFGS-B (analytic gradient)"
    else:
        res = minimize(lambda z: fc(z / u), z0, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-13, "gtol": gtol,
                                "maxcor": 20, "eps": fd_eps})
        method = "L-BFGS-B"
    return res.x / u, float(res.fun), int(res.nit), bool(res.success), str(res.message), method


def _settle(fc: _Counted, x: np.ndarray, fun: float, space: ParameterSpace):
    """Canonical sign of the sign-free parameters, and those near zero set to exactly zero
    when that is no worse (the search approaches a zero optimum only asymptotically, and
    a singular fit is reported from exact zeros, as lme4's bounded optimisers give)."""
    x = space.canonicalise(x)
    near = space.free_sign & (np.abs(x * space.units) < 1e-3) & (x != 0)
    if np.any(near):
        xz = x.copy()
        xz[near] = 0.0
        fz = fc(xz)
        if fz <= fun + 1e-12 * max(1.0, abs(fun)):
            return xz, min(fz, fun) if fz <= fun else fun
        for i in np.flatnonzero(near):
            xz = x.copy()
            xz[i] = 0.0
            fz = fc(xz)
            if fz <= fun + 1e-12 * max(1.0, abs(fun)):
                x, fun = xz, min(fz, fun)
    return x, fun


#: probe distances into the interior, in optimiser units
_PROBES = (1e-3, 1e-2, 0.1, 0.5, 2.0, 5.0)


def _probe_bounds(fc: _Counted, x: np.ndarray, fun: float, space: ParameterSpace,
                  x0: np.ndarray | None = None):
    """For parameters on a bound (or at a sign-free zero): the best interior probe that
    beats ``fun``, as ``(x, f, names)``, or None when the bound is a local minimum along
    every probed direction (one-sided derivative and curvature both non-negative)."""
    u = space.units
    # a search may stop just inside a bound, or on the plateau before it (a smoothing
    # parameter far out, where the criterion no longer depends on it): both are probed
    # (optimiser units; a sign-free parameter's bound 0 is no plateau, only a sign choice)
    near = np.where(space.free_sign, 1e-5, 2.0)
    at_lo = (np.abs(x - space.lower) * u < near) & np.isfinite(space.lower)
    at_hi = (np.abs(space.upper - x) * u < near) & np.isfinite(space.upper)
    idx = np.flatnonzero(at_lo | at_hi)
    if len(idx) == 0:
        return None
    tol = 1e-10 * max(1.0, abs(fun))
    best = None
    directions = [[i] for i in idx] + ([list(idx)] if len(idx) > 1 else [])
    for d in directions:
        candidates = []
        for h in _PROBES:
            xp = x.copy()
            for i in d:
                step = h / u[i]
                xp[i] = x[i] + step if at_lo[i] else x[i] - step
            candidates.append(xp)
        if x0 is not None:  # back where the search started: past any plateau
            xp = x.copy()
            xp[d] = x0[d]
            candidates.append(xp)
        for xp in candidates:
            xp = np.clip(xp, space.lower, space.upper)
            fp = fc(xp)
            if fp < fun - tol and (best is None or fp < best[1]):
                best = (xp, fp, [int(i) for i in d])
    return best


def _probe_direction(fc: _Counted, x: np.ndarray, fun: float, space: ParameterSpace,
                     d: np.ndarray):
    """The best point along +-d (optimiser units) that beats ``fun``, or None."""
    u = space.units
    tol = 1e-10 * max(1.0, abs(fun))
    best = None
    for h in _PROBES:
        for sgn in (1.0, -1.0):
            xp = np.clip(x + sgn * h * d / u, space.lower, space.upper)
            fp = fc(xp)
            if fp < fun - tol and (best is None or fp < best[1]):
                best = (xp, fp, [])
    return best


def _negative_direction(H: np.ndarray, free: np.ndarray) -> np.ndarray | None:
    """The eigenvector of the most negative curvature of H (free coordinates), if any."""
    w, V = np.linalg.eigh(H)
    if w[0] >= -1e-8 * max(1.0, abs(w[-1])):
        return None
    d = np.zeros(len(free))
    d[free] = V[:, 0]
    return d


def scaled_gradient(H: np.ndarray, g: np.ndarray) -> float:
    """lme4's convergence statistic: the Newton step ``H^-1 g``, but per parameter no larger
    than the raw gradient (so a flat, badly conditioned direction with a gradient of 1e-10
    is not reported as a failure)."""
    return float(np.max(np.minimum(np.abs(np.linalg.solve(H, g)), np.abs(g))))


def _free(x: np.ndarray, g: np.ndarray, space: ParameterSpace) -> np.ndarray:
    """Parameters not held by an active bound (on a bound with the gradient pushing out)."""
    scale = space.units
    on_lo = (x - space.lower) * scale < 1e-8
    on_hi = (space.upper - x) * scale < 1e-8
    return ~(on_lo & (g >= 0)) & ~(on_hi & (g <= 0))


def _polish(fc: _Counted, x, fun, space: ParameterSpace, polish: bool, check_hessian: bool):
    """One safeguarded Newton step with a finite-difference Hessian (in optimiser units)
    polishes the last digits L-BFGS-B leaves (R users compare to 1e-4); the same Hessian
    gives lme4's scaled-gradient check, and its negative curvature, if any, a way down."""
    u = space.units
    lo, hi = space.lower * u, space.upper * u
    fz = lambda z: fc(z / u)
    z = x * u
    gz = numerical_gradient(fz, z, lo, hi)
    free = _free(x, gz, space)
    scaled = float(np.max(np.abs(np.where(free, gz, 0.0)))) if len(gz) else 0.0
    down = None
    if (polish or check_hessian) and len(x) <= 8 and np.any(free):
        H = numerical_hessian(fz, z)[np.ix_(free, free)]
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            down = _negative_direction(H, free) if np.all(np.isfinite(H)) else None
        else:
            if polish and np.max(np.abs(gz[free])) > 1e-8:
                step = np.linalg.solve(H, gz[free])
                for t in (1.0, 0.5, 0.25):
                    zn = z.copy()
                    zn[free] = np.clip(z[free] - t * step, lo[free], hi[free])
                    fn = fz(zn)
                    if fn < fun:
                        z, fun = zn, fn
                        gz = numerical_gradient(fz, z, lo, hi)
                        break
            scaled = scaled_gradient(H, gz[free])
    return z / u, fun, gz * u, scaled, down


def newton_polish(fc: Any, x: np.ndarray, fun: float, space: ParameterSpace, tol: float,
                  maxit: int = 8) -> tuple[np.ndarray, float, np.ndarray, float | None, str]:
    """Newton steps on the interior coordinates with the analytic gradient
    (``fc.value_and_grad``) and a Hessian by central differences of it, in optimiser units,
    until a step is below ``tol`` (the stopping rule, recorded in the returned note). A
    step is kept when the criterion does not rise beyond rounding (1e-12 relative) and the
    largest gradient falls;
    the first one that fails ends the polish. Returns ``(x, fun, gradient, scaled gradient
    or None, note)``.

    Examples
    --------
    >>> f = lambda x: (float(np.cosh(x[0] - 1) + 1e-4 * x[0] ** 4),
    ...                np.array([np.sinh(x[0] - 1) + 4e-4 * x[0] ** 3]))
    >>> class F:
    ...     value_and_grad = staticmethod(f)
    >>> sp = ParameterSpace.box(np.array([-5.0]), np.array([5.0]))
    >>> x, fun, g, _, note = newton_polish(F(), np.array([0.9]), f(np.array([0.9]))[0], sp,
    ...                                    1e-12)
    >>> bool(abs(g[0]) < 1e-14), note.split(":")[0]
    (True, 'Newton polish on the analytic gradient')
    """
    u = space.units
    lo, hi = space.lower * u, space.upper * u

    def fgz(z: np.ndarray) -> tuple[float, np.ndarray]:
        v, gr = fc.value_and_grad(z / u)
        return float(v), np.asarray(gr, dtype=float) / u

    z = x * u
    fun, gz = fgz(z)
    scaled, step_size, k, why = None, np.inf, 0, "iteration limit"
    # coordinates on a bound stay there (a zero variance the checks settled is reported as
    # a singular fit; the polish only refines interior digits)
    free = ~(((x - space.lower) * u < 1e-8) | ((space.upper - x) * u < 1e-8))
    for it in range(1, maxit + 1):
        k = it
        if not np.any(free):
            why = "every parameter on a bound"
            break
        H = hessian_from_gradient(fgz, z, gz, lo, hi)[np.ix_(free, free)]
        try:
            step = cho_solve(cho_factor(H), gz[free])
        except np.linalg.LinAlgError:
            why = "Hessian not positive definite"
            break
        scaled = scaled_gradient(H, gz[free])
        zn = z.copy()
        zn[free] = np.clip(z[free] - step, lo[free], hi[free])
        fn, gn = fgz(zn)
        # near the optimum a step changes the criterion at its rounding (1e-13 to 1e-12
        # relative), so the gradient decides; the criterion must not rise beyond rounding
        if not (fn <= fun + 1e-12 * max(1.0, abs(fun))
                and np.max(np.abs(gn[free])) < np.max(np.abs(gz[free]))):
            why = f"the gradient at its rounding floor (next step {np.max(np.abs(step)):.2g})"
            break
        z, fun, gz = zn, fn, gn
        step_size = float(np.max(np.abs(step)))
        scaled = scaled_gradient(H, gz[free])
        if step_size < tol:
            why = f"step {step_size:.2g} < {tol:g}"
            break
    note = (f"Newton polish on the analytic gradient: {k} step(s), stopped on {why}; "
            f"max |gradient| {np.max(np.abs(gz)) if len(gz) else 0.0:.2g}")
    return z / u, fun, gz * u, scaled, note


def _polish_with_gradient(fc: _Counted, x, fun, space: ParameterSpace, polish: bool):
    """A Hessian by central differences of gradients, one Newton step, lme4's check, and
    the direction of negative curvature, if any."""
    u = space.units
    lo, hi = space.lower * u, space.upper * u

    def fgz(z):
        v, g = fc.value_and_grad(z / u)
        return v, g / u

    z = x * u
    fun, gz = fgz(z)
    free = _free(x, gz, space)
    scaled = float(np.max(np.abs(np.where(free, gz, 0.0)))) if len(gz) else 0.0
    down = None
    if polish and np.any(free) and len(x) <= 30:
        H = hessian_from_gradient(fgz, z, gz, lo, hi)[np.ix_(free, free)]
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            down = _negative_direction(H, free) if np.all(np.isfinite(H)) else None
        else:
            step = np.linalg.solve(H, gz[free])
            zn = z.copy()
            zn[free] = np.clip(z[free] - step, lo[free], hi[free])
            fn, gn = fgz(zn)
            if fn < fun:
                z, fun, gz = zn, fn, gn
            scaled = scaled_gradient(H, gz[free])
    return z / u, fun, gz * u, scaled, down


def finish_summary(summary: OptSummary, ok: bool, msg: str, tol: float = 2e-3) -> OptSummary:
    """Converged or not, by lme4's rule (scaled gradient at most ``tol``; boundary fits are
    reported apart, not as failures), and never when the search ran out of iterations or
    evaluations (lme4 warns on its optimisers' limit codes too). The search's own stopping
    message is kept in the log when the check overrules it, so ``converged`` and
    ``message`` never disagree."""
    scaled = summary.scaled_gradient
    limit = "LIMIT" in msg.upper()
    if scaled > tol or limit:
        if limit:
            warn = f"optimizer did not converge: {msg} (raise maxiter)"
        else:
            warn = (f"optimizer did not converge: {msg} " if not ok else
                    "model failed to converge: ") + f"scaled gradient {scaled:.3g} > {tol:g}"
        return replace(summary, converged=False, warnings=[*summary.warnings, warn])
    if not ok:
        return replace(summary, converged=True, log=[
            *summary.log, f"the search stopped with {msg!r}; the point passed the gradient "
            f"check (scaled gradient {scaled:.2g})"],
            message=f"converged (scaled gradient {scaled:.2g} <= {tol:g})")
    return replace(summary, converged=True)


def emit_warnings(summary: OptSummary) -> None:
    """Raise the fit's convergence/boundary messages as Python warnings."""
    for w in summary.warnings:
        warnings.warn(w, ConvergenceWarning, stacklevel=3)
    if summary.boundary:
        warnings.warn("boundary (singular) fit: " + "; ".join(summary.boundary),
                      SingularFitWarning, stacklevel=3)
