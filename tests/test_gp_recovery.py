"""Simulated fields with known parameters: the estimates land within sampling error.

Truth is the simulation's: Matern fields drawn exactly (Cholesky of the covariance), then
the fitted 95% profile intervals must cover the true range and sigma, and the residual SD /
fixed effects must sit within a few standard errors of theirs.
"""

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _dist(a):
    return np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))


def _field(rng, xy, corr, range_, sd):
    K = corr(_dist(xy) / range_)
    return sd * np.linalg.cholesky(K + 1e-10 * np.eye(len(xy))) @ rng.standard_normal(len(xy))


def test_gaussian_matern_field_recovered():
    rng = np.random.default_rng(0)
    n, true_range, true_sd, true_e = 300, 1.0, 1.0, 0.4
    xy = rng.uniform(0, 10, (n, 2))
    f = _field(rng, xy, lambda u: (1 + u) * np.exp(-u), true_range, true_sd)
    y = 2.0 + f + rng.normal(0, true_e, n)
    d = pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "y": y})
    fit = sg.fit("y ~ 1 + gp(sx, sy, kernel='matern32')", d)
    assert fit.converged
    ci = fit.confint(["range", "sigma"])
    lo, hi = ci.loc["gp(sx,sy): range", ["2.5 %", "97.5 %"]]
    assert lo < true_range < hi
    lo, hi = ci.loc["gp(sx,sy): sigma", ["2.5 %", "97.5 %"]]
    assert lo < true_sd < hi
    assert fit.sigma == pytest.approx(true_e, rel=0.15)
    assert abs(fit.fixef["(Intercept)"] - 2.0) < 3 * fit.se["(Intercept)"]


@pytest.mark.slow
def test_poisson_field_with_nugget_recovered():
    # Diggle, Tawn & Moyeed's model: log-rate = beta + S(x) + nugget, counts with exposure
    rng = np.random.default_rng(1)
    n, true_range, true_sd, true_tau = 250, 1.5, 0.8, 0.3
    xy = rng.uniform(0, 10, (n, 2))
    f = _field(rng, xy, lambda u: np.exp(-u), true_range, true_sd)
    expo = rng.uniform(5, 20, n)
    y = rng.poisson(expo * np.exp(0.5 + f + rng.normal(0, true_tau, n)))
    d = pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "expo": expo, "y": y})
    fit = sg.fit("y ~ 1 + gp(sx, sy, kernel='exponential', nugget=True) + offset(log(expo))",
                 d, family="poisson", method="ML")
    p = fit.gp_params.iloc[0]
    ci = fit.confint(["range", "sigma", "nugget"])
    for name, truth in (("range", true_range), ("sigma", true_sd), ("nugget", true_tau)):
        lo, hi = ci.loc[f"gp(sx,sy): {name}", ["2.5 %", "97.5 %"]]
        assert lo < truth < hi, (name, lo, truth, hi)
    assert p["nugget"] == pytest.approx(true_tau, abs=0.15)
    assert abs(fit.fixef["(Intercept)"] - 0.5) < 3 * fit.se["(Intercept)"]
