"""The space-time Poisson field of examples/spacetime_te.py against mgcv 1.8-41
(tests/reference/mgcvst/make_spacetime_reference.R): ``te(x, y, t, d=c(2,1),
bs=c('tp','cr'), k=c(25,5))`` with an exposure offset, 3,000 rows, smoothing parameters by
UBRE (mgcv's default for a known scale). Score, smoothing parameters, edf and predictions
with standard errors at grid points at two times; and the map the example draws."""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR

HERE = REFERENCE_DIR / "mgcvst"
REF = json.loads((HERE / "spacetime_reference.json").read_text())
FORMULA = "cases ~ te(x, y, t, d=c(2,1), bs=c('tp','cr'), k=c(25,5)) + offset(log(pop))"


@pytest.fixture(scope="module")
def fit():
    return sg.gam(FORMULA, pd.read_csv(HERE / "spacetime.csv"), family="poisson")


def test_criterion_edf_and_sp_are_mgcvs(fit):
    assert fit.state.method == REF["method"] == "UBRE"
    assert fit.score == pytest.approx(REF["score"], rel=1e-6)
    # UBRE is flat along one direction of (log sp): the score agrees to 5e-10 while the
    # sp agree to 7e-4 and the edf to 3e-3
    np.testing.assert_allclose(fit.sp.to_numpy(), REF["sp"], rtol=2e-3)
    assert fit.edf_total == pytest.approx(REF["edf"], abs=1e-2)
    assert fit.deviance == pytest.approx(REF["deviance"], rel=1e-5)


def test_predictions_with_se_at_two_times(fit):
    """Link-scale predictions per unit exposure (pop = 1: offset 0) on a 10 x 8 grid at
    t = 2 and t = 7, with their standard errors, and the rate (response scale)."""
    new = pd.read_csv(HERE / "spacetime_new.csv")
    p = fit.predict(new, se_fit=True)
    np.testing.assert_allclose(p["fit"], REF["fit"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(p["se_fit"], REF["se"], rtol=1e-4)
    r = fit.predict(new, type="response")
    np.testing.assert_allclose(r["fit"], REF["response"], rtol=1e-4)


def test_fit_recovers_the_simulated_truth(fit):
    """The truth is known: mgcv's and this fit's log rates both track it (correlation over
    the grid at both times), and the 95% intervals cover most grid points."""
    new = pd.read_csv(HERE / "spacetime_new.csv")
    p = fit.predict(new, se_fit=True)
    truth = np.asarray(REF["truth"])
    assert np.corrcoef(p["fit"], truth)[0, 1] > 0.95
    cover = np.mean(np.abs(p["fit"] - truth) <= 1.96 * p["se_fit"])
    assert cover > 0.8


@pytest.mark.slow
def test_example_writes_a_six_band_geotiff(tmp_path):
    import importlib.util

    import rasterio

    path = REFERENCE_DIR.parents[1] / "examples" / "spacetime_te.py"
    spec = importlib.util.spec_from_file_location("spacetime_te", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    stats = mod.main(tmp_path)
    with rasterio.open(tmp_path / "spacetime_rate.tif") as src:
        assert src.count == 6
        assert src.descriptions[0] == "estimate_t2" and src.descriptions[3] == "estimate_t7"
        est2, est7 = src.read(1, masked=True), src.read(4, masked=True)
    # the hotspot moves east by 25 km between t = 2 and t = 7 (cells are 2 km wide)
    col2 = np.unravel_index(np.argmax(est2), est2.shape)[1]
    col7 = np.unravel_index(np.argmax(est7), est7.shape)[1]
    assert 10 <= col7 - col2 <= 15
    assert all(r > 0.95 for r, _ in stats.values())
    assert (tmp_path / "spacetime_rate.png").stat().st_size > 10_000
