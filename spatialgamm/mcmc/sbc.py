"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

For each replication: draw parameters from the prior, data from the model, sample the
posterior, thin to roughly independent draws and record the rank of each true value among
them. A calibrated sampler gives uniform ranks; :func:`rank_chisq` tests that.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .api import brm
from .priors import prior

#: the proper priors of the random-intercept LMM used for calibration
SBC_PRIORS = [prior("normal(0, 1)", "b"), prior("normal(0, 1)", "sd"),
              prior("normal(0, 1)", "sigma")]
PARAMS = ["b_Intercept", "b_x", "sd_g__Intercept", "sigma"]


@dataclass
class SBCResult:
    ranks: pd.DataFrame  # one row per replication, one column per parameter
    n_draws: int  # ranks run from 0 to n_draws


def simulate_lmm(rng: np.random.Generator, n_groups: int = 6, per_group: int = 4,
                 family: str = "gaussian") -> tuple[dict[str, float], pd.DataFrame]:
    """Parameters from :data:`SBC_PRIORS` and one data set of ``y ~ x + (1 | g)``
    (Gaussian, or Poisson with a log link)."""
    b0, b1 = rng.normal(0, 1, 2)
    sd, sigma = np.abs(rng.normal(0, 1, 2))
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=g.size)
    u = rng.normal(0, sd, n_groups)
    eta = b0 + b1 * x + u[g]
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
        truth = dict(zip(PARAMS[:3], [b0, b1, sd]))
    else:
        y = eta + rng.normal(0, sigma, g.size)
        truth = dict(zip(PARAMS, [b0, b1, sd, sigma]))
    return truth, pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def sbc_lmm(n_rep: int, seed: int = 0, n_draws: int = 99, thin: int = 2, warmup: int = 300,
            n_groups: int = 6, per_group: int = 4, family: str = "gaussian") -> SBCResult:
    """Ranks of the true parameters of ``y ~ x + (1 | g)`` over ``n_rep`` replications
    (one chain each, ``n_draws`` kept draws after thinning by ``thin``)."""
    if family not in ("gaussian", "poisson"):
        raise ValueError(f"family must be 'gaussian' or 'poisson', got {family!r}")
    rng = np.random.default_rng(seed)
    priors = SBC_PRIORS if family == "gaussian" else SBC_PRIORS[:2]
    rows = []
    for r in range(n_rep):
        truth, df = simulate_lmm(rng, n_groups, per_group, family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = brm("y ~ x + (1 | g)", df, family=family, prior=priors, center=False,
                      chains=1, iter=warmup + n_draws * thin, warmup=warmup, thin=thin,
                      seed=seed * 100_003 + r, cores=1, progress=False)
        rows.append({k: int(np.sum(fit.draws(k) < v)) for k, v in truth.items()})
    return SBCResult(pd.DataFrame(rows), n_draws)


def rank_chisq(ranks: np.ndarray, n_draws: int, bins: int) -> float:
    """p-value of Pearson's chi-square test that ranks in ``0..n_draws`` are uniform, on
    ``bins`` equal bins (``n_draws + 1`` must be a multiple of ``bins``)."""
    if (n_draws + 1) % bins:
        raise ValueError(f"n_draws + 1 ({n_draws + 1}) must be a multiple of bins ({bins})")
    counts = np.bincount(np.asarray(ranks) * bins // (n_draws + 1), minlength=bins)
    return float(stats.chisquare(counts).pvalue)
