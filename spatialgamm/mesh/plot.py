"""Drawing a mesh with matplotlib (triangles, boundary, extension ring, data points)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _draw_rings(ax, geom, **kw) -> None:
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            ax.plot(xy[:, 0], xy[:, 1], **kw)


def plot_mesh(mesh, ax: Any = None, data: Any = None, color: str = "0.55",
              linewidth: float = 0.4, **kwargs: Any):
    """Draw ``mesh`` on ``ax`` (a new figure when None) and return the Axes.

    Parameters
    ----------
    mesh : Mesh
    ax : matplotlib Axes, optional
    data : (k, 2) array_like, optional
        Points to overlay (e.g. the data sites), drawn in red.
    color, linewidth : triangle edge style.
    **kwargs : passed to ``Axes.triplot``.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from spatialgamm.mesh import Mesh
    >>> m = Mesh(np.array([[0, 0], [1, 0], [0, 1]], float), np.array([[0, 1, 2]]))
    >>> ax = m.plot()
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    ax.triplot(mesh.nodes[:, 0], mesh.nodes[:, 1], mesh.triangles, color=color,
               linewidth=linewidth, **kwargs)
    if mesh.outer is not None:
        _draw_rings(ax, mesh.outer, color="0.3", linewidth=1.0)
    if mesh.boundary is not None:
        _draw_rings(ax, mesh.boundary, color="tab:blue", linewidth=1.5)
    if data is not None:
        from .projector import read_points

        xy = read_points(data, name="data")
        ax.plot(xy[:, 0], xy[:, 1], "o", color="tab:red", markersize=2.5)
    ax.set_aspect("equal")
    ax.set_title(f"{mesh.n} nodes, {len(mesh.triangles)} triangles")
    return ax
