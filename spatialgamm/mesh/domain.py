"""The two regions INLA's ``inla.mesh.2d`` meshes: the inner domain and the outer extension.

``boundary`` is read as INLA reads it: one polygon (the inner domain; the extension is then
built ``offset[1]`` beyond it) or a list ``[inner, outer]`` of two nested polygons (the
extension is the part of ``outer`` outside ``inner``, and ``offset`` is not used). Without a
boundary the inner domain is a hull of the sites.

Rings are handed to the mesher in a canonical order (shapely's normal form: parts and holes
sorted, each ring starting at its lowest vertex with a fixed orientation), so the same
polygon given with its rings started elsewhere or traced the other way gives the same mesh.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .hull import (
    as_polygon,
    convex_extension,
    domain_width,
    nonconvex_hull,
    resolve_length,
    thin_ring,
)

Rings = list[list[np.ndarray]]  # per polygon part: [exterior, *holes], open rings


def _is_single_boundary(boundary: Any) -> bool:
    """A geometry, a GeoSeries or an (n, 2) ring, as opposed to a list of boundaries."""
    if not isinstance(boundary, (list, tuple)) or not boundary:
        return True
    if len(boundary) > 2:  # a list of polygons, or a ring of (x, y) pairs
        if all(isinstance(b, BaseGeometry) or hasattr(b, "geometry") for b in boundary):
            raise ValueError(f"boundary must be one polygon or a list [inner, outer] of two; "
                             f"got a list of {len(boundary)} geometries (unite the parts of "
                             f"one region with shapely.union_all)")
        return True
    for b in boundary:
        if b is None or isinstance(b, BaseGeometry) or hasattr(b, "geometry"):
            continue
        try:
            if np.asarray(b, dtype=float).ndim == 2:
                continue
        except (TypeError, ValueError):
            pass
        return True  # e.g. a ring written as a list of (x, y) pairs
    return False


def read_boundaries(boundary: Any):
    """``boundary`` as (inner, outer) shapely polygons; either may be None.

    Raises
    ------
    TypeError, ValueError
        A boundary that is not a valid polygon (named ``boundary`` or ``boundary[i]``), or an
        outer boundary that does not enclose the inner one with a gap.
    """
    if boundary is None:
        return None, None
    if _is_single_boundary(boundary):
        return as_polygon(boundary), None
    given = [None if b is None else as_polygon(b, name=f"boundary[{i}]")
             for i, b in enumerate(boundary)]
    inner, outer = (given + [None])[:2]
    if inner is None:
        raise ValueError("boundary[0] (the inner domain) is None; give a polygon, or only "
                         "boundary=outer for a mesh without an inner region")
    if outer is not None and not outer.contains_properly(inner):
        raise ValueError(
            "boundary[1] (the outer boundary) must enclose boundary[0] (the inner domain) "
            "with a gap: their rings may not touch or cross (e.g. nonconvex_hull(loc, "
            "convex=...) with a larger convex for the outer one)")
    return inner, outer


def rings_of(geom) -> Rings:
    """Per polygon part, [exterior, *holes] as open coordinate arrays, in canonical order."""
    parts = []
    for poly in getattr(shapely.normalize(geom), "geoms", [shapely.normalize(geom)]):
        rings = []
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords, dtype=float)[:-1]
            keep = np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]
            if len(xy[keep]) >= 3:
                rings.append(xy[keep])
        if rings:
            parts.append(rings)
    return parts


def polygon_from(parts: Rings):
    """The (Multi)Polygon of :func:`rings_of`'s output."""
    polys = [shapely.Polygon(r[0], r[1:]) for r in parts]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def thin(parts: Rings, cutoff: float) -> tuple[Rings, bool]:
    """Ring vertices closer than ``cutoff`` along their ring merged (INLA's cutoff).

    Returns the rings unchanged when thinning would make the polygon invalid, and whether
    anything was dropped.
    """
    if cutoff <= 0:
        return parts, False
    thinned = [[thin_ring(r, cutoff) for r in rings] for rings in parts]
    if not polygon_from(thinned).is_valid:
        return parts, False
    dropped = any(len(t) != len(r) for ts, rs in zip(thinned, parts) for t, r in zip(ts, rs))
    return thinned, dropped


def hull_domain(xy: np.ndarray, h0: float, off0: float | None, convex: float | None,
                concave: float | None):
    """The inner domain without a boundary: a (non-)convex hull of the sites.

    The convex hull is pushed out by ``offset[0]`` (simplified by a fraction of ``max_edge``
    and of the offset, so the ring does not carry hundreds of arc vertices); ``convex`` or
    ``concave`` ask for :func:`~.hull.nonconvex_hull` instead.
    """
    if convex is not None or concave is not None:
        conv = convex if convex is not None else (off0 if off0 is not None else -0.1)
        inner = nonconvex_hull(shapely.multipoints(xy), convex=conv, concave=concave)
    else:
        d0 = resolve_length(off0 if off0 is not None else 0.0, domain_width(xy))
        hull = shapely.convex_hull(shapely.multipoints(xy))
        if d0 <= 0 and hull.area <= 0:
            raise ValueError("loc points are collinear: give a positive offset[0] or a "
                             "boundary")
        inner = hull.buffer(d0, quad_segs=4) if d0 > 0 else hull
        if d0 > 0:
            inner = inner.simplify(min(0.1 * h0, 0.2 * d0), preserve_topology=True)
    return as_polygon(inner, name="the inner hull", repair=True)


def automatic_extension(inner_parts: Rings, off1: float | None, width: float, h1: float):
    """INLA's outer extension ``offset[1]`` beyond the inner domain (None when not asked)."""
    d1 = resolve_length(off1, width) if off1 is not None else 0.0
    if d1 <= 0:
        return None, 0.0
    return convex_extension(polygon_from(inner_parts), d1, tol=0.1 * min(h1, d1)), d1
