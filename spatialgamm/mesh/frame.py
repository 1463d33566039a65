"""The mesher's own coordinates: the data moved to the origin, scaled to unit width, rounded.

Delaunay meshing of survey data is full of exact ties (sites on a regular grid are
co-circular four at a time, points lie exactly ``cutoff`` apart), and which way a tie
breaks depends on the last bit of the coordinates. Coordinates converted from metres to
kilometres differ from the metre values divided by 1000 in those bits, so meshing the
user's numbers directly gives a different mesh in another unit (534 vs 536
nodes on Rongelap, the fitted range 26% apart).

The mesher therefore works in a canonical frame: ``u = (x - origin) / scale`` with the
origin at the lower-left corner of the data and ``scale`` the larger side of their
bounding box, rounded to a grid of ``2^-30`` (about 1e-9 of the domain's width). The same
data in any unit (and any translation) then give bit-identical canonical coordinates,
except in the rare case that a value lies within rounding error of a grid boundary, and so
the same mesh; lengths (``max_edge``, ``cutoff``, offsets) are scaled alike and rounded to 30
significant bits. Nodes are mapped back to the user's coordinates at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

#: Canonical coordinates are multiples of 2**-GRID_BITS (of the domain's width).
GRID_BITS = 30


def _round_bits(v: np.ndarray | float, bits: int = GRID_BITS) -> np.ndarray:
    """Round to ``bits`` significant binary digits (a relative grid)."""
    m, e = np.frexp(np.asarray(v, dtype=float))
    return np.ldexp(np.round(m * 2.0**bits), e - bits)


@dataclass(frozen=True)
class Frame:
    """An affine map from the user's coordinates to the mesher's (and back)."""

    origin: np.ndarray  # (2,)
    scale: float

    @classmethod
    def around(cls, xy: np.ndarray | None, bounds: tuple | None, fallback: float) -> Frame:
        """The frame of the data ``xy`` and/or a boundary's ``bounds``.

        ``fallback`` (a length in the user's units) is the scale when the data have no extent.
        """
        corners = []
        if xy is not None and len(xy):
            corners.append(np.asarray(xy, dtype=float))
        if bounds is not None:
            corners.append(np.asarray(bounds, dtype=float).reshape(2, 2))
        pts = np.vstack(corners)
        lo = pts.min(axis=0)
        width = float(np.ptp(pts, axis=0).max())
        scale = width if width > 0 else float(fallback)
        return cls(origin=lo, scale=scale)

    def points(self, xy: np.ndarray) -> np.ndarray:
        """User coordinates -> canonical (rounded to the grid)."""
        u = (np.asarray(xy, dtype=float) - self.origin) / self.scale
        return np.round(u * 2.0**GRID_BITS) / 2.0**GRID_BITS

    def length(self, value: float) -> float:
        """A length in the user's units -> canonical (rounded to 30 significant bits)."""
        return float(_round_bits(float(value) / self.scale)) if value else float(value)

    def back(self, u: np.ndarray) -> np.ndarray:
        """Canonical coordinates -> the user's."""
        return np.asarray(u, dtype=float) * self.scale + self.origin

    def geometry(self, geom):
        """A shapely geometry in canonical coordinates (kept unrounded if rounding breaks it)."""
        if geom is None:
            return None
        out = shapely.transform(geom, self.points)
        if out.is_valid:
            return out
        return shapely.transform(geom, lambda c: (c - self.origin) / self.scale)

    def back_onto(self, u: np.ndarray, canon: list, user: list) -> np.ndarray:
        """Canonical nodes -> the user's, with nodes on ``canon``'s rings put on ``user``'s.

        ``canon[i]`` is ``self.geometry(user[i])`` (same rings, same vertices; None entries
        are skipped). A node on a ring edge ``a_c b_c`` at fraction ``t`` goes to
        ``a_u + t (b_u - a_u)``, so vertices are the user's exactly and edge nodes lie on the
        user's edges (the mesh tiles the user's polygons, not their rounded copies).
        """
        out = self.back(u)
        pairs = [(c, g) for c, g in zip(canon, user) if c is not None and g is not None]
        if not pairs:
            return out
        a_c, b_c = _segments([c for c, _ in pairs])
        a_u, b_u = _segments([g for _, g in pairs])
        if len(a_c) != len(a_u) or not len(a_c):
            return out
        tree = shapely.STRtree(shapely.linestrings(np.stack([a_c, b_c], axis=1)))
        ip, iseg = tree.query(shapely.points(u), predicate="dwithin", distance=1e-12)
        first = np.r_[True, ip[1:] != ip[:-1]] if len(ip) else np.zeros(0, bool)
        ip, iseg = ip[first], iseg[first]
        # interpolate from the lexicographically lower end, so a ring traced the other way
        # gives the same bits
        flip = (a_c[:, 0] > b_c[:, 0]) | ((a_c[:, 0] == b_c[:, 0]) & (a_c[:, 1] > b_c[:, 1]))
        a_c, b_c = np.where(flip[:, None], b_c, a_c), np.where(flip[:, None], a_c, b_c)
        a_u, b_u = np.where(flip[:, None], b_u, a_u), np.where(flip[:, None], a_u, b_u)
        ab = b_c[iseg] - a_c[iseg]
        t = np.einsum("ij,ij->i", u[ip] - a_c[iseg], ab) / np.einsum("ij,ij->i", ab, ab)
        t = np.clip(t, 0.0, 1.0)[:, None]
        out[ip] = np.where(t == 0, a_u[iseg], np.where(t == 1, b_u[iseg],
                                                        a_u[iseg] + t * (b_u[iseg] - a_u[iseg])))
        return out

    def geometry_back(self, geom):
        """A shapely geometry in the user's coordinates."""
        return None if geom is None else shapely.transform(geom, self.back)


def _segments(geoms: list) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of every edge of every ring of some (Multi)Polygons."""
    starts, ends = [], []
    for part in shapely.get_parts(np.asarray(geoms, dtype=object)):
        for ring in shapely.get_rings(part):
            c = shapely.get_coordinates(ring)
            starts.append(c[:-1])
            ends.append(c[1:])
    if not starts:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.vstack(starts), np.vstack(ends)
