"""Significance of smooth terms against mgcv 1.8-41's summary.gam (Wood 2013a testStat, Wood 2013b
reTest) and its psum.chisq (Davies' method): R's numbers from tests/reference/gam/smooth_tests.json
(made by make_smooth_tests.R on smooth_tests.csv), tests/reference/rongelap_mgcv.json and
tests/reference/cbpp.json; closed forms for the chi-square mixtures (scipy's chi2 and F).

Tolerances (the fits stop at slightly different optima): Ref.df 1e-3 absolute, Chi.sq / F 1e-3
relative, p-values 1e-3 relative where R's is not below 1e-16 (then ours must be too). Davies'
method is run at mgcv's accuracy 2e-5, so closed forms are met to 2e-5 absolute, while mgcv's own
answers are met far closer (the same procedure)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import spatialgamm as sg
from spatialgamm.results.chisq_mixture import chisq_mixture_sf, davies, liu_sf
from spatialgamm.results.smooth_tests import random_effect_test, wood_test

REF = Path(__file__).parent / "reference"
SMOOTH = json.loads((REF / "gam/smooth_tests.json").read_text())
RONGELAP = json.loads((REF / "rongelap_mgcv.json").read_text())


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "gam/smooth_tests.csv")
    d["g"] = pd.Categorical(d["g"].astype(str), categories=[str(i) for i in range(1, 21)])
    d["h"] = pd.Categorical(d["h"].astype(str), categories=[str(i) for i in range(8)])
    return d


def _fit(formula, data, family="gaussian", method=None):
    with warnings.catch_warnings():
        # s(h) in the two-random-effect fits has its variance on the boundary (sp -> inf in
        # mgcv as here); the optimiser's note about it is not what these tests are about
        warnings.simplefilter("ignore")
        return sg.gam(formula, data, family=family, method=method)


def _check_row(row, ref_df, stat, p, stat_abs=0.0):
    assert row["Ref.df"] == pytest.approx(ref_df, abs=1e-3)
    assert row.iloc[2] == pytest.approx(stat, rel=1e-3, abs=stat_abs)
    if p < 1e-16:
        assert row["p-value"] < 1e-16
    else:
        assert row["p-value"] == pytest.approx(p, rel=1e-3)


# ---- the chi-square mixtures ----------------------------------------------------------
def test_psum_chisq_matches_mgcv():
    for c in SMOOTH["psum_chisq"]:
        p = chisq_mixture_sf(c["q"], c["lb"], c["df"])
        assert p == pytest.approx(c["p"], rel=1e-5, abs=1e-9), c


def test_davies_closed_forms():
    for df in (1, 2, 3, 7):
        for q in (0.3, 2.0, 9.0):
            assert 1 - davies(q, [1.0], [df]).cdf == pytest.approx(stats.chi2.sf(q, df), abs=2e-5)
    # 2.5 chi2_2 is exponential with mean 5
    assert chisq_mixture_sf(4.0, [2.5, 2.5]) == pytest.approx(np.exp(-0.8), abs=2e-5)
    # a symmetric difference has median 0
    assert davies(0.0, [1.3, -1.3]).cdf == pytest.approx(0.5, abs=2e-5)
    # P(chi2_a / a > x chi2_b / b) is F's tail: the estimated-scale reference of testStat
    for a, b, x in ((3, 20, 1.7), (1, 57, 4.0), (6, 200, 0.8)):
        p = chisq_mixture_sf(0.0, [1.0] * a + [-x * a / b], [1] * a + [b])
        assert p == pytest.approx(stats.f.sf(x, a, b), abs=2e-5)


def test_liu_is_exact_for_a_scaled_chisq():
    for df, w, q in ((1, 1.0, 3.84145882), (3, 2.0, 5.0), (10, 0.5, 6.0)):
        assert liu_sf(q, [w] * df) == pytest.approx(stats.chi2.sf(q / w, df), rel=1e-10)


def test_davies_faults_and_bad_input():
    r = davies(1.0, [1.0, 0.5], lim=3)
    assert r.ifault == 4
    with pytest.raises(ValueError, match="df"):
        davies(1.0, [1.0], [0])
    with pytest.raises(ValueError, match="non-zero"):
        davies(1.0, [0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        chisq_mixture_sf(1.0, [1.0, np.nan])


# ---- the two tests on given inputs ----------------------------------------------------
@pytest.mark.parametrize("i", range(len(SMOOTH["test_stat"])))
def test_wood_test_matches_mgcv_teststat(i):
    c = SMOOTH["test_stat"][i]
    X, V, b = np.array(c["X"]), np.array(c["V"]), np.array(c["coef"])
    R = np.linalg.qr(X, mode="r")
    t = wood_test(b, V, R, c["rank_in"], None if c["res_df"] <= 0 else c["res_df"])
    assert t.stat == pytest.approx(c["stat"], rel=1e-8)
    assert t.p_value == pytest.approx(c["p"], rel=1e-6)
    assert t.ref_df == pytest.approx(c["rank"])


def test_wood_test_full_rank_is_the_wald_statistic():
    rng = np.random.default_rng(4)
    A = rng.normal(size=(4, 4))
    V = A @ A.T + np.eye(4)
    b = rng.normal(size=4)
    R = np.linalg.qr(rng.normal(size=(30, 4)), mode="r")
    wald = b @ np.linalg.solve(V, b)
    t = wood_test(b, V, R, 4.0)
    assert t.stat == pytest.approx(wald, rel=1e-10)
    assert t.p_value == pytest.approx(stats.chi2.sf(wald, 4), rel=1e-10)
    tf = wood_test(b, V, R, 4.0, res_df=35.5)
    assert tf.p_value == pytest.approx(stats.f.sf(wald / 4, 4, 35.5), rel=1e-10)


def test_random_effect_test_with_unit_weights_is_chisq():
    b = np.array([1.0, -2.0, 0.5])
    t = random_effect_test(b, np.eye(3), np.eye(3))
    assert t.stat == pytest.approx(5.25)
    assert t.ref_df == 3
    assert t.p_value == pytest.approx(stats.chi2.sf(5.25, 3), abs=2e-5)


# ---- fitted models --------------------------------------------------------------------
@pytest.mark.parametrize("key", list(SMOOTH["cases"]))
def test_smooth_table_matches_mgcv(data, key):
    c = SMOOTH["cases"][key]
    method = None if c["method"] in ("GCV.Cp", "UBRE") else c["method"]
    m = _fit(c["formula"], data, c["family"], method)
    tab = m.smooth_table()
    terms = np.atleast_1d(c["terms"]).tolist()
    assert list(tab.index) == terms
    assert tab.columns[2] == c["stat_name"]
    for j, term in enumerate(terms):
        # s(h) (two-random-effect fit): variance on its boundary, F ~ 1e-5 in R and ~0 here
        _check_row(tab.loc[term], np.atleast_1d(c["ref_df"])[j], np.atleast_1d(c["stat"])[j],
                   np.atleast_1d(c["p"])[j], stat_abs=1e-3 if term == "s(h)" else 0.0)


def test_lme4_bar_is_integrated_out_like_an_re_smooth(data):
    ref = SMOOTH["cases"]["gauss_two_re"]
    m = _fit("y ~ s(x, bs='cr', k=10) + s(z, bs='cr', k=8) + (1|g) + s(h, bs='re')", data,
             method="REML")
    tab = m.smooth_table()
    # the bar is tested too (issue 14): mgcv's s(g, bs='re') row, labelled as written
    assert list(tab.index) == ["s(x)", "s(z)", "s(h)", "(1 | g)"]
    j = ref["terms"].index("s(h)")
    _check_row(tab.loc["s(h)"], ref["ref_df"][j], ref["stat"][j], ref["p"][j], stat_abs=1e-3)
    j = ref["terms"].index("s(g)")
    assert tab.loc["(1 | g)", "edf"] == pytest.approx(ref["edf"][j], rel=1e-3)
    _check_row(tab.loc["(1 | g)"], ref["ref_df"][j], ref["stat"][j], ref["p"][j])


@pytest.mark.parametrize("key", [k for k in RONGELAP if k != "dataset"])
def test_rongelap_gp_smooth_test_matches_mgcv(key, rongelap_fits):
    m = rongelap_fits[key]
    row = m.smooth_table().iloc[0]
    ref = RONGELAP[key]
    _check_row(row, ref["ref_df"], ref["chisq"], 0.0)  # mgcv prints p < 2e-16


def test_cbpp_random_effect_test_matches_mgcv(reference):
    ref = reference("cbpp")["mgcv_re_REML"]
    m = sg.gam("cbind(incidence, size - incidence) ~ period + s(herd, bs='re')",
               sg.datasets.load_cbpp(), family="binomial", method="REML")
    row = m.smooth_table().loc["s(herd)"]
    assert list(row.index) == ["edf", "Ref.df", "Chi.sq", "p-value"]
    assert row["edf"] == pytest.approx(ref["edf"], abs=1e-3)
    _check_row(row, ref["ref_df"], ref["chisq"], ref["p"])
