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
"""

from __future__ import annotations

import numpy as np

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
        obj = make_objective(spec, method, gamma)
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


#: a smoothing parameter this far (in log sd, half log sp) from the balanced start is on one
#: of the criterion's plateaus (the smooth fully penalised, or not at all)
PLATEAU = 6.0


def _marginal_fit(spec: ModelSpec, obj, method: str, gaussian: bool):
    """The REML/ML fit, with one more search when smooths ended on a plateau.

    A first quasi-Newton step of the size of the gradient (hundreds of deviance units for a
    few hundred rows) can throw smooths onto a plateau of the criterion, where it no longer
    depends on them and the search stops (gamSim 1 with weights and ``gamma=0.7``: score
    1233.5 there, 1196.0 at mgcv's optimum). The search is then repeated from its answer
    with those smooths back at the balanced start, and the better fit kept.
    """
    def fit(phi0):
        if gaussian:
            return fitted_state(spec, obj, phi0)
        return laplace_state(spec, reml=(method == "REML"), glmer_stage2=False,
                             objective=obj, phi0=phi0)

    state = fit(None)
    system = state.system
    if not hasattr(obj, "solve") and not hasattr(obj, "pirls") or system.n_phi < 2:
        return state
    w0 = spec.weights
    if not gaussian:
        fam = spec.family
        w0 = fam.working(spec.y, fam.link.linkfun(fam.initialize(spec.y, spec.weights)),
                         spec.weights)[1]
    start = system.data_start(w0)
    phi = np.asarray(state.phi, dtype=float)
    smooth = np.zeros(phi.size, bool)
    for k, blk in enumerate(spec.blocks):
        if blk.term.has(Ability.SMOOTH) and blk.n_phi == 1:
            smooth[system.layout.slices[k]] = True
    flat = smooth & (np.abs(phi - start) > PLATEAU)
    if not flat.any() or flat.all():
        return state
    x = phi.copy()
    x[flat] = start[flat]
    try:
        other = fit(x)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        return state
    if other.criterion < state.criterion - 1e-6:
        other.optinfo.log.append(f"smooths {np.flatnonzero(flat).tolist()} ended on a "
                                 f"plateau at criterion {state.criterion:.6f}: searched again "
                                 f"from the balanced start, {other.criterion:.6f}")
        return other
    return state


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
