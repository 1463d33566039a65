"""spatialgamm: spatial generalised additive mixed models and Gaussian-process models.

The front doors (``lmer``, ``glmer``, ``gam``, ``fit``) share one latent-Gaussian engine;
``predict_grid`` turns any fit with spatial coordinates into a map and a GeoTIFF. See
``docs/ARCHITECTURE.md`` for the layers.
"""

from . import datasets
from .api import fit, gam, gamm4, glmer, lmer
from .control import Control, glmer_control, lmer_control
from .engine.optimize import ConvergenceWarning, SingularFitWarning
from .families import negative_binomial
from .mesh import Mesh, matern_precision, nonconvex_hull
from .model import build_model
from .results.compare import anova
from .spatial import GridPrediction, plot_estimate_se, plot_map, predict_grid, save_figure

__all__ = ["Control", "ConvergenceWarning", "GridPrediction", "Mesh", "SingularFitWarning",
           "anova", "build_model", "datasets", "fit", "gam", "gamm4", "glmer", "glmer_control",
           "lmer", "lmer_control", "matern_precision", "negative_binomial", "nonconvex_hull",
           "plot_estimate_se", "plot_map", "predict_grid", "save_figure"]
__version__ = "0.1.0"

# the error classes (issue 12): one module documents them, the package re-exports them
from . import errors  # noqa: E402
from .errors import (  # noqa: E402
    DataError,
    DataTypeError,
    DataWarning,
    FormulaError,
    ModelError,
    PredictionError,
)

__all__ += ["DataError", "DataTypeError", "DataWarning", "FormulaError", "ModelError",
            "PredictionError", "errors"]

# rasters by tiles on dask (issue 17)
from .spatial import predict_raster, to_cog, to_zarr  # noqa: E402

__all__ += ["predict_raster", "to_cog", "to_zarr"]

# Bayesian fits the INLA way (issue 15): sg.inla(formula, data, family=..., priors=...)
from .bayes import inla  # noqa: E402

__all__ += ["inla"]
