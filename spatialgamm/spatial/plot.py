"""Maps of grid predictions with matplotlib: one band, or estimate and standard error.

Figures are made through pyplot (so they show in notebooks) but nothing calls ``plt.show``;
everything works under the non-interactive 'Agg' backend. Save with :func:`save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .files import atomic_path, verify_figure_file
from .gridprediction import GridPrediction
from .polygon import read_polygon


def _band_title(band: str, grid: GridPrediction | None) -> str:
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


def plot_map(
    grid_or_cells: Any,
    band: str = "estimate",
    polygon: Any = None,
    data: Any = None,
    ax: Any = None,
    cmap: str = "viridis",
    units: str | None = None,
    title: str | None = None,
) -> Any:
    """Map one band of a grid prediction, with the polygon outline and a colour bar.

    Parameters
    ----------
    grid_or_cells : GridPrediction or geopandas.GeoDataFrame
        A grid (drawn from its raster) or a cells table (cell polygons drawn).
    band : str
        Band to map: 'estimate', 'se', 'lower', 'upper' or 'p_exceed_<c>'.
    polygon : optional
        Outline to draw (any form ``predict_grid`` accepts); default: the grid's polygon.
        ``False`` draws none.
    data : DataFrame, GeoDataFrame or (n, 2) array, optional
        Data locations to mark.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    cmap : str
        Colour map (exceedance probabilities always span 0 to 1).
    units : str, optional
        Colour-bar units (default: the grid's).
    title : str, optional
        Default: the band and the scale.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_map(grid, "p_exceed_10", data=rongelap)  # doctest: +SKIP
    >>> save_figure(ax.figure, "exceed.png")  # doctest: +SKIP
    """
    import geopandas as gpd
    import matplotlib.pyplot as plt

    if not isinstance(grid_or_cells, (GridPrediction, gpd.GeoDataFrame)):
        raise TypeError(
            "plot_map needs a GridPrediction or its cells GeoDataFrame, got "
            f"{type(grid_or_cells).__name__}"
        )
    grid = grid_or_cells if isinstance(grid_or_cells, GridPrediction) else None
    cells = grid_or_cells  # with a grid: its raster is drawn, no cell polygons are built
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


def plot_estimate_se(grid: GridPrediction, **kwargs: Any) -> Any:
    """Estimate and standard error side by side, each with its colour bar.

    Parameters
    ----------
    grid : GridPrediction
    **kwargs
        Passed to :func:`plot_map` (polygon, data, cmap, units); ``figsize`` sets the size.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_estimate_se(grid, data=rongelap)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    if not isinstance(grid, GridPrediction):
        raise TypeError(f"plot_estimate_se needs a GridPrediction, got {type(grid).__name__}")
    figsize = kwargs.pop("figsize", None)
    if figsize is None:
        w, h = _single_size(grid.cells_bounds, width=6.0)
        figsize = (2 * w, h)
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize, layout="compressed")
    plot_map(grid, "estimate", ax=left, **kwargs)
    plot_map(grid, "se", ax=right, **kwargs)
    fig.suptitle(grid.scale_label, fontsize="medium")
    left.set_title("Estimate", fontsize="medium")
    right.set_title("Standard error", fontsize="medium")
    return fig


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 150, **kwargs: Any) -> Path:
    """Save a figure safely; the format comes from the extension.

    The figure is written to a temporary file next to ``path``, read back and checked
    (:func:`~spatialgamm.spatial.files.verify_figure_file`), flushed to disk and renamed over
    ``path``. A failed save leaves an existing file byte-for-byte as it was; a read-only
    target, or a path component that is a file, is refused naming it (see
    :func:`~spatialgamm.spatial.files.atomic_path`).

    Examples
    --------
    >>> save_figure(fig, "maps/rongelap.png")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"save_figure: cannot tell the format of {str(path)!r}; use one of "
            f"{sorted('.' + s for s in supported)}"
        )
    with atomic_path(path, "save_figure") as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, **kwargs)
        verify_figure_file(tmp, fmt, path)
    return path
