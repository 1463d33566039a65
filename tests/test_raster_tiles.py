"""Rasters by tiles (issue 17): predict_raster on dask, COG and Zarr output, cell selection.

Independent numbers: mgcv's predictions at sf's 1612 Rongelap cells
(reference/rongelap_grid_mgcv_ubre_default.csv, make_reference.R), the closed forms of the
fake fits (test_spatial_fakes.py), and GEOS's intersects of every cell's box (the rule sf's
st_intersects applies) for the rasterised cell selection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import xarray as xr
from pyproj import CRS
from test_spatial_fakes import REFERENCE, FakeFit, coastline

import spatialgamm as sg
from spatialgamm.spatial import FileWriteError, make_grid, predict_raster, to_cog, to_zarr
from spatialgamm.spatial.grid import intersecting_cells

UTM = CRS.from_epsg(32633)


@pytest.fixture(scope="module")
def gp_fit():
    return sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))",
                  sg.datasets.load_rongelap(), family="poisson")


@pytest.fixture(scope="module")
def gp_grid(gp_fit):
    return sg.predict_grid(gp_fit, coastline(), n=(150, 75), buffer=50, exceedance=[10.0])


def _values(ds):
    return {b: ds[b].values for b in ds.data_vars}


# ---- cell for cell what predict_grid gives, on any tiling and scheduler --------------------
@pytest.mark.parametrize("chunks", [16, (32, 48), 64])
@pytest.mark.parametrize("crop", [True, False])
def test_tiles_equal_predict_grid_cell_for_cell(chunks, crop):
    """A fit whose predictions do not depend on how cells are batched: equal to 1e-12."""
    fit = FakeFit(c=0.2, e=1e-4)
    kw = dict(n=(150, 75), buffer=50, exceedance=[1.0, 1.5], crop=crop)
    grid = sg.predict_grid(fit, coastline(), **kw)
    ds = predict_raster(fit, coastline(), chunks=chunks, **kw)
    rows, cols = np.broadcast_to(chunks, 2)
    assert ds.estimate.data.chunksize == (rows, cols)
    got = _values(ds.compute())
    assert list(got) == list(grid.bands)
    for band in grid.bands:
        np.testing.assert_allclose(got[band], grid.raster[band], rtol=1e-12, atol=1e-15,
                                   equal_nan=True)
        assert (np.isnan(got[band]) == np.isnan(grid.raster[band])).all()


def test_gp_fit_tiles_equal_predict_grid(gp_fit, gp_grid):
    """The Rongelap GP fit: tiles batch cells differently from predict_grid's chunks, and the
    fit's own predict differs with the batch by up to 1e-7 relative (measured: se_fit 2e-8,
    fit 9e-8 for single rows), so the bands agree to 1e-6 here, not 1e-12."""
    ds = predict_raster(gp_fit, coastline(), n=(150, 75), buffer=50, exceedance=[10.0],
                        chunks=48)
    got = _values(ds.compute())
    for band in gp_grid.bands:
        np.testing.assert_allclose(got[band], gp_grid.raster[band], rtol=1e-6, atol=1e-12,
                                   equal_nan=True)
        assert (np.isnan(got[band]) == np.isnan(gp_grid.raster[band])).all()


def test_tiles_match_mgcv_at_sfs_cells(gp_fit):
    """Uncropped raster at sf's 1612 cells against mgcv (fit differences: 1e-3 median)."""
    ref = pd.read_csv(REFERENCE / "rongelap_grid_mgcv_ubre_default.csv")
    ds = predict_raster(gp_fit, coastline(), n=(150, 75), buffer=50, crop=False, chunks=32)
    est = ds.estimate.values
    kept = ~np.isnan(est)
    assert kept.sum() == len(ref) == 1612  # the cells sf keeps
    t = ds.rio.transform()
    col = np.floor((ref.cX.to_numpy() - t.c) / t.a).astype(int)
    row = np.floor((ref.cY.to_numpy() - t.f) / t.e).astype(int)
    assert kept[row, col].all()
    rel = np.abs(est[row, col] / ref.response.to_numpy() - 1)
    assert np.median(rel) < 1e-3


def test_tile_order_does_not_matter(gp_fit):
    ds = predict_raster(gp_fit, coastline(), n=(150, 75), buffer=50, chunks=32)
    whole = ds.estimate.values
    arr = ds.estimate.data
    nr, nc = arr.numblocks
    out = np.full(arr.shape, -1.0)
    for bi in reversed(range(nr)):  # last tile first, columns right to left
        for bj in reversed(range(nc)):
            block = arr.blocks[bi, bj].compute()
            out[bi * 32 : bi * 32 + block.shape[0], bj * 32 : bj * 32 + block.shape[1]] = block
    np.testing.assert_array_equal(out, whole)


@pytest.mark.parametrize("workers", [1, 2])
def test_distributed_client_gives_the_same_raster(gp_fit, gp_grid, workers, tmp_path):
    """A local cluster: the GP fit is pickled to the workers (without pytest's namespace,
    which its formula keeps); the same tiles as the threaded scheduler, to 1e-12."""
    from distributed import Client, LocalCluster

    ds = predict_raster(gp_fit, coastline(), n=(150, 75), buffer=50, exceedance=[10.0],
                        chunks=40)
    local = _values(ds.compute(scheduler="threads"))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        got = _values(ds.compute(scheduler=client))
        path = to_zarr(ds, tmp_path / "m.zarr", client=client, progress=False)
    for band in gp_grid.bands:
        np.testing.assert_allclose(got[band], local[band], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(got[band], gp_grid.raster[band], rtol=1e-6, atol=1e-12,
                                   equal_nan=True)
    back = xr.open_zarr(path)
    np.testing.assert_array_equal(back.se.values, got["se"])


# ---- the files -------------------------------------------------------------------------
def _closed_form_raster(**kw):
    fit = FakeFit(c=0.2, e=1e-4, crs=UTM)
    return fit, predict_raster(fit, coastline(), buffer=50, exceedance=[1.0], units="counts/s",
                               **kw)


def test_cog_is_valid_tiled_compressed_with_overviews(tmp_path):
    _, ds = _closed_form_raster(n=(1200, 600), chunks=200)
    path = to_cog(ds, tmp_path / "map.tif", progress=False)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.compression.name.lower() == "deflate"
        assert src.overviews(1) == [2, 4]  # until one 512 tile holds it: 300 x 150
        assert CRS.from_user_input(src.crs) == UTM
        assert src.transform == ds.rio.transform()
        assert list(src.descriptions) == list(ds.data_vars)
        assert src.units[0] == "counts/s" and src.units[-1] == "probability"
        assert src.tags()["link"] == "log"
        for k, band in enumerate(ds.data_vars, start=1):
            got = src.read(k, masked=True)
            want = ds[band].values.astype(np.float32)
            np.testing.assert_array_equal(got.mask, np.isnan(want))
            np.testing.assert_array_equal(got.filled(np.nan), want)
        # the overview is the 2 x 2 average of the cells that have data (nodata skipped)
        ov = src.read(1, out_shape=(300, 600), masked=True)
        est = ds.estimate.values.reshape(300, 2, 600, 2)
        with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
            mean = np.nanmean(est, axis=(1, 3))
        both = ~ov.mask & ~np.isnan(mean)
        np.testing.assert_allclose(ov.data[both], mean[both], rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]  # no scratch file left


def test_zarr_round_trips_through_xarray(tmp_path):
    fit, ds = _closed_form_raster(resolution=40, chunks=64)
    path = ds.spatialgamm.to_zarr(tmp_path / "map.zarr", progress=False)
    back = xr.open_zarr(path)
    assert back.estimate.data.chunksize == (64, 64)
    for band in ds.data_vars:
        np.testing.assert_array_equal(back[band].values, ds[band].values)
    assert CRS.from_wkt(back.spatial_ref.attrs["crs_wkt"]) == UTM
    assert back.rio.transform() == ds.rio.transform()
    np.testing.assert_array_equal(back.x.values, ds.x.values)
    assert back.attrs["link"] == "log" and back.estimate.attrs["units"] == "counts/s"
    # closed form where mapped: eta = a + b x
    x = np.broadcast_to(back.x.values, back.estimate.shape)
    ok = ~np.isnan(back.estimate.values)
    np.testing.assert_allclose(back.estimate.values[ok], np.exp(0.5 + 1e-3 * x[ok]), rtol=1e-14)


class _FailsLater(FakeFit):
    def predict(self, newdata, **kwargs):
        if len(self.calls) >= 5:
            raise MemoryError("out of memory in tile 6")
        return super().predict(newdata, **kwargs)


@pytest.mark.parametrize("writer, name", [(to_cog, "map.tif"), (to_zarr, "map.zarr")])
def test_failure_mid_write_keeps_the_old_output(tmp_path, writer, name):
    box = shapely.box(0, 0, 1, 1)
    ds = predict_raster(FakeFit(coords=("x", "y")), box, n=(100, 100), chunks=16)
    path = writer(ds, tmp_path / name, progress=False)
    before = _snapshot(path)
    bad = predict_raster(_FailsLater(coords=("x", "y")), box, n=(100, 100), chunks=16)
    with pytest.raises(MemoryError, match="tile 6"):
        writer(bad, tmp_path / name, progress=False)
    assert _snapshot(path) == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_failure_in_the_cog_copy_keeps_the_old_file(tmp_path, monkeypatch):
    """GDAL failing while it makes the COG from the scratch tiles (e.g. a full disk)."""
    import rasterio.shutil

    box = shapely.box(0, 0, 1, 1)
    ds = predict_raster(FakeFit(coords=("x", "y")), box, n=(64, 64), chunks=32)
    path = to_cog(ds, tmp_path / "m.tif", progress=False)
    before = path.read_bytes()

    def full_disk(src, dst, **kw):
        with open(dst, "wb") as fh:  # a partial file, as a writer dying mid-way leaves
            fh.write(b"II*\x00")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rasterio.shutil, "copy", full_disk)
    with pytest.raises(FileWriteError, match="left unchanged"):
        to_cog(predict_raster(FakeFit(a=2.0, coords=("x", "y")), box, n=(64, 64), chunks=32),
               path, progress=False)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.tif"]  # no scratch, no temporary


def test_failure_at_the_rename_keeps_the_old_zarr(tmp_path, monkeypatch):
    import os

    box = shapely.box(0, 0, 1, 1)
    ds = predict_raster(FakeFit(coords=("x", "y")), box, n=(40, 40), chunks=16)
    path = to_zarr(ds, tmp_path / "m.zarr", progress=False)
    before = _snapshot(path)
    real = os.replace
    calls = []

    def flaky(a, b):
        calls.append((a, b))
        if len(calls) == 2:  # the old store is aside, the new one fails to move in
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(FileWriteError, match="left unchanged"):
        to_zarr(predict_raster(FakeFit(a=2.0, coords=("x", "y")), box, n=(40, 40), chunks=16),
                tmp_path / "m.zarr", progress=False)
    monkeypatch.undo()
    assert _snapshot(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.zarr"]


def _snapshot(path):
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


# ---- bounded memory: nothing larger than a tile --------------------------------------------
def test_many_tiles_each_task_holds_one_tile(monkeypatch, tmp_path):
    from spatialgamm.spatial import tiles

    shapes = []
    real = tiles.tile_block

    def spy(plan, tile, crop):
        out = real(plan, tile, crop)
        shapes.append(out.shape)
        return out

    monkeypatch.setattr("spatialgamm.spatial.raster.tile_block", spy)
    fit = FakeFit(coords=("x", "y"))
    ds = predict_raster(fit, shapely.box(0, 0, 1, 1), n=(300, 260), chunks=32)
    assert ds.estimate.data.numblocks == (9, 10)
    to_cog(ds, tmp_path / "t.tif", progress=False)
    assert len(shapes) == 90  # each tile computed once for all bands
    assert max(s[1] * s[2] for s in shapes) == 32 * 32
    assert all(s[0] == 4 and s[1] <= 32 and s[2] <= 32 for s in shapes)
    assert max(fit.calls) <= 32 * 32 and sum(fit.calls) == 300 * 260


# ---- cell selection by rasterisation is GEOS's intersects, cell for cell -------------------
def _geos_cells(spec, geom):
    jj, ii = np.divmod(np.arange(spec.nx * spec.ny), spec.nx)
    hit = shapely.intersects(geom, spec.boxes(ii, jj))
    return ii[hit], jj[hit]


def test_rasterised_selection_is_geos_intersects_on_random_polygons():
    rng = np.random.default_rng(17)
    for k in range(60):
        pts = rng.uniform(0, 10, (int(rng.integers(3, 10)), 2))
        if k % 2:
            pts = np.round(pts)  # vertices and edges on cell edges: the ambiguous case
        geom = shapely.make_valid(shapely.Polygon(pts))
        parts = [p for p in shapely.get_parts(geom) if p.area > 0]
        if not parts:
            continue
        geom = shapely.union_all(parts)
        spec = make_grid((0, 0, 10, 10), n=(10, 10)) if k % 2 else \
            make_grid(geom.bounds, n=(int(rng.integers(1, 40)), int(rng.integers(1, 40))))
        want = _geos_cells(spec, geom)
        got = intersecting_cells(spec, geom, rows=int(rng.integers(1, 12)))
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_all_touched_alone_is_not_sfs_rule():
    """Why the boundary cells are tested with GEOS: GDAL's all_touched drops a cell that
    shares only an edge with the polygon, which sf (and GEOS) keep."""
    from rasterio.features import geometry_mask

    spec = make_grid((0, 0, 4, 1), n=(4, 1))
    box = shapely.box(0, 0, 1, 1)
    gdal = geometry_mask([box], (1, 4), spec.transform, all_touched=True, invert=True)
    assert gdal.sum() != 2
    assert list(intersecting_cells(spec, box)[0]) == [0, 1]


@pytest.mark.parametrize("chunks", [8, 2.5, True, "big", (16,)])
def test_bad_chunks_refused(chunks):
    with pytest.raises(ValueError, match="chunks"):
        predict_raster(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=(10, 10),
                       chunks=chunks)


def test_bad_paths_refused(tmp_path):
    ds = predict_raster(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=(20, 20),
                        chunks=16)
    with pytest.raises(ValueError, match=r"\.tif"):
        to_cog(ds, tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"\.zarr"):
        to_zarr(ds, tmp_path / "m.tif")
    with pytest.raises(ValueError, match="resolution"):
        predict_raster(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1))
    assert list(tmp_path.iterdir()) == []


def test_predict_grid_builds_its_cells_table_only_when_asked():
    grid = sg.predict_grid(FakeFit(), coastline(), n=(150, 75), buffer=50)
    assert "cells" not in vars(grid)  # raster, summary and plots need no cell polygons
    assert grid.n_cells == 1612 and "1612 cells" in grid.summary()
    assert "cells" not in vars(grid)
    cells = grid.cells  # built now, then kept
    assert len(cells) == 1612 and grid.cells is cells
    np.testing.assert_allclose(cells.geometry.area, grid.transform.a * -grid.transform.e)
    # the centroid columns are the polygons' centroids
    np.testing.assert_allclose(cells.geometry.centroid.x, cells["cX"], atol=1e-9)


def test_progress_bar_over_tiles(tmp_path, capsys):
    ds = predict_raster(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=(64, 64),
                        chunks=16)
    to_cog(ds, tmp_path / "m.tif", progress=True)
    assert "predicting tiles" in capsys.readouterr().err
    to_zarr(ds, tmp_path / "m.zarr", progress=False)
    assert "predicting tiles" not in capsys.readouterr().err
