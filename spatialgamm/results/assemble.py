"""The last stage: from a built model, its objective and the optimiser's summary to a fit.

The public pipeline (lme4's ``lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod``)::

    spec = build_model(formula, data)                  # spatialgamm.model
    objective = make_objective(spec, method)           # spatialgamm.engine.objective
    summary = optimize(objective, default_plan(objective, spec))
    fit = assemble(spec, objective, summary)           # here

:func:`assemble_state` reads the engine's numbers at the optimum into a :class:`FitState`
(one reader per objective kind); :func:`assemble` wraps it in the fit class and raises the
summary's warnings. Laplace fits run glmer's stages (:mod:`.assemble_glmm`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from ..engine.gaussian import GaussianObjective
from ..engine.laplace import PIRLSError
from ..engine.newton import observed_hessian
from ..engine.objective import default_plan, make_objective
from ..engine.optimize import OptSummary, emit_warnings, optimize
from ..engine.posterior import field_edf
from ..engine.precform import FieldObjective
from ..engine.prediction_error import PredictionErrorCriterion
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from .mixed import FitState, MixedFit


def assemble_state(spec: ModelSpec, objective: Any, summary: OptSummary) -> FitState:
    """The engine's numbers at ``summary.x`` as a :class:`FitState`."""
    if isinstance(objective, FieldObjective):
        return _field_state(spec, objective, summary)
    if isinstance(objective, GaussianObjective):
        return _gaussian_state(spec, objective, summary)
    if isinstance(objective, PredictionErrorCriterion):
        return _prediction_error_state(spec, objective, summary)
    raise TypeError(f"no assembly for {type(objective).__name__}: Laplace fits run "
                    "results.assemble_glmm.laplace_state")


def assemble(spec: ModelSpec, objective: Any, summary: OptSummary, view: str = "mixed",
             data_name: str = "data") -> MixedFit:
    """The fit object (``view='mixed'``: lme4's; ``'gam'``: mgcv's) at the optimum, with
    the summary's warnings raised."""
    state = assemble_state(spec, objective, summary)
    if view == "gam":
        from .gam import GamFit
        state.score = state.criterion / 2.0 if state.score is None else state.score
        fit = GamFit(spec, state, data_name=data_name)
    else:
        fit = MixedFit(spec, state, data_name=data_name)
    emit_warnings(state.optinfo)
    return fit


def _field_state(spec: ModelSpec, obj: FieldObjective, info: OptSummary) -> FitState:
    """A precision-form fit (one spde() field): the evaluation at the optimum, the observed
    information for the standard errors, the posterior kept sparse."""
    ev = obj.at(info.x)
    n_opt, n_evals = obj.n_factorizations, obj.n_evals
    try:  # observed information for the standard errors (AI matrix as the fallback)
        hess, hess_full = observed_hessian(obj, ev)
    except (np.linalg.LinAlgError, RuntimeError, PIRLSError):
        hess, hess_full = ev.ai, ev.ai_full
    post = obj.posterior(ev.phi)
    fam, system = spec.family, obj.system
    method = "REML" if obj.reml else ("ML" if obj.gaussian else "Laplace")
    hess_evals, hess_facts = obj.n_evals - n_evals, 0
    if obj.observed is not None and obj.observed.ev is ev:  # made by the optimiser's check
        hess_evals, hess_facts = obj.observed.evaluations, obj.observed.factorizations
    report = {"path": "sparse Newton (average information)", "evaluations": info.n_evals,
              "hessian_evaluations": hess_evals, "iterations": info.iterations,
              "factorizations": obj.n_factorizations,
              "factorizations_optimiser": n_opt - hess_facts,
              "prior_factorizations": system.prior_factorizations, "ai": ev.ai,
              "ai_full": ev.ai_full, "hessian": hess, "hessian_full": hess_full,
              "log": info.trace, "mesh_nodes": spec.blocks[0].q}
    return FitState(phi=ev.phi, beta=ev.beta, u=ev.u, b=ev.u.copy(), pls=None, scale=ev.scale,
                    criterion=ev.f, vcov_beta=post.vcov_beta, eta=ev.eta, mu=ev.mu,
                    optinfo=info, method=method, system=system, objective=obj,
                    gaussian=obj.gaussian, working_weights=ev.w, sparse_posterior=post,
                    edf_blocks=np.array([field_edf(post, ev.prior.Q)]),
                    deviance=float(np.sum(fam.dev_resids(spec.y, ev.mu, spec.weights))),
                    spde=report)


def _gaussian_state(spec: ModelSpec, obj: GaussianObjective, info: OptSummary) -> FitState:
    """A Gaussian identity-link fit: beta and the residual variance profiled at the optimum."""
    system = obj.system
    r = obj.solve(info.x)
    s2 = obj.sigma2(r)
    vcov = s2 * sla.cho_solve((sla.cholesky(r.XtVX), False), np.eye(spec.p)) if spec.p \
        else np.zeros((0, 0))
    b = r.b() if system.q else np.zeros(0)
    eta = spec.offset + (spec.X @ r.beta if spec.p else 0.0) + (
        system.Z_times(b) if system.q else 0.0)
    return FitState(phi=info.x, beta=r.beta, u=r.u, b=b, pls=r, scale=s2,
                    criterion=obj.deviance_from(r), vcov_beta=vcov, eta=eta, mu=eta.copy(),
                    optinfo=info, method="REML" if obj.reml else "ML", system=system,
                    objective=obj, gaussian=True)


def _prediction_error_state(spec: ModelSpec, crit: PredictionErrorCriterion,
                            info: OptSummary) -> FitState:
    """A UBRE / GCV fit: the penalised fit at the optimum, the scale from its residual
    degrees of freedom (unknown scale) or 1."""
    fam, system = spec.family, crit.system
    f = crit.fit_at(info.x)
    score = crit.score(f)
    scale = f["dev"] / (spec.n - f["tau"]) if crit.gaussian or not fam.scale_known else 1.0
    r = f["r"]
    vcov = scale * sla.cho_solve((sla.cholesky(r.XtVX), False), np.eye(spec.p)) \
        if spec.p else np.zeros((0, 0))
    b = r.b() if system.q else np.zeros(0)
    return FitState(phi=info.x, beta=f["beta"], u=f["u"], b=b, pls=r, scale=scale,
                    criterion=score, vcov_beta=vcov, eta=f["eta"], mu=f["mu"], optinfo=info,
                    method=crit.method, system=system, objective=crit, gaussian=crit.gaussian,
                    working_weights=f["w"], edf_blocks=f["edf_blocks"], score=score)


def fitted_state(spec: ModelSpec, objective: Any, phi0: np.ndarray | None = None) -> FitState:
    """``optimize`` the objective by its default plan and assemble the state."""
    return assemble_state(spec, objective, optimize(objective, default_plan(objective, spec,
                                                                            phi0)))


def gaussian_state(spec: ModelSpec, reml: bool, phi0: np.ndarray | None = None) -> FitState:
    """Fit a Gaussian identity-link model by profiled REML or ML (a model whose only latent
    term is one spde() field: in the precision form, from its own start)."""
    return fitted_state(spec, make_objective(spec, "REML" if reml else "ML"), phi0)


def fit_gaussian(spec: ModelSpec, reml: bool = True, data_name: str = "data") -> MixedFit:
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        objective = make_objective(spec, "REML" if reml else "ML")
        summary = optimize(objective, default_plan(objective, spec))
        return assemble(spec, objective, summary, data_name=data_name)

