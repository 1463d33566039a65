"""Writing a lazy raster (``predict_raster``'s Dataset) tile by tile: COG and Zarr.

Both writers consume one stream (:func:`iter_tiles`): the tiles are computed a few at a
time on the chosen scheduler (dask's threads by default, or a ``distributed.Client``) and
each is written and dropped before the next batch, so neither the writer nor the workers hold
more than a batch of tiles, whatever the raster's size. Both are safe as every file here
(:mod:`.files`): written under a temporary name, read back and compared (SHA-256 digests of
every tile), flushed, then renamed into place; on any failure the old output is kept.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .files import FileWriteError, atomic_directory, atomic_path, check_suffix
from .geotiff import gdal_errors_raised, write_geotiff_windows

#: Tiles in flight per worker thread (a batch is computed, written, then dropped).
TILES_PER_THREAD = 2


def _bands(ds: Any, bands: Sequence[str] | None) -> list[str]:
    names = list(ds.data_vars) if bands is None else list(bands)
    unknown = [b for b in names if b not in ds.data_vars]
    if unknown or not names:
        raise ValueError(
            f"bands {unknown or names} not in the dataset; it has {list(ds.data_vars)}")
    shapes = {ds[b].shape for b in names}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"bands must be 2-D and of one shape, got {sorted(shapes)}")
    return names


def _threads(client: Any) -> int:
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return os.cpu_count() or 1


def iter_tiles(
    ds: Any,
    bands: Sequence[str],
    client: Any = None,
    progress: bool | None = None,
    batch: int | None = None,
) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Compute a Dataset's tiles a batch at a time: ``(row0, col0, {band: block})``.

    Parameters
    ----------
    ds : xarray.Dataset
        2-D ``(y, x)`` variables backed by dask (a numpy-backed one is one tile).
    bands : sequence of str
        Variables to compute (their tiles must align; ``predict_raster``'s always do).
    client : distributed.Client, optional
        Where to compute; default dask's current scheduler (threads, or an active client).
    progress : bool, optional
        tqdm bar over tiles; None shows one when there are more than 4 batches.
    batch : int, optional
        Tiles per batch (default two per worker thread).
    """
    import dask
    import dask.array as da

    arrays = [ds[b].data if isinstance(ds[b].data, da.Array) else da.from_array(ds[b].data)
              for b in bands]
    chunks = arrays[0].chunks
    if any(a.chunks != chunks for a in arrays):
        raise ValueError("the bands' dask chunks differ; rechunk them alike first")
    row0 = np.concatenate([[0], np.cumsum(chunks[0])[:-1]]).astype(int)
    col0 = np.concatenate([[0], np.cumsum(chunks[1])[:-1]]).astype(int)
    ids = [(bi, bj) for bi in range(len(chunks[0])) for bj in range(len(chunks[1]))]
    size = int(batch) if batch else TILES_PER_THREAD * _threads(client)
    groups = [ids[k : k + size] for k in range(0, len(ids), size)]
    bar = None
    if (len(groups) > 4) if progress is None else bool(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ids), desc="predicting tiles", unit="tile")
    try:
        for group in groups:
            parts = [a.blocks[bi, bj] for bi, bj in group for a in arrays]
            got = dask.compute(*parts, scheduler=client) if client is not None else \
                dask.compute(*parts)
            for k, (bi, bj) in enumerate(group):
                blocks = got[k * len(arrays) : (k + 1) * len(arrays)]
                yield int(row0[bi]), int(col0[bj]), dict(zip(bands, blocks))
            if bar is not None:
                bar.update(len(group))
    finally:
        if bar is not None:
            bar.close()


def to_cog(
    ds: Any,
    path: str | os.PathLike,
    *,
    bands: Sequence[str] | None = None,
    client: Any = None,
    progress: bool | None = None,
    nodata: float = -9999.0,
    blocksize: int = 512,
    resampling: str = "average",
    cache_mb: int = 256,
) -> Path:
    """Write a raster Dataset as a Cloud-Optimized GeoTIFF, tile by tile (bounded memory).

    The tiles are computed (see :func:`iter_tiles`) and written to a tiled scratch GeoTIFF
    next to the target (verified window by window); GDAL's COG driver then copies it into a
    float32 COG: ``blocksize`` tiles, DEFLATE with the floating-point predictor, overviews
    down to one tile (``resampling``, which skips nodata). The COG is compared with the
    scratch file window by window before it is renamed into place; the scratch is removed.
    Needs twice the file's size on disk for that moment.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`~spatialgamm.spatial.predict_raster` (or any 2-D rioxarray Dataset).
    path : str or PathLike
        Ending in .tif or .tiff; an existing file is replaced only on success.
    bands : sequence of str, optional
        Variables to write, in order (default all); names become band descriptions.
    client : distributed.Client, optional
        Compute the tiles there (default: dask's current scheduler).
    progress : bool, optional
        Progress bar over tiles (None: when there are many).
    nodata : float
        Written where a cell is NaN.
    blocksize : int
        COG tile size (a power of two, 256 to 4096).
    resampling : str
        Overview resampling (GDAL's name: average, nearest, bilinear, ...).
    cache_mb : int
        GDAL's block cache for the write, in MB (GDAL's default is 5% of the machine's
        memory: 1.2 GB of resident memory on a 23 GB machine for a 1e8-cell map).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from spatialgamm.spatial import predict_raster
    >>> to_cog(predict_raster(fit, coast, resolution=50), "rongelap_50m.tif").name
    'rongelap_50m.tif'
    """
    import rasterio
    import rasterio.shutil

    path = check_suffix(path, (".tif", ".tiff"), "COG path")
    names = _bands(ds, bands)
    if blocksize not in (256, 512, 1024, 2048, 4096):
        raise ValueError(f"blocksize must be a power of two from 256 to 4096, got {blocksize!r}")
    transform, crs = ds.rio.transform(), ds.rio.crs
    units = {b: ds[b].attrs["units"] for b in names if ds[b].attrs.get("units")}
    tags = {k: str(v) for k, v in ds.attrs.items()}
    shape = ds[names[0]].shape
    if isinstance(cache_mb, bool) or not isinstance(cache_mb, int) or cache_mb < 16:
        raise ValueError(f"cache_mb must be a whole number of MB, at least 16; got {cache_mb!r}")
    with rasterio.Env(GDAL_CACHEMAX=cache_mb), atomic_path(path, "Cloud-Optimized GeoTIFF") as tmp:
        scratch = tmp.with_name(tmp.name.replace(".tmp", ".src", 1))
        try:
            from pyproj import CRS

            write_geotiff_windows(
                scratch, names, shape, transform, iter_tiles(ds, names, client, progress),
                crs=CRS.from_wkt(crs.to_wkt()) if crs is not None else None, nodata=nodata,
                units=units, tags=tags,
            )  # fmt: skip
            with gdal_errors_raised(path):
                rasterio.shutil.copy(
                    scratch, tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                    BLOCKSIZE=str(blocksize), OVERVIEW_RESAMPLING=resampling.upper(),
                    BIGTIFF="IF_SAFER",
                )  # fmt: skip
            _same_rasters(tmp, scratch, path, blocksize)
        finally:
            for p in (scratch, scratch.with_name(scratch.name + ".aux.xml")):
                p.unlink(missing_ok=True)
    return path


def _same_rasters(got: Path, expect: Path, target: Path, step: int) -> None:
    """Compare two rasters window by window (bounded memory); FileWriteError if they differ."""
    import rasterio
    from rasterio.windows import Window

    try:
        with gdal_errors_raised(target), rasterio.open(got) as a, rasterio.open(expect) as b:
            if (a.count, a.shape) != (b.count, b.shape) or a.transform != b.transform:
                raise FileWriteError(f"COG: the file written for {str(target)!r} has another "
                                     "shape or transform than its tiles")
            for r in range(0, a.height, step):
                for c in range(0, a.width, step):
                    win = Window(c, r, min(step, a.width - c), min(step, a.height - r))
                    if not np.array_equal(a.read(window=win), b.read(window=win),
                                          equal_nan=True):
                        raise FileWriteError(f"COG: {win} read back from the file written "
                                             f"for {str(target)!r} differs from its tiles")
    except FileWriteError:
        raise
    except Exception as err:
        raise FileWriteError(f"COG: the file written for {str(target)!r} cannot be read back "
                             f"({type(err).__name__}: {err}); the write failed") from err


def to_zarr(
    ds: Any,
    path: str | os.PathLike,
    *,
    bands: Sequence[str] | None = None,
    client: Any = None,
    progress: bool | None = None,
) -> Path:
    """Write a raster Dataset as a Zarr store, tile by tile (one Zarr chunk per tile).

    xarray writes the store's metadata (coordinates, CRS as rioxarray's ``spatial_ref``,
    attributes); the tiles, computed as :func:`iter_tiles` streams them, are written chunk
    by chunk, read back and compared by digest, and the store is renamed into place
    (:func:`~spatialgamm.spatial.files.atomic_directory`). ``xarray.open_zarr(path)``
    reads it back lazily. The values are kept as computed (float64, NaN = nodata).

    Examples
    --------
    >>> from spatialgamm.spatial import predict_raster
    >>> to_zarr(predict_raster(fit, coast, resolution=50), "rongelap_50m.zarr").name
    'rongelap_50m.zarr'
    """
    import zarr

    path = Path(path)
    if path.suffix.lower() != ".zarr":
        raise ValueError(f"Zarr path: {str(path)!r} must end in .zarr")
    names = _bands(ds, bands)
    keep = [c for c in ds.coords if c in ("x", "y", "spatial_ref")]
    template = ds[names].reset_coords(drop=True).assign_coords({c: ds[c] for c in keep})
    chunks = {b: tuple(int(s[0]) for s in getattr(ds[b].data, "chunks", ds[b].shape))
              for b in names}
    encoding = {b: {"chunks": chunks[b]} for b in names}
    digests: list[tuple[str, tuple[slice, slice], bytes]] = []
    with atomic_directory(path, "Zarr store") as tmp:
        template.to_zarr(tmp, mode="w", compute=False, encoding=encoding, consolidated=True,
                         zarr_format=2)
        group = zarr.open_group(str(tmp), mode="r+")
        for r0, c0, blocks in iter_tiles(ds, names, client, progress):
            for b, block in blocks.items():
                block = np.ascontiguousarray(block, dtype=float)
                win = (slice(r0, r0 + block.shape[0]), slice(c0, c0 + block.shape[1]))
                group[b][win] = block
                digests.append((b, win, hashlib.sha256(block.tobytes()).digest()))
        _verify_zarr(tmp, digests, names, path)
    return path


def _verify_zarr(tmp: Path, digests: list[tuple[str, tuple[slice, slice], bytes]],
                 names: Sequence[str], target: Path) -> None:
    import xarray as xr
    import zarr

    try:
        group = zarr.open_group(str(tmp), mode="r")
        for b, win, digest in digests:
            got = np.ascontiguousarray(group[b][win], dtype=float)
            if hashlib.sha256(got.tobytes()).digest() != digest:
                raise FileWriteError(f"Zarr: {b}{win} read back from the store written for "
                                     f"{str(target)!r} differs from the data written")
        with xr.open_zarr(tmp) as back:
            missing = [b for b in names if b not in back.data_vars]
            if missing:
                raise FileWriteError(f"Zarr: the store written for {str(target)!r} lacks {missing}")
    except FileWriteError:
        raise
    except Exception as err:
        raise FileWriteError(f"Zarr: the store written for {str(target)!r} cannot be read back "
                             f"({type(err).__name__}: {err}); the write failed") from err


def register_accessor() -> None:
    """``ds.spatialgamm.to_cog(path)`` and ``ds.spatialgamm.to_zarr(path)`` on Datasets."""
    import xarray as xr

    if hasattr(xr.Dataset, "spatialgamm"):
        return

    @xr.register_dataset_accessor("spatialgamm")
    class _Writers:
        def __init__(self, ds: Any) -> None:
            self._ds = ds

        def to_cog(self, path: str | os.PathLike, **kwargs: Any) -> Path:
            return to_cog(self._ds, path, **kwargs)

        def to_zarr(self, path: str | os.PathLike, **kwargs: Any) -> Path:
            return to_zarr(self._ds, path, **kwargs)
