"""UBRE and GCV as criteria of the block parameters (:class:`PredictionErrorCriterion`,
mgcv's "outer iteration"), with the exact gradients of the deviance and the edf.

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
from ..model import ModelSpec
from ..terms.base import Ability
from .derivatives import relative_steps
from .gaussian import GaussianObjective
from .laplace import LaplaceObjective, PIRLSError
from .smoothness import block_edf, gcv, ubre
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
    >>> crit = sg.gam("y ~ s(x)", d, method="GCV").state.objective
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
        ok = all(b.term.has(Ability.PRECISION_DERIVATIVES) for b in system.blocks
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


class PredictionErrorCriterion:
    """UBRE or GCV of the penalised fit as a function of ``phi``."""

    def __init__(self, spec: ModelSpec, system: LatentSystem, method: str, gamma: float = 1.0):
        self.spec, self.system, self.method, self.gamma = spec, system, method, gamma
        self.gaussian = spec.family.is_gaussian_identity
        if self.gaussian:
            self.obj = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                         reml=False)
        else:
            self.obj = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                        spec.family)
        self.last = None
        self.gradient = (PredictionErrorGradient(
            system, spec.X, spec.y, spec.offset, spec.weights,
            None if self.gaussian else spec.family)
            if PredictionErrorGradient.applicable(system, spec.n, spec.p) else None)

    def fit_at(self, phi: np.ndarray):
        sysm = self.system
        if self.gaussian:
            r = self.obj.solve(phi)
            b = r.b() if sysm.q else np.zeros(0)
            eta = self.spec.offset + (self.spec.X @ r.beta) + (
                np.asarray(sysm.Z @ b).ravel() if sysm.q else 0.0)
            mu = eta
            w = self.spec.weights
            dev = float(np.sum(w * (self.spec.y - mu) ** 2))
            beta, u = r.beta, r.u
        else:
            mode = self.obj.pirls(phi)
            r, eta, mu, w = mode.pls, mode.eta, mode.mu, mode.weights
            dev = float(np.sum(self.spec.family.dev_resids(self.spec.y, mu, self.spec.weights)))
            beta, u = mode.beta, mode.u
        edf_blocks = block_edf(sysm, r, phi)
        tau = self.spec.p + float(np.sum(edf_blocks))
        return dict(r=r, eta=eta, mu=mu, w=w, dev=dev, beta=beta, u=u, edf_blocks=edf_blocks,
                    tau=tau)

    def score(self, f: dict) -> float:
        n = self.spec.n
        if self.method == "UBRE":
            return ubre(f["dev"], n, f["tau"], 1.0, self.gamma)
        return gcv(f["dev"], n, f["tau"], self.gamma)

    def __call__(self, phi: np.ndarray) -> float:
        if self.gaussian and self.gradient is not None:
            # the value of the same dense solve as value_and_grad: probes and line searches
            # then compare numbers computed one way
            return self.value_and_grad(phi)[0]
        try:
            f = self.fit_at(phi)
        except (PIRLSError, np.linalg.LinAlgError):
            return np.inf
        self.last = f
        return self.score(f)

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The criterion and its exact gradient in ``phi`` (:mod:`..engine.prediction_error`):
        ``dGCV = n dD / (n - g tau)^2 + 2 g n D dtau / (n - g tau)^3`` and
        ``dUBRE = (dD + 2 g dtau) / n`` (scale 1)."""
        if self.gradient is None:
            raise NotImplementedError(
                "the exact GCV/UBRE gradient needs a dense design of at most "
                f"{MAX_DENSE} values and precision derivatives for every multi-penalty "
                "block; this model is searched by finite differences")
        try:
            if self.gaussian:
                D, tau, dD, dtau = self.gradient.gaussian(phi)
                f = dict(dev=D, tau=tau)
            else:
                # the mode by PIRLS; its edf comes with the gradient (the dense inverse
                # is in hand there), so block_edf's solves are not repeated
                mode = self.obj.pirls(phi)
                dD, dtau, tau = self.gradient(phi, mode.beta, mode.u, mode.eta)
                dev = self.spec.family.dev_resids(self.spec.y, mode.mu, self.spec.weights)
                f = dict(dev=float(np.sum(dev)), tau=tau)
        except (PIRLSError, np.linalg.LinAlgError):
            return np.inf, np.zeros(len(phi))
        n, g, D, tau = self.spec.n, self.gamma, f["dev"], f["tau"]
        if self.method == "UBRE":
            grad = (dD + 2.0 * g * dtau) / n
        else:
            grad = n * dD / (n - g * tau) ** 2 + 2.0 * g * n * D * dtau / (n - g * tau) ** 3
        return self.score(f), grad
