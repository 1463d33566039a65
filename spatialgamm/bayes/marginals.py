"""Posterior marginals: mixtures of conditional Gaussians, and the hyperparameters'.

Latent values and fixed effects (Rue et al. 2009, eq. 5): the marginal of ``x_i`` is the
mixture over the integration points ``theta_k`` (weights ``w_k``) of the conditional
Gaussians ``N(m_ik, v_ik)`` the engine gives at each point (INLA's ``strategy="gaussian"``).

Hyperparameters (:func:`hyper_z_draws`): the marginal of each ``theta_j`` and of its
user-scale transform (range, sigma, precision, SD) is read off draws of the standardised
coordinates ``z`` (quasi-exact quantiles; the density table by a Gaussian kernel estimate),
drawn from

- one dimension: the log posterior tabulated on a fine z-line and interpolated by a spline;
- two or three: the log posterior evaluated on a regular z-lattice, grown from the mode
  while it stays within ``diff_logdens`` of the mode (Rue, Martino & Chopin 2009, sec. 6.1;
  INLA's ``int.strategy="grid"``), then interpolated by cubic splines in the deviation from
  the standard normal, ``log pi(z) - log pi(0) + |z|^2 / 2`` (smooth and small where the
  Gaussian approximation is good), onto a lattice four times finer. Exact up to the Laplace
  approximation of ``pi(theta | y)`` and the interpolation: no shape is assumed;
- four or more: importance sampling of the Laplace-approximated ``pi(theta | y)`` itself
  (:func:`importance_draws`). The proposal is a split ``t`` (5 degrees of freedom) in ``z``
  whose left and right scales along each eigen direction come from the drop of the log
  posterior at ``z = -+ r e_j`` (the asymmetric Gaussian of Martins, Simpson, Lindgren &
  Rue 2013, sec. 3.1, given ``t`` tails so that the weights stay bounded); the weights are
  Pareto-smoothed (Vehtari et al. 2024; ArviZ's ``psislw``) and their ``k``-hat and
  effective sample size are the sampler's diagnostics. Why not the split normals
  themselves (INLA's choice): a product of independent split normals assumes the skewness
  lives along the eigen axes and that each half is Gaussian; on sleepstudy's ``iid2d``
  model (tests/test_inlabreadth_bars.py) the intercept precision's 97.5% point came out
  0.77 against a Gibbs sampler's 1.35. Why not a lattice: it needs of the order of
  ``(2 r / step)^d`` points (some 1800 at four dimensions), importance sampling 2048
  whatever ``d``, and its error is measured (``k``-hat, ESS) rather than assumed.

The latent mixture keeps the integration design's points (CCD or grid), not these draws:
a latent marginal needs the engine's conditional means and variances of every latent value
at each point (2048 of them would cost memory and time), and it is far less sensitive to the
tails of theta than the theta quantiles themselves: on sleepstudy's ``iid2d`` model the
CCD's 25 points give the random effects' means within 0.1 posterior SD of Gibbs and their
SDs within 6%. Where the tail of theta does move the latent values (an SPDE field's long
range trading off with the intercept), ``int_strategy="grid"`` reaches it
(tests/test_inlamarg_spde_mcmc.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.interpolate import CubicSpline, RegularGridInterpolator
from scipy.ndimage import distance_transform_edt
from scipy.special import gammaln, ndtr, ndtri
from scipy.stats import qmc

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
    """A marginal known by draws (hyperparameters), optionally weighted (importance
    sampling); density table by a (weighted) Gaussian kernel estimate.

    Examples
    --------
    >>> m = SampledMarginal("x", np.array([0.0, 1.0, 2.0]), np.array([0.25, 0.5, 0.25]))
    >>> m.summary()["mean"], float(m.cdf(np.array([1.5]))[0])
    (1.0, 0.75)
    """

    name: str
    draws: np.ndarray
    weights: np.ndarray | None = None  # normalised; None: equal

    def _w(self) -> np.ndarray:
        n = len(self.draws)
        return np.full(n, 1.0 / n) if self.weights is None else self.weights

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """``P(X <= x)`` under the (weighted) draws."""
        return (self.draws[None, :] <= np.asarray(x, dtype=float)[:, None]) @ self._w()

    def quantile(self, p: float) -> float:
        if self.weights is None:
            return float(np.quantile(self.draws, p))
        o = np.argsort(self.draws)
        c = np.cumsum(self.weights[o])
        c -= 0.5 * self.weights[o]  # mid-point rule: the weighted analogue of np.quantile
        return float(np.interp(p, c / c[-1], self.draws[o]))

    def summary(self) -> dict[str, float]:
        x, w = self.draws, self._w()
        tab = self.table()
        mean = float(w @ x)
        return {"mean": mean, "sd": float(np.sqrt(max(w @ (x - mean) ** 2, 0.0))),
                **{f"{p}quant": self.quantile(p) for p in QUANTS},
                "mode": float(tab["x"].to_numpy()[np.argmax(tab["y"].to_numpy())])}

    def table(self, n: int = 201) -> pd.DataFrame:
        x = self.draws
        lo, hi = self.quantile(0.0005), self.quantile(0.9995)
        pad = 0.05 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, n)
        if self.weights is None:
            sub = x[:: max(1, len(x) // 20000)]
            kde = stats.gaussian_kde(sub)
        else:
            keep = self.weights > 0
            kde = stats.gaussian_kde(x[keep], weights=self.weights[keep])
        return pd.DataFrame({"x": grid, "y": kde(grid)})


@dataclass
class HyperDraws:
    """Draws ``z`` (n, d) of the standardised hyperparameters, their normalised weights
    (None: equal) and how they were made: ``method`` ('line', 'lattice', 'importance'),
    and for importance sampling the Pareto ``k``-hat and the effective sample size of the
    weights (Vehtari et al. 2024: ``k`` below 0.7 makes the estimates reliable)."""

    z: np.ndarray
    weights: np.ndarray | None
    method: str
    khat: float = float("nan")
    ess: float = float("nan")


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


#: the largest dimension whose hyperparameter marginals are integrated on a lattice
MAX_GRID_DIM = 3


def lattice_log_density(logdens: Callable[[np.ndarray], float], d: int, step: float,
                        diff_logdens: float, known: dict[tuple[int, ...], float] | None = None,
                        max_steps: int = 40) -> dict[tuple[int, ...], float]:
    """``log pi`` on the z-lattice ``step * k``, grown from the origin (a flood fill).

    A point's neighbours are evaluated while its value is within ``diff_logdens`` of the
    origin's, so the lattice covers the region of non-negligible mass whatever its shape
    (skewed, curved) and one shell of points beyond it, which the interpolation uses as its
    boundary. ``known`` values (the integration grid's) are not recomputed.
    """
    vals: dict[tuple[int, ...], float] = dict(known or {})
    origin = (0,) * d
    if origin not in vals:
        vals[origin] = float(logdens(np.zeros(d)))
    f0 = vals[origin]
    if not np.isfinite(f0):
        raise ValueError("the log posterior of the hyperparameters is not finite at its mode")
    todo, seen = [origin], {origin}
    while todo:
        k = todo.pop()
        if k not in vals:
            vals[k] = float(logdens(step * np.array(k, dtype=float)))
        v = vals[k]
        if not (np.isfinite(v) and f0 - v <= diff_logdens) or max(map(abs, k)) >= max_steps:
            continue
        for j, sgn in itertools.product(range(d), (1, -1)):
            nb = k[:j] + (k[j] + sgn,) + k[j + 1:]
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return vals


def lattice_draws(vals: dict[tuple[int, ...], float], step: float, n: int, refine: int = 4,
                  seed: int = 1) -> np.ndarray:
    """Draws of ``z`` from the density known on lattice points (:func:`lattice_log_density`).

    The deviation ``r(z) = log pi(z) - log pi(0) + |z|^2 / 2`` is interpolated by cubic
    splines (linear below four points on an axis) over the lattice's bounding box; points of
    the box that were not evaluated (outside the region) or where the engine failed take the
    value of the nearest evaluated point, so the Gaussian factor carries the density to zero
    there. The density on the ``refine`` times finer lattice is then sampled cell by cell
    (systematic resampling, uniform within a cell).
    """
    keys = np.array(list(vals), dtype=int)
    d = keys.shape[1]
    f0 = vals[(0,) * d]
    lo, hi = keys.min(axis=0), keys.max(axis=0)
    shape = tuple(hi - lo + 1)
    R = np.full(shape, np.nan)
    for k, v in vals.items():
        if np.isfinite(v):
            z = step * np.array(k, dtype=float)
            R[tuple(np.array(k) - lo)] = v - f0 + 0.5 * float(z @ z)
    missing = np.isnan(R)
    if missing.any():  # nearest evaluated point (the region's boundary shell)
        idx = distance_transform_edt(missing, return_distances=False, return_indices=True)
        R = R[tuple(idx)]
    axes = [step * np.arange(lo[j], hi[j] + 1, dtype=float) for j in range(d)]
    method = "cubic" if min(shape) >= 4 else "linear"
    interp = RegularGridInterpolator(axes, R, method=method)
    h = step / refine
    fine_axes = [np.arange(a[0] + 0.5 * h, a[-1], h) for a in axes]
    mesh = np.stack(np.meshgrid(*fine_axes, indexing="ij"), axis=-1).reshape(-1, d)
    logd = interp(mesh) - 0.5 * np.sum(mesh * mesh, axis=1)
    p = np.exp(logd - logd.max())
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    rng = np.random.default_rng(seed)
    cell = np.searchsorted(cdf, (np.arange(n) + rng.random()) / n)
    z = mesh[np.minimum(cell, len(mesh) - 1)] + (rng.random((n, d)) - 0.5) * h
    return rng.permutation(z)


def split_normal_scales(f0: float, f_pos: np.ndarray, f_neg: np.ndarray, r: float
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Scales of the asymmetric Gaussian along each axis: ``pi(+-r e_j) / pi(0) =
    exp(-r^2 / (2 sigma_j^+-^2))`` (Martins et al. 2013, sec. 3.1)."""
    sig = []
    for fv in (f_pos, f_neg):
        delta = np.where(np.isfinite(fv), f0 - fv, np.inf)
        sig.append(np.where(delta > 1e-8, r / np.sqrt(2 * np.maximum(delta, 1e-8)), r))
    return sig[0], sig[1]


#: importance draws in four or more dimensions (a power of two: a scrambled Sobol sequence)
N_IMPORTANCE = 2048
#: degrees of freedom of the split-t proposal: tails heavier than any Laplace posterior's
T_DF = 5.0


def split_t_proposal(sig_pos: np.ndarray, sig_neg: np.ndarray, n: int, df: float = T_DF,
                     seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``z`` (n, d) of a split multivariate ``t`` and their log densities.

    ``w ~ t_df(0, I)`` (randomised quasi-Monte Carlo: a scrambled Sobol sequence through the
    normal and chi-square quantiles), ``z_j = w_j sig_pos_j`` where ``w_j > 0``, else
    ``w_j sig_neg_j``: a piecewise-linear map, so ``log q(z) = log t(w) - sum_j log
    sig_j``.

    Examples
    --------
    >>> z, lq = split_t_proposal(np.ones(2), np.ones(2), 4096, df=1e6)
    >>> round(float(np.std(z[:, 0])), 2), bool(np.allclose(
    ...     lq, stats.multivariate_normal(np.zeros(2)).logpdf(z), atol=1e-4))
    (1.0, True)
    """
    d = len(sig_pos)
    u = np.clip(qmc.Sobol(d + 1, scramble=True, seed=seed).random(n), 1e-12, 1 - 1e-12)
    g = np.sqrt(stats.chi2.ppf(u[:, d], df) / df)
    w = ndtri(u[:, :d]) / g[:, None]
    scale = np.where(w > 0, sig_pos, sig_neg)
    logt = (gammaln(0.5 * (df + d)) - gammaln(0.5 * df) - 0.5 * d * np.log(df * np.pi)
            - 0.5 * (df + d) * np.log1p(np.sum(w * w, axis=1) / df))
    return w * scale, logt - np.sum(np.log(scale), axis=1)


def importance_draws(logdens: Callable[[np.ndarray], float], sig_pos: np.ndarray,
                     sig_neg: np.ndarray, n: int = N_IMPORTANCE, seed: int = 1) -> HyperDraws:
    """Pareto-smoothed importance sampling of ``pi(z)`` from the split-t proposal.

    Draws where the engine fails (``-inf``) keep weight zero. The ``k``-hat is ArviZ's
    (``psislw``); ``ess = 1 / sum w^2``.

    Examples
    --------
    >>> from scipy.stats import loggamma
    >>> a = 2.0  # a skewed target: independent standardised log-gamma coordinates
    >>> m, s = loggamma(a).mean(), loggamma(a).std()
    >>> f = lambda z: float(np.sum(loggamma(a).logpdf(m + s * z)))
    >>> hd = importance_draws(f, np.full(4, 0.9), np.full(4, 1.2))
    >>> bool(hd.khat < 0.5), round(SampledMarginal("z", hd.z[:, 0], hd.weights).quantile(
    ...     0.975), 1), round(float((loggamma(a).ppf(0.975) - m) / s), 1)
    (True, 1.6, 1.6)
    """
    import arviz as az

    z, logq = split_t_proposal(sig_pos, sig_neg, n, seed=seed)
    logp = np.array([logdens(zi) for zi in z], dtype=float)
    ok = np.isfinite(logp)
    if ok.sum() < n // 2:
        raise ValueError(f"the log posterior of the hyperparameters is finite at only "
                         f"{int(ok.sum())} of {n} importance draws")
    lw = np.full(n, -np.inf)
    smoothed, khat = az.psislw(logp[ok] - logq[ok])
    lw[ok] = smoothed
    w = np.exp(lw - np.max(lw[ok]))
    w /= w.sum()
    return HyperDraws(z, w, "importance", float(khat), float(1.0 / np.sum(w * w)))


def hyper_z_draws(logdens: Callable[[np.ndarray], float], d: int, n: int, *, dz: float = 0.75,
                  diff_logdens: float = 6.0, known: dict[tuple[int, ...], float] | None = None,
                  axial: tuple[float, np.ndarray, np.ndarray] | None = None,
                  n_importance: int = N_IMPORTANCE) -> HyperDraws:
    """Draws of the standardised hyperparameters ``z`` (module doc): ``n`` equally weighted
    ones in up to three dimensions, ``n_importance`` weighted ones in four or more.

    Parameters
    ----------
    logdens : callable
        ``z -> log pi(theta(z) | y)`` up to a constant (``-inf`` where the engine fails).
    d : int
        Dimension of theta.
    n : int
        Number of draws.
    dz, diff_logdens : float
        Lattice step and cut-off of the grid (two or three dimensions). The step is at
        least 1: on the two-hyperparameter test posterior, steps 0.75, 1 and 1.25 give the
        same quantiles within 0.005 from 150, 90 and 58 evaluations. The cut-off is at least
        the drop of a normal's log density at its 0.9995 region (7.6 in two dimensions, 8.9
        in three).
    known : dict, optional
        Lattice values already computed (index tuples of step ``dz``).
    axial : (f0, f_pos, f_neg), optional
        Four or more dimensions: the log posterior at the mode and at ``+-1.1 sqrt(d) e_j``
        (the central composite design's axial points) when already known; they set the
        proposal's scales.
    n_importance : int
        Four or more dimensions: the number of importance draws (Laplace evaluations).

    Examples
    --------
    >>> hd = hyper_z_draws(lambda z: -0.5 * float(z @ z), 2, 20000)
    >>> hd.method, [round(float(v), 1) for v in np.quantile(hd.z[:, 0], [0.025, 0.975])]
    ('lattice', [-2.0, 2.0])
    """
    if d == 1:
        zs, vals = [], []
        f0 = float(logdens(np.zeros(1)))
        for sgn in (1.0, -1.0):
            k = 0 if sgn > 0 else 1
            while k < 24:
                zz = sgn * 0.4 * k
                v = float(logdens(np.array([zz])))
                if not np.isfinite(v):
                    break
                zs.append(zz)
                vals.append(v)
                if f0 - v > diff_logdens + 5:
                    break
                k += 1
        return HyperDraws(one_dim_draws(np.array(zs), np.array(vals), n)[:, None], None,
                          "line")
    if d <= MAX_GRID_DIM:
        step = max(dz, 1.0)  # the deviation from the normal is smooth: 0.75 buys nothing
        # quantiles need the tails: the cut-off leaves out at most 5e-4 of a normal's mass
        # (INLA's 6 leaves out 0.25% in two dimensions, 0.7% in three)
        cut = max(diff_logdens, 0.5 * float(stats.chi2.ppf(0.9995, d)))
        vals = lattice_log_density(logdens, d, step, cut, known if step == dz else None)
        return HyperDraws(lattice_draws(vals, step, n), None, "lattice")
    r = 1.1 * np.sqrt(d)
    if axial is None:
        eye = np.eye(d)
        axial = (float(logdens(np.zeros(d))),
                 np.array([logdens(r * e) for e in eye], dtype=float),
                 np.array([logdens(-r * e) for e in eye], dtype=float))
    sig_pos, sig_neg = split_normal_scales(axial[0], axial[1], axial[2], r)
    # a side where the engine failed at the axial point has scale 0: keep a sliver of
    # proposal there (draws the engine cannot evaluate get weight 0), never a zero density
    floor = 0.5
    return importance_draws(logdens, np.maximum(sig_pos, floor), np.maximum(sig_neg, floor),
                            n_importance)


def hyper_inputs(post) -> dict:
    """What the integration already computed that :func:`hyper_z_draws` can reuse: the grid
    strategy's lattice (its step and values), the central composite design's axial points."""
    d = post.z.shape[1]
    if post.strategy == "grid" and len(post.z) > 1:
        nz = np.abs(post.z[post.z != 0])
        dz = float(nz.min())
        keys = [tuple(int(v) for v in np.rint(z / dz)) for z in post.z]
        return {"dz": dz, "known": dict(zip(keys, map(float, post.log_post)))}
    if post.strategy == "ccd" and d > MAX_GRID_DIM:
        return {"axial": (float(post.log_post[0]), post.log_post[1:1 + d],
                          post.log_post[1 + d:1 + 2 * d])}
    return {}
