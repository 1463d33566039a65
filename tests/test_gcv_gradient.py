"""The exact gradient of GCV / UBRE in the block parameters (engine/prediction_error.py).

Checked against central differences of the criterion computed the other way (the sparse
PLS / PIRLS fit and the edf of engine/smoothness.py), on mgcv's gamSim example 1 (Gaussian
GCV, Poisson UBRE with a log link), a tensor product (a multi-penalty precision block) and
a non-canonical link; and the fits the gradient search reaches against mgcv's numbers.
"""

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR
from spatialgamm.families import get_family

GAMSIM = REFERENCE_DIR / "gamlik" / "gamsim1.csv"


@pytest.fixture(scope="module")
def gamsim():
    return pd.read_csv(GAMSIM)


def _criterion(fit):
    crit = fit.state.objective
    assert crit.gradient is not None
    return crit


def _pls_score(crit):
    """The criterion from the engine's own fit (sparse PLS or PIRLS, edf from smoothness),
    independent of the dense solve behind value_and_grad."""
    return lambda phi: crit.score(crit.fit_at(phi))


@pytest.mark.parametrize("formula,family,method", [
    ("y ~ s(x0) + s(x1) + s(x2) + s(x3)", "gaussian", "GCV"),
    ("count ~ s(x0) + s(x1) + s(x2) + s(x3)", "poisson", "UBRE"),
    ("y ~ te(x0, x1) + s(x2)", "gaussian", "GCV"),
    ("count ~ te(x0, x1) + s(x2)", "poisson", "UBRE"),
])
def test_gradient_matches_central_differences(gamsim, gradient_check, formula, family,
                                              method):
    fit = sg.gam(formula, gamsim, family=family, method=method)
    crit = _criterion(fit)
    for shift in (0.0, 0.4, -0.7):  # at the optimum (gradient ~0) and away from it
        x = fit.state.phi + shift * np.linspace(1.0, -1.0, len(fit.state.phi))
        grad = gradient_check(crit.value_and_grad, _pls_score(crit), x)
        if shift:
            assert np.max(np.abs(grad)) > 1e-4  # the check compared non-trivial numbers


def test_gradient_non_canonical_link(gamsim):
    """Gamma with a log link: the mode's derivative uses the Newton (observed) weights,
    which differ from PIRLS's Fisher weights. The criterion's PIRLS noise (~1e-10) limits
    central differences to a wider step, hence the looser tolerance."""
    d = gamsim.assign(yp=gamsim["count"] + 1.0)
    fit = sg.gam("yp ~ s(x0) + s(x1) + s(x2)", d, family=get_family("Gamma", link="log"),
                 method="GCV")
    crit = _criterion(fit)
    f = _pls_score(crit)
    x = fit.state.phi + 0.3
    _, g = crit.value_and_grad(x)
    h = 1e-3
    central = np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(len(x)) * h])
    np.testing.assert_allclose(g, central, rtol=1e-3, atol=1e-8)


@pytest.mark.parametrize("key,formula,family", [
    ("gauss_GCV.Cp", "y ~ s(x0) + s(x1) + s(x2) + s(x3)", "gaussian"),
    ("pois_GCV.Cp", "count ~ s(x0) + s(x1) + s(x2) + s(x3)", "poisson"),
])
def test_gradient_search_reaches_mgcv(gamsim, reference, key, formula, family):
    ref = reference("gamlik/reference")[key]
    fit = sg.gam(formula, gamsim, family=family)
    info = fit.state.optinfo
    assert "analytic gradient" in info.method and info.converged
    n, dev, tau = len(gamsim), ref["deviance"], float(np.sum(ref["edf"]))
    mgcv_score = n * dev / (n - tau) ** 2 if family == "gaussian" else dev / n + 2 * tau / n - 1
    # the criterion mgcv minimised, at our optimum: no higher than mgcv's own
    assert fit.state.score <= mgcv_score + 1e-8
    assert fit.state.score == pytest.approx(mgcv_score, rel=1e-6)
    # the criterion is flat at its optimum (sp of s(x3) ~ 57): mgcv's Newton stops where
    # the score agrees to 1e-6, which moves coefficients by up to ~2e-4 relative
    np.testing.assert_allclose(fit.coef.to_numpy(), ref["coef"], rtol=1e-3, atol=1e-4)


def test_poisson_tensor_ubre_reaches_mgcv(reference):
    """A Poisson space-time te() by UBRE (tests/reference/gcvgrad/make_reference.R): the
    gradient search with lme4's tolerance reaches mgcv's optimum (the loose tolerance of the
    finite-difference search could stop short where one sp heads to infinity). UBRE is flat
    there: sp agree to ~3e-3, the score to 1e-7."""
    ref = reference("gcvgrad/reference")["te_pois_ubre"]
    d = pd.read_csv(REFERENCE_DIR / "gcvgrad" / "te_pois.csv")
    fit = sg.gam("c ~ te(x, y, t, k=4)", d, family="poisson")
    info = fit.state.optinfo
    assert "analytic gradient" in info.method and info.converged
    score = fit.state.score
    assert score <= ref["score"] + 1e-9
    assert score == pytest.approx(ref["score"], rel=1e-7)
    assert fit.edf.sum() + 1.0 == pytest.approx(ref["edf"], abs=2e-3)  # mgcv counts the intercept
    np.testing.assert_allclose(fit.sp.to_numpy(), ref["sp"], rtol=1e-2)
