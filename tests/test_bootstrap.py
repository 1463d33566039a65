"""fit.bootstrap(): parametric (against lme4's bootMer), case (against closed forms), seeds.

References: tests/reference/bootnb/bootmer_sleepstudy.json, written by bootmer_sleepstudy.R
(lme4 1.1-31 bootMer, 500 sleepstudy and 300 cbpp replicates). Two bootstrap samples are
compared in distribution: their tolerances are Monte-Carlo errors, stated at each test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spatialgamm as sg
from spatialgamm.results import bootstrap_refit

REF = Path(__file__).parent / "reference" / "bootnb"


@pytest.fixture(scope="module")
def bootmer():
    return json.loads((REF / "bootmer_sleepstudy.json").read_text())


@pytest.fixture(scope="module")
def sleep_fit():
    return sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())


def _compare_with_bootmer(bt, r, names, est_rtol=1e-4):
    """Bootstrap distributions agree within Monte-Carlo error.

    With B1 and B2 replicates of a roughly normal statistic of SD s: the SD of a sample SD is
    s / sqrt(2B), of a mean s / sqrt(B), of a 2.5% quantile 0.12 s sqrt(500 / B) (normal
    tails). Bounds are 4 standard errors of the difference of the two samples."""
    b1, b2 = len(bt.samples), r["nsim"]
    se_rel_sd = np.sqrt(1 / (2 * b1) + 1 / (2 * b2))
    se_mean = np.sqrt(1 / b1 + 1 / b2)
    se_q = 0.12 * np.sqrt(500 / b1 + 500 / b2)
    for ours, i in names:
        s = bt.samples[ours]
        sd_r = r["sd"][i]
        assert s.std() == pytest.approx(sd_r, rel=4 * se_rel_sd), ours
        assert abs(s.mean() - r["mean"][i]) < 4 * se_mean * sd_r, ours
        assert abs(s.quantile(0.025) - r["q025"][i]) < 4 * se_q * sd_r, ours
        assert abs(s.quantile(0.975) - r["q975"][i]) < 4 * se_q * sd_r, ours
        assert bt.estimate[ours] == pytest.approx(r["estimate"][i], rel=est_rtol, abs=1e-4)


def test_parametric_matches_bootmer_sleepstudy(sleep_fit, bootmer):
    r = bootmer["sleepstudy"]
    nd = pd.DataFrame(r["newdata"])
    bt = sleep_fit.bootstrap(n=500, seed=11, newdata=nd)
    assert bt.n_failed == 0 and len(bt.samples) == 500
    ours = ["(Intercept)", "Days", "sd(Subject: (Intercept))", "sd(Subject: Days)",
            "cor(Subject: (Intercept), Days)", "sd(Residual)", "pred[0]", "pred[1]", "pred[2]"]
    _compare_with_bootmer(bt, r, [(o, i) for i, o in enumerate(ours)])
    # the prediction at Days = 0 is the intercept, replicate by replicate
    np.testing.assert_allclose(bt.samples["pred[0]"], bt.samples["(Intercept)"], rtol=1e-12)


@pytest.mark.slow
def test_parametric_glmm_matches_bootmer_cbpp(bootmer):
    r = bootmer["cbpp"]
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    bt = m.bootstrap(n=300, seed=12)
    ours = ["(Intercept)", "period2", "period3", "period4", "sd(herd: (Intercept))"]
    # glmer's default optimiser stops ~1e-4 short of the optimum (tests/reference/glmm)
    _compare_with_bootmer(bt, r, [(o, i) for i, o in enumerate(ours)], est_rtol=1e-3)


def test_refits_run_with_one_blas_thread(sleep_fit, monkeypatch):
    from threadpoolctl import threadpool_info
    seen = []
    real = bootstrap_refit.optimize

    def spy(*a, **k):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real(*a, **k)

    monkeypatch.setattr(bootstrap_refit, "optimize", spy)
    sleep_fit.bootstrap(n=3, seed=1)
    assert seen and set(seen) == {1}


def test_same_seed_same_numbers(sleep_fit):
    a = sleep_fit.bootstrap(n=4, seed=5)
    b = sleep_fit.bootstrap(n=4, seed=5)
    c = sleep_fit.bootstrap(n=4, seed=6)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)
    g1 = sleep_fit.bootstrap(n=3, kind="case", seed=np.random.default_rng(9))
    g2 = sleep_fit.bootstrap(n=3, kind="case", seed=np.random.default_rng(9))
    pd.testing.assert_frame_equal(g1.samples, g2.samples)
    # replicate i has its own stream: the first 3 of 4 replicates are those of a run of 3
    d = sleep_fit.bootstrap(n=3, seed=5)
    pd.testing.assert_frame_equal(a.samples.iloc[:3], d.samples)


def _balanced(seed, G=20, m=5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    y = 3.0 + rng.normal(0, 1.0, G)[g] + rng.gamma(2.0, 1.0, G)[g] + rng.normal(0, 1, G * m)
    return pd.DataFrame({"y": y, "g": pd.Categorical(g)})


def test_case_bootstrap_intercept_closed_form():
    # Balanced random-intercept design: the REML intercept is the mean of the G group means
    # for any variances, and every case resample is balanced too. The ideal case bootstrap
    # SE is then sqrt(sum (ybar_i - ybar)^2) / G; the jackknife acceleration over groups is
    # sum d^3 / (6 (sum d^2)^1.5) with d_i = ybar_i - ybar (Efron & Tibshirani 1993, 14.15).
    d = _balanced(1)
    m = sg.lmer("y ~ 1 + (1 | g)", d)
    gm = d.groupby("g", observed=True)["y"].mean().to_numpy()
    G = len(gm)
    assert m.fixef.iloc[0] == pytest.approx(gm.mean(), rel=1e-10)
    bt = m.bootstrap(n=600, kind="case", seed=3, ci="bca")
    ideal = np.sqrt(np.sum((gm - gm.mean()) ** 2)) / G
    # Monte-Carlo SE of a bootstrap SD from 600 replicates: 1 / sqrt(1200) = 2.9%
    assert bt.se["(Intercept)"] == pytest.approx(ideal, rel=0.115)
    dev = gm - gm.mean()
    a = np.sum(dev ** 3) / (6 * np.sum(dev ** 2) ** 1.5)
    assert bt.acceleration["(Intercept)"] == pytest.approx(a, rel=1e-6, abs=1e-9)
    # BCa ends against scipy's BCa on the group means (independent resamples): both are
    # quantiles of 600 replicates, within ~0.2 SE of each other by Monte-Carlo error
    ref = stats.bootstrap((gm,), np.mean, n_resamples=4000, method="BCa",
                          random_state=4).confidence_interval
    ci = bt.confint(method="bca").loc["(Intercept)"]
    assert ci["lower"] == pytest.approx(ref.low, abs=0.3 * ideal)
    assert ci["upper"] == pytest.approx(ref.high, abs=0.3 * ideal)
    pc = bt.confint(method="percentile").loc["(Intercept)"]
    assert pc["lower"] < m.fixef.iloc[0] < pc["upper"]


def test_case_resample_relabels_copies_and_nested_levels():
    rng = np.random.default_rng(2)
    a = np.repeat(np.arange(6), 8)
    b = np.repeat(np.arange(24), 2)  # 4 inner units per outer unit, labels unique
    d = pd.DataFrame({"y": rng.normal(size=48) + rng.normal(size=6)[a],
                      "a": pd.Categorical(a), "b": pd.Categorical(b)})
    m = sg.lmer("y ~ 1 + (1 | a) + (1 | b)", d)
    des = bootstrap_refit.CaseDesign.build(m, None)
    assert des.group == "a" and des.nested == ["b"]
    frame, rows = des.frame(np.array([0, 0, 3]))
    assert len(frame) == 24 and frame["a"].nunique() == 3 and frame["b"].nunique() == 12
    np.testing.assert_array_equal(frame["y"], d["y"].to_numpy()[rows])
    bt = m.bootstrap(n=3, kind="case", seed=1)
    assert bt.group == "a" and bt.n_failed == 0


def test_case_bootstrap_glmm_and_response_scale_predictions():
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    nd = pd.DataFrame({"period": pd.Categorical(["1", "4"], categories=["1", "2", "3", "4"])})
    bt = m.bootstrap(n=8, kind="case", seed=2, newdata=nd, type="response")
    assert bt.n_failed == 0 and bt.group == "herd"
    inv = 1 / (1 + np.exp(-bt.samples["(Intercept)"]))
    np.testing.assert_allclose(bt.samples["pred[0]"], inv, rtol=1e-10)
    assert ((bt.samples["pred[1]"] > 0) & (bt.samples["pred[1]"] < 1)).all()


def test_progress_bar_on_request(sleep_fit, capsys):
    sleep_fit.bootstrap(n=2, seed=1)
    assert "bootstrap" not in capsys.readouterr().err
    sleep_fit.bootstrap(n=2, seed=1, progress=True)
    assert "parametric bootstrap" in capsys.readouterr().err


def test_result_views_and_errors(sleep_fit):
    bt = sleep_fit.bootstrap(n=5, seed=1)
    assert list(bt.index) == list(bt.estimate.index)
    assert (bt["n_ok"] == 5).all() and "lower" in bt.table
    assert bt.loc["Days", "lower"] <= bt.loc["Days", "upper"]
    assert "parametric bootstrap: 5 of 5" in repr(bt)
    with pytest.raises(ValueError, match="kind"):
        sleep_fit.bootstrap(n=5, kind="wild")
    with pytest.raises(ValueError, match="n must be"):
        sleep_fit.bootstrap(n=0)
    with pytest.raises(ValueError, match="group='Subj'"):
        sleep_fit.bootstrap(n=5, kind="case", group="Subj")
    with pytest.raises(ValueError, match="method"):
        bt.confint(method="basic")
    with pytest.raises(TypeError, match="seed"):
        sleep_fit.bootstrap(n=2, seed="1")
    with pytest.raises(TypeError, match="newdata must be a pandas DataFrame, got dict"):
        sleep_fit.bootstrap(n=2, newdata={"Days": [1]})
    with pytest.raises(ValueError, match="type must be"):
        sleep_fit.bootstrap(n=2, newdata=pd.DataFrame({"Days": [1]}), type="terms")


@pytest.mark.parametrize("case", ["cbind", "offset_weights"])
def test_case_resample_of_every_group_once_reproduces_the_fit(case):
    # the rebuilt model must carry the trials, prior weights and offsets of the original
    if case == "cbind":
        m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     sg.datasets.load_cbpp(), family="binomial")
    else:
        rng = np.random.default_rng(8)
        g = np.repeat(np.arange(15), 6)
        t = rng.uniform(1, 5, 90)
        d = pd.DataFrame({"y": rng.poisson(t * np.exp(0.3 + rng.normal(0, 0.5, 15)[g])),
                          "t": t, "x": rng.normal(size=90), "g": pd.Categorical(g)})
        m = sg.fit("y ~ x + (1 | g) + offset(log(t))", d, family="poisson", method="ML",
                   weights=np.where(np.arange(90) % 7 == 0, 2.0, 1.0))
    refit = bootstrap_refit.CaseRefitter(m, None)
    rep = refit(np.arange(refit.design.n_groups))
    est = bootstrap_refit.statistics(bootstrap_refit.from_fit(m))
    got = bootstrap_refit.statistics(rep)
    assert list(got) == list(est)
    np.testing.assert_allclose(list(got.values()), list(est.values()), rtol=1e-5, atol=1e-7)


def test_jackknife_over_subjects_closed_form(sleep_fit):
    # sleepstudy is balanced with the same days for every subject: for any theta the GLS
    # estimates are the means of the 18 per-subject least-squares lines, so leaving subject
    # j out gives the mean of the other 17 lines exactly, and the BCa acceleration is the
    # skewness formula of those lines (Efron & Tibshirani 1993, eq. 14.15)
    from spatialgamm.results.bootstrap import jackknife
    d = sg.datasets.load_sleepstudy()
    lines = np.array([np.polyfit(g["Days"], g["Reaction"], 1)[::-1]
                      for _, g in d.groupby("Subject", observed=True)])
    G = len(lines)
    jk = jackknife(sleep_fit, "Subject")
    loo = (lines.sum(0) - lines) / (G - 1)
    np.testing.assert_allclose(jk[["(Intercept)", "Days"]].to_numpy(), loo, rtol=1e-7)
    dev = lines - lines.mean(0)
    a = (dev ** 3).sum(0) / (6 * ((dev ** 2).sum(0)) ** 1.5)
    from spatialgamm.results.bootstrap_ci import acceleration
    np.testing.assert_allclose(acceleration(jk)[["(Intercept)", "Days"]], a, rtol=1e-5)
