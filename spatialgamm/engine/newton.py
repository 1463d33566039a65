"""The optimiser's Newton option: steps with the average-information matrix.

:func:`spatialgamm.engine.optimize.optimize` takes this search (``newton=True``) for an
objective whose evaluations carry the exact gradient and an average-information (AI) Newton
matrix (:class:`~spatialgamm.engine.precform.FieldObjective`), so a damped Newton method converges
in a handful of evaluations (ASReml's AI-REML; Gilmour, Thompson & Cullis 1995), each one
numeric factorisation of the latent system (plus one or two PIRLS steps for non-Gaussian
families) on a single symbolic analysis. Steps are capped in the log parameters, projected on
the box, and backtracked (Armijo) when the criterion does not fall. Every step is logged; the
summary is the engine's :class:`~spatialgamm.engine.optsummary.OptSummary`, with the
settings and one log line per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .optsummary import OptSummary

#: an evaluation of the objective: ``phi``, ``f``, ``grad``, ``ai`` and the mode's ``dx``
Evaluation = Any

#: largest step in any log parameter (a factor of e^1.5 ~ 4.5 in range or SD)
MAX_STEP = 1.5
#: Newton decrement (deviance units) below which the AI matrix gets the secant correction
SECANT_BELOW = 10.0


def secant_corrected(ai: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The AI matrix corrected to match the observed curvature along the last step.

    A symmetric rank-one update (``B s = y`` for the step ``s`` and the change ``y`` of the
    exact gradient): the AI matrix is the *expected* information, which along a flat
    likelihood ridge (range and sigma together) can be off by a factor of two, making Newton
    zig-zag; the correction restores superlinear convergence. Kept only when it is safely
    defined and positive definite.
    """
    r = y - ai @ s
    den = float(r @ s)
    if abs(den) <= 1e-8 * float(np.linalg.norm(r) * np.linalg.norm(s)) or not np.isfinite(den):
        return ai
    B = ai + np.outer(r, r) / den
    try:
        lam = np.linalg.eigvalsh(0.5 * (B + B.T))
    except np.linalg.LinAlgError:
        return ai
    return B if lam.min() > 1e-6 * lam.max() else ai


def _newton_step(ev: Evaluation, lower: np.ndarray, upper: np.ndarray,
                 H: np.ndarray | None = None) -> np.ndarray:
    """Projected Newton step ``-H^-1 g`` on the free coordinates (H: the AI matrix).

    A coordinate on a bound is held there when the gradient pushes it out, or when the
    step would (a likelihood ridge, e.g. range -> infinity with sigma^2 / range^(2 nu)
    fixed, makes the AI matrix nearly singular along the ridge).
    """
    g, x = ev.grad, ev.phi
    H = ev.ai if H is None else H
    at_lo, at_hi = (x - lower) < 1e-7, (upper - x) < 1e-7
    free = ~((at_lo & (g > 0)) | (at_hi & (g < 0)))
    step = np.zeros_like(x)
    for _ in range(len(x)):
        step[:] = 0.0
        if not free.any():
            return step
        Hf = H[np.ix_(free, free)]
        # floor the eigenvalues: the AI matrix is PSD, but near-flat directions must not
        # give huge steps
        lam, V = np.linalg.eigh(0.5 * (Hf + Hf.T))
        lam = np.maximum(lam, 1e-6 * max(float(lam.max()), 1e-12))
        step[free] = -V @ ((V.T @ g[free]) / lam)
        out = free & ((at_lo & (step < 0)) | (at_hi & (step > 0)))
        if not out.any():
            break
        free &= ~out
    big = np.max(np.abs(step))
    if big > MAX_STEP:
        step *= MAX_STEP / big
    return step


def predict_start(ev: Evaluation, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mode at ``phi`` to first order from an evaluated point (``dx = d mode / d phi``)."""
    if not ev.dx:
        return ev.beta, ev.u
    d = phi - ev.phi
    beta = ev.beta + sum(dk * xb for dk, (xb, _) in zip(d, ev.dx))
    u = ev.u + sum(dk * xu for dk, (_, xu) in zip(d, ev.dx))
    return beta, u


def newton_search(obj: Any, phi0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  boundary: Callable[[np.ndarray], list[str]] | None = None,
                  max_iter: int = 40, tol: float = 1e-4, step_tol: float = 2e-3
                  ) -> tuple[OptSummary, Evaluation]:
    """Minimise the objective from ``phi0`` over the box ``[lower, upper]``.

    Parameters
    ----------
    obj : objective
        With ``evaluate(phi, start) -> Evaluation`` (``f``, ``grad``, ``ai``, ``dx``),
        ``remember(ev)`` (the optimum is handed back), a count ``n_factorizations`` and
        ``failures``, the exceptions that mean the objective
        cannot be evaluated at a point (the search then steps back).
    phi0, lower, upper : ndarray
        Start and bounds.
    boundary : callable, optional
        ``phi -> list of str`` describing parameters on a boundary.
    max_iter : int
        Newton iterations at most.
    tol : float
        Convergence: the Newton decrement ``g' AI^-1 g`` below ``tol`` (deviance units: the
        expected gain in log-likelihood from one more step is ``tol / 4``; at 1e-4 the log
        parameters are within about 0.01 standard errors of the optimum), and no
        coordinate of the Newton step above ``step_tol`` (the optimiser's claim checks lme4's
        scaled gradient, the step with the observed Hessian, against the same number).

    Returns
    -------
    (OptSummary, Evaluation)
        The summary (``trace``: one dict per evaluation; ``log``: the same as text) and the
        evaluation at the optimum.
    """
    x = np.clip(np.asarray(phi0, dtype=float), lower, upper)
    log: list[dict] = []

    def evaluate(phi: np.ndarray, base: Evaluation | None) -> Evaluation | None:
        before = obj.n_factorizations
        try:
            ev = obj.evaluate(phi, None if base is None else predict_start(base, phi))
        except obj.failures:  # the objective's "not evaluable here" (e.g. PIRLS diverged)
            log.append(dict(phi=phi.copy(), f=np.inf, factorizations=obj.n_factorizations
                            - before))
            return None
        log.append(dict(phi=phi.copy(), f=ev.f, grad=ev.grad.copy(), inner=ev.inner,
                        factorizations=obj.n_factorizations - before))
        return ev

    ev = evaluate(x, None)
    if ev is None:
        raise obj.failures[0]("the model cannot be evaluated at the starting values of the field "
                         "(range, sigma); give range0= / sigma0= in spde()")
    converged, message, iterations = False, "maximum iterations reached", 0
    H = ev.ai
    while iterations < max_iter:
        iterations += 1
        step = _newton_step(ev, lower, upper, H)
        slope = float(ev.grad @ step)
        log[-1]["decrement"] = -slope
        if (-slope < tol and np.max(np.abs(step)) <= step_tol) or np.max(np.abs(step)) < 1e-7:
            converged, message = True, "Newton decrement below tolerance"
            break
        t, accepted = 1.0, None
        for _ in range(12):
            trial = np.clip(ev.phi + t * step, lower, upper)
            new = evaluate(trial, ev)
            if new is not None and new.f <= ev.f + 1e-4 * t * slope:
                accepted = new
                break
            if new is None or not np.isfinite(new.f):
                t *= 0.25
            else:  # minimise the quadratic through f(0), f'(0) and f(t)
                tq = -slope * t * t / (2.0 * (new.f - ev.f - slope * t))
                t = float(np.clip(tq, 0.1 * t, 0.5 * t))
        if accepted is None:
            message = "line search failed to decrease the criterion"
            # at a flat optimum the line search fails for rounding reasons: judge by the step
            converged = -slope < 1e3 * tol
            break
        # near the optimum (a small expected gain) the curvature along the last step is
        # informative about the next one; far from it, it is not
        H = secant_corrected(accepted.ai, accepted.phi - ev.phi, accepted.grad - ev.grad) \
            if -slope < SECANT_BELOW else accepted.ai
        ev = accepted
    obj.remember(ev)  # the optimum is what the fit is assembled from
    step = _newton_step(ev, lower, upper, H)
    try:
        scaled = float(np.max(np.abs(step))) if len(step) else 0.0
    except ValueError:
        scaled = float("nan")
    # whether the answer is claimed (bounds probed, curvature checked, lme4's scaled
    # gradient) is decided by the optimiser's checks, as for every other search
    summary = OptSummary(method="Newton (average information)", x=ev.phi.copy(), fun=ev.f,
                         converged=converged, iterations=iterations, n_evals=len(log),
                         gradient=ev.grad.copy(), scaled_gradient=scaled, message=message,
                         boundary=boundary(ev.phi) if boundary else [],
                         settings=dict(newton=True, max_iter=max_iter, tol=tol, step_tol=step_tol,
                                       max_step=MAX_STEP, secant_below=SECANT_BELOW),
                         trace=log, log=[_describe(i, e) for i, e in enumerate(log)])
    return summary, ev


def _describe(i: int, e: dict) -> str:
    """One log line per evaluation of the Newton search."""
    phi = np.array2string(np.asarray(e["phi"]), precision=5)
    if not np.isfinite(e["f"]):
        return f"evaluation {i + 1} at {phi}: failed"
    return (f"evaluation {i + 1} at {phi}: f = {e['f']:.10g}, max|g| = "
            f"{float(np.max(np.abs(e['grad']))) if len(e['grad']) else 0.0:.3g}, "
            f"{e['factorizations']} factorisation(s)")


def observed_hessian(obj: Any, ev: Evaluation, h: float = 2e-3
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the criterion at ``ev`` by forward differences of the exact gradient.

    Two more evaluations, warm-started at the mode (one PIRLS step each). Returns the
    Hessian in ``phi`` and, for the Gaussian family, the Hessian in ``(phi, log s)`` of the
    criterion before ``s`` is profiled out: with ``d(phi, l) = ... + dof l + r2(phi) e^-l``,
    ``d_ll = dof``, ``d_phi,l = -(u' dQ u) / s`` and ``d_phi,phi = H + d_phi,l d_l,phi / dof``
    (so that profiling ``l`` out gives ``H`` back). Standard errors use ``2 H^-1`` (observed
    information), as glmer and glmmTMB do.
    """
    cached = getattr(obj, "observed", None)
    if cached is not None and cached.ev is ev:  # the optimiser's curvature check made it
        return cached.hessian, cached.hessian_full
    evals, facts = obj.n_evals, obj.n_factorizations
    k = len(ev.phi)
    tol = obj.inner_tol
    obj.inner_tol = min(tol, 1e-8)  # the differences need gradients to more digits
    try:
        cols: dict[int, np.ndarray] = {}
        # last coordinate first: the SPDE prior's operator depends on the range only, so
        # the sigma step reuses the factorisation of the point itself
        for j in reversed(range(k)):
            phi = ev.phi.copy()
            phi[j] += h
            cols[j] = (obj.evaluate(phi, predict_start(ev, phi), keep=False).grad
                       - ev.grad) / h
    finally:
        obj.inner_tol = tol
    H = np.column_stack([cols[j] for j in range(k)])
    H = 0.5 * (H + H.T)
    if not obj.gaussian:
        full = H
    else:
        cross = -np.asarray(ev.quad) / ev.scale
        full = np.empty((k + 1, k + 1))
        full[:k, :k] = H + np.outer(cross, cross) / ev.dof
        full[:k, k] = full[k, :k] = cross
        full[k, k] = ev.dof
    obj.observed = ObservedHessian(ev, H, full, obj.n_evals - evals,
                                   obj.n_factorizations - facts)
    return H, full


@dataclass(frozen=True)
class ObservedHessian:
    """:func:`observed_hessian` at one evaluation and what it cost (kept on the objective:
    the optimiser's curvature check computes it, the fit's standard errors reuse it)."""

    ev: Evaluation
    hessian: np.ndarray
    hessian_full: np.ndarray
    evaluations: int
    factorizations: int

