"""gp(kernel='exponential') against glmmTMB's exp(pos + 0 | group) on simulated data and on
Rongelap. Reference numbers: tests/reference/gp/glmmtmb_exp.json, written by
tests/reference/gp/glmmtmb_exp.R (glmmTMB 1.1.5) from the CSVs of make_gp_data.py.

glmmTMB's exp() covariance is sd^2 exp(-d / range), the convention of our exponential kernel,
so range, sd, fixed effects and log-likelihoods compare directly (relative 1e-4, log-likelihood
absolute 1e-3). Fixed-effect SEs: glmmTMB's come from the joint Hessian of (beta, theta)
(sdreport), ours for Gaussian fits are conditional on theta as lme4's, so they agree to ~1%.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference" / "gp"


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "glmmtmb_exp.json").read_text())


def _site_effects(fit, names):
    """Our site effects at glmmTMB's site labels 'pos(x,y)'."""
    fr = fit.ranef[fit.spec.blocks[0].name]
    out = []
    for nm in names:
        x, y = (float(v) for v in nm[4:-1].split(","))
        d = np.hypot(fr.iloc[:, 0] - x, fr.iloc[:, 1] - y)
        assert d.min() < 1e-9 * (1 + abs(x) + abs(y)) * 1e3
        out.append(fr["effect"].iloc[int(np.argmin(d))])
    return np.array(out)


def _check(fit, r, sd_scale=1.0, range_scale=1.0, se_rtol=1e-3):
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(r["fixef"].values()), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(fit.se.to_numpy(), list(r["se"].values()), rtol=se_rtol)
    assert fit.loglik == pytest.approx(r["logLik"], abs=1e-3)
    p = fit.gp_params.iloc[0]
    assert p["range"] == pytest.approx(r["range"] * range_scale, rel=1e-4)
    assert p["sigma"] == pytest.approx(r["sd"] * sd_scale, rel=1e-4)
    assert fit.range == p["range"] and fit.gp_sigma == p["sigma"]


def test_poisson_exp_matches_glmmtmb(ref):
    d = pd.read_csv(REF / "gp_pois.csv")
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='exponential')", d, family="poisson", method="ML")
    r = ref["pois"]
    _check(fit, r)
    assert fit.converged
    np.testing.assert_allclose(_site_effects(fit, r["ranef_names_first5"]), r["ranef_first5"],
                               rtol=1e-3, atol=1e-4)


def test_poisson_exposure_nugget_matches_glmmtmb(ref):
    # glmmTMB: exp(pos + 0 | group) + (1 | site); both put the nugget on its boundary (0)
    d = pd.read_csv(REF / "gp_pois_nugget.csv")
    with pytest.warns(UserWarning, match="nugget variance is zero"):
        fit = sg.fit("y ~ 1 + gp(sx, sy, kernel='exponential', nugget=True) + offset(log(time))",
                     d, family="poisson", method="ML")
    r = ref["pois_nugget"]
    _check(fit, r)
    assert fit.gp_params["nugget"].iloc[0] == pytest.approx(0.0, abs=1e-3)
    assert r["nugget_sd"] < 1e-3


@pytest.mark.parametrize("method,key", [("ML", "gauss_ml"), ("REML", "gauss_reml")])
def test_gaussian_exp_matches_glmmtmb(ref, method, key):
    d = pd.read_csv(REF / "gp_gauss.csv")
    fit = sg.fit("z ~ x + gp(sx, sy, kernel='exponential')", d, method=method)
    r = ref[key]
    _check(fit, r, se_rtol=1e-2)
    assert fit.sigma == pytest.approx(r["sigma"], rel=1e-4)
    np.testing.assert_allclose(_site_effects(fit, r["ranef_names_first5"]), r["ranef_first5"],
                               rtol=1e-3, atol=1e-4)
    if method == "ML":
        nd = pd.DataFrame(r["newdata"])
        np.testing.assert_allclose(fit.predict(nd)["fit"], r["predict_new"], rtol=1e-4)


def test_rongelap_matches_glmmtmb(ref):
    # Diggle, Tawn & Moyeed (1998): exponential field + nugget, offset log(time); glmmTMB was
    # run in km (its start range of 1 stalls in metres), our range is in metres
    fit = sg.fit("counts ~ 1 + gp(cX, cY, kernel='exponential', nugget=True) + offset(log(time))",
                 sg.datasets.load_rongelap(), family="poisson", method="ML")
    r = ref["rongelap"]
    assert r["range_units"] == "km"
    _check(fit, r, range_scale=1000.0)
    assert fit.gp_params["nugget"].iloc[0] == pytest.approx(r["nugget_sd"], rel=1e-3)
    p = fit.gp_params.iloc[0]
    # effective range of the exponential: -log(0.05) range
    assert p["effective_range"] == pytest.approx(-np.log(0.05) * p["range"], rel=1e-9)
    assert p["range_convention"] == "exp(-d/range)"
