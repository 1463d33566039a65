"""The main job end to end: a real gam fit mapped with predict_grid onto the 1612-cell
coastline grid and compared with mgcv's predictions at the same centroids
(tests/reference/rongelap_grid_mgcv_ubre_default.csv, made by make_reference.R)."""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

import spatialgamm as sg

REF = Path(__file__).parent / "reference"


def _sorted(df):
    # centroids agree to ~1e-11, so sort on rounded keys for a common order
    key = pd.DataFrame({"y": df["cY"].round(3), "x": df["cX"].round(3)})
    return df.iloc[key.sort_values(["y", "x"]).index].reset_index(drop=True)


@pytest.fixture(scope="module")
def fit():
    return sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))",
                  sg.datasets.load_rongelap(), family="poisson")


@pytest.fixture(scope="module")
def grid(fit):
    return sg.predict_grid(fit, sg.datasets.load_rongelap_coastline(), n=(150, 75), buffer=50,
                           exceedance=[10.0])


def test_grid_cells_and_centroids(grid):
    ref = pd.read_csv(REF / "rongelap_grid_mgcv_ubre_default.csv")
    cells, ref = _sorted(grid.cells), _sorted(ref)
    assert len(cells) == 1612
    assert cells[["cX", "cY"]].to_numpy() == pytest.approx(ref[["cX", "cY"]].to_numpy(),
                                                            abs=1e-6)


def test_grid_predictions_match_mgcv(grid):
    ref = pd.read_csv(REF / "rongelap_grid_mgcv_ubre_default.csv")
    cells, ref = _sorted(grid.cells), _sorted(ref)
    rel = np.abs(cells["estimate"].to_numpy() / ref["response"].to_numpy() - 1)
    assert np.median(rel) < 1e-3


def test_rates_peak_in_the_west(grid):
    inside = grid.cells[grid.cells["inside"]]
    top = inside.nlargest(20, "estimate")
    assert top["cX"].median() < -4000  # the western end, where measured rates peak
    assert 10 < inside["estimate"].max() < 20


def test_geotiff_round_trip_real_fit(grid, tmp_path):
    path = grid.to_geotiff(tmp_path / "rate.tif")
    with rasterio.open(path) as src:
        assert src.count == len(grid.bands)
        assert list(src.descriptions) == list(grid.bands)
        est = src.read(1, masked=True)
        r, c = grid.cells["row"].to_numpy(), grid.cells["col"].to_numpy()
        inside = grid.cells["inside"].to_numpy()
        got = est.data[r[inside], c[inside]]
        assert got == pytest.approx(grid.cells["estimate"].to_numpy()[inside], rel=1e-6)


def test_geographic_crs_refused():
    d = sg.datasets.load_rongelap()
    gdf = gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["cX"], d["cY"]), crs="EPSG:4326")
    with pytest.raises(ValueError, match="geographic"):
        sg.gam("counts ~ s(cX, cY, bs='gp', k=20) + offset(log(time))", gdf, family="poisson")
