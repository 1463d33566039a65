"""Regular grids over a polygon, as sf's ``st_make_grid``, and the cells that intersect it.

Cells are numbered as sf numbers them: from the lower-left corner, x fastest
(cell ``k = j * nx + i`` has column ``i`` and row-from-the-bottom ``j``). Raster rows count
from the top (north-up), so raster row ``r = ny - 1 - j``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely

from .cellmask import window_masks
from .gridspec import GridSpec

__all__ = ["GridSpec", "intersecting_cells", "make_grid"]


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """sf's ``rep(value, length.out = 2)``: one number for both directions, or two."""
    vals = np.atleast_1d(np.asarray(value, dtype=float))
    if vals.ndim != 1 or len(vals) not in (1, 2):
        raise ValueError(f"{name} must be one number or a pair (x, y), got {value!r}")
    vals = np.resize(vals, 2)
    return float(vals[0]), float(vals[1])


def make_grid(
    bounds: Sequence[float],
    n: int | Sequence[int] | None = None,
    cellsize: float | Sequence[float] | None = None,
) -> GridSpec:
    """Grid over a bounding box, as ``sf::st_make_grid(x, n=)`` or ``st_make_grid(x, cellsize=)``.

    With ``n=(nx, ny)`` the box is split into nx by ny equal cells (cell size = extent / n);
    with ``cellsize`` cells of that size start at the lower-left corner, as many as needed to
    cover the box (``ceiling(extent / cellsize)``), so the grid may overhang to the top/right.

    Parameters
    ----------
    bounds : (xmin, ymin, xmax, ymax)
    n : int or (int, int), optional
        Number of cells in x and y.
    cellsize : float or (float, float), optional
        Cell width and height (one number: square cells).

    Examples
    --------
    >>> g = make_grid((0, 0, 10, 5), n=(5, 5))
    >>> g.dx, g.dy, g.shape
    (2.0, 1.0, (5, 5))
    >>> make_grid((0, 0, 10, 5), cellsize=3).shape
    (2, 4)
    """
    xmin, ymin, xmax, ymax = (float(b) for b in bounds)
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"the polygon's bounding box {tuple(bounds)} has no area")
    if (n is None) == (cellsize is None):
        raise ValueError("give exactly one of n=(nx, ny) or cellsize=")
    if n is not None:
        nx_f, ny_f = _pair(n, "n")
        if not (nx_f.is_integer() and ny_f.is_integer() and nx_f >= 1 and ny_f >= 1):
            raise ValueError(f"n must be positive whole numbers of cells, got {n!r}")
        nx, ny = int(nx_f), int(ny_f)
        # sf: seq(xmin, xmax, length.out = nx + 1); the last edge is exactly xmax
        xe, ye = np.linspace(xmin, xmax, nx + 1), np.linspace(ymin, ymax, ny + 1)
        return GridSpec(xe, ye, (xmax - xmin) / nx, (ymax - ymin) / ny)
    cx, cy = _pair(cellsize, "cellsize")
    if not (np.isfinite([cx, cy]).all() and cx > 0 and cy > 0):
        raise ValueError(f"cellsize must be positive, got {cellsize!r}")
    nx, ny = math.ceil((xmax - xmin) / cx), math.ceil((ymax - ymin) / cy)
    xe, ye = xmin + np.arange(nx + 1) * cx, ymin + np.arange(ny + 1) * cy
    return GridSpec(xe, ye, cx, cy)


def intersecting_cells(
    spec: GridSpec, geom: shapely.Geometry, rows: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``i`` and rows-from-the-bottom ``j`` of the cells that intersect ``geom``.

    "Intersect" is GEOS's (as sf's ``st_intersects``): a cell touching the polygon's boundary
    counts. Cells are found by rasterisation, a band of ``rows`` raster rows at a time
    (:func:`~spatialgamm.spatial.cellmask.window_masks`: GDAL's rasteriser away from the
    boundary, GEOS next to it), so memory stays bounded however large the grid is; the
    result is in sf's order (row by row from the bottom, x fastest).

    Examples
    --------
    >>> import shapely
    >>> spec = make_grid((0, 0, 4, 1), n=(4, 1))
    >>> intersecting_cells(spec, shapely.box(0, 0, 1, 1))[0]
    array([0, 1])
    """
    found_i, found_j = [], []
    for top in range(spec.ny, 0, -rows):  # from the bottom band up: sf's order
        r0 = max(0, top - rows)
        kept, _ = window_masks(spec, r0, 0, (top - r0, spec.nx), geom, None)
        jj, ii = np.nonzero(kept[::-1])  # flipped: rows from the bottom, x fastest
        found_i.append(ii)
        found_j.append(jj + spec.ny - top)
    return np.concatenate(found_i), np.concatenate(found_j)
