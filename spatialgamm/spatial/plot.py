"""Maps of grid predictions with matplotlib: one band, or estimate and standard error.

Figures are made through pyplot (so they show in notebooks) but nothing calls ``plt.show``;
everything works under the non-interactive 'Agg' backend. Save with :func:`save_figure`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .draw import draw_map, draw_pair
from .files import atomic_path, verify_figure_file
from .gridprediction import GridPrediction


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
    >>> ax = plot_map(grid, "p_exceed_10", data=rongelap)
    >>> save_figure(ax.figure, "exceed.png").name
    'exceed.png'
    """
    import geopandas as gpd

    if not isinstance(grid_or_cells, (GridPrediction, gpd.GeoDataFrame)):
        raise TypeError(
            "plot_map needs a GridPrediction or its cells GeoDataFrame, got "
            f"{type(grid_or_cells).__name__}"
        )
    grid = grid_or_cells if isinstance(grid_or_cells, GridPrediction) else None
    return draw_map(grid, None if grid is not None else grid_or_cells, band, polygon=polygon,
                    data=data, ax=ax, cmap=cmap, units=units, title=title)


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
    >>> fig = plot_estimate_se(grid, data=rongelap)
    >>> len(fig.axes) >= 2
    True
    """

    if not isinstance(grid, GridPrediction):
        raise TypeError(f"plot_estimate_se needs a GridPrediction, got {type(grid).__name__}")
    return draw_pair(grid, **kwargs)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 150, **kwargs: Any) -> Path:
    """Save a figure safely; the format comes from the extension.

    The figure is written to a temporary file next to ``path``, read back and checked
    (:func:`~spatialgamm.spatial.files.verify_figure_file`), flushed to disk and renamed over
    ``path``. A failed save leaves an existing file byte-for-byte as it was; a read-only
    target, or a path component that is a file, is refused naming it (see
    :func:`~spatialgamm.spatial.files.atomic_path`).

    Examples
    --------
    >>> fig = plot_estimate_se(grid, data=rongelap)
    >>> save_figure(fig, "maps/rongelap.png").name
    'rongelap.png'
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
