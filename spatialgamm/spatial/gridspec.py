"""The regular grid itself: cell edges, shape and north-up transform (:class:`GridSpec`).

Cells are numbered as sf numbers them: from the lower-left corner, x fastest (column ``i``,
row-from-the-bottom ``j``); raster rows count from the top, ``r = ny - 1 - j``. Built by
:func:`~spatialgamm.spatial.grid.make_grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from rasterio.transform import Affine


@dataclass(frozen=True)
class GridSpec:
    """Cell edges of a regular grid; ``x_edges`` has ``nx + 1`` values, ``y_edges`` ``ny + 1``."""

    x_edges: np.ndarray
    y_edges: np.ndarray
    dx: float
    dy: float

    @property
    def nx(self) -> int:
        return len(self.x_edges) - 1

    @property
    def ny(self) -> int:
        return len(self.y_edges) - 1

    @property
    def shape(self) -> tuple[int, int]:
        """Raster shape (rows, columns) = (ny, nx)."""
        return self.ny, self.nx

    @property
    def transform(self) -> Affine:
        """North-up transform from the top-left corner: ``from_origin(xmin, ymax, dx, dy)``."""
        return Affine(self.dx, 0.0, float(self.x_edges[0]), 0.0, -self.dy, float(self.y_edges[-1]))

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top), as matplotlib's ``imshow(extent=)`` wants it."""
        return (
            float(self.x_edges[0]),
            float(self.x_edges[-1]),
            float(self.y_edges[0]),
            float(self.y_edges[-1]),
        )

    def centroids(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centres of cells with columns ``i`` and rows-from-the-bottom ``j``."""
        xe, ye = self.x_edges, self.y_edges
        return 0.5 * (xe[i] + xe[i + 1]), 0.5 * (ye[j] + ye[j + 1])

    def boxes(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Cell polygons (shapely boxes) of cells ``(i, j)``."""
        xe, ye = self.x_edges, self.y_edges
        return shapely.box(xe[i], ye[j], xe[i + 1], ye[j + 1])
