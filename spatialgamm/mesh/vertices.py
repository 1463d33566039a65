"""The mesher's initial vertices: data sites merged by ``cutoff``, rings as constraint segments.

Everything here works in the canonical frame (:mod:`.frame`) on inputs in canonical order
(sites sorted, rings normalised), so ties (sites exactly ``cutoff`` apart, a site
equidistant from two ring vertices) are broken by position and the result is a function of
the point set, not of the order the user gave it in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .hull import subdivide_ring
from .refine import SMALL_INPUT_ANGLE


@dataclass(frozen=True)
class Vertices:
    """The initial vertices and constraints handed to :func:`~.refine.refine`."""

    points: np.ndarray  # (n, 2) ring vertices first, then free sites
    segments: np.ndarray  # (s, 2) constraint segments
    vseg: np.ndarray  # (n, 2) input-edge ids per vertex
    is_input: np.ndarray  # (n,) ring corners (shell-split centres)
    small: np.ndarray  # keys of input-edge pairs meeting at a small angle
    loc_to_node: np.ndarray | None  # (k,) vertex of each site (canonical row order)


def initial_vertices(xy: np.ndarray | None, rings: list[np.ndarray],
                     max_lens: list[float], tol: float) -> Vertices:
    """Merge the sites by ``tol``, snap those next to a ring onto it, split the rings.

    Parameters
    ----------
    xy : (k, 2) ndarray or None
        The sites, in canonical (sorted) order.
    rings : list of (m, 2) ndarray
        Open rings, inner domain first, in canonical order.
    max_lens : list of float
        The longest constraint segment on each ring (its region's ``max_edge``).
    tol : float
        The merge distance (``cutoff``, at least a round-off length).
    """
    fixed = np.vstack(rings)
    if xy is not None:
        kept, to_fixed, to_kept = _merge_points(xy, fixed, tol)
        free = xy[kept]
    else:
        to_fixed = to_kept = np.zeros(0, int)
        free = np.zeros((0, 2))
    rings, ring_ids, snapped = _snap_to_rings(rings, free, tol)
    pts, segs, vseg, is_input, ring_loc, small = _ring_segments(rings, ring_ids, max_lens)
    free_idx = np.nonzero(~snapped)[0]
    loc_to_node = None
    if xy is not None:
        # vertex of each kept site: after the ring vertices when free, on its ring if snapped
        node_of_kept = np.full(len(free), -1)
        node_of_kept[free_idx] = len(pts) + np.arange(len(free_idx))
        ring_pos = np.nonzero(ring_loc >= 0)[0]
        node_of_kept[ring_loc[ring_pos]] = ring_pos
        loc_to_node = np.full(len(xy), -1)
        use_kept = to_kept >= 0
        loc_to_node[use_kept] = node_of_kept[to_kept[use_kept]]
        if (to_fixed >= 0).any():  # merged into a ring vertex
            _, j = cKDTree(pts).query(fixed[to_fixed[to_fixed >= 0]])
            loc_to_node[to_fixed >= 0] = j
    return Vertices(points=np.vstack([pts, free[free_idx]]), segments=segs,
                    vseg=np.vstack([vseg, np.full((len(free_idx), 2), -1)]),
                    is_input=np.r_[is_input, np.zeros(len(free_idx), dtype=bool)],
                    small=small, loc_to_node=loc_to_node)


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
