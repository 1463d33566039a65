"""Fitting GAMs: smoothing parameters by REML/ML (marginal likelihood) or UBRE/GCV.

REML and ML reuse the mixed-model objectives (exact for Gaussian data, Laplace otherwise:
mgcv's LAML). UBRE and GCV minimise the prediction-error criteria of
:mod:`spatialgamm.engine.smoothness` over the log smoothing parameters, with the penalised
fit recomputed at each value ("outer iteration", as mgcv's default).
"""

from __future__ import annotations

from ..engine.objective import default_plan, make_objective
from ..engine.optimize import emit_warnings, optimize
from ..engine.smoothness import block_edf
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from .assemble import assemble_state, gaussian_state
from .assemble_glmm import laplace_state
from .gam import GamFit


def fit_gam(spec: ModelSpec, method: str | None = None, gamma: float = 1.0,
            data_name: str = "data") -> GamFit:
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        return _fit_gam(spec, method, gamma, data_name)


def _fit_gam(spec: ModelSpec, method: str | None, gamma: float, data_name: str) -> GamFit:
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
    if method in ("REML", "ML") and gamma != 1.0:
        raise NotImplementedError(f"gamma={gamma} is used by the GCV and UBRE criteria only; "
                                  f"method={method!r} needs gamma=1")
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
        if gaussian:
            state = gaussian_state(spec, reml=(method == "REML"))
        else:
            state = laplace_state(spec, reml=(method == "REML"), glmer_stage2=False)
        state.method = method
        system = state.system
        if state.edf_blocks is None:  # (the precision form brings its own)
            state.edf_blocks = block_edf(system, state.pls, state.phi)
        score = state.criterion / 2.0
    else:
        if method == "UBRE" and not fam.scale_known:
            raise ValueError("UBRE needs a known scale (Poisson, binomial); use GCV or REML")
        crit = make_objective(spec, method, gamma)
        state = assemble_state(spec, crit, optimize(crit, default_plan(crit, spec)))
        score = state.score
    state.score = score
    fit = GamFit(spec, state, data_name=data_name)
    emit_warnings(state.optinfo)
    return fit
