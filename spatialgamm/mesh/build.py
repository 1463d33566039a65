"""``build_mesh``: INLA's ``inla.mesh.2d`` semantics on our own conforming Delaunay mesher.

Steps: read the points and apply ``cutoff``; choose the inner domain (a given boundary, or
a (non-)convex hull of the points pushed out by ``offset[0]``) and the outer extension ring
``offset[1]`` beyond it; turn every ring into constraint segments no longer than the
region's ``max_edge``; refine (:mod:`.refine`) until no triangle has an edge longer than
``max_edge`` or an angle below ``min_angle``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .frame import Frame
from .hull import (
    as_polygon,
    convex_extension,
    domain_width,
    nonconvex_hull,
    resolve_length,
    subdivide_ring,
    thin_ring,
)
from .projector import read_points
from .refine import SMALL_INPUT_ANGLE, MeshSizeError, refine

#: Warn when cutoff leaves fewer mesh nodes at the data sites than this fraction of the
#: distinct sites (157 Rongelap sites on 10 nodes).
COLLAPSE_FRACTION = 0.5


class MeshWarning(UserWarning):
    """A mesh was built but is probably not what was meant (e.g. cutoff merged the sites)."""


#: Vertices per unit of (area / max_edge^2) that refinement produces (measured on squares,
#: hulls and coastlines: 1.6-2.7; the estimate uses the upper end).
NODES_PER_AREA = 2.7


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


def _read_loc(loc: Any) -> np.ndarray | None:
    return None if loc is None else read_points(loc, "loc")


def _rings_of(geom) -> list[list[np.ndarray]]:
    """Per polygon part: [exterior, *holes] as open coordinate arrays."""
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        rings = []
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords, dtype=float)[:-1]
            keep = np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]
            if len(xy[keep]) >= 3:
                rings.append(xy[keep])
        if rings:
            parts.append(rings)
    return parts


def _polygon_from(parts: list[list[np.ndarray]]):
    polys = [shapely.Polygon(r[0], r[1:]) for r in parts]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _merge_points(loc: np.ndarray, fixed: np.ndarray, tol: float):
    """Cutoff merging: a point within ``tol`` of a ring vertex or of an earlier kept point
    is merged into it. Returns (kept point indices into loc, map loc row -> ('fixed' index
    or -1, kept position or -1))."""
    n = len(loc)
    to_fixed = np.full(n, -1)
    if len(fixed):
        d, j = cKDTree(fixed).query(loc, k=2 if len(fixed) > 1 else 1)
        if d.ndim == 2:  # equidistant ring vertices: the first, not whichever rounding favours
            tie = d[:, 1] <= d[:, 0] * (1 + 1e-9)
            d, j = d[:, 0], np.where(tie, j.min(axis=1), j[:, 0])
        close = d <= tol
        to_fixed[close] = j[close]
    free = np.nonzero(to_fixed < 0)[0]
    to_kept = np.full(n, -1)
    kept: list[int] = []
    if len(free):
        sub = loc[free]
        nbrs = cKDTree(sub).query_ball_point(sub, r=tol)
        owner = np.full(len(free), -1)
        for i, nb in enumerate(nbrs):
            prior = sorted(j for j in nb if j < i and owner[j] == j)
            if prior:
                # the nearest kept point; of equidistant ones (sites on a grid) the first
                dist = np.hypot(*(sub[prior] - sub[i]).T)
                owner[i] = prior[int(np.argmax(dist <= dist.min() * (1 + 1e-9)))]
            else:
                owner[i] = i
        roots = np.nonzero(owner == np.arange(len(free)))[0]
        pos = np.full(len(free), -1)
        pos[roots] = np.arange(len(roots))
        to_kept[free] = pos[owner]
        kept = list(free[roots])
    return np.asarray(kept, dtype=int), to_fixed, to_kept


def _snap_to_rings(rings: list[np.ndarray], pts: np.ndarray, tol: float):
    """Insert points lying within ``tol`` of a ring edge into that ring (projected onto it).

    A point on (or next to) a boundary would otherwise force endless segment splitting.
    Returns the new rings, per ring the inserted point id of each vertex (-1 for ring
    vertices), and a mask of the points that were snapped.
    """
    snapped = np.zeros(len(pts), dtype=bool)
    out_rings, out_ids = [], []
    for xy in rings:
        ids = np.full(len(xy), -1)
        if len(pts):
            a, b = xy, np.roll(xy, -1, axis=0)
            ab = b - a
            L2 = np.einsum("ij,ij->i", ab, ab)
            mid = 0.5 * (a + b)
            reach = 0.5 * np.sqrt(L2.max()) + tol
            cand = cKDTree(mid).query_ball_point(pts, r=reach)
            ins_edge, ins_t, ins_pt = [], [], []
            for p, edges in enumerate(cand):
                if snapped[p] or not edges:
                    continue
                e = np.asarray(edges)
                t = np.clip(np.einsum("ij,ij->i", pts[p] - a[e], ab[e]) / L2[e], 0, 1)
                d = np.hypot(*(a[e] + t[:, None] * ab[e] - pts[p]).T)
                k = int(np.argmin(d))
                if d[k] <= tol and 0 < t[k] < 1:
                    ins_edge.append(e[k])
                    ins_t.append(t[k])
                    ins_pt.append(p)
                    snapped[p] = True
            if ins_pt:
                ins_edge, ins_t, ins_pt = map(np.asarray, (ins_edge, ins_t, ins_pt))
                new_xy = a[ins_edge] + ins_t[:, None] * ab[ins_edge]
                key = np.r_[np.arange(len(xy), dtype=float), ins_edge + ins_t]
                order = np.argsort(key, kind="stable")
                xy = np.vstack([xy, new_xy])[order]
                ids = np.r_[ids, ins_pt][order]
        out_rings.append(xy)
        out_ids.append(ids)
    return out_rings, out_ids, snapped


def _ring_segments(rings, ids, max_lens):
    """Subdivide rings into constraint segments; collect the per-vertex bookkeeping."""
    pts, segs, vseg, is_input, loc_id, small = [], [], [], [], [], []
    base = 0
    edge_base = 0
    for xy, rid, h in zip(rings, ids, max_lens):
        sub, edge = subdivide_ring(xy, h)
        m = len(sub)
        first = np.r_[True, edge[1:] != edge[:-1]]  # original ring vertices
        ge = edge + edge_base
        prev_edge = np.where(first, (edge - 1) % len(xy) + edge_base, -1)
        vseg.append(np.stack([ge, prev_edge], axis=1))
        is_input.append(first & (rid[edge] < 0))
        lid = np.full(m, -1)
        lid[first] = rid
        loc_id.append(lid)
        segs.append(np.stack([np.arange(m), (np.arange(m) + 1) % m], axis=1) + base)
        pts.append(sub)
        # input angle between the two ring edges at each original vertex
        u = np.roll(xy, 1, axis=0) - xy
        w = np.roll(xy, -1, axis=0) - xy
        cosang = np.einsum("ij,ij->i", u, w) / (np.hypot(*u.T) * np.hypot(*w.T))
        ang = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
        k = np.nonzero(ang < SMALL_INPUT_ANGLE)[0]
        e1 = (k - 1) % len(xy) + edge_base
        e2 = k + edge_base
        small.append(np.minimum(e1, e2).astype(np.int64) * (1 << 31) + np.maximum(e1, e2))
        base += m
        edge_base += len(xy)
    return (np.vstack(pts), np.vstack(segs), np.vstack(vseg), np.concatenate(is_input),
            np.concatenate(loc_id), np.concatenate(small))


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


def _check_containment(inner, xy: np.ndarray) -> None:
    inside = shapely.covers(inner, shapely.points(xy))
    if not inside.all():
        bad = np.nonzero(~inside)[0]
        i = int(bad[0])
        raise ValueError(
            f"boundary does not contain the data: {len(bad)} of {len(xy)} loc points "
            f"fall outside it (first: row {i} at ({xy[i, 0]:g}, {xy[i, 1]:g})); "
            f"buffer the boundary (e.g. boundary.buffer(50)) or omit it")


def build_mesh(loc: Any = None, boundary: Any = None, max_edge: Any = None,
               offset: Any = (-0.1, -0.1), cutoff: float = 0.0, min_angle: Any = 21.0,
               convex: float | None = None, concave: float | None = None,
               max_nodes: int = 200_000):
    """Build a :class:`~spatialgamm.mesh.Mesh`; see :meth:`Mesh.build` for the arguments.

    Arguments are checked in the user's units; the mesh is then built in a canonical frame
    (:mod:`.frame`: the data's rows sorted lexicographically, coordinates moved to the origin,
    scaled to unit width and rounded), so the same data in any row order or unit give the
    same mesh, and mapped back.
    """
    from .core import Mesh  # the class lives with its methods; build is its constructor

    xy = _read_loc(loc)
    if max_edge is None:
        raise ValueError("max_edge is required: the longest triangle edge inside the domain "
                         "(and optionally in the extension), e.g. max_edge=(300, 600)")
    h0, h1 = _pair(max_edge, "max_edge")
    try:
        h0, h1 = float(h0), float(h1)
    except (TypeError, ValueError):
        raise ValueError(f"max_edge must be numbers; got {max_edge!r}") from None
    if not (h0 > 0 and h1 > 0) or np.isnan(h0) or np.isnan(h1):
        raise ValueError(f"max_edge must be positive; got {max_edge!r}")
    a0, a1 = _pair(min_angle, "min_angle")
    a0, a1 = float(a0), float(a1)
    if not (0 <= a0 <= 30 and 0 <= a1 <= 30):
        raise ValueError(f"min_angle must lie in [0, 30] degrees (Delaunay refinement may "
                         f"not terminate above; 21 is guaranteed); got {min_angle!r}")
    cutoff = float(cutoff)
    if not cutoff >= 0 or not np.isfinite(cutoff):
        raise ValueError(f"cutoff must be a finite non-negative length; got {cutoff}")
    off0, off1 = _pair(offset, "offset", allow_none_second=True)
    off0, off1 = _length(off0, "offset[0]"), _length(off1, "offset[1]")
    convex, concave = _length(convex, "convex"), _length(concave, "concave")
    if max_nodes is None or isinstance(max_nodes, bool) or not float(max_nodes) >= 1:
        raise ValueError(f"max_nodes must be a positive whole number; got {max_nodes!r}")

    inner_user = None
    if boundary is not None:
        inner_user = as_polygon(boundary)
        if xy is not None:
            _check_containment(inner_user, xy)
    elif xy is None or len(xy) == 0:
        raise ValueError("give loc points or a boundary to mesh")

    # ---- the canonical frame: sorted rows, unit width, rounded ------------------------------
    frame = Frame.around(xy, None if inner_user is None else inner_user.bounds, h0)
    order = None if xy is None else np.lexsort((xy[:, 1], xy[:, 0]))
    u = None if xy is None else frame.points(xy[order])

    def scaled(v: float | None) -> float | None:  # negative lengths are fractions: unit-free
        return v if v is None or v < 0 else frame.length(v)

    inner_c = frame.geometry(inner_user)
    built = _mesh_in_frame(
        u, inner_c, frame.length(h0), frame.length(h1), a0, a1,
        frame.length(cutoff), scaled(off0), scaled(off1), scaled(convex), scaled(concave),
        int(max_nodes), frame, user=dict(max_edge=(h0, h1), cutoff=cutoff, xy=xy, order=order))
    nodes_c, tris, inner_poly, outer, loc_to_node, region, info = built
    # back to the user's coordinates: the boundary's vertices and edges exactly as given
    nodes = frame.back_onto(nodes_c, inner_c, inner_user)
    if loc_to_node is not None:
        # sites that became nodes unmoved sit exactly at the user's coordinates
        exact = np.all(nodes_c[loc_to_node] == u, axis=1)
        nodes[loc_to_node[exact]] = xy[order][exact]
        as_given = np.empty_like(loc_to_node)  # back to the rows as given
        as_given[order] = loc_to_node
        loc_to_node = as_given
    if inner_user is not None and not info.pop("thinned"):
        inner_poly = inner_user
    else:
        info.pop("thinned", None)
        inner_poly = frame.geometry_back(inner_poly)
    info.update(max_edge=(h0, h1), min_angle=(a0, a1), cutoff=cutoff, offset=(off0, off1),
                extension=info["extension"] * frame.scale)
    return Mesh(nodes=nodes, triangles=tris, boundary=inner_poly,
                outer=frame.geometry_back(outer), loc_to_node=loc_to_node,
                triangle_region=region, info=info)


def _warn_collapse(n_nodes: int, user: dict) -> None:
    """Warn when ``cutoff`` merges the data sites onto far fewer mesh nodes than sites."""
    xy = user["xy"]
    sites = np.unique(xy, axis=0)
    if len(sites) < 4 or n_nodes >= COLLAPSE_FRACTION * len(sites):
        return
    d, _ = cKDTree(sites).query(sites, k=2)
    nn = float(np.median(d[:, 1]))
    warnings.warn(
        f"cutoff={user['cutoff']:g} merges the {len(sites)} distinct loc points onto "
        f"{n_nodes} mesh nodes: sites closer than the cutoff share one value of the field, "
        f"so it cannot vary between them. The median distance from a site to its nearest "
        f"neighbour is {nn:.4g}; use a cutoff well below it (e.g. cutoff={0.5 * nn:.3g})",
        MeshWarning, stacklevel=5)


def _mesh_in_frame(xy, boundary, h0, h1, a0, a1, cutoff, off0, off1, convex, concave,
                   max_nodes, frame, user):
    """The mesher proper, in canonical coordinates (sorted rows; see :mod:`.frame`)."""
    # ---- inner domain --------------------------------------------------------------------
    if boundary is not None:
        inner = boundary
        width = domain_width(np.asarray(inner.bounds).reshape(2, 2))
    else:
        width = domain_width(xy)
        if convex is not None or concave is not None:
            conv = convex if convex is not None else (off0 if off0 is not None else -0.1)
            inner = nonconvex_hull(xy, convex=conv, concave=concave)
        else:
            d0 = resolve_length(off0 if off0 is not None else 0.0, width)
            hull = shapely.convex_hull(shapely.multipoints(xy))
            if d0 <= 0 and hull.area <= 0:
                raise ValueError("loc points are collinear: give a positive offset[0] or a "
                                 "boundary")
            inner = hull.buffer(d0, quad_segs=4) if d0 > 0 else hull
            if d0 > 0:
                inner = inner.simplify(min(0.1 * h0, 0.2 * d0), preserve_topology=True)
        inner = as_polygon(inner, name="the inner hull", repair=True)
    width = max(width, domain_width(xy) if xy is not None else 0.0)
    eps = 1e-9 * max(width, 1e-300)

    # ---- rings: thin by cutoff, snap nearby points onto them -----------------------------
    parts = _rings_of(inner)
    was_thinned = False
    if cutoff > 0:
        thinned = [[thin_ring(r, cutoff) for r in rings] for rings in parts]
        cand = _polygon_from(thinned)
        if cand.is_valid:
            was_thinned = any(len(t) != len(r) for ts, rs in zip(thinned, parts)
                              for t, r in zip(ts, rs))
            parts = thinned
    inner_rings = [r for rings in parts for r in rings]

    outer = None
    d1 = resolve_length(off1, width) if off1 is not None else 0.0
    if d1 > 0:
        outer = convex_extension(_polygon_from(parts), d1, tol=0.1 * min(h1, d1))
    outer_rings = [] if outer is None else [r for rings in _rings_of(outer) for r in rings]

    fixed = np.vstack(inner_rings + outer_rings)
    # Distances equal to the cutoff count as within it. Sites on a regular survey grid lie
    # exactly `cutoff` apart, where rounding (e.g. of coordinates converted from m to km)
    # would otherwise decide: the slack makes the mesh the same in any unit.
    tol = max(cutoff, eps) * (1 + 1e-9)
    if xy is not None:
        kept, to_fixed, to_kept = _merge_points(xy, fixed, tol)
        free = xy[kept]
    else:
        kept, to_fixed, to_kept = np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
        free = np.zeros((0, 2))
    rings = inner_rings + outer_rings
    rings, ring_ids, snapped = _snap_to_rings(rings, free, tol)
    lens = [h0] * len(inner_rings) + [h1] * len(outer_rings)
    pts, segs, vseg, is_input, ring_loc, small = _ring_segments(rings, ring_ids, lens)

    # ---- map loc rows to vertices ---------------------------------------------------------
    # ring vertex index of each fixed (original ring) vertex: match by coordinates
    loc_to_node = None
    free_idx = np.nonzero(~snapped)[0]
    node_of_kept = np.full(len(free), -1)
    node_of_kept[free_idx] = len(pts) + np.arange(len(free_idx))
    ring_pos = np.nonzero(ring_loc >= 0)[0]
    node_of_kept[ring_loc[ring_pos]] = ring_pos
    if xy is not None:
        loc_to_node = np.full(len(xy), -1)
        use_kept = to_kept >= 0
        loc_to_node[use_kept] = node_of_kept[to_kept[use_kept]]
        if (to_fixed >= 0).any():
            _, j = cKDTree(pts).query(fixed[to_fixed[to_fixed >= 0]])
            loc_to_node[to_fixed >= 0] = j
    if xy is not None:
        _warn_collapse(len(np.unique(loc_to_node)), user)
    points = np.vstack([pts, free[free_idx]])
    vseg = np.vstack([vseg, np.full((len(free_idx), 2), -1)])
    is_input = np.r_[is_input, np.zeros(len(free_idx), dtype=bool)]

    # ---- size estimate and refinement ---------------------------------------------------
    inner_poly = _polygon_from(parts)
    a_in = inner_poly.area
    a_out = (outer.area - a_in) if outer is not None else 0.0
    est = int(NODES_PER_AREA * (a_in / h0**2 + (a_out / h1**2 if np.isfinite(h1) else 0))
              + len(points))
    if est > max_nodes:
        s = np.sqrt(est / max_nodes)
        u0, u1 = user["max_edge"]
        raise MeshSizeError(
            f"the mesh would have about {est:,} nodes, more than max_nodes={max_nodes:,}; use "
            f"a larger max_edge (about max_edge=({u0 * s:.3g}, {u1 * s:.3g})) or raise "
            f"max_nodes")
    prep_inner = inner_poly
    shapely.prepare(prep_inner)
    prep_outer = outer
    if prep_outer is not None:
        shapely.prepare(prep_outer)

    def region_of(c: np.ndarray) -> np.ndarray:
        inn = shapely.contains_xy(prep_inner, c[:, 0], c[:, 1])
        if prep_outer is None:
            return np.where(inn, 0, -1)
        out = shapely.contains_xy(prep_outer, c[:, 0], c[:, 1])
        return np.where(inn, 0, np.where(out, 1, -1))

    res = refine(points, segs, vseg, is_input, small, region_of, np.array([h0, h1]),
                 np.array([a0, a1]), max_nodes, estimate=est, origin=frame.origin,
                 scale=frame.scale)
    nodes, tris = res.points, res.triangles
    used = np.zeros(len(nodes), dtype=bool)
    used[tris.ravel()] = True
    if not used.all():  # drop vertices left outside the domain (should not happen)
        new_id = np.cumsum(used) - 1
        nodes, tris = nodes[used], new_id[tris]
        if loc_to_node is not None:
            loc_to_node = new_id[loc_to_node]
    info = dict(extension=d1, rounds=res.rounds, converged=res.converged, estimate=est,
                thinned=was_thinned)
    return nodes, tris, inner_poly, outer, loc_to_node, res.region, info
