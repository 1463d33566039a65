"""Bad-input catalogue for maps, meshes and files (issues 12 and 18).

Each case asserts the exception (or warning) type and that the message names the argument,
value or path at fault; file cases also check the directory listing (nothing left behind,
an existing file kept byte-for-byte). Faults are simulated for real where the OS allows:
a file-size limit (``RLIMIT_FSIZE`` in a subprocess, SIGXFSZ ignored, as a full disk),
read-only files, a parent path that is a regular file; writers raising or corrupting
mid-band are monkeypatched. There is no pytest-timeout here: cases stay small, and the
subprocesses have a timeout of their own.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from test_spatial_fakes import FakeFit

import spatialgamm as sg
import spatialgamm.spatial.geotiff as geotiff
import spatialgamm.spatial.guards as guards
from spatialgamm.mesh import Mesh, MeshWarning
from spatialgamm.spatial import (
    ExtrapolationWarning,
    FileWriteError,
    GridTooLargeError,
    predict_grid,
    save_figure,
    write_geotiff,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).parents[1]
TRANSFORM = from_origin(0, 300, 1, 1)


def _noise(shape=(300, 300), seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def old_tif(tmp_path):
    """A good GeoTIFF already at the target path, and its bytes."""
    path = write_geotiff(tmp_path / "map.tif", {"a": np.arange(12.0).reshape(3, 4)},
                         from_origin(0, 3, 1, 1))
    return path, path.read_bytes()


# ---- 1. file-size limit mid-write (a full disk), in one subprocess -------------------------
_LIMITED = textwrap.dedent("""
    import json, resource, signal, sys
    import numpy as np
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rasterio.transform import from_origin
    from spatialgamm.spatial import save_figure, write_geotiff
    data = np.random.default_rng(0).normal(size=(300, 300))
    fig, ax = plt.subplots()
    ax.imshow(data)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
    for target in sys.argv[1:]:
        try:
            if target.endswith(".tif"):
                write_geotiff(target, {"a": data, "b": data}, from_origin(0, 300, 1, 1))
            else:
                save_figure(fig, target, dpi=100)
            print(json.dumps({"type": None}))
        except Exception as err:
            print(json.dumps({"type": type(err).__name__, "msg": str(err),
                              "oserror": isinstance(err, OSError)}))
""")

LIMIT_CASES = [("tif", True), ("tif", False), ("png", True)]


@pytest.fixture(scope="module")
def limited_writes(tmp_path_factory):
    """Run the three writes under a 16 kB file-size limit; per case: directory, result, bytes."""
    cases = {}
    for kind, existing in LIMIT_CASES:
        directory = tmp_path_factory.mktemp(f"limit_{kind}_{existing}")
        target = directory / f"map.{kind}"
        if existing:
            (_write_tif if kind == "tif" else _write_png)(target)
        cases[kind, existing] = [directory, target, target.read_bytes() if existing else None]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    targets = [str(c[1]) for c in cases.values()]
    out = subprocess.run([sys.executable, "-c", _LIMITED, *targets], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.strip().splitlines()[-len(targets):]]
    for case, result in zip(cases.values(), results):
        case.append(result)
    return cases


@pytest.mark.parametrize("kind, existing", LIMIT_CASES)
def test_file_size_limit_keeps_the_old_file(limited_writes, kind, existing):
    directory, target, before, got = limited_writes[kind, existing]
    assert got["type"] is not None and got["oserror"], got  # an OSError subclass, not silence
    assert got["type"] == "FileWriteError" and str(target) in got["msg"]
    if kind == "tif":
        assert "TIFF" in got["msg"]  # GDAL's own words
    else:
        assert "File too large" in got["msg"]
    if existing:
        assert target.read_bytes() == before
        assert _listing(directory) == [target.name]
    else:
        assert _listing(directory) == []


# ---- 2. writers failing or corrupting mid-band (monkeypatched) -------------------------------
def _raise_after_first_band(exc):
    original = geotiff._write_bands

    def writer(dst, names, arrays, nodata, units):
        original(dst, names[:1], arrays[:1], nodata, units)
        raise exc

    return writer


def _zero_second_band(dst, names, arrays, nodata, units):
    geotiff.__dict__["_ORIGINAL_WRITE"](dst, names, arrays, nodata, units)
    dst.write(np.zeros(arrays[1].shape, dtype=np.float32), 2)  # silently wrong data


def _gdal_error_at_close(dst, names, arrays, nodata, units):
    geotiff.__dict__["_ORIGINAL_WRITE"](dst, names, arrays, nodata, units)
    # what rasterio logs when GDAL fails to flush blocks at close (e.g. ENOSPC)
    logging.getLogger("rasterio._env").info(
        "GDAL signalled an error: err_no=1, msg='TIFFAppendToStrip:Write error at scanline 0'")


@pytest.mark.parametrize("writer, exc_type, match", [
    (_raise_after_first_band(RuntimeError("disk full")), RuntimeError, "disk full"),
    (_raise_after_first_band(OSError(28, "No space left on device")), OSError, "No space"),
    (_raise_after_first_band(KeyboardInterrupt()), KeyboardInterrupt, None),
    (_zero_second_band, FileWriteError, r"band 2 .*differs"),
    (_gdal_error_at_close, FileWriteError, r"map\.tif.*TIFFAppendToStrip"),
], ids=["runtime-error", "enospc", "interrupt", "silent-corruption", "gdal-error-at-close"])
def test_writer_faults_keep_the_old_file(old_tif, monkeypatch, writer, exc_type, match):
    path, before = old_tif
    monkeypatch.setitem(geotiff.__dict__, "_ORIGINAL_WRITE", geotiff._write_bands)
    monkeypatch.setattr(geotiff, "_write_bands", writer)
    with pytest.raises(exc_type, match=match):
        write_geotiff(path, {"a": _noise((8, 9)), "b": _noise((8, 9), 1)}, TRANSFORM)
    assert path.read_bytes() == before
    assert _listing(path.parent) == ["map.tif"]


def test_truncated_figure_is_detected(tmp_path, monkeypatch):
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    target = save_figure(fig, tmp_path / "plot.png")
    before = target.read_bytes()
    original = type(fig).savefig

    def truncating(self, fname, **kwargs):
        original(self, fname, **kwargs)
        data = Path(fname).read_bytes()
        Path(fname).write_bytes(data[: len(data) // 2])  # as a write cut short, no error

    monkeypatch.setattr(type(fig), "savefig", truncating)
    with pytest.raises(FileWriteError, match=r"png file written for .*plot\.png"):
        save_figure(fig, target)
    plt.close(fig)
    assert target.read_bytes() == before
    assert _listing(tmp_path) == ["plot.png"]


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_truncated_vector_figure_is_detected(tmp_path, monkeypatch, fmt):
    fig, ax = plt.subplots(figsize=(2, 2))
    original = type(fig).savefig

    def truncating(self, fname, **kwargs):
        original(self, fname, **kwargs)
        data = Path(fname).read_bytes()
        Path(fname).write_bytes(data[: len(data) // 2])

    monkeypatch.setattr(type(fig), "savefig", truncating)
    with pytest.raises(FileWriteError, match=f"{fmt} file written for"):
        save_figure(fig, tmp_path / f"plot.{fmt}")
    plt.close(fig)
    assert _listing(tmp_path) == []


# ---- 3. targets that must not or cannot be written -------------------------------------------
def _write_tif(path):
    return write_geotiff(path, {"a": np.ones((2, 2))}, from_origin(0, 2, 1, 1))


def _write_png(path):
    fig, ax = plt.subplots(figsize=(1, 1))
    try:
        return save_figure(fig, path, dpi=20)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("write, name", [(_write_tif, "map.tif"), (_write_png, "map.png")])
@pytest.mark.parametrize("mode", [0o444, 0o400, 0o555])
def test_read_only_target_is_refused(tmp_path, write, name, mode):
    # root bypasses permissions: the refusal must come from the mode bits
    target = tmp_path / name
    target.write_bytes(b"precious")
    os.chmod(target, mode)
    try:
        with pytest.raises(PermissionError, match=rf"{name}.*read-only"):
            write(target)
        assert target.read_bytes() == b"precious"
        assert stat.S_IMODE(target.stat().st_mode) == mode
        assert _listing(tmp_path) == [name]
    finally:
        os.chmod(target, 0o644)


@pytest.mark.parametrize("write, name", [(_write_tif, "map.tif"), (_write_png, "map.png")])
@pytest.mark.parametrize("depth", [["blocker"], ["blocker", "sub"], ["blocker", "a", "b"]])
def test_parent_that_is_a_file_is_named(tmp_path, write, name, depth):
    (tmp_path / "blocker").write_text("a file, not a directory")
    target = tmp_path.joinpath(*depth, name)
    with pytest.raises(NotADirectoryError, match=r"component '.*blocker' is a file"):
        write(target)
    assert _listing(tmp_path) == ["blocker"]
    assert (tmp_path / "blocker").read_text() == "a file, not a directory"


@pytest.mark.parametrize("write, name", [(_write_tif, "map.tif"), (_write_png, "map.png")])
def test_target_that_is_a_directory_is_named(tmp_path, write, name):
    (tmp_path / name).mkdir()
    with pytest.raises(IsADirectoryError, match=rf"{name}' is a directory"):
        write(tmp_path / name)
    assert _listing(tmp_path) == [name]
    assert _listing(tmp_path / name) == []


def test_missing_directories_are_created_and_mode_kept(tmp_path):
    target = _write_tif(tmp_path / "new" / "dirs" / "map.tif")
    assert _listing(target.parent) == ["map.tif"]
    os.chmod(target, 0o640)
    write_geotiff(target, {"a": np.zeros((2, 2))}, from_origin(0, 2, 1, 1))
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # replaced, permissions kept
    with rasterio.open(target) as src:
        assert src.read(1).max() == 0.0


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(path="map.png"), ValueError, r"map\.png.*\.tif or \.tiff"),
    (dict(bands={}), ValueError, "no bands"),
    (dict(bands={"a": np.ones(3)}), ValueError, "2-D"),
    (dict(bands={"a": np.ones((2, 2))}, nodata=1.0), ValueError, r"nodata=1\.0 occurs.*'a'"),
])
def test_write_geotiff_bad_arguments(tmp_path, kwargs, exc, match):
    args = dict(path="map.tif", bands={"a": np.zeros((2, 2))}, transform=TRANSFORM)
    args.update(kwargs)
    args["path"] = tmp_path / args["path"]
    with pytest.raises(exc, match=match):
        write_geotiff(**args)
    assert _listing(tmp_path) == []


# ---- 4. predict_grid: polygons away from the data, grids too large ---------------------------
class DataFit(FakeFit):
    """A fake fit that knows its data (``fit.data``) and, optionally, a fitted range."""

    def __init__(self, xy, fitted_range=None, **kwargs):
        super().__init__(coords=("x", "y"), b=0.0, **kwargs)
        self.data = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "z": 1.0})
        if fitted_range is not None:
            self.range = fitted_range


SITES = np.random.default_rng(7).uniform(0, 1000, size=(60, 2))


@pytest.mark.parametrize("fitted_range, unit", [(100.0, "fitted range"),
                                                (None, "data's extent")])
@pytest.mark.parametrize("shift", [5_000.0, -20_000.0])
def test_polygon_away_from_the_data_is_refused(fitted_range, unit, shift):
    fit = DataFit(SITES, fitted_range)
    poly = shapely.box(shift, 0, shift + 500, 500)
    with pytest.raises(ValueError, match=rf"polygon.*does not overlap.*times the {unit}.*"
                                         r"extrapolate=True"):
        predict_grid(fit, poly, n=(4, 4))
    assert fit.calls == []  # refused before predicting anything


def test_lonlat_polygon_for_a_fit_in_metres_is_named():
    fit = DataFit(SITES + 500_000)
    lonlat = shapely.box(166.7, 11.1, 166.9, 11.2)
    with pytest.raises(ValueError, match="look like longitude/latitude"):
        predict_grid(fit, lonlat, n=(4, 4))


def test_extrapolate_true_maps_it_anyway(recwarn):
    fit = DataFit(SITES, 100.0)
    grid = predict_grid(fit, shapely.box(5_000, 0, 5_500, 500), n=(4, 4), extrapolate=True)
    assert len(grid.cells) == 16
    assert not [w for w in recwarn if issubclass(w.category, ExtrapolationWarning)]


@pytest.mark.parametrize("fitted_range, unit", [(100.0, "fitted range"),
                                                (None, "data's extent")])
def test_polygon_reaching_far_beyond_the_data_warns(fitted_range, unit):
    fit = DataFit(SITES, fitted_range)
    poly = shapely.box(0, 0, 1000, 3000)  # overlaps the data, reaches 2000 beyond them
    with pytest.warns(ExtrapolationWarning, match=rf"grid cells lie more than .* the farthest "
                                                  rf"is .* times the {unit}"):
        predict_grid(fit, poly, n=(10, 30))


def test_polygon_over_the_data_does_not_warn(recwarn):
    predict_grid(DataFit(SITES, 100.0), shapely.box(0, 0, 1000, 1000), n=(10, 10))
    assert not [w for w in recwarn if issubclass(w.category, ExtrapolationWarning)]


@pytest.mark.parametrize("kwargs", [dict(n=(20_000, 20_000)), dict(n=50_000),
                                    dict(cellsize=0.01)])
def test_grid_too_large_is_refused_before_any_work(kwargs):
    fit = FakeFit(coords=("x", "y"))
    with pytest.raises(GridTooLargeError, match=r"[GT]B of memory.*refused before any work.*"
                                                r"tile by tile.*predict_geotiff.*allow_large"):
        predict_grid(fit, shapely.box(0, 0, 1000, 1000), **kwargs)
    assert fit.calls == []


def test_allow_large_opts_in(monkeypatch):
    monkeypatch.setattr(guards, "MAX_GRID_BYTES", 1000)
    fit = FakeFit(coords=("x", "y"))
    with pytest.raises(GridTooLargeError, match=r"a 10 x 10 grid \(100 cells"):
        predict_grid(fit, shapely.box(0, 0, 1, 1), n=(10, 10))
    assert len(predict_grid(fit, shapely.box(0, 0, 1, 1), n=(10, 10), allow_large=True).cells) \
        == 100


@pytest.mark.parametrize("name, value", [("allow_large", "yes"), ("allow_large", 1),
                                         ("extrapolate", None), ("extrapolate", "no")])
def test_flags_must_be_booleans(name, value):
    with pytest.raises(TypeError, match=rf"{name} must be True or False, got {value!r}"):
        predict_grid(FakeFit(coords=("x", "y")), shapely.box(0, 0, 1, 1), n=2,
                     **{name: value})


# ---- 5. the real thing: Rongelap's SPDE fit -------------------------------------------------
@pytest.fixture(scope="module")
def rongelap():
    return sg.datasets.load_rongelap()


@pytest.fixture(scope="module")
def spde_fit(rongelap):
    mesh = Mesh.build(rongelap[["cX", "cY"]], max_edge=(300, 800),  # noqa: F841 (formula)
                      offset=(100, 2000), cutoff=50)
    return sg.fit("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5) + offset(log(time))", rongelap,
                  family="poisson")


def test_rongelap_lonlat_polygon_is_refused(spde_fit):
    atoll = shapely.box(166.80, 11.13, 166.92, 11.20)  # Rongelap in degrees
    with pytest.raises(ValueError, match=r"does not overlap the data.s \(cX.*fitted range.*longitude"):
        predict_grid(spde_fit, atoll, n=(10, 10))


def test_rongelap_polygon_beyond_the_island_warns(spde_fit, rongelap):
    hull = shapely.convex_hull(shapely.multipoints(rongelap[["cX", "cY"]].to_numpy()))
    # the sites' hull and 1.5 km around it (inside the mesh's 2 km extension): a third of the
    # cells lie more than 2 ranges (about 760 m) away from the data
    with pytest.warns(ExtrapolationWarning, match=r"times the fitted range \(\d+"):
        grid = predict_grid(spde_fit, hull.buffer(1500), n=(40, 20))
    # and there the field has reverted to its mean: the estimate is flat
    far = shapely.distance(hull, shapely.points(grid.cells[["cX", "cY"]].to_numpy())) > 1400
    assert grid.cells.loc[far, "estimate"].std() < 0.1 * grid.cells["estimate"].std()


# ---- 6. mesh boundaries and cutoff ----------------------------------------------------------
BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
PTS = np.array([[2.0, 5.0], [8.0, 5.0], [5.0, 3.0]])


@pytest.mark.parametrize("boundary, kind", [
    (shapely.LineString([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]), "LineString"),
    (shapely.MultiLineString([[(0, 0), (10, 0)], [(10, 10), (0, 10)]]), "MultiLineString"),
    (shapely.Point(5, 5).buffer(5).exterior.interpolate(0), "Point"),
    (shapely.GeometryCollection([shapely.box(0, 0, 10, 10), shapely.Point(1, 1)]),
     "GeometryCollection"),
    (gpd.GeoSeries([shapely.LineString([(0, 0), (10, 0), (10, 10)])]), "LineString"),
    ("coastline.shp", "str"),
])
def test_non_polygon_boundary_says_it_must_be_a_polygon(boundary, kind):
    with pytest.raises(TypeError, match=rf"boundary must be a polygon.*{kind}"):
        Mesh.build(PTS, boundary=boundary, max_edge=2.0)


@pytest.mark.parametrize("boundary", [
    BOWTIE,
    BOWTIE.exterior.coords[:-1],  # the same ring as coordinates
    gpd.GeoSeries([BOWTIE]),
])
def test_self_intersecting_boundary_is_reported_with_shapely_reason(boundary):
    with pytest.raises(ValueError, match=r"boundary is not a valid polygon: Self-intersection"):
        Mesh.build(PTS, boundary=boundary, max_edge=2.0)


def test_self_intersecting_coastline_is_not_reported_as_not_containing(rongelap):
    coast = sg.datasets.load_rongelap_coastline()[["cX", "cY"]].to_numpy()
    twisted = coast.copy()
    twisted[[10, 40]] = twisted[[40, 10]]  # two vertices traced in the wrong order
    with pytest.raises(ValueError, match="Self-intersection") as err:
        Mesh.build(rongelap[["cX", "cY"]], boundary=twisted, max_edge=(300, 600))
    assert "does not contain" not in str(err.value)


def test_boundary_not_containing_names_the_row_as_given():
    pts = np.array([[5.0, 5.0], [1.0, 1.0], [50.0, 2.0], [3.0, 7.0]])  # row 2 is outside
    with pytest.raises(ValueError, match=r"1 of 4 loc points.*row 2 at \(50, 2\)"):
        Mesh.build(pts, boundary=shapely.box(0, 0, 10, 10), max_edge=2.0)


@pytest.mark.parametrize("cutoff", [2000.0, 800.0])
def test_cutoff_collapsing_the_sites_warns_with_the_numbers(rongelap, cutoff):
    with pytest.warns(MeshWarning, match=rf"cutoff={cutoff:g} merges the 157 distinct loc "
                                         r"points onto \d+ mesh nodes.*nearest neighbour is"):
        mesh = Mesh.build(rongelap[["cX", "cY"]], max_edge=(1000, 2000), cutoff=cutoff)
    assert len(np.unique(mesh.loc_to_node)) < 0.5 * 157


def test_moderate_cutoff_does_not_warn(rongelap, recwarn):
    Mesh.build(rongelap[["cX", "cY"]], max_edge=(300, 600), cutoff=20)
    assert not [w for w in recwarn if issubclass(w.category, MeshWarning)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(cutoff=np.nan), "cutoff"),
    (dict(cutoff=np.inf), "cutoff"),
    (dict(cutoff=-1.0), "cutoff"),
    (dict(offset=("far", 1.0)), r"offset\[0\] must be a number; got 'far'"),
    (dict(offset=(1.0, np.inf)), r"offset\[1\] must be finite"),
    (dict(convex="wide"), "convex must be a number"),
    (dict(max_nodes=0), "max_nodes must be a positive whole number"),
    (dict(max_edge=(1.0, -2.0)), "max_edge must be positive"),
    (dict(min_angle=45), r"min_angle must lie in \[0, 30\]"),
])
def test_mesh_bad_arguments_are_named(kwargs, match):
    args = dict(max_edge=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Mesh.build(PTS, **args)


def test_missing_directory_that_cannot_be_created_is_named(tmp_path, monkeypatch):
    original = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(FileWriteError, match=r"missing directory '.*locked' could not be "
                                             r"created \(Permission denied\)"):
        _write_tif(tmp_path / "out" / "locked" / "map.tif")
    assert _listing(tmp_path) == ["out"]


def test_os_errors_from_writers_name_the_target(old_tif, monkeypatch):
    path, before = old_tif

    def enospc(dst, names, arrays, nodata, units):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(geotiff, "_write_bands", enospc)
    with pytest.raises(FileWriteError, match=r"writing '.*map\.tif' failed \(No space left on "
                                             r"device\); the existing .* left unchanged") as err:
        write_geotiff(path, {"a": np.zeros((2, 2))}, TRANSFORM)
    assert err.value.errno == 28
    assert path.read_bytes() == before


def test_symlink_target_is_replaced_and_the_link_kept(tmp_path):
    real = _write_tif(tmp_path / "real.tif")
    os.chmod(real, 0o640)
    link = tmp_path / "link.tif"
    link.symlink_to(real)
    write_geotiff(link, {"a": np.full((2, 2), 7.0)}, from_origin(0, 2, 1, 1))
    assert link.is_symlink() and _listing(tmp_path) == ["link.tif", "real.tif"]
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    with rasterio.open(real) as src:
        assert src.read(1).min() == 7.0
    os.chmod(real, 0o444)  # a read-only file behind a link is refused too
    with pytest.raises(PermissionError, match=r"real\.tif.*read-only"):
        write_geotiff(link, {"a": np.zeros((2, 2))}, from_origin(0, 2, 1, 1))
    os.chmod(real, 0o644)


@pytest.mark.parametrize("n", [(150, 75), (400, 200)])
def test_grid_cost_counts_the_cells_it_would_keep(n):
    # the estimate behind the refusal: kept cells from the polygon's area and perimeter,
    # against the cells intersecting_cells actually keeps over Rongelap's coastline
    from test_spatial_fakes import coastline

    from spatialgamm.spatial.grid import intersecting_cells, make_grid
    from spatialgamm.spatial.polygon import buffer_polygon, read_polygon

    poly = buffer_polygon(read_polygon(coastline()).geometry, 50)
    spec = make_grid(poly.bounds, n=n)
    kept, nbytes, seconds = guards.grid_cost(spec, poly, 4)
    actual = len(intersecting_cells(spec, poly)[0])
    assert actual <= kept <= 1.5 * actual  # an upper estimate, not a wild one
    assert nbytes > spec.nx * spec.ny * 8 * 4 and seconds > 0
