"""Gaussian models with identity link: the exact profiled (RE)ML deviance.

With ``beta`` and the residual variance profiled out (Bates et al. 2015, eq. 34 and 41):

    ML:   d(phi) = log|A| - log|P| + n (1 + log(2 pi r2 / n))
    REML: d(phi) = log|A| - log|P| + log|X'VX| + (n - p) (1 + log(2 pi r2 / (n - p)))

where ``r2`` is the penalised weighted residual sum of squares. Prior weights add
``-sum(log w)``, as in lme4.

``gamma`` (mgcv's ``gam(gamma=)`` for REML/ML: ``n / gamma`` as the effective sample size)
raises the likelihood to the power ``1 / gamma``: the criterion of the model whose prior
weights are ``w / gamma``, with ``n / gamma`` observations counted in the normalising
constant. Written at the same ``phi`` as the ``gamma = 1`` model (the penalised fit, ``A``,
``beta`` and ``u`` do not change: only their smoothing parameters are read as ``gamma`` times
larger), with ``dof = n / gamma - p`` (REML) or ``n / gamma`` (ML):

    d(phi) = log|A| - log|P| [+ log|X'VX| - p log gamma]
             + dof (1 + log(2 pi r2 / (gamma dof))) - sum(log w) / gamma
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .derivatives import jacobian
from .nform import nform_gradient
from .pls import SMALL_DENSE, PLSResult, PLSSolver
from .posterior import SparsePosterior, pls_posterior
from .system import LatentSystem
from .uspace import _entries

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class GaussianObjective:
    """The profiled deviance of a Gaussian model as a function of ``phi``."""

    system: LatentSystem
    X: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    weights: np.ndarray
    reml: bool
    gamma: float = 1.0

    def __post_init__(self) -> None:
        self.n, self.p = self.X.shape
        # the residual degrees of freedom of the profiled scale, n / gamma counted as the
        # sample size (every formula below uses this one number)
        self.dof = self.n / self.gamma - (self.p if self.reml else 0)
        self.log_gamma = float(np.log(self.gamma))
        # fixed weights: a dense, parameter-free design takes the cross-products strategy
        # (one pass over the data, then O(q^3) per evaluation), or the n x n form when it
        # has more columns than rows
        self.solver = PLSSolver(self.system, self.X, fixed_weights=True)
        self.cp = self.solver.cross_products(self.y - self.offset, self.weights)
        self.sum_log_w = float(np.sum(np.log(self.weights))) / self.gamma
        self.n_evals = 0

    def solve(self, phi: np.ndarray) -> PLSResult:
        return self.solver.solve(phi, self.cp)

    def deviance_from(self, r: PLSResult) -> float:
        dof = self.dof
        if r.pwrss <= 0 or dof <= 0:
            return np.inf
        d = r.logdet_A - r.logdet_P + dof * (1 + LOG2PI + np.log(r.pwrss / (self.gamma * dof)))
        if self.reml:
            d += r.logdet_XtVX - self.p * self.log_gamma
        return float(d - self.sum_log_w)

    def mode(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The conditional mode ``(beta, u)`` at ``phi`` (u-space: ``b = Lambda u``)."""
        r = self.solve(phi)
        return r.beta, r.u

    def posterior(self, phi: np.ndarray) -> SparsePosterior:
        """The Gaussian posterior of ``(beta, u)`` at ``phi`` (u-space), scaled by the
        profiled residual variance there."""
        r = self.solve(phi)
        return pls_posterior(r, self.sigma2(r))

    def __call__(self, phi: np.ndarray) -> float:
        self.n_evals += 1
        try:
            return self.deviance_from(self.solve(phi))
        except np.linalg.LinAlgError:
            return np.inf

    # -- analytic gradient --------------------------------------------------------------
    def _dlambda(self, phi: np.ndarray) -> list:
        """d Lambda / d phi_i as matrices on Lambda's pattern (central differences of the
        stored values: exact for lme4's linear theta, 1e-10 accurate otherwise)."""
        sysm = self.system
        cached = getattr(self, "_dlam_cache", None)
        if cached is not None:
            return cached
        J = sysm.lambda_jacobian(phi)
        out = []
        for i in range(len(phi)):
            if self._small_dense():
                D = np.zeros((sysm.q, sysm.q))
                D[sysm.lam_rows, sysm.lam_cols] = J[:, i]
            else:
                # sparse on Lambda's pattern: products with a dense A^-1 then cost O(nnz q),
                # not q^3 (two terms on 100 levels: q = 200)
                D = sysm.lambda_pattern.copy()
                D.data = J[:, i].copy()
            out.append(D)
        if sysm.lambda_is_linear:
            self._dlam_cache = out
        return out

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """Profiled deviance and its gradient in ``phi``.

        With ``A = L'ML + I`` (``M = Z'WZ``), ``G = A^-1 B``, ``B = L'Z'WX``,
        ``R = (X'VX)^-1`` and residual ``e``:

            d log|A|    = 2 tr(A^-1 L'M dL)
            d r2        = -2 e'W Z dL u                       (envelope theorem)
            d log|X'VX| = -2 tr(R C' dL G) + 2 tr(R G' L'M dL G)   (C = Z'WX)
        """
        self.n_evals += 1
        sysm = self.system
        try:
            r = self.solve(phi)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros(len(phi))
        val = self.deviance_from(r)
        if not sysm.q or (sysm.has_precision and not sysm.precision_gradients):
            return val, self._fd_grad(phi)
        if self.solver.backend == "blocks":
            return val, self._grad_blocks(phi, r)
        if self.solver.backend == "nform":
            dof = self.dof
            return val, nform_gradient(self.cp.rows, r, self._dlambda(phi), self.reml, dof)
        dense = self.solver.dense
        small = self._small_dense()
        # dense Lambda for a few dozen columns; else sparse: O(nnz q) products below
        Lam = (sysm.Lambda_dense(phi) if small else sysm.Lambda(phi)) if dense else r.Lam
        M = self.cp.ZtZ
        if np.ndim(M) == 1:  # M diagonal: a vector
            LtM = Lam.T.multiply(M[None, :]).tocsr() if sp.issparse(Lam) else Lam.T * M[None, :]
        else:
            LtM = Lam.T @ M
        if dense:
            LtM = LtM.toarray() if sp.issparse(LtM) else np.asarray(LtM)
        Ainv = r.factor.inverse_on_pattern()
        b = np.asarray(Lam @ r.u).ravel()
        Zte = self._ztwe(r, b)
        reml = self.reml and self.p > 0
        if reml:
            G = r.factor.solve(r.B)
            R = np.linalg.inv(r.XtVX)
            C = self.cp.ZtX
        dof = self.dof
        grad = np.zeros(len(phi))
        for i, dL in enumerate(self._dlambda(phi)):
            if dense:
                T = LtM @ dL if small else np.asarray((dL.T @ LtM.T).T)  # L'M dL
                tr_A = float(np.sum(Ainv * T.T))
            else:
                T = LtM @ dL
                tr_A = float(Ainv.multiply(T.T).sum())
            g = 2.0 * tr_A
            dr2 = -2.0 * float(Zte @ np.asarray(dL @ r.u).ravel())
            g += dof * dr2 / r.pwrss
            if reml:
                dLG = np.asarray(dL @ G)
                g += -2.0 * float(np.sum(R * (C.T @ dLG)))
                g += 2.0 * float(np.sum(R * (G.T @ np.asarray(T @ G))))
            grad[i] = g
        if sysm.has_precision:
            self._precision_grad(phi, r, dense, reml, G if reml else None,
                                 R if reml else None, dof, grad)
        return val, grad

    def _ztwe(self, r: PLSResult, b: np.ndarray) -> np.ndarray:
        """``Z'W e`` at the solution ``r`` (``b = Lambda u``), from the residuals."""
        if self.solver.backend == "crossprod":
            # Z'We from the residuals themselves (O(nq), two BLAS-2 products): the form
            # Z'Wy - Z'WX beta - Z'WZ b cancels to noise near an interpolating optimum, and
            # the search then stops short of it
            Zd = self.solver.Zd
            e_w = (self.y - self.offset - self.X @ r.beta - Zd @ b) * self.weights
            return Zd.T @ e_w
        e_w = (self.y - self.offset - self.X @ r.beta) * self.weights
        e_w = e_w - self.weights * np.asarray(self.system.Z @ b).ravel()
        return np.asarray(self.system.Z.T @ e_w).ravel()  # Z'W e

    def _small_dense(self) -> bool:
        return self.solver.dense and self.system.q <= SMALL_DENSE

    def _grad_blocks(self, phi: np.ndarray, r: PLSResult) -> np.ndarray:
        """:meth:`value_and_grad`'s gradient when A is block-diagonal (all terms on one
        grouping factor, :class:`~.linalg.BlockFactor`): the same formulas with every q x q
        product taken block by block, O(G k^3)."""
        sysm, solver, fac = self.system, self.solver, r.factor
        perm, G, k = fac.perm, solver._G, solver._k
        Ainv = fac.block_inverse()
        LtM = np.matmul(np.swapaxes(solver._lambda_blocks(phi), 1, 2), self.cp.blocks)
        e_w = (self.y - self.offset - self.X @ r.beta) * self.weights
        e_w = e_w - self.weights * np.asarray(sysm.Z @ r.b()).ravel()
        Zte = np.asarray(sysm.Z.T @ e_w).ravel()[perm].reshape(G, k)  # Z'W e, by block
        ub = r.u[perm].reshape(G, k)
        reml = self.reml and self.p > 0
        if reml:
            Gm = fac.solve(r.B)[perm].reshape(G, k, -1)  # A^-1 B
            R = np.linalg.inv(r.XtVX)
            C = self.cp.ZtX[perm].reshape(G, k, -1)
        dof = self.dof
        J = sysm.lambda_jacobian(phi) if not sysm.lambda_is_linear else self._jac(phi)
        grad = np.zeros(len(phi))
        for i in range(len(phi)):
            dLb = np.zeros(G * k * k)
            dLb[solver._lam_pos] = J[:, i]
            dLb = dLb.reshape(G, k, k)
            T = np.matmul(LtM, dLb)
            g = 2.0 * float(np.sum(Ainv * np.swapaxes(T, 1, 2)))
            dr2 = -2.0 * float(np.sum(Zte * np.matmul(dLb, ub[:, :, None])[:, :, 0]))
            g += dof * dr2 / r.pwrss
            if reml:
                dLG = np.matmul(dLb, Gm)
                g += -2.0 * float(np.sum(R * np.einsum("gkp,gkr->pr", C, dLG)))
                g += 2.0 * float(np.sum(R * np.einsum("gkp,gkr->pr", Gm, np.matmul(T, Gm))))
            grad[i] = g
        return grad

    def _jac(self, phi: np.ndarray) -> np.ndarray:
        """d Lambda values / d phi, kept when Lambda is linear in phi (lme4's theta)."""
        cached = getattr(self, "_jac_cache", None)
        if cached is None:
            cached = self._jac_cache = self.system.lambda_jacobian(phi)
        return cached

    def _precision_grad(self, phi, r, dense, reml, G, R, dof, grad) -> None:
        """Gradient terms of precision blocks (Lambda = I there, P_k(phi_k)), given per
        parameter as ``dP`` (a pencil block's, sparse) or as ``M`` with ``dP = -2 M'M``
        (computed stably by the term), with ``d log|P|``:

            d log|A|    = tr(A^-1 dP)       (M form: -2 tr(M A^-1 M'), solves, not A^-1;
                                             dP form: A^-1 on dP's pattern, which A holds)
            d r2        = u' dP u           (envelope theorem)
            d log|X'VX| = tr(R G' dP G)     (G = A^-1 B)
        """
        sysm = self.system
        Ainv = None
        for k, b in enumerate(sysm.blocks):
            if b.kind != "precision" or b.n_phi == 0:
                continue
            cs, ps = sysm.col_slices[k], sysm.layout.slices[k]
            uk = r.u[cs]
            for j, (dP, M, dlogdet) in enumerate(sysm.precision_derivatives(k, phi[ps])):
                if M is not None:
                    E = np.zeros((sysm.q, M.shape[0]))
                    E[cs] = M.T
                    AinvE = np.asarray(r.factor.solve(E))
                    g = -2.0 * float(np.sum(M.T * AinvE[cs])) - dlogdet
                    Mu = M @ uk
                    g += dof * (-2.0 * float(Mu @ Mu)) / r.pwrss
                    if reml:
                        MG = M @ G[cs]
                        g += -2.0 * float(np.sum(R * (MG.T @ MG)))
                else:
                    if Ainv is None:
                        Ainv = r.factor.inverse_on_pattern()
                    coo = dP.tocoo()
                    vals = _entries(Ainv, coo.row + cs.start, coo.col + cs.start)
                    g = float(coo.data @ vals) - dlogdet
                    g += dof * float(uk @ (dP @ uk)) / r.pwrss
                    if reml:
                        Gk = G[cs]
                        g += float(np.sum(R * (Gk.T @ np.asarray(dP @ Gk))))
                grad[ps.start + j] = g

    def _fd_grad(self, phi: np.ndarray) -> np.ndarray:
        return jacobian(self, phi, rel=1e-6)

    def sigma2(self, r: PLSResult) -> float:
        """The profiled residual variance (with ``gamma``: mgcv's ``reml.scale``)."""
        return r.pwrss / (self.gamma * self.dof)

    def deviance_at_scale(self, phi: np.ndarray, s2: float) -> float:
        """The (RE)ML deviance at ``phi`` with the residual variance ``s2`` given instead of
        profiled out (``beta`` still profiled); at ``s2 = sigma2`` it is :meth:`__call__`."""
        r = self.solve(phi)
        d = r.logdet_A - r.logdet_P + self.dof * (LOG2PI + np.log(s2)) \
            + r.pwrss / (self.gamma * s2)
        if self.reml:
            d += r.logdet_XtVX - self.p * self.log_gamma
        return float(d - self.sum_log_w)
