"""The posterior of the hyperparameters: mode, standardised scale, integration design.

Rue, Martino & Chopin (2009, sec. 3.1 and 6.5): the log posterior

    log pi(theta | y) = log p(y | theta) + log pi(theta) + const

(Laplace-approximated marginal likelihood from the engine plus the log priors) is maximised
with its exact gradient; its negative Hessian ``H`` at the mode, by central differences of the
gradient, gives the standardised coordinates

    theta(z) = theta* + V Lambda^(-1/2) z,      H = V Lambda V',

in which the posterior is close to a standard normal. The integration points are

- ``"ccd"`` (default): a central composite design, the centre and ``m`` points on the sphere
  of radius ``f0 sqrt(d)`` (2d axial points and the 2^d corners, a half fraction above three
  dimensions). Its weights make the rule exact for the mean and the second moment of a
  standard normal: centre ``1 - 1/f0^2``, other points ``exp(d f0^2 / 2) / (m f0^2)``
  (relative to the density at each point; the correction of Rue et al. sec. 6.5);
- ``"grid"``: a regular grid in z of step ``dz`` (INLA: 0.75), kept while the log density is
  within ``diff_logdens`` (INLA: 6) of the mode; equal volumes;
- ``"eb"``: the mode alone (empirical Bayes);
- ``"auto"``: INLA's default, the grid up to two dimensions and the CCD above.

The mixture weights over the points are the design weights times ``exp(log posterior)``,
normalised.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from ..errors import ModelError
from .engine_adapter import EngineAdapter
from .priors import HyperPrior


@dataclass
class ThetaPosterior:
    """The mode, the standardised scale and the integration points of ``pi(theta | y)``."""

    mode: np.ndarray
    hessian: np.ndarray  # of -log pi(theta | y) at the mode
    eigvec: np.ndarray
    eigval: np.ndarray
    points: np.ndarray  # (K, d) theta values
    z: np.ndarray  # (K, d) standardised coordinates
    log_post: np.ndarray  # (K,) log pi(theta_k | y) + const (with the fixed-effects prior)
    weights: np.ndarray  # (K,) normalised mixture weights
    strategy: str
    evaluations: int
    log_post_mode: float

    def theta_of(self, z: np.ndarray) -> np.ndarray:
        return self.mode + (np.atleast_2d(z) / np.sqrt(self.eigval)) @ self.eigvec.T


class LogPosterior:
    """``log p(y | theta) + sum log pi_j(theta_j)`` with its gradient."""

    def __init__(self, adapter: EngineAdapter, priors: list[tuple[slice, HyperPrior]]):
        self.adapter, self.priors = adapter, priors

    def prior(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        lp, g = 0.0, np.zeros(len(theta))
        for idx, p in self.priors:
            lp += p.logpdf(theta[idx])
            g[idx] += p.grad(theta[idx])
        return lp, g

    def value(self, theta: np.ndarray) -> float:
        """The searched function's value alone (no gradient, no selected inverse)."""
        return self.adapter.value(theta) + self.prior(theta)[0]

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The searched function: flat fixed-effects prior (exact gradient)."""
        v, g = self.adapter.value_and_grad(theta)
        lp, gp = self.prior(theta)
        return v + lp, g + gp


def _prior_hessian(lp: LogPosterior, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    d = len(theta)
    H = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        H[:, i] = -(lp.prior(theta + e)[1] - lp.prior(theta - e)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def newton_mode(lp: LogPosterior, theta0: np.ndarray, maxiter: int = 30) -> np.ndarray | None:
    """Newton steps on the engine's information matrix plus the priors' exact Hessian, with
    step halving; None when the engine offers no information matrix or the steps stall."""
    theta = np.asarray(theta0, dtype=float)
    v, g = lp.value_and_grad(theta)
    info = lp.adapter.information()
    if info is None or not np.isfinite(v):
        return None
    for _ in range(maxiter):
        H = info + _prior_hessian(lp, theta)
        lam, V = np.linalg.eigh(0.5 * (H + H.T))
        lam = np.maximum(lam, 1e-6 * max(1.0, float(np.max(np.abs(lam)))))
        step = V @ ((V.T @ g) / lam)
        if float(g @ step) < 1e-4:  # Newton decrement: within 5e-5 of the maximum
            return theta
        nrm = float(np.max(np.abs(step)))
        if nrm > 2.0:
            step *= 2.0 / nrm
        if float(g @ step) < 1e-10 and float(np.max(np.abs(g))) < 1e-4:
            return theta
        t = 1.0
        while t > 1e-4:
            v_new, g_new = lp.value_and_grad(theta + t * step)
            if np.isfinite(v_new) and v_new >= v - 1e-10:
                break
            t /= 2
        else:
            return None
        theta, v, g = theta + t * step, v_new, g_new
        info = lp.adapter.information()
        if float(np.max(np.abs(t * step))) < 1e-5 or float(np.max(np.abs(g))) < 1e-5:
            return theta
    return None


def find_mode(lp: LogPosterior, theta0: np.ndarray, maxiter: int = 200) -> np.ndarray:
    """Maximise the log posterior: Newton on the engine's information matrix where it has one
    (sparse field path), else BFGS on the exact gradient."""
    th = newton_mode(lp, theta0)
    if th is not None:
        return th
    def f(t: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = lp.value_and_grad(t)
        if not np.isfinite(v):
            return 1e300, np.zeros_like(t)
        return -v, -g

    best = None
    for x0 in (theta0, theta0 + 0.5):
        res = minimize(f, x0, jac=True, method="BFGS",
                       options={"maxiter": maxiter, "gtol": 1e-5})
        if best is None or res.fun < best.fun:
            best = res
        gnorm = float(np.max(np.abs(res.jac))) if res.jac is not None else np.inf
        if np.isfinite(res.fun) and res.fun < 1e299 and gnorm < 1e-3:
            break
    if best is None or best.fun >= 1e299:
        raise ModelError("inla(): the posterior of the hyperparameters has no finite mode "
                         "(the Laplace approximation failed everywhere the search went)")
    gnorm = float(np.max(np.abs(best.jac)))
    if gnorm > 1e-2:
        warnings.warn(f"inla(): the mode search of the hyperparameters stopped with gradient "
                      f"{gnorm:.2g} ({best.message})", RuntimeWarning, stacklevel=3)
    return np.asarray(best.x, dtype=float)


def hessian_at(lp: LogPosterior, mode: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Negative Hessian of the log posterior: central differences of the exact gradient."""
    d = len(mode)
    H = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        _, gp = lp.value_and_grad(mode + e)
        _, gm = lp.value_and_grad(mode - e)
        H[:, i] = -(gp - gm) / (2 * h)
    return 0.5 * (H + H.T)


def ccd_design(d: int, f0: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """Central composite design on the sphere of radius ``f0 sqrt(d)`` and its weights
    (R-INLA's; mgcv's ``ginla`` design is :func:`~.ginla_marginals.ccd_design`).

    Examples
    --------
    >>> z, w = ccd_design(2)
    >>> z.shape, round(float(w[0]), 4)
    ((9, 2), 0.1736)
    """
    r = f0 * np.sqrt(d)
    axial = np.vstack([np.eye(d), -np.eye(d)])
    if d == 1:
        corners = np.zeros((0, 1))
    else:
        full = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
        if d > 3:  # half fraction: the last column is the product of the others
            full = full[np.prod(full[:, :-1], axis=1) == full[:, -1]]
        corners = full / np.sqrt(d)
    pts = np.vstack([axial, corners]) * r
    m = len(pts)
    w = np.concatenate([[1.0 - 1.0 / f0 ** 2],
                        np.full(m, np.exp(r * r / 2.0) / (m * f0 ** 2))])
    return np.vstack([np.zeros((1, d)), pts]), w


def integrate(adapter: EngineAdapter, priors: list[tuple[slice, HyperPrior]],
              strategy: str = "ccd", f0: float = 1.1, dz: float = 0.75,
              diff_logdens: float = 6.0, theta0: np.ndarray | None = None,
              fixed_theta: np.ndarray | None = None):
    """Mode, Hessian and integration points; returns ``(ThetaPosterior, laplace points)``."""
    lp = LogPosterior(adapter, priors)
    d = adapter.dim
    if fixed_theta is not None or d == 0:
        t = np.zeros(0) if d == 0 else np.asarray(fixed_theta, dtype=float)
        pt = adapter.laplace_at(t)
        val = pt.logml + lp.prior(t)[0]
        post = ThetaPosterior(t, np.zeros((d, d)), np.eye(d), np.ones(d), t[None, :],
                              np.zeros((1, d)), np.array([val]), np.ones(1), "fixed",
                              adapter.n_evaluations, val)
        return post, [pt]
    if strategy == "auto":  # INLA's choice: the grid is affordable up to two dimensions
        strategy = "grid" if d <= 2 else "ccd"
    mode = find_mode(lp, adapter.theta_start() if theta0 is None else theta0)
    centre = adapter.laplace_at(mode)  # the search's last evaluation, when it ended here
    H = hessian_at(lp, mode)
    lam, V = np.linalg.eigh(H)
    if np.any(lam <= 0):
        raise ModelError(f"inla(): the Hessian of the log posterior of the hyperparameters is "
                         f"not positive definite at the mode (eigenvalues {lam}); the model "
                         "may be unidentified; give more informative priors")
    post = ThetaPosterior(mode, H, V, lam, np.zeros((0, d)), np.zeros((0, d)), np.zeros(0),
                          np.zeros(0), strategy, 0, 0.0)
    if strategy == "eb":
        z, dw = np.zeros((1, d)), np.ones(1)
    elif strategy == "ccd":
        z, dw = ccd_design(d, f0)
    elif strategy == "grid":
        z, dw = _grid(post, lp, adapter, dz, diff_logdens)
    else:
        raise ValueError(f"int_strategy must be 'ccd', 'grid', 'eb' or 'auto'; got "
                         f"{strategy!r}")
    theta = post.theta_of(z)
    points, logp = [], []
    for k, t in enumerate(theta):
        pt = centre if k == 0 and strategy != "grid" else adapter.laplace_at(t)
        points.append(pt)
        logp.append(pt.logml + lp.prior(t)[0])
    logp = np.array(logp)
    a = np.log(dw) + logp
    w = np.exp(a - a.max())
    post.points, post.z, post.log_post = theta, z, logp
    post.weights = w / w.sum()
    post.log_post_mode = float(logp[0]) if strategy != "grid" else float(
        logp[np.argmin(np.sum(z * z, axis=1))])
    post.evaluations = adapter.n_evaluations
    return post, points


def _grid(post: ThetaPosterior, lp: LogPosterior, adapter: EngineAdapter, dz: float,
          diff_logdens: float) -> tuple[np.ndarray, np.ndarray]:
    """The z-lattice of step ``dz`` where the log density is within ``diff_logdens`` of the
    mode, grown from the mode (no radius limit: a skewed posterior's long tail, e.g. an SPDE
    range's, keeps its points, and with them the latent values' uncertainty there)."""
    from .marginals import lattice_log_density

    d = len(post.mode)
    vals = lattice_log_density(lambda z: lp.value(post.theta_of(z)[0]), d, dz,
                               diff_logdens)
    f0 = vals[(0,) * d]
    keep = [k for k, v in vals.items() if np.isfinite(v) and f0 - v <= diff_logdens]
    z = np.array(sorted(keep, key=lambda k: sum(x * x for x in k)), dtype=float) * dz
    return z, np.ones(len(z))
