"""Drawing a grid prediction with matplotlib (the work behind :func:`~.plot.plot_map`, and
the ``GridPrediction.plot`` / ``plot_pair`` methods): no type checks here, so the grid's own
module can use it without importing :mod:`.plot`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .polygon import read_polygon


def _band_title(band: str, grid: Any) -> str:
    level = f"{100 * grid.level:g}% " if grid is not None else ""
    if band == "estimate":
        return "Estimate"
    if band == "se":
        return "Standard error"
    if band == "lower":
        return f"Lower {level}limit"
    if band == "upper":
        return f"Upper {level}limit"
    if band.startswith("p_exceed_"):
        return f"P(response > {band[len('p_exceed_'):]})"
    return band


def _axis_labels(names: tuple[str, str], crs: Any) -> tuple[str, str]:
    unit = None
    if crs is not None and crs.axis_info:
        unit = crs.axis_info[0].unit_name
    return tuple(f"{n} ({unit})" if unit else n for n in names)  # type: ignore[return-value]


def _draw_outline(ax: Any, polygon: Any) -> None:
    """Polygon boundaries (exterior and holes) as thin dark lines over the map."""
    import shapely

    geom = read_polygon(polygon).geometry
    for line in shapely.get_parts(shapely.boundary(geom)):
        for part in shapely.get_parts(line):
            xy = shapely.get_coordinates(part)
            ax.plot(xy[:, 0], xy[:, 1], color="0.15", linewidth=0.9)


def _data_xy(data: Any, names: tuple[str, str]) -> np.ndarray:
    import geopandas as gpd

    if isinstance(data, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
        return np.column_stack([geoms.x, geoms.y])
    if isinstance(data, pd.DataFrame):
        if all(c in data.columns for c in names):
            return data[list(names)].to_numpy(dtype=float)
        raise ValueError(f"data: needs the coordinate columns {names}; has {list(data.columns)}")
    xy = np.asarray(data, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"data: expected an (n, 2) array of locations, got shape {xy.shape}")
    return xy


def draw_map(
    grid: Any,
    cells: Any,
    band: str = "estimate",
    polygon: Any = None,
    data: Any = None,
    ax: Any = None,
    cmap: str = "viridis",
    units: str | None = None,
    title: str | None = None,
) -> Any:
    """One band of a grid (its raster; ``cells`` None) or of a cells GeoDataFrame (its cell
    polygons; ``grid`` None), with outline, data points and colour bar; the Axes."""
    import matplotlib.pyplot as plt

    cells = grid if cells is None else cells
    columns = list(grid.table) if grid is not None else list(cells.columns)
    if band not in columns:
        bands = list(grid.bands) if grid is not None else columns
        raise ValueError(f"band {band!r} not found; available: {bands}")
    names = grid.coords if grid is not None else tuple(cells.attrs.get("coords", ("x", "y")))
    crs = grid.crs if grid is not None else cells.crs
    if ax is None:
        # "compressed" layout: fixed-aspect maps with colour bars of the map's own height
        bounds = grid.cells_bounds if grid is not None else cells.total_bounds
        _, ax = plt.subplots(figsize=_single_size(bounds), layout="compressed")

    probability = band.startswith("p_exceed_")
    norm = dict(vmin=0.0, vmax=1.0) if probability else {}
    if grid is not None:
        image = ax.imshow(
            grid.raster[band], extent=grid.extent, origin="upper", cmap=cmap,
            interpolation="nearest", **norm,
        )  # fmt: skip
    else:
        values = cells[band].to_numpy(dtype=float)
        lo = norm.get("vmin", np.nanmin(values))
        hi = norm.get("vmax", np.nanmax(values))
        cells.plot(column=band, ax=ax, cmap=cmap, vmin=lo, vmax=hi, linewidth=0)
        image = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))

    outline = grid.polygon if (polygon is None and grid is not None) else polygon
    if outline is not None and outline is not False:
        _draw_outline(ax, outline)
    if data is not None:
        xy = _data_xy(data, names)
        ax.scatter(xy[:, 0], xy[:, 1], s=9, facecolor="white", edgecolor="black",
                   linewidth=0.5, zorder=3, label="data")  # fmt: skip

    ax.set_aspect("equal")
    xlabel, ylabel = _axis_labels(names, crs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is None:
        title = _band_title(band, grid)
        if grid is not None and not probability:
            title += f": {grid.scale_label}"
    ax.set_title(title, fontsize="medium")
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    unit = units if units is not None else (grid.band_units().get(band) if grid else None)
    bar.set_label(unit or ("probability" if probability else band))
    return ax


def _single_size(bounds: np.ndarray, width: float = 7.0) -> tuple[float, float]:
    """Figure size that fits a map of this aspect ratio with a colour bar and labels."""
    dx, dy = bounds[2] - bounds[0], bounds[3] - bounds[1]
    aspect = dy / dx if dx > 0 else 1.0
    return width, float(np.clip(width * 0.85 * aspect + 1.0, 2.8, 9.0))


def draw_pair(grid: Any, **kwargs: Any) -> Any:
    """Estimate and standard error of a grid side by side; the Figure."""
    import matplotlib.pyplot as plt

    figsize = kwargs.pop("figsize", None)
    if figsize is None:
        w, h = _single_size(grid.cells_bounds, width=6.0)
        figsize = (2 * w, h)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="compressed")
    draw_map(grid, None, "estimate", ax=left, **kwargs)
    draw_map(grid, None, "se", ax=right, **kwargs)
    fig.suptitle(grid.scale_label, fontsize="medium")
    left.set_title("Estimate", fontsize="medium")
    right.set_title("Standard error", fontsize="medium")
    return fig
