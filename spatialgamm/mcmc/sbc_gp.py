"""Simulation-based calibration (Talts et al. 2018) of a small GP model sampled by brm().

``y ~ gp(x)`` (exact, Gaussian) on ``n`` equally spaced points in [0, 1] (so brms's scaling
leaves them as they are: the largest distance is 1), with proper priors

    Intercept ~ N(0, 1),  sdgp ~ N+(0, 1),  lscale ~ InvGamma(4, 1),  sigma ~ N+(0, 0.5).

Each replication draws the parameters from these priors, the field from the GP and the data,
samples one chain, thins it and records the rank of each true value among the draws;
:func:`spatialgamm.mcmc.sbc.rank_chisq` tests the ranks for uniformity.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .api import brm
from .priors import prior
from .sbc import SBCResult

GP_PRIORS = [prior("normal(0, 1)", "Intercept"), prior("normal(0, 1)", "sdgp"),
             prior("inv_gamma(4, 1)", "lscale"), prior("normal(0, 0.5)", "sigma")]
GP_PARAMS = ["b_Intercept", "sdgp_gpx", "lscale_gpx", "sigma"]


def simulate_gp(rng: np.random.Generator, n: int = 12) -> tuple[dict[str, float],
                                                               pd.DataFrame]:
    """True parameters from :data:`GP_PRIORS` and one data set of the module's model."""
    b0 = rng.normal()
    sdgp = abs(rng.normal())
    lscale = float(stats.invgamma.rvs(4, scale=1, random_state=rng))
    sigma = abs(rng.normal(0, 0.5))
    x = np.linspace(0, 1, n)
    K = sdgp ** 2 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / lscale ** 2)
    f = np.linalg.cholesky(K + 1e-9 * np.eye(n)) @ rng.standard_normal(n)
    y = b0 + f + sigma * rng.standard_normal(n)
    return dict(zip(GP_PARAMS, [b0, sdgp, lscale, sigma])), pd.DataFrame({"x": x, "y": y})


def sbc_gp(n_rep: int, seed: int = 0, n_draws: int = 99, thin: int = 2, warmup: int = 300,
           n: int = 12) -> SBCResult:
    """Ranks of the true parameters over ``n_rep`` replications (one chain each,
    ``n_draws`` kept draws after thinning by ``thin``).

    Examples
    --------
    >>> res = sbc_gp(n_rep=1, n_draws=9, thin=1, warmup=50)  # doctest: +SKIP
    >>> list(res.ranks.columns)  # doctest: +SKIP
    ['b_Intercept', 'sdgp_gpx', 'lscale_gpx', 'sigma']
    """
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_rep):
        truth, df = simulate_gp(rng, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = brm("y ~ gp(x)", df, prior=GP_PRIORS, chains=1,
                      iter=warmup + n_draws * thin, warmup=warmup, thin=thin,
                      seed=seed * 100_003 + r, cores=1, progress=False, adapt_delta=0.95)
        rows.append({k: int(np.sum(fit.draws(k) < v)) for k, v in truth.items()})
    return SBCResult(pd.DataFrame(rows), n_draws)
