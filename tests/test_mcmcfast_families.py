"""brm() with the negative binomial and Gamma families against brms 2.18 (rstan 2.21).

References: tests/reference/brms/brms_reference_mcmcfast.R (4 chains x 5000 post-warm-up
draws; it records brms's own MCSEs) on brms's epilepsy data (NB GLMM), MASS's quine (NB,
population-level effects only) and lme4's sleepstudy (Gamma GLMM, log link). A posterior
mean must agree within 4 combined MCSEs (ours from ArviZ, brms's as recorded), a posterior
SD within 4 combined MCSEs of an SD; the priors must be brms's defaults, shape included.
Short chains in the default suite (wider MCSEs, same rule), long ones marked slow.
"""

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from spatialgamm.datasets import load_sleepstudy
from spatialgamm.mcmc import brm, compiled

pytestmark = pytest.mark.skipif(not compiled.HAVE_NUMBA, reason="numba not installed")
HERE = Path(__file__).parent / "reference/brms"
REF = json.loads((HERE / "brms_reference_mcmcfast.json").read_text())


def epilepsy():
    d = pd.read_csv(HERE / "epilepsy.csv")
    d["patient"] = d["patient"].astype(str)
    d["Trt"] = d["Trt"].astype(str)
    return d


CASES = {
    "epilepsy_nb": ("count ~ zAge + zBase * Trt + (1 | patient)", epilepsy, "negbinomial"),
    "quine_nb": ("Days ~ Eth + Sex + Age + Lrn", lambda: pd.read_csv(HERE / "quine.csv"),
                 "negbinomial"),
    "sleepstudy_gamma": ("Reaction ~ Days + (Days | Subject)", load_sleepstudy,
                         "Gamma(link='log')"),
}


def fit_case(label, chains, iter, seed=3):
    formula, load, family = CASES[label]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return brm(formula, load(), family=family, chains=chains, iter=iter, seed=seed,
                   progress=False)


def check(fit, label, z=4.0):
    ref = REF[label]
    post = fit.idata.posterior
    names = list(ref["mean"])
    assert set(names) <= set(post.data_vars), set(names) - set(post.data_vars)
    for var in names:
        v = post[var].values.ravel()
        mcse = float(az.mcse(post[[var]])[var])
        mcse_sd = float(az.mcse(post[[var]], method="sd")[var])
        assert abs(v.mean() - ref["mean"][var]) < z * np.hypot(mcse, ref["mcse_mean"][var]), \
            (label, var, v.mean(), ref["mean"][var])
        assert abs(v.std(ddof=1) - ref["sd"][var]) < z * np.hypot(mcse_sd, ref["mcse_sd"][var]), \
            (label, var, v.std(ddof=1), ref["sd"][var])
    assert np.all(az.rhat(post[names]).to_array().values < 1.05)


def check_priors(fit, label):
    ours = fit.prior_summary()
    ref = pd.DataFrame(REF[label]["prior"])
    # brms's Cholesky-factor rows (class L) are our "cor" (tested in test_mcmc_density.py);
    # its group-less sd row is the class default, which our table states per group
    # rows with no prior of their own inherit the class's (b: flat)
    ref = ref[~ref["class"].isin(["L"]) & ~((ref["class"] == "sd") & (ref["group"] == ""))
              & ((ref["prior"] != "") | (ref["class"] == "b"))]
    for _, r in ref.iterrows():
        coef = r["coef"]
        m = ours[(ours["class"] == r["class"]) & (ours["coef"] == coef)
                 & (ours["group"] == r["group"])]
        assert len(m) == 1, (label, r.to_dict())
        want = r["prior"] or "(flat)"
        assert m["prior"].iloc[0] == want, (label, r.to_dict(), m["prior"].iloc[0])


@pytest.mark.parametrize("label", ["quine_nb", "sleepstudy_gamma"])
def test_against_brms_short(label):
    fit = fit_case(label, chains=4, iter=1000)
    check(fit, label)
    check_priors(fit, label)
    assert "shape" in fit.summary().spec_pars.index


def test_epilepsy_priors_and_draws_layout():
    fit = fit_case("epilepsy_nb", chains=2, iter=400)
    check_priors(fit, "epilepsy_nb")
    idata = fit.idata
    assert idata.log_likelihood["y"].shape[-1] == 236
    yrep = idata.posterior_predictive["y"].values
    assert np.all(yrep >= 0) and np.all(yrep == np.round(yrep))  # counts


@pytest.mark.slow
@pytest.mark.parametrize("label", list(CASES))
def test_against_brms_long(label):
    check(fit_case(label, chains=4, iter=4000), label)


def test_shape_families_pointwise_loglik_is_scipys():
    from scipy import stats

    from spatialgamm.families import get_family
    from spatialgamm.mcmc.shape_families import loglik_draws, predict_draws
    y = np.array([0.0, 3.0, 10.0])
    mu = np.array([[1.0, 2.0, 8.0]])
    ll = loglik_draws(get_family("negbinomial"), y, mu, np.array([2.5]), np.ones(3))
    assert np.allclose(ll, stats.nbinom.logpmf(y, 2.5, 2.5 / (2.5 + mu)))
    # NB2: var = mu + mu^2 / shape; Gamma: var = mu^2 / shape
    rng = np.random.default_rng(0)
    big = np.full((1, 200_000), 4.0)
    r = predict_draws(get_family("negbinomial"), big, np.array([2.0]), rng)
    assert abs(r.var() - (4 + 16 / 2)) < 0.2
    r = predict_draws(get_family("Gamma"), big, np.array([8.0]), rng)
    assert abs(r.mean() - 4) < 0.02 and abs(r.var() - 2) < 0.05


def test_unsupported_link_is_refused_by_name():
    with pytest.raises(NotImplementedError, match="identity"):
        brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(),
            family="Gamma(link='identity')", chains=1, iter=20, progress=False)
