"""spatialgamm: spatial generalised additive mixed models and Gaussian-process models.

The front doors (``lmer``, ``glmer``, ``gam``, ``fit``) share one latent-Gaussian engine; see
``docs/ARCHITECTURE.md`` for the layers.
"""

from . import datasets
from .api import fit, gam, glmer, lmer
from .model import build_model
from .results.compare import anova

__all__ = ["anova", "build_model", "datasets", "fit", "gam", "glmer", "lmer"]
__version__ = "0.1.0"
