"""``build_mesh``: INLA's ``inla.mesh.2d`` semantics on our own conforming Delaunay mesher.

Steps: read the points and apply ``cutoff``; choose the inner domain (a given boundary, or
a (non-)convex hull of the points pushed out by ``offset[0]``) and the outer extension ring
``offset[1]`` beyond it; turn every ring into constraint segments no longer than the
region's ``max_edge``; refine (:mod:`.refine`) until no triangle has an edge longer than
``max_edge`` or an angle below ``min_angle``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

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
        d, j = cKDTree(fixed).query(loc)
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
            prior = [j for j in nb if j < i and owner[j] == j]
            if prior:
                dist = np.hypot(*(sub[prior] - sub[i]).T)
                owner[i] = prior[int(np.argmin(dist))]
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


def build_mesh(loc: Any = None, boundary: Any = None, max_edge: Any = None,
               offset: Any = (-0.1, -0.1), cutoff: float = 0.0, min_angle: Any = 21.0,
               convex: float | None = None, concave: float | None = None,
               max_nodes: int = 200_000):
    """Build a :class:`~spatialgamm.mesh.Mesh`; see :meth:`Mesh.build` for the arguments."""
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
    if not cutoff >= 0:
        raise ValueError(f"cutoff must be non-negative; got {cutoff}")
    off0, off1 = _pair(offset, "offset", allow_none_second=True)

    # ---- inner domain --------------------------------------------------------------------
    if boundary is not None:
        inner = as_polygon(boundary)
        width = domain_width(np.asarray(inner.bounds).reshape(2, 2))
        if xy is not None:
            inside = shapely.covers(inner, shapely.points(xy))
            if not inside.all():
                bad = np.nonzero(~inside)[0]
                i = int(bad[0])
                raise ValueError(
                    f"boundary does not contain the data: {len(bad)} of {len(xy)} loc points "
                    f"fall outside it (first: row {i} at ({xy[i, 0]:g}, {xy[i, 1]:g})); "
                    f"buffer the boundary (e.g. boundary.buffer(50)) or omit it")
    else:
        if xy is None or len(xy) == 0:
            raise ValueError("give loc points or a boundary to mesh")
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
        inner = as_polygon(inner, name="the inner hull")
    width = max(width, domain_width(xy) if xy is not None else 0.0)
    eps = 1e-9 * max(width, 1e-300)

    # ---- rings: thin by cutoff, snap nearby points onto them -----------------------------
    parts = _rings_of(inner)
    if cutoff > 0:
        thinned = [[thin_ring(r, cutoff) for r in rings] for rings in parts]
        cand = _polygon_from(thinned)
        if cand.is_valid:
            parts = thinned
    inner_rings = [r for rings in parts for r in rings]

    outer = None
    d1 = resolve_length(off1, width) if off1 is not None else 0.0
    if d1 > 0:
        outer = convex_extension(_polygon_from(parts), d1, tol=0.1 * min(h1, d1))
    outer_rings = [] if outer is None else [r for rings in _rings_of(outer) for r in rings]

    fixed = np.vstack(inner_rings + outer_rings)
    tol = max(cutoff, eps)
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
        raise MeshSizeError(
            f"the mesh would have about {est:,} nodes, more than max_nodes={max_nodes:,}; use "
            f"a larger max_edge (about max_edge=({h0 * s:.3g}, {h1 * s:.3g})) or raise "
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
                 np.array([a0, a1]), max_nodes, estimate=est)
    nodes, tris = res.points, res.triangles
    used = np.zeros(len(nodes), dtype=bool)
    used[tris.ravel()] = True
    if not used.all():  # drop vertices left outside the domain (should not happen)
        new_id = np.cumsum(used) - 1
        nodes, tris = nodes[used], new_id[tris]
        if loc_to_node is not None:
            loc_to_node = new_id[loc_to_node]
    info = dict(max_edge=(h0, h1), min_angle=(a0, a1), cutoff=cutoff,
                offset=(off0, off1), extension=d1, rounds=res.rounds,
                converged=res.converged, estimate=est)
    return Mesh(nodes=nodes, triangles=tris, boundary=inner_poly, outer=outer,
                loc_to_node=loc_to_node, triangle_region=res.region, info=info)
