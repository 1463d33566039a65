"""spatialgamm: spatial generalised additive mixed models and Gaussian-process models.

The front doors (``lmer``, ``glmer``, ``gam``, ``fit``) share one latent-Gaussian engine,
reached through four public stages (``build_model -> make_objective -> optimize ->
assemble``);
``predict_grid`` turns any fit with spatial coordinates into a map and a GeoTIFF. See
``docs/ARCHITECTURE.md`` for the layers.
"""

from . import datasets
from .api import fit, gam, gamm4, glmer, lmer
from .control import Control, glmer_control, lmer_control
from .engine.objective import default_plan, make_objective
from .engine.optimize import ConvergenceWarning, SingularFitWarning, optimize
from .families import negative_binomial
from .mesh import Mesh, matern_precision, nonconvex_hull
from .model import build_model
from .results import refit as _refit  # noqa: F401 - fit.refit_ml() and fit.bootstrap()
from .results.assemble import assemble
from .results.compare import anova
from .spatial import GridPrediction, plot_estimate_se, plot_map, predict_grid, save_figure

__all__ = ["anova", "assemble", "build_model", "Control", "ConvergenceWarning", "datasets",
           "default_plan", "fit", "gam", "gamm4", "glmer", "glmer_control", "GridPrediction",
           "lmer", "lmer_control", "make_objective", "matern_precision", "Mesh",
           "negative_binomial", "nonconvex_hull", "optimize", "plot_estimate_se", "plot_map",
           "predict_grid", "save_figure", "SingularFitWarning"]
__version__ = "0.1.0"

# the error classes: one module documents them, the package re-exports them
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

# rasters by tiles on dask
from .spatial import predict_raster, to_cog, to_zarr  # noqa: E402

__all__ += ["predict_raster", "to_cog", "to_zarr"]

# Bayesian models the brms / Stan way: NUTS through nutpie, ArviZ diagnostics
# Bayesian fits the INLA way: sg.inla(formula, data, family=..., priors=...)
from .bayes import ginla, inla  # noqa: E402
from .mcmc import brm, loo_compare  # noqa: E402

__all__ += ["brm", "ginla", "inla", "loo_compare"]
