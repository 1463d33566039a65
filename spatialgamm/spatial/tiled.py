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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .geotiff import write_geotiff_windows
from .grid import GridSpec, intersecting_cells, make_grid
from .gridprediction import band_units, geotiff_tags, scale_label
from .guards import warn_extrapolation
from .predict import GridPlan, plan_grid, predict_cells


def predict_geotiff(
    fit: Any,
    polygon: Any,
    path: str | os.PathLike,
    n: int | Sequence[int] | None = None,
    *,
    cellsize: float | Sequence[float] | None = None,
    buffer: float = 0.0,
    type: str = "response",
    level: float = 0.95,
    exceedance: Sequence[float] | None = None,
    coords: Sequence[str] | None = None,
    covariates: Mapping[str, Any] | None = None,
    offset: float = 0.0,
    crop: bool = True,
    crs: Any = None,
    tile: int = 512,
    chunk_size: int = 50_000,
    progress: bool | None = None,
    units: str | None = None,
    nodata: float = -9999.0,
    extrapolate: bool = False,
) -> Path:
    """Predict a fitted model over a grid and write it as a GeoTIFF, tile by tile.

    The arguments are those of :func:`~spatialgamm.spatial.predict_grid` (the grid, the
    bands, their scale) plus the output ``path``, ``nodata`` and the ``tile`` size; the
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
    >>> predict_geotiff(fit, coast, "rongelap_10m.tif", cellsize=10)  # doctest: +SKIP
    """
    plan = plan_grid(
        fit, polygon, n, cellsize=cellsize, buffer=buffer, type=type, level=level,
        exceedance=exceedance, coords=coords, covariates=covariates, offset=offset, crs=crs,
        chunk_size=chunk_size, extrapolate=extrapolate,
    )  # fmt: skip
    if not _whole_at_least(tile, 16):
        raise ValueError(f"tile must be a whole number of cells, at least 16; got {tile!r}")
    tile = int(tile)
    _warn_extrapolation_sampled(plan)
    spec = plan.spec
    blocks = [(r0, c0) for r0 in range(0, spec.ny, tile) for c0 in range(0, spec.nx, tile)]
    show = len(blocks) > 4 if progress is None else bool(progress)
    bands = plan.bands
    link = plan.link_name
    label = scale_label(type, link, plan.offset, plan.has_offset)
    tags = geotiff_tags(label, type, float(level), link, plan.names, plan.thresholds)
    return write_geotiff_windows(
        path, bands, spec.shape, spec.transform,
        _blocks(plan, blocks, tile, bool(crop), show), crs=plan.crs, nodata=nodata,
        units=band_units(bands, type, link, units), tags=tags,
    )  # fmt: skip


def _whole_at_least(value: Any, low: int) -> bool:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return float(value).is_integer() and value >= low


def _sub_spec(spec: GridSpec, r0: int, c0: int, tile: int) -> tuple[GridSpec, int, int]:
    """The block of raster rows ``r0..`` and columns ``c0..`` as a grid of its own."""
    c1 = min(c0 + tile, spec.nx)
    r1 = min(r0 + tile, spec.ny)
    j0, j1 = spec.ny - r1, spec.ny - r0  # rows from the bottom
    sub = GridSpec(spec.x_edges[c0 : c1 + 1], spec.y_edges[j0 : j1 + 1], spec.dx, spec.dy)
    return sub, r1 - r0, c1 - c0


def _blocks(
    plan: GridPlan, blocks: list[tuple[int, int]], tile: int, crop: bool, show: bool
) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """Predict block after block: ``(row0, col0, {band: block})``, NaN outside the map."""
    steps: Any = blocks
    if show:
        from tqdm.auto import tqdm

        steps = tqdm(blocks, desc="predicting tiles", unit="tile")
    for r0, c0 in steps:
        sub, h, w = _sub_spec(plan.spec, r0, c0, tile)
        out = {b: np.full((h, w), np.nan) for b in plan.bands}
        i, j = intersecting_cells(sub, plan.buffered)
        if len(i):
            x, y = sub.centroids(i, j)
            values, inside = predict_cells(plan, x, y, progress=False)
            shown = inside if crop else np.ones(len(i), dtype=bool)
            row = sub.ny - 1 - j
            for b in plan.bands:
                out[b][row[shown], i[shown]] = values[b][shown]
        yield r0, c0, out


def _warn_extrapolation_sampled(plan: GridPlan, n: int = 100) -> None:
    """The extrapolation warning of ``predict_grid``, judged on a coarse copy of the grid."""
    if plan.extent is None or plan.extrapolate:
        return
    coarse = make_grid(plan.buffered.bounds, n=(min(n, plan.spec.nx), min(n, plan.spec.ny)))
    i, j = intersecting_cells(coarse, plan.buffered)
    x, y = coarse.centroids(i, j)
    warn_extrapolation(plan.extent, x, y, plan.extrapolate)
