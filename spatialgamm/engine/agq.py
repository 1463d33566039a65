"""Adaptive Gauss-Hermite quadrature for one scalar grouped random effect (glmer nAGQ > 1).

With one term ``(1 | g)`` the marginal likelihood factorises over groups:

    L = prod_j  int prod_{i in j} p(y_i | eta_i + theta u) phi(u) du

Each integral is centred at the conditional mode ``u_j`` and scaled by the conditional
standard deviation ``s_j = A_jj^-1/2`` from PIRLS (Pinheiro & Bates 1995, JCGS 4:12-35;
Liu & Pierce 1994), and evaluated with ``k`` Gauss-Hermite nodes for the weight
``exp(-x^2 / 2)``:

    int f(u) du ~= s_j sum_k w_k f(u_j + s_j x_k) exp(x_k^2 / 2)

``k = 1`` reproduces the Laplace approximation exactly.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from .laplace import LaplaceObjective, PIRLSError


class AGQObjective:
    """-2 log L by adaptive Gauss-Hermite quadrature, as a function of ``(theta, beta)``."""

    def __init__(self, lap: LaplaceObjective, nAGQ: int):
        if lap.system.n_phi != 1 or len(lap.system.blocks) != 1:
            raise ValueError("nAGQ > 1 needs exactly one random-effects term with a single "
                             "scalar effect, e.g. (1 | group)")
        blk = lap.system.blocks[0]
        Z = blk.Z.tocsc()
        if np.any(np.diff(Z.tocsr().indptr) > 1):
            raise ValueError("nAGQ > 1 needs a scalar random effect (one column per row)")
        self.lap = lap
        self.k = nAGQ
        self.x, self.w = hermegauss(nAGQ)
        zr = Z.tocsr()
        self.group = np.full(lap.n, -1)
        rows = np.repeat(np.arange(lap.n), np.diff(zr.indptr))
        self.group[rows] = zr.indices
        self.zval = np.zeros(lap.n)
        self.zval[rows] = zr.data
        self.q = Z.shape[1]
        self.n_evals = 0

    def __call__(self, par: np.ndarray) -> float:
        self.n_evals += 1
        lap = self.lap
        theta, beta = par[:1], par[1:]
        try:
            mode = lap.pirls(theta, beta=beta)
        except (PIRLSError, np.linalg.LinAlgError):
            lap._eta_start = None
            return np.inf
        fam = lap.family
        th = float(theta[0])
        # A_jj = theta^2 sum w z^2 + 1 (diagonal for one scalar term)
        A = 1.0 + th ** 2 * np.bincount(self.group[self.group >= 0],
                                         weights=(mode.weights * self.zval ** 2)[self.group >= 0],
                                         minlength=self.q)
        s = 1.0 / np.sqrt(A)
        eta_fixed = mode.eta - th * self.zval * np.where(self.group >= 0,
                                                         mode.u[np.maximum(self.group, 0)], 0.0)
        ok = self.group >= 0
        # per-node log integrand summed within groups
        logf = np.empty((self.k, self.q))
        for i, (xk, _) in enumerate(zip(self.x, self.w)):
            uk = mode.u + s * xk
            eta = eta_fixed + th * self.zval * np.where(ok, uk[np.maximum(self.group, 0)], 0.0)
            ll = fam.loglik_obs(lap.y, fam.link.linkinv(eta), lap.wt)
            logf[i] = np.bincount(self.group[ok], weights=ll[ok], minlength=self.q) \
                - 0.5 * uk ** 2 - 0.5 * np.log(2 * np.pi) + 0.5 * xk ** 2
        m = logf.max(axis=0)
        log_int = np.log(s) + m + np.log(np.sum(self.w[:, None] * np.exp(logf - m), axis=0))
        # rows outside every group (none for (1|g) without NA) contribute their plain loglik
        extra = 0.0
        if not np.all(ok):
            extra = float(np.sum(fam.loglik_obs(lap.y[~ok], mode.mu[~ok], lap.wt[~ok])))
        return float(-2.0 * (np.sum(log_int) + extra))
