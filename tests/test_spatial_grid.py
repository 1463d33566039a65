"""Grids over polygons against sf: st_make_grid + st_intersects + st_buffer.

Reference numbers:
- rongelap_grid.json / rongelap_grid_mgcv_ubre_default.csv (make_reference.R, sf 1.0-9):
  the 1612 cells of st_make_grid(st_buffer(coastline, 50), n = c(150, 75)) that intersect
  the buffer, their centroids, the buffer's bbox, and mgcv's predictions at them;
- spatial_grids.json (spatial_grids.R, sf 1.0-9, GEOS 3.11.1): a polygon with a hole, a
  MultiPolygon, and Rongelap with cellsize = 100 and cellsize = c(120, 70).
"""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_spatial_fakes import REFERENCE, FakeFit, coastline

from spatialgamm.spatial import make_grid, predict_grid, read_polygon
from spatialgamm.spatial.polygon import buffer_polygon


@pytest.fixture(scope="module")
def sf_grids():
    with open(REFERENCE / "spatial_grids.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def mgcv_grid():
    return pd.read_csv(REFERENCE / "rongelap_grid_mgcv_ubre_default.csv")


@pytest.fixture(scope="module")
def rongelap_grid():
    return predict_grid(FakeFit(), coastline(), n=(150, 75), buffer=50)


def _centroids(grid):
    return grid.cells[list(grid.coords)].to_numpy()


def test_rongelap_cells_and_centroids_match_sf(rongelap_grid, mgcv_grid, reference):
    ref = reference("rongelap_grid")
    assert len(rongelap_grid.cells) == ref["grid_cells"] == 1612
    # same cells in sf's order (row by row from the bottom, x fastest)
    np.testing.assert_allclose(_centroids(rongelap_grid), mgcv_grid[["cX", "cY"]].to_numpy(),
                               rtol=0, atol=1e-6)


def test_rongelap_buffer_bbox_matches_sf(reference):
    bb = reference("rongelap_grid")["buffer_bbox"]
    ring = read_polygon(coastline()).geometry
    np.testing.assert_allclose(ring.area, reference("rongelap_grid")["coastline_area"], rtol=1e-9)
    bounds = buffer_polygon(ring, 50).bounds
    np.testing.assert_allclose(bounds, [bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]],
                               rtol=0, atol=1e-6)
    # the raster spans exactly that box: 150 x 75 cells
    grid = predict_grid(FakeFit(), coastline(), n=(150, 75), buffer=50)
    left, right, bottom, top = grid.extent
    np.testing.assert_allclose([left, bottom, right, top],
                               [bb["xmin"], bb["ymin"], bb["xmax"], bb["ymax"]], atol=1e-6)
    assert grid.shape == (75, 150)


def test_response_scale_matches_mgcv_at_the_same_cells(mgcv_grid):
    """A fit that returns mgcv's link-scale predictions: response and its se equal mgcv's."""
    lookup = mgcv_grid.set_index([mgcv_grid.cX.round(4), mgcv_grid.cY.round(4)])

    class MgcvFit(FakeFit):
        def predict(self, newdata, type="link", se_fit=False, offset=None):
            key = list(zip(newdata.cX.round(4), newdata.cY.round(4)))
            rows = lookup.loc[key]
            return pd.DataFrame({"fit": rows["link"].to_numpy(), "se_fit": rows["link_se"].to_numpy()})

    grid = predict_grid(MgcvFit(), coastline(), n=(150, 75), buffer=50, crop=False)
    np.testing.assert_allclose(grid.cells["estimate"], mgcv_grid["response"], rtol=1e-10)
    np.testing.assert_allclose(grid.cells["se"], mgcv_grid["response_se"], rtol=1e-8)


@pytest.mark.parametrize("case, kwargs", [("rongelap_cellsize_100", {"cellsize": 100}),
                                          ("rongelap_cellsize_120_70", {"cellsize": (120, 70)})])
def test_cellsize_grids_match_sf(sf_grids, case, kwargs):
    ref = sf_grids[case]
    grid = predict_grid(FakeFit(), coastline(), buffer=50, **kwargs)
    assert len(grid.cells) == ref["n_kept"]
    assert grid.shape[0] * grid.shape[1] == ref["n_total"]
    np.testing.assert_allclose(_centroids(grid), np.column_stack([ref["x"], ref["y"]]), atol=1e-6)


def _square(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def test_polygon_with_hole_drops_cells_inside_the_hole(sf_grids):
    ref = sf_grids["hole"]
    poly = shapely.Polygon(_square(0, 0, 10, 10), holes=[_square(2.5, 2.5, 7.5, 7.5)])
    grid = predict_grid(FakeFit(coords=("x", "y")), poly, n=(10, 10))
    x, y = grid.cells["x"].to_numpy(), grid.cells["y"].to_numpy()
    assert len(grid.cells) == ref["n_kept"] == 84
    np.testing.assert_allclose(np.column_stack([x, y]), np.column_stack([ref["x"], ref["y"]]))
    # closed form: the 16 cells wholly inside the hole have centroids in (3, 7) x (3, 7)
    assert not ((x > 3) & (x < 7) & (y > 3) & (y < 7)).any()
    assert np.isnan(grid.raster["estimate"][3:7, 3:7]).all()


def test_multipolygon(sf_grids):
    ref = sf_grids["multipolygon"]
    mp = shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(6, 0, 8, 2)])
    grid = predict_grid(FakeFit(coords=("x", "y")), mp, n=(8, 2))
    assert len(grid.cells) == ref["n_kept"] == 12  # cells touching a square count, as in sf
    np.testing.assert_allclose(grid.cells[["x", "y"]].to_numpy(),
                               np.column_stack([ref["x"], ref["y"]]))
    # a touching cell is kept but its centroid is outside: masked in the (cropped) raster
    assert grid.cells["inside"].sum() == 8


def test_ring_forms_give_the_same_grid(rongelap_grid):
    ring = coastline().to_numpy()
    open_ring = ring[:-1]  # closed automatically
    assert not np.array_equal(open_ring[0], open_ring[-1])
    for form in (open_ring, ring, coastline(), shapely.LinearRing(ring),
                 gpd.GeoDataFrame(geometry=[shapely.Polygon(ring)])):
        grid = predict_grid(FakeFit(), form, n=(150, 75), buffer=50)
        np.testing.assert_array_equal(_centroids(grid), _centroids(rongelap_grid))


def test_geodataframe_features_are_dissolved():
    two = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    read = read_polygon(two)
    assert read.geometry.equals(shapely.box(0, 0, 2, 1))


def test_invalid_polygon_is_repaired_with_a_warning():
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    with pytest.warns(UserWarning, match="make_valid"):
        grid = predict_grid(FakeFit(coords=("x", "y")), bowtie, n=(4, 4))
    np.testing.assert_allclose(read_polygon_quiet(bowtie).area, 2.0)  # two triangles of area 1
    assert len(grid.cells) > 0


def read_polygon_quiet(geom):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_polygon(geom).geometry


@pytest.mark.parametrize("bad, err, match", [
    (shapely.Polygon(), ValueError, "empty"),
    (shapely.Point(0, 0), TypeError, "polygonal"),
    (np.zeros((5, 3)), ValueError, r"\(n, 2\)"),
    (np.array([[0, 0], [1, 1], [0, 0]]), ValueError, "3 distinct"),
    (np.array([[0, 0], [1, np.nan], [1, 1]]), ValueError, "NaN"),
    ("a string", TypeError, "polygon must be"),
    (gpd.GeoDataFrame(geometry=[]), ValueError, "no \\(non-empty\\) geometry"),
])
def test_bad_polygons_are_refused(bad, err, match):
    with pytest.raises(err, match=match):
        predict_grid(FakeFit(coords=("x", "y")), bad, n=(4, 4))


def test_make_grid_follows_sf_sizes():
    g = make_grid((0, 0, 10, 4), n=(5, 2))
    np.testing.assert_allclose(g.x_edges, [0, 2, 4, 6, 8, 10])
    assert g.shape == (2, 5)
    g = make_grid((0, 0, 10, 4), cellsize=3)  # ceiling(10/3) = 4, ceiling(4/3) = 2
    np.testing.assert_allclose(g.x_edges, [0, 3, 6, 9, 12])
    np.testing.assert_allclose(g.y_edges, [0, 3, 6])
    assert make_grid((0, 0, 10, 4), n=3).shape == (3, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of"),
    ({"n": (2, 2), "cellsize": 1}, "exactly one of"),
    ({"n": (0, 2)}, "positive whole"),
    ({"n": (2.5, 2)}, "positive whole"),
    ({"n": (1, 2, 3)}, "pair"),
    ({"cellsize": -1}, "positive"),
])
def test_grid_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        predict_grid(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), **kwargs)


def test_buffer_argument_is_checked():
    with pytest.raises(ValueError, match="buffer"):
        predict_grid(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=2, buffer=np.inf)
    with pytest.raises(ValueError, match="leaves nothing"):
        predict_grid(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=2, buffer=-1)
