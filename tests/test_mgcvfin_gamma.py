"""mgcv's ``gam(gamma=)`` with method='REML' and 'ML' (``n / gamma`` as the effective sample
size), and the Gaussian scale mgcv reports under ML and gamma (``deviance / (n - edf)``),
against mgcv 1.8-41 (tests/reference/mgcvgamma/make_gamma_reference.R) on gamSim example 1
(Gaussian, Gaussian with prior weights, Poisson, binomial) with gamma = 1.4 and 0.7."""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR

HERE = REFERENCE_DIR / "mgcvgamma"
REF = json.loads((HERE / "gamma_reference.json").read_text())
F3 = "y ~ s(x0) + s(x1) + s(x2)"
DATA = {name: pd.read_csv(HERE / f"{name}.csv") for name in ("gauss", "pois", "binom")}


def case(key: str) -> dict:
    """The fit's arguments from the reference key: data_method_gamma ('14' is 1.4)."""
    data, method, g = key.split("_")
    kw = dict(method=method, gamma=float(g[0] + "." + g[1:]) if len(g) > 1 else float(g))
    if data == "gaussw":
        data, kw["weights"] = "gauss", "w"
    kw["family"] = {"gauss": "gaussian", "pois": "poisson", "binom": "binomial"}[data]
    return dict(data=DATA[data], **kw)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key in REF:
        c = case(key)
        out[key] = sg.gam(F3, c.pop("data"), **c)
    return out


@pytest.mark.parametrize("key", list(REF))
def test_sp_edf_score_coef_are_mgcvs(key, fits):
    f, ref = fits[key], REF[key]
    # sp to 5e-4: the criteria are flat in log sp (pois_REML_07: the package's sp give a
    # criterion 1e-7 below mgcv's, 2.2e-4 apart in the wiggliest sp)
    np.testing.assert_allclose(f.sp.to_numpy(), ref["sp"], rtol=5e-4)
    np.testing.assert_allclose(f.edf.to_numpy(), ref["edf"], rtol=1e-4)
    assert f.edf_total == pytest.approx(ref["edf_total"], rel=1e-5)
    assert f.score == pytest.approx(ref["score"], rel=1e-6)
    np.testing.assert_allclose(f.coef.to_numpy(), ref["coef"], rtol=1e-4,
                               atol=1e-4 * np.abs(ref["coef"]).max())
    np.testing.assert_allclose(f.fitted, ref["fitted"], rtol=1e-4)


@pytest.mark.parametrize("key", [k for k in REF if k.startswith("gauss")])
def test_gaussian_scales_are_mgcvs(key, fits):
    """``scale`` (mgcv's sig2, what Vp uses) is ``deviance / (n - edf)`` under ML and with
    gamma; ``gam.vcomp``'s scale is the criterion's own (``reml.scale``)."""
    f, ref = fits[key], REF[key]
    assert f.scale == pytest.approx(ref["scale"], rel=1e-5)
    np.testing.assert_allclose(np.diag(f.Vp), ref["Vp_diag"], rtol=1e-4)
    vc = f.vcomp()
    assert vc.loc["scale", "std.dev"] ** 2 == pytest.approx(ref["reml_scale"], rel=1e-5)


@pytest.mark.parametrize("key", list(REF))
def test_loglik_aic_edf2_are_mgcvs(key, fits):
    """logLik / AIC with edf2 from the Hessian of the gamma criterion."""
    f, ref = fits[key], REF[key]
    assert f.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    np.testing.assert_allclose(f.edf2.to_numpy(), ref["edf2"], atol=2e-4)
    assert f.loglik_df == pytest.approx(ref["df"], abs=2e-4)
    assert f.aic == pytest.approx(ref["aic"], abs=2e-3)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "big"])
def test_bad_gamma_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="gamma"):
        sg.gam(F3, DATA["gauss"], method="REML", gamma=bad)
