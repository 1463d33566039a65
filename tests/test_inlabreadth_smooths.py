"""inla() with mgcv smooths (issue 15, "every model it fits"): s() and te() terms the INLA way.

Each penalty of a smooth carries a precision ``tau_j`` (prior ``tau_j b'S_j b``, INLA's
log-gamma(1, 5e-5) by default), its null space enters the fixed effects. At fixed
hyperparameters the Gaussian posterior is closed-form and equals mgcv's penalised fit at
``sp_j = tau_j * scale`` with the scale known: coefficients = gam's, covariance = gam's Vp.
References: ``tests/reference/inlabreadth/smooths.R`` (mgcv 1.8-41, R 4.2.2). A small
Poisson smooth is checked against a long HMC run on its exact joint posterior (the test's own
sampler, ``tests/inla_mcmc_helpers.py``), with the PC prior ``P(sd > 1) = 0.01`` on the
smooth: under INLA's default log-gamma(1, 5e-5) the posterior of its log precision is
bimodal here (the Laplace log posterior is -131.8 at the wiggly mode, -133.9 on a wide plateau
near log tau = 9 where the smooth is shrunk to its linear null space, which the prior's mean
2e4 favours); HMC puts half its draws on the plateau, and INLA's Gaussian-centred CCD sees one
mode only, as R-INLA's would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inla_mcmc_helpers import ess, hmc

from spatialgamm.bayes import FixedEffectsPrior, PCPrec, inla
from spatialgamm.model import build_model

REF = Path(__file__).parent / "reference" / "inlabreadth"


@pytest.fixture(scope="module")
def ref():
    return (pd.read_csv(REF / "smooths.csv"),
            json.loads((REF / "smooths.json").read_text()))


def test_s_at_fixed_theta_is_mgcv_at_fixed_sp(ref):
    d, r = ref
    scale = r["scale"]
    tau_e = 1.0 / scale
    tau_s = r["s"]["sp"] * tau_e
    fit = inla("y ~ s(x)", d, fixed=FixedEffectsPrior(prec=0.0),
               fixed_theta=[np.log(tau_s), np.log(tau_e)])
    lp = fit.summary_linear_predictor
    np.testing.assert_allclose(lp["mean"], r["s"]["fit"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lp["sd"], r["s"]["se"], rtol=1e-5)


def test_te_at_fixed_theta_is_mgcv_at_fixed_sp(ref):
    d, r = ref
    tau_e = 1.0 / r["scale"]
    th = [np.log(s * tau_e) for s in r["te"]["sp"]] + [np.log(tau_e)]
    fit = inla("y ~ te(x, z)", d, fixed=FixedEffectsPrior(prec=0.0), fixed_theta=th)
    lp = fit.summary_linear_predictor
    np.testing.assert_allclose(lp["mean"], r["te"]["fit"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lp["sd"], r["te"]["se"], rtol=1e-5)
    names = list(fit.adapter.names)
    assert names[:2] == ["log precision for te(x,z)1", "log precision for te(x,z)2"]


def test_two_smooths_integrated_recover_the_truth(ref):
    """Integrated over theta (3 hyperparameters, CCD): the noise SD's interval covers the
    simulation's 0.3 and the posterior mean of the predictor is within 0.1 RMS of the truth;
    both smooths get INLA's default prior."""
    d, _ = ref
    fit = inla("y ~ s(x) + s(z)", d)
    sd = fit.summary_sd.loc["SD for the Gaussian observations"]
    assert sd["0.025quant"] < 0.3 < sd["0.975quant"]
    truth = np.sin(2 * np.pi * d["x"]) + 0.5 * np.cos(3 * d["z"])
    resid = fit.summary_linear_predictor["mean"].to_numpy() - truth.to_numpy()
    assert float(np.sqrt(np.mean(resid ** 2))) < 0.1
    pr = fit.prior_summary().set_index("term")
    assert pr.loc["s(x)", "prior"].startswith("loggamma(shape 1, rate 5e-05)")
    assert bool(pr.loc["s(z)", "default"])


@pytest.fixture(scope="module")
def poisson_smooth():
    rng = np.random.default_rng(31)
    n = 60
    x = np.sort(rng.uniform(0, 1, n))
    y = rng.poisson(np.exp(1.0 + np.sin(2 * np.pi * x)))
    d = pd.DataFrame({"x": x, "y": y})
    form = "y ~ s(x, k=6)"
    spec = build_model(form, d, "poisson")
    X = np.asarray(spec.X, dtype=float)
    Z = np.asarray(spec.blocks[0].Z.toarray() if hasattr(spec.blocks[0].Z, "toarray")
                   else spec.blocks[0].Z, dtype=float)
    p, q = X.shape[1], Z.shape[1]
    prec = np.array([0.0] + [0.001] * (p - 1))  # INLA's: flat intercept, N(0, 1e-3) others
    lam = -np.log(0.01) / 1.0  # pc.prec: P(sd > 1) = 0.01

    def logp_grad(par):  # non-centred: b = e / sqrt(tau), theta = log tau
        beta, e, th = par[:p], par[p:p + q], par[-1]
        s = np.exp(-0.5 * th)
        eta = X @ beta + s * (Z @ e)
        mu = np.exp(eta)
        r = y - mu
        lp = (np.sum(y * eta - mu) - 0.5 * np.sum(prec * beta ** 2) - 0.5 * np.sum(e * e)
              + np.log(0.5 * lam) - lam * s - 0.5 * th)
        gb = X.T @ r - prec * beta
        ge = s * (Z.T @ r) - e
        gt = float(r @ (-0.5 * s * (Z @ e))) + 0.5 * lam * s - 0.5
        return lp, np.concatenate([gb, ge, [gt]])

    x0 = np.concatenate([[np.log(y.mean())], np.zeros(p - 1 + q), [0.0]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        draws, acc = hmc(logp_grad, x0, n_iter=8000, n_warm=2000, seed=3)
    assert acc > 0.5
    s = np.exp(-0.5 * draws[:, -1])
    eta = draws[:, :p] @ X.T + s[:, None] * (draws[:, p:p + q] @ Z.T)
    return d, form, draws, eta


@pytest.mark.slow
def test_poisson_smooth_matches_hmc(poisson_smooth):
    d, form, draws, eta = poisson_smooth
    fit = inla(form, d, family="poisson", priors={"s(x)": PCPrec(1.0, 0.01)})
    lp = fit.summary_linear_predictor
    m, s = eta.mean(axis=0), eta.std(axis=0)
    mcse = s / np.sqrt(min(ess(eta[:, i]) for i in range(0, eta.shape[1], 10)))
    # the Gaussian strategy's means sit at the conditional modes: a fraction of an SD off
    # for counts near e (module doc of test_inla_mcmc); SDs within 10%
    assert np.all(np.abs(lp["mean"] - m) < 0.2 * s + 4 * mcse)
    np.testing.assert_allclose(lp["sd"], s, rtol=0.10)
    th = draws[:, -1]
    row = fit.summary_hyperpar_internal.loc["log precision for s(x)"]
    assert abs(row["0.5quant"] - np.median(th)) < 0.2 * th.std()
    assert row["sd"] == pytest.approx(th.std(), rel=0.2)
