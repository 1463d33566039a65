"""From a built model to a fitted one: objective -> optimiser -> state -> fit object.

Each ``fit_*`` function is one composition of the public stages
``build_model -> objective -> optimize -> assemble``; the objectives live in the engine.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..engine.gaussian import GaussianObjective
from ..engine.optimize import emit_warnings, optimize
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from .mixed import FitState, MixedFit


def gaussian_state(spec: ModelSpec, reml: bool, phi0: np.ndarray | None = None) -> FitState:
    """Fit a Gaussian identity-link model by profiled REML or ML."""
    system = LatentSystem(spec.blocks, spec.n)
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
