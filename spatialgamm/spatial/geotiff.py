"""Multi-band GeoTIFF output through rasterio: float32, CRS, transform, nodata, band names.

Files are DEFLATE-compressed, tiled (256 x 256) when the raster exceeds 256 cells in both
directions, and written atomically (temporary file + rename).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS
from rasterio.transform import Affine

from .files import atomic_path, check_suffix

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
    height, width = shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": len(names),
        "dtype": "float32",
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = rasterio.crs.CRS.from_wkt(crs.to_wkt())
    if height > _TILE and width > _TILE:
        profile.update(tiled=True, blockxsize=_TILE, blockysize=_TILE)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        _write_bands(dst, names, arrays, nodata, units or {})
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
    return path


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
