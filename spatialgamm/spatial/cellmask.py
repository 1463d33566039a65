"""Which cells of a window of the grid a polygon keeps: rasterisation, exact at the boundary.

Two questions are asked of every cell:

- *kept*: does the closed cell intersect the (buffered) polygon? (GEOS's ``intersects``, as
  sf's ``st_intersects``: a cell touching the boundary counts);
- *inside*: is the cell's centre in or on the (unbuffered) polygon? (the ``crop`` mask).

Testing a shapely box per cell cost 4.5 of 7.8 s on a 1000 x 1000 grid. Here
GDAL's rasteriser (:mod:`rasterio.features`) answers both for a whole window at once, and
GEOS is asked only about the few cells the polygon's boundary passes near:

1. the boundary lines are burnt with ``all_touched=True`` into the window padded by one
   cell, and that band is widened by one cell on each side (so a line on a cell edge, where
   GDAL's all-touched rule may pick either neighbour, is covered);
2. a cell outside that band lies wholly inside or wholly outside the polygon, so its centre
   decides both questions: GDAL's centre rule (``all_touched=False``);
3. a cell in the band is tested exactly with GEOS (its box for *kept*, its centre for
   *inside*).

``all_touched=True`` alone is not sf's rule: it keeps cells whose edge the polygon only
reaches to within GDAL's rounding and drops some that share only an edge or corner with it
(a box on cell edges). Step 3 makes the answer exactly GEOS's, cell for cell.
"""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine

from .gridspec import GridSpec

# rasterio's rasteriser, run in several threads at once (dask tiles), sometimes warns that
# its in-memory raster has no geotransform while another thread sets one up; the masks are
# right (tests compare them with GEOS cell for cell on threads and workers). Silence only that.
warnings.filterwarnings("ignore", message="Dataset has no geotransform",
                        category=NotGeoreferencedWarning, module="rasterio.features")


def window_transform(spec: GridSpec, row0: int, col0: int, pad: int = 0) -> Affine:
    """North-up transform of the window whose top-left cell is ``(row0, col0)``, padded."""
    top = float(spec.y_edges[spec.ny - row0])
    left = float(spec.x_edges[col0])
    return Affine(spec.dx, 0.0, left - pad * spec.dx, 0.0, -spec.dy, top + pad * spec.dy)


def _near_boundary(geom: shapely.Geometry, shape: tuple[int, int], spec: GridSpec, row0: int,
                   col0: int) -> np.ndarray:
    """Cells within one cell of where GDAL says the polygon's boundary passes."""
    from rasterio.features import rasterize
    from scipy.ndimage import binary_dilation

    h, w = shape
    padded = rasterize(
        [(shapely.boundary(geom), 1)], out_shape=(h + 2, w + 2),
        transform=window_transform(spec, row0, col0, pad=1), all_touched=True, dtype=np.uint8,
    )  # fmt: skip
    band = binary_dilation(padded.astype(bool), structure=np.ones((3, 3), dtype=bool))
    return band[1:-1, 1:-1]


def _centres_inside(geom: shapely.Geometry, shape: tuple[int, int], spec: GridSpec, row0: int,
                    col0: int) -> np.ndarray:
    """GDAL's centre rule: cells whose centre falls inside ``geom``."""
    from rasterio.features import geometry_mask

    return geometry_mask([geom], out_shape=shape, transform=window_transform(spec, row0, col0),
                         all_touched=False, invert=True)


def window_masks(
    spec: GridSpec,
    row0: int,
    col0: int,
    shape: tuple[int, int],
    buffered: shapely.Geometry,
    area: shapely.Geometry | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, inside)`` boolean masks, shape ``(rows, cols)``, of one window of the grid.

    Parameters
    ----------
    spec : GridSpec
        The whole grid.
    row0, col0 : int
        Raster row (from the top) and column of the window's top-left cell.
    shape : (int, int)
        Rows and columns of the window.
    buffered : shapely geometry
        The polygon cells must intersect to be kept.
    area : shapely geometry or None
        The polygon whose centres are *inside* (False wherever a cell is not kept); None
        skips the question (all False).

    Examples
    --------
    >>> import shapely
    >>> from spatialgamm.spatial.grid import make_grid
    >>> spec = make_grid((0, 0, 4, 1), n=(4, 1))
    >>> kept, inside = window_masks(spec, 0, 0, (1, 4), shapely.box(0, 0, 1, 1),
    ...                             shapely.box(0, 0, 1, 1))
    >>> kept.astype(int).tolist(), inside.astype(int).tolist()
    ([[1, 1, 0, 0]], [[1, 0, 0, 0]])
    """
    h, w = shape
    # Own copies: GEOS builds a prepared geometry's index lazily, and two threads preparing or
    # querying one geometry at once crash (dask runs tiles in threads of one process)
    buffered = shapely.from_wkb(shapely.to_wkb(buffered))
    area = None if area is None else shapely.from_wkb(shapely.to_wkb(area))
    kept = _exact_in_band(buffered, spec, row0, col0, shape, boxes=True)
    inside = np.zeros((h, w), dtype=bool)
    if area is not None and kept.any():
        inside = _exact_in_band(area, spec, row0, col0, shape, boxes=False) & kept
    return kept, inside


def _exact_in_band(geom: shapely.Geometry, spec: GridSpec, row0: int, col0: int,
                   shape: tuple[int, int], boxes: bool) -> np.ndarray:
    """The centre rule away from the boundary, GEOS's answer next to it."""
    out = _centres_inside(geom, shape, spec, row0, col0)
    band = _near_boundary(geom, shape, spec, row0, col0)
    r, c = np.nonzero(band)
    if len(r):
        shapely.prepare(geom)  # this call's own copy (see window_masks)
        i = col0 + c  # grid column
        j = spec.ny - 1 - (row0 + r)  # grid row from the bottom
        if boxes:
            out[r, c] = shapely.intersects(geom, spec.boxes(i, j))
        else:
            x, y = spec.centroids(i, j)
            out[r, c] = shapely.intersects_xy(geom, x, y)
    return out
