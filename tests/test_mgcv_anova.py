"""mgcv's ``anova.gam`` against mgcv 1.8-41 (tests/reference/mgcvvc/make_vc_reference.R):
nested fits with ``test="Chisq"`` and ``"F"`` (REML/ML fits use mgcv's edf2-based residual
df, GCV fits edf1), and one fit's parametric and smooth term tests, on MASS's Boston, nlme's
Milk, gamSim 1 and a Poisson response with an exposure offset."""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR

HERE = REFERENCE_DIR / "mgcvvc"
REF = json.loads((HERE / "vc_reference.json").read_text())["anova"]
BOSTON = ["medv ~ s(lstat) + chas", "medv ~ s(lstat) + s(rm) + chas",
          "medv ~ s(lstat) + s(rm) + s(crim) + chas"]
POIS = ["count ~ s(x, bs='cr') + offset(log(expo))",
        "count ~ s(x, bs='cr') + s(z, bs='cr') + offset(log(expo))"]


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / f"{name}.csv")


def na(values) -> np.ndarray:
    return np.array([np.nan if v == "NA" else v for v in values], dtype=float)


@pytest.fixture(scope="module")
def boston_ml():
    return [sg.gam(f, data("boston"), method="ML") for f in BOSTON]


def check_rows(tab: pd.DataFrame, ref: dict, rows: slice, rtol_p: float = 1e-4) -> None:
    np.testing.assert_allclose(tab["Resid. Df"].to_numpy()[rows], ref["resid_df"][rows],
                               atol=1e-4)
    np.testing.assert_allclose(tab["Resid. Dev"].to_numpy()[rows], ref["resid_dev"][rows],
                               rtol=1e-6)
    np.testing.assert_allclose(tab["Df"].to_numpy()[rows], na(ref["df"])[rows], atol=1e-4)
    np.testing.assert_allclose(tab["Deviance"].to_numpy()[rows], na(ref["dev"])[rows],
                               rtol=1e-5)
    p = tab["Pr(>F)" if "F" in ref else "Pr(>Chi)"].to_numpy()
    # p-values down to 1e-160 compare on the log scale: their relative size there is set by
    # the statistic's last digits (here the scale of a model with a boundary sp)
    np.testing.assert_allclose(np.log(p[rows]), np.log(na(ref["p"])[rows]), rtol=rtol_p)
    if "F" in ref:
        np.testing.assert_allclose(tab["F"].to_numpy()[rows], na(ref["F"])[rows], rtol=1e-4)


@pytest.mark.parametrize("test", ["Chisq", "F"])
def test_nested_ml_fits(test, boston_ml):
    tab = sg.anova(*boston_ml, test=test)
    ref = REF[f"boston_ML_{test}"]
    assert list(tab.index) == BOSTON
    check_rows(tab, ref, slice(0, 2))
    # the third fit's s(crim) has its smoothing parameter on the flat boundary of ML (mgcv
    # stops at sp = 5208, this package further out): edf2, hence its df, differ by 0.004
    np.testing.assert_allclose(tab["Resid. Df"].iloc[2], ref["resid_df"][2], atol=1e-2)
    p = tab["Pr(>F)" if test == "F" else "Pr(>Chi)"].iloc[2]
    assert p == pytest.approx(float(ref["p"][2]), rel=2e-2)


def test_nested_gcv_fits_use_edf1():
    fits = [sg.gam(f, data("boston"), method="GCV.Cp") for f in BOSTON[:2]]
    check_rows(sg.anova(*fits, test="F"), REF["boston_GCV_F"], slice(0, 2))


def test_nested_poisson_reml_with_offset():
    fits = [sg.gam(f, data("poisson_offset"), family="poisson", method="REML") for f in POIS]
    check_rows(sg.anova(*fits, test="Chisq"), REF["pois_REML_Chisq"], slice(0, 2))


def test_nested_gamsim_ml():
    d = data("gamsim1_300")
    fits = [sg.gam(f, d, method="ML") for f in ("y ~ s(x0) + s(x1)",
                                                 "y ~ s(x0) + s(x1) + s(x2)")]
    check_rows(sg.anova(*fits, test="Chisq"), REF["g1_ML_Chisq"], slice(0, 2))


def test_no_test_gives_the_deviance_table(boston_ml):
    tab = sg.anova(*boston_ml[:2])
    assert list(tab.columns) == ["Resid. Df", "Resid. Dev", "Df", "Deviance"]


def test_f_test_with_known_scale_warns_as_r():
    fits = [sg.gam(f, data("poisson_offset"), family="poisson", method="REML") for f in POIS]
    with pytest.warns(UserWarning, match="poisson"):
        sg.anova(*fits, test="F")


def test_bad_arguments_are_named(boston_ml):
    with pytest.raises(ValueError, match="test must be"):
        sg.anova(*boston_ml[:2], test="Wald")
    other = sg.gam("medv ~ s(lstat)", data("boston").iloc[:300], method="ML")
    with pytest.raises(ValueError, match="different numbers of observations"):
        sg.anova(boston_ml[0], other)


@pytest.mark.parametrize("key,formula,dataset,family", [
    ("single_milk", "protein ~ Diet + s(Time) + s(Cow, bs='re')", "milk", "gaussian"),
    ("single_boston", "medv ~ s(lstat) + s(rm) + chas", "boston", "gaussian"),
    ("single_pois", "count ~ s(x, bs='cr') + z + I(z^2) + offset(log(expo))",
     "poisson_offset", "poisson"),
])
def test_single_fit_term_tests(key, formula, dataset, family):
    a = sg.anova(sg.gam(formula, data(dataset), family=family, method="REML"))
    ref = REF[key]
    pt = np.atleast_2d(np.asarray(ref["pTerms"]["table"], dtype=float))
    assert list(a.pTerms_table.index) == list(np.atleast_1d(ref["pTerms"]["terms"]))
    np.testing.assert_allclose(a.pTerms_table.to_numpy(), pt, rtol=1e-4)
    st = np.atleast_2d(np.asarray(ref["s"]["table"], dtype=float))
    assert list(a.s_table.index) == list(np.atleast_1d(ref["s"]["terms"]))
    np.testing.assert_allclose(a.s_table.to_numpy(), st, rtol=1e-4, atol=1e-12)
    assert "Parametric Terms:" in str(a)
