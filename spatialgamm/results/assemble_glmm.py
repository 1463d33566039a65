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

import numpy as np
import scipy.linalg as sla

from ..engine.agq import AGQObjective
from ..engine.covform import covariance_form_applies
from ..engine.laplace import DispersionLaplace, LaplaceObjective, PIRLSError
from ..engine.optimize import (
    OptSummary,
    emit_warnings,
    finish_summary,
    hessian_and_gradient,
    hessian_from_gradient,
    numerical_gradient,
    optimize,
    scaled_gradient,
)
from ..engine.precform import field_form_applies
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..families import NegativeBinomial
from ..model import ModelSpec
from ..terms.base import column_rms
from .assemble import field_state
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


def laplace_state(spec: ModelSpec, reml: bool = False, nAGQ: int = 1,
                  phi0: np.ndarray | None = None, glmer_stage2: bool = True) -> FitState:
    ctl = spec.control  # lme4's control=: optimiser settings
    system = LatentSystem(spec.blocks, spec.n)
    if field_form_applies(system, spec.family) and nAGQ == 1:
        return field_state(spec, system, reml)
    lap = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights, spec.family,
                           reml=reml)
    lay = system.layout
    k = system.n_phi
    disp, d0 = _dispersion_start(spec)
    extra_ll: dict = {}
    lower, upper = lay.lower, lay.upper
    space = system.parameter_space()
    if phi0 is None:
        fam = spec.family
        eta0 = fam.link.linkfun(fam.initialize(spec.y, spec.weights))
        start = system.data_start(fam.working(spec.y, eta0, spec.weights)[1])
    else:
        start = phi0[:k]
    # dense fields observed pointwise (exact GPs, kinship) are searched in covariance form,
    # with exact gradients for canonical links; the u-space objective `lap` still gives
    # the final mode the results are built from
    search = lap
    if covariance_form_applies(system):
        search = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                  spec.family, reml=reml, form="covariance")
    f1 = search
    stage2 = search.with_beta
    fg1 = search.value_and_gradient if search.has_gradient and disp is None else None
    fg2 = search.with_beta_and_gradient if fg1 is not None and nAGQ == 1 else None
    if disp is not None:
        dl = DispersionLaplace(search, disp)
        f1, stage2 = dl, dl.with_beta
        start = np.append(start, d0 if phi0 is None or len(phi0) == k else phi0[k])
        lower, upper = np.append(lower, -20.0), np.append(upper, 20.0)
        space = space.extend(np.array([-20.0]), np.array([20.0]))
    ke = len(start)  # covariance parameters plus the dispersion, if estimated
    bnd = (lambda x: system.at_boundary(x[:k]))
    # PIRLS converges to ~1e-10 relative, so finite-difference steps must be larger than
    # the 1e-8 that suits an exact objective (lme4 #998 is what happens otherwise)
    final_stage1 = reml or spec.p == 0 or not glmer_stage2 or system.q == 0
    info1 = None
    if fg2 is not None and not final_stage1:
        # glmer's first stage exists to give its derivative-free second stage a good
        # start; with exact gradients (theta, beta) are optimised jointly from the start
        # (unless PIRLS fails there: then the first stage searches for a workable start)
        x0 = np.clip(start, lower, upper)
        f0 = float(f1(x0))
        if np.isfinite(f0):
            info1 = OptSummary("none", x0, f0, True, 0, 1, np.zeros(0), 0.0, "")
    if info1 is None:
        info1 = optimize(f1, start, space, boundary=bnd,
                         check_hessian=(nAGQ == 1 and reml), fd_eps=1e-6,
                         polish=final_stage1,  # a start for stage 2 needs no polishing
                         gtol=ctl.gtol if final_stage1 else 1e-3, fg=fg1,
                         maxiter=ctl.maxiter, scaled_tol=ctl.check_conv_grad_tol)
    if not np.isfinite(info1.fun) or info1.fun >= 1e299:
        raise PIRLSError("penalised IRLS failed at every parameter value tried: the model "
                         "cannot be fitted (check the response, offsets and separation)")
    if disp is not None:
        dl.set(info1.x[k])
    _sync(lap, search)
    mode = (lap if final_stage1 else search).pirls(info1.x[:k])
    if final_stage1:
        info, par, beta = info1, info1.x, mode.beta
        vcov = sla.cho_solve((sla.cholesky(mode.pls.XtVX), False), np.eye(spec.p)) \
            if spec.p else np.zeros((0, 0))
        crit = lap.laplace(mode, fixed_beta=False)
        method = "REML" if reml else "Laplace"
        f2 = None
    else:
        if nAGQ > 1:
            if disp is not None:
                raise ValueError("nAGQ > 1 is available for families with a known scale")
            stage2 = AGQObjective(lap, nAGQ)
        f2 = stage2
        par0 = np.concatenate([info1.x, mode.beta])
        lo = np.concatenate([lower, np.full(spec.p, -np.inf)])
        hi = np.concatenate([upper, np.full(spec.p, np.inf)])
        # fixed effects in the units of their columns: a covariate in other units gives
        # the same search and the same likelihood
        space2 = space.extend(lo[ke:], hi[ke:], column_rms(spec.X))
        kw = ctl.optimizer_kwargs()
        if fg2 is None:
            # derivative-free stage (quadrature, dispersion): the Newton steps below with the
            # SE Hessian finish the last digits, so the search stops at a looser gradient
            kw["gtol"] = max(kw["gtol"], 1e-3)
        info = optimize(f2, par0, space2, boundary=bnd, check_hessian=False, polish=False,
                        fd_eps=1e-6, fg=fg2, **kw)
        info.n_evals += info1.n_evals
        # The Hessian is needed for the standard errors anyway (lme4's use.hessian): use it
        # for one Newton polish step and for lme4's scaled-gradient convergence check.
        vcov = None
        x = info.x
        # steps on each parameter's own scale: 1e-4 for covariance parameters, 1% of the
        # PIRLS standard error for fixed effects (a relative step would move a coefficient
        # of a covariate in metres by orders of magnitude more than its SE)
        se_rx = np.sqrt(np.abs(np.diag(np.linalg.pinv(mode.pls.XtVX)))) if spec.p else []
        steps = np.concatenate([1e-4 * np.maximum(1.0, np.abs(x[:ke])),
                                np.maximum(1e-2 * np.asarray(se_rx), 1e-10)])
        try:
            if fg2 is not None:
                info.fun, info.gradient = fg2(x)
                H = hessian_from_gradient(fg2, x, info.gradient, lo, hi, steps)
            else:
                H, info.gradient, _ = hessian_and_gradient(f2, x, steps)
            np.linalg.cholesky(H)
            for _ in range(3):  # Newton steps with the one Hessian (cheap, and enough)
                step = np.linalg.solve(H, info.gradient)
                if np.max(np.abs(step)) < 1e-6:
                    break
                xn = np.clip(x - step, lo, hi)
                fn, gn = fg2(xn) if fg2 is not None else (float(f2(xn)), None)
                if not fn < info.fun:
                    break
                x = xn
                info.gradient = gn if gn is not None else numerical_gradient(
                    f2, x, lo, hi, steps=steps)
                info.x, info.fun = x, fn
            info.scaled_gradient = scaled_gradient(H, info.gradient)
            info.warnings = [w for w in info.warnings if "converge" not in w]
            finish_summary(info, True, "", ctl.check_conv_grad_tol)
            vb = 2.0 * np.linalg.inv(H)[ke:, ke:]
            if np.all(np.diag(vb) > 0):
                vcov = vb
        except np.linalg.LinAlgError:
            pass
        par, beta = x[:ke], x[ke:]
        crit = float(f2(x))
        if disp is not None:
            dl.set(par[k])
        _sync(lap, search)
        mode = lap.pirls(par[:k], beta=beta)
        if isinstance(spec.family, NegativeBinomial) and nAGQ == 1:
            # glmer.nb's SEs (conditional on theta; the joint ones kept) from a Hessian
            # that does not move with its difference step (results/negbin.py)
            vc, extra_ll["vcov_beta_joint"] = negbin_vcov(lap, x, k, disp == "theta",
                                                          mode.eta, np.sqrt(np.diag(vcov))
                                                          if vcov is not None else se_rx)
            vcov = vc if vc is not None else vcov
        if vcov is None:
            warnings.warn("Hessian of the deviance is not positive definite: standard errors "
                          "from the PIRLS curvature instead", UserWarning, stacklevel=3)
            cp = lap.joint.cross_products(np.zeros(spec.n), mode.weights)
            r = lap.joint.solve(par[:k], cp)
            vcov = np.linalg.inv(r.XtVX)
        method = "Laplace" if nAGQ == 1 else f"AGQ({nAGQ})"
    phi = par[:k]
    if not mode.converged:
        info.warnings.append(f"penalised IRLS did not converge at the estimates "
                             f"({mode.iterations} iterations): results may be inaccurate")
    if disp == "theta":
        spec.family = lap.family  # the fitted theta names the family, as glmer.nb
    b = np.asarray(system.Lambda(phi) @ mode.u).ravel() if system.q else np.zeros(0)
    fam = spec.family
    # glmer's deviance() of a GLMM: the conditional deviance, sum of squared deviance
    # residuals at the conditional modes
    glmer_dev = float(np.sum(fam.dev_resids(spec.y, mode.mu, spec.weights)))
    if nAGQ > 1:
        # The quadrature deviance `crit` is the full -2 log L (every constant of the family's
        # density, as the Laplace one and GLMMadaptive), so log-likelihoods and AICs compare
        # across nAGQ. glmer's nAGQ > 1 log-likelihood drops the saturated log-likelihood
        # (its quadrature works on deviance residuals; lme4 issue #567): kept for reference.
        sat = float(np.sum(fam.loglik_obs(spec.y, np.clip(spec.y, 1e-300, None), spec.weights)))
        extra_ll = {"loglik_lme4": -0.5 * crit - sat}
    se = np.sqrt(np.diag(vcov))
    info.warnings.extend(_check_separation(spec, beta, se, mode.mu))
    if info.warnings and any("separated" in w for w in info.warnings):
        info.converged = info.converged  # separation is reported, not a convergence failure
    if disp is not None:
        extra_ll["n_extra_params"] = 1 if disp == "theta" else 0
        if disp == "theta":
            extra_ll["theta"] = float(np.exp(par[k]))
    return FitState(phi=phi, beta=beta, u=mode.u, b=b, pls=mode.pls, scale=lap.scale,
                    criterion=crit, vcov_beta=vcov, eta=mode.eta, mu=mode.mu, optinfo=info,
                    method=method, nAGQ=nAGQ,
                    extra={"system": system, "objective": lap, "search_objective": search,
                           "deviance": glmer_dev,
                           "working_weights": mode.weights, "mode": mode,
                           "stage2": f2, **extra_ll})


def fit_laplace(spec: ModelSpec, reml: bool = False, nAGQ: int = 1,
                data_name: str = "data") -> MixedFit:
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
        state = laplace_state(spec, reml=reml, nAGQ=nAGQ)
    emit_warnings(state.optinfo)
    return MixedFit(spec, state, data_name=data_name)


def refit_laplace(fit: MixedFit, spec: ModelSpec, reml: bool) -> MixedFit:
    state = laplace_state(spec, reml=reml, nAGQ=fit.state.nAGQ, phi0=fit.state.phi)
    return MixedFit(spec, state, data_name=fit.data_name)

