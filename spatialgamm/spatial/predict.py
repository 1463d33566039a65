"""``predict_grid``: predict any fitted model over a grid covering a polygon.

The fit is used only through the prediction protocol (docs/ARCHITECTURE.md, "Predictions"):
``fit.predict(newdata, type='link', se_fit=True, offset=...)`` returning columns ``fit`` and
``se_fit``, ``fit.family.link`` (``linkinv``, ``mu_eta``, ``linkfun``), ``fit.spatial_coords``
and ``fit.crs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .grid import GridSpec
from .gridprediction import GridPrediction
from .guards import check_grid_cost, warn_extrapolation
from .plan import GridOptions, GridPlan, check_flag, plan_grid
from .tiles import kept_cells
from .values import predict_values

__all__ = ["GridOptions", "GridPlan", "plan_grid", "predict_grid", "predict_values"]


def predict_grid(
    fit: Any,
    polygon: Any,
    n: int | Sequence[int] | None = None,
    *,
    cellsize: float | Sequence[float] | None = None,
    progress: bool | None = None,
    allow_large: bool = False,
    **options: Any,
) -> GridPrediction:
    """Predict a fitted model over a regular grid covering a polygon (a map, ready for GIS).

    The grid covers the bounding box of the polygon buffered by ``buffer``: ``n=(nx, ny)``
    equal cells from its lower-left corner (sf's ``st_make_grid(x, n=)``), or cells of size
    ``cellsize`` (sf's ``st_make_grid(x, cellsize=)``). Cells that intersect the buffered
    polygon (touching counts, as sf's ``st_intersects``) are kept and predicted at their
    centroids. Buffers use 30 segments per quarter circle, as sf's ``st_buffer``.

    Parameters
    ----------
    fit : fitted model
        Anything with the prediction protocol above.
    polygon : shapely (Multi)Polygon, GeoSeries, GeoDataFrame, (n, 2) array or DataFrame
        The area; holes are respected; several features are dissolved; a coordinate ring is
        closed automatically; an invalid geometry is repaired (with a warning).
    n : int or (int, int), optional
        Number of cells in x and y. Give ``n`` or ``cellsize``.
    cellsize : float or (float, float), optional
        Cell width (and height), in the coordinates' units.
    progress : bool, optional
        Progress bar (tqdm); None shows one when there are more than 10 chunks.
    allow_large : bool
        Run grids whose estimated memory exceeds 4 GB (or half the machine's memory); they
        are refused by default, before any work, with the estimated memory and time
        (:class:`GridTooLargeError`).
    **options
        The grid options shared with ``predict_geotiff`` and ``predict_raster`` (see
        :class:`~spatialgamm.spatial.plan.GridOptions`): ``buffer``, ``type`` ('response'
        or 'link'), ``level``, ``exceedance`` (thresholds: bands ``p_exceed_<c>``),
        ``coords``, ``covariates``, ``offset``, ``crop``, ``crs``, ``chunk_size``,
        ``units``, ``extrapolate``.

    Returns
    -------
    GridPrediction

    Examples
    --------
    >>> grid = predict_grid(fit, coastline, n=(150, 75), buffer=50,
    ...                     exceedance=[10], units="counts/s")
    >>> grid.bands[:3]
    ('estimate', 'se', 'lower')
    >>> grid.to_geotiff("rongelap.tif").name
    'rongelap.tif'
    >>> fig = grid.plot_pair()
    """
    opts = GridOptions.from_keywords("predict_grid", options)
    plan = plan_grid(fit, polygon, n, cellsize, opts)
    allow_large = check_flag(allow_large, "allow_large")
    check_grid_cost(plan.spec, plan.buffered, 4 + len(plan.thresholds), allow_large)
    i, j, inside = kept_cells(plan)  # by rasterisation, tile by tile (see cellmask.py)
    if len(i) == 0:  # cannot happen for a non-empty polygon, but never return an empty map silently
        raise ValueError("no grid cell intersects the polygon")
    x, y = plan.spec.centroids(i, j)
    warn_extrapolation(plan.extent, x, y, plan.extrapolate)
    values = predict_values(plan, x, y, progress)
    return _assemble(
        plan.spec, i, j, x, y, inside, values, plan.names,
        dict(
            crs=plan.crs, type=opts.type, level=float(opts.level), offset=plan.offset,
            exceedance=plan.thresholds, link=plan.link_name, polygon=plan.area,
            buffer=float(opts.buffer), crop=bool(opts.crop), units=opts.units,
            grid={"n": n, "cellsize": cellsize}, has_offset=plan.has_offset,
        ),
    )  # fmt: skip


def _assemble(
    spec: GridSpec,
    i: np.ndarray,
    j: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    inside: np.ndarray,
    values: dict[str, np.ndarray],
    xy_names: tuple[str, str],
    meta: dict[str, Any],
) -> GridPrediction:
    row = spec.ny - 1 - j  # north-up: raster row 0 is the top row of cells
    table = {xy_names[0]: x, xy_names[1]: y, **values, "inside": inside, "row": row, "col": i}
    shown = inside if meta["crop"] else np.ones(len(i), dtype=bool)
    raster: dict[str, np.ndarray] = {}
    for band, v in values.items():
        grid = np.full(spec.shape, np.nan)
        grid[row[shown], i[shown]] = v[shown]
        raster[band] = grid
    return GridPrediction(
        table=table,
        spec=spec,
        raster=raster,
        transform=spec.transform,
        bands=tuple(values),
        coords=xy_names,
        **meta,
    )
