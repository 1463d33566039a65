"""Exact gradients of the deviance and the edf of a penalised fit in its block parameters.

GCV and UBRE (:mod:`.smoothness`) are functions of the deviance ``D`` and the total edf
``tau`` of the penalised fit at ``phi``; their derivatives follow from those of ``D`` and
``tau`` (Wood 2008, sec. 3, in this package's parameterisation). With the coefficients
``theta = (beta, u)``, the design ``Xt = [X, Z Lambda] = B0 T`` (``B0 = [X, Z]``,
``T = blockdiag(I, Lambda)``), the penalty ``S = blockdiag(0, P)``, working weights ``W`` and
``H = T' C T + S`` (``C = B0' W B0``), the mode solves ``T' B0' s(eta) = S theta`` with
``s = W (z - eta)`` (``z`` the working response). Differentiating in ``phi_i``:

    H_N dtheta = dT' B0' s - T' C_N dT theta - dS theta      (implicit function)
    deta       = B0 (dT theta + T dtheta)
    dD         = -2 s' deta
    dtau       = tr(dK H^-1 S H^-1) - tr(dS H^-1 K H^-1),   K = T' C T
    dK         = dT' C T + T' C dT + T' B0' diag(w'(eta) deta) B0 T

where ``C_N`` uses the Newton weights ``-ds/deta``, equal to the Fisher weights for the
identity Gaussian and canonical links (otherwise, and for ``w'(eta)``, elementwise central
differences of the family's working weights). ``tau = m - tr(H^-1 S)`` is mgcv's total edf.
Everything is dense in ``m = p + q`` coefficients: meant for smooths of moderate rank, as
in mgcv's outer iteration; larger systems keep the finite-difference search.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..families import Family
from .derivatives import relative_steps
from .system import LatentSystem

#: largest n * (p + q) for which the dense design is kept (8 bytes each)
MAX_DENSE = 12_000_000


class PredictionErrorGradient:
    """``(dD/dphi, dtau/dphi)`` of the penalised fit, from the fit at ``phi``.

    Parameters
    ----------
    system : LatentSystem
    X, y, offset, weights : ndarray
        Fixed-effects design, response, offset and prior weights.
    family : Family or None
        None for the identity Gaussian (weights fixed, one cross-product for all ``phi``).

    Examples
    --------
    The gradient of GCV behind ``gam(..., method="GCV")``, against central differences:

    >>> import numpy as np, pandas as pd, spatialgamm as sg
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"x": rng.uniform(size=200)})
    >>> d["y"] = np.sin(6 * d.x) + rng.normal(scale=0.3, size=200)
    >>> crit = sg.gam("y ~ s(x)", d, method="GCV").state.extra["objective"]
    >>> phi, h = np.array([0.5]), 1e-5
    >>> g = crit.value_and_grad(phi)[1][0]
    >>> bool(abs(g - (crit(phi + h) - crit(phi - h)) / (2 * h)) < 1e-8)
    True
    """

    def __init__(self, system: LatentSystem, X: np.ndarray, y: np.ndarray,
                 offset: np.ndarray, weights: np.ndarray, family: Family | None):
        self.system, self.y, self.offset, self.wt, self.family = (
            system, y, offset, weights, family)
        self.p = X.shape[1]
        Z = system.Z.toarray() if system.q else np.zeros((len(y), 0))
        self.B0 = np.hstack([X, Z])
        self.m = self.B0.shape[1]
        self._C = (self.B0.T * weights) @ self.B0 if family is None else None

    @staticmethod
    def applicable(system: LatentSystem, n: int, p: int) -> bool:
        """Whether the dense gradient is available (every precision block with derivatives,
        and a dense design of at most :data:`MAX_DENSE` values)."""
        ok = all(hasattr(b.term, "precision_derivatives") for b in system.blocks
                 if b.kind == "precision" and b.n_phi)
        return ok and system.n_phi > 0 and n * (p + system.q) <= MAX_DENSE

    def _weights(self, eta: np.ndarray):
        """Fisher weights, score ``s``, Newton weights ``-ds/deta`` and ``dw/deta``."""
        if self.family is None:
            w = self.wt
            return w, w * (self.y - eta), w, np.zeros_like(w)
        fam = self.family
        # elementwise central differences of smooth functions of eta: ~1e-10 accurate
        h = relative_steps(eta, 1e-5)

        def ws(e):
            z, w = fam.working(self.y, e, self.wt)
            return w, w * (z - e)

        w, s = ws(eta)
        wp, sp_ = ws(eta + h)
        wm, sm = ws(eta - h)
        # canonical links: the Newton weights are the Fisher weights (exactly, not to 1e-10)
        wn = w if fam.canonical else -(sp_ - sm) / (2 * h)
        return w, s, wn, (wp - wm) / (2 * h)

    def gaussian(self, phi: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Identity Gaussian: ``D``, ``tau``, ``dD`` and ``dtau`` at ``phi``, the penalised
        least squares solved here on the dense cross-products (a few m x m operations,
        no sparse factorisation: the outer search calls this a hundred times)."""
        T, S = self._transforms(phi)
        yt = self.y - self.offset
        if not hasattr(self, "_Bwy"):
            self._Bwy = self.B0.T @ (self.wt * yt)
        Hi = _spd_inverse(T.T @ self._C @ T + S)
        theta = Hi @ (T.T @ self._Bwy)
        eta = self.offset + self.B0 @ (T @ theta)
        D = float(np.sum(self.wt * (self.y - eta) ** 2))
        dD, dtau, tau = self._derivs(phi, theta, eta, T, S, Hi)
        return D, tau, dD, dtau

    def __call__(self, phi: np.ndarray, beta: np.ndarray, u: np.ndarray,
                 eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """``dD``, ``dtau`` (one entry per parameter) and ``tau`` at the mode ``(beta, u)``
        with linear predictor ``eta`` (offset included)."""
        T, S = self._transforms(phi)
        return self._derivs(phi, np.concatenate([beta, u]), eta, T, S, None)

    def _transforms(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T = blockdiag(I, Lambda)`` and ``S = blockdiag(0, P)``."""
        sysm, p, m = self.system, self.p, self.m
        T = np.eye(m)
        S = np.zeros((m, m))
        if sysm.q:
            T[p:, p:] = sysm.Lambda_dense(phi)
            P, _ = sysm.precision(phi)
            S[p:, p:] = np.eye(sysm.q) if P is None else P.toarray()
        return T, S

    def _derivs(self, phi, theta, eta, T, S, Hi):
        """All parameters at once: the factor blocks' ``dT`` enter through their stored
        Lambda values (``dT`` has Lambda's pattern), the precision blocks' ``dS = -2 M'M``
        through their square roots ``M``."""
        sysm, p, m, k = self.system, self.p, self.m, self.system.n_phi
        w, s, wn, dw = self._weights(eta)
        B0 = self.B0
        C = self._C if self._C is not None else (B0.T * w) @ B0
        CN = C if wn is w else (B0.T * wn) @ B0
        CT = C @ T
        if Hi is None:
            Hi = _spd_inverse(T.T @ CT + S)
        HiS = Hi @ S
        Q = HiS @ Hi                        # H^-1 S H^-1
        R = Hi - Q                          # H^-1 K H^-1
        tau = m - float(np.trace(HiS))
        HNi = Hi if CN is C else np.linalg.inv(T.T @ CN @ T + S)
        Bs = B0.T @ s
        dTth = np.zeros((m, k))             # dT_i theta, by column
        rhs = np.zeros((m, k))
        dtau = np.zeros(k)
        fac = [i for i, b in enumerate(sysm.blocks) if b.kind == "factor" and b.n_phi]
        if fac:
            J = sysm.lambda_jacobian(phi)
            rows, cols = p + sysm.lam_rows, p + sysm.lam_cols
            np.add.at(dTth, rows, J * theta[cols, None])
            np.add.at(rhs, cols, J * Bs[rows, None])        # dT' B0' s
            rhs -= T.T @ (CN @ dTth)
            A = CT @ Q
            dtau += 2.0 * (A[rows, cols] @ J)                # tr(dT' C T Q), twice
        for kb, b in enumerate(sysm.blocks):
            if b.kind != "precision" or b.n_phi == 0:
                continue
            cs, ps = sysm.col_slices[kb], sysm.layout.slices[kb]
            idx = slice(p + cs.start, p + cs.stop)
            for j, (M, _) in enumerate(b.term.precision_derivatives(phi[ps])):
                rhs[idx, ps.start + j] += 2.0 * (M.T @ (M @ theta[idx]))   # -dS theta
                dtau[ps.start + j] += 2.0 * float(np.sum((M @ R[idx, idx]) * M))  # -tr(dS R)
        V = dTth + T @ (HNi @ rhs)
        deta = B0 @ V                       # n x k
        dD = -2.0 * (s @ deta)
        if self.family is not None:
            lev = np.sum((B0 @ (T @ Q @ T.T)) * B0, axis=1)   # diag(Xt Q Xt')
            dtau += (dw * lev) @ deta
        return dD, dtau, tau


def _spd_inverse(H: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix from its Cholesky factor (LAPACK's
    potrf/potri directly: the scipy wrappers' checks cost more than the work at m ~ 40);
    raises LinAlgError when ``H`` is not positive definite."""
    c, info = sla.lapack.dpotrf(H, lower=0, clean=0)
    if info == 0:
        Hi, info = sla.lapack.dpotri(c, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"penalised Hessian not positive definite (info {info})")
    return np.triu(Hi) + np.triu(Hi, 1).T
