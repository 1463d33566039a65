"""Rongelap with INLA's SPDE set-up: fitted, mapped with uncertainty, written to GeoTIFF.

Independent references: the exact Laplace-approximate ML fit of a Poisson log-linear GP
with the Matern nu = 1 covariance at the 157 sites (dense Cholesky, scipy only:
``tests/reference/spde/make_reference.py``), for the alpha = 2 SPDE; the raw rates
(counts / time) for the map's pattern.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

import spatialgamm as sg
from spatialgamm.mesh import Mesh

pytestmark = pytest.mark.usefixtures("one_blas_thread")


REF = Path(__file__).parent / "reference" / "spde" / "spde_reference.json"


@pytest.fixture(scope="module")
def setup():
    rongelap = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    # INLA's settings: max.edge = c(300, 600), the coastline as the boundary (buffered by
    # 50 m: two sites lie just off the digitised coast), a 1 km outer extension
    boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
    mesh = Mesh.build(rongelap[["cX", "cY"]], boundary=boundary, max_edge=(300, 600),
                      offset=(100, 1000), cutoff=20)
    return rongelap, coast, mesh


@pytest.fixture(scope="module")
def fit(setup):
    rongelap, _, mesh = setup
    return sg.fit("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5) + offset(log(time))",
                  rongelap, family="poisson")


def test_inla_setup_fit(fit, setup):
    _, _, mesh = setup
    assert fit.converged and not fit.singular
    info = fit.spde_info
    assert info["factorizations"] <= 30
    # a few hundred metres, a field SD of about half a log unit: the counts are very
    # precise, so the field is well identified
    r, s = fit.range, fit.sigma_field
    assert 100 < float(r) < 500 and r.se_log < 0.3
    assert 0.3 < float(s) < 1.0 and s.se_log < 0.2
    field = fit.field
    assert len(field) == mesh.n and field["sd"].gt(0).all()
    # far from the data the field reverts to its prior: mean 0, SD sigma
    far = field.iloc[np.argsort(-np.hypot(field["cX"] + 3000, field["cY"] + 2000))[:20]]
    assert far["mean"].abs().max() < 0.05
    assert far["sd"].to_numpy() == pytest.approx(float(s), rel=0.6)


def test_alpha2_matches_exact_dense_gp_laplace(setup):
    rongelap, coast, _ = setup
    ref = json.loads(REF.read_text())["rongelap_poisson_matern1_laplace_ml"]
    # the exact GP's range (about 120 m) is below INLA's 300 m inner edges, where the SPDE
    # is a coarse approximation (its range comes out 2.5 SE longer); at 100 m edges it
    # approximates the GP to within a standard error
    boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
    fine = Mesh.build(rongelap[["cX", "cY"]], boundary=boundary,  # noqa: F841 (formula)
                      max_edge=(100, 600), offset=(100, 1000), cutoff=20)
    fit = sg.fit("counts ~ spde(cX, cY, mesh=fine, alpha=2) + offset(log(time))", rongelap,
                 family="poisson", method="ML")
    assert abs(np.log(float(fit.range) / ref["range"])) < fit.range.se_log
    assert float(fit.sigma_field) == pytest.approx(ref["sigma"], rel=0.1)
    assert fit.fixef["(Intercept)"] == pytest.approx(ref["intercept"], abs=0.02)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1.5)


def test_map_on_the_1612_cell_grid(fit, setup, tmp_path):
    rongelap, coast, _ = setup
    grid = sg.predict_grid(fit, coast, n=(150, 75), buffer=50, exceedance=[10.0],
                           units="counts/s")
    cells = grid.cells
    assert len(cells) == 1612
    assert grid.bands == ("estimate", "se", "lower", "upper", "p_exceed_10")
    assert np.all(cells["lower"] < cells["estimate"]) and np.all(
        cells["estimate"] < cells["upper"])
    assert cells["estimate"].between(0, 30).all() and cells["p_exceed_10"].between(0, 1).all()
    # the highest rates are at the western end, as in the raw rates (counts / time)
    raw = rongelap["counts"] / rongelap["time"]
    assert rongelap.loc[raw.idxmax(), "cX"] < -5000
    inside = cells[cells["inside"]]
    top = inside.nlargest(10, "estimate")
    assert (top["cX"] < -5000).mean() >= 0.5
    assert 10 < inside["estimate"].max() < 16
    # the GeoTIFF: five float32 bands named as the grid's
    path = grid.to_geotiff(tmp_path / "rongelap_spde.tif")
    with rasterio.open(path) as src:
        assert src.count == 5 and src.dtypes[0] == "float32"
        assert src.descriptions == grid.bands
        est = src.read(1)
    assert np.nanmax(est) == pytest.approx(cells.loc[cells["inside"], "estimate"].max(),
                                           rel=1e-5)
