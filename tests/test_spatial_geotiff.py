"""GeoTIFF output: what rasterio reads back, and atomic writes.

Expected values are the grid's own cells (float32 on disk), the closed-form centroids of a
known grid, and the file properties the spec asks for (CRS, transform, nodata, DEFLATE,
tiling, band descriptions and units).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.enums import Compression
from rasterio.transform import Affine, xy
from test_spatial_fakes import FakeFit

import spatialgamm.spatial.geotiff as geotiff
from spatialgamm.spatial import predict_grid

# A 10 x 6 km rectangle with a hole, in UTM 33N; n=(20, 12) gives 500 m cells
POLY = shapely.Polygon(
    [(500_000, 5_000_000), (510_000, 5_000_000), (510_000, 5_006_000), (500_000, 5_006_000)],
    holes=[[(503_000, 5_002_000), (507_000, 5_002_000), (507_000, 5_004_000), (503_000, 5_004_000)]],
)


@pytest.fixture(scope="module")
def grid():
    # eta = 95 + 1e-5 x - 2e-5 y: between -0.01 -+ 0.07 over the rectangle
    fit = FakeFit(coords=("x", "y"), a=95.0, b=1e-5, d=-2e-5, c=0.2, crs="EPSG:32633")
    return predict_grid(fit, POLY, n=(20, 12), exceedance=[1.0, 1.2], units="counts/s")


def test_round_trip(grid, tmp_path):
    path = grid.to_geotiff(tmp_path / "deep" / "dir" / "map.tif")  # parents created
    assert path.exists()
    with rasterio.open(path) as src:
        assert src.count == len(grid.bands) == 6
        assert src.descriptions == grid.bands
        assert src.crs.to_epsg() == 32633
        assert src.transform == grid.transform
        assert src.transform.almost_equals(Affine(500, 0, 500_000, 0, -500, 5_006_000))
        assert (src.height, src.width) == (12, 20)
        assert src.nodata == -9999.0
        assert all(d == "float32" for d in src.dtypes)
        assert src.compression == Compression.deflate
        assert src.units[:4] == ("counts/s",) * 4 and src.units[4:] == ("probability",) * 2
        assert src.tags(1)["units"] == "counts/s"
        assert "per unit exposure" in src.tags()["scale"]
        for k, band in enumerate(grid.bands, start=1):
            data = src.read(k, masked=True)
            expect = grid.raster[band]
            np.testing.assert_array_equal(data.mask, np.isnan(expect))
            np.testing.assert_allclose(data.compressed(), expect[~np.isnan(expect)], rtol=1e-6)
        # cell centres from the file's transform are the cells' x, y
        cells = grid.cells[grid.cells.inside]
        xs, ys = xy(src.transform, cells.row.to_numpy(), cells.col.to_numpy())
        np.testing.assert_allclose(xs, cells.x, atol=1e-6)
        np.testing.assert_allclose(ys, cells.y, atol=1e-6)
    # closed form: 500 m cells from (500000, 5000000)
    assert set(np.round(grid.cells.x - 500_250, 6) % 500) == {0.0}
    # the hole (cells wholly inside it) is nodata: 6 x 2 cells
    assert len(grid.cells) == 20 * 12 - 6 * 2


def test_band_subset_and_custom_nodata(grid, tmp_path):
    path = grid.to_geotiff(tmp_path / "two.TIFF", bands=["se", "estimate"], nodata=np.nan)
    with rasterio.open(path) as src:
        assert src.descriptions == ("se", "estimate")
        assert np.isnan(src.nodata)
        np.testing.assert_allclose(src.read(2), grid.raster["estimate"].astype(np.float32))


def test_large_rasters_are_tiled_small_ones_not(tmp_path):
    fit = FakeFit(coords=("x", "y"))
    big = predict_grid(fit, shapely.box(0, 0, 1, 1), n=(300, 260))
    small = predict_grid(fit, shapely.box(0, 0, 1, 1), n=(300, 20))
    with rasterio.open(big.to_geotiff(tmp_path / "big.tif")) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
    with rasterio.open(small.to_geotiff(tmp_path / "small.tif")) as src:
        assert not src.profile["tiled"]


def test_bad_paths_and_bands(grid, tmp_path):
    with pytest.raises(ValueError, match=r"\.tif or \.tiff"):
        grid.to_geotiff(tmp_path / "map.png")
    with pytest.raises(ValueError, match="not in this grid"):
        grid.to_geotiff(tmp_path / "map.tif", bands=["estimate", "nope"])
    with pytest.raises(ValueError, match="nodata"):
        grid.to_geotiff(tmp_path / "map.tif", nodata=float(np.float32(grid.cells.se.iloc[0])))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(grid, tmp_path, monkeypatch):
    seen = []
    original = geotiff._write_bands

    def fail_half_way(dst, names, arrays, nodata, units):
        original(dst, names[:1], arrays[:1], nodata, units)  # one band written ...
        seen.append(dst.name)
        raise RuntimeError("disk full")  # ... then the write fails

    monkeypatch.setattr(geotiff, "_write_bands", fail_half_way)
    with pytest.raises(RuntimeError, match="disk full"):
        grid.to_geotiff(tmp_path / "map.tif")
    assert seen and "map" in seen[0]  # the temporary file existed mid-write
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file is left


def test_interrupted_write_keeps_the_old_file(grid, tmp_path, monkeypatch):
    path = grid.to_geotiff(tmp_path / "map.tif")
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(geotiff, "_write_bands", fail)
    with pytest.raises(KeyboardInterrupt):
        grid.to_geotiff(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]


# ---- the tiled path: predict_geotiff -------------------------------------------------------
def _read_all(path):
    with rasterio.open(path) as src:
        return dict(bands=src.read(), transform=src.transform, crs=src.crs,
                    descriptions=src.descriptions, units=src.units, tags=src.tags(),
                    nodata=src.nodata, shape=src.shape)


@pytest.mark.parametrize("kwargs", [
    dict(n=(150, 75), buffer=50, exceedance=[1.0, 1.5], units="counts/s"),
    dict(cellsize=(120, 70), type="link", crop=False),
])
def test_predict_geotiff_writes_what_predict_grid_writes(tmp_path, kwargs):
    from test_spatial_fakes import coastline

    from spatialgamm.spatial import predict_geotiff

    fit = FakeFit(c=0.2, e=1e-4)
    whole = predict_grid(fit, coastline(), **kwargs).to_geotiff(tmp_path / "whole.tif")
    tiled = predict_geotiff(fit, coastline(), tmp_path / "tiled.tif", tile=32, **kwargs)
    a, b = _read_all(whole), _read_all(tiled)
    np.testing.assert_array_equal(b.pop("bands"), a.pop("bands"))  # cell for cell
    assert a == b  # transform, CRS, band names and units, tags, nodata
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiled.tif", "whole.tif"]


def test_predict_geotiff_predicts_one_tile_at_a_time(tmp_path):
    from spatialgamm.spatial import predict_geotiff

    fit = FakeFit(coords=("x", "y"))
    predict_geotiff(fit, shapely.box(0, 0, 1, 1), tmp_path / "t.tif", n=(300, 260), tile=64)
    assert max(fit.calls) <= 64 * 64  # never more than one tile's cells in memory
    assert sum(fit.calls) == 300 * 260
    with rasterio.open(tmp_path / "t.tif") as src:
        assert src.profile["tiled"] and src.shape == (260, 300)


def test_predict_geotiff_failure_mid_way_keeps_the_old_file(tmp_path):
    from spatialgamm.spatial import predict_geotiff

    path = tmp_path / "map.tif"
    predict_geotiff(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), path, n=(100, 100),
                    tile=32)
    before = path.read_bytes()

    class Failing(FakeFit):
        def predict(self, newdata, **kwargs):
            if len(self.calls) == 5:
                raise MemoryError("out of memory in tile 6")
            return super().predict(newdata, **kwargs)

    with pytest.raises(MemoryError, match="tile 6"):
        predict_geotiff(Failing(coords=("x", "y")), shapely.box(0, 0, 1, 1), path,
                        n=(100, 100), tile=32)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]


@pytest.mark.parametrize("tile", [0, 8, 2.5, True, "big"])
def test_predict_geotiff_bad_tile(tmp_path, tile):
    from spatialgamm.spatial import predict_geotiff

    with pytest.raises((ValueError, TypeError), match="tile"):
        predict_geotiff(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1),
                        tmp_path / "t.tif", n=(10, 10), tile=tile)
    assert list(tmp_path.iterdir()) == []


def test_gdal_error_capture_restores_logging_and_ignores_other_threads(tmp_path):
    import logging
    import threading

    env = logging.getLogger("rasterio._env")
    before = env.level
    with geotiff.gdal_errors_raised(tmp_path / "x.tif"):
        # an error another thread's file reports is not this write's failure
        t = threading.Thread(target=lambda: env.info(
            "GDAL signalled an error: err_no=1, msg='other file'"))
        t.start()
        t.join()
    assert env.level == before and not any(
        isinstance(h, geotiff._GDALErrors) for h in env.handlers)
    with pytest.raises(geotiff.FileWriteError, match="mine"):
        with geotiff.gdal_errors_raised(tmp_path / "x.tif"):
            env.info("GDAL signalled an error: err_no=1, msg='mine'")
    assert env.level == before
