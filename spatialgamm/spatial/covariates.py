"""Covariates other than the coordinates that a fit needs on the grid: constants or rasters.

``covariates={'name': value}`` where value is

- a constant (number, string, bool): the same value in every cell;
- a raster: a path to a GeoTIFF (``pathlib.Path``, or a string ending in .tif/.tiff), an
  ``(array, transform)`` pair or an ``(array, transform, crs)`` triple (2-D array, rasterio
  ``Affine``). It is sampled at the cell centroids (the value of the raster cell containing
  the centroid). A raster with a CRS other than the grid's is sampled at the reprojected
  centroids; a raster without a CRS is taken to be in the grid's coordinates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from .crs import as_crs, crs_label, same_crs

_RASTER_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class ConstantCovariate:
    """The same value in every cell."""

    name: str
    value: Any

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.value, dtype=np.asarray(self.value).dtype)


@dataclass(frozen=True)
class RasterCovariate:
    """A single-band raster held in memory, sampled by the cell containing each point."""

    name: str
    values: np.ndarray  # 2-D float, NaN where nodata
    transform: Affine
    to_raster: Transformer | None  # grid CRS -> raster CRS, None when they agree

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.to_raster is not None:
            x, y = self.to_raster.transform(x, y)
        inv = ~self.transform  # map -> (col, row), written out (affine's `*` is deprecated)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        col_f, row_f = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
        col, row = np.floor(col_f), np.floor(row_f)
        h, w = self.values.shape
        ok = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        out = np.full(len(col), np.nan)
        out[ok] = self.values[row[ok].astype(np.intp), col[ok].astype(np.intp)]
        return out


Covariate = ConstantCovariate | RasterCovariate


def _is_raster_path(value: Any) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and value.lower().endswith(_RASTER_SUFFIXES)


def _read_raster_file(name: str, path: Any) -> tuple[np.ndarray, Affine, CRS | None]:
    import rasterio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"covariates[{name!r}]: raster file {str(path)!r} not found")
    with rasterio.open(path) as src:
        if src.count != 1:
            raise ValueError(
                f"covariates[{name!r}]: {path.name} has {src.count} bands; give a single-band "
                "raster, or an (array, transform) pair of the band you mean"
            )
        band = src.read(1, masked=True).astype(float)
        crs = as_crs(src.crs, f"covariates[{name!r}] CRS") if src.crs else None
        return band.filled(np.nan), src.transform, crs


def _raster_from_tuple(name: str, value: tuple) -> tuple[np.ndarray, Affine, CRS | None]:
    array, transform = value[0], value[1]
    crs = as_crs(value[2], f"covariates[{name!r}] CRS") if len(value) == 3 else None
    array = np.asarray(array, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"covariates[{name!r}]: the raster array must be 2-D, got {array.shape}")
    return array, transform, crs


def prepare_covariates(
    covariates: Mapping[str, Any] | None, grid_crs: CRS | None
) -> list[Covariate]:
    """Check ``covariates`` and load its rasters once, ready to sample chunk by chunk.

    Examples
    --------
    >>> import numpy as np
    >>> [c] = prepare_covariates({"year": 2020}, None)
    >>> c.sample(np.zeros(2), np.zeros(2))
    array([2020, 2020])
    """
    if covariates is None:
        return []
    if not isinstance(covariates, Mapping):
        raise TypeError("covariates must be a dict {column name: constant or raster}")
    out: list[Covariate] = []
    for name, value in covariates.items():
        if not isinstance(name, str):
            raise TypeError(f"covariates: column names must be strings, got {name!r}")
        if _is_raster_path(value):
            array, transform, crs = _read_raster_file(name, value)
        elif isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[1], Affine):
            array, transform, crs = _raster_from_tuple(name, value)
        elif np.ndim(value) == 0 and not isinstance(value, (dict, set)):
            if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
                raise ValueError(f"covariates[{name!r}] is missing (None/NaN); give a value")
            out.append(ConstantCovariate(name, value))
            continue
        else:
            raise TypeError(
                f"covariates[{name!r}] must be a constant, a GeoTIFF path, or an "
                f"(array, transform) pair; got {type(value).__name__}"
            )
        out.append(RasterCovariate(name, array, transform, _transformer(name, crs, grid_crs)))
    return out


def _transformer(name: str, raster_crs: CRS | None, grid_crs: CRS | None) -> Transformer | None:
    if raster_crs is None:
        return None  # documented: a raster without CRS is in the grid's coordinates
    if grid_crs is None:
        raise ValueError(
            f"covariates[{name!r}]: the raster has CRS {crs_label(raster_crs)} but the grid "
            "has none; pass crs= (the CRS of the fit's coordinates) to predict_grid"
        )
    if same_crs(raster_crs, grid_crs):
        return None
    return Transformer.from_crs(grid_crs, raster_crs, always_xy=True)
