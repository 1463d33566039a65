"""predict_grid against closed forms of fake fits (eta and se(eta) known functions of x, y).

With eta_hat ~ N(eta, se^2) on the link scale: response = linkinv(eta), delta-method
se = |dmu/deta| se, interval linkinv(eta -+ z se), P(mu > c) = 1 - Phi((g(c) - eta)/se) for
an increasing link and Phi((g(c) - eta)/se) for a decreasing one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import Affine, xy
from scipy.stats import norm
from test_spatial_fakes import FakeFit, InverseLink, coastline

from spatialgamm.spatial import GridPrediction, predict_grid

Z95 = 1.959963984540054  # qnorm(0.975)
SQUARE = shapely.box(0, 0, 10, 10)


@pytest.fixture(scope="module")
def rongelap():
    fit = FakeFit(a=0.3, b=2e-4, d=-1e-4, c=0.1, e=5e-5)
    grid = predict_grid(fit, coastline(), n=(150, 75), buffer=50, exceedance=[1.0, 1.5])
    return fit, grid


def test_response_scale_closed_forms(rongelap):
    fit, grid = rongelap
    assert isinstance(grid, GridPrediction)
    c = grid.cells
    eta = 0.3 + 2e-4 * c.cX - 1e-4 * c.cY
    se = 0.1 + 5e-5 * np.abs(c.cY)
    np.testing.assert_allclose(c.estimate, np.exp(eta), rtol=1e-12)
    np.testing.assert_allclose(c.se, np.exp(eta) * se, rtol=1e-12)
    np.testing.assert_allclose(c.lower, np.exp(eta - Z95 * se), rtol=1e-12)
    np.testing.assert_allclose(c.upper, np.exp(eta + Z95 * se), rtol=1e-12)
    for thr in (1.0, 1.5):
        np.testing.assert_allclose(c[f"p_exceed_{thr:g}"], 1 - norm.cdf((np.log(thr) - eta) / se),
                                   rtol=1e-9, atol=1e-15)
    assert grid.bands == ("estimate", "se", "lower", "upper", "p_exceed_1", "p_exceed_1.5")


def test_link_scale_and_level():
    fit = FakeFit(coords=("x", "y"), a=1.0, b=0.1, c=0.3)
    grid = predict_grid(fit, SQUARE, n=(5, 5), type="link", level=0.9)
    z90 = 1.6448536269514722  # qnorm(0.95)
    eta = 1.0 + 0.1 * grid.cells.x
    np.testing.assert_allclose(grid.cells.estimate, eta)
    np.testing.assert_allclose(grid.cells.se, 0.3)
    np.testing.assert_allclose(grid.cells.lower, eta - z90 * 0.3)
    np.testing.assert_allclose(grid.cells.upper, eta + z90 * 0.3)


def test_decreasing_link_orders_interval_and_flips_exceedance():
    fit = FakeFit(coords=("x", "y"), a=2.0, b=0.1, c=0.3, link=InverseLink())
    grid = predict_grid(fit, SQUARE, n=(5, 5), exceedance=[0.4])
    eta = 2.0 + 0.1 * grid.cells.x
    np.testing.assert_allclose(grid.cells.estimate, 1 / eta)
    np.testing.assert_allclose(grid.cells.se, 0.3 / eta**2)
    np.testing.assert_allclose(grid.cells.lower, 1 / (eta + Z95 * 0.3))
    np.testing.assert_allclose(grid.cells.upper, 1 / (eta - Z95 * 0.3))
    # mu > 0.4  <=>  eta < 2.5
    np.testing.assert_allclose(grid.cells["p_exceed_0.4"], norm.cdf((2.5 - eta) / 0.3))


def test_exceedance_by_simulation():
    """Monte Carlo of eta_hat ~ N(eta, se^2) agrees with the exceedance band (3 MC s.e.)."""
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.1, c=0.5)
    grid = predict_grid(fit, SQUARE, n=(4, 1), exceedance=[1.2])
    rng = np.random.default_rng(1)
    draws = 200_000
    for _, cell in grid.cells.iterrows():
        mu = np.exp(rng.normal(0.1 * cell.x, 0.5, draws))
        p = (mu > 1.2).mean()
        assert abs(p - cell["p_exceed_1.2"]) < 3 * np.sqrt(0.25 / draws)


def test_zero_se_gives_certain_exceedance():
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.1, c=0.0)
    grid = predict_grid(fit, SQUARE, n=(10, 1), exceedance=[np.exp(0.5)])
    np.testing.assert_array_equal(grid.cells["p_exceed_1.64872"], (0.1 * grid.cells.x > 0.5) * 1.0)


def test_offset_is_passed_and_recorded():
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.1)
    grid = predict_grid(fit, SQUARE, n=(3, 3))
    assert fit.offsets == [0.0]
    assert "per unit exposure (offset 0)" in grid.summary()
    grid2 = predict_grid(fit, SQUARE, n=(3, 3), offset=np.log(60.0))
    np.testing.assert_allclose(grid2.cells.estimate, 60 * np.exp(0.1 * grid2.cells.x))
    assert grid2.offset == pytest.approx(np.log(60))
    assert "offset 4.094" in grid2.summary()


def test_chunked_prediction_equals_closed_form_and_unchunked(rongelap, capsys):
    _, whole = rongelap
    fit = FakeFit(a=0.3, b=2e-4, d=-1e-4, c=0.1, e=5e-5)
    chunked = predict_grid(fit, coastline(), n=(150, 75), buffer=50, exceedance=[1.0, 1.5],
                           chunk_size=100)
    assert fit.calls == [100] * 16 + [12]  # 1612 cells, never more than chunk_size at once
    assert "predicting grid" in capsys.readouterr().err  # > 10 chunks: a progress bar
    for band in whole.bands:
        np.testing.assert_array_equal(chunked.cells[band], whole.cells[band])
        np.testing.assert_array_equal(chunked.raster[band], whole.raster[band])
    predict_grid(FakeFit(), coastline(), n=(150, 75), buffer=50, chunk_size=100, progress=False)
    assert capsys.readouterr().err == ""


def test_raster_is_north_up_and_matches_cells(rongelap):
    _, grid = rongelap
    c = grid.cells
    ny, nx = grid.shape
    xs, ys = xy(grid.transform, c.row.to_numpy(), c.col.to_numpy())
    np.testing.assert_allclose(xs, c.cX, atol=1e-6)
    np.testing.assert_allclose(ys, c.cY, atol=1e-6)
    inside = c.inside.to_numpy()
    for band in grid.bands:
        r = grid.raster[band]
        np.testing.assert_array_equal(r[c.row[inside], c.col[inside]], c[band][inside])
        assert np.isnan(r[c.row[~inside], c.col[~inside]]).all()  # cropped
        assert np.isfinite(r).sum() == inside.sum()
    assert grid.transform.e < 0  # north-up: y decreases down the rows
    # row 0 is the top: the largest y among cells sits in the smallest row
    assert c.row[c.cY.idxmax()] == c.row.min()


def test_crop_uses_the_unbuffered_polygon():
    poly = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)],
                           holes=[[(2.5, 2.5), (7.5, 2.5), (7.5, 7.5), (2.5, 7.5)]])
    fit = FakeFit(coords=("x", "y"))
    grid = predict_grid(fit, poly, cellsize=1, buffer=1.0)
    x, y = grid.cells.x.to_numpy(), grid.cells.y.to_numpy()
    expect = (x >= 0) & (x <= 10) & (y >= 0) & (y <= 10) & ~((x > 2.5) & (x < 7.5) & (y > 2.5) & (y < 7.5))
    np.testing.assert_array_equal(grid.cells.inside, expect)
    assert (~expect).any()
    uncropped = predict_grid(fit, poly, cellsize=1, buffer=1.0, crop=False)
    assert np.isfinite(uncropped.raster["estimate"]).sum() == len(uncropped.cells)
    assert np.isfinite(grid.raster["estimate"]).sum() == expect.sum()


def test_constant_covariates():
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.1, coefs={"elev": 0.5, "land": 1.0},
                  levels={"land": {"forest": 2.0, "field": 0.0}})
    grid = predict_grid(fit, SQUARE, n=(3, 3), covariates={"elev": 4.0, "land": "forest"},
                        type="link")
    np.testing.assert_allclose(grid.cells.estimate, 0.1 * grid.cells.x + 0.5 * 4.0 + 2.0)


def _elevation():
    # a 10 x 10 raster over [0, 10]^2, value 100 * row + col (row 0 at the top)
    rows, cols = np.mgrid[0:10, 0:10]
    return (100.0 * rows + cols), Affine(1, 0, 0, 0, -1, 10)  # from_origin(0, 10, 1, 1)


def _expected_elev(x, y):
    return 100.0 * np.floor(10 - y) + np.floor(x)


def test_raster_covariate_array_and_geotiff(tmp_path):
    values, transform = _elevation()
    path = tmp_path / "elev.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float64",
                       transform=transform) as dst:
        dst.write(values, 1)
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.0, coefs={"elev": 1.0})
    poly = shapely.box(0.5, 0.5, 9.5, 9.5)
    for source in ((values, transform), path, str(path)):
        grid = predict_grid(fit, poly, n=(7, 5), covariates={"elev": source}, type="link")
        np.testing.assert_allclose(grid.cells.estimate, _expected_elev(grid.cells.x, grid.cells.y))


def test_raster_covariate_outside_its_extent_warns_and_gives_nan():
    values, transform = _elevation()
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.0, coefs={"elev": 1.0})
    with pytest.warns(UserWarning, match="outside its raster"):
        grid = predict_grid(fit, shapely.box(5, 5, 15, 15), n=(10, 10),
                            covariates={"elev": (values, transform)}, type="link")
    out = (grid.cells.x > 10) | (grid.cells.y > 10)
    assert grid.cells.estimate[out].isna().all() and grid.cells.estimate[~out].notna().all()
    assert "without a prediction" in grid.summary()


def test_raster_covariate_in_another_crs():
    from pyproj import Transformer

    values, _ = _elevation()
    # the raster in UTM 34N; the grid in UTM 33N, 100 km east of the zone boundary
    to34 = Transformer.from_crs(32633, 32634, always_xy=True)
    x0, y0 = to34.transform(700_000.0, 5_000_000.0)
    transform = Affine(1000, 0, x0 - 2000, 0, -1000, y0 + 5000)
    fit = FakeFit(coords=("x", "y"), a=0.0, b=0.0, coefs={"elev": 1.0}, crs="EPSG:32633")
    poly = shapely.box(699_000, 4_999_000, 701_000, 5_001_000)
    grid = predict_grid(fit, poly, n=(4, 4), covariates={"elev": (values, transform, 32634)},
                        type="link")
    px, py = to34.transform(grid.cells.x.to_numpy(), grid.cells.y.to_numpy())
    col = np.floor((px - (x0 - 2000)) / 1000)
    row = np.floor((y0 + 5000 - py) / 1000)
    np.testing.assert_allclose(grid.cells.estimate, 100 * row + col)


@pytest.mark.parametrize("kwargs, err, match", [
    ({"type": "mean"}, ValueError, "type must be"),
    ({"level": 1.5}, ValueError, "level"),
    ({"exceedance": [-1.0]}, ValueError, "outside the range"),
    ({"exceedance": [1, 1.0]}, ValueError, "repeat"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
    ({"offset": [1.0, 2.0]}, TypeError, "offset"),
    ({"offset": np.nan}, ValueError, "offset"),
    ({"coords": ("x",)}, ValueError, "two distinct"),
    ({"coords": ("a", "b")}, ValueError, "does not match"),
    ({"covariates": {"x": 1.0}}, ValueError, "clash"),
    ({"covariates": {"z": [1, 2]}}, TypeError, "constant"),
    ({"covariates": {"z": "missing.tif"}}, FileNotFoundError, "not found"),
    ({"covariates": {"z": None}}, ValueError, "missing"),
])
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        predict_grid(FakeFit(coords=("x", "y")), SQUARE, n=(3, 3), **kwargs)


def test_coordinates_are_required():
    with pytest.raises(ValueError, match=r"coords=\('x', 'y'\)"):
        predict_grid(FakeFit(coords=None), SQUARE, n=(3, 3))
    grid = predict_grid(FakeFit(coords=None), SQUARE, n=(3, 3), coords=("x", "y"))
    assert list(grid.cells.columns[:2]) == ["x", "y"]


def test_bad_fits_are_refused():
    class NoFamily:
        spatial_coords = ("x", "y")

    with pytest.raises(TypeError, match="family.link"):
        predict_grid(NoFamily(), SQUARE, n=(3, 3))

    class NaNFit(FakeFit):
        def predict(self, newdata, **kw):
            out = super().predict(newdata, **kw)
            out.loc[0, "fit"] = np.nan
            return out

    with pytest.raises(ValueError, match="non-finite"):
        predict_grid(NaNFit(coords=("x", "y")), SQUARE, n=(3, 3))

    class ShortFit(FakeFit):
        def predict(self, newdata, **kw):
            return super().predict(newdata, **kw).iloc[:-1]

    with pytest.raises(ValueError, match="rows"):
        predict_grid(ShortFit(coords=("x", "y")), SQUARE, n=(3, 3))


def test_summary_and_geodataframe(rongelap):
    _, grid = rongelap
    text = grid.summary()
    for piece in ("1612 cells", "150 x 75", "response scale", "95%", "CRS: none", "p_exceed_1.5"):
        assert piece in text
    gdf = grid.to_geodataframe()
    assert len(gdf) == 1612 and gdf.geometry.area.round(6).nunique() == 1
    assert len(grid.to_geodataframe(inside_only=True)) == grid.cells.inside.sum()
    assert "GridPrediction" in repr(grid)
    pd.testing.assert_frame_equal(pd.DataFrame(gdf.drop(columns="geometry")),
                                  pd.DataFrame(grid.cells.drop(columns="geometry")))
