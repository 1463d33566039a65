"""Coverage of the INLA-style credible intervals in simulations with known truth (item 6).

Bayesian calibration (Cook, Gelman & Rubin 2006): when the truth is drawn from the prior
the fit uses, the 95% credible intervals of every quantity cover it with probability 0.95
averaged over the prior, if the posterior is right. A Poisson GLMM (8 groups
of 8) with the group SD drawn from its PC prior and the fixed effects from the N(1, 0.5^2)
and N(0, 0.5^2) priors given to the fit: 20 data sets in the default suite, 200 in the
slow one; intervals of the 8 group effects, the two fixed effects and the group SD.
Acceptance: within about three binomial SEs of 0.95 (the group effects of one data set are
correlated, so the bounds are wider than independent draws would need). The SPDE study
(every parameter drawn from the prior, no truncation) is tests/test_inlamarg_coverage.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spatialgamm.bayes import FixedEffectsPrior, PCPrec, inla

G, PER = 8, 8


def _glmm_once(rng):
    lam = -np.log(0.01) / 1.0  # PC prior P(sd > 1) = 0.01
    sd = rng.exponential(1 / lam)
    beta = rng.normal(0, 0.5, 2) + np.array([1.0, 0.0])  # the fit's prior below
    g = np.repeat(np.arange(G), PER)
    x = rng.normal(size=G * PER)
    b = rng.normal(0, sd, G)
    y = rng.poisson(np.exp(beta[0] + beta[1] * x + b[g]))
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g]})
    fit = inla("y ~ x + (1 | g)", d, family="poisson", priors={"g": PCPrec(1.0, 0.01)},
               fixed=FixedEffectsPrior(mean=0.0, prec=4.0, mean_intercept=1.0,
                                       prec_intercept=4.0))
    rnd = fit.summary_random["g"]
    cov_b = (rnd["0.025quant"] <= b) & (b <= rnd["0.975quant"])
    fx = fit.summary_fixed
    cov_f = (fx["0.025quant"] <= beta) & (beta <= fx["0.975quant"])
    s = fit.summary_sd.loc["SD for g"]
    return cov_b.to_numpy(), cov_f.to_numpy(), s["0.025quant"] <= sd <= s["0.975quant"]


def _glmm_coverage(n_sets: int, seed: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    cb, cf, cs = [], [], []
    for _ in range(n_sets):
        b, f, s = _glmm_once(rng)
        cb.append(b)
        cf.append(f)
        cs.append(s)
    return np.concatenate(cb).mean(), np.concatenate(cf).mean(), float(np.mean(cs))


def test_glmm_credible_intervals_cover_prior_draws_small():
    # 20 data sets: 160 group-effect intervals, 40 fixed-effect, 20 SD intervals
    cb, cf, cs = _glmm_coverage(20, 99)
    assert 0.86 <= cb <= 1.0, cb
    assert 0.82 <= cf <= 1.0, cf
    assert 0.75 <= cs <= 1.0, cs


@pytest.mark.slow
@pytest.mark.study
def test_glmm_credible_intervals_cover_prior_draws():
    # 200 data sets: binomial SE of a 0.95 rate over 200 intervals is 0.015
    cb, cf, cs = _glmm_coverage(200, 2026)
    assert 0.92 <= cb <= 0.98, cb
    assert 0.91 <= cf <= 0.99, cf
    assert 0.90 <= cs <= 0.99, cs
