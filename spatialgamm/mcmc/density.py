"""Log posterior densities and their exact gradients, in numpy/scipy, for the NUTS driver.

Two forms of the one model ``eta = offset + X beta + Z Lambda u``:

* :class:`MarginalGaussian` (Gaussian, identity link): the random effects are integrated out
  exactly, ``y ~ N(X beta, sigma^2 I + Z Lambda Lambda' Z')``; NUTS moves only the fixed
  effects, ``log sigma`` and the covariance factors, and :meth:`MarginalGaussian.draw_latent`
  draws ``u`` afterwards from its conditional Gaussian ``N(u*, A^-1)`` with
  ``A = I + Lambda' Z' Z Lambda / sigma^2``.
* :class:`NonCentredGLMM` (binomial, Poisson, ...): ``u ~ N(0, I)`` is sampled with the rest
  (the non-centred parameterisation, which avoids the funnel of small group SDs).

The marginal log-likelihood and its gradient (derivation in docs/BAYES_MCMC.md): with
``M = Z Lambda``, ``u* = A^-1 M' e / sigma^2``, ``r = e - M u*`` and ``alpha = r / sigma^2``,

    log p(y) = -n/2 log 2 pi - n log sigma - 1/2 log|A| - 1/2 (r'r / sigma^2 + u*'u*)
    d/d beta          = X' alpha
    d/d log sigma     = -(n - q + tr A^-1) + sigma^2 alpha'alpha
    d/d Lambda_ij     = (Z' alpha)_i u*_j - (A^-1 Lambda' Z' Z)_ji / sigma^2

The fixed effects are sampled on the centred design (brms's ``Intercept`` is the intercept at
the covariates' means); :meth:`Layout.beta` maps back to R's coefficients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import special

from ..families import NegativeBinomial
from . import compiled
from .covariance import diagonal_entries, from_matrix, log_prior_T, theta_from_phi, to_matrix
from .engine_adapter import ModelData
from .priors import Prior, resolve
from .shape_families import has_shape


@dataclass
class TermPart:
    """What the density needs of one bar term."""

    name: str
    group: str
    nc: int
    n_levels: int
    cov_names: list[str]
    cols: slice  # columns in the stacked Z
    rows: np.ndarray  # row and column (within the term) of each stored Lambda value
    colidx: np.ndarray
    jacobian: np.ndarray  # (nnz, n_theta)
    sd_priors: list[Prior]
    lkj_eta: float
    wishart: Prior | None
    disjoint: bool = True  # levels touch disjoint rows (bars), not a smooth's dense Z'Z
    smooth_name: str = ""  # a smooth's part: brms's suffix of sds_ / s_ (``sx_1``)
    phi: slice = field(default_factory=lambda: slice(0, 0))  # entries in the parameter vector

    @property
    def n_theta(self) -> int:
        return self.nc * (self.nc + 1) // 2


@dataclass
class Layout:
    """Where each parameter lives in the unconstrained vector NUTS moves."""

    p: int
    x_names: list[str]
    center: np.ndarray  # means subtracted from the non-intercept columns (0 when not centred)
    intercept: int | None  # column of the intercept, None without one (or not centred)
    sigma: int | None
    terms: list[TermPart]
    z: slice | None
    dim: int
    shape: int | None = None  # log shape of the negative binomial / Gamma
    smooth_fixed: tuple[str, ...] = ()  # the smooths' unpenalised columns (brms's bs_)

    def beta(self, x: np.ndarray) -> np.ndarray:
        """R's fixed effects from the centred ones (``x``: (..., dim))."""
        b = np.array(x[..., :self.p], dtype=float)
        if self.intercept is not None:
            b[..., self.intercept] -= b @ self.center
        return b


def _centre(X: np.ndarray, names: list[str], center: bool) -> tuple[np.ndarray, np.ndarray,
                                                                      int | None]:
    icol = next((j for j, nm in enumerate(names) if nm == "(Intercept)"), None)
    means = np.zeros(X.shape[1])
    if icol is None or not center:
        return X, means, None
    means = X.mean(axis=0)
    means[icol] = 0.0
    return X - means[None, :], means, icol


def _term_parts(md: ModelData, priors: list[Prior]) -> list[TermPart]:
    out = []
    for t in md.terms:
        T = t.template.tocoo()
        # CSC stored order = canonical column-major order of the pattern
        tmpl = t.template
        cols = np.repeat(np.arange(tmpl.shape[1]), np.diff(tmpl.indptr))
        wish = resolve(priors, "cov", "", t.group)
        wish = wish if wish.source == "user" else None
        cor = resolve(priors, "cor", "", t.group)
        del T
        out.append(TermPart(
            name=t.name, group=t.group, nc=t.nc, n_levels=t.n_levels, cov_names=t.cov_names,
            cols=t.col,
            rows=tmpl.indices.astype(np.intp), colidx=cols.astype(np.intp),
            jacobian=t.jacobian, sd_priors=[resolve(priors, "sd", c, t.group)
                                            for c in t.cov_names] if t.smooth is None
            else [resolve(priors, "sds", t.smooth.term_text)],  # brms's class of smooth SDs
            disjoint=t.smooth is None, smooth_name="" if t.smooth is None else t.smooth.name,
            lkj_eta=cor.args[0] if cor.name == "lkj" else 1.0, wishart=wish))
    return out


@dataclass
class _Base:
    layout: Layout
    X: np.ndarray  # centred design
    y: np.ndarray
    offset: np.ndarray
    weights: np.ndarray
    Z: sp.csc_matrix
    b_priors: list[Prior]  # one per fixed effect (the intercept's is class Intercept)
    sigma_prior: Prior | None = None

    @property
    def dim(self) -> int:
        return self.layout.dim

    def lambda_matrix(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Dense ``Lambda`` (q x q) at parameters ``x`` and each term's ``theta``."""
        q = self.Z.shape[1]
        Lam = np.zeros((q, q))
        thetas = []
        for t in self.layout.terms:
            theta, _ = theta_from_phi(x[t.phi], t.nc)
            thetas.append(theta)
            vals = t.jacobian @ theta  # stored values are linear in theta (lme4 bars)
            o = t.cols.start
            Lam[o + t.rows, o + t.colidx] = vals
        return Lam, thetas

    def _prior_fixed(self, beta: np.ndarray) -> tuple[float, np.ndarray]:
        lp, g = 0.0, np.zeros_like(beta)
        for j, p in enumerate(self.b_priors):
            if p.name != "flat":
                v, d = p.logpdf(beta[j])
                lp += float(v)
                g[j] = float(d)
        return lp, g

    def _prior_terms(self, x: np.ndarray, grad: np.ndarray,
                     dtheta: list[np.ndarray]) -> float:
        """Add the covariance priors (with the log-diagonal Jacobian) to ``grad``; ``dtheta``
        holds each term's likelihood gradient in theta, converted here to phi."""
        lp = 0.0
        for t, gl in zip(self.layout.terms, dtheta):
            if t.nc == 1 and t.wishart is None:  # one SD: scalar arithmetic (runs per step)
                phi = float(x[t.phi.start])
                sd = math.exp(phi)
                h, dh = t.sd_priors[0].logpdf(sd)
                lp += float(h) + phi
                grad[t.phi.start] = (float(gl[0]) + float(dh)) * sd + 1.0
                continue
            theta, dth = theta_from_phi(x[t.phi], t.nc)
            T = to_matrix(theta, t.nc)
            v, G = log_prior_T(T, t.sd_priors, t.lkj_eta, t.wishart)
            lp += v + float(np.sum(np.log(np.diag(T))))  # Jacobian of log T_ii
            grad[t.phi] = (gl + from_matrix(G)) * dth + diagonal_entries(t.nc)
        return lp

    def _prior_sigma(self, log_sigma: float) -> tuple[float, float]:
        """Prior of sigma in ``log sigma`` (with the Jacobian) and its derivative."""
        p = self.sigma_prior
        s = float(np.exp(log_sigma))
        if p is None or p.name == "flat":
            return log_sigma, 1.0
        if p.name == "gamma_precision":  # Gamma(a, b) on tau = sigma^-2; |d tau/d log s| = 2 tau
            a, b = p.args
            tau = s ** -2
            return -2 * a * log_sigma - b * tau, -2 * a + 2 * b * tau
        v, d = p.logpdf(s)
        return float(v) + log_sigma, float(d) * s + 1.0


@dataclass
class MarginalGaussian(_Base):
    """Gaussian LMM with the random effects integrated out exactly.

    One bar term (the common case) takes a grouped path: ``Z'Z`` and ``A`` are block diagonal
    with one ``nc x nc`` block per level, factorised in one batched call. Several terms take
    the dense ``q x q`` path.
    """

    def __post_init__(self) -> None:
        Zd = self.Z
        self.XtX = self.X.T @ self.X
        self.yo = self.y - self.offset
        self.Xty = self.X.T @ self.yo
        self.yty = float(self.yo @ self.yo)
        # the grouped path needs block-diagonal Z'Z (one block per level): bars, not smooths
        self.grouped = len(self.layout.terms) == 1 and self.layout.terms[0].disjoint
        self.ZtZ = np.asarray((Zd.T @ Zd).todense())
        self.ZtX = np.asarray(Zd.T @ self.X)
        self.Zty = np.asarray(Zd.T @ self.yo).ravel()
        if self.grouped:
            t = self.layout.terms[0]
            L, nc = t.n_levels, t.nc
            idx = np.arange(L * nc).reshape(L, nc)
            self.ZtZb = self.ZtZ[idx[:, :, None], idx[:, None, :]]  # (L, nc, nc)
            self.ZtXb = self.ZtX.reshape(L, nc, -1)
            self.Ztyb = self.Zty.reshape(L, nc)
        self._kernel_args = self._compiled_args()

    def _compiled_args(self) -> tuple | None:
        """Arguments of :func:`compiled.gaussian_grouped` (None: the numpy path is used:
        numba missing, several terms, or a prior the kernel does not take)."""
        if not (compiled.HAVE_NUMBA and self.grouped):
            return None
        t = self.layout.terms[0]
        enc = [compiled.encode_prior(p) for p in self.b_priors]
        sig = compiled.encode_prior(self.sigma_prior)
        sds = [compiled.encode_prior(p) for p in t.sd_priors]
        if t.wishart is not None or any(e is None for e in [*enc, sig, *sds]):
            return None
        lay = self.layout
        return (lay.p, lay.sigma, t.phi.start, t.nc, np.ascontiguousarray(self.ZtZb),
                np.ascontiguousarray(self.ZtXb), np.ascontiguousarray(self.Ztyb),
                np.ascontiguousarray(self.XtX), self.Xty, self.yty, float(len(self.y)),
                np.array([e[0] for e in enc], dtype=np.int64),
                np.array([e[1] for e in enc]).reshape(len(enc), 3), sig[0], sig[1],
                np.array([e[0] for e in sds], dtype=np.int64), np.array([e[1] for e in sds]),
                float(t.lkj_eta))

    # ---- grouped path (one bar term) ------------------------------------------------------
    def _solve_grouped(self, x: np.ndarray):
        lay = self.layout
        t = lay.terms[0]
        beta = x[:lay.p]
        s2 = float(np.exp(2 * x[lay.sigma]))
        theta, _ = theta_from_phi(x[t.phi], t.nc)
        T = to_matrix(theta, t.nc)
        Zte = self.Ztyb - self.ZtXb @ beta  # (L, nc)
        A = np.eye(t.nc) + T.T @ self.ZtZb @ T / s2
        Ainv = np.linalg.inv(A)
        ustar = (Ainv @ (Zte @ T)[:, :, None])[:, :, 0] / s2
        return beta, s2, T, Zte, A, Ainv, ustar

    def _logp_grouped(self, x: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray]]:
        lay = self.layout
        n = len(self.y)
        beta, s2, T, Zte, A, Ainv, ustar = self._solve_grouped(x)
        chol = np.linalg.cholesky(A)
        b = ustar @ T.T  # Lambda u*, per level
        ete = self.yty - 2 * float(beta @ self.Xty) + float(beta @ self.XtX @ beta)
        ZtZb_b = (self.ZtZb @ b[:, :, None])[:, :, 0]
        rr = ete - 2 * float(np.sum(b * Zte)) + float(np.sum(b * ZtZb_b))
        logdet = 2 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
        ll = (-0.5 * n * np.log(2 * np.pi) - n * x[lay.sigma] - 0.5 * logdet
              - 0.5 * (rr / s2 + float(np.sum(ustar * ustar))))
        grad = np.zeros(self.dim)
        Xte = self.Xty - self.XtX @ beta
        grad[:lay.p] = (Xte - self.ZtX.T @ b.ravel()) / s2
        q = b.size
        grad[lay.sigma] = -(n - q + float(np.trace(Ainv, axis1=1, axis2=2).sum())) + rr / s2
        Zta = (Zte - ZtZb_b) / s2
        # d/dT_rc = sum_l Zta_lr u_lc - sum_l (A_l^-1 T' ZtZ_l)_cr / sigma^2
        Csum = np.sum(Ainv @ (T.T @ self.ZtZb), axis=0) / s2
        G = Zta.T @ ustar - Csum.T
        return float(ll), grad, [from_matrix(G)]

    # ---- dense path (several terms) -------------------------------------------------------
    def _solve_dense(self, x: np.ndarray):
        lay = self.layout
        beta = x[:lay.p]
        s2 = float(np.exp(2 * x[lay.sigma]))
        Lam, _ = self.lambda_matrix(x)
        Zte = self.Zty - self.ZtX @ beta
        q = Lam.shape[0]
        A = np.eye(q) + Lam.T @ self.ZtZ @ Lam / s2
        cf = sla.cho_factor(A, lower=True, check_finite=False)
        ustar = sla.cho_solve(cf, Lam.T @ Zte / s2, check_finite=False)
        return beta, s2, Lam, Zte, cf, ustar

    def _logp_dense(self, x: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray]]:
        lay = self.layout
        n = len(self.y)
        beta, s2, Lam, Zte, cf, ustar = self._solve_dense(x)
        q = Lam.shape[0]
        b = Lam @ ustar
        ete = self.yty - 2 * float(beta @ self.Xty) + float(beta @ self.XtX @ beta)
        ZtZ_b = self.ZtZ @ b
        rr = ete - 2 * float(b @ Zte) + float(b @ ZtZ_b)
        logdet = 2 * float(np.sum(np.log(np.diag(cf[0]))))
        ll = (-0.5 * n * np.log(2 * np.pi) - n * x[lay.sigma] - 0.5 * logdet
              - 0.5 * (rr / s2 + ustar @ ustar))
        grad = np.zeros(self.dim)
        grad[:lay.p] = (self.Xty - self.XtX @ beta - self.ZtX.T @ b) / s2
        Ainv = sla.cho_solve(cf, np.eye(q), check_finite=False)
        grad[lay.sigma] = -(n - q + np.trace(Ainv)) + rr / s2
        Zta = (Zte - ZtZ_b) / s2
        C = Ainv @ (Lam.T @ self.ZtZ) / s2  # A^-1 Lambda' Z'Z / sigma^2
        dth = []
        for t in lay.terms:
            o = t.cols.start
            i, j = o + t.rows, o + t.colidx
            dth.append(t.jacobian.T @ (Zta[i] * ustar[j] - C[j, i]))
        return float(ll), grad, dth

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior (up to a constant) at ``x`` and its gradient."""
        if self._kernel_args is not None:
            lp, grad = compiled.gaussian_grouped(np.asarray(x, dtype=float),
                                                 *self._kernel_args)
            return float(lp), grad
        return self.logp_grad_numpy(x)

    def logp_grad_numpy(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`logp_grad` in numpy (several terms, Wishart priors, no numba)."""
        lay = self.layout
        try:
            ll, grad, dth = (self._logp_grouped if self.grouped else self._logp_dense)(x)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return -np.inf, np.zeros(self.dim)
        lpb, gb = self._prior_fixed(x[:lay.p])
        grad[:lay.p] += gb
        lps, gs = self._prior_sigma(float(x[lay.sigma]))
        grad[lay.sigma] += gs
        lpt = self._prior_terms(x, grad, dth)
        out = ll + lpb + lps + lpt
        if not np.isfinite(out) or not np.all(np.isfinite(grad)):
            return -np.inf, np.zeros(self.dim)
        return float(out), grad

    def draw_latent(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of ``b = Lambda u`` (level-major, all terms) from its conditional
        Gaussian ``N(Lambda u*, Lambda A^-1 Lambda')`` given ``x`` and y."""
        if self.grouped:
            _, _, T, _, A, _, ustar = self._solve_grouped(x)
            chol = np.linalg.cholesky(A)
            eps = rng.standard_normal(ustar.shape)
            u = ustar + np.linalg.solve(np.swapaxes(chol, 1, 2), eps[..., None])[..., 0]
            return (u @ T.T).ravel()
        _, _, Lam, _, cf, ustar = self._solve_dense(x)
        eps = rng.standard_normal(len(ustar))
        u = ustar + sla.solve_triangular(cf[0], eps, lower=True, trans="T",
                                         check_finite=False)
        return Lam @ u


@dataclass
class NonCentredGLMM(_Base):
    """GLMM with ``b = Lambda z``, ``z ~ N(0, I)`` sampled jointly with the rest.

    For a bar term ``Lambda = I (x) T``, so ``b_l = T z_l`` per level and the gradient in
    ``T`` is ``sum_l (Z'g)_l z_l'`` with ``g = d log p(y) / d eta``.
    """

    family: object = None
    shape_prior: Prior | None = None

    def __post_init__(self) -> None:
        fam = self.family
        self.fast = (fam.canonical and fam.name in ("binomial", "poisson"))
        self.const = 0.0
        if self.fast:
            # the log-likelihood without its constant, plus the constant once
            mu0 = np.full(len(self.y), 0.5 if fam.name == "binomial" else 1.0)
            eta0 = fam.link.linkfun(mu0)
            self.const = float(np.sum(fam.loglik_obs(self.y, mu0, self.weights))) \
                - self._kernel(eta0)[0]
        self.Zt = sp.csr_matrix(self.Z.T)
        self.code = family_code(fam)
        if self.code == compiled.NEGBIN_LOG:  # -log y! (the rest depends on the shape)
            self.const = -float(np.sum(self.weights * special.gammaln(self.y + 1.0)))
        self._kernel_args = self._compiled_args()
        if self.layout.shape is not None and self._kernel_args is None:
            raise NotImplementedError(f"brm(): family {fam.name!r} needs numba (the compiled "
                                      "density), which is not installed")

    def _compiled_args(self) -> tuple | None:
        """Arguments of :func:`compiled.glmm_noncentred` (None: numpy path)."""
        if not compiled.HAVE_NUMBA or self.code is None:
            return None
        lay = self.layout
        enc = [compiled.encode_prior(p) for p in self.b_priors]
        sds = [compiled.encode_prior(p) for t in lay.terms for p in t.sd_priors]
        sh = compiled.encode_prior(self.shape_prior) if lay.shape is not None else \
            (compiled.FLAT, np.zeros(3))
        if any(t.wishart is not None for t in lay.terms) or \
                any(e is None for e in [*enc, *sds, sh]):
            return None
        Zr = sp.csr_matrix(self.Z)
        ts = lay.terms
        ints = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
        tsd = np.cumsum([0] + [t.nc for t in ts])[:-1]
        return (lay.p, lay.z.start, lay.z.stop - lay.z.start,
                -1 if lay.shape is None else lay.shape, np.ascontiguousarray(self.X),
                np.asarray(self.y, dtype=float), np.asarray(self.weights, dtype=float),
                np.asarray(self.offset, dtype=float), float(self.const),
                Zr.indptr.astype(np.int64), Zr.indices.astype(np.int64),
                Zr.data.astype(float), ints([t.cols.start for t in ts]),
                ints([t.nc for t in ts]), ints([t.n_levels for t in ts]),
                ints([t.phi.start for t in ts]), ints(tsd),
                ints([e[0] for e in sds]), np.array([e[1] for e in sds]).reshape(-1, 3),
                np.array([t.lkj_eta for t in ts], dtype=float), self.code,
                ints([e[0] for e in enc]), np.array([e[1] for e in enc]).reshape(-1, 3),
                sh[0], sh[1])

    def _kernel(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        """Canonical-link log-likelihood kernel ``sum w (y eta - b(eta))`` and ``g``."""
        w, y = self.weights, self.y
        if self.family.name == "binomial":
            ll = float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))
            mu = special.expit(eta)
        else:
            mu = np.exp(eta)
            ll = float(np.sum(w * (y * eta - mu)))
        return ll, w * (y - mu)

    def latent(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """``b`` (all terms, level-major) and each term's ``T`` at ``x``."""
        lay = self.layout
        z = x[lay.z]
        bs, Ts = [], []
        o = lay.z.start
        for t in lay.terms:
            theta, _ = theta_from_phi(x[t.phi], t.nc)
            T = to_matrix(theta, t.nc)
            zt = x[o + t.cols.start:o + t.cols.stop].reshape(t.n_levels, t.nc)
            bs.append((zt @ T.T).ravel())
            Ts.append(T)
        del z
        return (np.concatenate(bs) if bs else np.zeros(0)), Ts

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior (up to a constant) at ``x`` and its gradient."""
        if self._kernel_args is not None:
            lp, grad = compiled.glmm_noncentred(np.asarray(x, dtype=float),
                                                *self._kernel_args)
            return float(lp), grad
        return self.logp_grad_numpy(x)

    def logp_grad_numpy(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`logp_grad` in numpy (binomial / Poisson only)."""
        lay = self.layout
        beta = x[:lay.p]
        z = x[lay.z]
        b, Ts = self.latent(x)
        eta = self.offset + self.X @ beta + self.Z @ b
        fam = self.family
        with np.errstate(all="ignore"):
            if self.fast:
                ll, g = self._kernel(eta)
                ll += self.const
            else:
                mu = fam.link.linkinv(eta)
                ll = float(np.sum(fam.loglik_obs(self.y, mu, self.weights)))
                g = self.weights * (self.y - mu) * fam.link.mu_eta(eta) / fam.variance(mu)
        if not np.isfinite(ll) or not np.all(np.isfinite(g)):
            return -np.inf, np.zeros(self.dim)
        grad = np.zeros(self.dim)
        grad[:lay.p] = self.X.T @ g
        Ztg = self.Zt @ g
        dth = []
        o = lay.z.start
        for t, T in zip(lay.terms, Ts):
            Zg = Ztg[t.cols].reshape(t.n_levels, t.nc)
            zt = x[o + t.cols.start:o + t.cols.stop].reshape(t.n_levels, t.nc)
            grad[o + t.cols.start:o + t.cols.stop] = (Zg @ T).ravel()  # Lambda' Z' g
            dth.append(from_matrix(Zg.T @ zt))
        grad[lay.z] -= z
        lpb, gb = self._prior_fixed(beta)
        grad[:lay.p] += gb
        lpt = self._prior_terms(x, grad, dth)
        out = ll - 0.5 * float(z @ z) + lpb + lpt
        if not np.isfinite(out):
            return -np.inf, np.zeros(self.dim)
        return float(out), grad

    def draw_latent(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.latent(x)[0]


def make_density(md: ModelData, priors: list[Prior], center: bool = True):
    """The log posterior of ``md`` under ``priors`` (brms's defaults filled in by the caller).
    """
    X, means, icol = _centre(md.X, md.x_names, center)
    p = X.shape[1]
    parts = _term_parts(md, priors)
    k = p
    sigma = None
    gaussian = md.is_gaussian_identity
    if gaussian:
        sigma = k
        k += 1
    for t in parts:
        t.phi = slice(k, k + t.n_theta)
        k += t.n_theta
    z = shape = None
    if not gaussian:
        if has_shape(md.family):
            shape = k
            k += 1
        z = slice(k, k + md.q)
        k += md.q
    layout = Layout(p=p, x_names=md.x_names, center=means, intercept=icol, sigma=sigma,
                    terms=parts, z=z, dim=k, shape=shape, smooth_fixed=tuple(md.smooth_fixed))
    b_priors = [resolve(priors, "Intercept") if j == icol
                else resolve(priors, "b", nm) for j, nm in enumerate(md.x_names)]
    common = dict(layout=layout, X=X, y=md.y, offset=md.offset, weights=md.weights, Z=md.Z,
                  b_priors=b_priors)
    if gaussian:
        if not np.allclose(md.weights, 1.0):
            raise NotImplementedError("brm(): prior weights in Gaussian models are not "
                                      "supported yet")
        return MarginalGaussian(**common, sigma_prior=resolve(priors, "sigma"))
    if md.family.name not in ("binomial", "poisson") and family_code(md.family) is None:
        raise NotImplementedError(
            f"brm(): family {md.family.name!r} with link {md.family.link.name!r} is not "
            "sampled yet (gaussian, binomial, poisson, negative binomial with the log link, "
            "Gamma with the log or inverse link are)")
    return NonCentredGLMM(**common, family=md.family,
                          shape_prior=resolve(priors, "shape") if shape is not None else None)


def family_code(family) -> int | None:
    """The family's code in :func:`compiled.glmm_noncentred`, None when it has none."""
    link = family.link.name
    if family.name == "binomial" and link == "logit":
        return compiled.BINOMIAL_LOGIT
    if family.name == "poisson" and link == "log":
        return compiled.POISSON_LOG
    if isinstance(family, NegativeBinomial) and link == "log":
        return compiled.NEGBIN_LOG
    if family.name == "Gamma":
        return {"log": compiled.GAMMA_LOG, "inverse": compiled.GAMMA_INVERSE}.get(link)
    return None
