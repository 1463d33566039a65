"""gam parity with mgcv 1.8-41: cbpp s(herd, bs='re') (tests/reference/cbpp.json), the Rongelap
GP smooth (tests/reference/rongelap_mgcv.json and the 1612-cell grid), a Gaussian additive mixed
model (tests/reference/gam/gamm_reference.json, made by make_gam_reference.R), a spline
recovering a known function, and bad input."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference"
RONGELAP = json.loads((REF / "rongelap_mgcv.json").read_text())
GAMM = json.loads((REF / "gam/gamm_reference.json").read_text())


@pytest.fixture(scope="module")
def rongelap():
    return sg.datasets.load_rongelap()


@pytest.fixture(scope="module")
def rfits(rongelap_fits):
    return rongelap_fits


def test_cbpp_re_smooth_matches_mgcv(reference):
    ref = reference("cbpp")["mgcv_re_REML"]
    m = sg.gam("cbind(incidence, size - incidence) ~ period + s(herd, bs='re')",
               sg.datasets.load_cbpp(), family="binomial", method="REML")
    for k, v in ref["coef"].items():
        assert m.coef[k] == pytest.approx(v, rel=1e-4)
    pt = m.parametric_table()
    for k, v in ref["se"].items():
        assert pt.loc[k, "Std. Error"] == pytest.approx(v, rel=1e-3)
    assert m.edf["s(herd)"] == pytest.approx(ref["edf"], abs=0.01)
    assert m.score == pytest.approx(ref["reml_score"], abs=1e-3)
    assert m.sp["s(herd)"] == pytest.approx(ref["sp"], rel=1e-3)
    assert m.r2_adj == pytest.approx(ref["r2_adj"], abs=1e-4)
    assert m.dev_expl == pytest.approx(ref["dev_expl"], abs=1e-4)
    vc = m.vcomp()
    assert vc.loc["s(herd)"].to_numpy() == pytest.approx(ref["sd"], rel=1e-3)


@pytest.mark.parametrize("key", [k for k in RONGELAP if k != "dataset"])
def test_rongelap_gp_smooth_matches_mgcv(rfits, key):
    ref = RONGELAP[key]
    m = rfits[key]
    assert m.coef["(Intercept)"] == pytest.approx(ref["intercept"], rel=1e-4)
    assert m.parametric_table().loc["(Intercept)", "Std. Error"] == pytest.approx(
        ref["intercept_se"], rel=1e-2)
    assert m.edf.iloc[0] == pytest.approx(ref["edf"], abs=0.05)
    assert m.score == pytest.approx(ref["score"], rel=1e-3)
    assert m.dev_expl == pytest.approx(ref["dev_expl"], abs=2e-3)
    assert m.r2_adj == pytest.approx(ref["r2_adj"], abs=2e-3)
    assert m.fitted[:10] == pytest.approx(ref["fitted_head"], rel=2e-2)


def test_rongelap_grid_predictions_match_mgcv(rfits):
    grid = pd.read_csv(REF / "rongelap_grid_mgcv_ubre_default.csv")
    m = rfits["ubre_default"]
    p = m.predict(grid[["cX", "cY"]], type="response", se_fit=True, offset=0.0)
    rel = np.abs(p["fit"].to_numpy() / grid["response"].to_numpy() - 1)
    assert np.median(rel) < 1e-3
    rel_se = np.abs(p["se_fit"].to_numpy() / grid["response_se"].to_numpy() - 1)
    assert np.median(rel_se) < 5e-2


def test_gaussian_gamm_with_lme4_bar_matches_mgcv():
    d = pd.read_csv(REF / "gam/gamm_data.csv")
    d["g"] = pd.Categorical(d["g"].astype(str), categories=[str(i) for i in range(1, 21)])
    ref = GAMM["reml"]
    for f in ("y ~ s(x, bs='cr', k=10) + s(g, bs='re')", "y ~ s(x, bs='cr', k=10) + (1 | g)"):
        m = sg.gam(f, d, method="REML")
        assert m.state.beta[0] == pytest.approx(ref["coef1"], rel=1e-4)
        assert m.scale == pytest.approx(ref["scale"], rel=1e-4)
        assert m.fitted[:5] == pytest.approx(ref["fitted_head"], rel=1e-4)
        assert m.edf["s(x)"] == pytest.approx(ref["edf"][0], abs=0.01)
    m = sg.gam("y ~ s(x, bs='cr', k=10) + s(g, bs='re')", d, method="REML")
    assert m.score == pytest.approx(ref["score"], abs=1e-3)
    assert m.sp.to_numpy() == pytest.approx(ref["sp"], rel=1e-3)
    nd = pd.DataFrame({"x": [0.1, 0.5, 0.9], "g": pd.Categorical(["1", "2", "3"])})
    p = m.predict(nd, se_fit=True)
    assert p["fit"].to_numpy() == pytest.approx(ref["pred"], abs=1e-4)
    assert p["se_fit"].to_numpy() == pytest.approx(ref["pred_se"], rel=1e-3)


def test_gcv_default_for_gaussian():
    d = pd.read_csv(REF / "gam/gamm_data.csv")
    ref = GAMM["gcv"]
    m = sg.gam("y ~ s(x, bs='cr', k=10)", d)
    assert m.state.method == "GCV"
    assert m.score == pytest.approx(ref["score"], rel=1e-4)
    assert m.edf["s(x)"] == pytest.approx(ref["edf"], abs=0.01)
    assert m.r2_adj == pytest.approx(ref["r2_adj"], abs=1e-4)


def test_spline_recovers_known_function():
    rng = np.random.default_rng(11)
    x = np.sort(rng.uniform(0, 1, 500))
    f = np.sin(2 * np.pi * x) + 0.5 * x
    d = pd.DataFrame({"x": x, "y": f + rng.normal(scale=0.2, size=x.size)})
    for bs in ("cr", "ps", "tp"):
        m = sg.gam(f"y ~ s(x, bs='{bs}', k=20)", d, method="REML")
        err = m.fitted - f
        assert np.sqrt(np.mean(err ** 2)) < 0.05, bs
        assert m.sigma == pytest.approx(0.2, rel=0.1)


def test_by_factor_smooths():
    rng = np.random.default_rng(2)
    n = 600
    fac = rng.choice(["a", "b"], n)
    x = rng.uniform(0, 1, n)
    y = np.where(fac == "a", np.sin(2 * np.pi * x), 2 * x) + (fac == "b") + rng.normal(0, .2, n)
    d = pd.DataFrame({"x": x, "y": y, "fac": pd.Categorical(fac)})
    m = sg.gam("y ~ fac + s(x, by=fac, bs='cr')", d, method="REML")
    assert set(m.edf.index) == {"s(x):faca", "s(x):facb"}
    truth = np.where(fac == "a", np.sin(2 * np.pi * x), 2 * x) + (fac == "b")
    assert np.sqrt(np.mean((m.fitted - truth) ** 2)) < 0.06


def test_summary_and_terms(rfits):
    m = rfits["reml_default"]
    s = m.summary()
    assert "Parametric coefficients" in s and "s(cX,cY)" in s and "-REML" in s
    t = m.predict(sg.datasets.load_rongelap().iloc[:5], type="terms", se_fit=True)
    assert list(t.columns) == ["s(cX,cY)", "se(s(cX,cY))"]


@pytest.mark.parametrize("formula,msg", [
    ("counts ~ s(cX, cY, bs='gp', k=500)", "fewer unique|unique"),
    ("counts ~ s(cX, cY, bs='zz')", "zz"),
])
def test_bad_smooths(rongelap, formula, msg):
    with pytest.raises(ValueError, match=msg):
        sg.gam(formula, rongelap, family="poisson")


def test_smooth_of_factor_and_nan_coordinates(rongelap):
    d = sg.datasets.load_cbpp()
    with pytest.raises(ValueError, match="factor"):
        sg.gam("incidence ~ s(herd)", d, family="poisson")
    bad = rongelap.copy()
    bad.loc[3, "cX"] = np.nan
    with pytest.raises(ValueError, match="cX"):
        sg.gam("counts ~ s(cX, cY, bs='gp', k=20)", bad, family="poisson", na_action="fail")


def test_plot_smooths(rfits, tmp_path):
    fig = rfits["reml_default"].plot()
    path = sg.save_figure(fig, tmp_path / "smooth.png")
    assert path.stat().st_size > 10_000
    d = pd.read_csv(REF / "gam/gamm_data.csv")
    fig1 = sg.gam("y ~ s(x, bs='cr', k=10)", d, method="REML").plot()
    assert len(fig1.axes) == 1 and fig1.axes[0].get_xlabel() == "x"


def test_vp_ve_and_offset_kept_for_prediction(rfits, rongelap):
    m = rfits["reml_default"]
    vp, ve = m.Vp.to_numpy(), m.Ve.to_numpy()
    # Ve = Vp X'WX Vp / scale is never larger than Vp (shrinkage only removes variance)
    assert np.all(np.diag(ve) <= np.diag(vp) * (1 + 1e-8))
    assert m.Vp.loc["(Intercept)", "(Intercept)"] ** 0.5 == pytest.approx(
        RONGELAP["reml_default"]["intercept_se"], rel=1e-2)
    rows = rongelap.iloc[:5]
    with_off = m.predict(rows)["fit"].to_numpy()
    per_unit = m.predict(rows, offset=0.0)["fit"].to_numpy()
    assert with_off - per_unit == pytest.approx(np.log(rows["time"].to_numpy()))
    assert with_off == pytest.approx(np.log(m.fitted[:5]))


def test_numbers_stored_as_text_are_named(rongelap):
    bad = rongelap.assign(cX=rongelap["cX"].astype(str))
    with pytest.raises(ValueError, match="cX.*text"):
        sg.gam("counts ~ s(cX, cY, bs='gp', k=20)", bad, family="poisson")
