"""The INLA-style fit against closed forms (issue 15, item 6).

Every reference number here is computed in the test from textbook formulas with dense
numpy linear algebra, never from the package:

- Gaussian model, hyperparameters fixed: the joint posterior of (beta, b) is Gaussian and
  ``y ~ N(0, sigma^2 I + M S0 M')``; mlik, posterior means / SDs, DIC, WAIC, CPO and PIT are
  then exact (leave-one-out from the inverse covariance; Gelman et al. 2014 for WAIC).
- Normal model with unknown precision, flat mean and a Gamma prior on the precision
  (conjugate): ``tau | y ~ Gamma(a + (n-1)/2, b + S/2)``, ``mu | y`` Student t, ``p(y)`` closed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln

from spatialgamm.bayes import FixedEffectsPrior, LogGamma, inla


@pytest.fixture(scope="module")
def grouped():
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(8), 4)
    x = rng.normal(size=32)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.8, 8)[g] + rng.normal(0, 0.6, 32)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def _exact_gaussian(d, tau_b, tau_e, prec_fixed):
    n = len(d)
    X = np.column_stack([np.ones(n), d["x"].to_numpy()])
    levels = sorted(d["g"].unique())
    Z = (d["g"].to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    M = np.hstack([X, Z])
    S0 = np.diag(np.r_[np.full(2, 1 / prec_fixed), np.full(Z.shape[1], 1 / tau_b)])
    s2 = 1 / tau_e
    y = d["y"].to_numpy()
    Sy = s2 * np.eye(n) + M @ S0 @ M.T
    mlik = stats.multivariate_normal(np.zeros(n), Sy).logpdf(y)
    P = np.linalg.inv(S0) + M.T @ M / s2
    Cx = np.linalg.inv(P)
    mx = Cx @ M.T @ y / s2
    m_eta, v_eta = M @ mx, np.einsum("ij,jk,ik->i", M, Cx, M)
    K = np.linalg.inv(Sy)
    loo_m = y - (K @ y) / np.diag(K)
    loo_v = 1 / np.diag(K)
    cpo = stats.norm.pdf(y, loo_m, np.sqrt(loo_v))
    pit = stats.norm.cdf(y, loo_m, np.sqrt(loo_v))
    r = y - m_eta
    d_bar = np.sum(np.log(2 * np.pi * s2) + (r ** 2 + v_eta) / s2)
    d_hat = np.sum(np.log(2 * np.pi * s2) + r ** 2 / s2)
    lppd = np.sum(stats.norm.logpdf(y, m_eta, np.sqrt(s2 + v_eta)))
    p_waic = np.sum((2 * v_eta ** 2 + 4 * r ** 2 * v_eta) / (4 * s2 ** 2))
    return dict(mlik=mlik, mx=mx, sx=np.sqrt(np.diag(Cx)), cpo=cpo, pit=pit,
                dic=2 * d_bar - d_hat, p_d=d_bar - d_hat, waic=-2 * (lppd - p_waic),
                p_waic=p_waic, m_eta=m_eta, v_eta=v_eta)


def test_gaussian_fixed_hyperparameters_all_closed_form(grouped):
    tau_b, tau_e, pf = 1.7, 2.5, 0.01
    fit = inla("y ~ x + (1 | g)", grouped, fixed=FixedEffectsPrior(prec=pf, prec_intercept=pf),
               fixed_theta=[np.log(tau_b), np.log(tau_e)],
               control_compute={"dic": True, "waic": True, "cpo": True})
    ex = _exact_gaussian(grouped, tau_b, tau_e, pf)
    assert fit.mlik["log marginal-likelihood (integration)"] == pytest.approx(ex["mlik"],
                                                                             abs=1e-6)
    np.testing.assert_allclose(fit.summary_fixed["mean"], ex["mx"][:2], rtol=1e-7)
    np.testing.assert_allclose(fit.summary_fixed["sd"], ex["sx"][:2], rtol=1e-7)
    rnd = fit.summary_random["g"]
    np.testing.assert_allclose(rnd["mean"], ex["mx"][2:], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rnd["sd"], ex["sx"][2:], rtol=1e-6)
    np.testing.assert_allclose(fit.summary_linear_predictor["mean"], ex["m_eta"], rtol=1e-7)
    np.testing.assert_allclose(fit.summary_linear_predictor["sd"], np.sqrt(ex["v_eta"]),
                               rtol=1e-6)
    # quantiles of a Gaussian marginal
    q = stats.norm.ppf(0.975, ex["mx"][:2], ex["sx"][:2])
    np.testing.assert_allclose(fit.summary_fixed["0.975quant"], q, rtol=1e-6)
    np.testing.assert_allclose(fit.cpo["cpo"], ex["cpo"], rtol=1e-6)
    np.testing.assert_allclose(fit.cpo["pit"], ex["pit"], rtol=1e-6, atol=1e-9)
    assert fit.cpo["failure"].sum() == 0
    assert fit.dic["dic"] == pytest.approx(ex["dic"], rel=1e-8)
    assert fit.dic["p_eff"] == pytest.approx(ex["p_d"], rel=1e-6)
    assert fit.waic["waic"] == pytest.approx(ex["waic"], rel=1e-8)
    assert fit.waic["p_eff"] == pytest.approx(ex["p_waic"], rel=1e-6)


def _conjugate(y, a, b):
    n = len(y)
    S = float(np.sum((y - y.mean()) ** 2))
    a1, b1 = a + (n - 1) / 2, b + S / 2
    logpy = (-(n - 1) / 2 * np.log(2 * np.pi) - 0.5 * np.log(n) + a * np.log(b) - gammaln(a)
             + gammaln(a1) - a1 * np.log(b1))
    return a1, b1, logpy


@pytest.mark.parametrize("strategy", ["grid", "ccd"])
def test_normal_gamma_conjugate(strategy):
    rng = np.random.default_rng(3)
    y = rng.normal(2.0, 1.5, 30)
    a, b = 2.0, 1.0
    fit = inla("y ~ 1", pd.DataFrame({"y": y}), priors={"gaussian": LogGamma(a, b)},
               int_strategy=strategy)
    a1, b1, logpy = _conjugate(y, a, b)
    tau = stats.gamma(a1, scale=1 / b1)
    row = fit.summary_hyperpar.loc["Precision for the Gaussian observations"]
    # one hyperparameter: the marginal is the log posterior on a fine grid (exact here,
    # the Laplace approximation being exact for Gaussian data); 1e5 stratified draws
    assert row["mean"] == pytest.approx(tau.mean(), rel=2e-3)
    assert row["sd"] == pytest.approx(tau.std(), rel=5e-3)
    for p in (0.025, 0.5, 0.975):
        assert row[f"{p}quant"] == pytest.approx(tau.ppf(p), rel=3e-3)
    assert row["mode"] == pytest.approx((a1 - 1) / b1, rel=0.03)
    # mu | y ~ t_{2 a1}(ybar, sqrt(b1 / (a1 n))): the mixture over the design's points
    n = len(y)
    t = stats.t(2 * a1, y.mean(), np.sqrt(b1 / (a1 * n)))
    fx = fit.summary_fixed.loc["(Intercept)"]
    assert fx["mean"] == pytest.approx(y.mean(), rel=1e-8)
    tol = 0.01 if strategy == "grid" else 0.02  # a 3-point CCD mixture of Gaussians vs a t
    assert fx["sd"] == pytest.approx(t.std(), rel=tol)
    assert fx["0.975quant"] - y.mean() == pytest.approx(t.ppf(0.975) - y.mean(), rel=tol)
    # log p(y) by the design's quadrature
    assert fit.mlik["log marginal-likelihood (integration)"] == pytest.approx(logpy,
                                                                             abs=0.02)
