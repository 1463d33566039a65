"""Conforming Delaunay refinement (Ruppert / Chew style) on top of scipy's Delaunay.

The mesher works in rounds. Each round re-triangulates all vertices with Qhull
(``scipy.spatial.Delaunay``, milliseconds for thousands of points) and then, vectorised over
the whole mesh:

1. finds constraint segments that are *encroached* (a vertex inside their diametral circle,
   or missing from the triangulation) and splits them. When no segment is encroached every
   segment is a Delaunay edge, so the boundary is honoured (conforming Delaunay);
2. otherwise finds *bad* triangles (an edge longer than the region's ``max_edge``, or an
   angle below ``min_angle``) and proposes their circumcentres (or Ungor's off-centres for
   skinny ones, which need fewer points). A proposal inside a segment's diametral circle is
   dropped and the segment is split instead (Ruppert's rule); proposals too close to one
   another are thinned so one round never inserts near-duplicates.

Small input angles (two segments meeting at less than 60 degrees) would make the plain
algorithm split forever. As in Ruppert's and Shewchuk's work, segments with one input-vertex
end are split on *concentric shells* (powers of two from that vertex) and a skinny triangle
whose shortest edge joins two segments of such a small input angle is accepted as is.

References: Ruppert (1995, J. Algorithms 18:548-585); Shewchuk (2002, Comput. Geom.
22:21-74); Ungor (2004, LATIN, off-centers).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay, cKDTree

#: Rounds of refinement before giving up (each round roughly halves the worst sizes).
MAX_ROUNDS = 400

#: A skinny triangle may be left alone when its small angle is an input angle below this.
SMALL_INPUT_ANGLE = 60.0


class MeshSizeError(ValueError):
    """The mesh would exceed ``max_nodes``."""


@dataclass
class RefineResult:
    """Vertices and triangles of a refined conforming Delaunay mesh."""

    points: np.ndarray  # (n, 2)
    triangles: np.ndarray  # (m, 3), counter-clockwise
    region: np.ndarray  # (m,) region code of each triangle (0 inner, 1 extension)
    segments: np.ndarray  # (s, 2) the constraint segments after splitting
    rounds: int
    converged: bool


def _edge_table(simp: np.ndarray, n: int):
    """Unique edges of a triangulation and, per half-edge, its edge id and apex vertex."""
    # half-edge j of a triangle is the edge opposite its vertex j
    a = simp[:, [1, 2, 0]].ravel()
    b = simp[:, [2, 0, 1]].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo.astype(np.int64) * n + hi
    ukeys, inv = np.unique(keys, return_inverse=True)
    apex = simp.ravel()
    return ukeys, inv, apex


def _seg_keys(seg: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(seg[:, 0], seg[:, 1]).astype(np.int64) * n + np.maximum(seg[:, 0],
                                                                             seg[:, 1])


def _encroached_segments(pts, seg, simp, n) -> np.ndarray:
    """Boolean mask of segments missing from the triangulation or with an apex inside
    their diametral circle (for a Delaunay edge, it is enough to test the two apexes)."""
    ukeys, inv, apex = _edge_table(simp, n)
    skeys = _seg_keys(seg, n)
    pos = np.searchsorted(ukeys, skeys)
    pos = np.minimum(pos, len(ukeys) - 1)
    present = ukeys[pos] == skeys
    enc = ~present
    # half-edges lying on segments: map edge id -> segment index
    seg_of_edge = np.full(len(ukeys), -1)
    seg_of_edge[pos[present]] = np.nonzero(present)[0]
    s_of_half = seg_of_edge[inv]
    on = s_of_half >= 0
    s = s_of_half[on]
    p = pts[apex[on]]
    a = pts[seg[s, 0]]
    b = pts[seg[s, 1]]
    dot = np.einsum("ij,ij->i", a - p, b - p)
    len2 = np.einsum("ij,ij->i", a - b, a - b)
    bad = dot < -1e-10 * len2
    enc[s[bad]] = True
    return enc


def _split_points(pts, seg, is_input, unit: float) -> np.ndarray:
    """Split points of segments: midpoints, or concentric shells from an input vertex.

    The shells are at ``unit * 2^k`` from the input vertex, with ``unit`` a length of the
    problem (the inner ``max_edge``): powers of two of an absolute length would make the mesh
    depend on the coordinates' units (metres vs km).
    """
    a = pts[seg[:, 0]]
    b = pts[seg[:, 1]]
    mid = 0.5 * (a + b)
    ia = is_input[seg[:, 0]]
    ib = is_input[seg[:, 1]]
    one = ia ^ ib
    if one.any():
        # shell split: at distance 2^k from the input end, k chosen nearest to half-length
        apex = np.where(ia[one, None], a[one], b[one])
        other = np.where(ia[one, None], b[one], a[one])
        length = np.hypot(*(other - apex).T)
        d = unit * 2.0 ** np.round(np.log2(0.5 * length / unit))
        t = np.clip(d / length, 1 / 3, 2 / 3)
        mid[one] = apex + t[:, None] * (other - apex)
    return mid


def _triangle_geometry(pts, simp):
    """Edge lengths (opposite each vertex), angles, circumcentres and radii, area."""
    p0, p1, p2 = pts[simp[:, 0]], pts[simp[:, 1]], pts[simp[:, 2]]
    e0, e1, e2 = p2 - p1, p0 - p2, p1 - p0  # edge opposite vertex i
    l = np.stack([np.hypot(*e0.T), np.hypot(*e1.T), np.hypot(*e2.T)], axis=1)
    cross = e2[:, 0] * (-e1[:, 1]) - e2[:, 1] * (-e1[:, 0])  # (p1-p0) x (p2-p0)
    area2 = np.abs(cross)
    # angle at vertex i from its two adjacent edges: sin = 2A / (product)
    with np.errstate(divide="ignore", invalid="ignore"):
        dots = np.stack([-np.einsum("ij,ij->i", e1, e2),
                         -np.einsum("ij,ij->i", e2, e0),
                         -np.einsum("ij,ij->i", e0, e1)], axis=1)
        ang = np.degrees(np.arctan2(area2[:, None], dots))
        # circumcentre relative to p0
        bx, by = p1[:, 0] - p0[:, 0], p1[:, 1] - p0[:, 1]
        cx, cy = p2[:, 0] - p0[:, 0], p2[:, 1] - p0[:, 1]
        d = 2 * (bx * cy - by * cx)
        b2, c2 = bx * bx + by * by, cx * cx + cy * cy
        ux = (cy * b2 - by * c2) / d
        uy = (bx * c2 - cx * b2) / d
    cc = p0 + np.stack([ux, uy], axis=1)
    rad = np.hypot(ux, uy)
    return l, ang, cc, rad, 0.5 * area2


def _exempt(simp, l, vseg, small_pairs) -> np.ndarray:
    """Skinny triangles forced by a small input angle: the shortest edge joins two
    segments that meet at an input vertex at less than SMALL_INPUT_ANGLE."""
    if small_pairs.size == 0:
        return np.zeros(len(simp), dtype=bool)
    k = np.argmin(l, axis=1)  # shortest edge is opposite vertex k
    u = simp[np.arange(len(simp)), (k + 1) % 3]
    v = simp[np.arange(len(simp)), (k + 2) % 3]
    out = np.zeros(len(simp), dtype=bool)
    for i in range(2):
        for j in range(2):
            su, sv = vseg[u, i], vseg[v, j]
            ok = (su >= 0) & (sv >= 0) & (su != sv)
            key = np.minimum(su, sv).astype(np.int64) * (1 << 31) + np.maximum(su, sv)
            out |= ok & np.isin(key, small_pairs)
    return out


def _thin(cands: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Greedy thinning: keep a proposal only if no kept one lies within 0.5 * its radius.

    Proposals are visited by decreasing radius, so the large triangles go first.
    """
    order = np.argsort(-radius, kind="stable")
    cands, radius = cands[order], radius[order]
    tree = cKDTree(cands)
    nbrs = tree.query_ball_point(cands, r=0.5 * radius)
    kept = np.zeros(len(cands), dtype=bool)
    for i, nb in enumerate(nbrs):
        if not kept[nb].any():
            kept[i] = True
    return order[kept]


@dataclass
class _Vertices:
    """The refiner's mutable state: vertices, segments and per-vertex bookkeeping."""

    pts: np.ndarray
    seg: np.ndarray
    vseg: np.ndarray
    is_input: np.ndarray

    def split(self, mask: np.ndarray, unit: float) -> None:
        """Split the segments selected by ``mask`` (midpoints or concentric shells)."""
        new = _split_points(self.pts, self.seg[mask], self.is_input, unit)
        self.pts, self.seg, self.vseg, self.is_input = _apply_splits(
            self.pts, self.seg, self.vseg, self.is_input, mask, new)

    def insert(self, cand: np.ndarray) -> None:
        """Add free vertices (no segment, not input corners)."""
        self.pts = np.vstack([self.pts, cand])
        self.vseg = np.vstack([self.vseg, np.full((len(cand), 2), -1)])
        self.is_input = np.r_[self.is_input, np.zeros(len(cand), dtype=bool)]


def refine(points: np.ndarray, segments: np.ndarray, vseg: np.ndarray, is_input: np.ndarray,
           small_pairs: np.ndarray, region_of: Callable[[np.ndarray], np.ndarray],
           max_edge: np.ndarray, min_angle: np.ndarray, max_nodes: int,
           estimate: int | None = None, origin: np.ndarray | None = None,
           scale: float = 1.0) -> RefineResult:
    """Refine a conforming Delaunay mesh of the segments and points until it is good.

    Parameters
    ----------
    points : (n, 2) ndarray
        Initial vertices (segment end points first, then free points); no duplicates.
    segments : (s, 2) ndarray of int
        Constraint segments (vertex indices) that must end up as mesh edges.
    vseg : (n, 2) ndarray of int
        Up to two input-edge ids per vertex (-1: none), to recognise small input angles.
    is_input : (n,) bool ndarray
        Vertices that are corners of the input rings (shell splitting centres).
    small_pairs : ndarray of int64
        Keys ``min * 2**31 + max`` of input-edge pairs meeting at a small angle.
    region_of : callable
        Maps (k, 2) triangle centroids to region codes: 0 inner, 1 extension, -1 outside.
    max_edge, min_angle : (2,) ndarray
        Limits for the inner region and the extension.
    max_nodes : int
        Refinement stops with :class:`MeshSizeError` beyond this many vertices.
    estimate : int, optional
        The projected node count, quoted in the error message.
    origin, scale : optional
        The map ``x_user = x * scale + origin`` from the mesher's coordinates to the user's,
        for error messages.

    Returns
    -------
    RefineResult
    """
    v = _Vertices(np.asarray(points, dtype=float),
                  np.asarray(segments, dtype=np.int64).reshape(-1, 2),
                  np.asarray(vseg, dtype=np.int64).reshape(-1, 2),
                  np.asarray(is_input, dtype=bool))
    unit = float(np.min(max_edge))  # length unit of the shell splits (scale-free mesh)
    converged = False
    rounds = 0
    simp = region = None
    while rounds < MAX_ROUNDS:
        rounds += 1
        _check_size(len(v.pts), max_nodes, estimate)
        simp = _triangulate(v.pts, origin, scale)
        enc = _encroached_segments(v.pts, v.seg, simp, len(v.pts))
        if enc.any():  # conformity first: every segment must be a Delaunay edge
            v.split(enc, unit)
            continue
        region, geom = _classify(v.pts, simp, region_of)
        bad, too_long = _bad_triangles(region, geom, simp, v.vseg, small_pairs, max_edge,
                                       min_angle)
        if not bad.any():
            converged = True
            break
        cand, crad = _proposals(v.pts, simp, geom, bad, too_long,
                                min_angle[np.where(region >= 0, region, 0)])
        seg_hit, cand_hit = _ruppert_hits(v.pts, v.seg, cand)
        if seg_hit.any():
            v.split(seg_hit, unit)
        cand, crad = cand[~cand_hit], crad[~cand_hit]
        if len(cand):
            # proposals must fall inside the meshed domain (outside ones only arise from
            # round-off next to a segment)
            inside = region_of(cand) >= 0
            cand, crad = cand[inside], crad[inside]
        if len(cand):
            v.insert(cand[_thin(cand, crad)])
        elif not seg_hit.any():
            break  # nothing can be inserted: stop with what we have
    if not converged:
        warnings.warn(f"mesh refinement stopped after {rounds} rounds with triangles that "
                      f"still break min_angle or max_edge", RuntimeWarning, stacklevel=3)
        simp = Delaunay(v.pts).simplices
        region = _classify(v.pts, simp, region_of)[0]
    keep = region >= 0
    return RefineResult(points=v.pts, triangles=_ccw(v.pts, simp[keep]), region=region[keep],
                        segments=v.seg, rounds=rounds, converged=converged)


def _check_size(n: int, max_nodes: int, estimate: int | None) -> None:
    if n > max_nodes:
        extra = f" (projected about {estimate})" if estimate else ""
        raise MeshSizeError(
            f"the mesh passed max_nodes={max_nodes} vertices during refinement{extra}; use "
            f"a larger max_edge, a positive cutoff or a smaller min_angle (or raise "
            f"max_nodes)")


def _triangulate(pts: np.ndarray, origin: np.ndarray | None, scale: float) -> np.ndarray:
    """Qhull's Delaunay simplices; vertices too close to separate are a clear error."""
    tri = Delaunay(pts)
    if len(tri.coplanar):
        i, j = int(tri.coplanar[0, 0]), int(tri.coplanar[0, 2])
        gap = float(np.hypot(*(pts[i] - pts[j]))) * scale
        at = pts[i] * scale + (0.0 if origin is None else origin)
        raise ValueError(f"mesh vertices {gap:.3g} apart at ({at[0]:g}, {at[1]:g}) are too "
                         f"close for the triangulation; merge them with a positive cutoff "
                         f"(e.g. cutoff={max(10 * gap, 1e-300):.2g})")
    return tri.simplices


def _bad_triangles(region, geom, simp, vseg, small_pairs, max_edge, min_angle):
    """Triangles inside the domain with an edge over ``max_edge`` or an angle under
    ``min_angle`` (not forced by a small input angle); and the too-long ones."""
    l, ang = geom[0], geom[1]
    inside = region >= 0
    r = np.where(inside, region, 0)
    too_long = l.max(axis=1) > max_edge[r] * (1 + 1e-9)
    skinny = (ang.min(axis=1) < min_angle[r]) & ~_exempt(simp, l, vseg, small_pairs)
    return inside & (too_long | skinny), too_long


def _proposals(pts, simp, geom, bad, too_long, angle_bound):
    """New vertices for the bad triangles, with their circumradii (for thinning).

    Circumcentres, except Ungor's off-centre for triangles that are only skinny: on the
    bisector of the shortest edge, where the new triangle on that edge just meets the angle
    bound (``angle_bound``, per triangle).
    """
    l, _, cc, rad, _ = geom
    idx = np.nonzero(bad)[0]
    cand = cc[idx].copy()
    only_skinny = ~too_long[idx]
    if only_skinny.any():
        j = idx[only_skinny]
        k = np.argmin(l[j], axis=1)
        u = pts[simp[j, (k + 1) % 3]]
        w = pts[simp[j, (k + 2) % 3]]
        m = 0.5 * (u + w)
        off = 0.5 * l[j, k] / np.tan(np.radians(0.5 * angle_bound[j]))
        dvec = cc[j] - m
        dist = np.hypot(*dvec.T)
        shrink = np.where(dist > off, off / np.where(dist > 0, dist, 1), 1.0)
        cand[only_skinny] = m + dvec * shrink[:, None]
    crad = rad[idx]
    ok = np.isfinite(cand).all(axis=1)
    return cand[ok], crad[ok]


def _ruppert_hits(pts, seg, cand):
    """Ruppert's rule: segments whose diametral circle holds a proposal are split instead,
    and those proposals dropped. Returns (segment mask, proposal mask)."""
    seg_hit = np.zeros(len(seg), dtype=bool)
    cand_hit = np.zeros(len(cand), dtype=bool)
    if len(cand):
        mid = 0.5 * (pts[seg[:, 0]] + pts[seg[:, 1]])
        half_len = 0.5 * np.hypot(*(pts[seg[:, 1]] - pts[seg[:, 0]]).T)
        hits = cKDTree(cand).query_ball_point(mid, r=half_len * (1 - 1e-9))
        seg_hit = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits)) > 0
        if seg_hit.any():
            cand_hit[np.concatenate([hits[i] for i in np.nonzero(seg_hit)[0]])] = True
    return seg_hit, cand_hit


def _classify(pts, simp, region_of):
    """Region code of each triangle (-1 outside) and its geometry.

    Qhull may return flat triangles along straight runs of boundary vertices on the convex
    hull; they have no area and are treated as outside (dropped from the mesh).
    """
    geom = _triangle_geometry(pts, simp)
    l, area = geom[0], geom[4]
    region = region_of(pts[simp].mean(axis=1))
    flat = area <= 1e-10 * l.max(axis=1) ** 2
    region[flat] = -1
    return region, geom


def _apply_splits(pts, seg, vseg, is_input, mask, new):
    """Insert split points ``new`` into the segments selected by ``mask``."""
    k = len(pts)
    ids = np.arange(k, k + len(new))
    old = seg[mask]
    # the input edge of a split segment: the one shared by both ends
    src = _shared_edge(vseg[old[:, 0]], vseg[old[:, 1]])
    first = np.stack([old[:, 0], ids], axis=1)
    second = np.stack([ids, old[:, 1]], axis=1)
    seg = np.vstack([seg[~mask], first, second])
    vseg = np.vstack([vseg, np.stack([src, np.full(len(new), -1)], axis=1)])
    is_input = np.r_[is_input, np.zeros(len(new), dtype=bool)]
    return np.vstack([pts, new]), seg, vseg, is_input


def _shared_edge(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """The input-edge id common to two vertices' (up to two) ids, or -1."""
    out = np.full(len(va), -1)
    for i in range(2):
        for j in range(2):
            same = (va[:, i] == vb[:, j]) & (va[:, i] >= 0) & (out < 0)
            out[same] = va[same, i]
    return out


def _ccw(pts: np.ndarray, simp: np.ndarray) -> np.ndarray:
    """Orient every triangle counter-clockwise."""
    p0, p1, p2 = pts[simp[:, 0]], pts[simp[:, 1]], pts[simp[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - \
        (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    simp = simp.copy()
    flip = cross < 0
    simp[flip] = simp[flip][:, [0, 2, 1]]
    return simp
