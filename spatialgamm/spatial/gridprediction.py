"""``GridPrediction``: a model's predictions over a regular grid, as a table and as a raster."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS
from rasterio.transform import Affine

from .crs import crs_label
from .draw import draw_map, draw_pair
from .geotiff import write_geotiff
from .grid import GridSpec


def scale_label(type: str, link: str, offset: float, has_offset: bool) -> str:
    """Words for the scale and exposure of the estimates, as summaries, plots and tags show."""
    scale = "response scale" if type == "response" else f"link scale ({link})"
    if offset == 0.0:
        return f"{scale}, per unit exposure (offset 0)" if has_offset else scale
    return f"{scale}, offset {offset:g} on the link scale"


def band_units(bands: Sequence[str], type: str, link: str, units: str | None) -> dict[str, str]:
    """Units of each band, where known (p_exceed bands are probabilities)."""
    out: dict[str, str] = {}
    for b in bands:
        if b.startswith("p_exceed_"):
            out[b] = "probability"
        elif type == "link":
            out[b] = units or f"{link} link scale"
        elif units:
            out[b] = units
    return out


def geotiff_tags(label: str, type: str, level: float, link: str, coords: Sequence[str],
                 exceedance: Sequence[float]) -> dict[str, str]:
    """Dataset tags of a map's GeoTIFF: scale, interval, link, coordinates, thresholds."""
    tags = {
        "scale": label,
        "interval": f"{100 * level:g}%, link-scale normal approximation"
        + (", transformed" if type == "response" else ""),
        "link": link,
        "coordinates": ", ".join(coords),
        "software": "spatialgamm",
    }
    if exceedance:
        tags["exceedance"] = "P(response > c) for c in " + ", ".join(f"{c:g}" for c in exceedance)
    return tags


@dataclass(eq=False)
class GridPrediction:
    """Predictions over a grid clipped to a polygon (built by :func:`predict_grid`).

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        One row per kept cell (cells that intersect the buffered polygon, in sf's order): the
        cell polygon; its centroid (columns named as the coordinates, e.g. cX, cY); the
        bands estimate, se, lower, upper, p_exceed_<c>; ``inside`` (centroid in or on the
        unbuffered polygon); ``row`` and ``col``, the cell's position in the raster. Built
        on first use (a polygon per cell is most of a large grid's memory), then kept.
    table : dict of str -> ndarray
        The same columns without the cell polygons (what ``cells`` is built from).
    spec : GridSpec
        The grid's cell edges.
    raster : dict of str -> ndarray
        Band name -> (ny, nx) float array, north-up (row 0 at the top), NaN outside the kept
        cells (and, with ``crop=True``, at cells whose centroid is outside the polygon).
    transform : Affine
        ``from_origin(xmin, ymax, dx, dy)`` of the grid.
    crs : pyproj.CRS or None
    bands : tuple of str
        Band names in order.
    coords : tuple of str
        The coordinate column names.
    type : str
        'response' or 'link'.
    level : float
        Interval level.
    offset : float
        Link-scale offset predictions were made with (0: per unit exposure).
    exceedance : tuple of float
        Thresholds (response scale) of the p_exceed bands.
    link : str
        Name of the link function.
    polygon : shapely geometry
        The unbuffered polygon in the grid's CRS (drawn as the outline on maps).
    buffer : float
    crop : bool
    units : str or None
        Units of estimate/se/lower/upper, when known (for colour bars and GeoTIFF tags).
    """

    table: dict[str, np.ndarray]
    spec: GridSpec
    raster: dict[str, np.ndarray]
    transform: Affine
    crs: CRS | None
    bands: tuple[str, ...]
    coords: tuple[str, str]
    type: str
    level: float
    offset: float
    exceedance: tuple[float, ...]
    link: str
    polygon: Any
    buffer: float = 0.0
    crop: bool = True
    units: str | None = None
    grid: dict[str, Any] = field(default_factory=dict)  # how the grid was asked for
    has_offset: bool = True  # did the fit have an exposure offset (else nothing to say)

    @cached_property
    def cells(self) -> Any:
        """The kept cells as a GeoDataFrame (built now, on first use; see the class doc)."""
        import geopandas as gpd

        i = self.table["col"]
        j = self.spec.ny - 1 - self.table["row"]
        cells = gpd.GeoDataFrame(dict(self.table), geometry=self.spec.boxes(i, j), crs=self.crs)
        cells.attrs["coords"] = self.coords
        return cells

    @property
    def n_cells(self) -> int:
        """Number of kept cells (rows of ``cells``)."""
        return len(self.table["row"])

    @property
    def cells_bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the kept cells, without building their polygons."""
        xe, ye = self.spec.x_edges, self.spec.y_edges
        col, j = self.table["col"], self.spec.ny - 1 - self.table["row"]
        return (float(xe[col.min()]), float(ye[j.min()]), float(xe[col.max() + 1]),
                float(ye[j.max() + 1]))

    @property
    def shape(self) -> tuple[int, int]:
        """Raster shape (ny, nx)."""
        return next(iter(self.raster.values())).shape

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of the raster."""
        t, (ny, nx) = self.transform, self.shape
        return (t.c, t.c + nx * t.a, t.f + ny * t.e, t.f)

    @property
    def scale_label(self) -> str:
        """Words for the scale and exposure of the estimates, as summaries and plots show."""
        return scale_label(self.type, self.link, self.offset, self.has_offset)

    def band_units(self) -> dict[str, str]:
        """Units of each band, where known (p_exceed bands are probabilities)."""
        return band_units(self.bands, self.type, self.link, self.units)

    def to_geodataframe(self, inside_only: bool = False) -> Any:
        """The cells table (a copy); ``inside_only=True`` keeps cells whose centroid is inside."""
        cells = self.cells[self.cells["inside"]] if inside_only else self.cells
        return cells.copy()

    def to_geotiff(
        self, path: str | os.PathLike, bands: list[str] | None = None, nodata: float = -9999.0
    ) -> Path:
        """Write the raster as a float32 multi-band GeoTIFF (atomically).

        Parameters
        ----------
        path : str or PathLike
            Ending in .tif or .tiff; parent directories are created.
        bands : list of str, optional
            Bands to write, in order (default: all of ``self.bands``).
        nodata : float
            Value written outside the kept cells.

        Examples
        --------
        >>> grid.to_geotiff("out/rongelap_rate.tif").name
        'rongelap_rate.tif'
        """
        names = list(self.bands) if bands is None else list(bands)
        unknown = [b for b in names if b not in self.raster]
        if unknown:
            raise ValueError(f"bands {unknown} not in this grid; it has {list(self.bands)}")
        tags = geotiff_tags(self.scale_label, self.type, self.level, self.link, self.coords,
                            self.exceedance)
        units = {b: u for b, u in self.band_units().items() if b in names}
        return write_geotiff(
            path,
            {b: self.raster[b] for b in names},
            self.transform,
            crs=self.crs,
            nodata=nodata,
            units=units,
            tags=tags,
        )

    def plot(self, band: str = "estimate", **kwargs: Any) -> Any:
        """Map one band (see :func:`plot_map`); returns the matplotlib Axes."""
        return draw_map(self, None, band=band, **kwargs)

    def plot_pair(self, **kwargs: Any) -> Any:
        """Estimate and standard error side by side (see :func:`plot_estimate_se`); a Figure."""
        return draw_pair(self, **kwargs)

    def summary(self) -> str:
        """A text summary: grid, scale and exposure, CRS, and each band's range."""
        ny, nx = self.shape
        t = self.transform
        n_in = int(self.table["inside"].sum())
        lines = [
            f"Grid prediction: {self.n_cells} cells of a {nx} x {ny} grid "
            f"(cells {t.a:.6g} x {-t.e:.6g}), {n_in} with centroid inside the polygon",
            f"Scale: {self.scale_label}",
            f"Interval: {100 * self.level:g}%, link-scale normal approximation"
            + (", transformed to the response scale" if self.type == "response" else ""),
            f"CRS: {crs_label(self.crs)}",
            f"Extent: x {self.extent[0]:.6g} .. {self.extent[1]:.6g}, "
            f"y {self.extent[2]:.6g} .. {self.extent[3]:.6g}",
            f"Buffer: {self.buffer:g}; raster {'cropped to' if self.crop else 'not cropped to'} "
            "the polygon",
        ]
        if self.units:
            lines.append(f"Units: {self.units}")
        stats = pd.DataFrame(
            {
                b: pd.Series(self.table[b]).describe()[["min", "50%", "max"]]
                for b in self.bands
            }
        ).T.rename(columns={"50%": "median"})
        n_missing = int(np.isnan(self.table["estimate"]).sum())
        if n_missing:
            lines.append(f"Cells without a prediction (missing covariates): {n_missing}")
        lines.append("")
        lines.append(stats.to_string(float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        ny, nx = self.shape
        return (
            f"<GridPrediction {self.n_cells} cells, {nx} x {ny} raster, bands "
            f"{list(self.bands)}, {self.scale_label}, CRS {crs_label(self.crs)}>"
        )

    def __str__(self) -> str:
        return self.summary()
