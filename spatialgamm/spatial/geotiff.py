"""Multi-band GeoTIFF output through rasterio: float32, CRS, transform, nodata, band names.

Files are DEFLATE-compressed, tiled (256 x 256) when the raster exceeds 256 cells in both
directions, and written safely (:mod:`.files`): to a temporary file whose GDAL errors are
raised (rasterio only logs errors GDAL reports while flushing at close, e.g. a full disk),
which is then reopened and every band read back and compared with what was written, before
it is renamed over the target. On any failure the old file is kept byte-for-byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS
from rasterio.transform import Affine

from .files import FileWriteError, atomic_path, check_suffix

_TILE = 256


def write_geotiff(
    path: str | os.PathLike,
    bands: Mapping[str, np.ndarray],
    transform: Affine,
    crs: CRS | None = None,
    nodata: float = -9999.0,
    units: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write 2-D arrays (NaN = missing) as the bands of one float32 GeoTIFF.

    Parameters
    ----------
    path : str or PathLike
        Target file, ending in .tif or .tiff. Parent directories are created.
    bands : mapping name -> (rows, cols) array
        Bands in order; names become the band descriptions. NaN cells are written as
        ``nodata``.
    transform : Affine
        Pixel-to-map transform (north-up: row 0 at the top).
    crs : pyproj.CRS, optional
        Written when known.
    nodata : float
        Value marking missing cells; NaN keeps NaN in the file. A finite value that also
        occurs among the data is refused.
    units : mapping name -> str, optional
        Band units, stored as the band's unit type and as a ``units`` tag.
    tags : mapping, optional
        Dataset-level metadata tags.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from rasterio.transform import from_origin
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.tif"
    >>> write_geotiff(out, {"estimate": np.ones((2, 3))}, from_origin(0, 2, 1, 1)).exists()
    True
    """
    import rasterio

    path = check_suffix(path, (".tif", ".tiff"), "GeoTIFF path")
    names = list(bands)
    if not names:
        raise ValueError("no bands to write")
    arrays = [np.asarray(bands[b], dtype=float) for b in names]
    shape = arrays[0].shape
    if any(a.ndim != 2 or a.shape != shape for a in arrays):
        raise ValueError(f"bands must be 2-D arrays of one shape; got {[a.shape for a in arrays]}")
    nodata = float(nodata)
    if np.isfinite(nodata):
        # compared in float32, the precision the file holds
        clash = [b for b, a in zip(names, arrays) if np.any(a.astype(np.float32) == nodata)]
        if clash:
            raise ValueError(
                f"nodata={nodata} occurs as a value in band(s) {clash}; choose another nodata"
            )
    profile = _profile(shape, len(names), transform, crs, nodata)
    # what the file must hold: float32, NaN cells as nodata
    written = [np.where(np.isnan(a), nodata, a).astype(np.float32) for a in arrays]
    with atomic_path(path, "GeoTIFF") as tmp:
        with gdal_errors_raised(path):
            with rasterio.open(tmp, "w", **profile) as dst:
                _write_bands(dst, names, arrays, nodata, units or {})
                if tags:
                    dst.update_tags(**{k: str(v) for k, v in tags.items()})
        verify_geotiff(tmp, written, path)
    return path


class _GDALErrors(logging.Handler):
    """Collects the errors GDAL signals in this thread (rasterio logs them as 'GDAL
    signalled an error')."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:  # another thread's file
            return
        msg = record.getMessage()
        if record.levelno >= logging.ERROR or "signalled an error" in msg:
            # "GDAL signalled an error: err_no=1, msg='...'": keep GDAL's own words
            self.messages.append(msg.split("msg=", 1)[-1].strip("'\""))


#: rasterio's loggers that report GDAL's error handler (write errors at close come here).
_GDAL_LOGGERS = ("rasterio._env", "rasterio._err", "rasterio._io")
#: Writers currently listening, and the loggers' own levels to restore after the last one.
_LISTENING: dict[str, Any] = {"count": 0, "levels": []}
_LOCK = threading.Lock()


@contextlib.contextmanager
def gdal_errors_raised(target: str | os.PathLike) -> Iterator[None]:
    """Raise :class:`FileWriteError` if GDAL signals an error inside the block (incl. close).

    rasterio turns GDAL errors of most calls into exceptions, but errors GDAL reports while
    flushing blocks at close (a full disk, a file-size limit) are only logged (at INFO);
    this catches those log records of the calling thread for the duration of the block.
    """
    handler = _GDALErrors()
    loggers = [logging.getLogger(name) for name in _GDAL_LOGGERS]
    with _LOCK:
        if _LISTENING["count"] == 0:
            _LISTENING["levels"] = [lg.level for lg in loggers]
            for lg in loggers:
                if not lg.isEnabledFor(logging.INFO):
                    lg.setLevel(logging.INFO)
        _LISTENING["count"] += 1
        for lg in loggers:
            lg.addHandler(handler)
    try:
        yield
    finally:
        with _LOCK:
            for lg in loggers:
                lg.removeHandler(handler)
            _LISTENING["count"] -= 1
            if _LISTENING["count"] == 0:
                for lg, level in zip(loggers, _LISTENING["levels"]):
                    lg.setLevel(level)
    if handler.messages:
        shown = "; ".join(dict.fromkeys(handler.messages))  # unique, in order
        raise FileWriteError(
            f"GeoTIFF: writing {str(target)!r} failed (disk full or file too large?): GDAL "
            f"reported {shown}"
        )


def verify_geotiff(tmp: Path, written: Sequence[np.ndarray], target: str | os.PathLike) -> None:
    """Reopen a freshly written GeoTIFF and compare every band with what was written.

    Raises :class:`FileWriteError` naming ``target`` when the file cannot be read back or
    differs (a truncated or corrupt write).
    """
    import rasterio

    try:
        with gdal_errors_raised(target), rasterio.open(tmp) as src:
            if src.count != len(written) or src.shape != written[0].shape:
                raise FileWriteError(
                    f"GeoTIFF: the file written for {str(target)!r} has {src.count} band(s) of "
                    f"shape {src.shape}, expected {len(written)} of shape {written[0].shape}"
                )
            for k, expect in enumerate(written, start=1):
                got = src.read(k)
                if not np.array_equal(got, expect, equal_nan=True):
                    raise FileWriteError(
                        f"GeoTIFF: band {k} read back from the file written for "
                        f"{str(target)!r} differs from the data written"
                    )
    except FileWriteError:
        raise
    except Exception as err:  # rasterio's errors for unreadable/truncated files
        raise FileWriteError(
            f"GeoTIFF: the file written for {str(target)!r} cannot be read back "
            f"({type(err).__name__}: {err}); the write failed"
        ) from err


def _profile(shape: tuple[int, int], count: int, transform: Affine, crs: CRS | None,
             nodata: float) -> dict[str, Any]:
    """rasterio creation options: float32, DEFLATE, 256 x 256 tiles beyond 256 cells."""
    import rasterio

    height, width = shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "float32",
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = rasterio.crs.CRS.from_wkt(crs.to_wkt())
    if height > _TILE and width > _TILE:
        profile.update(tiled=True, blockxsize=_TILE, blockysize=_TILE)
    if 4.0 * height * width * count > 2**31:  # classic TIFF stops at 4 GB
        profile["BIGTIFF"] = "IF_SAFER"
    return profile


def _nodata_clash(name: str, arr: np.ndarray, nodata: float) -> None:
    if np.isfinite(nodata) and np.any(arr.astype(np.float32) == nodata):
        raise ValueError(f"nodata={nodata} occurs as a value in band {name!r}; choose another "
                         "nodata")


def write_geotiff_windows(
    path: str | os.PathLike,
    names: Sequence[str],
    shape: tuple[int, int],
    transform: Affine,
    windows: Iterable[tuple[int, int, Mapping[str, np.ndarray]]],
    crs: CRS | None = None,
    nodata: float = -9999.0,
    units: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write a GeoTIFF window by window, never holding the whole raster (bounded memory).

    ``windows`` yields ``(row0, col0, {band: 2-D array})`` blocks that together cover the
    raster. The file is written safely as :func:`write_geotiff` does; it is verified by
    reading every window back and comparing its SHA-256 digest with the digest of what was
    written (the data themselves are not kept).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from rasterio.transform import from_origin
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "w.tif"
    >>> blocks = [(0, 0, {"a": np.zeros((2, 2))}), (0, 2, {"a": np.ones((2, 1))})]
    >>> write_geotiff_windows(out, ["a"], (2, 3), from_origin(0, 2, 1, 1), blocks).exists()
    True
    """
    import rasterio
    from rasterio.windows import Window

    path = check_suffix(path, (".tif", ".tiff"), "GeoTIFF path")
    names = list(names)
    if not names:
        raise ValueError("no bands to write")
    nodata = float(nodata)
    profile = _profile(shape, len(names), transform, crs, nodata)
    digests: list[tuple[Any, int, bytes]] = []
    with atomic_path(path, "GeoTIFF") as tmp:
        with gdal_errors_raised(path):
            with rasterio.open(tmp, "w", **profile) as dst:
                _describe_bands(dst, names, units or {})
                if tags:
                    dst.update_tags(**{k: str(v) for k, v in tags.items()})
                for row0, col0, block in windows:
                    for k, name in enumerate(names, start=1):
                        arr = np.asarray(block[name], dtype=float)
                        _nodata_clash(name, arr, nodata)
                        data = np.where(np.isnan(arr), nodata, arr).astype(np.float32)
                        win = Window(col0, row0, data.shape[1], data.shape[0])
                        dst.write(data, k, window=win)
                        digests.append((win, k, hashlib.sha256(data.tobytes()).digest()))
        _verify_windows(tmp, digests, path)
    return path


def _verify_windows(tmp: Path, digests: Sequence[tuple[Any, int, bytes]],
                    target: str | os.PathLike) -> None:
    import rasterio

    try:
        with gdal_errors_raised(target), rasterio.open(tmp) as src:
            for win, k, digest in digests:
                if hashlib.sha256(src.read(k, window=win).tobytes()).digest() != digest:
                    raise FileWriteError(
                        f"GeoTIFF: band {k} at {win} read back from the file written for "
                        f"{str(target)!r} differs from the data written"
                    )
    except FileWriteError:
        raise
    except Exception as err:
        raise FileWriteError(
            f"GeoTIFF: the file written for {str(target)!r} cannot be read back "
            f"({type(err).__name__}: {err}); the write failed"
        ) from err


def _describe_bands(dst: Any, names: Sequence[str], units: Mapping[str, str]) -> None:
    for k, name in enumerate(names, start=1):
        dst.set_band_description(k, name)
        if units.get(name):
            dst.set_band_unit(k, units[name])
            dst.update_tags(k, units=units[name])


def _write_bands(
    dst: Any,
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
    nodata: float,
    units: Mapping[str, str],
) -> None:
    for k, (name, arr) in enumerate(zip(names, arrays), start=1):
        data = np.where(np.isnan(arr), nodata, arr).astype(np.float32)
        dst.write(data, k)
        dst.set_band_description(k, name)
        if units.get(name):
            dst.set_band_unit(k, units[name])
            dst.update_tags(k, units=units[name])
