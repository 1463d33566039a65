"""Crossed and nested designs simulated with known variances; the parametric bootstrap;
bad input. Truth comes from the simulation, not from the package."""

import warnings

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.formula import FormulaError


def _crossed(seed=1, n=6000, na=60, nb=40, sa=0.8, sb=0.5, se=1.0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.normal(size=n)
    y = 1 + 2 * x + rng.normal(0, sa, na)[a] + rng.normal(0, sb, nb)[b] + rng.normal(0, se, n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b)})


def test_crossed_recovers_variances():
    m = sg.lmer("y ~ x + (1 | a) + (1 | b)", _crossed())
    sd = dict(zip(m.varcorr["grp"], m.varcorr["sdcor"]))
    assert sd["a"] == pytest.approx(0.8, abs=0.2)   # 60 levels: SE of the SD about 0.08
    assert sd["b"] == pytest.approx(0.5, abs=0.15)  # 40 levels: about 0.06
    assert sd["Residual"] == pytest.approx(1.0, abs=0.03)
    assert m.fixef["x"] == pytest.approx(2.0, abs=4 * m.se["x"])
    assert list(m.varcorr["grp"]) == ["a", "b", "Residual"]  # most levels first, as lme4


def test_nested_recovers_variances_and_expands_slash():
    rng = np.random.default_rng(5)
    ns, nc, per = 40, 5, 8  # schools, classes within school, pupils
    school = np.repeat(np.arange(ns), nc * per)
    cls = np.repeat(np.arange(ns * nc), per) % nc
    us = rng.normal(0, 1.0, ns)
    uc = rng.normal(0, 0.5, ns * nc)
    y = 3 + us[school] + uc[school * nc + cls] + rng.normal(0, 0.7, school.size)
    d = pd.DataFrame({"y": y, "school": pd.Categorical(school), "cls": pd.Categorical(cls)})
    m = sg.lmer("y ~ 1 + (1 | school/cls)", d)
    sd = dict(zip(m.varcorr["grp"], m.varcorr["sdcor"]))
    assert set(sd) == {"cls:school", "school", "Residual"} or set(sd) == {
        "school:cls", "school", "Residual"}
    inner = sd.get("school:cls", sd.get("cls:school"))
    assert sd["school"] == pytest.approx(1.0, abs=0.3)
    assert inner == pytest.approx(0.5, abs=0.12)
    assert sd["Residual"] == pytest.approx(0.7, abs=0.05)
    m2 = sg.lmer("y ~ 1 + (1 | school) + (1 | school:cls)", d)
    assert m2.reml_criterion == pytest.approx(m.reml_criterion, abs=1e-6)


def test_singular_fit_is_reported():
    # group means pulled towards zero: the REML estimate of the group variance is zero
    # (lme4 1.1-31: theta 0, REML criterion 536.723880563671)
    rng = np.random.default_rng(0)
    y, g = rng.normal(size=200), np.repeat(range(20), 10)
    y = y - 0.5 * pd.Series(y).groupby(g).transform("mean").to_numpy()
    d = pd.DataFrame({"y": y, "g": pd.Categorical(g)})
    with pytest.warns(UserWarning, match="singular"):
        m = sg.lmer("y ~ 1 + (1 | g)", d)
    assert m.singular and "zero" in m.optinfo.boundary[0]
    assert "singular" in m.summary()
    assert m.reml_criterion == pytest.approx(536.723880563671, abs=1e-8)


def test_no_singular_warning_off_the_boundary():
    # no group variance in truth, but the estimate is interior: lme4 1.1-31 gives theta
    # 0.1660392 and REML criterion 554.730533960282; the bound 0 is not a minimum (the
    # deviance is even in theta, so its gradient there is exactly zero: a projected-gradient
    # search that steps onto it must not stop there)
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.normal(size=200), "g": pd.Categorical(np.repeat(range(20), 10))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = sg.lmer("y ~ 1 + (1 | g)", d)
    assert not m.singular
    assert m.theta[0] == pytest.approx(0.1660392, rel=1e-5)
    assert m.reml_criterion == pytest.approx(554.730533960282, abs=1e-8)


def test_bootstrap_percentile_intervals_cover_truth():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 10)
    d = pd.DataFrame({"y": 5 + rng.normal(0, 2, 30)[g] + rng.normal(0, 1, 300),
                      "g": pd.Categorical(g)})
    m = sg.lmer("y ~ 1 + (1 | g)", d)
    bt = m.bootstrap(n=60, seed=1, progress=False)
    assert list(bt.index) == ["(Intercept)", "sd(g: (Intercept))", "sd(Residual)"]
    assert bt.loc["(Intercept)", "lower"] < 5 < bt.loc["(Intercept)", "upper"]
    assert bt.loc["sd(Residual)", "lower"] < 1 < bt.loc["sd(Residual)", "upper"]
    assert (bt["n_ok"] == 60).all()


def test_na_rows_dropped_with_count_or_refused():
    d = sg.datasets.load_sleepstudy().copy()
    d.loc[[0, 5], "Reaction"] = np.nan
    with pytest.warns(UserWarning, match="2 row"):
        m = sg.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert m.nobs == 178
    with pytest.raises(ValueError, match="Reaction"):
        sg.lmer("Reaction ~ Days + (Days | Subject)", d, na_action="fail")


@pytest.mark.parametrize("formula,exc,msg", [
    ("Reaction ~ Dayz + (1 | Subject)", FormulaError, "Dayz"),
    ("Reaction ~ Days + (1 | Subjekt)", FormulaError, "Subjekt"),
    ("Reaction ~ Days + (1 | Subject", FormulaError, "parenthes"),
    ("Reaction Days", FormulaError, "~"),
])
def test_bad_formulas(formula, exc, msg):
    with pytest.raises(exc, match=msg):
        sg.lmer(formula, sg.datasets.load_sleepstudy())


def test_non_numeric_response_and_one_level_group():
    d = sg.datasets.load_sleepstudy().assign(R=lambda x: x["Reaction"].astype(str))
    with pytest.raises(FormulaError, match="R"):
        sg.lmer("R ~ Days + (1 | Subject)", d)
    d1 = d.assign(one="a")
    with pytest.raises(FormulaError, match="one"):
        sg.lmer("Reaction ~ Days + (1 | one)", d1)


def test_condvar_and_residual_types():
    m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    cv = m.ranef_condvar()["Subject"]
    assert cv.shape == (18, 2, 2)
    assert np.all(np.linalg.eigvalsh(cv) > 0)
    # a large sparse system takes the selected-inverse path: Var(b_j | y) of a scalar
    # effect is below its prior variance and above sigma^2 / (n_j + sigma^2 / var_b)
    d = _crossed(n=6000, na=600, nb=40)
    mc = sg.lmer("y ~ x + (1 | a) + (1 | b)", d)
    va = mc.varcorr.set_index("grp").loc["a", "vcov"]
    s2 = mc.sigma ** 2
    cva = mc.ranef_condvar()["a"][:, 0, 0]
    n_a = d["a"].value_counts().sort_index().to_numpy()
    assert np.all(cva < va) and np.all(cva > s2 / (n_a + s2 / va) * (1 - 1e-6))
    r = m.residuals("response")
    assert m.residuals("pearson") == pytest.approx(r)
    assert m.residuals("scaled") == pytest.approx(r / m.sigma)
