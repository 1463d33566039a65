"""CRS handling of predict_grid: reprojection of polygons, and the errors that prevent guesses.

Expected grids are closed forms: a 2 km square in UTM 33N (EPSG:32633) carried to lon/lat
and back must give the grid of the square itself.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS
from test_spatial_fakes import FakeFit

from spatialgamm.spatial import predict_grid

UTM33 = CRS.from_epsg(32633)
SQUARE = shapely.box(499_000, 4_999_000, 501_000, 5_001_000)  # metres in EPSG:32633


def _square_lonlat() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[SQUARE], crs=UTM33).to_crs(4326)


def _expected_centres(n):
    step = 2000 / n
    return 499_000 + step * (np.arange(n) + 0.5), 4_999_000 + step * (np.arange(n) + 0.5)


def test_polygon_in_lonlat_is_reprojected_to_the_fit_crs():
    square = _square_lonlat()
    assert square.crs.to_epsg() == 4326 and square.total_bounds[0] < 180
    grid = predict_grid(FakeFit(b=0.0, coords=("x", "y"), crs=UTM33), square, n=(4, 4))
    assert grid.crs.to_epsg() == 32633 and grid.cells.crs.to_epsg() == 32633
    assert len(grid.cells) == 16
    left, right, bottom, top = grid.extent
    np.testing.assert_allclose([left, bottom, right, top], SQUARE.bounds, atol=1e-4)
    xs, ys = _expected_centres(4)
    np.testing.assert_allclose(np.sort(grid.cells.x.unique()), xs, atol=1e-4)
    np.testing.assert_allclose(np.sort(grid.cells.y.unique()), ys, atol=1e-4)
    assert grid.cells.inside.all()
    assert "EPSG:32633" in grid.summary()


def test_crs_argument_names_the_fit_coordinates_when_the_fit_has_none():
    grid = predict_grid(FakeFit(b=0.0, coords=("x", "y")), _square_lonlat(), n=(2, 2), crs="EPSG:32633")
    assert grid.crs.to_epsg() == 32633
    np.testing.assert_allclose(grid.extent, (499_000, 501_000, 4_999_000, 5_001_000), atol=1e-4)
    # a plain shapely polygon is taken to be in those coordinates
    grid = predict_grid(FakeFit(b=0.0, coords=("x", "y")), SQUARE, n=(2, 2), crs=32633)
    assert grid.crs.to_epsg() == 32633
    # neither side has one: no CRS, no error
    assert predict_grid(FakeFit(b=0.0, coords=("x", "y")), SQUARE, n=(2, 2)).crs is None


def test_same_crs_given_twice_is_fine():
    grid = predict_grid(FakeFit(b=0.0, coords=("x", "y"), crs=UTM33), SQUARE, n=(2, 2), crs="EPSG:32633")
    assert grid.crs.to_epsg() == 32633


@pytest.mark.parametrize("fit_crs, polygon, crs, match", [
    # the fit is in lon/lat: distances in degrees
    (4326, SQUARE, None, "geographic"),
    (None, SQUARE, 4326, "geographic"),
    # fit has a CRS, the GeoDataFrame has none: which is it in?
    (32633, gpd.GeoDataFrame(geometry=[SQUARE]), None, "polygon has no CRS"),
    # the polygon has a CRS, the fit none and no crs=: cannot reproject
    (None, gpd.GeoDataFrame(geometry=[SQUARE], crs=32633), None, "fit records no CRS"),
    # crs= contradicts the fit
    (32633, SQUARE, 32634, "conflicts with the fit's CRS"),
    (None, SQUARE, "not a crs", "not a coordinate reference system"),
])
def test_crs_errors_name_the_side_at_fault(fit_crs, polygon, crs, match):
    fit = FakeFit(b=0.0, coords=("x", "y"), crs=fit_crs)
    with pytest.raises(ValueError, match=match):
        predict_grid(fit, polygon, n=(2, 2), crs=crs)


def test_geographic_error_suggests_utm():
    with pytest.raises(ValueError, match="estimate_utm_crs"):
        predict_grid(FakeFit(b=0.0, coords=("x", "y"), crs=4326), SQUARE, n=(2, 2))


def test_raster_covariate_with_crs_needs_a_grid_crs():
    values = np.ones((2, 2))
    from rasterio.transform import Affine

    with pytest.raises(ValueError, match="pass crs="):
        predict_grid(FakeFit(b=0.0, coords=("x", "y"), coefs={"z": 1.0}), SQUARE, n=(2, 2),
                     covariates={"z": (values, Affine(1000, 0, 499_000, 0, -1000, 5_001_000), 32633)})
