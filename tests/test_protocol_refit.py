"""results/refit.py (refits take a fit) and spatial GridOptions (one options object for the grid
front doors).

References: lme4 1.1-31 on sleepstudy (tests/reference/sleepstudy.json, from
tests/reference/make_reference.R): ``lmer(Reaction ~ Days + (Days | Subject), REML = FALSE)``,
which ``refitML`` of the REML fit must reproduce; the grids are closed forms of a fake fit
(tests/test_spatial_fakes.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from test_spatial_fakes import FakeFit

import spatialgamm as sg
from spatialgamm.results.refit import refit, refit_ml
from spatialgamm.spatial import GridOptions, predict_grid, predict_raster

REF = json.loads((Path(__file__).parent / "reference" / "sleepstudy.json").read_text())
ML = REF["lmer_Reaction_Days_corr_ML"]


@pytest.fixture(scope="module")
def reml_fit():
    return sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())


def test_refit_ml_gives_lme4_ml_fit(reml_fit):
    m = refit_ml(reml_fit)
    assert not m.REML
    assert m.loglik == pytest.approx(ML["loglik"], abs=1e-3)
    for k, v in ML["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=1e-4)
        assert m.se[k] == pytest.approx(ML["se"][k], rel=1e-4)
    vc = m.varcorr
    sd = dict(zip(vc["var1"].fillna("") + "|" + vc["var2"].fillna(""), vc["sdcor"]))
    assert sd["(Intercept)|"] == pytest.approx(ML["varcorr"][0]["sdcor"], rel=1e-4)
    assert sd["Days|"] == pytest.approx(ML["varcorr"][1]["sdcor"], rel=1e-4)
    assert refit_ml(m) is m  # an ML fit is its own ML refit
    assert reml_fit.refit_ml().loglik == pytest.approx(m.loglik, abs=1e-8)  # the method


def test_refit_to_new_response_is_a_fit_of_that_response(reml_fit):
    d = sg.datasets.load_sleepstudy()
    y = reml_fit.spec.y * 2.0 + 10.0  # an affine response: REML estimates transform exactly
    m = refit(reml_fit, y=y)
    direct = sg.lmer("Reaction2 ~ Days + (Days | Subject)",
                     d.assign(Reaction2=d["Reaction"] * 2.0 + 10.0))
    np.testing.assert_allclose(m.fixef.to_numpy(), direct.fixef.to_numpy(), rtol=1e-6)
    assert m.fixef["Days"] == pytest.approx(2 * REF["lmer_Reaction_Days_corr_REML"]["fixef"]
                                            ["Days"], rel=1e-4)
    assert m.reml_criterion == pytest.approx(direct.reml_criterion, abs=1e-4)


def test_grid_options_shared_and_checked():
    fit = FakeFit(a=0.3, b=0.1, d=-0.05, c=0.2)
    square = shapely.box(0, 0, 10, 10)
    grid = predict_grid(fit, square, n=(4, 4), type="link", level=0.9, units="u")
    x, y = grid.cells["cX"].to_numpy(), grid.cells["cY"].to_numpy()
    np.testing.assert_allclose(grid.cells["estimate"], 0.3 + 0.1 * x - 0.05 * y, rtol=1e-12)
    assert grid.level == 0.9 and grid.units == "u"
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'bufer'.*'buffer'"):
        predict_grid(fit, square, n=(4, 4), bufer=1.0)
    with pytest.raises(TypeError, match="predict_raster.*'levels'"):
        predict_raster(fit, square, n=(4, 4), levels=0.9)
    assert GridOptions().type == "response" and GridOptions().chunk_size == 50_000
