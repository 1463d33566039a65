"""The Laplace approximation in covariance form, for dense latent fields observed pointwise.

For exact Gaussian processes and known-covariance (kinship) effects the latent system is
dense and each observation touches one latent value: ``eta_i = x_i beta + z_i f_s(i)`` with
``f ~ N(0, C(phi))``. The u-space engine (:mod:`.pls`) needs ``Lambda = chol(C)`` at every
``phi`` and forms ``Lambda' D Lambda`` at every IRLS step: two extra ``q^3/3`` products per
step. In covariance form (Rasmussen & Williams 2006, sec. 3.4, alg. 3.1) each step factorises

    B = I + D^1/2 C D^1/2,        D = Z'WZ (diagonal),

whose eigenvalues are at least one (well conditioned even when ``C`` is nearly singular), and
every quantity the Laplace deviance needs follows from that one factor:

    log|A| = log|B| (Sylvester),  u'u = f'C^-1 f = a'f  with  a = C^-1 f,
    (C^-1 + D)^-1 = C - C M C,    M = D^1/2 B^-1 D^1/2,

the fixed effects by generalised least squares (``X'V^-1 X = X'WX - SX' G SX``,
``SX = Z'WX``, ``G = (C^-1 + D)^-1``).

The same factor gives the exact gradient of the Laplace deviance with respect to the
covariance parameters and the fixed effects (R & W alg. 5.1, extended here to fixed effects
at the joint mode or fixed, and to the restricted (LAML) term), for canonical links where the
IRLS weights are the observed information. See :meth:`CovarianceSolver.gradient`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotri as _dpotri
from scipy.linalg.lapack import dpotrs as _dpotrs

from ..terms.base import Ability
from .linalg import NotPositiveDefinite
from .system import LatentSystem


def covariance_form_applies(system: LatentSystem) -> bool:
    """Whether the system can be solved in covariance form: only factor blocks that can
    give their covariance and its derivatives, each observation in at most one latent
    column, and a dense system (a full-rank field, where the form pays off)."""
    if system.q == 0 or system.has_precision:
        return False
    for b in system.blocks:
        if b.kind != "factor" or not b.term.has(Ability.COVARIANCE_FORM):
            return False
    if np.diff(system.Z.tocsr().indptr).max(initial=0) > 1:
        return False
    return system.lambda_pattern.nnz > 0.25 * system.q * system.q


@dataclass
class CovStep:
    """One penalised least-squares solve in covariance form (at given weights)."""

    beta: np.ndarray
    a: np.ndarray  # C^-1 f
    f: np.ndarray  # the latent values
    logdet_A: float  # log|B| = log|Lambda' D Lambda + I|
    logdet_XtVX: float
    XtVX: np.ndarray
    L: np.ndarray  # lower Cholesky factor of B
    S: np.ndarray  # D^1/2
    D: np.ndarray
    SX: np.ndarray  # Z'WX (q x p; computed with beta fixed too, for its gradient)
    GSX: np.ndarray  # G SX (q x p; only when beta is estimated)
    RX: np.ndarray  # upper Cholesky factor of X'V^-1 X
    logdet_P: float = 0.0


class CovarianceSolver:
    """Penalised weighted least squares and Laplace gradients in covariance form.

    Parameters
    ----------
    system : LatentSystem
        Must satisfy :func:`covariance_form_applies`.
    X : ndarray (n, p)
    """

    def __init__(self, system: LatentSystem, X: np.ndarray):
        self.system, self.X = system, X
        self.n, self.q, self.p = system.n, system.q, X.shape[1]
        Zr = system.Z.tocsr()
        Zr.sum_duplicates()
        counts = np.diff(Zr.indptr)
        self.site = np.full(self.n, self.q)  # rows without a latent value point past the end
        self.zval = np.zeros(self.n)
        has = counts > 0
        self.site[has] = Zr.indices
        self.zval[has] = Zr.data
        self.Zt = sp.csr_matrix(system.Z.T)
        self.Z2t = sp.csr_matrix(system.Z.multiply(system.Z).T)
        self._cov: tuple[bytes, np.ndarray] | None = None

    # -- the covariance ------------------------------------------------------------------
    def covariance(self, phi: np.ndarray) -> np.ndarray:
        """C(phi), block-diagonal over the blocks (cached for the last phi)."""
        key = np.asarray(phi, dtype=float).tobytes()
        if self._cov is not None and self._cov[0] == key:
            return self._cov[1]
        sysm = self.system
        C = np.zeros((self.q, self.q))
        for k, b in enumerate(sysm.blocks):
            cs = sysm.col_slices[k]
            C[cs, cs] = b.term.covariance_matrix(sysm.block_phi(phi, k))
        C.setflags(write=False)
        self._cov = (key, C)
        return C

    def covariance_derivatives(self, phi: np.ndarray) -> list[tuple[slice, np.ndarray]]:
        """dC/dphi_j for every j, each as (the block's columns, the block's derivative)."""
        sysm = self.system
        out: list[tuple[slice, np.ndarray]] = [None] * sysm.n_phi  # type: ignore[list-item]
        for k, b in enumerate(sysm.blocks):
            ps = sysm.layout.slices[k]
            for j, dC in enumerate(b.term.covariance_jacobian(sysm.block_phi(phi, k))):
                out[ps.start + j] = (sysm.col_slices[k], dC)
        return out

    def _on_sites(self, v: np.ndarray) -> np.ndarray:
        """Row values of the latent vector ``v`` (zero for rows without one)."""
        return self.zval * np.append(v, 0.0)[self.site]

    # -- the solve -----------------------------------------------------------------------
    def solve(self, phi: np.ndarray, z: np.ndarray, w: np.ndarray, fixed: bool) -> CovStep:
        """The mode of the Gaussian working problem ``z = X beta + Z f + e``, ``e ~ N(0,
        W^-1)``, ``f ~ N(0, C)`` (``beta`` estimated unless ``fixed``; then ``z`` has
        ``X beta`` removed)."""
        C = self.covariance(phi)
        D = np.asarray(self.Z2t @ w).ravel()
        S = np.sqrt(D)
        B = C * S[:, None]
        B *= S[None, :]
        B[np.diag_indices(self.q)] += 1.0
        L, info = _dpotrf(B, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise NotPositiveDefinite("I + D^1/2 C D^1/2 is not positive definite")
        logdet_B = 2.0 * float(np.sum(np.log(np.diag(L))))
        s = np.asarray(self.Zt @ (w * z)).ravel()
        p = 0 if fixed else self.p

        def M_times(R: np.ndarray) -> np.ndarray:
            S2 = S[:, None] if R.ndim == 2 else S
            return S2 * _dpotrs(L, S2 * R, lower=1)[0]

        Xw = self.X * w[:, None]
        SX = np.asarray(self.Zt @ Xw)
        if p:
            R = np.column_stack([SX, s])
            T = C @ R
            U = M_times(T)
            GR = T - C @ U
            XtVX = self.X.T @ Xw - SX.T @ GR[:, :p]
            rhs = Xw.T @ z - SX.T @ GR[:, p]
            RX, info = _dpotrf(XtVX, lower=0, clean=1)
            if info != 0:
                raise NotPositiveDefinite("the fixed-effects design is rank deficient at "
                                          "these parameters")
            beta = _dpotrs(RX, rhs, lower=0)[0]
            f = GR[:, p] - GR[:, :p] @ beta
            a = (s - SX @ beta) - (U[:, p] - U[:, :p] @ beta)
            logdet_X = 2.0 * float(np.sum(np.log(np.diag(RX))))
            GSX = GR[:, :p]
        else:
            T = C @ s
            U = M_times(T)
            f = T - C @ U
            a = s - U
            beta = np.zeros(0)
            XtVX = RX = np.zeros((0, 0))
            GSX = np.zeros((self.q, 0))
            logdet_X = 0.0
        return CovStep(beta=beta, a=a, f=f, logdet_A=logdet_B, logdet_XtVX=logdet_X,
                       XtVX=XtVX, L=L, S=S, D=D, SX=SX, GSX=GSX, RX=RX)

    # -- what PIRLS needs ----------------------------------------------------------------
    @staticmethod
    def coef(step: CovStep) -> np.ndarray:
        """The latent coefficients PIRLS interpolates when it halves a step."""
        return np.concatenate([step.a, step.f])

    def latent_eta(self, step: CovStep) -> np.ndarray:
        return self._on_sites(step.f)

    def penalty(self, coef: np.ndarray, phi: np.ndarray) -> float:
        return float(coef[:self.q] @ coef[self.q:])  # f'C^-1 f = a'f

    # -- the gradient --------------------------------------------------------------------
    def gradient(self, phi: np.ndarray, step: CovStep, score: np.ndarray, dw: np.ndarray,
                 beta_fixed: bool, reml: bool) -> np.ndarray:
        """Exact gradient of the Laplace deviance at a mode solved by :meth:`solve`.

        ``score`` is d log p(y|eta)/d eta and ``dw`` the derivative of the working weights
        with respect to eta, both per row at the mode (weights equal to the observed
        information: canonical links). Returns d/d phi, then (``beta_fixed``) d/d beta.

        The deviance is ``-2 log p(y | eta_hat) + a'f + log|B|`` (+ ``log|X'V^-1 X|`` for
        REML). At the mode the first two terms are stationary in ``f`` (and in ``beta``
        at the joint mode), so besides their explicit ``phi`` derivative ``-a' dC a`` only
        ``log|B|`` (and the REML term) depends on the mode, through the weights:

            d log|B| / d eta_i = G_ss w'_i z_i^2,      G = (C^-1 + D)^-1,
            d log|X'V^-1 X| / d eta_i = w'_i v_i' H^-1 v_i,  v_i = x_i - z_i (G SX)_s,

        and the mode moves by ``df = (I + C D)^-1 dC a`` (minus ``G SX dbeta`` at the joint
        mode, where ``H dbeta = -SX' (I + C D)^-1 dC a``; ``H = X'V^-1 X``).
        """
        C = self.covariance(phi)
        q, S, D, a = self.q, step.S, step.D, step.a
        Binv, info = _dpotri(step.L, lower=1)
        if info != 0:
            raise NotPositiveDefinite("I + D^1/2 C D^1/2 is singular")
        Binv = np.tril(Binv) + np.tril(Binv, -1).T
        # G's diagonal from B^-1: G = D^-1/2 (I - B^-1) D^-1/2 where D > 0
        has = D > 0
        dG = np.diag(C).copy()
        dG[has] = (1.0 - np.diag(Binv)[has]) / D[has]
        M = Binv
        M *= S[:, None]
        M *= S[None, :]
        c = np.append(dG, 0.0)[self.site] * dw * self.zval ** 2
        p = self.p
        Hinv = None
        if p and not beta_fixed:
            Hinv = _dpotri(step.RX, lower=0)[0]
            Hinv = np.triu(Hinv) + np.triu(Hinv, 1).T
        if reml and p and not beta_fixed:
            V = self.X - self.zval[:, None] * np.vstack([step.GSX, np.zeros((1, p))])[self.site]
            c = c + dw * np.einsum("ij,jk,ik->i", V, Hinv, V)
            E = step.SX - M @ (C @ step.SX)  # (I + D C)^-1 SX
        Cs = np.asarray(self.Zt @ c).ravel()
        Xc = self.X.T @ c if p else np.zeros(0)
        grads = []
        for cols, dC in self.covariance_derivatives(phi):
            b = np.zeros(q)
            b[cols] = dC @ a[cols]
            g = -float(a[cols] @ b[cols]) + float(np.sum(M[cols, cols] * dC))
            df = b - C @ (M @ b)
            if p and not beta_fixed:
                dbeta = -Hinv @ (step.SX.T @ df)
                df = df - step.GSX @ dbeta
                g += float(Xc @ dbeta)
                if reml:
                    Ec = E[cols]
                    g -= float(np.sum(Hinv * (Ec.T @ (dC @ Ec))))
            g += float(Cs @ df)
            grads.append(g)
        out = np.array(grads)
        if beta_fixed and p:
            GCs = C @ Cs - C @ (M @ (C @ Cs))
            gb = -2.0 * (self.X.T @ score) + Xc - step.SX.T @ GCs
            out = np.concatenate([out, gb])
        return out
