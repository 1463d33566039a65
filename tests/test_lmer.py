"""lmer / lme parity on sleepstudy and the paired toy data (numbers from lme4 1.1-31, nlme
3.1-162: tests/reference/*.json, made by tests/reference/make_reference.R)."""

import json
from pathlib import Path

import numpy as np
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference"
REL = 1e-4  # estimates (optimisers stop at slightly different points)
CRIT = 1e-3  # criteria and log-likelihoods, absolute
SE = 1e-3  # standard errors, relative


@pytest.fixture(scope="module")
def sleep():
    return sg.datasets.load_sleepstudy()


@pytest.fixture(scope="module")
def fits(sleep):
    return {
        "lmer_Reaction_Days_corr_REML": sg.lmer("Reaction ~ Days + (Days | Subject)", sleep),
        "lmer_Reaction_Days_corr_ML": sg.lmer("Reaction ~ Days + (Days | Subject)", sleep,
                                              REML=False),
        "lmer_Reaction_Days_uncorr_REML": sg.lmer("Reaction ~ Days + (Days || Subject)", sleep),
        "lmer_Reaction_intercept_only_REML": sg.lmer("Reaction ~ Days + (1 | Subject)", sleep),
    }


def _close(a, b, rel):
    assert a == pytest.approx(b, rel=rel), (a, b)


@pytest.mark.parametrize("key", ["lmer_Reaction_Days_corr_REML", "lmer_Reaction_Days_corr_ML",
                                 "lmer_Reaction_Days_uncorr_REML",
                                 "lmer_Reaction_intercept_only_REML"])
def test_sleepstudy_matches_lme4(fits, reference, key):
    ref = reference("sleepstudy")[key]
    m = fits[key]
    for name, v in ref["fixef"].items():
        _close(m.fixef[name], v, REL)
    for name, v in ref["se"].items():
        _close(m.se[name], v, SE)
    vc = m.varcorr
    assert len(vc) == len(ref["varcorr"])
    for row, r in zip(vc.itertuples(), ref["varcorr"]):
        assert row.grp == r["grp"]
        assert row.var1 == r.get("var1") or (row.var1 is None and "var1" not in r) or (
            isinstance(row.var1, float) and "var1" not in r)
        # variances to 1e-4 relative; a correlation near 0 compared absolutely
        if row.var2 is not None and isinstance(row.var2, str):
            assert row.sdcor == pytest.approx(r["sdcor"], abs=1e-3)
        else:
            _close(row.vcov, r["vcov"], 2e-4)
    _close(m.sigma, ref["sigma"], REL)
    assert m.loglik == pytest.approx(ref["loglik"], abs=CRIT)
    assert m.aic == pytest.approx(ref["AIC"], abs=CRIT)
    assert m.bic == pytest.approx(ref["BIC"], abs=CRIT)
    assert m.df_resid == ref["df_resid"]
    if ref["reml_criterion"] is not None:
        assert m.reml_criterion == pytest.approx(ref["reml_criterion"], abs=CRIT)
    else:
        assert m.deviance == pytest.approx(ref["deviance"], abs=CRIT)
    q = np.quantile(m.residuals("scaled"), [0, .25, .5, .75, 1])
    assert q == pytest.approx(list(ref["scaled_resid_quantiles"].values()), abs=2e-3)
    assert m.fitted[:10] == pytest.approx(ref["fitted_head"], rel=REL)
    assert m.corr_fixef().to_numpy() == pytest.approx(np.array(ref["corr_fixef"]), abs=1e-3)
    for grp, rows in ref["ranef"].items():
        re = m.ranef[grp]
        for r in rows:
            for col, v in r.items():
                if col != "level":
                    assert re.loc[r["level"], col] == pytest.approx(v, rel=1e-3, abs=1e-3)


def test_sleepstudy_headline_numbers(fits):
    m = fits["lmer_Reaction_Days_corr_REML"]
    assert m.reml_criterion == pytest.approx(1743.628, abs=1e-3)
    assert m.fixef.to_numpy() == pytest.approx([251.405, 10.467], abs=1e-3)
    assert fits["lmer_Reaction_Days_corr_ML"].loglik == pytest.approx(-875.970, abs=1e-3)


def test_nlme_t_table(fits, reference):
    ref = reference("sleepstudy")["nlme_lme_REML"]["tTable"]
    tab = fits["lmer_Reaction_Days_corr_REML"].coef_table()
    for r in ref:
        row = tab.loc[r["term"]]
        assert row["df"] == r["DF"]
        assert row["t value"] == pytest.approx(r["t-value"], rel=1e-4)
        assert row["Pr(>|t|)"] == pytest.approx(r["p-value"], rel=1e-3)


def test_satterthwaite_df_matches_lmertest(fits):
    # tests/reference/lmm/lmm_extra.json from lmerTest 3.1-3 (lmm_extra.R)
    ref = json.loads((REF / "lmm/lmm_extra.json").read_text())
    tab = fits["lmer_Reaction_Days_corr_REML"].coef_table("satterthwaite")
    for k, v in ref["satterthwaite_df"].items():
        assert tab.loc[k, "df"] == pytest.approx(v, rel=1e-3)
        assert tab.loc[k, "Pr(>|t|)"] == pytest.approx(ref["satterthwaite_p"][k], rel=1e-2)


def test_condvar_matches_lme4_postvar(fits):
    ref = json.loads((REF / "lmm/lmm_extra.json").read_text())
    m = fits["lmer_Reaction_Days_corr_REML"]
    m.coef_table("satterthwaite")  # uses the shared factor at other parameters first
    cv = m.ranef_condvar()["Subject"]
    assert cv[0] == pytest.approx(np.array(ref["condvar_first"]), rel=1e-4)
    assert cv[-1] == pytest.approx(np.array(ref["condvar_last"]), rel=1e-4)


def test_likelihood_ratio_test(fits, reference):
    ref = reference("sleepstudy")["anova_ML_intercept_vs_corr"]
    a = sg.anova(fits["lmer_Reaction_intercept_only_REML"], fits["lmer_Reaction_Days_corr_REML"])
    assert a["Chisq"].iloc[1] == pytest.approx(ref["Chisq"], abs=2e-3)
    assert a["Df"].iloc[1] == ref["Df"]
    assert a["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"], rel=1e-3)


@pytest.mark.parametrize("reml,key", [(False, "lmer_ML"), (True, "lmer_REML")])
def test_toy_paired(reference, reml, key):
    ref = reference("toy_paired")[key]
    m = sg.lmer("Resp ~ Treat + (1 | Ind)", sg.datasets.load_toy_paired(), REML=reml)
    for name, v in ref["fixef"].items():
        _close(m.fixef[name], v, REL)
    for row, r in zip(m.varcorr.itertuples(), ref["varcorr"]):
        _close(row.sdcor, r["sdcor"], REL)
    assert m.loglik == pytest.approx(ref["loglik"], abs=CRIT)


def test_toy_paired_reml_t_equals_paired_t_test(reference):
    ref = reference("toy_paired")["paired_t_test"]
    m = sg.lmer("Resp ~ Treat + (1 | Ind)", sg.datasets.load_toy_paired())
    row = m.coef_table().loc["Treat"]
    assert row["t value"] == pytest.approx(ref["t"], rel=1e-4)
    assert row["df"] == ref["df"]
    assert row["Pr(>|t|)"] == pytest.approx(ref["p"], rel=1e-4)


def test_ols_via_fit_compares_by_aic(sleep, fits):
    ols = sg.fit("Reaction ~ Days", sleep, method="ML")
    # closed form: OLS ML log-likelihood
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    y = sleep["Reaction"].to_numpy()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ beta) ** 2))
    n = len(y)
    ll = -n / 2 * (np.log(2 * np.pi * rss / n) + 1)
    assert ols.loglik == pytest.approx(ll, abs=1e-6)
    assert ols.aic == pytest.approx(-2 * ll + 2 * 3, abs=1e-6)
    assert fits["lmer_Reaction_Days_corr_ML"].aic < ols.aic


def test_predict_population_and_unseen_levels(fits, sleep):
    m = fits["lmer_Reaction_Days_corr_REML"]
    new = sleep.iloc[:3].copy()
    pop = m.predict(new, re_form="~0")["fit"].to_numpy()
    assert pop == pytest.approx(m.fixef["(Intercept)"] + m.fixef["Days"] * new["Days"].to_numpy())
    cond = m.predict(new)["fit"].to_numpy()
    assert cond == pytest.approx(m.fitted[:3])
    unseen = new.assign(Subject="999")
    with pytest.raises(ValueError, match="new levels.*'999'"):  # lme4: allow.new.levels=FALSE
        m.predict(unseen)
    assert m.predict(unseen, allow_new_levels=True)["fit"].to_numpy() == pytest.approx(pop)
