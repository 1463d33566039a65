"""Point location in a triangle mesh and the barycentric projector matrix A.

A mesh from the refiner is Delaunay only up to the removed outside triangles, and a user
mesh need not be Delaunay at all, so Qhull's ``find_simplex`` cannot be used. Triangles are
bucketed once in a uniform grid (each triangle in every cell its bounding box touches); a
point is tested only against the triangles of its cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

#: Barycentric coordinates down to -TOL count as inside (points on an edge or a vertex).
TOL = 1e-10


class TriangleLocator:
    """Find the triangle that contains each point, with barycentric weights.

    Examples
    --------
    >>> import numpy as np
    >>> nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    >>> loc = TriangleLocator(nodes, np.array([[0, 1, 2], [0, 2, 3]]))
    >>> tri, w = loc.locate(np.array([[0.75, 0.25]]))
    >>> int(tri[0]), np.round(w[0], 2).tolist()
    (0, [0.25, 0.5, 0.25])
    """

    def __init__(self, nodes: np.ndarray, triangles: np.ndarray):
        self.nodes = np.asarray(nodes, dtype=float)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        p = self.nodes[self.triangles]
        self._a = p[:, 0]
        # inverse of [b - a, c - a] for barycentric coordinates
        m = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=2)  # (t, 2, 2) columns
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        inv = np.empty_like(m)
        inv[:, 0, 0], inv[:, 1, 1] = m[:, 1, 1] / det, m[:, 0, 0] / det
        inv[:, 0, 1], inv[:, 1, 0] = -m[:, 0, 1] / det, -m[:, 1, 0] / det
        self._inv = inv
        lo, hi = p.min(axis=1), p.max(axis=1)
        self._origin = lo.min(axis=0)
        extent = np.maximum(hi.max(axis=0) - self._origin, 1e-300)
        size = np.median((hi - lo).max(axis=1))
        # about as many cells as triangles, never so fine that big triangles flood the grid
        size = max(size, np.sqrt(extent[0] * extent[1] / max(len(p), 1)))
        self._size = size
        self._shape = np.maximum(np.ceil(extent / size).astype(int), 1)
        i0 = self._cell(lo)
        i1 = self._cell(hi)
        nx = i1[:, 0] - i0[:, 0] + 1
        ny = i1[:, 1] - i0[:, 1] + 1
        count = nx * ny
        tri_id = np.repeat(np.arange(len(p)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        cx = i0[tri_id, 0] + k % nx[tri_id]
        cy = i0[tri_id, 1] + k // nx[tri_id]
        cell = cy * self._shape[0] + cx
        order = np.argsort(cell, kind="stable")
        self._cell_tris = tri_id[order]
        self._indptr = np.r_[0, np.cumsum(np.bincount(cell, minlength=self._shape.prod()))]

    def _cell(self, xy: np.ndarray) -> np.ndarray:
        idx = np.floor((xy - self._origin) / self._size).astype(np.int64)
        return np.clip(idx, 0, self._shape - 1)

    def locate(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Triangle index (-1 if outside) and (k, 3) barycentric weights of each point.

        Each point takes the first triangle of its cell's list that contains it. The lists
        are walked in rounds (round j tests the j-th triangle of every point still
        unplaced), so most points cost one or two tests and no array grows with the total
        of the cells' lists (a million points: seconds, not tens of seconds).
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        k = len(xy)
        tri = np.full(k, -1)
        w = np.full((k, 3), np.nan)
        raw = np.floor((xy - self._origin) / self._size).astype(np.int64)
        in_grid = np.all((raw >= 0) & (raw <= self._shape), axis=1)
        cells = self._cell(xy)
        cid = cells[:, 1] * self._shape[0] + cells[:, 0]
        start = self._indptr[cid]
        count = np.where(in_grid, self._indptr[cid + 1] - start, 0)
        inv, a = self._inv, self._a
        todo = np.flatnonzero(count > 0)
        j = 0
        while len(todo):
            cand = self._cell_tris[start[todo] + j]
            dx = xy[todo, 0] - a[cand, 0]
            dy = xy[todo, 1] - a[cand, 1]
            l1 = inv[cand, 0, 0] * dx + inv[cand, 0, 1] * dy
            l2 = inv[cand, 1, 0] * dx + inv[cand, 1, 1] * dy
            lam = np.column_stack([1 - (l1 + l2), l1, l2])
            ok = lam.min(axis=1) >= -TOL
            hit = todo[ok]
            tri[hit] = cand[ok]
            lw = np.clip(lam[ok], 0, None)
            w[hit] = lw / lw.sum(axis=1, keepdims=True)
            j += 1
            todo = todo[~ok]
            todo = todo[count[todo] > j]
        return tri, w


def read_points(xy: Any, name: str = "xy") -> np.ndarray:
    """An (n, 2) float array from an array, a two-column DataFrame or a GeoSeries of points."""
    if hasattr(xy, "geometry") and hasattr(xy, "crs"):
        import shapely

        out = shapely.get_coordinates(np.asarray(xy.geometry))
    else:
        out = np.asarray(xy, dtype=float)
    if out.ndim == 1 and out.size == 2:
        out = out.reshape(1, 2)
    if out.ndim != 2 or out.shape[1] != 2:
        raise ValueError(f"{name} must be an (n, 2) array of coordinates; got shape "
                         f"{out.shape}")
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise ValueError(f"{name} has {int(bad.sum())} rows with missing or infinite "
                         f"coordinates (first: row {i})")
    return out


def projector_matrix(locator: TriangleLocator, n_nodes: int, xy: Any) -> sp.csc_matrix:
    """Sparse (points x nodes) barycentric interpolation matrix; 3 entries per row.

    Entries of a point sitting on an edge or a vertex are kept as explicit zeros, so every
    row has exactly three stored entries summing to 1.
    """
    pts = read_points(xy)
    tri, w = locator.locate(pts)
    out = tri < 0
    if out.any():
        i = int(np.nonzero(out)[0][0])
        raise ValueError(f"{int(out.sum())} points lie outside the mesh (first: row {i} at "
                         f"({pts[i, 0]:g}, {pts[i, 1]:g})); build the mesh over a larger "
                         f"domain")
    cols = locator.triangles[tri]
    indptr = np.arange(0, 3 * len(pts) + 1, 3)
    A = sp.csr_matrix((w.ravel(), cols.ravel(), indptr), shape=(len(pts), n_nodes))
    return A.tocsc()
