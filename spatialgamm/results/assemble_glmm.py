"""Fitting non-Gaussian mixed models: glmer's two stages, adaptive quadrature, Laplace REML.

glmer (nAGQ = 1) first optimises the covariance parameters with the fixed effects at the
joint PIRLS mode, then optimises ``(theta, beta)`` together with PIRLS over ``u`` only; the
fixed-effect covariance is twice the inverse of the numerical Hessian of that deviance
(lme4's default ``use.hessian``). With nAGQ > 1 the second stage uses the quadrature
deviance. With ``reml=True`` (mgcv's LAML) the fixed effects are integrated out and there
is one stage.

Where the Laplace deviance has an exact gradient (canonical links, covariance-factor blocks:
:meth:`LaplaceObjective.value_and_gradient`) the first stage is skipped: it exists to give
glmer's derivative-free second stage a good start, and L-BFGS-B on exact gradients needs
none. The Hessian is then a central difference of gradients. Dense fields observed pointwise
(exact GPs, kinship) are searched in covariance form (:mod:`..engine.covform`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.linalg as sla

from ..engine.agq import AGQObjective
from ..engine.covform import covariance_form_applies
from ..engine.laplace import DispersionLaplace, LaplaceObjective, PIRLSError
from ..engine.objective import make_objective
from ..engine.optimize import (
    OptSummary,
    ParameterSpace,
    emit_warnings,
    finish_summary,
    hessian_and_gradient,
    hessian_from_gradient,
    numerical_gradient,
    optimize,
    scaled_gradient,
)
from ..engine.precform import FieldObjective
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..families import NegativeBinomial
from ..model import ModelSpec
from ..terms.base import column_rms
from .assemble import fitted_state
from .mixed import FitState, MixedFit
from .negbin import negbin_vcov


def _check_separation(spec: ModelSpec, beta: np.ndarray, se: np.ndarray,
                      mu: np.ndarray) -> list[str]:
    """Flag fixed effects that run away (quasi-complete separation in binomial models):
    a large coefficient with a huge SE, or with most fitted probabilities numerically 0 or
    1 (R's glm warning; the curvature there is flat, so the SE alone can look moderate)."""
    out = []
    if spec.family.name != "binomial":
        return out
    extreme = float(np.mean((mu < 1e-8) | (mu > 1 - 1e-8))) > 0.5
    # judged on the link scale per RMS of the column (a change of units of a covariate
    # rescales its coefficient and SE, not the question whether it runs away)
    units = column_rms(spec.X) if spec.p else np.ones(0)
    for name, b, s, r in zip(spec.x_names, beta, se, units):
        bs, ss = abs(b) * r, s * r
        if bs > 10 and (not np.isfinite(ss) or ss > 5 * bs or ss > 100 or extreme):
            out.append(f"fixed effect {name!r} = {b:.3g} with SE {s:.3g}: the data appear "
                       "separated (an infinite estimate); consider removing it or "
                       "penalising (e.g. a bias-reduced fit)")
    return out


def _dispersion_start(spec: ModelSpec) -> tuple[str | None, float]:
    """Which dispersion parameter is estimated, and a moment-based start (log scale)."""
    fam = spec.family
    y, w = spec.y, spec.weights
    if getattr(fam, "estimate", False):  # glmer.nb; a theta given in the family stays fixed
        m, v = float(np.average(y, weights=w)), float(np.var(y))
        theta0 = m * m / (v - m) if v > m * 1.05 else 10.0
        return "theta", float(np.log(np.clip(theta0, 0.05, 1e3)))
    if not fam.scale_known:
        mu0 = fam.initialize(y, w)
        phi0 = float(np.mean(w * (y - mu0) ** 2 / fam.variance(mu0)))
        return "scale", float(np.log(max(phi0, 1e-8) if phi0 > 0 else 1.0))
    return None, 0.0


def _sync(lap: LaplaceObjective, search: LaplaceObjective) -> None:
    """Hand the search objective's dispersion and last mode to the u-space objective the
    results are built from."""
    if search is not lap:
        lap.family, lap.scale = search.family, search.scale
        lap._eta_start = search._eta_start


@dataclass
class _LaplaceSearch:
    """What glmer's stages search: the u-space objective the results are built from
    (``lap``), the one the search runs on (``search``: the same, or its covariance form),
    with the dispersion parameter appended when one is estimated (``disp``)."""

    system: LatentSystem
    lap: LaplaceObjective
    search: LaplaceObjective
    disp: str | None
    dl: DispersionLaplace | None
    f1: Any  # stage 1: phi (and the dispersion) at the joint mode of (beta, u)
    stage2: Any  # stage 2: (phi, beta) with PIRLS over u only
    fg1: Any
    fg2: Any
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    space: ParameterSpace

    @property
    def k(self) -> int:
        return self.system.n_phi

    @property
    def ke(self) -> int:
        """Covariance parameters plus the dispersion, if estimated."""
        return len(self.start)

    def boundary(self, x: np.ndarray) -> list[str]:
        return self.system.at_boundary(x[:self.k])

    def set_dispersion(self, par: np.ndarray) -> None:
        """Fix the dispersion at its estimate and hand it to the results' objective."""
        if self.dl is not None:
            self.dl.set(par[self.k])
        _sync(self.lap, self.search)


def _laplace_search(spec: ModelSpec, lap: Any, reml: bool, nAGQ: int,
                    phi0: np.ndarray | None) -> _LaplaceSearch:
    """The objectives, start and box of glmer's stages (the two objectives: u-space for the
    results; covariance form for dense fields observed pointwise, with exact gradients)."""
    system = lap.system
    if not isinstance(lap, LaplaceObjective):  # (a field model by quadrature)
        lap = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights, spec.family,
                               reml=reml)
    lay, k = system.layout, system.n_phi
    disp, d0 = _dispersion_start(spec)
    lower, upper = lay.lower, lay.upper
    space = system.parameter_space()
    if phi0 is None:
        fam = spec.family
        eta0 = fam.link.linkfun(fam.initialize(spec.y, spec.weights))
        start = system.data_start(fam.working(spec.y, eta0, spec.weights)[1])
    else:
        start = phi0[:k]
    search = lap
    if covariance_form_applies(system):
        search = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                  spec.family, reml=reml, form="covariance", gamma=lap.gamma,
                                  hessian=lap.hessian)
    f1, stage2, dl = search, search.with_beta, None
    fg1 = search.value_and_gradient if search.has_gradient and disp is None else None
    fg2 = search.with_beta_and_gradient if fg1 is not None and nAGQ == 1 else None
    if disp is not None:
        dl = DispersionLaplace(search, disp)
        f1, stage2 = dl, dl.with_beta
        if dl.has_gradient:  # mgcv's LAML with an estimated scale (gam REML / ML)
            fg1 = dl.value_and_gradient
        start = np.append(start, d0 if phi0 is None or len(phi0) == k else phi0[k])
        lower, upper = np.append(lower, -20.0), np.append(upper, 20.0)
        space = space.extend(np.array([-20.0]), np.array([20.0]))
    return _LaplaceSearch(system, lap, search, disp, dl, f1, stage2, fg1, fg2, start, lower,
                          upper, space)


def _stage1(ls: _LaplaceSearch, ctl: Any, final: bool, nAGQ: int, reml: bool) -> OptSummary:
    """glmer's first stage (or the only one: REML, no fixed effects, no random terms)."""
    info1 = None
    if ls.fg2 is not None and not final:
        # glmer's first stage exists to give its derivative-free second stage a good
        # start; with exact gradients (theta, beta) are optimised jointly from the start
        # (unless PIRLS fails there: then the first stage searches for a workable start)
        x0 = np.clip(ls.start, ls.lower, ls.upper)
        f0 = float(ls.f1(x0))
        if np.isfinite(f0):
            info1 = OptSummary("none", x0, f0, True, 0, 1, np.zeros(0), 0.0, "")
    if info1 is None:
        # PIRLS converges to ~1e-10 relative, so finite-difference steps must be larger than
        # the 1e-8 that suits an exact objective (lme4 #998 is what happens otherwise)
        info1 = optimize(ls.f1, ls.start, ls.space, boundary=ls.boundary,
                         check_hessian=(nAGQ == 1 and reml), fd_eps=1e-6,
                         polish=final,  # a start for stage 2 needs no polishing
                         gtol=ctl.gtol if final else 1e-3, fg=ls.fg1,
                         maxiter=ctl.maxiter, scaled_tol=ctl.check_conv_grad_tol)
    if not np.isfinite(info1.fun) or info1.fun >= 1e299:
        raise PIRLSError("penalised IRLS failed at every parameter value tried: the model "
                         "cannot be fitted (check the response, offsets and separation)")
    return info1


def _newton_polish(info: OptSummary, f2: Any, fg2: Any, lo: np.ndarray, hi: np.ndarray,
                   steps: np.ndarray, ke: int, tol: float
                   ) -> tuple[OptSummary, np.ndarray, np.ndarray | None]:
    """The Hessian the standard errors need anyway (lme4's use.hessian), used for up to
    three Newton steps and lme4's scaled-gradient convergence check.

    Returns the updated summary, the point and the fixed effects' covariance (None when the
    Hessian is not positive definite)."""
    x = info.x
    upd: dict[str, Any] = {}  # what changes in the summary (kept if the Hessian fails)
    vcov = None
    try:
        if fg2 is not None:
            upd["fun"], upd["gradient"] = fg2(x)
            H = hessian_from_gradient(fg2, x, upd["gradient"], lo, hi, steps)
        else:
            H, upd["gradient"], _ = hessian_and_gradient(f2, x, steps)
        np.linalg.cholesky(H)
        fun = upd.get("fun", info.fun)
        for _ in range(3):  # Newton steps with the one Hessian (cheap, and enough)
            step = np.linalg.solve(H, upd["gradient"])
            if np.max(np.abs(step)) < 1e-6:
                break
            xn = np.clip(x - step, lo, hi)
            fn, gn = fg2(xn) if fg2 is not None else (float(f2(xn)), None)
            if not fn < fun:
                break
            x = xn
            upd["gradient"] = gn if gn is not None else numerical_gradient(
                f2, x, lo, hi, steps=steps)
            upd["x"], upd["fun"] = x, fn
            fun = fn
        upd["scaled_gradient"] = scaled_gradient(H, upd["gradient"])
        upd["warnings"] = [w for w in info.warnings if "converge" not in w]
        info = finish_summary(replace(info, **upd), True, "", tol)
        upd = {}
        vb = 2.0 * np.linalg.inv(H)[ke:, ke:]
        if np.all(np.diag(vb) > 0):
            vcov = vb
    except np.linalg.LinAlgError:
        pass
    return (replace(info, **upd) if upd else info), x, vcov


def _stage2(spec: ModelSpec, ls: _LaplaceSearch, info1: OptSummary, mode: Any, nAGQ: int
            ) -> tuple[OptSummary, Any, np.ndarray, np.ndarray | None, Any]:
    """glmer's second stage over ``(phi, beta)`` (PIRLS over ``u`` only; quadrature for
    nAGQ > 1), polished by Newton steps with the SE Hessian. Returns the summary, the
    objective, the point, the fixed effects' covariance and their PIRLS SEs."""
    ctl, ke = spec.control, ls.ke
    f2 = ls.stage2
    if nAGQ > 1:
        if ls.disp is not None:
            raise ValueError("nAGQ > 1 is available for families with a known scale")
        f2 = AGQObjective(ls.lap, nAGQ)
    par0 = np.concatenate([info1.x, mode.beta])
    lo = np.concatenate([ls.lower, np.full(spec.p, -np.inf)])
    hi = np.concatenate([ls.upper, np.full(spec.p, np.inf)])
    # fixed effects in the units of their columns: a covariate in other units gives
    # the same search and the same likelihood
    space2 = ls.space.extend(lo[ke:], hi[ke:], column_rms(spec.X))
    kw = ctl.optimizer_kwargs()
    if ls.fg2 is None:
        # derivative-free stage (quadrature, dispersion): the Newton steps with the SE
        # Hessian finish the last digits, so the search stops at a looser gradient
        kw["gtol"] = max(kw["gtol"], 1e-3)
    info = optimize(f2, par0, space2, boundary=ls.boundary, check_hessian=False, polish=False,
                    fd_eps=1e-6, fg=ls.fg2, **kw)
    info = replace(info, n_evals=info.n_evals + info1.n_evals)
    # steps on each parameter's own scale: 1e-4 for covariance parameters, 1% of the
    # PIRLS standard error for fixed effects (a relative step would move a coefficient
    # of a covariate in metres by orders of magnitude more than its SE)
    se_rx = np.sqrt(np.abs(np.diag(np.linalg.pinv(mode.pls.XtVX)))) if spec.p else []
    steps = np.concatenate([1e-4 * np.maximum(1.0, np.abs(info.x[:ke])),
                            np.maximum(1e-2 * np.asarray(se_rx), 1e-10)])
    info, x, vcov = _newton_polish(info, f2, ls.fg2, lo, hi, steps, ke,
                                   ctl.check_conv_grad_tol)
    return info, f2, x, vcov, se_rx


def _stage2_vcov(spec: ModelSpec, ls: _LaplaceSearch, x: np.ndarray, mode: Any,
                 vcov: np.ndarray | None, se_rx: Any, nAGQ: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """The fixed effects' covariance of glmer's second stage: glmer.nb's conditional one
    (the joint one returned too), or the PIRLS curvature when the Hessian failed."""
    joint = None
    if isinstance(spec.family, NegativeBinomial) and nAGQ == 1:
        # glmer.nb's SEs (conditional on theta; the joint ones kept) from a Hessian
        # that does not move with its difference step (results/negbin.py)
        vc, joint = negbin_vcov(ls.lap, x, ls.k, ls.disp == "theta", mode.eta,
                                np.sqrt(np.diag(vcov)) if vcov is not None else se_rx)
        vcov = vc if vc is not None else vcov
    if vcov is None:
        warnings.warn("Hessian of the deviance is not positive definite: standard errors "
                      "from the PIRLS curvature instead", UserWarning, stacklevel=4)
        cp = ls.lap.joint.cross_products(np.zeros(spec.n), mode.weights)
        r = ls.lap.joint.solve(x[:ls.k], cp)
        vcov = np.linalg.inv(r.XtVX)
    return vcov, joint


def laplace_state(spec: ModelSpec, reml: bool = False, nAGQ: int = 1,
                  phi0: np.ndarray | None = None, glmer_stage2: bool = True,
                  objective: Any = None) -> FitState:
    """Fit a non-Gaussian model: glmer's stages (Laplace or quadrature), or Laplace REML.

    Models in the precision form (one spde() field) take its default plan
    (:func:`~spatialgamm.engine.objective.default_plan`)."""
    if objective is None:
        objective = make_objective(spec, "REML" if reml else "ML")
    if isinstance(objective, FieldObjective) and nAGQ == 1:
        return fitted_state(spec, objective)
    ls = _laplace_search(spec, objective, reml, nAGQ, phi0)
    final_stage1 = reml or spec.p == 0 or not glmer_stage2 or ls.system.q == 0
    info1 = _stage1(ls, spec.control, final_stage1, nAGQ, reml)
    ls.set_dispersion(info1.x)
    mode = (ls.lap if final_stage1 else ls.search).pirls(info1.x[:ls.k])
    joint = None
    if final_stage1:
        info, par, beta, f2 = info1, info1.x, mode.beta, None
        vcov = sla.cho_solve((sla.cholesky(mode.pls.XtVX), False), np.eye(spec.p)) \
            if spec.p else np.zeros((0, 0))
        crit = ls.lap.laplace(mode, fixed_beta=False)
        method = "REML" if reml else "Laplace"
    else:
        info, f2, x, vcov, se_rx = _stage2(spec, ls, info1, mode, nAGQ)
        par, beta = x[:ls.ke], x[ls.ke:]
        crit = float(f2(x))
        ls.set_dispersion(par)
        mode = ls.lap.pirls(par[:ls.k], beta=beta)
        vcov, joint = _stage2_vcov(spec, ls, x, mode, vcov, se_rx, nAGQ)
        method = "Laplace" if nAGQ == 1 else f"AGQ({nAGQ})"
    return _laplace_fit_state(spec, ls, info, par, beta, mode, vcov, crit, method, nAGQ, f2,
                              joint)


def _laplace_fit_state(spec: ModelSpec, ls: _LaplaceSearch, info: OptSummary,
                       par: np.ndarray, beta: np.ndarray, mode: Any, vcov: np.ndarray,
                       crit: float, method: str, nAGQ: int, f2: Any,
                       joint: np.ndarray | None) -> FitState:
    """The state at the estimates: warnings (PIRLS, separation), glmer's deviance and
    log-likelihood conventions, the dispersion."""
    system, lap, k = ls.system, ls.lap, ls.k
    phi = par[:k]
    warns = list(info.warnings)
    if not mode.converged:
        warns.append(f"penalised IRLS did not converge at the estimates "
                     f"({mode.iterations} iterations): results may be inaccurate")
    # the fitted theta names the family, as glmer.nb
    fam = lap.family if ls.disp == "theta" else spec.family
    b = np.asarray(system.Lambda(phi) @ mode.u).ravel() if system.q else np.zeros(0)
    # glmer's deviance() of a GLMM: the conditional deviance, sum of squared deviance
    # residuals at the conditional modes
    glmer_dev = float(np.sum(fam.dev_resids(spec.y, mode.mu, spec.weights)))
    loglik_lme4 = None
    if nAGQ > 1:
        # The quadrature deviance `crit` is the full -2 log L (every constant of the family's
        # density, as the Laplace one and GLMMadaptive), so log-likelihoods and AICs compare
        # across nAGQ. glmer's nAGQ > 1 log-likelihood drops the saturated log-likelihood
        # (its quadrature works on deviance residuals; lme4 issue #567): kept for reference.
        sat = float(np.sum(fam.loglik_obs(spec.y, np.clip(spec.y, 1e-300, None), spec.weights)))
        loglik_lme4, joint = -0.5 * crit - sat, None
    se = np.sqrt(np.diag(vcov))
    # separation is reported, not a convergence failure
    warns.extend(_check_separation(spec, beta, se, mode.mu))
    return FitState(phi=phi, beta=beta, u=mode.u, b=b, pls=mode.pls, scale=lap.scale,
                    criterion=crit, vcov_beta=vcov, eta=mode.eta, mu=mode.mu,
                    optinfo=replace(info, warnings=warns), method=method, nAGQ=nAGQ,
                    system=system, objective=lap, search_objective=ls.search,
                    deviance=glmer_dev, working_weights=mode.weights, mode=mode, stage2=f2,
                    vcov_beta_joint=joint, loglik_lme4=loglik_lme4,
                    n_extra_params=1 if ls.disp == "theta" else 0,
                    theta=float(np.exp(par[k])) if ls.disp == "theta" else None,
                    family=fam if ls.disp == "theta" else None)


def fit_laplace(spec: ModelSpec, reml: bool = False, nAGQ: int = 1,
                data_name: str = "data", objective: Any = None) -> MixedFit:
    y = spec.y[spec.weights > 0]
    if spec.family.name in ("poisson", "binomial") or spec.family.name.startswith("Negative"):
        if np.all(y == 0):
            raise ValueError(f"the response {spec.response_name!r} is zero in every row: the "
                             "maximum-likelihood intercept is minus infinity, there is nothing "
                             "to estimate")
        if spec.family.name == "binomial" and np.all(y == 1):
            raise ValueError(f"the response {spec.response_name!r} is a success in every row: "
                             "the maximum-likelihood intercept is infinite")
    if nAGQ < 1 or nAGQ > 25:
        raise ValueError(f"nAGQ must be between 1 and 25, got {nAGQ}")
    if nAGQ > 1 and reml:
        raise ValueError("nAGQ > 1 is a maximum-likelihood method (reml must be False)")
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        state = laplace_state(spec, reml=reml, nAGQ=nAGQ, objective=objective)
    emit_warnings(state.optinfo)
    return MixedFit(spec, state, data_name=data_name)
