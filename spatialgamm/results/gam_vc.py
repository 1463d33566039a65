"""Smoothing-parameter uncertainty: mgcv's corrected covariance ``Vc`` and ``edf2``.

A REML/ML fit conditions on the estimated log smoothing parameters ``rho``; Wood, Pya &
Saefken (2016, sec. 3.1) propagate their uncertainty, ``rho ~ N(rho_hat, V_rho)`` with
``V_rho`` the inverse Hessian of the criterion, into the coefficients' posterior:

    Vc = Vb + J V_rho J' + scale * sum_jk Vr_jk dP_j dP_k'

* ``Vb = scale H^-1``, ``H = X'WX + sum_j sp_j S_j`` (mgcv's ``Vp``);
* ``J = d beta / d rho``: ``J_j = -H_obs^-1 sp_j S_j beta`` (implicit function theorem on
  the penalised score equations, whose Jacobian ``H_obs = X'W_obs X + S_lambda`` has the
  observed information's weights: ``H`` for canonical links; with the expected ``H`` for
  a non-canonical link, sum(edf2) was 0.03-0.12 off mgcv's on tests/test_gamscale.py's
  fits, with ``H_obs`` 1e-5 to 1e-4);
* ``dP_j = d R^-1 / d rho_j`` with ``R'R = H`` the Cholesky factor of ``H`` in mgcv's
  coefficient order and basis (the second-order term: how the posterior's square root moves
  with ``rho``); ``Vr = (Hess + 0.1 I)^-1`` on its positive eigenvalues, a regularised
  ``V_rho`` as mgcv's, and the scale's row dropped.

Laplace fits with an estimated scale (Gamma, inverse Gaussian) carry ``W / reml.scale`` and
u-space sp ``sp / reml.scale``: the same ``J``, with ``scale`` the ratio of mgcv's Pearson
``sig2`` to ``reml.scale``, and the Hessian taken in mgcv's ``(log sp, log scale)``.

Scalar lme4 bars in the formula enter as mgcv's ``s(fac, bs='re')`` (identity penalty,
``sp = 1 / theta^2``), so a gam with ``(1 | g)`` has mgcv's ``Vc``, ``edf2`` and AIC.

``edf2 = diag(Vc X'WX) / scale`` per coefficient; when its sum exceeds that of
``edf1 = diag(2F - FF)`` (``F = H^-1 X'WX``) mgcv uses ``edf1`` instead. ``logLik.gam`` takes
its degrees of freedom from ``edf2`` (:mod:`.gam_likelihood`).

The Hessian of the criterion in ``(rho, log scale)`` is taken by central differences of the
exact criterion (the Gaussian (RE)ML with the scale not profiled out, or the Laplace
approximation with the mode solved to 1e-12): mgcv's is analytic; the two agree to about
1e-6 relative, below the 1e-4 the results are compared at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

#: a fitted GamFit (not imported: gam.py imports this module's callers)
GamFit = Any

#: central-difference step in log(sp) for the criterion's Hessian: truncation error
#: ~ h^2 / 12 relative, rounding ~ eps |V| / h^2; both near 1e-7 for n of a few thousand
HESS_STEP = 2e-3


@dataclass(frozen=True)
class CoefSystem:
    """The penalised fit in mgcv's coefficients (parametric first, then each smooth, then
    each scalar lme4 bar as mgcv's ``s(fac, bs='re')``)."""

    X: np.ndarray  # n x p model matrix in the coefficients of ``fit.coef``
    w: np.ndarray  # working weights at the fit
    penalties: list  # (index array into coef, S_j (k x k), sp_j) in the order of rho
    coef: np.ndarray
    names: list
    #: per penalty: the index into phi of its parameter and how phi gives its sp:
    #: 'log_sd' (smooths: sp = exp(-2 phi)) or 'theta' (bars: sp = 1 / theta^2)
    phi_index: tuple = ()
    phi_kind: tuple = ()

    def S_lambda(self, which: int | None = None) -> np.ndarray:
        """``sum_j sp_j S_j`` embedded in p x p (or the j-th term alone)."""
        p = self.X.shape[1]
        out = np.zeros((p, p))
        for j, (idx, S, lam) in enumerate(self.penalties):
            if which is None or which == j:
                out[np.ix_(idx, idx)] += lam * S
        return out

    def phi_of(self, phi: np.ndarray, rho: np.ndarray) -> np.ndarray:
        """The fit's ``phi`` with each penalty's parameter set from ``rho = log sp``."""
        out = np.array(phi, dtype=float)
        for r, i, kind in zip(rho, self.phi_index, self.phi_kind):
            if kind == "theta":  # a bar's relative sd, its sign kept (the deviance is even)
                out[i] = np.copysign(np.exp(-0.5 * r), phi[i] if phi[i] != 0 else 1.0)
            else:
                out[i] = -0.5 * r
        return out

    def rho(self) -> np.ndarray:
        return np.log([lam for _, _, lam in self.penalties])


@dataclass(frozen=True)
class SpCorrection:
    """mgcv's ``Vc``, ``edf2`` and ``edf1`` (per coefficient) and the Hessian they used."""

    Vc: pd.DataFrame
    edf2: pd.Series
    edf1: pd.Series
    hessian: np.ndarray  # of the criterion in (log sp, [log scale])
    scale: float


def coef_system(fit: GamFit) -> CoefSystem:
    """The model matrix, weights and penalties in mgcv's coefficient basis.

    A scalar lme4 bar in the formula (``(1 | g)``, ``(0 + x | g)``) is mgcv's
    ``s(g, bs='re')`` (``s(g, x, bs='re')``): its columns follow the smooths', with the
    identity penalty and ``sp = 1 / theta^2``. A bar whose variance is exactly zero has
    coefficients and uncertainty zero (the limit of mgcv's sp at its bound): it is left out.

    Raises
    ------
    NotImplementedError
        When the model has latent terms that are neither smooths nor scalar lme4 bars
        (correlated bars, GP or SPDE fields): mgcv has no coefficients for them.
    """
    from ..terms.base import Ability

    spec, sysl = fit.spec, fit.state.system
    bars = [k for k, b in enumerate(spec.blocks) if b.term is not None
            and b.term.has(Ability.GROUPING_FACTOR) and b.term.nc == 1]
    others = [b.name for k, b in enumerate(spec.blocks) if k not in bars and (
        b.term is None or not b.term.has(Ability.SMOOTH))]
    if others:
        raise NotImplementedError(
            f"Vc and edf2 are computed for models whose latent terms are smooths and scalar "
            f"lme4 bars; {others} are not")
    pidx = fit._param_idx()
    cols = [spec.X[:, pidx]]
    off = len(pidx)
    pen_by_phi: dict[int, tuple] = {}
    coef = [np.asarray(fit.state.beta, dtype=float)[pidx]]
    Z = sysl.Z
    for k, term, null_idx in fit._smooths():
        sl = sysl.layout.slices[k]
        phi_k = np.asarray(fit.state.phi[sl], dtype=float)
        cs_k = sysl.col_slices[k]
        if getattr(term, "intercept_shift", None) is not None:
            # a t2 block in mgcv's fitting basis: Vc and edf2 are computed there, as mgcv's
            # (the second-order term of Vc depends on the basis; their sums do not)
            Zk = Z[:, cs_k]
            Zk = Zk.toarray() if hasattr(Zk, "toarray") else np.asarray(Zk, dtype=float)
            Xk = np.column_stack([Zk, spec.X[:, null_idx]])
            coef.append(np.r_[fit.state.b[cs_k], fit.state.beta[null_idx]])
            nz = len(null_idx)
            Ss = [np.pad(np.asarray(S.toarray() if hasattr(S, "toarray") else S, dtype=float),
                         (0, nz)) for S in term.S_range]
        else:
            Xk = term.spec.X
            Xk = Xk.toarray() if hasattr(Xk, "toarray") else np.asarray(Xk, dtype=float)
            coef.append(term.coef_from(fit.state.b[cs_k], fit.state.beta[null_idx]))
            if isinstance(term.spec.S, list):  # te()/t2(): one penalty per margin
                Ss = [np.asarray(S.toarray() if hasattr(S, "toarray") else S, dtype=float)
                      for S in term.spec.S]
            else:
                Ss = [np.asarray(term.spec.S, dtype=float)]
        cols.append(Xk)
        idx = np.arange(off, off + Xk.shape[1])
        off += Xk.shape[1]
        for j, S in enumerate(Ss):
            pen_by_phi[sl.start + j] = (idx, 0.5 * (S + S.T), float(np.exp(-2.0 * phi_k[j])),
                                        "log_sd")
    names = list(fit.coef.index)
    for k in bars:
        i = sysl.layout.slices[k].start
        theta = float(fit.state.phi[i])
        if theta == 0.0:
            continue
        cs = sysl.col_slices[k]
        Zk = Z[:, cs]
        Zk = Zk.toarray() if hasattr(Zk, "toarray") else np.asarray(Zk, dtype=float)
        cols.append(Zk)
        idx = np.arange(off, off + Zk.shape[1])
        off += Zk.shape[1]
        pen_by_phi[i] = (idx, np.eye(Zk.shape[1]), 1.0 / theta ** 2, "theta")
        coef.append(np.asarray(fit.state.b[cs], dtype=float))
        names.extend(f"{spec.blocks[k].term.label}.{j + 1}" for j in range(Zk.shape[1]))
    order = sorted(pen_by_phi)
    penalties = [pen_by_phi[i][:3] for i in order]
    w = np.asarray(fit.state.irls_weights(spec.weights), dtype=float)
    return CoefSystem(X=np.column_stack(cols), w=w, penalties=penalties,
                      coef=np.concatenate(coef), names=names, phi_index=tuple(order),
                      phi_kind=tuple(pen_by_phi[i][3] for i in order))


def criterion_in_rho(fit: GamFit) -> tuple[Callable[[np.ndarray], float], np.ndarray, bool]:
    """mgcv's REML/ML score (minus the log (restricted) likelihood) as a function of
    ``rho = log sp`` (and ``log scale`` last when the scale is estimated), its minimiser,
    and whether the scale is among the arguments."""
    st = fit.state
    obj = st.objective
    phi = np.asarray(st.phi, dtype=float)
    cs = coef_system(fit)
    rho = cs.rho()
    if st.gaussian:
        full = _gaussian_full(obj)
        # the criterion's own (profiled) scale, not the reported dev / (n - edf)
        tau = float(np.log(obj.sigma2(obj.solve(phi))))
        return (lambda x: full(np.append(cs.phi_of(phi, x[:-1]), x[-1]))), \
            np.append(rho, tau), True
    if st.vp_scale is not None:  # a Laplace fit with an estimated scale (Gamma, ...)
        return _laplace_with_scale(obj, cs, phi, float(st.scale)), \
            np.append(rho + np.log(st.scale), np.log(st.scale)), True
    if not fit.family.scale_known:
        raise NotImplementedError(
            f"Vc and edf2 for the {fit.family.name} family (an estimated scale outside the "
            "Gaussian model) are not implemented")

    def laml(x: np.ndarray) -> float:
        mode = obj.pirls(cs.phi_of(phi, x), tol=1e-12, maxit=100)
        return 0.5 * obj.laplace(mode, fixed_beta=False)

    return laml, rho, False


def _laplace_with_scale(obj, cs: CoefSystem, phi: np.ndarray, scale: float
                        ) -> Callable[[np.ndarray], float]:
    """mgcv's LAML in ``(log sp, log scale)`` with mgcv's sp (``scale / sd^2``: the
    engine's u-space sp is ``sp / scale``); the objective's scale is restored after each
    evaluation."""

    def f(x: np.ndarray) -> float:
        obj.scale = float(np.exp(x[-1]))
        try:
            mode = obj.pirls(cs.phi_of(phi, x[:-1] - x[-1]), tol=1e-12, maxit=100)
            return 0.5 * obj.laplace(mode, fixed_beta=False)
        finally:
            obj.scale = scale

    return f


def _gaussian_full(obj) -> Callable[[np.ndarray], float]:
    """Half the Gaussian REML/ML deviance in ``(phi, log scale)``, the scale not profiled
    (:meth:`~spatialgamm.engine.gaussian.GaussianObjective.deviance_at_scale`), which at
    the profiled scale is the criterion the fit minimised."""

    def f(x: np.ndarray) -> float:
        return 0.5 * obj.deviance_at_scale(x[:-1], float(np.exp(x[-1])))

    return f


def criterion_hessian(fit: GamFit) -> np.ndarray:
    """Hessian of mgcv's REML/ML score in ``(log sp, [log scale])`` by central differences."""
    from ..engine.derivatives import hessian as numerical_hessian

    f, x0, _ = criterion_in_rho(fit)
    H = numerical_hessian(f, x0, steps=np.full(x0.size, HESS_STEP))
    obj = fit.state.objective
    if hasattr(obj, "pirls"):  # leave the warm start at the fit's own mode
        obj.pirls(np.asarray(fit.state.phi, dtype=float), tol=1e-12, maxit=100)
    return 0.5 * (H + H.T)


def _chol_inverse_derivative(Rinv: np.ndarray, dH: np.ndarray) -> np.ndarray:
    """``d(R^-1)`` for ``R'R = H`` upper triangular and a change ``dH`` of ``H``.

    From ``dR'R + R'dR = dH``: ``dR R^-1`` is upper triangular with
    ``R^-T dR' + dR R^-1 = K := R^-T dH R^-1``, so ``dR = Phi(K) R`` with ``Phi`` the upper
    triangle and half the diagonal; then ``d(R^-1) = -R^-1 dR R^-1 = -R^-1 Phi(K)``.
    """
    K = Rinv.T @ dH @ Rinv
    Phi = np.triu(K, 1) + 0.5 * np.diag(np.diag(K))
    return -Rinv @ Phi


def sp_corrected(fit: GamFit) -> SpCorrection:
    """mgcv's ``Vc``, ``edf2`` and ``edf1`` for a REML or ML fit (see the module docstring).

    Raises
    ------
    ValueError
        For fits whose smoothing parameters were chosen by GCV or UBRE (mgcv has no ``Vc``
        or ``edf2`` there).
    """
    if fit.state.method not in ("REML", "ML"):
        raise ValueError(f"Vc and edf2 need smoothing parameters estimated by REML or ML; "
                         f"this fit used method={fit.state.method!r}")
    cs = coef_system(fit)
    X, w = cs.X, cs.w
    XtWX = X.T @ (w[:, None] * X)
    H = XtWX + cs.S_lambda()
    H = 0.5 * (H + H.T)
    R = sla.cholesky(H, lower=False)
    Rinv = sla.solve_triangular(R, np.eye(R.shape[0]), lower=False)
    Hinv = Rinv @ Rinv.T
    F = Hinv @ XtWX
    edf1 = 2.0 * np.diag(F) - np.einsum("ij,ji->i", F, F)
    gaussian = bool(fit.state.gaussian)
    if gaussian:  # mgcv's scale.est: deviance / (n - tr F), whatever the criterion
        scale = fit.deviance / (fit.nobs - float(np.trace(F)))
    else:  # mgcv's sig2 over the criterion's scale the weights carry (1: a known scale)
        scale = fit.state.vp_scale if fit.state.vp_scale is not None else 1.0
    Vb = scale * Hinv
    hess = criterion_hessian(fit)
    M = len(cs.penalties)
    Hj = _observed_hessian(fit, cs, H)
    J = -np.linalg.solve(Hj, np.column_stack([_embed_Sb(cs, j) for j in range(M)])) if M \
        else np.zeros((H.shape[0], 0))
    ev, U = np.linalg.eigh(hess)
    pos = ev > 0
    d = np.where(pos, 1.0 / np.sqrt(np.where(pos, ev, 1.0)), 0.0)
    rV = (d[:, None] * U.T)[:, :M]
    Vc1 = (J @ rV.T) @ (rV @ J.T)
    d = 1.0 / np.sqrt(np.where(pos, ev, 0.0) + 0.1)
    Vr = (d[:, None] * U.T).T @ (d[:, None] * U.T)
    Vr = Vr[:M, :M]
    dP = [_chol_inverse_derivative(Rinv, cs.S_lambda(j)) for j in range(M)]
    Vc2 = np.zeros_like(H)
    for j in range(M):
        Vc2 += dP[j] @ sum(Vr[j, k] * dP[k] for k in range(M)).T
    Vc = Vb + Vc1 + scale * Vc2
    Vc = 0.5 * (Vc + Vc.T)
    edf2 = np.einsum("ij,ji->i", Vc, XtWX) / scale
    if edf2.sum() > edf1.sum():
        edf2 = edf1.copy()
    names = cs.names
    return SpCorrection(Vc=pd.DataFrame(Vc, index=names, columns=names),
                        edf2=pd.Series(edf2, index=names), edf1=pd.Series(edf1, index=names),
                        hessian=hess, scale=scale)


def _embed_Sb(cs: CoefSystem, j: int) -> np.ndarray:
    """``sp_j S_j beta`` in p coordinates (the penalty's gradient direction)."""
    idx, S, lam = cs.penalties[j]
    out = np.zeros(cs.X.shape[1])
    out[idx] = lam * (S @ cs.coef[idx])
    return out


def _observed_hessian(fit: GamFit, cs: CoefSystem, H: np.ndarray) -> np.ndarray:
    """``X'W_obs X + S_lambda``: the penalised fit's Hessian at the observed information,
    which ``d beta / d rho`` solves with (the implicit function theorem on the score
    equations; the weights move with ``beta`` unless the link is canonical)."""
    from ..engine.laplace import newton_working

    fam, spec = fit.spec.family, fit.spec
    if fam.canonical or fit.state.eta is None:
        return H
    eta = np.asarray(fit.state.eta, dtype=float)
    z, w = fam.working(spec.y, eta, spec.weights)
    wn = newton_working(fam, spec.y, eta, z, w)[1]
    alpha = np.where(w > 0, wn / np.where(w > 0, w, 1.0), 1.0)
    X = cs.X
    Ho = X.T @ ((cs.w * alpha)[:, None] * X) + cs.S_lambda()
    return 0.5 * (Ho + Ho.T)
