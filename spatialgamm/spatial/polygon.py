"""The area to map: accept the polygon forms users hold, repair or refuse them, buffer as sf.

Accepted: a shapely Polygon or MultiPolygon (holes respected), a LinearRing, a
GeoSeries/GeoDataFrame (dissolved into one geometry), or an (n, 2) array / two-column
DataFrame of ring coordinates such as a coastline (closed automatically).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from .crs import as_crs, crs_label, reconcile_polygon_crs

#: Segments per quarter circle in buffers: sf's st_buffer default (GEOS via sf uses 30, shapely
#: 16). With 30 the Rongelap buffer's bounding box equals sf's to 1e-7 m, with 16 it does not.
SF_QUAD_SEGS = 30

_POLYGONAL = (shapely.Polygon, shapely.MultiPolygon)


@dataclass(frozen=True)
class PolygonInput:
    """A polygon as read from the user: geometry, its CRS, and whether it could carry one."""

    geometry: shapely.Polygon | shapely.MultiPolygon
    crs: CRS | None
    has_crs_slot: bool  # True for GeoSeries/GeoDataFrame, whose missing CRS means "unknown"


def read_polygon(polygon: Any, coords: Sequence[str] | None = None) -> PolygonInput:
    """Read any accepted polygon form into a valid, non-empty (Multi)Polygon.

    Parameters
    ----------
    polygon : shapely geometry, GeoSeries, GeoDataFrame, ndarray or DataFrame
        The area. A coordinate array must be (n, 2) with n >= 3; a DataFrame must have two
        columns, or contain the columns named by ``coords``.
    coords : sequence of two str, optional
        Coordinate column names to look for in a DataFrame of ring coordinates.

    Returns
    -------
    PolygonInput

    Examples
    --------
    >>> import numpy as np
    >>> read_polygon(np.array([[0, 0], [1, 0], [1, 1]])).geometry.area
    0.5
    """
    import geopandas as gpd  # heavy import, only needed here

    if isinstance(polygon, (gpd.GeoSeries, gpd.GeoDataFrame)):
        geoms = polygon.geometry if isinstance(polygon, gpd.GeoDataFrame) else polygon
        if len(geoms) == 0 or geoms.is_empty.all():
            raise ValueError("polygon: the GeoSeries/GeoDataFrame has no (non-empty) geometry")
        geom = geoms.union_all()
        crs = as_crs(geoms.crs, "polygon CRS")
        return PolygonInput(clean_polygon(geom), crs, True)
    if isinstance(polygon, shapely.LinearRing):
        polygon = shapely.Polygon(polygon)
    if isinstance(polygon, BaseGeometry):
        return PolygonInput(clean_polygon(polygon), None, False)
    if isinstance(polygon, pd.DataFrame):
        ring = _ring_from_frame(polygon, coords)
    elif isinstance(polygon, (np.ndarray, list, tuple)):
        ring = np.asarray(polygon, dtype=float)
    else:
        raise TypeError(
            "polygon must be a shapely Polygon/MultiPolygon, a GeoSeries/GeoDataFrame, or an "
            f"(n, 2) array/DataFrame of ring coordinates; got {type(polygon).__name__}"
        )
    return PolygonInput(clean_polygon(_ring_polygon(ring)), None, False)


def _ring_from_frame(frame: pd.DataFrame, coords: Sequence[str] | None) -> np.ndarray:
    if coords is not None and all(c in frame.columns for c in coords):
        return frame[list(coords)].to_numpy(dtype=float)
    if frame.shape[1] == 2:
        return frame.to_numpy(dtype=float)
    raise ValueError(
        "polygon: a DataFrame of ring coordinates needs exactly two columns or the coordinate "
        f"columns {tuple(coords) if coords else '(x, y)'}; it has {list(frame.columns)}"
    )


def _ring_polygon(ring: np.ndarray) -> shapely.Polygon:
    if ring.ndim != 2 or ring.shape[1] != 2:
        raise ValueError(f"polygon: ring coordinates must be (n, 2), got shape {ring.shape}")
    if not np.isfinite(ring).all():
        raise ValueError("polygon: ring coordinates contain NaN or infinite values")
    if len(np.unique(ring, axis=0)) < 3:
        raise ValueError("polygon: a ring needs at least 3 distinct points")
    return shapely.Polygon(ring)  # shapely closes an open ring


def clean_polygon(geom: BaseGeometry) -> shapely.Polygon | shapely.MultiPolygon:
    """Return the polygonal part of ``geom``, repaired with ``make_valid`` if invalid.

    Raises ``ValueError`` for an empty or area-less geometry, ``TypeError`` for points/lines.

    Examples
    --------
    >>> import shapely, warnings
    >>> bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     round(clean_polygon(bowtie).area, 6)
    2.0
    """
    if geom.is_empty:
        raise ValueError("polygon is empty")
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        warnings.warn(
            f"polygon is not valid ({reason}); repaired with shapely.make_valid",
            UserWarning,
            stacklevel=3,
        )
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, _POLYGONAL) and p.area > 0]
    if not parts:
        if isinstance(geom, _POLYGONAL) or geom.geom_type == "GeometryCollection":
            raise ValueError("polygon has no area (after repair)")
        raise TypeError(f"polygon must be polygonal, got a {geom.geom_type}")
    out = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if out.is_empty or out.area <= 0:
        raise ValueError("polygon has no area (after repair)")
    return out


def polygon_in_crs(
    read: PolygonInput, target: CRS | None, fit_has_crs: bool
) -> shapely.Polygon | shapely.MultiPolygon:
    """The polygon in the grid's CRS, reprojecting a GeoSeries/GeoDataFrame when needed.

    Vertices are reprojected (geopandas ``to_crs``); edges stay straight in the target CRS.
    """
    if not read.has_crs_slot:
        return read.geometry
    source = reconcile_polygon_crs(read.crs, target, fit_has_crs)
    if source is None:
        return read.geometry
    import geopandas as gpd

    moved = gpd.GeoSeries([read.geometry], crs=source).to_crs(target).iloc[0]
    if not np.isfinite(shapely.bounds(moved)).all():
        raise ValueError(
            f"polygon: reprojecting from {crs_label(source)} to {crs_label(target)} gave "
            "non-finite coordinates (is the polygon inside the target CRS's area of use?)"
        )
    return clean_polygon(moved)


def buffer_polygon(
    geom: shapely.Polygon | shapely.MultiPolygon, distance: float
) -> shapely.Polygon | shapely.MultiPolygon:
    """Buffer as sf's ``st_buffer(x, dist)`` does for planar coordinates (GEOS, 30 segments).

    Examples
    --------
    >>> import shapely
    >>> buffer_polygon(shapely.box(0, 0, 1, 1), 0.5).bounds
    (-0.5, -0.5, 1.5, 1.5)
    """
    distance = float(distance)
    if not np.isfinite(distance):
        raise ValueError(f"buffer must be a finite number, got {distance!r}")
    if distance == 0.0:
        return geom
    out = shapely.buffer(geom, distance, quad_segs=SF_QUAD_SEGS)
    if out.is_empty:
        raise ValueError(f"buffer={distance} leaves nothing of the polygon")
    return clean_polygon(out)
