"""mgcv's likelihood conventions for a fitted GAM: ``logLik.gam``, ``AIC``, ``edf1``.

mgcv reports the log-likelihood through the family's ``aic`` function, which plugs in the
scale estimate ``deviance / n`` for the Gaussian and Gamma families (not the REML or GCV
scale the fit used); its degrees of freedom are the summed edf (or, when smoothing
parameters were estimated by REML/ML, the uncertainty-corrected ``edf2``) plus one for an
estimated scale, capped at the number of coefficients (plus one).

``edf1 = tr(2F - FF)`` per term, with ``F = (C'WC + P)^-1 C'WC`` the influence matrix of the
penalised fit (Wood 2017, sec. 6.1.2): the edf for tests and the upper bound of ``edf2``. The
trace of each term's block is invariant to the term's basis, so it is computed in the
engine's coordinates ``[beta, u]`` (``b = Lambda u``, identity prior).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

GamFit = Any  # a results.gam.GamFit (not imported: that module imports this one)


def influence_matrix(fit: GamFit) -> np.ndarray:
    """F = H^-1 C'WC in the engine's coordinates ``[beta, u]`` (dense, (p + q) square)."""
    system = fit.state.system
    spec = fit.spec
    w = np.asarray(fit.state.irls_weights(spec.weights), dtype=float)
    ZL = system.Z @ system.Lambda(fit.state.phi) if system.q else sp.csc_matrix((spec.n, 0))
    ZL = ZL.toarray() if sp.issparse(ZL) else np.asarray(ZL)
    C = np.column_stack([spec.X, ZL])
    CtWC = C.T @ (w[:, None] * C)
    prior = np.zeros(C.shape[1])
    prior[spec.p:] = 1.0
    P, _ = system.precision(fit.state.phi)
    H = CtWC.copy()
    if P is None:
        H[np.diag_indices_from(H)] += prior
    else:
        H[spec.p:, spec.p:] += P.toarray()
    return np.linalg.solve(H, CtWC)


def term_groups(fit: GamFit) -> dict[str, np.ndarray]:
    """Indices (in ``[beta, u]``) of each smooth's coefficients, null space included."""
    system = fit.state.system
    p = fit.spec.p
    out = {}
    for k, term, null_idx in fit._smooths():
        s = system.col_slices[k]
        out[term.name] = np.r_[np.asarray(null_idx, dtype=int), np.arange(p + s.start,
                                                                          p + s.stop)]
    return out


def edf1(fit: GamFit) -> dict[str, float]:
    """mgcv's ``edf1`` per smooth: the trace of the term's block of ``2F - FF``."""
    F = influence_matrix(fit)
    FF = F @ F
    return {name: float(np.trace(2 * F[np.ix_(g, g)] - FF[np.ix_(g, g)]))
            for name, g in term_groups(fit).items()}


def mgcv_loglik(fit: GamFit) -> float:
    """``logLik.gam``: the family's log-likelihood with mgcv's plug-in scale (dev / n); for
    a Laplace REML/ML fit with an estimated scale, at the criterion's (``reml.scale``), as
    mgcv 1.8-41 (checked in tests/test_gamscale.py)."""
    if fit.state.vp_scale is not None:
        return fit.family.aic_loglik(fit.spec.y, fit.state.mu, fit.spec.weights,
                                     float(fit.state.scale))
    return float(fit.family.loglik(fit.spec.y, fit.state.mu, fit.spec.weights, scale=None))


def mgcv_df(fit: GamFit, edf_sum: float) -> float:
    """Degrees of freedom of ``logLik.gam``: summed edf plus an estimated scale, capped at
    the number of coefficients plus that scale."""
    sc = 0.0 if fit.family.scale_known else 1.0
    n_coef = fit.spec.p + fit.state.system.q
    return float(min(edf_sum + sc, n_coef + sc))


def sp_correction(fit: GamFit):
    """The fit's :class:`~spatialgamm.results.gam_vc.SpCorrection` (computed once)."""
    from .gam_vc import sp_corrected
    cached = fit.state.sp_correction
    if cached is None:
        cached = fit.state.sp_correction = sp_corrected(fit)
    return cached


def loglik_edf(fit: GamFit) -> float:
    """The edf ``logLik.gam`` counts: ``sum(edf2)`` for REML/ML fits (mgcv's convention),
    the summed edf for GCV/UBRE fits and models ``edf2`` is not computed for."""
    if fit.state.method in ("REML", "ML"):
        try:
            return float(sp_correction(fit).edf2.sum())
        except NotImplementedError:
            pass
    return fit.edf_total
