"""Fitting GAMs: smoothing parameters by REML/ML (marginal likelihood) or UBRE/GCV.

REML and ML reuse the mixed-model objectives (exact for Gaussian data, Laplace otherwise:
mgcv's LAML). UBRE and GCV minimise the prediction-error criteria of
:mod:`spatialgamm.engine.smoothness` over the log smoothing parameters, with the penalised
fit recomputed at each value ("outer iteration", as mgcv's default).

``gamma`` with REML/ML (mgcv's ``n / gamma`` effective sample size): the engine's criterion
is the (restricted) likelihood raised to ``1 / gamma`` (:mod:`spatialgamm.engine.gaussian`,
:mod:`spatialgamm.engine.laplace`). mgcv 1.8-41's REML score is that criterion plus
``Mp log(gamma)`` (``Mp`` the unpenalised coefficients), a constant in the smoothing
parameters found by experiment against mgcv (tests/reference/mgcvgamma); its ML score has
no such term.

A Gaussian identity-link REML/ML fit reports mgcv's scale, ``deviance / (n - edf)`` (the
``scale`` and ``sig2`` of a gam, used by ``Vp`` and the summary), not the criterion's
profiled one (``reml.scale``; the same number at a REML optimum with ``gamma = 1``).

Other families with an estimated scale (Gamma, inverse Gaussian) are fitted by mgcv's LAML
(:mod:`spatialgamm.engine.laplace` with ``hessian="observed"``): the log scale searched with
the smoothing parameters, the exact density's saturated log-likelihood in the criterion. As
mgcv, the fit reports Fletcher's scale (the Pearson ``sum(wt (y - mu)^2 / V(mu)) / (n -
sum(edf))`` over ``1 + mean(V'(mu) (y - mu) / V(mu))``) as ``scale`` (mgcv's ``sig2``;
``Vp`` is at it), keeps the criterion's (``reml.scale``) in the state, and its ``sp`` are
``reml.scale / sd^2`` (mgcv's penalty is on the deviance scale).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..engine.derivatives import elementwise_derivative
from ..engine.objective import default_plan, make_objective
from ..engine.optimize import emit_warnings, optimize
from ..engine.smoothness import block_edf
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from ..terms.base import Ability
from .assemble import assemble_state, fitted_state
from .assemble_glmm import laplace_state
from .gam import GamFit


def fit_gam(spec: ModelSpec, method: str | None = None, gamma: float = 1.0,
            data_name: str = "data") -> GamFit:
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        return _fit_gam(spec, method, gamma, data_name)


def _fit_gam(spec: ModelSpec, method: str | None, gamma: float, data_name: str) -> GamFit:
    try:
        gamma = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma must be a positive number, got {gamma!r}") from None
    if not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(f"gamma must be a positive number, got {gamma!r}")
    fam = spec.family
    gaussian = fam.is_gaussian_identity
    # spde() fields (precisions the engine factors from their pencil) are fitted by their
    # marginal likelihood: REML by default, or ML
    pencil = any(b.pencil is not None for b in spec.blocks)
    if method is None:
        method = "REML" if pencil else "UBRE" if fam.scale_known else "GCV"
    method = method.upper()
    if method in ("CP",):
        method = "UBRE"
    if method == "GCV.CP":  # mgcv's name: UBRE (Mallows' Cp) for a known scale, else GCV
        method = "UBRE" if fam.scale_known else "GCV"
    if method == "ML":
        from ..terms.smooths.t2 import refuse_ml
        refuse_ml(spec.blocks)
    if method not in ("REML", "ML", "UBRE", "GCV"):
        raise ValueError(f"method must be 'REML', 'ML', 'UBRE', 'GCV' or 'GCV.Cp', got "
                         f"{method!r}")
    if pencil and method not in ("REML", "ML"):
        raise ValueError(f"models with spde() fields are fitted by 'REML' or 'ML' (Laplace); "
                         f"got method={method!r}")
    if method in ("REML", "ML"):
        obj = make_objective(spec, method, gamma, hessian="observed")
        state = _marginal_fit(spec, obj, method, gaussian)
        state.method = method
        system = state.system
        if state.edf_blocks is None:  # (the precision form brings its own)
            state.edf_blocks = block_edf(system, state.pls, state.phi)
        score = state.criterion / 2.0
        if method == "REML":
            score += spec.p * float(np.log(gamma))  # mgcv's Mp log(gamma) (module docstring)
        state.score = score
        if gaussian and state.pls is not None:
            _mgcv_scale(spec, state)
        elif not fam.scale_known and state.pls is not None and state.mode is not None:
            _mgcv_pearson_scale(spec, state)
    else:
        if method == "UBRE" and not fam.scale_known:
            raise ValueError("UBRE needs a known scale (Poisson, binomial); use GCV or REML")
        crit = make_objective(spec, method, gamma)

        def search(phi0):
            plan = default_plan(crit, spec)
            if phi0 is not None:
                plan = replace(plan, x0=phi0)
            return assemble_state(spec, crit, optimize(crit, plan))

        state = _escape_plateaus(spec, search(None), search, crit,
                                 spec.weights if gaussian else _initial_weights(spec))
        score = state.score
    state.score = score
    fit = GamFit(spec, state, data_name=data_name)
    emit_warnings(state.optinfo)
    return fit


#: a smoothing parameter this far (in log sd, half log sp) from the balanced start is on one
#: of the criterion's plateaus (the smooth fully penalised, or not at all)
PLATEAU = 6.0


def _marginal_fit(spec: ModelSpec, obj, method: str, gaussian: bool):
    """The REML/ML fit, searched again when smooths ended on a plateau and the criterion is
    lower off it (:func:`_escape_plateaus`)."""
    def fit(phi0):
        if gaussian:
            return fitted_state(spec, obj, phi0)
        return laplace_state(spec, reml=(method == "REML"), glmer_stage2=False,
                             objective=obj, phi0=phi0)

    state = fit(None)
    if not (gaussian or spec.family.scale_known) and hasattr(obj, "profile_scale") and \
            obj.gamma == 1.0:
        return _profiled_polish(state, fit, obj)
    if not (gaussian or spec.family.scale_known) or not (
            hasattr(obj, "solve") or hasattr(obj, "pirls")):
        return state  # (a dispersion searched with phi: the criterion is not obj(phi))
    return _escape_plateaus(spec, state, fit, obj, spec.weights if gaussian else
                            _initial_weights(spec))


def _profiled_polish(state, fit, obj):
    """A Laplace fit with an estimated scale, searched again in mgcv's coordinates with the
    scale profiled out (:meth:`~spatialgamm.engine.laplace.LaplaceObjective.profile_scale`).

    The joint finite-difference search in ``(phi, log scale)`` can stop short: in u-space
    the mode moves with the scale, and the criterion is flat along a smooth on its plateau
    (gamSim Gamma log link: 4e-4 above mgcv's score). In mgcv's ``psi`` the scale is a
    one-dimensional search at a fixed mode. When that finds a lower criterion the fit is
    redone from there (``fit(phi0)``) and kept if lower (its own convergence checks are
    then the claim); when it is not, and the profiled search's point is lower than the
    reported one by more than mgcv's 1e-6 in score, the fit warns instead of claiming an
    optimum.
    """
    from scipy.optimize import minimize

    system = state.system
    phi = np.asarray(state.phi, dtype=float)
    tau = float(np.log(state.scale))
    lo, hi = system.layout.lower, system.layout.upper

    def f(psi: np.ndarray) -> float:
        try:
            return obj.profile_scale(psi)[0]
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            return np.inf

    def fg(psi: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            return obj.profile_scale_and_gradient(psi)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            return np.inf, np.zeros(len(psi))

    # the exact gradient where the observed information stays positive (Gamma log link)
    exact = getattr(obj, "positive_observed", False)
    psi0 = np.clip(phi - 0.5 * tau, lo, hi)
    try:
        res = minimize(fg if exact else f, psi0, jac=exact, method="L-BFGS-B",
                       bounds=list(zip(lo, hi)),
                       options=dict(eps=1e-5, ftol=1e-14, gtol=1e-7, maxiter=200))
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        res = None
    other = None
    if res is not None and np.isfinite(res.fun) and res.fun < state.criterion - 1e-9:
        _, sc = obj.profile_scale(res.x)
        try:
            other = fit(np.append(res.x + 0.5 * np.log(sc), np.log(sc)))
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            other = None
    if other is not None and other.criterion < state.criterion:
        other.optinfo.log.append(f"the joint search stopped at criterion "
                                 f"{state.criterion:.10g}; with the scale profiled out "
                                 f"(mgcv's coordinates) {res.fun:.10g}: searched again "
                                 f"from there, {other.criterion:.10g}")
        return other
    if res is not None and np.isfinite(res.fun) and res.fun < state.criterion - 2e-6:
        # the reported point is not the minimum the profiled search found (a score 1e-6
        # lower, mgcv's units): no convergence is claimed there
        state.optinfo.warnings.append(
            f"the search in mgcv's coordinates found a criterion {res.fun:.10g} below the "
            f"reported {state.criterion:.10g}, and the search again from there did not reach "
            f"it: the smoothing parameters are not at the optimum")
    obj.scale = state.scale
    obj.pirls(phi)  # the objective's warm start back at the state's own parameters
    return state


def _initial_weights(spec: ModelSpec) -> np.ndarray:
    """IRLS weights at the family's starting values (what the balanced start uses)."""
    fam = spec.family
    eta = fam.link.linkfun(fam.initialize(spec.y, spec.weights))
    return fam.working(spec.y, eta, spec.weights)[1]


#: offsets from the balanced start (log sd) scanned for a smooth left on a plateau
_SCAN = (-4.0, -2.0, 0.0, 2.0, 4.0)


def _escape_plateaus(spec: ModelSpec, state, fit, crit, w0: np.ndarray):
    """``state``, or a better fit searched from a point off the plateau a smooth ended on.

    A first quasi-Newton step of the size of the gradient (hundreds of deviance units for a
    few hundred rows) can throw a smooth onto a plateau of the criterion, fully penalised or
    not penalised at all, where it no longer depends on it and the search stops (gamSim 1
    with weights and ``gamma=0.7`` by ML: score 1233.5 there, 1196.0 at mgcv's optimum; a
    binomial UBRE with ``gamma=0.7`` in tests/test_mgcvfin_study.py: 0.14115 with one smooth
    unpenalised, 0.14092 at mgcv's). For each smooth that far from the balanced start the
    criterion ``crit(phi)`` is scanned along it (:data:`_SCAN`, the others held); only when
    a scanned point is lower is the search repeated from the best (``fit(phi0)``) and the
    better fit kept. A smooth that belongs on its plateau (no effect) costs the scan alone.
    """
    system = state.system
    if system.n_phi < 2:
        return state
    start = system.data_start(w0)
    lo, hi = system.layout.lower, system.layout.upper
    phi = np.asarray(state.phi, dtype=float)
    best, x = float(state.criterion), phi.copy()
    for k, blk in enumerate(spec.blocks):
        if not (blk.term.has(Ability.SMOOTH) and blk.n_phi == 1):
            continue
        j = system.layout.slices[k].start
        if abs(phi[j] - start[j]) <= PLATEAU:
            continue
        for off in _SCAN:
            trial = x.copy()
            trial[j] = float(np.clip(start[j] + off, lo[j] + 1.0, hi[j] - 1.0))
            try:
                v = float(crit(trial))
            except (ArithmeticError, ValueError, np.linalg.LinAlgError):
                continue
            if v < best - 1e-8 * max(1.0, abs(best)):
                best, x = v, trial
    other = None
    if best < float(state.criterion):
        try:
            other = fit(x)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            other = None
    if other is not None and other.criterion < state.criterion - 1e-8 * max(
            1.0, abs(state.criterion)):
        other.optinfo.log.append(f"smooths ended on a plateau at criterion "
                                 f"{state.criterion:.8g}; lower off it: searched again from "
                                 f"there, {other.criterion:.8g}")
        return other
    # the scan refilled the objective's solver (the state's factor and warm start live
    # there): back to the state's own parameters
    crit(phi)
    return state


def _mgcv_pearson_scale(spec: ModelSpec, state) -> None:
    """mgcv's ``sig2`` of a Laplace fit with an estimated scale: Fletcher's (2012,
    Biometrika 99, 230) estimate, the Pearson one with ``n - sum(edf)`` degrees of freedom
    divided by ``1 + mean(V'(mu) (y - mu) / V(mu))`` (mgcv 1.8-41's default: checked against
    its ``sig2`` with the Gamma identity link in tests/test_gamscale.py; with the log link
    and an intercept the mean is zero at the fit). The posterior (``Vp``, the fixed
    effects' SEs) is rescaled to it from the criterion's scale, which ``state.scale``
    keeps."""
    fam, y, mu = spec.family, spec.y, state.mu
    edf = spec.p + float(np.sum(state.edf_blocks))
    if spec.n - edf <= 0 or not state.scale > 0:
        return
    v = fam.variance(mu)
    sig2 = float(np.sum(spec.weights * (y - mu) ** 2 / v)) / (spec.n - edf)
    fletcher = 1.0 + float(np.mean(elementwise_derivative(fam.variance, mu) * (y - mu) / v))
    if fletcher > 0:
        sig2 /= fletcher
    state.vp_scale = sig2 / state.scale
    state.vcov_beta = state.vcov_beta * state.vp_scale


def _mgcv_scale(spec: ModelSpec, state) -> None:
    """mgcv's Gaussian scale estimate ``deviance / (n - edf)`` in place of the criterion's
    profiled one, with the fixed-effect covariance (scale times ``(X'VX)^-1``) rescaled."""
    resid = spec.y - state.mu
    dev = float(np.sum(spec.weights * resid ** 2))
    edf = spec.p + float(np.sum(state.edf_blocks))
    if spec.n - edf <= 0:
        return
    new = dev / (spec.n - edf)
    if state.scale > 0:
        state.vcov_beta = state.vcov_beta * (new / state.scale)
    state.scale = new
