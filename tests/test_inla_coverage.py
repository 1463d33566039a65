"""Coverage of the INLA-style credible intervals in simulations with known truth (item 6).

Bayesian calibration (Cook, Gelman & Rubin 2006): when the truth is drawn from the prior
the fit uses, the 95% credible intervals of every quantity cover it with probability 0.95
averaged over the prior, if the posterior is right. A Poisson GLMM (8 groups
of 8) with the group SD drawn from its PC prior and the fixed effects from the N(1, 0.5^2)
and N(0, 0.5^2) priors given to the fit: 20 data sets in the default suite, 200 in the
slow one; intervals of the 8 group effects, the two fixed effects and the group SD.
Acceptance: within about three binomial SEs of 0.95 (the group effects of one data set are
correlated, so the bounds are wider than independent draws would need). The slow version runs an SPDE field
with range and sigma drawn from their PC prior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import shapely

from spatialgamm.bayes import FixedEffectsPrior, PCMatern, PCPrec, inla

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


@pytest.mark.slow
@pytest.mark.study
@pytest.mark.xfail(reason="known defect, issue 15: the sigma intervals cover 0.83 of prior draws "
                   "(run of 2026-12-02), below 0.85: marginals of two or more hyperparameters "
                   "are split-normal approximations, not integrated", strict=False)
def test_spde_credible_intervals_cover_prior_draws():
    from spatialgamm.mesh import SPDEOperator

    rng = np.random.default_rng(7)
    from spatialgamm.mesh import Mesh
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(0.8, 2.5), offset=(0, 1.5))
    op = SPDEOperator(mesh, 2.0)
    prior = PCMatern(prior_range=(1.5, 0.5), prior_sigma=(1.0, 0.1))
    hits = {"range": [], "sigma": [], "field": []}
    for _ in range(60):
        # range from its PC prior: 1/range ~ Exponential(lam_r) (d = 2); sigma ~ Exp(lam_s)
        r = 1.0 / rng.exponential(1.0 / prior.lam_r)
        s = rng.exponential(1.0 / prior.lam_s)
        if not 0.3 < r < 20:
            continue
        u = sla.solve_triangular(sla.cholesky(op.Q(r, s).toarray(), lower=False),
                                 rng.normal(size=mesh.n))
        xy = rng.uniform(0.2, 5.8, (150, 2))
        d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "c": 0})
        fit0 = inla("c ~ spde(x, y, mesh=mesh)", d.assign(c=1), family="poisson",
                    prior_range=(1.5, 0.5), prior_sigma=(1.0, 0.1), fixed_theta=[0.0, 0.0])
        A = fit0.adapter.system.Z
        d["c"] = rng.poisson(np.exp(1.0 + A @ u))
        fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=(1.5, 0.5),
                   prior_sigma=(1.0, 0.1), fixed=FixedEffectsPrior(mean_intercept=1.0,
                                                                    prec_intercept=1.0))
        hp = fit.summary_hyperpar
        hits["range"].append(hp.iloc[0]["0.025quant"] <= r <= hp.iloc[0]["0.975quant"])
        hits["sigma"].append(hp.iloc[1]["0.025quant"] <= s <= hp.iloc[1]["0.975quant"])
        f = fit.summary_random["spde(x, y)"]
        hits["field"].append(np.mean((f["0.025quant"] <= u) & (u <= f["0.975quant"])))
    assert 0.85 <= np.mean(hits["range"]) <= 1.0
    assert 0.85 <= np.mean(hits["sigma"]) <= 1.0
    assert 0.88 <= np.mean(hits["field"]) <= 0.99
