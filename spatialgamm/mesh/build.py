"""``build_mesh``: INLA's ``inla.mesh.2d`` semantics on our own conforming Delaunay mesher.

Steps: check the arguments (:class:`Settings`); read the points and the boundary (one
polygon, or INLA's list ``[inner, outer]``); move everything to the canonical frame
(:mod:`.frame`); choose the inner domain (the boundary, or a (non-)convex hull of the points
pushed out by ``offset[0]``) and the outer extension (``boundary[1]``, or a convex ring
``offset[1]`` beyond the inner domain); merge the sites by ``cutoff`` and turn every ring into
constraint segments no longer than its region's ``max_edge`` (:mod:`.vertices`); refine
(:mod:`.refine`) until no triangle has an edge longer than ``max_edge`` or an angle below
``min_angle``; map the nodes back to the user's coordinates.

This module returns the :class:`~spatialgamm.mesh.Mesh` fields as a dict and imports nothing
from ``core`` (``Mesh.build`` is the public constructor that calls it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .domain import (
    automatic_extension,
    hull_domain,
    polygon_from,
    read_boundaries,
    rings_of,
    thin,
)
from .frame import Frame
from .hull import domain_width
from .projector import read_points
from .refine import MeshSizeError, refine
from .vertices import initial_vertices

#: Warn when cutoff leaves fewer mesh nodes at the data sites than this fraction of the
#: distinct sites (157 Rongelap sites on 10 nodes).
COLLAPSE_FRACTION = 0.5

#: Vertices per unit of (area / max_edge^2) that refinement produces (measured on squares,
#: hulls and coastlines: 1.6-2.7; the estimate uses the upper end).
NODES_PER_AREA = 2.7


class MeshWarning(UserWarning):
    """A mesh was built but is probably not what was meant (e.g. cutoff merged the sites)."""


# ---- arguments -----------------------------------------------------------------------------
def _pair(value: Any, name: str, allow_none_second: bool = False) -> tuple:
    """A scalar or a pair; a scalar means the same value for both regions."""
    if value is None:
        return (None, None)
    arr = np.atleast_1d(np.asarray(value, dtype=object))
    if arr.size == 1:
        return (arr[0], None if allow_none_second else arr[0])
    if arr.size != 2:
        raise ValueError(f"{name} must be one value or a pair (inner, outer); got {value!r}")
    return (arr[0], arr[1])


def _length(value: Any, name: str) -> float | None:
    """An offset/convex/concave value as a float (None kept); refuses what is not a number."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return out


@dataclass(frozen=True)
class Settings:
    """The checked length and angle arguments of :meth:`Mesh.build` (user's units)."""

    h0: float
    h1: float
    a0: float
    a1: float
    cutoff: float
    off0: float | None
    off1: float | None
    convex: float | None
    concave: float | None
    max_nodes: int

    @classmethod
    def read(cls, max_edge, offset, cutoff, min_angle, convex, concave, max_nodes) -> Settings:
        """Check the arguments before any work; errors name the argument and the value."""
        if max_edge is None:
            raise ValueError("max_edge is required: the longest triangle edge inside the "
                             "domain (and optionally in the extension), e.g. "
                             "max_edge=(300, 600)")
        h0, h1 = _pair(max_edge, "max_edge")
        try:
            h0, h1 = float(h0), float(h1)
        except (TypeError, ValueError):
            raise ValueError(f"max_edge must be numbers; got {max_edge!r}") from None
        if not (h0 > 0 and h1 > 0) or np.isnan(h0) or np.isnan(h1):
            raise ValueError(f"max_edge must be positive; got {max_edge!r}")
        a0, a1 = (float(a) for a in _pair(min_angle, "min_angle"))
        if not (0 <= a0 <= 30 and 0 <= a1 <= 30):
            raise ValueError(f"min_angle must lie in [0, 30] degrees (Delaunay refinement "
                             f"may not terminate above; 21 is guaranteed); got {min_angle!r}")
        cutoff = float(cutoff)
        if not cutoff >= 0 or not np.isfinite(cutoff):
            raise ValueError(f"cutoff must be a finite non-negative length; got {cutoff}")
        off0, off1 = _pair(offset, "offset", allow_none_second=True)
        if max_nodes is None or isinstance(max_nodes, bool) or not float(max_nodes) >= 1:
            raise ValueError(f"max_nodes must be a positive whole number; got {max_nodes!r}")
        return cls(h0, h1, a0, a1, cutoff, _length(off0, "offset[0]"),
                   _length(off1, "offset[1]"), _length(convex, "convex"),
                   _length(concave, "concave"), int(max_nodes))

    def in_frame(self, frame: Frame) -> Settings:
        """The same settings in the canonical frame (negative lengths are fractions)."""
        def scaled(v: float | None) -> float | None:
            return v if v is None or v < 0 else frame.length(v)

        return Settings(frame.length(self.h0), frame.length(self.h1), self.a0, self.a1,
                        frame.length(self.cutoff), scaled(self.off0), scaled(self.off1),
                        scaled(self.convex), scaled(self.concave), self.max_nodes)


def _check_containment(domain, xy: np.ndarray, name: str) -> None:
    inside = shapely.covers(domain, shapely.points(xy))
    if not inside.all():
        bad = np.nonzero(~inside)[0]
        i = int(bad[0])
        raise ValueError(
            f"{name} does not contain the data: {len(bad)} of {len(xy)} loc points "
            f"fall outside it (first: row {i} at ({xy[i, 0]:g}, {xy[i, 1]:g})); "
            f"buffer the boundary (e.g. boundary.buffer(50)) or omit it")


# ---- the public entry ------------------------------------------------------------------------
def build_mesh(loc: Any = None, boundary: Any = None, max_edge: Any = None,
               offset: Any = (-0.1, -0.1), cutoff: float = 0.0, min_angle: Any = 21.0,
               convex: float | None = None, concave: float | None = None,
               max_nodes: int = 200_000) -> dict:
    """The fields of a :class:`~spatialgamm.mesh.Mesh`; see :meth:`Mesh.build`.

    Arguments are checked in the user's units; the mesh is then built in a canonical frame
    (:mod:`.frame`: the data's rows sorted lexicographically, rings in shapely's normal form,
    coordinates moved to the origin, scaled to unit width and rounded), so the same data in
    any row order or unit give the same mesh, and mapped back.
    """
    s = Settings.read(max_edge, offset, cutoff, min_angle, convex, concave, max_nodes)
    xy = None if loc is None else read_points(loc, "loc")
    inner_user, outer_user = read_boundaries(boundary)
    if xy is not None and inner_user is not None:
        if outer_user is None:
            _check_containment(inner_user, xy, "boundary")
        else:  # INLA meshes sites in the extension too
            _check_containment(outer_user, xy, "boundary[1] (the outer boundary)")
    elif inner_user is None and (xy is None or len(xy) == 0):
        raise ValueError("give loc points or a boundary to mesh")

    bounds = None if inner_user is None else \
        (inner_user if outer_user is None else outer_user).bounds
    frame = Frame.around(xy, bounds, s.h0)
    order = None if xy is None else np.lexsort((xy[:, 1], xy[:, 0]))
    u = None if xy is None else frame.points(xy[order])
    inner_c, outer_c = frame.geometry(inner_user), frame.geometry(outer_user)
    built = _mesh_in_frame(u, inner_c, outer_c, s.in_frame(frame), frame,
                           user=dict(settings=s, xy=xy))

    # back to the user's coordinates: the boundaries' vertices and edges exactly as given
    nodes = frame.back_onto(built["nodes"], [inner_c, outer_c], [inner_user, outer_user])
    loc_to_node = built["loc_to_node"]
    if loc_to_node is not None:
        # sites that became nodes unmoved sit exactly at the user's coordinates
        exact = np.all(built["nodes"][loc_to_node] == u, axis=1)
        nodes[loc_to_node[exact]] = xy[order][exact]
        as_given = np.empty_like(loc_to_node)  # back to the rows as given
        as_given[order] = loc_to_node
        loc_to_node = as_given
    info = built["info"]
    thinned = info.pop("thinned")
    inner = inner_user if inner_user is not None and not thinned else \
        frame.geometry_back(built["inner"])
    outer = outer_user if outer_user is not None and not thinned else \
        frame.geometry_back(built["outer"])
    info.update(max_edge=(s.h0, s.h1), min_angle=(s.a0, s.a1), cutoff=s.cutoff,
                offset=(s.off0, s.off1), extension=info["extension"] * frame.scale,
                outer_given=outer_user is not None)
    return dict(nodes=nodes, triangles=built["triangles"], boundary=inner, outer=outer,
                loc_to_node=loc_to_node, triangle_region=built["region"], info=info)


def _warn_collapse(n_nodes: int, user: dict) -> None:
    """Warn when ``cutoff`` merges the data sites onto far fewer mesh nodes than sites."""
    xy = user["xy"]
    sites = np.unique(xy, axis=0)
    if len(sites) < 4 or n_nodes >= COLLAPSE_FRACTION * len(sites):
        return
    d, _ = cKDTree(sites).query(sites, k=2)
    nn = float(np.median(d[:, 1]))
    warnings.warn(
        f"cutoff={user['settings'].cutoff:g} merges the {len(sites)} distinct loc points "
        f"onto {n_nodes} mesh nodes: sites closer than the cutoff share one value of the "
        f"field, so it cannot vary between them. The median distance from a site to its "
        f"nearest neighbour is {nn:.4g}; use a cutoff well below it "
        f"(e.g. cutoff={0.5 * nn:.3g})", MeshWarning, stacklevel=5)


# ---- the mesher proper, in canonical coordinates ----------------------------------------------
def _domains(xy, boundary, outer_given, s: Settings):
    """Inner and outer rings (thinned by cutoff), the extension width and the domain width."""
    if boundary is not None:
        inner = boundary
        width = domain_width(np.asarray(inner.bounds).reshape(2, 2))
    else:
        width = domain_width(xy)
        inner = hull_domain(xy, s.h0, s.off0, s.convex, s.concave)
    width = max(width, domain_width(xy) if xy is not None else 0.0)
    inner_parts, thinned = thin(rings_of(inner), s.cutoff)
    if outer_given is None:
        outer, d1 = automatic_extension(inner_parts, s.off1, width, s.h1)
        outer_parts = [] if outer is None else rings_of(outer)
    else:
        d1 = 0.0
        outer_parts, thinned_out = thin(rings_of(outer_given), s.cutoff)
        outer = polygon_from(outer_parts)
        if thinned or thinned_out:
            if outer.contains_properly(polygon_from(inner_parts)):
                thinned = True
            else:  # thinning pushed the rings into one another: keep them as given
                inner_parts, outer_parts, thinned = rings_of(inner), rings_of(outer_given), False
                outer = polygon_from(outer_parts)
    return inner_parts, outer_parts, outer, d1, width, thinned


def _size_estimate(inner_poly, outer, v_points: int, s: Settings, user: dict) -> int:
    """Projected node count; refuses meshes beyond ``max_nodes`` before refining."""
    a_in = inner_poly.area
    a_out = (outer.area - a_in) if outer is not None else 0.0
    est = int(NODES_PER_AREA * (a_in / s.h0**2 + (a_out / s.h1**2 if np.isfinite(s.h1) else 0))
              + v_points)
    if est > s.max_nodes:
        f = np.sqrt(est / s.max_nodes)
        u = user["settings"]
        raise MeshSizeError(
            f"the mesh would have about {est:,} nodes, more than max_nodes={s.max_nodes:,}; "
            f"use a larger max_edge (about max_edge=({u.h0 * f:.3g}, {u.h1 * f:.3g})) or "
            f"raise max_nodes")
    return est


def _region_function(inner_poly, outer):
    """Region code of points: 0 in the inner domain, 1 in the extension, -1 outside."""
    shapely.prepare(inner_poly)
    if outer is not None:
        shapely.prepare(outer)

    def region_of(c: np.ndarray) -> np.ndarray:
        inn = shapely.contains_xy(inner_poly, c[:, 0], c[:, 1])
        if outer is None:
            return np.where(inn, 0, -1)
        out = shapely.contains_xy(outer, c[:, 0], c[:, 1])
        return np.where(inn, 0, np.where(out, 1, -1))

    return region_of


def _mesh_in_frame(xy, boundary, outer_given, s: Settings, frame: Frame, user: dict) -> dict:
    """Domains, initial vertices, size check and refinement, in canonical coordinates."""
    inner_parts, outer_parts, outer, d1, width, thinned = _domains(xy, boundary, outer_given, s)
    inner_rings = [r for rings in inner_parts for r in rings]
    outer_rings = [r for rings in outer_parts for r in rings]
    # Distances equal to the cutoff count as within it. Sites on a regular survey grid lie
    # exactly `cutoff` apart, where rounding (e.g. of coordinates converted from m to km)
    # would otherwise decide: the slack makes the mesh the same in any unit.
    tol = max(s.cutoff, 1e-9 * max(width, 1e-300)) * (1 + 1e-9)
    v = initial_vertices(xy, inner_rings + outer_rings,
                         [s.h0] * len(inner_rings) + [s.h1] * len(outer_rings), tol)
    if xy is not None:
        _warn_collapse(len(np.unique(v.loc_to_node)), user)
    inner_poly = polygon_from(inner_parts)
    est = _size_estimate(inner_poly, outer, len(v.points), s, user)
    res = refine(v.points, v.segments, v.vseg, v.is_input, v.small,
                 _region_function(inner_poly, outer), np.array([s.h0, s.h1]),
                 np.array([s.a0, s.a1]), s.max_nodes, estimate=est, origin=frame.origin,
                 scale=frame.scale)
    nodes, tris, loc_to_node = res.points, res.triangles, v.loc_to_node
    used = np.zeros(len(nodes), dtype=bool)
    used[tris.ravel()] = True
    if not used.all():  # drop vertices left outside the domain (should not happen)
        new_id = np.cumsum(used) - 1
        nodes, tris = nodes[used], new_id[tris]
        if loc_to_node is not None:
            loc_to_node = new_id[loc_to_node]
    info = dict(extension=d1, rounds=res.rounds, converged=res.converged, estimate=est,
                thinned=thinned)
    return dict(nodes=nodes, triangles=tris, inner=inner_poly, outer=outer,
                loc_to_node=loc_to_node, region=res.region, info=info)
