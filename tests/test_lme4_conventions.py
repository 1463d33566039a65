"""What lme4 / nlme users check (issue 11, items 3 and 5).

Observation-level random effects and lme4's ``control=`` checks; nested group names; the
glmer summary's deviance column; correlation-table headers; the nAGQ log-likelihood scale;
nlme's view; zero residual degrees of freedom. Every number is from R: lme4 1.1-31, nlme,
MASS, made by tests/reference/lme4conv/make_lme4conv.R (obs_level.json, conventions.json and
the CSVs beside them; glmer fits there run PIRLS to 1e-10, ``tolPwrss``).
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.engine.optimize import SingularFitWarning
from spatialgamm.errors import ModelError
from spatialgamm.formula.parse import FormulaError
from spatialgamm.results.summary import abbreviate

REF = Path(__file__).parent / "reference" / "lme4conv"


def _json(name: str) -> dict:
    return json.loads((REF / name).read_text())


def _matches_lme4(m, r, rel=1e-4):
    for k, v in r["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=rel), k
    for k, v in r["se"].items():
        assert m.se[k] == pytest.approx(v, rel=1e-3), k
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-3)
    assert m.aic == pytest.approx(r["AIC"], abs=1e-3)
    assert m.bic == pytest.approx(r["BIC"], abs=1e-3)
    assert m.df_resid == r["df_resid"]
    for row, rr in zip(m.varcorr.itertuples(), r["varcorr"]):
        assert row.grp == rr["grp"]
        assert row.vcov == pytest.approx(rr["vcov"], rel=1e-3, abs=1e-5)


# ---- item 3: observation-level random effects ------------------------------------------------
@pytest.fixture(scope="module")
def obs_ref():
    return _json("obs_level.json")


@pytest.fixture(scope="module")
def overdispersed():
    return pd.read_csv(REF / "overdispersed_poisson.csv")


def test_grouseticks_observation_level_poisson_matches_glmer(obs_ref):
    # Elston et al. (2001) via lme4's grouseticks: INDEX has one level per row
    gt = pd.read_csv(REF / "grouseticks.csv")
    for c in ("INDEX", "BROOD", "LOCATION", "YEAR"):
        gt[c] = gt[c].astype(str)
    m = sg.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", gt,
                 family="poisson")
    assert len(m.ranef["INDEX"]) == len(gt)
    _matches_lme4(m, obs_ref["grouseticks"])


def test_cbpp_observation_level_binomial_matches_glmer(obs_ref):
    cb = sg.datasets.load_cbpp()
    cb["obs"] = [str(i) for i in range(1, len(cb) + 1)]
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", cb,
                 family="binomial")
    _matches_lme4(m, obs_ref["cbpp_obs"])


def test_simulated_overdispersed_poisson_matches_glmer_and_fit(obs_ref, overdispersed):
    r = obs_ref["sim_poisson"]
    m = sg.glmer("y ~ x + (1 | obs)", overdispersed, family="poisson")
    _matches_lme4(m, r)
    # truth of the simulation: sd 0.6 of the observation-level effect
    assert m.varcorr["sdcor"].iloc[0] == pytest.approx(0.6, abs=0.15)
    m2 = sg.fit("y ~ x + (1 | obs)", overdispersed, family="poisson", method="ML")
    assert m2.loglik == pytest.approx(r["loglik"], abs=1e-3)


def test_observation_level_poisson_by_quadrature(obs_ref, overdispersed):
    from scipy import stats
    r = obs_ref["sim_poisson_agq7"]
    m = sg.glmer("y ~ x + (1 | obs)", overdispersed, family="poisson", nAGQ=7)
    for k, v in r["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=1e-4)
    assert m.theta[0] == pytest.approx(r["theta"], rel=1e-4)
    assert m.loglik_lme4 == pytest.approx(r["loglik_lme4"], abs=1e-3)
    # the full log-likelihood = lme4's + the saturated Poisson log-likelihood (closed form),
    # and close to R's integrate() of every observation's integral (7 nodes: error ~2e-3)
    y = overdispersed["y"].to_numpy()
    assert m.loglik == pytest.approx(m.loglik_lme4 + stats.poisson.logpmf(y, y).sum(), abs=1e-8)
    assert m.loglik == pytest.approx(r["loglik_integrate"], abs=5e-3)


def test_bernoulli_with_observation_level_effect_is_accepted(obs_ref):
    r = obs_ref["bacteria_obs"]
    d = pd.read_csv(REF / "bacteria.csv")
    d["trt"] = pd.Categorical(d["trt"], categories=["placebo", "drug", "drug+"])
    d["obs"] = np.arange(len(d))
    with pytest.warns(SingularFitWarning):
        m = sg.glmer("y ~ trt + week + (1 | ID) + (1 | obs)", d, family="binomial")
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-3)
    assert m.varcorr.set_index("grp").loc["obs", "vcov"] == pytest.approx(0, abs=1e-6)
    for k, v in r["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=1e-4)


def test_lmer_refuses_observation_level_effect_as_lme4(obs_ref, overdispersed):
    with pytest.raises(ValueError, match=re.escape(obs_ref["lmer_obs_error"])):
        sg.lmer("y ~ x + (1 | obs)", overdispersed)
    with pytest.raises(ValueError, match=re.escape(obs_ref["lmer_obs_error"])):
        sg.fit("y ~ x + (1 | obs)", overdispersed)  # Gaussian identity: lmer's rules
    # with that check off, lme4's next check (random effects vs observations) stops it
    ctl = sg.lmer_control(check_nobs_vs_nlev="ignore")
    with pytest.raises(ValueError, match=re.escape(obs_ref["lmer_obs_ignore_nlev_error"])):
        sg.lmer("y ~ x + (1 | obs)", overdispersed, control=ctl)


def test_lmer_observation_level_with_checks_off_matches_lme4(obs_ref, overdispersed):
    # non-identifiable: only the total variance and the likelihood are determined
    r = obs_ref["lmer_obs_checks_off"]
    m = sg.lmer("y ~ x + (1 | obs)", overdispersed,
                control={"check.nobs.vs.nlev": "ignore", "check_nobs_vs_nRE": "ignore"})
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-3)
    assert m.varcorr["vcov"].sum() == pytest.approx(r["total_variance"], rel=1e-4)
    for k, v in r["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=1e-4)


def test_control_checks_warn_or_stop(obs_ref, overdispersed):
    one = overdispersed.assign(one="a")
    with pytest.raises(FormulaError, match=re.escape(obs_ref["lmer_one_level_error"])):
        sg.lmer("y ~ x + (1 | one)", one)
    with pytest.raises(FormulaError, match="one"):  # the message names the factor
        sg.glmer("y ~ x + (1 | one)", one, family="poisson")
    ctl = sg.lmer_control(check_nobs_vs_nlev="warning", check_nobs_vs_nRE="warning")
    with pytest.warns(UserWarning, match="number of levels of each grouping factor"):
        sg.lmer("y ~ x + (1 | obs)", overdispersed, control=ctl)
    # lme4's check.nlev.gtreq.5 is off by default; on, it names the factor
    few = overdispersed.assign(f=np.arange(len(overdispersed)) % 3)
    sg.lmer("y ~ x + (1 | f)", few)
    with pytest.raises(FormulaError, match="< 5 sampled levels.*f"):
        sg.lmer("y ~ x + (1 | f)", few, control=sg.lmer_control(check_nlev_gtreq_5="stop"))
    # a glmer with more levels than observations is impossible by construction; a term with
    # more random effects than observations is refused (glmer: n < q)
    two = overdispersed.iloc[:40].assign(g=np.arange(40) // 2)
    with pytest.raises(ModelError, match=r"\(=40\) < number of random effects \(=60\)"):
        sg.glmer("y ~ x + (x + I(x**2) | g)", two.assign(**{"I(x**2)": 0}), family="poisson")


def test_control_argument_is_validated_and_reaches_the_optimiser():
    with pytest.raises(ValueError, match="check_nobs_vs_nlev"):
        sg.lmer_control(check_nobs_vs_nlev="sometimes")
    with pytest.raises(ValueError, match="unknown control"):
        sg.lmer("Reaction ~ Days + (1 | Subject)", sg.datasets.load_sleepstudy(),
                control={"maxfun": 10})
    with pytest.raises(ValueError, match="maxiter"):
        sg.glmer_control(maxiter=0)
    with pytest.raises(TypeError, match="control"):
        sg.lmer("Reaction ~ Days + (1 | Subject)", sg.datasets.load_sleepstudy(), control=5)
    d = sg.datasets.load_sleepstudy()
    with pytest.warns(UserWarning, match="did not converge"):
        short = sg.lmer("Reaction ~ Days + (Days | Subject)", d,
                        control=sg.lmer_control(maxiter=1))
    assert short.optinfo.iterations == 1 and not short.converged
    assert "LIMIT" in short.optinfo.message  # the iteration limit is a failure, as in lme4
    tight = sg.lmer("Reaction ~ Days + (Days | Subject)", d,
                    control=sg.lmer_control(gtol=1e-10, check_conv_grad_tol=1e-8))
    assert tight.converged and tight.optinfo.scaled_gradient < 1e-8
    assert tight.reml_criterion == pytest.approx(1743.628, abs=1e-3)
    assert sg.build_model("Reaction ~ Days + (1 | Subject)", d,
                          control=sg.lmer_control(maxiter=7)).control.maxiter == 7


# ---- item 5: nested names --------------------------------------------------------------------
def test_pastes_nested_names_as_lme4():
    r = _json("conventions.json")["pastes"]
    p = pd.read_csv(REF / "pastes.csv")
    m = sg.lmer("strength ~ 1 + (1 | batch/cask)", p)
    assert list(m.varcorr["grp"]) == [v["grp"] for v in r["varcorr"]]
    for row, rr in zip(m.varcorr.itertuples(), r["varcorr"]):
        assert row.vcov == pytest.approx(rr["vcov"], rel=1e-3)
    assert list(m.ranef) == r["ranef_names"]
    re_ = m.ranef["cask:batch"]
    assert list(re_.index) == r["ranef_rows"]
    np.testing.assert_allclose(re_.iloc[:, 0], r["ranef_values"], rtol=1e-3, atol=1e-4)
    assert m.reml_criterion == pytest.approx(r["reml_criterion"], abs=1e-3)
    s = m.summary()
    assert " cask:batch " in s and "groups:  cask:batch, 30; batch, 10" in s


def test_three_level_nesting_names_as_lme4():
    r = _json("conventions.json")["nested3"]
    d = pd.read_csv(REF / "nested3.csv").astype({"a": str, "b": str, "c": str})
    m = sg.lmer("y ~ 1 + (1 | a/b/c)", d)
    assert list(m.ranef) == r["ranef_names"]
    assert list(m.varcorr["grp"]) == r["varcorr_grp"]
    assert list(m.ranef["c:(b:a)"].index[:8]) == r["ranef_rows_first"]
    assert m.reml_criterion == pytest.approx(r["reml_criterion"], abs=1e-3)
    # predictions on new rows find the nested levels
    p = m.predict(d.iloc[:3])
    assert np.asarray(p).ravel() == pytest.approx(m.fitted[:3], rel=1e-10)


# ---- item 5: glmer summary, correlation headers ----------------------------------------------
@pytest.fixture(scope="module")
def bacteria():
    d = pd.read_csv(REF / "bacteria.csv")
    d["trt"] = pd.Categorical(d["trt"], categories=["placebo", "drug", "drug+"])
    return d


def _aictab_line(summary: str) -> list[float]:
    lines = summary.splitlines()
    i = next(k for k, s in enumerate(lines) if s.split() == ["AIC", "BIC", "logLik",
                                                            "deviance", "df.resid"])
    return [float(v) for v in lines[i + 1].split()]


def test_bacteria_summary_deviance_and_headers(bacteria):
    r = _json("conventions.json")["bacteria"]
    m = sg.glmer("y ~ trt + week + (1 | ID)", bacteria, family="binomial")
    _matches_lme4(m, r)
    s = m.summary()
    aic, bic, ll, dev, dfr = _aictab_line(s)
    tab = r["aictab"]
    assert dev == pytest.approx(tab["deviance"], abs=0.051)  # -2 logLik, printed to 0.1
    assert (aic, bic, ll, dfr) == pytest.approx([tab["AIC"], tab["BIC"], tab["logLik"],
                                                 tab["df.resid"]], abs=0.051)
    # glmer's deviance() is another number: the conditional deviance
    assert m.deviance == pytest.approx(r["deviance"], rel=1e-3)
    assert abs(m.deviance - tab["deviance"]) > 1
    # lme4's headers: (Intr) trtdrg trtdr+ (the first six characters would collide)
    block = s.split("Correlation of Fixed Effects:")[1].splitlines()[1]
    assert block.split() == r["headers"]["col"][:-1]


def test_cbpp_summary_deviance_column(reference):
    r = _json("conventions.json")["cbpp"]
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    s = m.summary()
    assert _aictab_line(s)[3] == pytest.approx(r["aictab"]["deviance"], abs=0.051)
    block = s.split("Correlation of Fixed Effects:")[1].splitlines()[1]
    assert block.split() == r["headers"]["col"][:-1]  # perid2 perid3, not period period


def test_abbreviations_are_r_s_and_unique():
    c = _json("conventions.json")
    a = c["abbreviate6"]
    assert abbreviate(a["names"], 6) == a["abbr"]
    assert abbreviate(a["names"], 11) == a["abbr11"]
    col = c["abbreviate_collisions"]
    assert abbreviate(col["names"], 6) == col["abbr"]
    assert len(set(col["abbr"])) == len(col["abbr"])
    # identical names still get distinct headers
    assert len(set(abbreviate(["x", "x"]))) == 2


# ---- item 5: nAGQ log-likelihood on one scale -----------------------------------------------
def test_agq_loglik_is_the_full_loglik_at_every_nagq():
    c = _json("conventions.json")
    cb = sg.datasets.load_cbpp()
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    sat = c["binomial_constants"]["saturated_loglik"]
    for k in (1, 11, 25):
        r = c["agq"][f"nAGQ{k}"]
        m = sg.glmer(f, cb, family="binomial", nAGQ=k)
        for name, v in r["fixef"].items():
            assert m.fixef[name] == pytest.approx(v, rel=5e-4)
        # lme4's own number
        assert m.loglik_lme4 == pytest.approx(r["loglik_lme4"], abs=1e-3)
        if k > 1:
            # the full log-likelihood: R's integrate() of each herd's likelihood at lme4's
            # estimates (GLMMadaptive's scale), lme4's plus the saturated log-likelihood
            assert m.loglik == pytest.approx(r["loglik_integrate"], abs=1e-3)
            assert m.loglik == pytest.approx(r["loglik_lme4"] + sat, abs=1e-3)
            assert m.aic == pytest.approx(-2 * r["loglik_integrate"] + 2 * 5, abs=2e-3)
        else:
            assert m.loglik == pytest.approx(r["loglik_lme4"], abs=1e-3)
    # Laplace and quadrature now compare: quadrature moves the likelihood by 0.04, not 42
    assert abs(c["agq"]["nAGQ11"]["loglik_integrate"] - c["agq"]["nAGQ1"]["loglik_lme4"]) < 0.1


# ---- item 5: nlme's view ---------------------------------------------------------------------
NLME_CASES = {
    "orthodont_REML": ("distance ~ age + Sex + (1 | Subject)", "orthodont", True),
    "orthodont_ML": ("distance ~ age + Sex + (1 | Subject)", "orthodont", False),
    "sleepstudy_ML": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", False),
    "sleepstudy_REML": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
}


@pytest.mark.parametrize("key", list(NLME_CASES))
def test_nlme_view_gives_nlme_numbers(key):
    formula, data, reml = NLME_CASES[key]
    d = (pd.read_csv(REF / "orthodont.csv") if data == "orthodont"
         else sg.datasets.load_sleepstudy())
    r = _json("conventions.json")["nlme"][key]
    m = sg.lmer(formula, d, REML=reml)
    tab = m.coef_table(ddf_method="nlme")
    for row in r["tTable"]:
        t = tab.loc[row["term"]]
        assert t["Estimate"] == pytest.approx(row["Value"], rel=1e-4)
        assert t["Std. Error"] == pytest.approx(row["Std.Error"], rel=1e-4)
        assert t["df"] == row["DF"]
        assert t["t value"] == pytest.approx(row["t-value"], rel=1e-4)
        assert t["Pr(>|t|)"] == pytest.approx(row["p-value"], rel=2e-3)
    ic = m.information_criteria("nlme")
    assert ic["AIC"] == pytest.approx(r["AIC"], abs=1e-3)
    assert ic["BIC"] == pytest.approx(r["BIC"], abs=1e-3)
    assert ic["logLik"] == pytest.approx(r["loglik"], abs=1e-3)
    assert m.sigma == pytest.approx(r["sigma"], rel=1e-4)
    s = m.summary(view="nlme")
    assert f"{r['BIC']:9.7g}".strip() in s


def test_lme4_view_keeps_lme4_standard_errors():
    r = _json("conventions.json")["orthodont_lmer_ML"]
    m = sg.lmer("distance ~ age + Sex + (1 | Subject)", pd.read_csv(REF / "orthodont.csv"),
                REML=False)
    _matches_lme4(m, r)
    tab = m.coef_table(view="lme4")
    for k, v in r["se"].items():
        assert tab.loc[k, "Std. Error"] == pytest.approx(v, rel=1e-4)
    assert m.information_criteria()["BIC"] == pytest.approx(r["BIC"], abs=1e-3)
    with pytest.raises(ValueError, match="view"):
        m.coef_table(view="sas")


# ---- item 5: zero residual degrees of freedom -----------------------------------------------
@pytest.mark.parametrize("reml", [True, False])
def test_zero_residual_df_is_a_clear_error(reml):
    # lme4 stops under REML ("objective in x0 returns NA"); ML's likelihood is unbounded
    assert _json("conventions.json")["zero_df_error"] == "objective in x0 returns NA"
    d = pd.DataFrame({"y": [1.2, 2.3, 2.9, 4.8, 5.1, 7.0], "f": [str(i) for i in range(6)],
                      "g": ["1", "1", "2", "2", "3", "3"]})
    with pytest.raises(ValueError, match="no residual degrees of freedom: 6 observations and 6"):
        sg.lmer("y ~ f + (1 | g)", d, REML=reml)
    with pytest.raises(ValueError, match="no residual degrees of freedom"):
        sg.fit("y ~ f + (1 | g)", d, method="REML" if reml else "ML")


def test_wide_correlation_table_is_not_printed_as_lme4():
    # lme4's print.summary.merMod: no correlation table for more than 12 fixed effects
    rng = np.random.default_rng(0)
    d = pd.DataFrame({f"x{i}": rng.normal(size=120) for i in range(12)})
    d["g"] = np.repeat(np.arange(12), 10)
    d["y"] = rng.normal(size=120) + rng.normal(size=12)[d["g"]]
    s = sg.lmer("y ~ " + " + ".join(f"x{i}" for i in range(12)) + " + (1 | g)", d).summary()
    assert "Correlation matrix not shown by default, as p = 13 > 12" in s
    assert "Correlation of Fixed Effects" not in s
