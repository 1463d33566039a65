"""An exact-enough posterior of a small Poisson SPDE model: a grid over the hyperparameters,
importance sampling over the latent values (written for the tests from the model's
equations; only the mesh's precision matrix comes from the package).

At each ``theta = (log range, log sigma)`` of a regular grid the latent vector
``x = (b0, u)`` (flat prior on ``b0``, ``u ~ N(0, Q(theta)^-1)``) is drawn from its
Gaussian approximation ``N(x*, H^-1)`` (Newton to the mode, dense), and

    p(y | theta) = E_q[ p(y | x) p(x | theta) / q(x) ]

is estimated from those draws (Pareto-smoothed weights, ArviZ's ``psislw``; the ``k``-hat of
every grid point is kept). This is the marginal likelihood without the Laplace
approximation: its posterior over the grid, and the importance-weighted latent draws at each
point, give the exact posterior of the hyperparameters, the intercept and the field up to
Monte Carlo and grid error. Dense: meant for meshes of a few hundred nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import scipy.linalg as sla
from scipy.interpolate import CubicSpline
from scipy.special import gammaln, logsumexp


@dataclass
class GridReference:
    log_range: np.ndarray  # (nr,) grid axes
    log_sigma: np.ndarray  # (ns,)
    log_lik_laplace: np.ndarray  # (nr, ns) the Laplace approximation of log p(y | theta)
    log_lik_is: np.ndarray  # (nr, ns) importance-sampled log p(y | theta)
    khat: np.ndarray  # (nr, ns)
    log_prior: np.ndarray  # (nr, ns) log pi(theta) (PC prior, internal scale)
    b0_grid: np.ndarray  # where the intercept's conditional CDFs are tabulated
    b0_cdf: np.ndarray  # (nr, ns, len(b0_grid))
    b0_mode: np.ndarray  # (nr, ns) the Gaussian approximation's mean of b0
    u_mean: np.ndarray  # (nr, ns, q) importance-weighted conditional means of the field
    u_sq: np.ndarray  # (nr, ns, q) and second moments
    u_grid: np.ndarray  # where the field's conditional CDFs are tabulated
    u_cdf: np.ndarray  # (nr, ns, q, len(u_grid)), float32

    def weights(self, laplace: bool = False) -> np.ndarray:
        lp = (self.log_lik_laplace if laplace else self.log_lik_is) + self.log_prior
        w = np.exp(lp - lp.max())
        return w / w.sum()

    def range_quantiles(self, probs, laplace: bool = False) -> np.ndarray:
        """Quantiles of the range: the log-range marginal splined on a fine line."""
        m = self.weights(laplace).sum(axis=1)
        f = np.linspace(self.log_range[0], self.log_range[-1], 4000)
        dens = np.exp(CubicSpline(self.log_range, np.log(m))(f))
        c = np.cumsum(dens)
        c /= c[-1]
        return np.exp(np.interp(probs, c, f))

    def b0_quantiles(self, probs) -> np.ndarray:
        c = np.tensordot(self.weights(), self.b0_cdf, axes=2)
        return np.interp(probs, c, self.b0_grid)

    def field_quantiles(self, p: float) -> np.ndarray:
        c = np.tensordot(self.weights(), self.u_cdf.astype(float), axes=2)  # (q, grid)
        return np.array([np.interp(p, ci, self.u_grid) for ci in c])

    def field_moments(self) -> tuple[np.ndarray, np.ndarray]:
        w = self.weights()
        m = np.tensordot(w, self.u_mean, axes=2)
        return m, np.sqrt(np.tensordot(w, self.u_sq, axes=2) - m * m)


def pc_matern_log_prior(lr, ls, prior_range, prior_sigma) -> np.ndarray:
    """The PC prior of a 2-D Matern field on (log range, log sigma) (Fuglstad et al. 2019):
    ``1 / range ~ Exp(lam_r)``, ``sigma ~ Exp(lam_s)``, with the log Jacobians."""
    lam_r = -np.log(prior_range[1]) * prior_range[0]
    lam_s = -np.log(prior_sigma[1]) / prior_sigma[0]
    r, s = np.exp(lr), np.exp(ls)
    return np.log(lam_r) - 2 * lr - lam_r / r + lr + np.log(lam_s) - lam_s * s + ls


def weighted_cdf(x: np.ndarray, w: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """CDFs of the columns of ``x`` (draws in rows, weights ``w``) on ``grid``."""
    o = np.argsort(x, axis=0)
    c = np.cumsum(w[o], axis=0)
    return np.array([np.interp(grid, x[o[:, j], j], c[:, j], left=0.0, right=1.0)
                     for j in range(x.shape[1])])


def _point(Q: np.ndarray, M: np.ndarray, y: np.ndarray, n_draws: int, b0_grid: np.ndarray,
           u_grid: np.ndarray, rng: np.random.Generator, b0_prior: tuple[float, float]):
    """Laplace and importance-sampled log p(y | theta) at one theta, and the latent summaries."""
    q = Q.shape[0]
    m0, p0 = b0_prior
    logdetQ = 2 * np.sum(np.log(np.diag(np.linalg.cholesky(Q))))
    const = -gammaln(y + 1).sum() + 0.5 * logdetQ - 0.5 * q * np.log(2 * np.pi)

    def logf(X: np.ndarray) -> np.ndarray:
        eta = X @ M.T
        u = X[:, 1:]
        return (eta @ y - np.exp(eta).sum(1) - 0.5 * np.einsum("ij,jk,ik->i", u, Q, u)
                - 0.5 * p0 * (X[:, 0] - m0) ** 2 + const)

    x = np.zeros(q + 1)
    x[0] = np.log(y.mean() + 0.5)
    P = np.zeros((q + 1, q + 1))
    P[1:, 1:] = Q
    P[0, 0] = p0
    shift = np.zeros(q + 1)
    shift[0] = p0 * m0
    for _ in range(100):
        mu = np.exp(M @ x)
        step = np.linalg.solve(M.T @ (mu[:, None] * M) + P, M.T @ (y - mu) - P @ x + shift)
        x = x + step
        if np.max(np.abs(step)) < 1e-10:
            break
    L = np.linalg.cholesky(M.T @ (np.exp(M @ x)[:, None] * M) + P)
    logdetH = 2 * np.sum(np.log(np.diag(L)))
    lap = float(logf(x[None])[0]) + 0.5 * (q + 1) * np.log(2 * np.pi) - 0.5 * logdetH
    eps = rng.normal(size=(n_draws, q + 1))
    X = x + sla.solve_triangular(L, eps.T, lower=True, trans="T").T
    logq = -0.5 * np.sum(eps ** 2, 1) - 0.5 * (q + 1) * np.log(2 * np.pi) + 0.5 * logdetH
    lw = logf(X) - logq
    slw, khat = az.psislw(lw.copy())
    w = np.exp(slw - slw.max())
    w /= w.sum()
    return (lap, float(logsumexp(lw) - np.log(n_draws)), float(khat), x[0],
            weighted_cdf(X[:, :1], w, b0_grid)[0], w @ X[:, 1:], w @ X[:, 1:] ** 2,
            weighted_cdf(X[:, 1:], w, u_grid).astype(np.float32))


def grid_reference(Q_of, A: np.ndarray, y: np.ndarray, prior_range, prior_sigma,
                   log_range: np.ndarray, log_sigma: np.ndarray, n_draws: int = 2000,
                   b0_grid: np.ndarray | None = None, seed: int = 0,
                   b0_prior: tuple[float, float] = (0.0, 0.0)) -> GridReference:
    """The reference on the grid ``log_range x log_sigma``; ``Q_of(range, sigma)`` gives the
    field's (dense) precision matrix; ``b0_prior = (mean, precision)`` the intercept's
    Gaussian prior (precision 0: flat; its normalising constant is left out)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=float)
    M = np.hstack([np.ones((len(y), 1)), A])
    if b0_grid is None:
        b0_grid = np.linspace(-6.0, 8.0, 1401)
    u_grid = np.linspace(-6.0, 6.0, 601)
    nr, ns = len(log_range), len(log_sigma)
    out = [_point(Q_of(np.exp(a), np.exp(b)), M, y, n_draws, b0_grid, u_grid, rng, b0_prior)
           for a in log_range for b in log_sigma]
    lap, isv, k, b0m, cdf, um, u2, ucdf = (np.array(v) for v in zip(*out))
    lr, ls = np.meshgrid(log_range, log_sigma, indexing="ij")
    sh = (nr, ns)
    return GridReference(log_range, log_sigma, lap.reshape(sh), isv.reshape(sh),
                         k.reshape(sh), pc_matern_log_prior(lr, ls, prior_range, prior_sigma),
                         b0_grid, cdf.reshape(sh + (-1,)), b0m.reshape(sh),
                         um.reshape(sh + (-1,)), u2.reshape(sh + (-1,)), u_grid,
                         ucdf.reshape(sh + ucdf.shape[1:]))
