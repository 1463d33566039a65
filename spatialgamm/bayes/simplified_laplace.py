"""The simplified Laplace approximation of latent marginals (INLA's default strategy).

Rue, Martino & Chopin (2009, sec. 3.2.3). At one ``theta`` the Gaussian approximation gives
every latent value ``x_i`` (fixed effects and random effects) a mean ``mu_i`` and SD
``sigma_i``. Moving ``x_i`` to ``mu_i + sigma_i s`` moves the conditional mean of every
linear predictor ``eta_k`` to ``m_k + sigma_k c_ik s`` (``c_ik = corr(x_i, eta_k)``); the
Laplace approximation of ``pi(x_i | theta, y)`` expanded to third order in ``s`` is then

    log pi(s) = const - s^2 / 2 + gamma1_i s + gamma3_i s^3 / 6,
    gamma1_i = 1/2 sum_k sigma_k^2 (1 - c_ik^2) d3_k sigma_k c_ik,
    gamma3_i = sum_k d3_k (sigma_k c_ik)^3,

with ``d3_k`` the third derivative of observation ``k``'s log-likelihood in ``eta_k`` at the
mode (``-mu`` for a Poisson log link: the left skew of a log rate). ``gamma1`` comes from the
change of the conditional precision of the other values (its log-determinant), ``gamma3``
from the likelihood's own skewness. As in Rue et al., a skew-normal density is fitted in
``s`` with variance 1 and third derivative ``gamma3`` of its log density at its mode; its
mean is the mean of the expansion to first order, ``gamma1 + gamma3 / 2`` (the density
``phi(s) (1 + gamma1 s + gamma3 s^3 / 6)``). Rue et al. write the mean as ``gamma1``; read
literally that leaves the skewness's own shift of the mean out: for ``y ~ 1`` with Poisson
counts (one latent value, where the Laplace approximation is exact and the posterior of the
intercept is a log-gamma) it keeps the mean at the mode, 0.22 SD from the exact mean, while
``gamma1 + gamma3 / 2`` gives it within 0.01 SD (tests/test_inlamarg_sla.py). The posterior
marginal is the mixture of these skew normals over the integration points. Gaussian
observations have ``d3 = 0``: the strategy then gives the Gaussian one.

The joint conditional covariance of ``(beta, u)`` is formed densely (``(p + q)^2``): the
option is for models of up to a few thousand latent values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats
from scipy.optimize import brentq
from scipy.special import log_ndtr

from .marginals import QUANTS

#: the largest number of latent values (fixed effects included) the option accepts
MAX_LATENT = 8000


def third_derivative(family: Any, y: np.ndarray, eta: np.ndarray, wt: np.ndarray,
                     scale: float) -> np.ndarray:
    """``d^3 log p(y_k | eta_k) / d eta_k^3`` at ``eta``: closed forms for the canonical
    Poisson and binomial links, zero for the Gaussian identity, central differences of the
    family's log-likelihood otherwise."""
    name, link = family.name, family.link.name
    if name == "gaussian" and link == "identity":
        return np.zeros_like(eta)
    if name == "poisson" and link == "log":
        return -wt * np.exp(eta)
    if name == "binomial" and link == "logit":
        p = 1.0 / (1.0 + np.exp(-eta))
        return -wt * p * (1 - p) * (1 - 2 * p)
    h = 1e-3 * np.maximum(1.0, np.abs(eta))

    def ll(e: np.ndarray) -> np.ndarray:
        return family.loglik_obs(y, family.link.linkinv(e), wt, scale)
    return (ll(eta + 2 * h) - 2 * ll(eta + h) + 2 * ll(eta - h) - ll(eta - 2 * h)) / (
        2 * h ** 3)


def _sn_third(alpha: np.ndarray) -> np.ndarray:
    """Third derivative of the log density at its mode of the skew normal with shape
    ``alpha`` scaled to unit variance."""
    def r(t: float) -> float:  # phi(t) / Phi(t), stably
        return float(np.exp(stats.norm.logpdf(t) - log_ndtr(t)))

    def slope(z: float, a: float) -> float:  # d/dz of the standard skew normal's log density
        return -z + a * r(a * z)

    out = np.zeros_like(alpha, dtype=float)
    for j, a in enumerate(alpha):
        if a == 0:
            continue
        delta = a / np.sqrt(1 + a * a)
        omega = 1.0 / np.sqrt(1 - 2 * delta * delta / np.pi)
        zm = brentq(slope, -10.0, 10.0, args=(a,))  # the mode (it has the sign of a)
        t = a * zm
        rt = r(t)
        h3 = rt * (t + rt) ** 2 - rt + rt * rt * (t + rt)
        out[j] = a ** 3 * h3 / omega ** 3
    return out


#: the map shape -> third derivative at the mode (odd, increasing up to its bound)
_ALPHA = np.concatenate([-np.geomspace(60, 1e-3, 200), [0.0], np.geomspace(1e-3, 60, 200)])
_G3 = None


def skew_normal_shape(gamma3: np.ndarray) -> np.ndarray:
    """The unit-variance skew normal's shape whose log density has third derivative
    ``gamma3`` at its mode (clipped to the family's bound, about 0.9 in absolute value)."""
    global _G3
    if _G3 is None:
        _G3 = _sn_third(_ALPHA)
    g = np.clip(gamma3, _G3[0], _G3[-1])
    return np.interp(g, _G3, _ALPHA)


@dataclass
class SkewNormalMixture:
    """``n`` marginals, each a mixture of ``K`` skew normals with shared weights (the
    interface of :class:`~.marginals.GaussianMixture`)."""

    loc: np.ndarray  # (K, n)
    scale: np.ndarray  # (K, n)
    shape: np.ndarray  # (K, n)
    weights: np.ndarray  # (K,)

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        delta = self.shape / np.sqrt(1 + self.shape ** 2)
        m = self.loc + self.scale * delta * np.sqrt(2 / np.pi)
        v = self.scale ** 2 * (1 - 2 * delta ** 2 / np.pi)
        return m, v

    @property
    def means(self) -> np.ndarray:
        return self._moments()[0]

    @property
    def variances(self) -> np.ndarray:
        return self._moments()[1]

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    @property
    def sd(self) -> np.ndarray:
        m, v = self._moments()
        m2 = self.weights @ (v + m ** 2)
        return np.sqrt(np.maximum(m2 - self.mean ** 2, 0.0))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return self.weights @ stats.skewnorm.cdf(x, self.shape, self.loc, self.scale)

    def quantile(self, p: float, tol: float = 1e-9) -> np.ndarray:
        """Bisection on the mixture CDF between the components' own quantiles."""
        qs = stats.skewnorm.ppf(p, self.shape, self.loc, self.scale)
        lo, hi = np.min(qs, axis=0), np.max(qs, axis=0)
        width = float(np.max(hi - lo)) if lo.size else 0.0
        for _ in range(int(np.ceil(np.log2(max(width, tol) / tol))) + 1):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < p
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def density(self, x: np.ndarray, j: int) -> np.ndarray:
        return self.weights @ stats.skewnorm.pdf(x[None, :], self.shape[:, j, None],
                                                 self.loc[:, j, None], self.scale[:, j, None])

    def mode(self, j: int) -> float:
        x = self.grid(j, 401)
        return float(x[np.argmax(self.density(x, j))])

    def grid(self, j: int, n: int = 201) -> np.ndarray:
        m, v = self._moments()
        s = np.sqrt(v[:, j])
        return np.linspace(np.min(m[:, j] - 5 * s), np.max(m[:, j] + 5 * s), n)

    def table(self, j: int, n: int = 201) -> pd.DataFrame:
        x = self.grid(j, n)
        return pd.DataFrame({"x": x, "y": self.density(x, j)})

    def columns(self, sl: slice) -> SkewNormalMixture:
        return SkewNormalMixture(self.loc[:, sl], self.scale[:, sl], self.shape[:, sl],
                                 self.weights)

    def summary(self, names: list[str], mode: bool = True) -> pd.DataFrame:
        out = pd.DataFrame({"mean": self.mean, "sd": self.sd}, index=names)
        for p in QUANTS:
            out[f"{p}quant"] = self.quantile(p)
        if mode:
            out["mode"] = [self.mode(j) for j in range(len(names))]
        return out


def point_corrections(adapter: Any, pt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """``(mu, sigma, gamma1, gamma3)`` of every latent value ``(beta, b)`` at one point.

    The joint conditional precision of ``(beta, u)`` is rebuilt from the point's working
    weights, ``H = G' W G + diag(T, P)`` with ``G = [X, Z Lambda]`` (``T`` the fixed-effects
    prior precision, ``P`` the latent prior precision), and inverted densely.
    """
    spec, system = adapter.spec, adapter.system
    phi, _, scale = adapter._phi(pt.theta)
    X = np.asarray(spec.X, dtype=float)
    q = system.q
    if q:
        Zl = sp.csr_matrix(system.Z) @ system.Lambda(phi)
        P, _ = system.precision(phi)
        P = np.eye(q) if P is None else P.toarray()
        G = np.hstack([X, Zl.toarray()])
    else:
        P, G = np.zeros((0, 0)), X
    w = np.asarray(pt.weights, dtype=float)
    prior = sla.block_diag(np.diag(adapter.fixed_prec), P)
    H = G.T @ (w[:, None] * G) / scale + prior
    Sigma = sla.cho_solve(sla.cho_factor(H, lower=True), np.eye(H.shape[0]))
    S = Sigma @ G.T  # Cov(x, eta): (p + q, n)
    var_eta = np.maximum(np.einsum("ij,ji->i", G, S), 1e-300)
    sd_eta = np.sqrt(var_eta)
    sd_x = np.sqrt(np.maximum(np.diag(Sigma), 1e-300))
    corr = np.clip(S / (sd_x[:, None] * sd_eta[None, :]), -1.0, 1.0)
    mean = np.concatenate([pt.beta, pt.u])
    eta = spec.offset + G @ mean
    d3 = third_derivative(spec.family, spec.y, eta, spec.weights, scale)
    a = corr * sd_eta[None, :]  # sigma_k c_ik
    g1 = 0.5 * ((var_eta[None, :] * (1 - corr ** 2)) * a) @ d3
    g3 = (a ** 3) @ d3
    lam = np.concatenate([np.ones(spec.p), pt.lam]) if q else np.ones(spec.p)
    return lam * mean, np.abs(lam) * sd_x, np.sign(lam) * g1, np.sign(lam) * g3


def mixture(adapter: Any, points: list[Any], weights: np.ndarray) -> SkewNormalMixture:
    """The simplified-Laplace marginals of ``(beta, b)`` mixed over the integration points."""
    n_lat = adapter.spec.p + adapter.system.q
    if n_lat > MAX_LATENT:
        raise ValueError(f"strategy='simplified.laplace' forms the {n_lat} x {n_lat} joint "
                         f"covariance densely; above {MAX_LATENT} latent values use "
                         "strategy='gaussian'")
    locs, scales, shapes = [], [], []
    for pt in points:
        mu, sd, g1, g3 = point_corrections(adapter, pt)
        alpha = skew_normal_shape(g3)
        delta = alpha / np.sqrt(1 + alpha * alpha)
        omega = 1.0 / np.sqrt(1 - 2 * delta * delta / np.pi)
        xi = g1 + 0.5 * g3 - omega * delta * np.sqrt(2 / np.pi)  # mean gamma1 + gamma3/2
        locs.append(mu + sd * xi)
        scales.append(sd * omega)
        shapes.append(alpha)
    return SkewNormalMixture(np.array(locs), np.array(scales), np.array(shapes),
                             np.asarray(weights, dtype=float))


def apply(fit: Any) -> None:
    """Replace a fit's Gaussian fixed-effect and latent marginals (and their tables) by the
    simplified-Laplace ones; the linear predictor keeps the Gaussian strategy."""
    mix = mixture(fit.adapter, fit.points, fit.theta.weights)
    p = fit.spec.p
    names = list(fit.spec.x_names)
    fit.fixed_marginals = mix.columns(slice(0, p))
    fit.summary_fixed = fit.fixed_marginals.summary(names)
    fit._latent = mix.columns(slice(p, None))
    tables = {}
    for k, blk in enumerate(fit.spec.blocks):
        sl = fit.adapter.system.col_slices[k]
        sub = fit._latent.columns(sl)
        ids = getattr(blk.term, "levels", None)
        ids = list(ids) if ids is not None and len(ids) == blk.q else list(range(blk.q))
        tab = sub.summary([str(i) for i in ids], mode=blk.q <= 500)
        tab.insert(0, "ID", ids)
        tables[blk.name] = tab.reset_index(drop=True)
    fit.summary_random = tables
    fit.strategy = "simplified.laplace"
