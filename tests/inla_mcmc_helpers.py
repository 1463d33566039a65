"""Reference samplers for the INLA tests: Hamiltonian Monte Carlo on joint posteriors,
written for the tests from the model's equations (nothing from the package).

``hmc`` is the basic algorithm of Neal (2011, "MCMC using Hamiltonian dynamics"): leapfrog
with a diagonal mass matrix estimated in warm-up, the step size tuned in warm-up to an
acceptance rate near 0.8 (dual averaging, Hoffman & Gelman 2014, sec. 3.2), a jittered
number of steps.
"""

from __future__ import annotations

import numpy as np


def hmc(logp_grad, x0: np.ndarray, n_iter: int, n_warm: int, n_leap: int = 16,
        seed: int = 0) -> tuple[np.ndarray, float]:
    """Draws (n_iter, d) after warm-up, and the acceptance rate after warm-up."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x0, dtype=float).copy()
    d = len(x)
    lp, g = logp_grad(x)
    inv_mass = np.ones(d)
    eps, log_eps_bar, h_bar, mu = 0.1, 0.0, 0.0, np.log(1.0)
    warm: list[np.ndarray] = []
    out = np.empty((n_iter, d))
    acc = 0
    for it in range(n_warm + n_iter):
        p = rng.normal(size=d) / np.sqrt(inv_mass)
        xn, gn, pn = x.copy(), g.copy(), p.copy()
        L = int(rng.integers(n_leap // 2, n_leap + 1))
        pn += 0.5 * eps * gn
        for k in range(L):
            xn += eps * inv_mass * pn
            lpn, gn = logp_grad(xn)
            if not np.isfinite(lpn):
                break
            if k < L - 1:
                pn += eps * gn
        pn += 0.5 * eps * gn
        h0 = lp - 0.5 * np.sum(inv_mass * p * p)
        h1 = lpn - 0.5 * np.sum(inv_mass * pn * pn) if np.isfinite(lpn) else -np.inf
        a = float(np.exp(min(0.0, h1 - h0))) if np.isfinite(h1) else 0.0
        if rng.random() < a:
            x, lp, g = xn, lpn, gn
            if it >= n_warm:
                acc += 1
        if it < n_warm:  # dual averaging of log eps towards acceptance 0.8
            m = it + 1
            h_bar = (1 - 1 / (m + 10)) * h_bar + (0.8 - a) / (m + 10)
            log_eps = mu - np.sqrt(m) / 0.05 * h_bar
            eta = m ** -0.75
            log_eps_bar = eta * log_eps + (1 - eta) * log_eps_bar
            eps = float(np.exp(log_eps))
            warm.append(x.copy())
            if it == n_warm // 2:  # the mass matrix from the first half of warm-up
                inv_mass = np.var(np.array(warm[n_warm // 4:]), axis=0) + 1e-6
                mu, h_bar, log_eps_bar = np.log(10 * eps), 0.0, 0.0
            if it == n_warm - 1:
                eps = float(np.exp(log_eps_bar))
        else:
            out[it - n_warm] = x
    return out, acc / n_iter


def ess(x: np.ndarray) -> float:
    """Effective sample size of one chain (Geyer's initial positive sequence)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    acf /= acf[0]
    s = 0.0
    for k in range(1, n - 1, 2):
        pair = acf[k] + acf[k + 1]
        if pair < 0:
            break
        s += pair
    return n / (1 + 2 * s)
