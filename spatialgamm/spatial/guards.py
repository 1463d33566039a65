"""Checks ``predict_grid`` makes before and after gridding: extrapolation and the grid's cost.

A map of a polygon far from the data shows only the model's extrapolation (for a spatial
field: its mean, everywhere the same), and a polygon in the wrong coordinates (lon/lat for a
fit in metres) does not overlap the data at all; both looked like valid maps. A
grid of 4e8 cells ran for hours before running out of memory. Here:

- :func:`data_extent` reads where the data are (the fit's coordinate columns) and the fitted
  range, when the fit has one;
- :func:`check_overlap` refuses a polygon whose bounding box does not meet the data's;
- :func:`warn_extrapolation` warns when a tenth or more of the grid cells lie far outside the
  data's convex hull, with the distance in units of the fitted range (or of the data's
  extent);
- :func:`check_grid_cost` refuses, before any work, a grid whose estimated memory exceeds
  :data:`MAX_GRID_BYTES` (or half the machine's memory), quoting memory and time and
  pointing to the tiled path (:func:`~spatialgamm.spatial.predict_raster`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from .grid import GridSpec

#: Warn when grid cells lie farther than this many fitted ranges outside the data's hull.
EXTRAPOLATION_RANGES = 2.0
#: ... or, for fits without a range, farther than this fraction of the data's extent.
EXTRAPOLATION_EXTENT = 0.25
#: ... when at least this share of the cells does (a corner of a study area's bounding box
#: beyond scattered sites is usual; a polygon mostly away from the data is not).
EXTRAPOLATION_SHARE = 0.1

#: Refuse grids estimated to need more memory than this (or half the machine's memory).
MAX_GRID_BYTES = 4 * 1024**3
#: Memory per kept cell besides its bands (cell polygon in GEOS and the table's row; measured
#: 630 bytes per cell with 4 bands on a 1500 x 1000 grid).
BYTES_PER_CELL = 500
#: Time per cell of the grid's bounding box to test it against the polygon, and per kept cell
#: to predict (closed-form model) and assemble it: measured 5.9 and about 4 microseconds on
#: the 2-core test machine (a 1000 x 1000 grid over Rongelap; a fully kept 1500 x 1000 grid).
SECONDS_PER_GRID_CELL = 5e-6
SECONDS_PER_KEPT_CELL = 4e-6


class ExtrapolationWarning(UserWarning):
    """Grid cells lie far outside the data: the map there is the model's extrapolation."""


class GridTooLargeError(ValueError):
    """The grid would need more memory than allowed; nothing was computed."""


@dataclass(frozen=True)
class DataExtent:
    """Where the data are, and the length to measure distances from them in."""

    xy: np.ndarray  # (n, 2) finite data coordinates
    hull: Any  # shapely convex hull (a point or a line for degenerate data)
    range: float | None  # the fitted range, when the fit has one
    width: float  # the larger side of the data's bounding box

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        lo, hi = self.xy.min(axis=0), self.xy.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def in_units(self, distance: float) -> str:
        """A distance as a multiple of the range (or of the extent), in words."""
        if self.range:
            return f"{distance / self.range:.3g} times the fitted range ({self.range:.4g})"
        return f"{distance / self.width:.3g} times the data's extent ({self.width:.4g})"

    @property
    def limit(self) -> float:
        """Distance outside the hull beyond which cells count as extrapolation."""
        if self.range:
            return EXTRAPOLATION_RANGES * self.range
        return EXTRAPOLATION_EXTENT * self.width


def _frame_of(fit: Any) -> pd.DataFrame | None:
    """The data a fit was fitted to: ``fit.data`` or ``fit.spec.data`` (None if neither)."""
    for owner, name in ((fit, "data"), (getattr(fit, "spec", None), "data")):
        try:
            frame = getattr(owner, name, None)
        except Exception:  # a property that cannot answer: the fit has no data to show
            frame = None
        if isinstance(frame, pd.DataFrame):
            return frame
    return None


def _fitted_range(fit: Any) -> float | None:
    try:
        value = float(fit.range)
    except Exception:  # no range (no GP/SPDE term, several terms, a fake): use the extent
        return None
    return value if math.isfinite(value) and value > 0 else None


def data_extent(fit: Any, names: Sequence[str]) -> DataExtent | None:
    """The data's coordinates, hull, extent and the fitted range; None if the fit hides them."""
    frame = _frame_of(fit)
    if frame is None or not all(c in frame.columns for c in names):
        return None
    try:
        xy = frame[list(names)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return None
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return None
    width = float(np.ptp(xy, axis=0).max())
    hull = shapely.convex_hull(shapely.multipoints(xy))
    return DataExtent(xy, hull, _fitted_range(fit), width if width > 0 else 1.0)


def _looks_lonlat(bounds: Sequence[float]) -> bool:
    xmin, ymin, xmax, ymax = bounds
    return -180 <= xmin <= xmax <= 360 and -90 <= ymin <= ymax <= 90


def check_overlap(extent: DataExtent | None, area: Any, names: Sequence[str],
                  extrapolate: bool) -> None:
    """Refuse a polygon whose bounding box does not meet the data's (unless ``extrapolate``)."""
    if extent is None or extrapolate:
        return
    pxmin, pymin, pxmax, pymax = area.bounds
    dxmin, dymin, dxmax, dymax = extent.bounds
    gap_x = max(dxmin - pxmax, pxmin - dxmax, 0.0)
    gap_y = max(dymin - pymax, pymin - dymax, 0.0)
    if gap_x == 0.0 and gap_y == 0.0:
        return
    gap = math.hypot(gap_x, gap_y)
    hint = ""
    if _looks_lonlat(area.bounds) and not _looks_lonlat(extent.bounds):
        hint = (" The polygon's coordinates look like longitude/latitude and the data's do "
                "not: give the polygon as a GeoSeries with its CRS (it is then reprojected "
                "to the fit's CRS, or to crs=), or reproject it yourself.")
    raise ValueError(
        f"polygon: its extent (x {pxmin:.6g} .. {pxmax:.6g}, y {pymin:.6g} .. {pymax:.6g}) "
        f"does not overlap the data's ({names[0]} {dxmin:.6g} .. {dxmax:.6g}, {names[1]} "
        f"{dymin:.6g} .. {dymax:.6g}); it lies {gap:.4g} from them, "
        f"{extent.in_units(gap)}, so the map would be pure extrapolation.{hint} Pass "
        "extrapolate=True to map it anyway."
    )


def warn_extrapolation(extent: DataExtent | None, x: np.ndarray, y: np.ndarray,
                       extrapolate: bool) -> None:
    """Warn (:class:`ExtrapolationWarning`) when cells lie far outside the data's hull."""
    if extent is None or extrapolate or len(x) == 0:
        return
    hull = extent.hull
    shapely.prepare(hull)
    outside = ~shapely.intersects_xy(hull, x, y) if hull.area > 0 else np.ones(len(x), bool)
    if not outside.any():
        return
    dist = np.zeros(len(x))
    dist[outside] = shapely.distance(hull, shapely.points(x[outside], y[outside]))
    far = dist > extent.limit
    if far.mean() < EXTRAPOLATION_SHARE:
        return
    worst = float(dist.max())
    what = (f"{EXTRAPOLATION_RANGES:g} fitted ranges" if extent.range
            else f"{EXTRAPOLATION_EXTENT:g} of the data's extent")
    warnings.warn(
        f"predict_grid: {int(far.sum())} of {len(x)} grid cells lie more than {what} outside "
        f"the data (their convex hull); the farthest is {worst:.4g} away, "
        f"{extent.in_units(worst)}. There the map shows the model's extrapolation (for a "
        "spatial field: its mean, with the prior's uncertainty). Check that the polygon and "
        "the data share coordinates, or pass extrapolate=True if this is meant.",
        ExtrapolationWarning,
        stacklevel=3,
    )


def _memory_limit() -> float:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = float("inf")
    return float(min(MAX_GRID_BYTES, 0.5 * physical))


def grid_cost(spec: GridSpec, geom: Any, n_bands: int) -> tuple[float, float, float]:
    """(kept cells, bytes, seconds) estimated for a grid over ``geom``, without building it."""
    total = float(spec.nx) * float(spec.ny)
    left, right, bottom, top = spec.extent
    box_area = (right - left) * (top - bottom)
    share = min(1.0, geom.area / box_area) if box_area > 0 else 1.0
    # cells intersecting the polygon: its area share, plus a ring of cells along its boundary
    edge_cells = geom.length / min(spec.dx, spec.dy)
    kept = min(total, share * total + edge_cells)
    nbytes = total * 8 * n_bands + kept * (BYTES_PER_CELL + 8 * (n_bands + 6))
    return kept, nbytes, total * SECONDS_PER_GRID_CELL + kept * SECONDS_PER_KEPT_CELL


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


def _human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def check_grid_cost(spec: GridSpec, geom: Any, n_bands: int, allow_large: bool) -> None:
    """Refuse a grid too large for memory before any work (:class:`GridTooLargeError`)."""
    kept, nbytes, seconds = grid_cost(spec, geom, n_bands)
    limit = _memory_limit()
    if allow_large or nbytes <= limit:
        return
    shrink = math.sqrt(nbytes / limit) * 1.05
    nx, ny = max(1, int(spec.nx / shrink)), max(1, int(spec.ny / shrink))
    raise GridTooLargeError(
        f"predict_grid: a {spec.nx} x {spec.ny} grid ({spec.nx * spec.ny:,} cells, about "
        f"{kept:,.0f} of them over the polygon) would need about {_human_bytes(nbytes)} of "
        f"memory (limit {_human_bytes(limit)}) and at least {_human_seconds(seconds)} before "
        "the model's own predictions; refused before any work. Use fewer cells (e.g. "
        f"n=({nx}, {ny}), or a larger cellsize), or map it tile by tile in bounded memory "
        "(on dask, locally or on a cluster): spatialgamm.predict_raster(fit, polygon, n=..., "
        "chunks=512) then to_cog(ds, 'map.tif') or to_zarr(ds, 'map.zarr'), or without dask "
        "spatialgamm.spatial.predict_geotiff(fit, polygon, 'map.tif', n=..., tile=512). Pass "
        "allow_large=True to run it in memory anyway."
    )
