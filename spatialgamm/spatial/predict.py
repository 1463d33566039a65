"""``predict_grid``: predict any fitted model over a grid covering a polygon.

The fit is used only through the prediction protocol (docs/ARCHITECTURE.md, "Predictions"):
``fit.predict(newdata, type='link', se_fit=True, offset=...)`` returning columns ``fit`` and
``se_fit``, ``fit.family.link`` (``linkinv``, ``mu_eta``, ``linkfun``), ``fit.spatial_coords``
and ``fit.crs``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from .covariates import Covariate, prepare_covariates
from .crs import grid_crs
from .grid import GridSpec, make_grid
from .gridprediction import GridPrediction
from .guards import (
    DataExtent,
    check_grid_cost,
    check_overlap,
    data_extent,
    warn_extrapolation,
)
from .polygon import buffer_polygon, polygon_in_crs, read_polygon
from .scale import (
    check_thresholds,
    exceed_band,
    exceedance_probability,
    link_scale_columns,
    z_value,
)
from .tiles import kept_cells

#: Show a progress bar (progress=None) when prediction takes more chunks than this.
AUTO_PROGRESS_CHUNKS = 10


def predict_grid(
    fit: Any,
    polygon: Any,
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
    chunk_size: int = 50_000,
    progress: bool | None = None,
    units: str | None = None,
    extrapolate: bool = False,
    allow_large: bool = False,
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
    buffer : float
        Distance to buffer the polygon by before gridding (may be negative).
    type : {'response', 'link'}
        Scale of the estimates. On the response scale the standard error is the delta
        method's ``|dmu/deta| * se_eta`` and the interval is the link-scale interval
        transformed, ``linkinv(eta -+ z se_eta)``.
    level : float
        Interval level (0.95: lower and upper are 2.5% and 97.5% limits).
    exceedance : sequence of float, optional
        Thresholds c on the response scale (also with ``type='link'``); adds bands
        ``p_exceed_<c>`` = P(response > c), computed from the link-scale normal
        approximation: ``1 - Phi((g(c) - eta) / se_eta)`` for an increasing link (the mirror
        image for a decreasing one).
    coords : (str, str), optional
        Coordinate column names; default ``fit.spatial_coords``. One of the two is needed.
    covariates : dict, optional
        Other columns the fit needs: ``{'name': constant}`` or ``{'name': raster}`` with a
        GeoTIFF path or an ``(array, transform)`` pair sampled at the centroids.
    offset : float
        Link-scale offset for every cell. The default 0 predicts per unit exposure (e.g. a
        rate per second for counts with offset log(time)); the result says so.
    crop : bool
        Mask raster cells whose centroid lies outside the unbuffered polygon (the cells table
        keeps every intersecting cell, with a boolean column ``inside``).
    crs : optional
        CRS of the fit's coordinates when the fit records none (anything pyproj accepts).
        A GeoSeries/GeoDataFrame polygon is reprojected to the fit's CRS; plain shapely
        geometries and coordinate arrays are taken to be in the fit's coordinates.
    chunk_size : int
        Cells per call of ``fit.predict`` (bounds memory on large grids).
    progress : bool, optional
        Progress bar (tqdm); None shows one when there are more than 10 chunks.
    units : str, optional
        Units of the estimate (colour-bar labels and GeoTIFF ``units`` tags).
    extrapolate : bool
        Map a polygon whose extent does not overlap the data's at all (refused by default:
        usually a polygon in other coordinates, e.g. lon/lat for a fit in metres), and do not
        warn about cells far outside the data. Without it, a grid with a tenth or more of its
        cells more than 2 fitted ranges (fits with a GP/SPDE range) or a quarter of the
        data's extent (others) outside the data's convex hull gives an
        :class:`ExtrapolationWarning` quoting the distance.
        The data are the fit's coordinate columns (``fit.data`` or ``fit.spec.data``).
    allow_large : bool
        Run grids whose estimated memory exceeds 4 GB (or half the machine's memory); they
        are refused by default, before any work, with the estimated memory and time
        (:class:`GridTooLargeError`).

    Returns
    -------
    GridPrediction

    Examples
    --------
    >>> grid = predict_grid(fit, coastline, n=(150, 75), buffer=50,
    ...                     exceedance=[10], units="counts/s")  # doctest: +SKIP
    >>> grid.to_geotiff("rongelap.tif")  # doctest: +SKIP
    >>> grid.plot_pair()  # doctest: +SKIP
    """
    plan = plan_grid(
        fit, polygon, n, cellsize=cellsize, buffer=buffer, type=type, level=level,
        exceedance=exceedance, coords=coords, covariates=covariates, offset=offset, crs=crs,
        chunk_size=chunk_size, extrapolate=extrapolate,
    )  # fmt: skip
    allow_large = _check_flag(allow_large, "allow_large")
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
            crs=plan.crs, type=type, level=float(level), offset=plan.offset,
            exceedance=plan.thresholds, link=plan.link_name, polygon=plan.area,
            buffer=float(buffer), crop=bool(crop), units=units,
            grid={"n": n, "cellsize": cellsize}, has_offset=plan.has_offset,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class GridPlan:
    """Everything checked and prepared before any cell is predicted (see :func:`plan_grid`)."""

    fit: Any
    type: str
    z: float
    link: Any
    thresholds: tuple[float, ...]
    offset: float
    chunk_size: int
    names: tuple[str, str]
    crs: Any
    area: Any  # the unbuffered polygon in the grid's CRS
    buffered: Any
    extent: DataExtent | None
    spec: GridSpec
    sources: list[Covariate]
    extrapolate: bool

    @property
    def link_name(self) -> str:
        return str(getattr(self.link, "name", "unknown"))

    @property
    def has_offset(self) -> bool:
        return bool(getattr(self.fit, "has_offset", True))

    @property
    def bands(self) -> tuple[str, ...]:
        return ("estimate", "se", "lower", "upper", *(exceed_band(c) for c in self.thresholds))


def plan_grid(
    fit: Any,
    polygon: Any,
    n: Any,
    *,
    cellsize: Any,
    buffer: float,
    type: str,
    level: float,
    exceedance: Any,
    coords: Any,
    covariates: Any,
    offset: float,
    crs: Any,
    chunk_size: int,
    extrapolate: bool,
) -> GridPlan:
    """Check every argument and lay out the grid (cheap: no cell is built or predicted)."""
    if type not in ("response", "link"):
        raise ValueError(f"type must be 'response' or 'link', got {type!r}")
    z = z_value(level)
    link = _link_of(fit)
    thresholds = check_thresholds(exceedance, link)
    offset = _check_offset(offset)
    chunk_size = _check_chunk_size(chunk_size)
    xy_names = _coordinate_names(fit, coords)
    extrapolate = _check_flag(extrapolate, "extrapolate")

    target = grid_crs(getattr(fit, "crs", None), crs)
    read = read_polygon(polygon, coords=xy_names)
    area = polygon_in_crs(read, target, getattr(fit, "crs", None) is not None)
    buffered = buffer_polygon(area, buffer)
    extent = data_extent(fit, xy_names)
    check_overlap(extent, buffered, xy_names, extrapolate)
    spec = make_grid(buffered.bounds, n=n, cellsize=cellsize)
    sources = prepare_covariates(covariates, target)
    clash = [c.name for c in sources if c.name in xy_names]
    if clash:
        raise ValueError(f"covariates {clash} clash with the coordinate columns {xy_names}")
    shapely.prepare(area)
    return GridPlan(fit, type, z, link, thresholds, offset, chunk_size, xy_names, target, area,
                    buffered, extent, spec, sources, extrapolate)


def predict_values(
    plan: GridPlan, x: np.ndarray, y: np.ndarray, progress: bool | None
) -> dict[str, np.ndarray]:
    """The bands (estimate, se, lower, upper, p_exceed_<c>) at cell centres ``(x, y)``."""
    eta, se_eta = _predict_chunks(
        plan.fit, x, y, plan.names, plan.sources, plan.offset, plan.chunk_size, progress
    )
    values = link_scale_columns(eta, se_eta, plan.link, plan.type, plan.z)
    _warn_overflow(values, np.isfinite(eta))
    for c in plan.thresholds:
        values[exceed_band(c)] = exceedance_probability(eta, se_eta, plan.link, c)
    return values


def _warn_overflow(values: dict[str, np.ndarray], finite_eta: np.ndarray) -> None:
    """Say so when the inverse link overflows (e.g. exp of a large eta): never silent inf/NaN."""
    bad = np.zeros(len(finite_eta), dtype=bool)
    for v in values.values():
        bad |= finite_eta & ~np.isfinite(v)
    if bad.any():
        warnings.warn(
            f"the inverse link gives non-finite values at {int(bad.sum())} grid cells (link "
            "scale predictions too large?); check the model and its coordinates' units",
            UserWarning,
            stacklevel=3,
        )


def _link_of(fit: Any) -> Any:
    link = getattr(getattr(fit, "family", None), "link", None)
    missing = [a for a in ("linkinv", "mu_eta", "linkfun") if not hasattr(link, a)]
    if link is None or missing:
        raise TypeError(
            "fit must have family.link with linkinv, mu_eta and linkfun "
            f"(missing: {missing or ['family.link']})"
        )
    return link


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_offset(offset: Any) -> float:
    if isinstance(offset, (bool, np.bool_)) or np.ndim(offset) != 0:
        raise TypeError(f"offset must be one number (link scale), got {offset!r}")
    value = float(offset)
    if not math.isfinite(value):
        raise ValueError(f"offset must be finite, got {offset!r}")
    return value


def _check_chunk_size(chunk_size: Any) -> int:
    if isinstance(chunk_size, bool) or not float(chunk_size).is_integer() or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive whole number, got {chunk_size!r}")
    return int(chunk_size)


def _coordinate_names(fit: Any, coords: Sequence[str] | None) -> tuple[str, str]:
    fit_coords = getattr(fit, "spatial_coords", None)
    chosen = coords if coords is not None else fit_coords
    if chosen is None:
        raise ValueError(
            "the fit has no spatial coordinates (fit.spatial_coords is None); give "
            "coords=('x', 'y'), the names of the coordinate columns the model uses"
        )
    names = tuple(chosen)
    if len(names) != 2 or not all(isinstance(c, str) for c in names) or names[0] == names[1]:
        raise ValueError(f"coords must be two distinct column names, got {chosen!r}")
    if coords is not None and fit_coords is not None and tuple(fit_coords) != names:
        raise ValueError(
            f"coords={names} does not match the fit's spatial coordinates {tuple(fit_coords)}"
        )
    return names  # type: ignore[return-value]


def _predict_chunks(
    fit: Any,
    x: np.ndarray,
    y: np.ndarray,
    xy_names: tuple[str, str],
    sources: list[Covariate],
    offset: float,
    chunk_size: int,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Link-scale predictions and standard errors, ``chunk_size`` cells at a time."""
    n = len(x)
    eta, se = np.full(n, np.nan), np.full(n, np.nan)
    starts = range(0, n, chunk_size)
    show = len(starts) > AUTO_PROGRESS_CHUNKS if progress is None else bool(progress)
    if show:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), desc="predicting grid", unit="chunk")
    missing: dict[str, int] = {}
    for s in starts:
        sl = slice(s, min(s + chunk_size, n))
        frame = pd.DataFrame({xy_names[0]: x[sl], xy_names[1]: y[sl]})
        for src in sources:
            frame[src.name] = src.sample(x[sl], y[sl])
        ok = np.ones(len(frame), dtype=bool)
        for src in sources:
            bad = frame[src.name].isna().to_numpy()
            if bad.any():
                missing[src.name] = missing.get(src.name, 0) + int(bad.sum())
                ok &= ~bad
        if not ok.any():
            continue
        part = frame if ok.all() else frame[ok].reset_index(drop=True)
        e, s_e = _call_predict(fit, part, offset)
        idx = np.arange(sl.start, sl.stop)[ok]
        eta[idx], se[idx] = e, s_e
    for name, count in missing.items():
        warnings.warn(
            f"covariate {name!r}: {count} of {n} cells fall outside its raster or on nodata; "
            "their predictions are NaN (nodata on the map)",
            UserWarning,
            stacklevel=3,
        )
    return eta, se


def _call_predict(fit: Any, frame: pd.DataFrame, offset: float) -> tuple[np.ndarray, np.ndarray]:
    out = fit.predict(frame, type="link", se_fit=True, offset=offset)
    if not isinstance(out, pd.DataFrame) or not {"fit", "se_fit"} <= set(out.columns):
        raise TypeError(
            "fit.predict(..., se_fit=True) must return a DataFrame with columns 'fit' and 'se_fit'"
        )
    if len(out) != len(frame):
        raise ValueError(f"fit.predict returned {len(out)} rows for {len(frame)} grid cells")
    eta = out["fit"].to_numpy(dtype=float)
    se = out["se_fit"].to_numpy(dtype=float)
    if not (np.isfinite(eta).all() and np.isfinite(se).all()):
        raise ValueError(
            "fit.predict returned non-finite fit/se_fit at "
            f"{int((~np.isfinite(eta) | ~np.isfinite(se)).sum())} grid cells"
        )
    if (se < 0).any():
        raise ValueError("fit.predict returned negative standard errors")
    return eta, se


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
