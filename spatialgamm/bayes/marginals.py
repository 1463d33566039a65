"""Posterior marginals: mixtures of conditional Gaussians, and the hyperparameters'.

Latent values and fixed effects (Rue et al. 2009, eq. 5): the marginal of ``x_i`` is the
mixture over the integration points ``theta_k`` (weights ``w_k``) of the conditional
Gaussians ``N(m_ik, v_ik)`` the engine gives at each point (INLA's ``strategy="gaussian"``).

Hyperparameters: on one dimension, the log posterior evaluated on a fine z-grid and
interpolated (exact up to the Laplace approximation); on two or more, the approximation of
Martins et al. (2013, sec. 3.2): in the standardised coordinates ``z`` the posterior is taken
as a product of split normals, whose left and right scales come from the log posterior at
``z = -+ r e_j``; the marginal of each ``theta_j`` (a linear combination of the ``z``) and
of its user-scale transform (range, sigma, precision, SD) is then read off 2e5 draws
(quasi-exact quantiles; the density table by a Gaussian kernel estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.interpolate import CubicSpline
from scipy.special import ndtr

QUANTS = (0.025, 0.5, 0.975)
COLUMNS = ["mean", "sd", "0.025quant", "0.5quant", "0.975quant", "mode"]


@dataclass
class GaussianMixture:
    """``n`` marginals, each a mixture of ``K`` Gaussians with shared weights.

    Examples
    --------
    >>> m = GaussianMixture(np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]),
    ...                     np.array([0.5, 0.5]))
    >>> float(m.mean[0]), round(float(m.sd[0]), 6), round(float(m.quantile(0.5)[0]), 6)
    (1.0, 1.414214, 1.0)
    """

    means: np.ndarray  # (K, n)
    variances: np.ndarray  # (K, n)
    weights: np.ndarray  # (K,)

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    @property
    def sd(self) -> np.ndarray:
        m2 = self.weights @ (self.variances + self.means ** 2)
        return np.sqrt(np.maximum(m2 - self.mean ** 2, 0.0))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        s = np.sqrt(np.maximum(self.variances, 1e-300))
        return self.weights @ ndtr((x - self.means) / s)

    def sf(self, x: np.ndarray) -> np.ndarray:
        s = np.sqrt(np.maximum(self.variances, 1e-300))
        return self.weights @ ndtr((self.means - x) / s)

    def quantile(self, p: float, tol: float = 1e-10) -> np.ndarray:
        """Vectorised bisection on the mixture CDF, inside the components' own quantiles
        (the mixture's p-quantile lies between the smallest and largest of them)."""
        s = np.sqrt(np.maximum(self.variances, 0.0))
        zp = float(stats.norm.ppf(p))
        lo = np.min(self.means + zp * s, axis=0)
        hi = np.max(self.means + zp * s, axis=0)
        width = float(np.max(hi - lo)) if lo.size else 0.0
        iters = int(np.ceil(np.log2(max(width, tol) / tol))) + 1
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < p
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def density(self, x: np.ndarray, j: int) -> np.ndarray:
        s = np.sqrt(self.variances[:, j])[:, None]
        return self.weights @ (stats.norm.pdf((x[None, :] - self.means[:, j, None]) / s) / s)

    def mode(self, j: int) -> float:
        x = self.grid(j, 401)
        return float(x[np.argmax(self.density(x, j))])

    def grid(self, j: int, n: int = 201) -> np.ndarray:
        s = np.sqrt(self.variances[:, j])
        return np.linspace(np.min(self.means[:, j] - 5 * s), np.max(self.means[:, j] + 5 * s), n)

    def table(self, j: int, n: int = 201) -> pd.DataFrame:
        x = self.grid(j, n)
        return pd.DataFrame({"x": x, "y": self.density(x, j)})

    def summary(self, names: list[str], mode: bool = True) -> pd.DataFrame:
        out = pd.DataFrame({"mean": self.mean, "sd": self.sd}, index=names)
        for p in QUANTS:
            out[f"{p}quant"] = self.quantile(p)
        if mode:
            out["mode"] = [self.mode(j) for j in range(len(names))]
        return out


@dataclass
class SampledMarginal:
    """A marginal known by draws (hyperparameters); density table by a kernel estimate."""

    name: str
    draws: np.ndarray

    def summary(self) -> dict[str, float]:
        x = self.draws
        tab = self.table()
        return {"mean": float(np.mean(x)), "sd": float(np.std(x)),
                **{f"{p}quant": float(np.quantile(x, p)) for p in QUANTS},
                "mode": float(tab["x"].to_numpy()[np.argmax(tab["y"].to_numpy())])}

    def table(self, n: int = 201) -> pd.DataFrame:
        x = self.draws
        lo, hi = np.quantile(x, [0.0005, 0.9995])
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, n)
        sub = x[:: max(1, len(x) // 20000)]
        kde = stats.gaussian_kde(sub)
        return pd.DataFrame({"x": grid, "y": kde(grid)})


def split_normal_draws(sig_pos: np.ndarray, sig_neg: np.ndarray, n: int, seed: int = 1
                       ) -> np.ndarray:
    """Draws of ``z`` with independent split-normal coordinates (stratified, deterministic)."""
    rng = np.random.default_rng(seed)
    d = len(sig_pos)
    u = (rng.permuted(np.tile(np.arange(n), (d, 1)), axis=1).T + rng.random((n, d))) / n
    # inverse CDF of the split normal: mass sig_neg/(sig_pos+sig_neg) below zero
    pneg = sig_neg / (sig_pos + sig_neg)
    z = np.where(u < pneg,
                 sig_neg * stats.norm.ppf(u / pneg * 0.5),
                 sig_pos * stats.norm.ppf(0.5 + 0.5 * (u - pneg) / (1 - pneg)))
    return z


def one_dim_draws(z: np.ndarray, logp: np.ndarray, n: int) -> np.ndarray:
    """Stratified draws from a 1-D density known by its log on points ``z`` (spline)."""
    o = np.argsort(z)
    z, logp = z[o], logp[o]
    cs = CubicSpline(z, logp - logp.max())
    fine = np.linspace(z[0], z[-1], 4001)
    dens = np.exp(cs(fine))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(fine))])
    cdf /= cdf[-1]
    u = (np.arange(n) + 0.5) / n
    return np.interp(u, cdf, fine)
