"""The grid in tiles: which cells each tile keeps and the bands predicted there.

One tile is a rectangle of raster cells (rows from the top). Every path that maps a grid
goes through the two functions here: :func:`kept_cells` (the cells of the whole grid in sf's
order, found tile by tile; used by ``predict_grid``) and :func:`tile_block` (the bands of one
tile as an array; one dask task of ``predict_raster``, one window of ``predict_geotiff``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cellmask import window_masks
from .values import predict_values


@dataclass(frozen=True)
class Tile:
    """Raster rows ``row0 .. row0 + height - 1`` (from the top) and the matching columns."""

    row0: int
    col0: int
    height: int
    width: int

    @property
    def window(self) -> tuple[slice, slice]:
        return (slice(self.row0, self.row0 + self.height),
                slice(self.col0, self.col0 + self.width))


def check_chunks(chunks: Any, name: str = "chunks") -> tuple[int, int]:
    """``chunks`` as (rows, cols) per tile: one whole number >= 16 for square tiles, or two."""
    vals = [chunks, chunks] if np.ndim(chunks) == 0 else list(chunks)
    ok = len(vals) == 2 and all(
        not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.number))
        and float(v).is_integer() and v >= 16 for v in vals
    )
    if not ok:
        raise ValueError(
            f"{name} must be a whole number of cells per tile side (at least 16), or a pair "
            f"(rows, cols); got {chunks!r}"
        )
    return int(vals[0]), int(vals[1])


def split(total: int, size: int) -> tuple[int, ...]:
    """Sizes of consecutive blocks of at most ``size`` covering ``total`` (dask's chunks)."""
    full, rest = divmod(total, size)
    return (size,) * full + ((rest,) if rest else ())


def tiles_of(shape: tuple[int, int], chunks: tuple[int, int]) -> list[list[Tile]]:
    """The tiles of a ``(rows, cols)`` raster, as a grid of tiles (row-major)."""
    row_sizes, col_sizes = split(shape[0], chunks[0]), split(shape[1], chunks[1])
    row_starts = np.concatenate([[0], np.cumsum(row_sizes)[:-1]]).astype(int)
    col_starts = np.concatenate([[0], np.cumsum(col_sizes)[:-1]]).astype(int)
    return [[Tile(int(r0), int(c0), h, w) for c0, w in zip(col_starts, col_sizes)]
            for r0, h in zip(row_starts, row_sizes)]


def kept_cells(plan: Any, rows: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns ``i``, rows-from-the-bottom ``j`` and ``inside`` of every kept cell, sf's order.

    Computed a band of ``rows`` raster rows at a time from the bottom (bounded memory).
    """
    spec = plan.spec
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for top in range(spec.ny, 0, -rows):
        r0 = max(0, top - rows)
        kept, inside = window_masks(spec, r0, 0, (top - r0, spec.nx), plan.buffered, plan.area)
        jj, ii = np.nonzero(kept[::-1])  # rows from the bottom, x fastest
        found.append((ii, jj + spec.ny - top, inside[::-1][jj, ii]))
    i, j, inside = (np.concatenate(parts) for parts in zip(*found))
    return i, j, inside


def tile_block(plan: Any, tile: Tile, crop: bool) -> np.ndarray:
    """The bands over one tile: float64 ``(n_bands, height, width)``, NaN where not mapped.

    Cells not kept (not intersecting the buffered polygon), and with ``crop`` cells whose
    centre is outside the polygon, are NaN. At most ``plan.chunk_size`` cells go to
    ``fit.predict`` at once; nothing larger than the tile is allocated.
    """
    spec = plan.spec
    shape = (tile.height, tile.width)
    kept, inside = window_masks(spec, tile.row0, tile.col0, shape, plan.buffered, plan.area)
    shown = inside if crop else kept
    out = np.full((len(plan.bands), *shape), np.nan)
    r, c = np.nonzero(shown)
    if len(r):
        x, y = spec.centroids(tile.col0 + c, spec.ny - 1 - (tile.row0 + r))
        values = predict_values(plan, x, y, progress=False)
        for k, band in enumerate(plan.bands):
            out[k, r, c] = values[band]
    return out


def bands_at(block: np.ndarray, bands: Sequence[str]) -> dict[str, np.ndarray]:
    """A tile's ``(n_bands, h, w)`` block as ``{band: (h, w)}`` views."""
    return {b: block[k] for k, b in enumerate(bands)}
