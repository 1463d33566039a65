"""Polygons for the mesh: user boundaries read and checked, (non-)convex hulls, extensions.

The geometric building blocks of INLA's two regions (an inner domain and an outer extension
beyond it, so that the Neumann boundary of the finite-element model sits far from the data):
reading a user's boundary into a valid polygon, INLA's non-convex hull (a morphological
closing), the convex extension ring, and splitting or thinning rings. Which region is which
is decided in :mod:`.domain`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from .projector import read_points

_POLYGONAL = (shapely.Polygon, shapely.MultiPolygon)


def as_polygon(boundary: Any, name: str = "boundary",
               repair: bool = False) -> shapely.Polygon | shapely.MultiPolygon:
    """Read a boundary into a valid, non-empty shapely (Multi)Polygon.

    Parameters
    ----------
    boundary : shapely (Multi)Polygon or LinearRing, GeoSeries, GeoDataFrame, (n, 2) array
        The domain. An (n, 2) array (or two-column DataFrame) is one ring such as a
        coastline; it is closed automatically and repeated points are dropped.
    name : str
        The argument name used in error messages.
    repair : bool
        Repair an invalid polygon with ``shapely.make_valid`` (for polygons built here);
        a user's invalid boundary (e.g. a self-intersecting ring) is refused with shapely's
        reason instead, since its repair may not be the area that was meant.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon

    Raises
    ------
    TypeError
        ``boundary`` is not polygonal (a LineString, points, ...).
    ValueError
        An invalid, empty or zero-area polygon, or a ring that is not (n, 2) finite numbers.

    Examples
    --------
    >>> as_polygon([[0, 0], [2, 0], [2, 1], [0, 1]]).area
    2.0
    """
    geom = None
    if isinstance(boundary, _POLYGONAL):
        geom = boundary
    elif isinstance(boundary, shapely.LinearRing):
        geom = shapely.Polygon(boundary)
    elif isinstance(boundary, BaseGeometry):
        raise TypeError(_not_polygon(name, boundary.geom_type))
    elif hasattr(boundary, "geometry") and hasattr(boundary, "crs"):  # GeoSeries / GeoDataFrame
        geoms = [g for g in np.asarray(boundary.geometry) if g is not None and not g.is_empty]
        if not geoms:
            raise ValueError(f"{name} holds no geometry")
        kinds = sorted({g.geom_type for g in geoms if not isinstance(g, _POLYGONAL)})
        if kinds:
            raise TypeError(_not_polygon(name, " and ".join(kinds)))
        geom = shapely.union_all(geoms)
    else:
        try:
            ring = np.asarray(boundary, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a polygon: a shapely Polygon/MultiPolygon, a GeoSeries or an "
                f"(n, 2) ring of coordinates; got {type(boundary).__name__}") from None
        if ring.ndim != 2 or ring.shape[1] != 2 or ring.shape[0] < 3:
            raise ValueError(f"{name} must be a shapely Polygon/MultiPolygon, a GeoSeries or "
                             f"an (n, 2) ring of coordinates with n >= 3; got shape "
                             f"{getattr(ring, 'shape', None)}")
        if not np.isfinite(ring).all():
            raise ValueError(f"{name} has non-finite coordinates")
        keep = np.r_[True, np.any(np.diff(ring, axis=0) != 0, axis=1)]  # drop repeated points
        geom = shapely.Polygon(ring[keep])
    if not isinstance(geom, _POLYGONAL):
        raise TypeError(_not_polygon(name, geom.geom_type))
    if geom.is_empty:
        raise ValueError(f"{name} is empty")
    if not geom.is_valid:  # before the area: a bowtie's two lobes cancel to zero area
        reason = explain_validity(geom)
        if not repair:
            raise ValueError(
                f"{name} is not a valid polygon: {reason} (shapely.validation."
                f"explain_validity). A self-intersecting ring (e.g. a coastline traced in the "
                f"wrong order) must be fixed; shapely.make_valid({name}) splits it into valid "
                f"parts if that is the area meant")
        fixed = shapely.make_valid(geom)
        polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, _POLYGONAL)]
        if not polys:
            raise ValueError(f"{name} is not a valid polygon: {reason}")
        geom = shapely.union_all(polys)
    if geom.is_empty or geom.area <= 0:
        raise ValueError(f"{name} has zero area")
    return geom


def _not_polygon(name: str, kind: str) -> str:
    return (f"{name} must be a polygon (shapely Polygon or MultiPolygon, or a closed ring "
            f"of coordinates); got a {kind}. A closed line can be made one with "
            f"shapely.Polygon(line.coords)")


def domain_width(xy: np.ndarray) -> float:
    """The larger side of the bounding box of ``xy``: INLA's scale for negative lengths."""
    span = np.ptp(np.asarray(xy, dtype=float).reshape(-1, 2), axis=0)
    return float(max(span.max(), 0.0))


def resolve_length(value: float, width: float) -> float:
    """A length as given, or ``-value * width`` when negative (a fraction of the domain)."""
    value = float(value)
    return -value * width if value < 0 else value


def nonconvex_hull(points: Any, convex: float = -0.15, concave: float | None = None,
                   resolution: int = 8, holes: bool = False
                   ) -> shapely.Polygon | shapely.MultiPolygon:
    """Non-convex hull: a morphological closing, as INLA's ``inla.nonconvex.hull``.

    The input is dilated by ``convex + concave`` and the result eroded by ``concave``
    (Lindgren's definition, documented for ``inla.nonconvex.hull`` and fmesher's
    ``fm_nonconvex_hull``): the hull keeps the input about ``convex`` inside its boundary
    (at least 90 % of it: the buffers are polygons and the ring is simplified by 5 % of
    ``convex``) and has no concavity sharper than radius ``concave``.

    Parameters
    ----------
    points : (n, 2) array_like, DataFrame, shapely geometry or GeoSeries
        Points (rows of coordinates), or an area: a shapely Polygon / MultiPolygon /
        LinearRing, or a *closed* ring of coordinates (first row equal to the last, e.g. a
        coastline as digitised), which is read as the polygon it encloses. The hull of an
        area covers the whole area, not just a band along its ring.
    convex : float
        Distance from the input to the hull. Negative: a fraction of the domain width
        (the larger side of the input's bounding box), as in INLA.
    concave : float, optional
        Minimum radius of curvature of concave parts; defaults to ``convex``. Negative: a
        fraction of the domain width.
    resolution : int
        Segments per quarter circle of the buffers.
    holes : bool
        Keep holes of the closing (gaps in a point cloud wider than about
        ``2 * (convex + concave)`` that the cloud surrounds). By default they are filled,
        as a mesh domain needs: a hole is an inner boundary of the SPDE model, and the
        vertices of a coastline would otherwise leave the land they enclose outside the hull.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    >>> hull = nonconvex_hull(pts, convex=1.0, concave=20.0)
    >>> bool(hull.contains(shapely.Point(5, 5)))
    True
    >>> ring = np.array([[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], dtype=float)
    >>> bool(nonconvex_hull(ring, convex=1.0).covers(shapely.Polygon(ring)))
    True
    """
    geom = _hull_input(points)
    width = domain_width(np.asarray(geom.bounds).reshape(2, 2))
    conv = resolve_length(convex, width)
    conc = conv if concave is None else resolve_length(concave, width)
    if not np.isfinite(conv) or conv <= 0:
        raise ValueError(f"convex must be positive (or a negative fraction); got {convex}")
    if not np.isfinite(conc) or conc < 0:
        raise ValueError(f"concave must be non-negative; got {concave}")
    if isinstance(geom, shapely.MultiPoint):  # one disc per distinct point, united
        xy = np.unique(shapely.get_coordinates(geom), axis=0)
        dilated = shapely.union_all(shapely.buffer(shapely.points(xy), conv + conc,
                                                   quad_segs=resolution))
    else:
        dilated = geom.buffer(conv + conc, quad_segs=resolution)
    hull = dilated.buffer(-conc, quad_segs=resolution) if conc > 0 else dilated
    if not holes:
        hull = _fill_holes(hull)
    # The erosion of a closing never cuts closer than `convex` to the input, so simplifying
    # by a small fraction of it keeps the input inside while dropping arc vertices.
    return shapely.normalize(hull.simplify(0.05 * conv, preserve_topology=True))


def _hull_input(points: Any):
    """The input of :func:`nonconvex_hull` as a MultiPoint or a polygonal/linear geometry."""
    if isinstance(points, BaseGeometry):
        geom = shapely.Polygon(points) if isinstance(points, shapely.LinearRing) else points
    elif hasattr(points, "geometry") and hasattr(points, "crs"):  # GeoSeries / GeoDataFrame
        geom = shapely.union_all([g for g in np.asarray(points.geometry) if g is not None])
    else:
        xy = read_points(points, "points")
        geom = shapely.multipoints(xy)
        if len(xy) >= 4 and np.array_equal(xy[0], xy[-1]):  # a closed ring: its area
            ring = shapely.Polygon(xy)
            if ring.is_valid and ring.area > 0:
                geom = ring
    if geom.is_empty:
        raise ValueError("points holds no coordinates")
    if isinstance(geom, shapely.Point):
        geom = shapely.multipoints([geom])
    # GEOS buffers a ring from its first vertex: the normal form makes the hull a function
    # of the area, not of where its ring starts or which way it runs
    return shapely.normalize(geom)


def _fill_holes(geom):
    """The union of the exteriors of a (Multi)Polygon's parts."""
    parts = [shapely.Polygon(p.exterior) for p in getattr(geom, "geoms", [geom])
             if isinstance(p, shapely.Polygon) and not p.is_empty]
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def convex_extension(geom: shapely.Geometry, offset: float, tol: float,
                     resolution: int = 4) -> shapely.Polygon:
    """Convex hull of ``geom`` pushed out by ``offset``, with few vertices.

    This is the shape of INLA's automatic extension: a convex ring around the domain.
    ``tol`` is the simplification tolerance (kept well below ``offset``, so the ring still
    encloses the domain).
    """
    ring = shapely.convex_hull(geom).buffer(offset, quad_segs=resolution)
    simple = ring.simplify(min(tol, 0.2 * offset), preserve_topology=True)
    return simple if simple.contains(geom) else ring


def thin_ring(xy: np.ndarray, min_dist: float) -> np.ndarray:
    """Drop ring vertices closer than ``min_dist`` to the last kept one (INLA's cutoff).

    Only neighbours along the ring are merged, so a narrow isthmus is never pinched.
    """
    if min_dist <= 0 or len(xy) <= 3:
        return xy
    min_dist *= 1 + 1e-9  # a distance equal to min_dist is within it, whatever the rounding
    keep = [0]
    for i in range(1, len(xy)):
        if np.hypot(*(xy[i] - xy[keep[-1]])) > min_dist:
            keep.append(i)
    while len(keep) > 3 and np.hypot(*(xy[keep[-1]] - xy[0])) <= min_dist:
        keep.pop()  # the ring closes back onto its first vertex
    return xy[keep] if len(keep) >= 3 else xy


def subdivide_ring(xy: np.ndarray, max_len: float) -> tuple[np.ndarray, np.ndarray]:
    """Split each ring edge into equal pieces no longer than ``max_len``.

    Returns
    -------
    points : (m, 2) ndarray
        The ring's vertices, original ones first in each edge.
    source : (m,) ndarray of int
        For each point, the index of the original ring edge it lies on (an original
        vertex gets the edge that starts at it).
    """
    nxt = np.roll(xy, -1, axis=0)
    length = np.hypot(*(nxt - xy).T)
    pieces = np.maximum(1, np.ceil(length / max_len * (1 - 1e-9))).astype(int)
    edge = np.repeat(np.arange(len(xy)), pieces)
    start = np.cumsum(pieces) - pieces
    t = (np.arange(pieces.sum()) - start[edge]) / pieces[edge]
    pts = xy[edge] + t[:, None] * (nxt[edge] - xy[edge])
    return pts, edge
