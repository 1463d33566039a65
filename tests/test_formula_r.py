"""R's formula language, against R.

References: tests/reference/formula/make_formula_reference.R (R 4.2.2, lme4 1.1-31, splines)
writes formula_reference.json: R's ``terms.formula`` labels, ``model.matrix`` columns (names
and values) with their rows for new data (R's ``predict`` machinery: ``makepredictcall`` keeps
poly coefficients and spline knots), and lmer / glmer / glm fits (fixed effects, logLik,
population-level predictions on new data) on sleepstudy, Orthodont, Oxboys, cbpp, MASS's quine,
cars and the clotting data of ``?glm``, fitted with tight optimiser settings.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.errors import PredictionError
from spatialgamm.families import get_family
from spatialgamm.formula.evaluate import evaluate, names_in
from spatialgamm.formula.fixed import fixed_design
from spatialgamm.formula.parse import FormulaError, parse_formula
from spatialgamm.formula.rsyntax import deparse, parse_r
from spatialgamm.formula.terms import expand_terms

REF = json.loads((Path(__file__).parent / "reference" / "formula" /
                  "formula_reference.json").read_text())


def _num(v):
    return np.nan if v is None or v in ("NA", "NaN") else float(v)


def frame(spec: dict) -> pd.DataFrame:
    """A data frame from the JSON: factors keep R's level order and orderedness."""
    out = {}
    for k, c in spec.items():
        if c["type"] in ("factor", "ordered"):
            out[k] = pd.Categorical(c["values"], categories=c["levels"],
                                    ordered=c["type"] == "ordered")
        elif c["type"] == "logical":
            out[k] = np.array(c["values"], dtype=bool)
        elif c["type"] == "character":
            out[k] = np.array(c["values"], dtype=object)
        else:
            out[k] = np.array([_num(v) for v in c["values"]], dtype=float)
    return pd.DataFrame(out)


def _matrix(rows) -> np.ndarray:
    return np.array([[_num(v) for v in r] for r in rows], dtype=float)


DESIGN = frame(REF["design"]["data"])
NEWDATA = frame(REF["design"]["newdata"])


# ---- terms and names ------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["terms"], ids=lambda c: c["rhs"])
def test_terms_as_r(case):
    t = expand_terms(parse_r(case["rhs"]))
    labels = case["labels"] if isinstance(case["labels"], list) else [case["labels"]]
    assert t.term_labels == labels
    assert t.intercept == bool(case["intercept"])


@pytest.mark.parametrize("case", REF["deparse"], ids=lambda c: c["text"])
def test_deparse_as_r(case):
    # R: deparse(str2lang(text), backtick = TRUE), the form model.matrix names columns with
    assert deparse(parse_r(case["text"])) == case["r"]


# ---- model matrices -------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["model_matrix"], ids=lambda c: c["rhs"])
def test_model_matrix_as_r(case):
    d = DESIGN.drop(columns="y")
    fd = fixed_design(case["rhs"], d)
    assert fd.names == case["names"]
    X = _matrix(case["X"])
    np.testing.assert_allclose(fd.X, X, rtol=1e-12, atol=1e-12)
    new = fd.for_newdata(NEWDATA)
    Xn = _matrix(case["Xnew"])
    # R's model.frame drops rows whose variables are NaN (sqrt(-1)); here they are NaN rows
    # (log(0) = -Inf is kept by both)
    finite = ~np.any(np.isnan(new), axis=1)
    assert finite.sum() == len(Xn)
    np.testing.assert_allclose(new[finite], Xn, rtol=1e-12, atol=1e-12)


def test_scale_keeps_the_fitting_centre_and_scale():
    ref = REF["scale"]
    fd = fixed_design("scale(x)", DESIGN)
    np.testing.assert_allclose(fd.X[:, 1], ref["X"], rtol=1e-12)
    # R's predict() would re-scale new data by their own mean; the fit's centre is kept here
    np.testing.assert_allclose(fd.for_newdata(NEWDATA)[:, 1], ref["Xnew"], rtol=1e-12)


def test_pandas_ordered_categorical_uses_poly_contrasts():
    d = pd.DataFrame({"o": pd.Categorical(list("abcdeab"), ordered=True)})
    fd = fixed_design("o", d)
    assert fd.names == ["(Intercept)", "o.L", "o.Q", "o.C", "o^4"]
    # columns of contr.poly are orthonormal, with a positive linear trend
    C = fd.X[:5, 1:]
    np.testing.assert_allclose(C.T @ C, np.eye(4), atol=1e-12)
    assert np.all(np.diff(C[:, 0]) > 0)


# ---- fits -----------------------------------------------------------------------------------
def _data(name: str) -> pd.DataFrame:
    if name == "sleepstudy":
        return sg.datasets.load_sleepstudy().assign(**{"Δ days": lambda d: d["Days"]})
    if name == "cbpp":
        return sg.datasets.load_cbpp()
    return frame(REF["data"][name])


@pytest.mark.parametrize("case", REF["fits"], ids=lambda c: c["name"])
def test_fit_as_r(case):
    d = _data(case["data"])
    f = case.get("pyformula", case["formula"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case["call"] == "lmer":
            m = sg.lmer(f, d, REML=case["method"] == "REML")
        elif case["call"] == "glmer":
            m = sg.glmer(f, d, family=case["family"])
        else:
            m = sg.fit(f, d, family=case["family"], method="ML")
    assert list(m.fixef.index) == list(case["fixef"])
    np.testing.assert_allclose(m.fixef.to_numpy(float), list(case["fixef"].values()),
                               rtol=1e-4, atol=1e-8)
    assert m.loglik == pytest.approx(case["logLik"], abs=1e-3)
    if "varcorr" in case:  # random-effect names (I(Days - 4.5), `Δ days`) and SDs as lme4
        vc = m.varcorr
        ref = {k: v if isinstance(v, list) else [v] for k, v in case["varcorr"].items()}
        assert list(vc["grp"]) == ref["grp"]
        assert list(vc["var1"].fillna("")) == ref["var1"]
        assert list(vc["var2"].fillna("")) == ref["var2"]
        np.testing.assert_allclose(vc["sdcor"].to_numpy(float), ref["sdcor"], rtol=1e-3,
                                   atol=1e-4)
    if "newdata" in case:
        nd = frame(case["newdata"])
        pred = m.predict(nd) if case["call"] == "glm" else m.predict(nd, re_form="~0")
        pv = pred["fit"].to_numpy() if isinstance(pred, pd.DataFrame) else np.asarray(pred)
        np.testing.assert_allclose(pv, case["pred_link"], rtol=1e-4, atol=1e-6)
    if "pred_cond" in case:  # with the random effects: the bars' covariates rebuilt too
        pv = m.predict(frame(case["newdata"]))
        pv = pv["fit"].to_numpy() if isinstance(pv, pd.DataFrame) else np.asarray(pv)
        np.testing.assert_allclose(pv, case["pred_cond"], rtol=1e-4, atol=1e-6)


# ---- family strings -------------------------------------------------------------------------
@pytest.mark.parametrize("text, name, link", [
    ('binomial(link="probit")', "binomial", "probit"), ("poisson(link = 'sqrt')", "poisson",
                                                        "sqrt"),
    ('Gamma(link="log")', "Gamma", "log"), ("Gamma", "Gamma", "inverse"),
    ("inverse.gaussian", "inverse.gaussian", "1/mu^2"),
    ('inverse.gaussian(link = "1/mu^2")', "inverse.gaussian", "1/mu^2"),
    ("gaussian(log)", "gaussian", "log"),
])
def test_family_strings_as_r(text, name, link):
    fam = get_family(text)
    assert (fam.name, fam.link.name) == (name, link)


def test_family_string_errors_name_the_cause():
    with pytest.raises(ValueError, match="link 'sqrt' is not available for the binomial"):
        get_family('binomial(link="sqrt")')
    with pytest.raises(ValueError, match="disagree"):
        get_family('binomial(link="probit")', link="logit")
    with pytest.raises(ValueError, match="unknown family 'quasipoisson'"):
        get_family("quasipoisson")


def test_inverse_gaussian_closed_forms():
    fam = get_family("inverse.gaussian")
    y, mu = np.array([0.5, 2.0, 3.0]), np.array([1.0, 1.5, 4.0])
    np.testing.assert_allclose(fam.dev_resids(y, mu), (y - mu) ** 2 / (y * mu ** 2))
    phi = 0.7
    dens = np.sqrt(1 / (2 * np.pi * phi * y ** 3)) * np.exp(-(y - mu) ** 2 / (2 * phi * mu ** 2
                                                                              * y))
    np.testing.assert_allclose(fam.loglik_obs(y, mu, scale=phi), np.log(dens))
    # the 1/mu^2 link and its inverse
    np.testing.assert_allclose(fam.link.linkinv(fam.link.linkfun(mu)), mu)


# ---- responses, offsets, errors -------------------------------------------------------------
def test_brms_trials_is_cbind():
    assert parse_formula("y | trials(n) ~ x").response == "cbind(y, n - y)"
    assert parse_formula("s | trials(a + b) ~ x").response == "cbind(s, (a + b) - s)"
    with pytest.raises(FormulaError, match="only trials"):
        parse_formula("y | weights(w) ~ x")


def test_r_functions_in_response_and_offset():
    d = pd.DataFrame({"dist": [4.0, 9.0], "Δ t": [1.0, np.e], "f": pd.Categorical(["a", "b"])})
    np.testing.assert_allclose(evaluate("sqrt(dist)", d), [2.0, 3.0])
    np.testing.assert_allclose(evaluate("log(`Δ t`) + log(dist, base = 3)", d),
                               [np.log(4) / np.log(3), 1 + 2.0])
    assert sorted(names_in("cbind(s, n - s) + as.numeric(f) + C(g, contr.sum)")) == [
        "f", "g", "n", "s"]


@pytest.mark.parametrize("formula, message", [
    ("Reaction ~ foo(Days) + (1 | Subject)", "unsupported function 'foo' in 'foo(Days)'"),
    ("foo(Reaction) ~ Days + (1 | Subject)", "unsupported function 'foo' in 'foo(Reaction)'"),
    ("Reaction ~ Days + (1 | Subject) + offset(bar(Days))",
     "unsupported function 'bar' in 'bar(Days)'"),
    ("Reaction ~ Days + (zap(Days) | Subject)", "unsupported function 'zap' in 'zap(Days)'"),
    ("Reaction ~ Days^1.5 + (1 | Subject)", "'^' needs a positive whole number"),
    ("Reaction ~ `Δ dayz` + (1 | Subject)", "Δ dayz"),
    ("Reaction ~ log(Days) + (1 | Subject)", "'log(Days)' of the fixed part 'log(Days)' is -inf at "
     "row 0"),
])
def test_formula_errors_name_the_cause(formula, message):
    d = _data("sleepstudy")
    with pytest.raises(FormulaError, match=re.escape(message)):
        sg.lmer(formula, d)


def test_new_factor_level_at_prediction_is_named():
    d = _data("sleepstudy")
    m = sg.lmer("Reaction ~ factor(Days) + (1 | Subject)", d)
    with pytest.raises(FormulaError, match=r"factor\(Days\) has new level\(s\) \['20'\]"):
        m.predict(pd.DataFrame({"Days": [20.0], "Subject": ["308"]}), re_form="~0")


def test_back_quoted_columns_with_missing_values_are_dropped():
    d = _data("sleepstudy")
    d.loc[3, "Δ days"] = np.nan
    with pytest.warns(UserWarning, match="1 row"):
        m = sg.lmer("Reaction ~ `Δ days` + (1 | Subject)", d)
    assert m.spec.n == 179
    assert list(m.fixef.index) == ["(Intercept)", "`Δ days`"]


def test_smooth_of_an_expression_as_mgcv():
    ref = REF["gam"]
    m = sg.gam(ref["formula"], frame(REF["data"]["cars"]), method="REML")
    assert m.coef.index[1] == "s(log(speed)).1"
    assert m.score == pytest.approx(ref["score"], rel=1e-6)
    np.testing.assert_allclose(m.coef.to_numpy(float), ref["coef"], rtol=1e-4)
    pred = m.predict(frame(ref["newdata"]))
    np.testing.assert_allclose(pred["fit"].to_numpy(), ref["pred_link"], rtol=1e-5)


def test_stateful_functions_in_smooth_arguments_are_refused():
    d = frame(REF["data"]["cars"])
    with pytest.raises(FormulaError, match=re.escape("scale() in the argument 'scale(speed)'")):
        sg.gam("dist ~ s(scale(speed), bs='cr', k=6)", d)


def test_back_quoted_grouping_factor():
    d = _data("sleepstudy")
    d["my subject"] = d["Subject"]
    m = sg.lmer("Reaction ~ Days + (Days | `my subject`)", d)
    # lme4: REML criterion 1743.628 for (Days | Subject) on sleepstudy
    assert -2 * m.loglik == pytest.approx(1743.628, abs=1e-3)
    assert set(m.varcorr["grp"]) == {"my subject", "Residual"}


def test_response_comparison_and_dot_message():
    d = pd.DataFrame({"r": ["Y", "N", "Y", "N"], "f": pd.Categorical(list("abab"))})
    np.testing.assert_array_equal(evaluate('I(r == "Y")', d), [1.0, 0.0, 1.0, 0.0])
    with pytest.raises(FormulaError, match="is a factor"):
        evaluate("f", d)
    with pytest.raises(FormulaError, match=re.escape("'.' (all other columns)")):
        fixed_design(".", d)


def test_spatial_coordinates_must_be_columns():
    d = sg.datasets.load_rongelap()
    with pytest.raises(FormulaError, match="coordinates of a spatial term must be columns"):
        sg.fit("counts ~ 1 + gp(cX/1000, cY/1000)", d, family="poisson")


def test_missing_column_in_new_data_is_named():
    d = _data("sleepstudy")
    m = sg.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", d)
    with pytest.raises(PredictionError, match=r"newdata lacks column\(s\) \['Days'\]"):
        m.predict(pd.DataFrame({"Dayz": [1.0]}), re_form="~0")


def test_partial_argument_names_as_r():
    d = DESIGN.drop(columns="y")
    full = fixed_design("poly(x, degree = 2)", d)
    short = fixed_design("poly(x, deg = 2)", d)
    assert short.names == ["(Intercept)", "poly(x, deg = 2)1", "poly(x, deg = 2)2"]
    np.testing.assert_array_equal(short.X, full.X)
    with pytest.raises(FormulaError, match="unused argument 'zz'"):
        fixed_design("poly(x, zz = 2)", d)


def test_double_star_is_power_as_in_r():
    # R's parser reads ** as ^ (deparse(quote(x**2)) is "x^2")
    assert deparse(parse_r("I(x**2)")) == "I(x^2)"
    d = DESIGN.drop(columns="y")
    np.testing.assert_array_equal(fixed_design("I(x**2)", d).X[:, 1], d["x"] ** 2)
