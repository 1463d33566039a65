"""brm() against brms 2.18 (rstan 2.21) on sleepstudy and cbpp.

The references (tests/reference/brms/brms_reference.R -> brms_reference.json) are 4 chains x
3000 post-warm-up draws. Tolerances are Monte Carlo errors, never tuned: a posterior mean
must agree within 4 combined MCSEs (ours from ArviZ; brms's from its SD and a conservative
ESS of a fifth of its draws), a posterior SD within 4 combined MCSEs of an SD, elpd_loo within
brms's SE of elpd_loo, and the posterior probability of ``Days > 10`` within 4 binomial MC
errors. Short chains in the default suite (wider errors, same rule), long ones marked slow.
"""

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from spatialgamm.datasets import load_cbpp, load_sleepstudy
from spatialgamm.mcmc import brm, loo_compare

REF = json.loads((Path(__file__).parent / "reference/brms/brms_reference.json").read_text())
SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "incidence | trials(size) ~ period + (1 | herd)"


def _fit(label, chains, iter, seed=11):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if label == "sleepstudy":
            return brm(SLEEP, load_sleepstudy(), chains=chains, iter=iter, seed=seed,
                       progress=False)
        return brm(CBPP, load_cbpp(), family="binomial", chains=chains, iter=iter, seed=seed,
                   progress=False)


def check_against_brms(fit, label, z=4.0, ref=None, ref_ess=None):
    """``ref_ess``: the reference's effective sample size used for its MCSE (default a fifth
    of its draws; below brms's smallest bulk ESS for sleepstudy and cbpp)."""
    ref = (ref or REF)[label]
    n_ref = ref["n_draws"]
    ess_ref = ref_ess or n_ref / 5
    post = fit.idata.posterior
    for var, m_ref in ref["mean"].items():
        sd_ref = ref["sd"][var]
        v = post[var].values.ravel()
        mcse = float(az.mcse(post[[var]])[var])
        mcse_sd = float(az.mcse(post[[var]], method="sd")[var])
        ref_mcse = sd_ref / np.sqrt(ess_ref)
        assert abs(v.mean() - m_ref) < z * np.hypot(mcse, ref_mcse), (var, v.mean(), m_ref)
        ref_mcse_sd = sd_ref / np.sqrt(2 * ess_ref)
        assert abs(v.std(ddof=1) - sd_ref) < z * np.hypot(mcse_sd, ref_mcse_sd), \
            (var, v.std(ddof=1), sd_ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo = fit.loo()
    assert abs(lo.elpd_loo - ref["elpd_loo"]) < ref["elpd_loo_se"]
    assert np.all(az.rhat(post[list(ref["mean"])]).to_array().values < 1.05)


@pytest.fixture(scope="module")
def sleep_fit():
    return _fit("sleepstudy", chains=2, iter=1000)


@pytest.fixture(scope="module")
def cbpp_fit():
    return _fit("cbpp", chains=2, iter=1000)


def test_sleepstudy_short_chains_agree_with_brms(sleep_fit):
    check_against_brms(sleep_fit, "sleepstudy")


def test_cbpp_short_chains_agree_with_brms(cbpp_fit):
    check_against_brms(cbpp_fit, "cbpp")


def test_hypothesis_days_gt_10_matches_brms(sleep_fit):
    ref = REF["sleepstudy"]["hypothesis_days_gt_10"]
    h = sleep_fit.hypothesis("Days > 10").iloc[0]
    assert h["Hypothesis"] == "(Days)-(10) > 0"
    ess = float(az.ess(sleep_fit.idata.posterior[["b_Days"]])["b_Days"])
    p = ref["post_prob"]
    assert abs(h["Post.Prob"] - p) < 4 * np.sqrt(p * (1 - p) / ess) + 4 * np.sqrt(
        p * (1 - p) / (REF["sleepstudy"]["n_draws"] / 5))
    assert h["Evid.Ratio"] == pytest.approx(h["Post.Prob"] / (1 - h["Post.Prob"]))
    days = sleep_fit.draws("b_Days")
    assert h["Estimate"] == pytest.approx(days.mean() - 10)
    # two statements at once, a point hypothesis and errors naming the fault
    hh = sleep_fit.hypothesis(["Intercept - 25 * Days > 0", "Days = 10"])
    assert len(hh) == 2 and np.isnan(hh["Evid.Ratio"].iloc[1])
    with pytest.raises(ValueError, match="'Dayz'"):
        sleep_fit.hypothesis("Dayz > 1")
    with pytest.raises(ValueError, match="lhs > rhs"):
        sleep_fit.hypothesis("Days")


def test_inference_data_groups_and_summary_layout(sleep_fit):
    idata = sleep_fit.idata
    for g in ("posterior", "log_likelihood", "posterior_predictive", "observed_data",
              "sample_stats"):
        assert g in idata.groups()
    assert idata.posterior["r_Subject"].shape == (2, 500, 18, 2)
    assert idata.log_likelihood["y"].shape == (2, 500, 180)
    assert "diverging" in idata.sample_stats and "tree_depth" in idata.sample_stats
    s = sleep_fit.summary()
    cols = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]
    assert list(s.fixed.columns) == cols
    assert list(s.fixed.index) == ["Intercept", "Days"]
    assert list(s.random["Subject"].index) == ["sd(Intercept)", "sd(Days)",
                                               "cor(Intercept,Days)"]
    assert "Group-Level Effects" in str(s) and "sigma" in str(s)
    # the summary's numbers are the draws' (mean, sd, quantiles)
    d = sleep_fit.draws("b_Days")
    assert s.fixed.loc["Days", "Estimate"] == pytest.approx(d.mean())
    assert s.fixed.loc["Days", "u-95% CI"] == pytest.approx(np.quantile(d, 0.975))
    ps = sleep_fit.prior_summary()
    assert set(ps["class"]) == {"b", "Intercept", "cor", "sd", "sigma"}


def test_conditional_effects_bands_and_spaghetti(sleep_fit):
    ce = sleep_fit.conditional_effects("Days", spaghetti=True, ndraws=20)
    t = ce.table
    assert len(t) == 100 and ce.spaghetti.shape == (20, 100)
    b0, b1 = sleep_fit.draws("b_Intercept"), sleep_fit.draws("b_Days")
    # the band at Days = 9 is the quantiles of b0 + 9 b1 (group effects left out)
    at9 = b0 + 9 * b1
    assert t["upper__"].iloc[-1] == pytest.approx(np.quantile(at9, 0.975))
    assert t["estimate__"].iloc[-1] == pytest.approx(np.median(at9))
    import matplotlib
    matplotlib.use("Agg")
    ax = ce.plot()
    assert ax.get_xlabel() == "Days"
    with pytest.raises(ValueError, match="'Dayz'"):
        sleep_fit.conditional_effects("Dayz")


def test_binomial_conditional_effects_over_a_factor(cbpp_fit):
    ce = cbpp_fit.conditional_effects("period")
    assert list(ce.table["period"].astype(str)) == ["1", "2", "3", "4"]
    assert np.all((ce.table["estimate__"] > 0) & (ce.table["estimate__"] < 1))


def test_loo_compare_ranks_the_better_model(sleep_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), chains=2, iter=600,
                    seed=5, progress=False)
        cmp = loo_compare(sleep_fit, small, names=["slopes", "intercepts"])
    assert cmp.index[0] == "slopes"
    assert cmp.loc["slopes", "elpd_diff"] == 0 and cmp.loc["intercepts", "elpd_diff"] < 0


def test_seed_reproduces_and_cores_do_not_matter():
    a = brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), chains=2, iter=200, seed=3,
            cores=1, progress=False)
    b = brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), chains=2, iter=200, seed=3,
            cores=2, progress=False)
    np.testing.assert_array_equal(a.draws("b_Days"), b.draws("b_Days"))
    np.testing.assert_array_equal(a.draws("r_Subject"), b.draws("r_Subject"))


def test_bad_arguments_are_refused():
    d = load_sleepstudy()
    with pytest.raises(ValueError, match="warmup"):
        brm("Reaction ~ Days + (1 | Subject)", d, iter=100, warmup=100)
    with pytest.raises(ValueError, match="thin"):
        brm("Reaction ~ Days + (1 | Subject)", d, iter=100, warmup=50, thin=3)
    with pytest.raises(ValueError, match="chains"):
        brm("Reaction ~ Days + (1 | Subject)", d, iter=100, chains=0)
    with pytest.raises(NotImplementedError, match="fx=TRUE"):  # brms has no fixed smooths
        brm("Reaction ~ s(Days, k = 5, fx = TRUE)", d, iter=100)
    with pytest.raises(TypeError, match="DataFrame"):
        brm("Reaction ~ Days + (1 | Subject)", d.to_dict(), iter=100)


@pytest.mark.slow
@pytest.mark.study
@pytest.mark.parametrize("label", ["sleepstudy", "cbpp"])
def test_long_chains_agree_with_brms(label):
    fit = _fit(label, chains=4, iter=4000, seed=21)
    check_against_brms(fit, label)
