"""spatialgamm: spatial generalised additive mixed models and Gaussian-process models.

The front doors (``lmer``, ``glmer``, ``gam``, ``fit``) share one latent-Gaussian engine;
``predict_grid`` turns any fit with spatial coordinates into a map and a GeoTIFF. See
``docs/ARCHITECTURE.md`` for the layers.
"""

from . import datasets, errors
from .api import fit, gam, glmer, lmer
from .errors import DataError, DataTypeError, DataWarning, FormulaError, ModelError, PredictionError
from .mesh import Mesh, matern_precision, nonconvex_hull
from .model import build_model
from .results.compare import anova
from .spatial import GridPrediction, plot_estimate_se, plot_map, predict_grid, save_figure

__all__ = ["DataError", "DataTypeError", "DataWarning", "FormulaError", "GridPrediction", "Mesh",
           "ModelError", "PredictionError", "anova", "build_model", "datasets", "errors", "fit",
           "gam", "glmer", "lmer", "matern_precision", "nonconvex_hull", "plot_estimate_se",
           "plot_map", "predict_grid", "save_figure"]
__version__ = "0.1.0"
