"""Profile intervals of a GP's SD (results/gp_profiles.py) against an independent profile.

The independent profile fixes the GP's absolute SD at a limit and maximises the marginal
likelihood ``y ~ N(X beta, s^2 K(range) + s_e^2 I)`` over the range and the residual SD
with scipy's Nelder-Mead (beta by GLS), written out here from the model's definition. At
each profile limit that maximum must sit chi2(1, 0.95) / 2 below the overall maximum.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.stats import multivariate_normal

import spatialgamm as sg

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _dist(a):
    return np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))


def _m32(d, r):
    return (1 + d / r) * np.exp(-d / r)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(23)
    n = 60
    xy = rng.uniform(0, 6, (n, 2))
    f = 0.8 * np.linalg.cholesky(_m32(_dist(xy), 1.2) + 1e-10 * np.eye(n)) @ \
        rng.standard_normal(n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + f + rng.normal(0, 0.4, n)
    return pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x, "y": y})


def _nll_at_sigma(d, sigma, start):
    """min over (log range, log sigma_e) of -log L with the GP's SD fixed at ``sigma``."""
    D = _dist(d[["sx", "sy"]].to_numpy())
    X = np.column_stack([np.ones(len(d)), d["x"]])
    y = d["y"].to_numpy()

    def nll(par):
        V = sigma ** 2 * (_m32(D, np.exp(par[0])) + 1e-8 * np.eye(len(d))) + \
            np.exp(2 * par[1]) * np.eye(len(d))
        Vi = np.linalg.inv(V)
        beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
        return -multivariate_normal(X @ beta, V).logpdf(y)
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return res.fun


def test_sd_profile_limits_match_an_independent_profile(data):
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32')", data, method="ML")
    ci = fit.confint(["sigma"])
    assert list(ci.index) == ["gp(sx,sy): sigma"]
    lo, hi = ci.iloc[0, 1], ci.iloc[0, 2]
    est = fit.gp_sigma
    assert 0 < lo < est < hi < np.inf
    half_crit = stats.chi2.ppf(0.95, 1) / 2
    start = [np.log(fit.gp_params["range"].iloc[0]), np.log(fit.sigma)]
    for limit in (lo, hi):
        assert _nll_at_sigma(data, limit, start) + fit.loglik == pytest.approx(half_crit,
                                                                              abs=2e-3)


def test_results_gp_still_exports_the_split_functions():
    from spatialgamm.results import gp, gp_profiles, gp_report, gp_simulate
    assert gp.confint is gp_profiles.confint
    assert gp.simulate_field is gp_simulate.simulate_field
    for name in ("gp_params", "gp_range", "gp_sigma", "heritability", "gaussian_joint_vcov",
                 "vcov_fixef"):
        assert getattr(gp, name) is getattr(gp_report, name)
