"""From a built model to a fitted one: objective -> optimiser -> state -> fit object.

Each ``fit_*`` function is one composition of the public stages
``build_model -> objective -> optimize -> assemble``; the objectives live in the engine.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..engine.gaussian import GaussianObjective
from ..engine.laplace import PIRLSError
from ..engine.newton import observed_hessian
from ..engine.optimize import emit_warnings, optimize
from ..engine.posterior import field_edf
from ..engine.precform import FieldObjective, field_form_applies
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from .mixed import FitState, MixedFit


def field_state(spec: ModelSpec, system: LatentSystem, reml: bool) -> FitState:
    """Fit a model solved in the precision form (:func:`field_form_applies`: one spde()
    field): exact gradients by selected inversion, the optimiser's average-information
    Newton option, one symbolic analysis; the posterior kept sparse."""
    blk = spec.blocks[0]
    obj = FieldObjective(spec.X, blk.Z, spec.y, spec.offset, spec.weights, spec.family,
                         lambda phi: system.prior_state(0, phi), blk.pencil.pattern, reml=reml)
    # the term's start hook: the empirical variogram of the residuals without the field
    beta, _ = obj.glm_start()
    eta = obj.offset + obj.X @ beta
    z, w = obj.family.working(obj.y, eta, obj.wt)
    phi0 = blk.term.start_phi(spec.data, np.where(w > 0, z - eta, np.nan), blk.phi_start,
                              obj.gaussian)
    info = optimize(obj, phi0, system.parameter_space(), boundary=system.at_boundary,
                    newton=True)
    ev = obj.at(info.x)
    n_opt, n_evals = obj.n_factorizations, obj.n_evals
    try:  # observed information for the standard errors (AI matrix as the fallback)
        hess, hess_full = observed_hessian(obj, ev)
    except (np.linalg.LinAlgError, RuntimeError, PIRLSError):
        hess, hess_full = ev.ai, ev.ai_full
    post = obj.posterior(ev.phi)
    fam = spec.family
    method = "REML" if reml else ("ML" if obj.gaussian else "Laplace")
    extra = {
        "system": system, "objective": obj, "working_weights": ev.w,
        "gaussian": obj.gaussian, "sparse_posterior": post,
        "edf_blocks": np.array([field_edf(post, ev.prior.Q)]),
        "deviance": float(np.sum(fam.dev_resids(spec.y, ev.mu, spec.weights))),
        "spde": {"path": "sparse Newton (average information)", "evaluations": info.n_evals,
                 "hessian_evaluations": obj.n_evals - n_evals,
                 "iterations": info.iterations,
                 "factorizations": obj.n_factorizations,
                 "factorizations_optimiser": n_opt,
                 "prior_factorizations": system.prior_factorizations,
                 "ai": ev.ai, "ai_full": ev.ai_full, "hessian": hess,
                 "hessian_full": hess_full, "log": info.trace, "mesh_nodes": blk.q},
    }
    return FitState(phi=ev.phi, beta=ev.beta, u=ev.u, b=ev.u.copy(), pls=None, scale=ev.scale,
                    criterion=ev.f, vcov_beta=post.vcov_beta, eta=ev.eta, mu=ev.mu,
                    optinfo=info, method=method, extra=extra)


def gaussian_state(spec: ModelSpec, reml: bool, phi0: np.ndarray | None = None) -> FitState:
    """Fit a Gaussian identity-link model by profiled REML or ML."""
    system = LatentSystem(spec.blocks, spec.n)
    if field_form_applies(system, spec.family):
        return field_state(spec, system, reml)
    obj = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, reml)
    start = system.data_start(spec.weights) if phi0 is None else phi0
    # analytic gradients pay off when A^-1 is cheap (dense systems); for large sparse ones
    # the selected inverse costs more than the finite differences it replaces
    fg = obj.value_and_grad if obj.solver.backend in ("dense", "blocks") else None
    info = optimize(obj, start, system.parameter_space(), boundary=system.at_boundary,
                    fg=fg, **spec.control.optimizer_kwargs())
    r = obj.solve(info.x)
    s2 = obj.sigma2(r)
    vcov = s2 * sla.cho_solve((sla.cholesky(r.XtVX), False), np.eye(spec.p)) if spec.p \
        else np.zeros((0, 0))
    b = r.b() if system.q else np.zeros(0)
    eta = spec.offset + (spec.X @ r.beta if spec.p else 0.0) + (
        np.asarray(system.Z @ b).ravel() if system.q else 0.0)
    state = FitState(phi=info.x, beta=r.beta, u=r.u, b=b, pls=r, scale=s2,
                     criterion=obj.deviance_from(r), vcov_beta=vcov, eta=eta, mu=eta.copy(),
                     optinfo=info, method="REML" if reml else "ML",
                     extra={"system": system, "objective": obj, "gaussian": True})
    return state


def fit_gaussian(spec: ModelSpec, reml: bool = True, data_name: str = "data") -> MixedFit:
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        state = gaussian_state(spec, reml)
    emit_warnings(state.optinfo)
    return MixedFit(spec, state, data_name=data_name)


def refit(fit: MixedFit, reml: bool | None = None, y: np.ndarray | None = None) -> MixedFit:
    """Refit a model with the same structure: by ML instead of REML, or to a new response."""
    from dataclasses import replace
    spec = fit.spec if y is None else replace(fit.spec, y=np.asarray(y, dtype=float))
    reml = fit.REML if reml is None else reml
    if fit.is_gaussian:
        state = gaussian_state(spec, reml, phi0=fit.state.phi)
        return MixedFit(spec, state, data_name=fit.data_name)
    from .assemble_glmm import refit_laplace
    return refit_laplace(fit, spec, reml)
