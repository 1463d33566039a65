"""The ``Mesh``: a triangulation with its FEM matrices, projector, summary and plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from .build import build_mesh
from .fem import fem_matrices, triangle_areas
from .projector import TriangleLocator, projector_matrix


class MeshSummary(dict):
    """What a mesh looks like, as a dict that prints as a short text."""

    def __str__(self) -> str:
        lines = [f"Mesh: {self['nodes']} nodes, {self['triangles']} triangles, "
                 f"area {self['area']:.6g}",
                 f"  smallest angle {self['min_angle']:.2f} deg",
                 f"  longest edge inside the boundary {self['max_edge_inner']:.4g}"]
        if self["max_edge_outer"] is not None:
            lines.append(f"  longest edge in the extension  {self['max_edge_outer']:.4g}")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Mesh:
    """A 2-D triangle mesh for SPDE Matern fields (INLA's ``inla.mesh.2d`` object).

    Build one with :meth:`Mesh.build`; a ready triangulation can be wrapped directly with
    ``Mesh(nodes, triangles)``.

    Attributes
    ----------
    nodes : (n, 2) ndarray
        Vertex coordinates.
    triangles : (m, 3) ndarray of int
        Vertex indices of each triangle, counter-clockwise.
    boundary : shapely geometry or None
        The inner boundary the mesh honours (its segments are mesh edges).
    outer : shapely geometry or None
        The outer boundary: ``boundary[1]`` as given, or the automatic extension ring
        (``offset[1]``); None without an extension.
    loc_to_node : (k,) ndarray of int or None
        For each input location of :meth:`build`, the node it became (after ``cutoff``).
    triangle_region : (m,) ndarray of int or None
        0 for triangles inside ``boundary``, 1 in the extension.
    info : dict
        Build settings and refinement diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> m = Mesh(np.array([[0, 0], [1, 0], [0, 1]], float), np.array([[0, 1, 2]]))
    >>> m.n, m.area
    (3, 0.5)
    """

    nodes: np.ndarray
    triangles: np.ndarray
    boundary: Any = None
    outer: Any = None
    loc_to_node: np.ndarray | None = None
    triangle_region: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        nodes = np.ascontiguousarray(self.nodes, dtype=float)
        tri = np.ascontiguousarray(self.triangles, dtype=np.int64)
        if nodes.ndim != 2 or nodes.shape[1] != 2:
            raise ValueError(f"nodes must be (n, 2); got shape {nodes.shape}")
        if tri.ndim != 2 or tri.shape[1] != 3 or len(tri) == 0:
            raise ValueError(f"triangles must be (m, 3) with m >= 1; got shape {tri.shape}")
        if tri.min() < 0 or tri.max() >= len(nodes):
            raise ValueError("triangles refer to nodes that do not exist")
        area = triangle_areas(nodes, tri)
        if np.any(area == 0):
            raise ValueError(f"{int(np.sum(area == 0))} triangles have zero area")
        flip = area < 0
        if flip.any():  # store counter-clockwise
            tri = tri.copy()
            tri[flip] = tri[flip][:, [0, 2, 1]]
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "triangles", tri)

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def build(cls, loc: Any = None, boundary: Any = None, *, max_edge: Any,
              offset: Any = (-0.1, -0.1), cutoff: float = 0.0, min_angle: Any = 21.0,
              convex: float | None = None, concave: float | None = None,
              max_nodes: int = 200_000) -> Mesh:
        """Build a refined conforming Delaunay mesh, as INLA's ``inla.mesh.2d``.

        Parameters
        ----------
        loc : (n, 2) array_like or GeoSeries of points, optional
            Locations that become mesh nodes (the data sites).
        boundary : polygon, or a list ``[inner, outer]`` of two polygons, optional
            A polygon is a shapely (Multi)Polygon, a GeoSeries/GeoDataFrame or a (k, 2) ring.
            One polygon is the inner domain, e.g. a coastline: its edges (split to
            ``max_edge[0]``) are mesh edges and it must contain every ``loc`` point; the
            extension is then built ``offset[1]`` beyond it. INLA's list ``[inner, outer]``
            (e.g. two :func:`nonconvex_hull` of the sites with a small and a large
            ``convex``) gives both regions: ``inner`` is meshed with ``max_edge[0]``, the
            part of ``outer`` outside it with ``max_edge[1]``, ``offset`` is not used, and
            ``loc`` points must lie in ``outer`` (those outside ``inner`` become nodes of
            the extension). ``outer`` must enclose ``inner`` with a gap. Without a
            boundary the inner domain is the convex hull of ``loc`` pushed out by
            ``offset[0]``, or the non-convex hull when ``convex`` or ``concave`` is given.
        max_edge : float or (inner, outer)
            Longest triangle edge inside the inner domain and in the extension.
        offset : float or (inner, outer)
            Extension distances: ``offset[0]`` pushes the hull of the points out (unused with
            a ``boundary``), ``offset[1]`` is the width of the outer extension (``None`` or 0:
            none; a scalar ``offset`` gives no outer extension; unused with
            ``boundary=[inner, outer]``). Negative values are fractions of the domain width
            (the larger side of its bounding box).
        cutoff : float
            Points closer than this are merged (and boundary vertices thinned along their
            ring); points within it of a boundary edge are moved onto that edge.
        min_angle : float or (inner, outer)
            Smallest triangle angle in degrees (at most 30; 21 guarantees termination).
        convex, concave : float, optional
            Non-convex hull settings (see :func:`nonconvex_hull`); negative: fractions.
        max_nodes : int
            Refuse meshes projected to have more nodes than this.

        Returns
        -------
        Mesh

        Raises
        ------
        TypeError
            ``boundary`` is not a polygon (a LineString, points, ...).
        ValueError
            A self-intersecting (invalid) boundary, with shapely's reason; a boundary that
            does not contain every ``loc`` point (naming the first row outside); arguments
            that are not positive/finite lengths.
        MeshSizeError
            The mesh would exceed ``max_nodes``.

        Warns
        -----
        MeshWarning
            ``cutoff`` merges the distinct ``loc`` points onto fewer than half as many nodes
            (the message gives the sites' median nearest-neighbour distance).

        Notes
        -----
        The mesh does not depend on the order of the rows of ``loc`` nor on the unit of the
        coordinates (the same data in km with every length argument scaled alike give the
        same mesh, scaled), nor on where a boundary ring starts or which way it runs: the
        points are meshed in a canonical frame (rows sorted, rings in shapely's normal form,
        moved to the origin, scaled to unit width, rounded to 2^-30 of it;
        ``mesh/frame.py``), and nodes on the boundary and at the sites are put back at the
        user's coordinates.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> mesh = Mesh.build(rng.uniform(0, 10, (50, 2)), max_edge=(1.5, 3), offset=(0.5, 3))
        >>> mesh.summary()["min_angle"] >= 20
        True

        INLA's recipe: an inner and an outer non-convex hull of the sites.

        >>> from spatialgamm.mesh import nonconvex_hull
        >>> sites = rng.uniform(0, 10, (50, 2))
        >>> inner, outer = nonconvex_hull(sites, 1.0), nonconvex_hull(sites, 4.0)
        >>> mesh = Mesh.build(sites, boundary=[inner, outer], max_edge=(1.0, 3.0))
        >>> s = mesh.summary()
        >>> bool(s["max_edge_inner"] <= 1.0 and s["max_edge_outer"] <= 3.0)
        True
        """
        return cls(**build_mesh(loc=loc, boundary=boundary, max_edge=max_edge, offset=offset,
                                cutoff=cutoff, min_angle=min_angle, convex=convex,
                                concave=concave, max_nodes=max_nodes))

    # ---- geometry ------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @cached_property
    def triangle_areas(self) -> np.ndarray:
        """Area of each triangle."""
        return triangle_areas(self.nodes, self.triangles)

    @property
    def area(self) -> float:
        """Total area of the mesh."""
        return float(self.triangle_areas.sum())

    @cached_property
    def edges(self) -> np.ndarray:
        """Unique edges as (e, 2) node pairs, smaller index first."""
        t = self.triangles
        e = np.vstack([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
        return np.unique(np.sort(e, axis=1), axis=0)

    def triangle_angles(self) -> np.ndarray:
        """(m, 3) interior angles in degrees, at each triangle's vertices."""
        p = self.nodes[self.triangles]
        out = np.empty((len(p), 3))
        for i in range(3):
            u = p[:, (i + 1) % 3] - p[:, i]
            v = p[:, (i + 2) % 3] - p[:, i]
            cross = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0])
            out[:, i] = np.degrees(np.arctan2(cross, np.einsum("ij,ij->i", u, v)))
        return out

    # ---- finite elements and projection ---------------------------------------------------
    @cached_property
    def _fem(self) -> tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix]:
        return fem_matrices(self.nodes, self.triangles)

    def fem(self) -> tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix]:
        """P1 mass ``C``, lumped mass ``Ct`` and stiffness ``G`` (CSC, n x n).

        Returns copies of cached matrices, so callers may modify them.
        """
        return tuple(m.copy() for m in self._fem)  # type: ignore[return-value]

    @cached_property
    def locator(self) -> TriangleLocator:
        """The point-location structure (built on first use)."""
        return TriangleLocator(self.nodes, self.triangles)

    def projector(self, xy: Any) -> sp.csc_matrix:
        """Barycentric projector ``A`` (points x nodes): ``A @ f(nodes)`` interpolates ``f``.

        Each row has three stored entries (the corners of the point's triangle) that sum to
        1. A point outside the mesh is a ``ValueError`` naming its row and coordinates.

        Examples
        --------
        >>> import numpy as np
        >>> m = Mesh(np.array([[0, 0], [1, 0], [0, 1]], float), np.array([[0, 1, 2]]))
        >>> m.projector([[0.25, 0.25]]).toarray().round(2).tolist()
        [[0.5, 0.25, 0.25]]
        """
        return projector_matrix(self.locator, self.n, xy)

    # ---- reporting -----------------------------------------------------------------------
    def summary(self) -> MeshSummary:
        """Nodes, triangles, area, smallest angle and longest edges (inner / extension)."""
        p = self.nodes[self.triangles]
        longest = np.max(np.stack([np.hypot(*(p[:, (i + 1) % 3] - p[:, i]).T)
                                   for i in range(3)], axis=1), axis=1)
        region = self.triangle_region
        inner = longest if region is None else longest[region == 0]
        outer = None if region is None or not np.any(region == 1) else \
            float(longest[region == 1].max())
        return MeshSummary(
            nodes=self.n, triangles=len(self.triangles), area=self.area,
            min_angle=float(self.triangle_angles().min()),
            max_edge_inner=float(inner.max()) if len(inner) else float("nan"),
            max_edge_outer=outer, converged=self.info.get("converged", True))

    def __repr__(self) -> str:
        return f"Mesh(n={self.n}, triangles={len(self.triangles)}, area={self.area:.6g})"

    def plot(self, ax: Any = None, data: Any = None, **kwargs: Any):
        """Draw the triangles, the boundary (and extension ring) and optional data points.

        Returns the matplotlib Axes.
        """
        from .plot import plot_mesh

        return plot_mesh(self, ax=ax, data=data, **kwargs)
