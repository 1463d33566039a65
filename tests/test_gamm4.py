"""sg.gamm4 against the R package gamm4, and lme4 bars in a gam summary against mgcv's
s(fac, bs='re') (issue 14, item 5). Reference: tests/reference/gamm4/make_gamm4_reference.R."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference" / "gamm4"
R = json.loads((REF / "gamm4_reference.json").read_text())
MODELS = {
    "gaussian": ("y ~ s(x0, bs='cr') + s(x1, bs='cr') + s(x2, bs='cr')", "gaussian"),
    "poisson": ("count ~ s(x0, bs='cr') + s(x2, bs='cr')", "poisson"),
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    d = pd.read_csv(REF / "gamm4_data.csv")
    for c in ("fac", "fac2"):
        d[c] = d[c].astype("category")
    return d


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, data):
    formula, family = MODELS[request.param]
    return request.param, sg.gamm4(formula, data, random="~ (1 | fac)", family=family)


def test_edf_and_sp(fitted):
    key, m = fitted
    r = R[key]
    edf = m.gam.edf
    for name, v in r["edf"].items():
        assert edf[name] == pytest.approx(v, rel=2e-4)
    # sp = scale / sigma_s^2: flat in the criterion near its optimum, so looser than the edf
    np.testing.assert_allclose(m.gam.sp.to_numpy(), r["sp"], rtol=1e-3)


def test_mer_view_fixef_varcorr_loglik(fitted):
    key, m = fitted
    r = R[key]
    fe = m.mer.fixef
    assert list(fe.index) == list(r["fixef_mer"])
    assert fe["X(Intercept)"] == pytest.approx(r["fixef_mer"]["X(Intercept)"], rel=1e-4)
    # a smooth's null-space column is an eigenvector of its penalty, whose sign LAPACK picks
    # (mgcv's smooth2random): the coefficient agrees up to that sign
    for name, v in r["fixef_mer"].items():
        assert abs(fe[name]) == pytest.approx(abs(v), rel=1e-4, abs=1e-5)
    vc = m.mer.varcorr.set_index("grp")["sdcor"]
    assert set(vc.index) == set(r["varcorr_sd"])
    for grp, sd in r["varcorr_sd"].items():
        # the REML surface is flat along the smooths' sds (Xr...; see sp above) and fac's
        # sd moves with them: the fit's criterion is 1e-6 better than lme4's, the sds agree
        # to 5e-4 relative
        assert vc[grp] == pytest.approx(sd, rel=1e-3 if grp.startswith("Xr") else 5e-4)
    assert m.mer.loglik == pytest.approx(r["logLik_mer"], abs=1e-3)
    if key == "gaussian":
        # lmer's vcov (REML, exact); glmer's comes from a finite-difference Hessian whose
        # differences (here 0.5% on a smooth near its zero variance) are not a target
        np.testing.assert_allclose(m.mer.se.to_numpy(), list(r["se_mer"].values()), rtol=1e-3)
    if key == "gaussian":
        assert m.mer.sigma == pytest.approx(r["sigma_mer"], rel=1e-4)
        assert m.gam.scale == pytest.approx(r["sigma_mer"] ** 2, rel=2e-4)


def test_gam_view_coefficients_and_predictions(fitted, data):
    key, m = fitted
    r = R[key]
    assert list(m.gam.coef.index) == r["coef_names"]
    pt = m.gam.parametric_table()
    for name, v in r["p_coef"].items():
        assert pt.loc[name, "Estimate"] == pytest.approx(v, rel=1e-4)
        assert pt.loc[name, "Std. Error"] == pytest.approx(r["p_se"][name], rel=1e-3)
    # gamm4's gam view tests the smooths only (the bars are not part of its GAM)
    assert list(m.gam.smooth_table().index) == list(r["edf"])
    np.testing.assert_allclose(m.gam.coef.to_numpy(), r["coef"], rtol=1e-3, atol=5e-4)
    nd = pd.DataFrame(R["newdata"])  # gamm4's gam view has no random effects: no fac column
    p = m.gam.predict(nd, se_fit=True)
    np.testing.assert_allclose(p["fit"], r["pred_link"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(p["se_fit"], r["pred_se"], rtol=1e-3)
    # conditional fitted values of the mer view (smooths and fac's random intercepts)
    np.testing.assert_allclose(m.mer.fitted[:10], r["fitted_mer"], rtol=1e-4)


def test_summaries_run(fitted):
    _, m = fitted
    text = m.summary()
    assert "Approximate significance of smooth terms" in text and "Xr" in text


def test_random_argument_checked(data):
    f = MODELS["gaussian"][0]
    with pytest.raises(ValueError, match="random"):
        sg.gamm4(f, data, random="(1 | fac)")
    with pytest.raises(ValueError, match="bar"):
        sg.gamm4(f, data, random="~ fac")
    with pytest.raises(ValueError, match="smooth nor an lme4 bar"):
        sg.gamm4("y ~ s(x0, bs='cr') + gp(x1, x2)", data, random="~ (1 | fac)")


@pytest.mark.parametrize("key,formula,family", [
    ("re_table_gaussian", "y ~ s(x0, bs='cr') + s(x2, bs='cr') + (1|fac)", "gaussian"),
    ("re_table_poisson", "count ~ s(x0, bs='cr') + s(x2, bs='cr') + (1|fac)", "poisson"),
    ("re_table_two", "y2 ~ s(x0, bs='cr') + (1|fac) + (1|fac2)", "gaussian"),
])
def test_bars_in_gam_summary_as_mgcv_re_smooths(data, key, formula, family):
    r = R[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fac2's zero variance: a singular-fit warning
        m = sg.gam(formula, data, family=family, method="REML")
    tab = m.smooth_table()
    labels = [lab.replace("s(fac2)", "(1 | fac2)").replace("s(fac)", "(1 | fac)")
              for lab in r["rows"]]
    assert list(tab.index) == labels
    stat = "F" if family == "gaussian" else "Chi.sq"
    for i, lab in enumerate(labels):
        if lab == "(1 | fac2)":
            # fac2's variance is estimated as exactly zero (lme4's boundary); mgcv stops at
            # its sp bound (edf 0.0013, F 1.2e-4 there). The test is taken in the limit of
            # a vanishing variance, which is what mgcv's p-value and Ref.df approximate
            assert tab.loc[lab, "edf"] == pytest.approx(r["edf"][i], abs=2e-3)
            assert tab.loc[lab, "Ref.df"] == r["ref_df"][i]
            assert tab.loc[lab, "p-value"] == pytest.approx(r["p"][i], rel=1e-3)
            continue
        assert tab.loc[lab, "edf"] == pytest.approx(r["edf"][i], rel=2e-4)
        assert tab.loc[lab, "Ref.df"] == pytest.approx(r["ref_df"][i], rel=2e-4)
        assert tab.loc[lab, stat] == pytest.approx(r["stat"][i], rel=5e-4)
        assert tab.loc[lab, "p-value"] == pytest.approx(r["p"][i], rel=1e-3, abs=1e-5)
    assert "(1 | fac)" in m.summary()

