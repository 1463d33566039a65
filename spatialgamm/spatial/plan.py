"""What every grid front door shares: its options and the plan checked before any work.

:func:`~spatialgamm.spatial.predict_grid`, :func:`~spatialgamm.spatial.predict_geotiff` and
:func:`~spatialgamm.spatial.predict_raster` take the same keyword options
(:class:`GridOptions`) and lay out the same grid from them (:func:`plan_grid`): every argument
is checked, the polygon read and buffered, the grid laid out, before a cell is predicted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import shapely

from .covariates import Covariate, prepare_covariates
from .crs import grid_crs
from .grid import GridSpec, make_grid
from .guards import DataExtent, check_overlap, data_extent
from .polygon import buffer_polygon, polygon_in_crs, read_polygon
from .scale import check_thresholds, exceed_band, z_value


@dataclass(frozen=True)
class GridOptions:
    """The keyword options of every grid front door (``predict_grid``, ``predict_geotiff``,
    ``predict_raster``), with their defaults.

    Attributes
    ----------
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

    Examples
    --------
    >>> GridOptions.from_keywords("predict_grid", {"buffer": 50.0}).buffer
    50.0
    """

    buffer: float = 0.0
    type: str = "response"
    level: float = 0.95
    exceedance: Sequence[float] | None = None
    coords: Sequence[str] | None = None
    covariates: Mapping[str, Any] | None = None
    offset: float = 0.0
    crop: bool = True
    crs: Any = None
    chunk_size: int = 50_000
    units: str | None = None
    extrapolate: bool = False

    @classmethod
    def from_keywords(cls, caller: str, options: Mapping[str, Any]) -> GridOptions:
        """The options given to ``caller`` by keyword, refusing unknown names."""
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}; "
                            f"its grid options are {known}")
        return cls(**options)


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


def plan_grid(fit: Any, polygon: Any, n: Any, cellsize: Any, options: GridOptions) -> GridPlan:
    """Check every argument and lay out the grid (cheap: no cell is built or predicted)."""
    o = options
    type = o.type
    if type not in ("response", "link"):
        raise ValueError(f"type must be 'response' or 'link', got {type!r}")
    z = z_value(o.level)
    link = _link_of(fit)
    thresholds = check_thresholds(o.exceedance, link)
    offset = _check_offset(o.offset)
    chunk_size = _check_chunk_size(o.chunk_size)
    xy_names = _coordinate_names(fit, o.coords)
    extrapolate = check_flag(o.extrapolate, "extrapolate")

    target = grid_crs(getattr(fit, "crs", None), o.crs)
    read = read_polygon(polygon, coords=xy_names)
    area = polygon_in_crs(read, target, getattr(fit, "crs", None) is not None)
    buffered = buffer_polygon(area, o.buffer)
    extent = data_extent(fit, xy_names)
    check_overlap(extent, buffered, xy_names, extrapolate)
    spec = make_grid(buffered.bounds, n=n, cellsize=cellsize)
    sources = prepare_covariates(o.covariates, target)
    clash = [c.name for c in sources if c.name in xy_names]
    if clash:
        raise ValueError(f"covariates {clash} clash with the coordinate columns {xy_names}")
    shapely.prepare(area)
    return GridPlan(fit, type, z, link, thresholds, offset, chunk_size, xy_names, target, area,
                    buffered, extent, spec, sources, extrapolate)


def _link_of(fit: Any) -> Any:
    link = getattr(getattr(fit, "family", None), "link", None)
    missing = [a for a in ("linkinv", "mu_eta", "linkfun") if not hasattr(link, a)]
    if link is None or missing:
        raise TypeError(
            "fit must have family.link with linkinv, mu_eta and linkfun "
            f"(missing: {missing or ['family.link']})"
        )
    return link


def check_flag(value: Any, name: str) -> bool:
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


