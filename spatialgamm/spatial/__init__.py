"""Maps for GIS: predictions over grids covering polygons, rasters, GeoTIFF and map plots.

This layer needs only the prediction protocol of a fit (docs/ARCHITECTURE.md, "Predictions").
"""

from .files import FileWriteError
from .geotiff import write_geotiff
from .grid import GridSpec, intersecting_cells, make_grid
from .gridprediction import GridPrediction
from .guards import ExtrapolationWarning, GridTooLargeError
from .plan import GridOptions
from .plot import plot_estimate_se, plot_map, save_figure
from .polygon import buffer_polygon, read_polygon
from .predict import predict_grid
from .raster import predict_raster
from .rasterout import to_cog, to_zarr
from .tiled import predict_geotiff

__all__ = [
    "ExtrapolationWarning",
    "FileWriteError",
    "GridOptions",
    "GridTooLargeError",
    "GridPrediction",
    "GridSpec",
    "buffer_polygon",
    "intersecting_cells",
    "make_grid",
    "plot_estimate_se",
    "plot_map",
    "predict_geotiff",
    "predict_grid",
    "predict_raster",
    "read_polygon",
    "save_figure",
    "to_cog",
    "to_zarr",
    "write_geotiff",
]
