"""hypothesis() point hypotheses: brms's Savage-Dickey evidence ratio.

References: tests/reference/brms/brms_reference_mcmcfast.R (sleepstudy, normal(0, 10) on b,
``sample_prior = "yes"``, 4 x 5000 draws) and brms_reference_mcmcfast_na.R (no prior draws:
NA). The evidence ratio is the ratio of two kernel density estimates at a point, each with a
Monte Carlo error: for draws with effective size m, bandwidth h and density f at the point,
var(f_hat) ~ f R(K) / (m h) with R(K) = 1 / (2 sqrt(pi)) for the Gaussian kernel. The
tolerance is 4 such combined relative errors (ours and brms's, posterior and prior), plus the
relative error of f that comes from the two posteriors' own Monte Carlo error in the mean.
"""

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from spatialgamm.datasets import load_sleepstudy
from spatialgamm.mcmc import brm, prior
from spatialgamm.mcmc.hypothesis import bw_nrd0, hypothesis, kde_at

HERE = Path(__file__).parent / "reference/brms"
REF = json.loads((HERE / "brms_reference_mcmcfast.json").read_text())["sleepstudy_hyp"]
REF_NA = json.loads((HERE / "brms_reference_mcmcfast_na.json").read_text())
RK = 1 / (2 * np.sqrt(np.pi))


def kde_rel_se(x, ess, point=0.0):
    f = kde_at(x, point)
    return np.sqrt(f * RK / (ess * bw_nrd0(x))) / f


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return brm("Reaction ~ Days + (Days | Subject)", load_sleepstudy(),
                   prior=prior("normal(0, 10)", "b"), chains=4, iter=3000, seed=5,
                   progress=False)


def test_point_hypotheses_match_brms(fit):
    days = fit.draws("b_Days")
    ess = float(az.ess(fit.idata.posterior[["b_Days"]])["b_Days"])
    mcse = float(az.mcse(fit.idata.posterior[["b_Days"]])["b_Days"])
    ref_ess = REF["ess_bulk"]["b_Days"]
    n_ref = REF["n_draws"]
    for h in REF["hypothesis"]:
        got = fit.hypothesis(h["text"]).iloc[0]
        assert got["Estimate"] == pytest.approx(h["estimate"], abs=4 * np.hypot(
            mcse, REF["mcse_mean"]["b_Days"]))
        if "=" not in h["text"]:
            continue
        point = float(h["text"].split("=")[1]) if "-" not in h["text"] else 10.0
        sd = REF["sd"]["b_Days"]
        rng = np.random.default_rng(0)
        pri = rng.normal(0, 10, n_ref)  # brms's prior draws have the same law
        rel = np.sqrt(
            kde_rel_se(days - point, ess) ** 2  # our posterior
            + kde_rel_se(days - point, ref_ess) ** 2  # brms's (same law, its ESS)
            + kde_rel_se(pri - point, len(days)) ** 2  # our prior draws (iid)
            + kde_rel_se(pri - point, n_ref) ** 2  # brms's prior draws
            # the posteriors' own MC error moves the density at the point by
            # |d log f / d mean| * mcse = |point - mean| / sd^2 * mcse
            + (abs(point - days.mean()) / sd ** 2) ** 2
            * (mcse ** 2 + REF["mcse_mean"]["b_Days"] ** 2))
        assert got["Evid.Ratio"] == pytest.approx(h["evid_ratio"], rel=4 * rel), h
        assert got["Post.Prob"] == pytest.approx(h["evid_ratio"] / (1 + h["evid_ratio"]),
                                                 rel=4 * rel)
        assert h["post_prob"] == pytest.approx(h["evid_ratio"] / (1 + h["evid_ratio"]))
        assert got["Hypothesis"] == {"Days = 10": "(Days)-(10) = 0",
                                     "Days - 10 = 0": "(Days-10) = 0"}.get(
            h["text"], got["Hypothesis"])


def test_savage_dickey_closed_form():
    """Conjugate normal: prior N(0, 10^2), posterior N(10.5, 1.7^2): the evidence ratio at 10
    is the ratio of the two normal densities there."""
    from scipy import stats
    rng = np.random.default_rng(2)
    post = rng.normal(10.5, 1.7, 200_000)
    pri = {"Days": rng.normal(0, 10, 200_000)}
    got = hypothesis({"Days": post}, "Days = 10", priors=pri)["Evid.Ratio"].iloc[0]
    want = stats.norm(10.5, 1.7).pdf(10) / stats.norm(0, 10).pdf(10)
    # KDE bias at the posterior's centre: about -h^2 / (2 sd^2) relative
    h = bw_nrd0(post)
    assert got == pytest.approx(want * (1 - h ** 2 / (2 * 1.7 ** 2)), rel=0.02)


def test_no_prior_draws_give_na_as_brms(fit):
    # brms: NA evidence ratio and posterior probability without prior draws
    assert REF_NA["no_prior_draws"]["evid_ratio"][0] == "NA"
    assert REF_NA["flat_prior"]["evid_ratio"][0] == "NA"
    assert REF_NA["flat_prior"]["post_prob"][0] == "NA"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), chains=2, iter=400,
                   seed=1, progress=False)
    with pytest.warns(UserWarning, match="no prior draws of \\['Days'\\]"):
        h = flat.hypothesis(["Days = 10", "Days > 10"])
    assert np.isnan(h["Evid.Ratio"].iloc[0]) and np.isnan(h["Post.Prob"].iloc[0])
    assert np.isfinite(h["Evid.Ratio"].iloc[1])
    assert "notes" in h.attrs
    # the intercept's prior is on the centred intercept: no prior draws either
    with pytest.warns(UserWarning, match="Intercept"):
        h = fit.hypothesis("Intercept = 250")
    assert np.isnan(h["Evid.Ratio"].iloc[0])
