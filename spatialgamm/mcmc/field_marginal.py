"""Gaussian models with latent fields, the fields (and group-level effects) integrated out.

For a Gaussian likelihood with the identity link every latent part enters linearly,
``y = offset + X beta + sum_k M_k(h_k) u_k + e`` with ``u_k ~ N(0, I)`` and
``e ~ N(0, sigma^2 I)`` (``M`` of a bar term is ``Z (I (x) T)``; of an exact GP
``P chol(K)``; of a Hilbert-space GP ``P Phi diag(sqrt(S))``; of an spde() field
``A tau^-1 K^-1 Ct^1/2``, see :mod:`spatialgamm.mcmc.fields`). So

    y ~ N(offset + X beta, V),   V = sigma^2 I + sum_k M_k M_k'

exactly (Rasmussen & Williams 2006, eq. 2.30 and alg. 2.1), and NUTS moves only ``beta``,
``log sigma``, the bar covariance factors and the fields' log hyperparameters, the same
parameter vector as the non-centred :class:`~spatialgamm.mcmc.spatial_density.FieldDensity`
without its standard normals. With ``alpha = V^-1 r`` (``r`` the residual of the fixed part)
and ``G = alpha alpha' - V^-1``, every derivative is ``1/2 tr(G dV)``:

    d/d beta = X' alpha;   d/d log sigma = sigma^2 tr G;
    bar term, d/dT = sum_l B_l T with B_l the level-l block of Z'GZ;
    exact GP: <P'GP, K0> and 1/2 <P'GP, K0 * D^2 / lscale^2> (log sdgp, log lscale);
    Hilbert-space GP: sum_j d_j s_j^2 (1, D/2 - lscale^2 omega_j^2 / 2), d = diag(Psi'G Psi);
    spde(): with W = K^-1 A', U = K^-1 Ct W and c = 1/tau, d/d log sigma = tr(G V_f) and
    d/d log kappa = tr(G V_f) - 2 kappa^2 c^2 tr(G W'Ct U) (log range = -log kappa + const).

The priors are :class:`~spatialgamm.mcmc.density.MarginalGaussian`'s (one implementation,
inherited from its base) and the fields' own. After sampling, :meth:`complete` draws every
standard normal ``u`` from its conditional Gaussian given the draw's hyperparameters and y by
Matheron's rule (``u = u0 + M' V^-1 (r - M u0 - e0)`` with ``u0 ~ N(0, I)``,
``e0 ~ N(0, sigma^2 I)``: an exact draw from ``N(M'V^-1 r, I - M'V^-1 M)`` using only V's
factor), so the InferenceData, posterior maps and epred read the full non-centred vector
exactly as before.

The covariance form costs O(n^3) per gradient (n observations): models with more than
:data:`MAX_N` observations are sampled non-centred instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .covariance import from_matrix, theta_from_phi, to_matrix
from .density import _Base
from .fields import JITTER, ApproxGP, ExactGP
from .sampler import chain_seed
from .spatial_density import FieldDensity

#: largest number of observations sampled in the covariance form (V is n x n, dense)
MAX_N = 3000


def _site_map(f: Any, n: int) -> sp.csr_matrix:
    """The n x sites matrix of a GP part's ``to_eta`` (rows, site index, multiplier)."""
    p = f.part
    return sp.csr_matrix((p.cgp, (p.rows, p.jgp)), shape=(n, len(p.sites)))


@dataclass
class MarginalFieldGaussian(_Base):
    """Log posterior of a Gaussian model with fields in the covariance form (module doc).

    ``full`` is the non-centred density of the same model: its layout, fields and priors are
    used as they are; this density's vector is the first :attr:`dim` entries of its vector.
    """

    full: FieldDensity | None = None
    maps: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        full = self.full
        self.n = len(self.y)
        self.yo = self.y - self.offset
        self.fields = full.fields
        self.maps = []
        for f in self.fields:
            if isinstance(f, ExactGP):
                self.maps.append(_site_map(f, self.n))
            elif isinstance(f, ApproxGP):
                self.maps.append(np.asarray(_site_map(f, self.n) @ f.Phi))
            else:
                self.maps.append(f.A)
        self.Zc = sp.csc_matrix(self.Z)

    @property
    def dim(self) -> int:
        return self.layout.z.start

    # ---- the covariance and its pieces -------------------------------------------------
    def _bar_factors(self, x: np.ndarray) -> list[tuple[Any, np.ndarray, sp.csc_matrix]]:
        """Per bar term: the term, ``T`` and ``Z_t (I (x) T)`` (sparse)."""
        out = []
        for t in self.layout.terms:
            theta, _ = theta_from_phi(x[t.phi], t.nc)
            T = to_matrix(theta, t.nc)
            ZT = self.Zc[:, t.cols] @ sp.kron(sp.eye(t.n_levels), sp.csc_matrix(T))
            out.append((t, T, sp.csc_matrix(ZT)))
        return out

    def _field_cov(self, f: Any, M: Any, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        """The field's covariance at the data (n x n) and what its gradient needs."""
        if isinstance(f, ExactGP):
            _, K0 = f._chol(h)
            K = K0.copy()
            K[np.diag_indices_from(K)] += JITTER
            return np.asarray(M @ (M @ K).T), (K0,)
        if isinstance(f, ApproxGP):
            s = f._s(h)
            Ms = M * s
            return Ms @ Ms.T, (s,)
        fac, kappa, c = f._factorise(h)
        W = fac(M.T.toarray())  # K^-1 A'
        CW = f.Ct[:, None] * W
        return c * c * (W.T @ CW), (fac, kappa, c, W, CW)

    def _field_grad(self, f: Any, M: Any, G: np.ndarray, h: np.ndarray, Vf: np.ndarray,
                    st: tuple) -> np.ndarray:
        """``1/2 tr(G dV_f / dh)`` for the field's two log hyperparameters."""
        if isinstance(f, ExactGP):
            (K0,) = st
            S = np.asarray(M.T @ (M.T @ G).T)  # P'GP
            l2 = math.exp(2 * h[1])
            return np.array([float(np.sum(S * K0)),
                             0.5 * float(np.sum(S * K0 * (f.D2 / l2)))])
        if isinstance(f, ApproxGP):
            (s,) = st
            d = np.sum(M * (G @ M), axis=0)
            ds = d * s * s
            lsc2 = math.exp(2 * h[1])
            return np.array([float(ds.sum()),
                             float(ds @ (0.5 * f.part.D - 0.5 * lsc2 * f.w2))])
        fac, kappa, c, W, CW = st
        U = fac(CW)
        trGV = float(np.sum(G * Vf))
        # tr(G W'Ct U) = sum((Ct U) * (W G)), G symmetric
        d_kappa = trGV - 2 * kappa * kappa * c * c * float(np.sum((W @ G) * (f.Ct[:, None] * U)))
        return np.array([-d_kappa, trGV])

    def _cov(self, x: np.ndarray) -> tuple[np.ndarray, list, list]:
        s2 = math.exp(2 * float(x[self.layout.sigma]))
        V = np.diag(np.full(self.n, s2))
        bars = self._bar_factors(x)
        for _, _, ZT in bars:
            V += np.asarray((ZT @ ZT.T).todense())
        parts = []
        for f, M in zip(self.fields, self.maps):
            Vf, st = self._field_cov(f, M, x[f.hyper])
            V += Vf
            parts.append((Vf, st))
        return V, bars, parts

    # ---- the fixed effects, conditionally non-centred ----------------------------------
    def _fixed(self, x: np.ndarray, Vi: np.ndarray) -> tuple:
        """``beta = m + R^-1 w`` given V^-1 (module doc): beta, m's residual ``e``, R, and
        ``V^-1 X``, ``P^-1``."""
        p = self.layout.p
        VX = Vi @ self.X
        P = self.X.T @ VX
        R = np.linalg.cholesky(P).T  # P = R'R, R upper
        Pinv = sla.cho_solve((R, False), np.eye(p), check_finite=False)
        m = Pinv @ (VX.T @ self.yo)
        beta = m + sla.solve_triangular(R, x[:p], lower=False, check_finite=False)
        return beta, self.yo - self.X @ m, R, VX, Pinv

    def beta(self, x: np.ndarray) -> np.ndarray:
        """The fixed effects (centred design) at this density's vector ``x``."""
        if self.layout.p == 0:
            return np.zeros(0)
        V, _, _ = self._cov(x)
        return self._fixed(x, np.linalg.inv(V))[0]

    # ---- log posterior -----------------------------------------------------------------
    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior (up to a constant) at ``x`` and its gradient."""
        try:
            return self._logp_grad(np.asarray(x, dtype=float))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ArithmeticError):
            return -np.inf, np.zeros(self.dim)

    def _restricted(self, x: np.ndarray, Vi: np.ndarray, grad: np.ndarray
                    ) -> tuple[float, np.ndarray, np.ndarray]:
        """``-1/2 e'V^-1 e - log|R| - w'w/2 + log p(beta)`` (the ``log|V|`` term aside), the
        gradient in ``w`` (into ``grad``) and ``G`` with ``1/2 tr(G dV)`` the derivative of
        the whole log density in V's parameters."""
        p = self.layout.p
        if p == 0:
            alpha = Vi @ self.yo
            return -0.5 * float(self.yo @ alpha), alpha, np.outer(alpha, alpha) - Vi
        w = x[:p]
        beta, e, R, VX, Pinv = self._fixed(x, Vi)
        alpha = Vi @ e
        G = np.outer(alpha, alpha) - Vi + VX @ Pinv @ VX.T  # alpha alpha' - Pi
        lpb, gb = self._prior_fixed(beta)
        val = (-0.5 * float(e @ alpha) - float(np.sum(np.log(np.diag(R))))
               - 0.5 * float(w @ w) + lpb)
        a = sla.solve_triangular(R, gb, trans="T", lower=False, check_finite=False)
        grad[:p] = a - w
        if np.any(gb != 0):
            # through m(h): g'dm = -c'dV alpha with c = V^-1 X P^-1 g
            c = VX @ (Pinv @ gb)
            G -= np.outer(c, alpha) + np.outer(alpha, c)
            # through R(h)^-1 w: dR = Phi(R^-T dP R^-1) R, Phi the upper triangle, half diag
            Psi = np.triu(np.outer(a, w))
            Psi[np.diag_indices(p)] *= 0.5
            N = sla.solve_triangular(R, sla.solve_triangular(R, Psi.T, lower=False,
                                                             check_finite=False).T,
                                     lower=False, check_finite=False)
            G += VX @ (N + N.T) @ VX.T
        return val, alpha, G

    def _logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        lay = self.layout
        V, bars, parts = self._cov(x)
        cf = sla.cho_factor(V, lower=True, check_finite=False)
        Vi = sla.cho_solve(cf, np.eye(self.n), check_finite=False)
        logdet = 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
        grad = np.zeros(self.dim)
        val, _, G = self._restricted(x, Vi, grad)
        lp = -0.5 * (self.n * math.log(2 * math.pi) + logdet) + val
        s2 = math.exp(2 * float(x[lay.sigma]))
        grad[lay.sigma] = s2 * float(np.trace(G))
        dth = []
        for t, T, _ in bars:
            Zt = self.Zc[:, t.cols]
            B = np.asarray(Zt.T @ (Zt.T @ G).T)
            Bl = B.reshape(t.n_levels, t.nc, t.n_levels, t.nc)
            dth.append(from_matrix(np.einsum("lilj->ij", Bl) @ T))
        lps, gs = self._prior_sigma(float(x[lay.sigma]))
        grad[lay.sigma] += gs
        lp += lps + self._prior_terms(x, grad, dth)
        for f, M, (Vf, st) in zip(self.fields, self.maps, parts):
            h = x[f.hyper]
            v, dh = f.log_prior(h)
            lp += v
            grad[f.hyper] = self._field_grad(f, M, G, h, Vf, st) + dh
        if not np.isfinite(lp) or not np.all(np.isfinite(grad)):
            return -np.inf, np.zeros(self.dim)
        return float(lp), grad

    # ---- the latent values, drawn afterwards -------------------------------------------
    def draw_latent_normals(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of all standard normals (bars' then fields' ``z``, the full layout's
        order) from their conditional Gaussian given ``x`` and y (Matheron's rule)."""
        full = self.full
        lay = self.layout
        V, _, _ = self._cov(x)
        cf = sla.cho_factor(V, lower=True, check_finite=False)
        x = x.copy()
        if lay.p:
            x[:lay.p] = self._fixed(x, sla.cho_solve(cf, np.eye(self.n),
                                                     check_finite=False))[0]
        xf = np.concatenate([x, rng.standard_normal(full.dim - self.dim)])
        s = math.exp(float(x[lay.sigma]))
        fitted = full.eta(xf) - self.offset - self.X @ x[:lay.p]  # M u0
        r = self.yo - self.X @ x[:lay.p]
        a = sla.cho_solve(cf, r - fitted - s * rng.standard_normal(self.n),
                          check_finite=False)
        # M'a: the non-centred density's adjoint (its gradient in z at likelihood gradient a)
        u = xf[self.dim:].copy()
        if lay.terms:
            _, Ts = full.bars(xf)
            Zta = full.Zt @ a
            for t, T in zip(lay.terms, Ts):
                sl = slice(t.cols.start, t.cols.stop)
                u[sl] += (Zta[t.cols].reshape(t.n_levels, t.nc) @ T).ravel()
        for f in self.fields:
            _, st = f.forward(xf[f.hyper], xf[f.z], self.n)
            _, gz = f.backward(st, a)
            zs = slice(f.z.start - self.dim, f.z.stop - self.dim)
            u[zs] += gz
        return np.concatenate([x, u])

    def start(self, init: np.ndarray, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sampler's start from the full layout's: ``w`` near 0 (beta near its
        conditional mean), the rest as given."""
        init, jitter = init[:self.dim].copy(), jitter[:self.dim].copy()
        init[:self.layout.p], jitter[:self.layout.p] = 0.0, 1.0
        return init, jitter

    def complete(self, chains_out: list[dict[str, np.ndarray]],
                 seed: int) -> list[dict[str, np.ndarray]]:
        """The chains' draws with the standard normals appended (the full layout)."""
        out = []
        for c, ch in enumerate(chains_out):
            rng = np.random.default_rng(chain_seed(seed, 30_000 + c))
            x = np.stack([self.draw_latent_normals(xs, rng) for xs in ch["x"]])
            out.append({**ch, "x": x})
        return out


def marginal_field_density(full: FieldDensity) -> MarginalFieldGaussian | None:
    """The covariance-form density of a Gaussian model with fields; None when the model is
    not Gaussian or has more than :data:`MAX_N` observations (sampled non-centred)."""
    if not full.gaussian or full.n > MAX_N:
        return None
    return MarginalFieldGaussian(layout=full.layout, X=full.X, y=full.y, offset=full.offset,
                                 weights=full.weights, Z=full.Z, b_priors=full.b_priors,
                                 sigma_prior=full.sigma_prior, full=full)
