"""``predict_geotiff``: a map too large for memory, predicted and written tile by tile.

:func:`~spatialgamm.spatial.predict_grid` keeps every cell (a polygon, a table row and the
raster bands) in memory and refuses grids that would not fit. This path lays out the same
grid, then predicts it one block of ``tile x tile`` raster cells at a time and writes each
block straight into a tiled GeoTIFF (:func:`~spatialgamm.spatial.geotiff.write_geotiff_windows`,
safe and verified like every file here). Memory is bounded by the tile, whatever the grid's
size; cell for cell the file holds what ``predict_grid(...).to_geotiff(...)`` writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .geotiff import write_geotiff_windows
from .grid import intersecting_cells, make_grid
from .gridprediction import band_units, geotiff_tags, scale_label
from .guards import warn_extrapolation
from .plan import GridOptions, GridPlan, plan_grid
from .tiles import Tile, bands_at, tile_block, tiles_of


def predict_geotiff(
    fit: Any,
    polygon: Any,
    path: str | os.PathLike,
    n: int | Sequence[int] | None = None,
    *,
    cellsize: float | Sequence[float] | None = None,
    tile: int = 512,
    progress: bool | None = None,
    nodata: float = -9999.0,
    **options: Any,
) -> Path:
    """Predict a fitted model over a grid and write it as a GeoTIFF, tile by tile.

    The arguments are those of :func:`~spatialgamm.spatial.predict_grid` (the grid, the
    bands, their scale: the grid options of
    :class:`~spatialgamm.spatial.plan.GridOptions`) plus the output ``path``, ``nodata``
    and the ``tile`` size; the
    result is the file ``predict_grid(...).to_geotiff(path)`` would write, without holding
    the grid in memory, so grids of any size can be mapped (``predict_grid`` refuses those
    that do not fit in memory). No cell table is made.

    Parameters
    ----------
    path : str or PathLike
        Output GeoTIFF (.tif/.tiff); written safely (an existing file survives a failure).
    tile : int
        Raster cells per side of one block (memory grows with ``tile**2``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> predict_geotiff(fit, coast, "rongelap_50m.tif", cellsize=50).name
    'rongelap_50m.tif'
    """
    opts = GridOptions.from_keywords("predict_geotiff", options)
    plan = plan_grid(fit, polygon, n, cellsize, opts)
    if not _whole_at_least(tile, 16):
        raise ValueError(f"tile must be a whole number of cells, at least 16; got {tile!r}")
    tile = int(tile)
    _warn_extrapolation_sampled(plan)
    spec = plan.spec
    tiles = [t for row in tiles_of(spec.shape, (tile, tile)) for t in row]
    show = len(tiles) > 4 if progress is None else bool(progress)
    bands = plan.bands
    link = plan.link_name
    label = scale_label(opts.type, link, plan.offset, plan.has_offset)
    tags = geotiff_tags(label, opts.type, float(opts.level), link, plan.names, plan.thresholds)
    return write_geotiff_windows(
        path, bands, spec.shape, spec.transform,
        _blocks(plan, tiles, bool(opts.crop), show), crs=plan.crs, nodata=nodata,
        units=band_units(bands, opts.type, link, opts.units), tags=tags,
    )  # fmt: skip


def _whole_at_least(value: Any, low: int) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return float(value).is_integer() and value >= low


def _blocks(
    plan: GridPlan, tiles: list[Tile], crop: bool, show: bool
) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Predict tile after tile: ``(row0, col0, {band: block})``, NaN outside the map."""
    steps: Any = tiles
    if show:
        from tqdm.auto import tqdm

        steps = tqdm(tiles, desc="predicting tiles", unit="tile")
    for t in steps:
        yield t.row0, t.col0, bands_at(tile_block(plan, t, crop), plan.bands)


def _warn_extrapolation_sampled(plan: GridPlan, n: int = 100) -> None:
    """The extrapolation warning of ``predict_grid``, judged on a coarse copy of the grid."""
    if plan.extent is None or plan.extrapolate:
        return
    coarse = make_grid(plan.buffered.bounds, n=(min(n, plan.spec.nx), min(n, plan.spec.ny)))
    i, j = intersecting_cells(coarse, plan.buffered)
    x, y = coarse.centroids(i, j)
    warn_extrapolation(plan.extent, x, y, plan.extrapolate)
