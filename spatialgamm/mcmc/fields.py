"""Latent fields for NUTS, non-centred, with exact gradients: exact GPs, Hilbert-space GPs and
SPDE fields.

Each field owns two hyperparameters on the log scale and ``n_latent`` standard normals ``z``;
:meth:`forward` maps them to the field's contribution to the linear predictor and
:meth:`backward` pulls the gradient of the log-likelihood in eta back to ``(log hyper, z)``.

* :class:`ExactGP` (brms's ``gp()``): ``f = chol(K) z`` with
  ``K = sdgp^2 exp(-D^2 / (2 lscale^2)) + 1e-12 I`` (brms's jitter). With ``K = L L'``,
  ``dL = L Phi(L^-1 dK L^-T)`` (``Phi``: lower triangle, halved diagonal), so for the pulled-back
  gradient ``g`` of ``f``: ``d/dtheta g'L z = <dK/dtheta, L^-T Phi(a z') L^-1>`` with ``a = L'g``
  (one O(m^3) pair of triangular solves per gradient, whatever the number of hyperparameters).
* :class:`ApproxGP` (``gp(..., k=, c=)``): ``f = Phi (s * z)``, ``s_j = sqrt(S(omega_j))``,
  ``d log s_j / d log lscale = D/2 - lscale^2 omega_j^2 / 2``, ``d log s_j / d log sdgp = 1``.
* :class:`SPDEField` (alpha = 2): the precision is ``Q = tau^2 K Ct^-1 K`` with the pencil
  ``K = kappa^2 Ct + G`` (Lindgren et al. 2011), so ``x = tau^-1 K^-1 Ct^1/2 z`` has precision
  ``Q``: the non-centred field costs one sparse Cholesky factorisation of ``K`` (CHOLMOD, the
  symbolic analysis once) and one solve; with ``1/tau = sqrt(4 pi) kappa sigma`` and
  ``kappa = sqrt(8) / range``, ``dx/d log sigma = x`` and
  ``dx/d log kappa = x - 2 kappa^2 K^-1 Ct x``, so the gradient adds one more solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .gp_terms import GPPart
from .priors import Prior

JITTER = 1e-12
#: largest mesh whose pencil is diagonalised once (dense, O(m^3)) for the centred spde() prior
EIG_MAX = 4000


def _half_prior(p: Prior, log_v: float) -> tuple[float, float]:
    """A scalar prior on ``v = exp(log_v)`` as a density of ``log_v`` and its derivative."""
    v = math.exp(log_v)
    if p.name == "flat":
        return log_v, 1.0
    if p.name == "inv_gamma":
        a, b = p.args
        return -a * log_v - b / v, -a + b / v
    lp, d = p.logpdf(v)
    return float(lp) + log_v, float(d) * v + 1.0


@dataclass
class GPField:
    """Common part of the two GP forms: priors, names, where the field enters eta."""

    part: GPPart
    sdgp_prior: Prior
    lscale_prior: Prior
    hyper: slice = field(default_factory=lambda: slice(0, 0))  # (log sdgp, log lscale)
    z: slice = field(default_factory=lambda: slice(0, 0))

    n_hyper = 2

    @property
    def label(self) -> str:
        return self.part.label

    @property
    def n_latent(self) -> int:
        return self.part.n_latent

    @property
    def hyper_names(self) -> list[str]:
        return [f"sdgp_{self.label}", f"lscale_{self.label}"]

    def log_prior(self, h: np.ndarray) -> tuple[float, np.ndarray]:
        """Priors of ``(sdgp, lscale)`` as densities of their logs, and the gradient."""
        a, da = _half_prior(self.sdgp_prior, float(h[0]))
        b, db = _half_prior(self.lscale_prior, float(h[1]))
        return a + b, np.array([da, db])

    def to_eta(self, f: np.ndarray, n: int) -> np.ndarray:
        """The field's contribution to the linear predictor of all ``n`` rows."""
        out = np.zeros(n)
        out[self.part.rows] = self.part.cgp * f[self.part.jgp]
        return out

    def from_eta(self, g: np.ndarray) -> np.ndarray:
        """Adjoint of :meth:`to_eta`: the gradient in the site values."""
        p = self.part
        return np.bincount(p.jgp, weights=g[p.rows] * p.cgp, minlength=len(p.sites))

    def natural(self, h: np.ndarray) -> np.ndarray:
        return np.exp(h)


@dataclass
class ExactGP(GPField):
    """Exact GP over the part's unique sites, ``f = chol(K) z``."""

    def __post_init__(self) -> None:
        s = self.part.sites
        self.D2 = np.sum((s[:, None, :] - s[None, :, :]) ** 2, axis=-1)

    def _chol(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sd2, l2 = math.exp(2 * h[0]), math.exp(2 * h[1])
        K0 = sd2 * np.exp(-0.5 * self.D2 / l2)
        K = K0.copy()
        K[np.diag_indices_from(K)] += JITTER
        return np.linalg.cholesky(K), K0

    def site_values(self, h: np.ndarray, z: np.ndarray) -> np.ndarray:
        L, _ = self._chol(h)
        return L @ z

    def forward(self, h: np.ndarray, z: np.ndarray, n: int) -> tuple[np.ndarray, tuple]:
        """The field's contribution to eta (n rows) and what :meth:`backward` needs."""
        L, K0 = self._chol(h)
        return self.to_eta(L @ z, n), (L, K0, h, z)

    def backward(self, state: tuple, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients in ``(log sdgp, log lscale)`` and ``z`` from ``g = dlogL/deta``."""
        L, K0, h, z = state
        a = L.T @ self.from_eta(g)
        P = np.tril(np.outer(a, z), -1)
        P[np.diag_indices_from(P)] = 0.5 * a * z
        Y = sla.solve_triangular(L, P, trans="T", lower=True, check_finite=False)
        W = sla.solve_triangular(L, Y.T, trans="T", lower=True, check_finite=False).T
        l2 = math.exp(2 * h[1])
        gh = np.array([2.0 * float(np.sum(K0 * W)),
                       float(np.sum(K0 * (self.D2 / l2) * W))])
        return gh, a

    def at_new(self, h: np.ndarray, z: np.ndarray, xs: np.ndarray,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """The field at new scaled values ``xs`` given its site values ``f``: the conditional
        mean ``K*s K^-1 f`` plus (with ``rng``) a draw of each point's conditional SD (per
        point, not joint: enough for per-cell posterior summaries)."""
        L, _ = self._chol(h)
        f = L @ z
        sd2, l2 = math.exp(2 * h[0]), math.exp(2 * h[1])
        d2 = np.sum((xs[:, None, :] - self.part.sites[None, :, :]) ** 2, axis=-1)
        Ks = sd2 * np.exp(-0.5 * d2 / l2)
        alpha = sla.cho_solve((L, True), f, check_finite=False)
        mean = Ks @ alpha
        if rng is None:
            return mean
        V = sla.solve_triangular(L, Ks.T, lower=True, check_finite=False)
        var = np.maximum(sd2 - np.sum(V * V, axis=0), 0.0)
        return mean + np.sqrt(var) * rng.standard_normal(len(mean))


@dataclass
class ApproxGP(GPField):
    """Hilbert-space GP, ``f = Phi (sqrt(S(omega)) * z)`` on the part's unique sites."""

    def __post_init__(self) -> None:
        self.Phi = self.part.basis(self.part.sites)
        self.w2 = self.part.omega2()

    def _s(self, h: np.ndarray) -> np.ndarray:
        D = self.part.D
        lsc = math.exp(h[1])
        log_s = h[0] + 0.5 * D * math.log(math.sqrt(2 * math.pi) * lsc) \
            - 0.25 * lsc * lsc * self.w2
        return np.exp(log_s)

    def site_values(self, h: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.Phi @ (self._s(h) * z)

    def forward(self, h: np.ndarray, z: np.ndarray, n: int) -> tuple[np.ndarray, tuple]:
        sv = self._s(h)
        return self.to_eta(self.Phi @ (sv * z), n), (sv, h, z)

    def backward(self, state: tuple, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sv, h, z = state
        Ptg = self.Phi.T @ self.from_eta(g)
        sz = Ptg * sv * z
        lsc2 = math.exp(2 * h[1])
        gh = np.array([float(sz.sum()),
                       float(sz @ (0.5 * self.part.D - 0.5 * lsc2 * self.w2))])
        return gh, Ptg * sv

    def at_new(self, h: np.ndarray, z: np.ndarray, xs: np.ndarray,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """The field at new scaled values ``xs``: the basis there times the weights."""
        return self.part.basis(xs) @ (self._s(h) * z)


def _on_pattern(M: sp.spmatrix, K: sp.csc_matrix) -> np.ndarray:
    """Values of ``M`` at the stored entries of ``K`` (sorted CSC; zeros elsewhere)."""
    M = sp.csc_matrix(M)
    out = np.zeros(K.nnz)
    for j in range(K.shape[1]):
        lo, hi = K.indptr[j], K.indptr[j + 1]
        mlo, mhi = M.indptr[j], M.indptr[j + 1]
        pos = np.searchsorted(K.indices[lo:hi], M.indices[mlo:mhi])
        out[lo + pos] = M.data[mlo:mhi]
    return out


@dataclass
class SPDEField:
    """A Matern (alpha = 2) SPDE field on a mesh, non-centred through the pencil's Cholesky
    factor (module doc). Hyperparameters ``(log range, log sigma)``, PC prior."""

    name: str
    label: str
    variables: tuple[str, str]
    A: sp.csc_matrix  # projector of the data rows (n x nodes)
    Ct: np.ndarray  # lumped mass (diagonal)
    G: sp.csc_matrix
    mesh: Any
    prior_range: tuple[float, float]
    prior_sigma: tuple[float, float]
    prior_source: str = "default"
    hyper: slice = field(default_factory=lambda: slice(0, 0))
    z: slice = field(default_factory=lambda: slice(0, 0))
    #: the ``z`` slot holds the node values ``x`` themselves (the centred form, see
    #: :meth:`latent_prior`); the fit reports ``z`` (:meth:`to_standard`) either way
    centred: bool = False

    n_hyper = 2

    def __post_init__(self) -> None:
        self.Ctm = sp.diags(self.Ct, format="csc")
        self.sqrt_ct = np.sqrt(self.Ct)
        self._factor = None  # CHOLMOD's symbolic analysis, made once per process
        # the pencil K = kappa^2 Ct + G on one fixed pattern: each evaluation refills data
        K = sp.csc_matrix(self.Ctm + self.G)
        K.sort_indices()
        self._K = K
        self._g_data = _on_pattern(self.G, K)
        self._ct_data = _on_pattern(self.Ctm, K)
        self.At = sp.csr_matrix(self.A.T)
        r0, pr = self.prior_range
        s0, ps = self.prior_sigma
        self.lam_r = -math.log(pr) * r0  # d = 2: lambda_r = -log(p_r) r0^(d/2)
        self.lam_s = -math.log(ps) / s0

    @property
    def n_latent(self) -> int:
        return len(self.Ct)

    @property
    def hyper_names(self) -> list[str]:
        return [f"range_{self.label}", f"sigma_{self.label}"]

    def natural(self, h: np.ndarray) -> np.ndarray:
        return np.exp(h)

    def log_prior(self, h: np.ndarray) -> tuple[float, np.ndarray]:
        """PC prior (Fuglstad et al. 2019, d = 2) as a density of (log range, log sigma)."""
        r, s = math.exp(h[0]), math.exp(h[1])
        lp = (math.log(self.lam_r) - h[0] - self.lam_r / r
              + math.log(self.lam_s) - self.lam_s * s + h[1])
        return lp, np.array([-1.0 + self.lam_r / r, 1.0 - self.lam_s * s])

    def __getstate__(self) -> dict:
        # a CHOLMOD factor does not pickle: worker processes analyse the pattern again
        return {k: v for k, v in self.__dict__.items() if k != "_factor"} | {"_factor": None}

    def _factorise(self, h: np.ndarray) -> tuple[Any, float, float]:
        from sksparse.cholmod import analyze

        kappa, c = self._pencil(h)
        K = self._K
        if self._factor is None:
            self._factor = analyze(K)
        fac = self._factor
        fac.cholesky_inplace(K)  # numeric only: the symbolic analysis is reused
        return fac, kappa, c

    def _pencil(self, h: np.ndarray) -> tuple[float, float]:
        """Refill ``K = kappa^2 Ct + G`` on its fixed pattern; ``kappa`` and ``c = 1/tau``."""
        kappa = math.sqrt(8.0) / math.exp(h[0])
        self._K.data = self._g_data + kappa * kappa * self._ct_data
        return kappa, math.sqrt(4 * math.pi) * kappa * math.exp(h[1])

    def nodes(self, h: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The field at the mesh nodes."""
        fac, _, c = self._factorise(h)
        return c * fac(self.sqrt_ct * z)

    def forward(self, h: np.ndarray, z: np.ndarray, n: int) -> tuple[np.ndarray, tuple]:
        if self.centred:
            return self.A @ z, ()
        fac, kappa, c = self._factorise(h)
        x = c * fac(self.sqrt_ct * z)
        return self.A @ x, (fac, kappa, c, x)

    def backward(self, state: tuple, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.centred:  # the likelihood sees x only: the hyperparameters act in the prior
            return np.zeros(2), self.At @ g
        fac, kappa, c, x = state
        gx = self.At @ g
        kg = fac(gx)  # K^-1 A'g (K symmetric)
        d_log_sigma = float(gx @ x)
        d_log_kappa = d_log_sigma - 2 * kappa * kappa * float(kg @ (self.Ct * x))
        return np.array([-d_log_kappa, d_log_sigma]), c * self.sqrt_ct * kg

    def latent_prior(self, h: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray,
                                                                    np.ndarray]:
        """Centred form: ``log N(x; 0, Q^-1)`` (up to a constant) with
        ``Q = tau^2 K Ct^-1 K``, and its gradient in ``(log range, log sigma)`` and ``x``.

        ``log|Q| = m log tau^2 + 2 log|K| - sum log Ct`` (m nodes), so with ``q = x'Qx``:
        ``d/d log sigma = q - m`` and
        ``d/d log kappa = q - m + 2 kappa^2 tr(K^-1 Ct) - 2 kappa^2 tau^2 (Kx)'x``.
        ``log|K|`` and the trace come from the eigenvalues ``lambda`` of
        ``Ct^-1/2 G Ct^-1/2`` (``sum log(kappa^2 + lambda)``, ``sum 1/(kappa^2 + lambda)``),
        found once; above :data:`EIG_MAX` nodes from the factor and its selected inverse.
        """
        from .engine_adapter import selected_inverse_from_factor

        lam = self._pencil_eigenvalues()
        kappa, c = self._pencil(h) if lam is not None else self._factorise(h)[1:]
        Kx = self._K @ x
        CKx = Kx / self.Ct
        tau2 = 1.0 / (c * c)
        q = tau2 * float(Kx @ CKx)
        m = len(x)
        k2 = kappa * kappa
        if lam is not None:  # K = Ct^1/2 (k^2 I + U diag(lam) U') Ct^1/2: O(m) per call
            logdet_k = float(np.sum(np.log(self.Ct)) + np.sum(np.log(k2 + lam)))
            tr_kct = float(np.sum(1.0 / (k2 + lam)))
        else:
            fac = self._factor
            logdet_k = fac.logdet()
            tr_kct = float(selected_inverse_from_factor(fac.L(), fac.P()).diagonal()
                           @ self.Ct)
        val = -m * math.log(c) + logdet_k - 0.5 * float(np.sum(np.log(self.Ct))) - 0.5 * q
        d_kappa = q - m + 2 * k2 * tr_kct - 2 * k2 * tau2 * float(Kx @ x)
        return val, np.array([-d_kappa, q - m]), -tau2 * (self._K @ CKx)

    def _pencil_eigenvalues(self) -> np.ndarray | None:
        """Eigenvalues of ``Ct^-1/2 G Ct^-1/2`` (once per field; None above
        :data:`EIG_MAX` nodes, where the selected inverse is used instead)."""
        if self.n_latent > EIG_MAX:
            return None
        if getattr(self, "_eig", None) is None:
            d = 1.0 / self.sqrt_ct
            S = (self.G.multiply(d[:, None]).multiply(d[None, :])).toarray()
            self._eig = np.clip(np.linalg.eigvalsh(0.5 * (S + S.T)), 0.0, None)
        return self._eig

    def to_standard(self, h: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The standard normals ``z = tau Ct^-1/2 K x`` of node values ``x`` (the inverse of
        the non-centred map)."""
        _, c = self._pencil(h)
        return (self._K @ x) / (c * self.sqrt_ct)

    def at_new(self, h: np.ndarray, z: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """The field at new points ``xy`` (n x 2): the projector times the node values."""
        return self.mesh.projector(xy) @ self.nodes(h, z)
