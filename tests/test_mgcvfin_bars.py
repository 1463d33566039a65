"""lme4 bars inside a gam formula are mgcv's ``s(fac, bs='re')``: ``Vc``, ``edf2`` and the
logLik / AIC that use them, against the equivalent mgcv model (mgcv 1.8-41,
tests/reference/mgcvbars/make_bars_reference.R): nlme's Milk (REML and ML), lme4's
sleepstudy (an intercept and a slope bar on one factor), a Poisson model with an exposure
offset and a random site effect, and a Gaussian random slope."""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR

HERE = REFERENCE_DIR / "mgcvbars"
REF = json.loads((HERE / "bars_reference.json").read_text())
CASES = {
    "milk_REML": ("protein ~ Diet + s(Time) + (1 | Cow)", "milk", "REML", "gaussian"),
    "milk_ML": ("protein ~ Diet + s(Time) + (1 | Cow)", "milk", "ML", "gaussian"),
    "sleep_REML": ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy",
                   "REML", "gaussian"),
    "pois_REML": ("count ~ s(x) + (1 | site) + offset(log(expo))", "pois_site", "REML",
                  "poisson"),
    "slope_REML": ("y ~ z + s(x0) + (0 + z | g)", "slope", "REML", "gaussian"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: sg.gam(f, pd.read_csv(HERE / f"{d}.csv"), method=m, family=fam)
            for key, (f, d, m, fam) in CASES.items()}


@pytest.mark.parametrize("key", CASES)
def test_fit_is_the_re_smooths(key, fits):
    """The same model as mgcv's s(fac, bs='re'): the smooths' sp, edf, scale (a bar's sp is
    mgcv's up to the penalty scaling of a re term with a covariate)."""
    f, ref = fits[key], REF[key]
    np.testing.assert_allclose(np.asarray(f.sp, dtype=float), ref["sp"][:len(f.sp)], rtol=2e-4)
    assert f.edf_total == pytest.approx(ref["edf"], rel=1e-5)
    assert f.scale == pytest.approx(ref["scale"], rel=1e-5)


@pytest.mark.parametrize("key", CASES)
def test_vc_edf2_loglik_aic_are_mgcvs(key, fits):
    f, ref = fits[key], REF[key]
    np.testing.assert_allclose(f.edf2.to_numpy(), ref["edf2"], atol=2e-4)
    np.testing.assert_allclose(np.diag(f.Vc), ref["Vc_diag"], rtol=2e-4)
    assert f.loglik_df == pytest.approx(ref["df"], abs=2e-4)
    assert f.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    assert f.aic == pytest.approx(ref["aic"], abs=2e-3)
