"""The objective stage: a built model's criterion as a function of its parameters.

The public pipeline is ``build_model(formula, data) -> ModelSpec``, then
``make_objective(spec, method)`` (this module), ``optimize(objective, plan)`` with the
objective's :func:`default_plan`, and ``assemble(...)`` (:mod:`spatialgamm.results.assemble`).
Which objective a model gets is decided here, once, from its structure:

* UBRE / GCV: :class:`~.prediction_error.PredictionErrorCriterion` (mgcv's outer iteration);
* REML / ML, one spde() field and nothing else latent: the precision form
  (:class:`~.precform.FieldObjective`: exact gradients, the average-information Newton plan);
* REML / ML, Gaussian identity link: the exact profiled deviance
  (:class:`~.gaussian.GaussianObjective`);
* otherwise the Laplace approximation (:class:`~.laplace.LaplaceObjective`), whose glmer
  stages :func:`spatialgamm.results.assemble_glmm.laplace_state` runs.

Every objective is callable at ``phi`` and offers ``value_and_grad(phi)`` where its exact
gradient exists; the precision form also gives the conditional mode and the posterior at
any ``phi`` (``mode(phi)``, ``posterior(phi)``).

Examples
--------
>>> import spatialgamm as sg
>>> from spatialgamm.model import build_model
>>> from spatialgamm.engine.optimize import optimize
>>> spec = build_model("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
>>> obj = make_objective(spec, "REML")
>>> summary = optimize(obj, default_plan(obj, spec))
>>> round(summary.fun, 2)
1743.63
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError
from ..model import ModelSpec
from .gaussian import GaussianObjective
from .laplace import LaplaceObjective
from .optimize import POLISH_TOL, Plan
from .precform import FieldObjective, field_form_applies
from .prediction_error import PredictionErrorCriterion
from .system import LatentSystem

METHODS = ("REML", "ML", "UBRE", "GCV")


def make_objective(spec: ModelSpec, method: str = "REML", gamma: float = 1.0,
                   hessian: str = "expected") -> Any:
    """The criterion of ``spec`` for ``method`` ('REML', 'ML', 'UBRE' or 'GCV').

    ``gamma`` multiplies the edf in UBRE / GCV; with REML / ML it makes ``n / gamma`` the
    effective sample size (mgcv's ``gam(gamma=)``: the likelihood raised to ``1 / gamma``).
    The objective's ``system`` is the model's :class:`~.system.LatentSystem` (built here,
    once). ``hessian`` ('expected', lme4's, or 'observed', mgcv's) is the curvature of a
    Laplace objective's determinant (:mod:`.laplace`; the same for canonical links).
    """
    method = str(method).upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    system = LatentSystem(spec.blocks, spec.n)
    if method in ("UBRE", "GCV"):
        return PredictionErrorCriterion(spec, system, method, gamma)
    reml = method == "REML"
    fam = spec.family
    if field_form_applies(system, fam):
        if gamma != 1.0:
            raise NotImplementedError(f"gamma={gamma} with a model whose only latent term is "
                                      "one spde() field: the precision form needs gamma=1")
        blk = spec.blocks[0]
        return FieldObjective(spec.X, blk.Z, spec.y, spec.offset, spec.weights, fam,
                              lambda phi: system.prior_state(0, phi), blk.pencil.pattern,
                              reml=reml, system=system)
    if any(pr.constraint is not None for pr in system.priors.values()):
        raise ModelError("spde(constr=True) is supported when the field is the model's only "
                         "latent term (the precision form); drop constr=True or the other "
                         "random terms")
    if fam.is_gaussian_identity:
        return GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, reml,
                                 gamma=gamma)
    return LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights, fam,
                            reml=reml, gamma=gamma, hessian=hessian)


#: latent columns up to which the Gaussian plan polishes with analytic gradients whatever
#: the storage (above, only dense storage: a sparse gradient needs a selected inverse)
POLISH_MAX_Q = 4000


def default_plan(objective: Any, spec: ModelSpec, phi0: np.ndarray | None = None) -> Plan:
    """How :func:`~.optimize.optimize` searches ``objective`` by default.

    Gaussian: from the data-balanced start (or ``phi0``), with the analytic gradient where
    ``A^-1`` is cheap, and lme4's control settings. Precision form: from the term's start
    hook (the empirical variogram of the residuals without the field), by average-
    information Newton steps. UBRE / GCV: from the balanced start, with two more starts
    for the criteria's plateaus. (Laplace fits run glmer's stages instead.)
    """
    system = objective.system
    space = system.parameter_space()
    if isinstance(objective, FieldObjective):
        return Plan(field_start(objective, spec), space, system.at_boundary,
                    dict(newton=True))
    if isinstance(objective, GaussianObjective):
        start = system.data_start(spec.weights) if phi0 is None else phi0
        # analytic gradients pay off when A^-1 is cheap (dense systems); for large sparse
        # ones the selected inverse costs more than the finite differences it replaces
        dense_a = objective.solver.backend in ("dense", "blocks", "crossprod", "nform")
        fg = objective.value_and_grad if dense_a else None
        # a final Newton polish on the analytic gradient (also where the search used values
        # only: a few gradients at the end cost little beside it), so that fits of one
        # model in memory and out of core end at one point of a flat optimum
        polish = dict(polish_tol=POLISH_TOL) if dense_a or system.q <= POLISH_MAX_Q else {}
        return Plan(start, space, system.at_boundary,
                    dict(fg=fg, **polish, **spec.control.optimizer_kwargs()))
    if isinstance(objective, PredictionErrorCriterion):
        return _prediction_error_plan(objective, spec, space)
    raise NotImplementedError("Laplace fits run glmer's stages: "
                              "spatialgamm.results.assemble_glmm.laplace_state")


def field_start(obj: FieldObjective, spec: ModelSpec) -> np.ndarray:
    """The field term's start hook on the working residuals of the model without it."""
    blk = spec.blocks[0]
    beta, _ = obj.glm_start()
    eta = obj.offset + obj.X @ beta
    z, w = obj.family.working(obj.y, eta, obj.wt)
    return blk.term.start_phi(spec.data, np.where(w > 0, z - eta, np.nan), blk.phi_start,
                              obj.gaussian)


def _prediction_error_plan(crit: PredictionErrorCriterion, spec: ModelSpec, space) -> Plan:
    """UBRE / GCV: a Newton step below 0.05 in log(sp) changes nothing a user sees (the
    criteria are flat near their optimum, often with sp on its boundary: mgcv does not warn
    there either). They are often multimodal in log(sp) (Wood 2008, sec. 2): a plateau
    where one smooth is unpenalised can hold a search started at the balanced point, so two
    more starts (all smooths stiffer, all wigglier) are searched and the best kept. With one
    parameter, a bounded Brent search over the whole range, which a gradient search can
    miss (its first step may land on the plateau at a bound, where the gradient vanishes:
    a GP smooth's UBRE on Rongelap)."""
    fam, system = spec.family, crit.system
    if crit.gaussian:
        w0 = spec.weights
    else:
        eta0 = fam.link.linkfun(fam.initialize(spec.y, spec.weights))
        w0 = fam.working(spec.y, eta0, spec.weights)[1]
    start = system.data_start(w0)
    others = (start + 2.0, start - 2.0) if system.n_phi > 1 else ()
    fg = crit.value_and_grad if crit.gradient is not None and system.n_phi > 1 else None
    return Plan(start, space, None, dict(check_hessian=False, extra_starts=others, fg=fg,
                                         scaled_tol=0.05 if fg is None else 2e-3))
