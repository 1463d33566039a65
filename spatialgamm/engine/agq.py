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
import scipy.sparse as sp
from numpy.polynomial.hermite_e import hermegauss

from .glm import PIRLSError, halve_step
from .laplace import LaplaceObjective


def _sumsq(u: np.ndarray) -> float:
    """The penalty ``u'u`` of one scalar term (``P = I``)."""
    return float(u @ u)


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
        # rows outside every group carry z = 0, so index 0 is a safe stand-in for them
        self.gidx = np.maximum(self.group, 0)
        ok = self.group >= 0
        # group sums of per-row quantities for all nodes at once: (q x n) indicator
        self._G = sp.csr_matrix((np.ones(int(ok.sum())), (self.group[ok], np.flatnonzero(ok))),
                                shape=(self.q, lap.n))

    def mode(self, theta: np.ndarray, beta: np.ndarray, tol: float = 1e-9, maxit: int = 60,
             lazy: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The conditional modes ``u`` given ``(theta, beta)``: ``(u, eta, mu, w)``.

        :meth:`LaplaceObjective.pirls` with ``beta`` fixed (the same IRLS steps, step
        halving on the penalised deviance, convergence rule and warm start), but with the PLS
        solve in closed form: with one scalar term the groups decouple and
        ``A = I + theta^2 diag(Z'WZ)`` is diagonal, so each step is a few vector operations
        instead of a factorisation (nAGQ fits make hundreds of these calls). When a step
        from the second on moves eta by less than the tolerance, that step's solve stands
        for pirls' final one (its weights are within the tolerance of the mode's).
        """
        lap, fam = self.lap, self.lap.family
        y, wt, scale = lap.y, lap.wt, lap.scale
        th, zval, gidx, q = float(theta[0]), self.zval, self.gidx, self.q
        base = lap.offset + (lap.X @ beta if lap.p else 0.0)
        if lap._eta_start is not None:
            eta = lap._eta_start.copy()
        else:
            eta = fam.link.linkfun(fam.initialize(y, wt))

        link = fam.link

        def solve(eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # Family.working's z and w, reusing mu; where a row carries no information
            # (w not positive and finite) Family.working's guarded form decides
            d = link.mu_eta(eta)
            with np.errstate(all="ignore"):
                w = wt * d * d / fam.variance(mu)
            if np.all((w > 0) & (w < np.inf)):
                z = eta + (y - mu) / d
            else:
                z, w = fam.working(y, eta, wt)
            w = w / scale
            wz = w * zval
            A = 1.0 + th * th * np.bincount(gidx, weights=wz * zval, minlength=q)
            return th * np.bincount(gidx, weights=wz * (z - base), minlength=q) / A, w

        old_obj = np.inf
        u_c = np.zeros(q)
        last = getattr(self, "_last", None)  # (eta, mu) of the previous mode
        mu = last[1] if last is not None and last[0] is lap._eta_start else link.linkinv(eta)
        pending = False  # the first step's penalised deviance, not yet evaluated
        for it in range(1, maxit + 1):
            u_n, w = solve(eta, mu)
            eta_n = base + th * zval * u_n[gidx]
            if it == 1 and lazy and link.valid_eta(eta_n):
                # the first full step is taken whenever its deviance is finite (there is
                # nothing to compare it with): evaluate that deviance only if a second step
                # is checked against it (a warm start usually converges first)
                u_c, eta, mu, pending = u_n, eta_n, link.linkinv(eta_n), True
                continue
            if it > 1 and link.valid_eta(eta_n) and float(np.max(np.abs(eta_n - eta))) < \
                    tol * (1.0 + float(np.max(np.abs(eta_n)))):
                # a full step this small ends PIRLS (the deviance check accepts changes at
                # rounding level), and this solve, at weights within tol of the mode's, is
                # pirls' final one: u, eta and the weights differ from it by O(tol)
                mu = link.linkinv(eta_n)
                if not np.all(np.isfinite(mu)):
                    raise PIRLSError("PIRLS produced non-finite fitted values")
                lap._eta_start = eta_n
                self._last = (eta_n, mu)
                return u_n, eta_n, mu, w
            if pending:
                pending = False
                old_obj = float(np.sum(fam.dev_resids(y, mu, wt))) / scale + _sumsq(u_c)
                if not np.isfinite(old_obj):  # the first step needed halving after all
                    return self.mode(theta, beta, tol, maxit, lazy=False)
            _, eta_t, mu_t, u_c, obj = halve_step(fam, y, wt, scale, eta, eta_n, u_c, u_n,
                                                  old_obj, _sumsq)
            change = float(np.max(np.abs(eta_t - eta))) if it > 1 else np.inf
            eta, mu = eta_t, mu_t
            if change < tol * (1.0 + float(np.max(np.abs(eta)))) or (
                    it > 2 and abs(old_obj - obj) <= 1e-13 * (abs(obj) + 0.1)):
                break
            old_obj = obj
        # the final solve at the mode's weights, as pirls
        u_c, w = solve(eta, mu)
        eta = base + th * zval * u_c[gidx]
        mu = fam.link.linkinv(eta)
        if not np.all(np.isfinite(mu)):
            raise PIRLSError("PIRLS produced non-finite fitted values")
        lap._eta_start = eta
        self._last = (eta, mu)
        return u_c, eta, mu, w

    def _node_loglik(self, eta: np.ndarray, eta_mode: np.ndarray, mu_mode: np.ndarray
                     ) -> np.ndarray:
        """Group sums of ``log p(y_i | eta_i)`` at every node, ``eta`` of shape (k, n).

        ``log p(y_i | eta) = c_i + kernel_i(eta)`` with ``c_i`` free of ``eta``, computed
        once per family at a mode. The kernel is ``-dev_i / 2`` (the deviance is twice the
        distance to the saturated log-likelihood) for every family, and for the binomial
        with logit link (R's clamp at |eta| > 30 not reached) the exact ``k eta - n
        log(1 + e^eta)`` (``k``, ``n`` rounded successes and trials, as ``loglik_obs``): one
        pass over the nodes instead of the deviance's dozen.
        """
        fam, lap = self.lap.family, self.lap
        y, wt = lap.y, lap.wt
        if getattr(self, "_const", (None,))[0] is not fam:
            ll = fam.loglik_obs(y, mu_mode, wt)
            c_dev = self._G @ (ll + 0.5 * fam.dev_resids(y, mu_mode, wt))
            logit = fam.name == "binomial" and fam.link.name == "logit"
            n_tr, k_succ = (np.round(wt), np.round(wt * y)) if logit else (None, None)
            c_logit = None
            if logit and np.max(np.abs(eta_mode)) <= 30.0:
                c_logit = self._G @ (ll - (k_succ * eta_mode - n_tr * np.logaddexp(0.0, eta_mode)))
            self._const = (fam, np.asarray(c_dev).ravel(), c_logit, n_tr, k_succ)
        _, c_dev, c_logit, n_tr, k_succ = self._const
        if c_logit is not None and np.max(np.abs(eta)) <= 30.0:
            kern = k_succ[None, :] * eta - n_tr[None, :] * np.logaddexp(0.0, eta)
            return np.asarray(c_logit).ravel() + np.asarray(self._G @ kern.T).T
        dev = fam.dev_resids(y[None, :], fam.link.linkinv(eta), wt[None, :])
        return c_dev - 0.5 * np.asarray(self._G @ dev.T).T

    def __call__(self, par: np.ndarray) -> float:
        self.n_evals += 1
        lap = self.lap
        theta, beta = par[:1], par[1:]
        try:
            u, eta_mode, mu_mode, weights = self.mode(theta, beta)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            lap._eta_start = None
            return np.inf
        fam = lap.family
        th = float(theta[0])
        # A_jj = theta^2 sum w z^2 + 1 (diagonal for one scalar term)
        A = 1.0 + th ** 2 * np.bincount(self.gidx, weights=weights * self.zval ** 2,
                                         minlength=self.q)
        s = 1.0 / np.sqrt(A)
        eta_fixed = eta_mode - th * self.zval * u[self.gidx]
        ok = self.group >= 0
        # the log integrand at every node (rows) and group (columns), all nodes at once
        xk = self.x[:, None]
        uk = u[None, :] + s[None, :] * xk  # (k, q)
        eta = eta_fixed[None, :] + th * self.zval[None, :] * uk[:, self.gidx]  # (k, n)
        # log p(y | eta) summed within groups at every node (no log-gamma terms per node)
        logf = self._node_loglik(eta, eta_mode, mu_mode) \
            - 0.5 * uk ** 2 - 0.5 * np.log(2 * np.pi) + 0.5 * xk ** 2
        m = logf.max(axis=0)
        log_int = np.log(s) + m + np.log(np.sum(self.w[:, None] * np.exp(logf - m), axis=0))
        # rows outside every group (none for (1|g) without NA) contribute their plain loglik
        extra = 0.0
        if not np.all(ok):
            extra = float(np.sum(fam.loglik_obs(lap.y[~ok], mu_mode[~ok], lap.wt[~ok])))
        return float(-2.0 * (np.sum(log_int) + extra))
