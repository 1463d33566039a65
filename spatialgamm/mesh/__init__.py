"""Triangle meshes for SPDE Matern fields: building, FEM matrices, projector, precision.

A leaf of the package: it imports nothing from the engine or the results layers.
"""

from .build import MeshWarning
from .core import Mesh, MeshSummary
from .fem import fem_matrices
from .hull import nonconvex_hull
from .precision import (
    SPDEOperator,
    matern_precision,
    matern_scales,
    parsimonious_coefficients,
    pc_prior_logdensity,
)
from .projector import TriangleLocator
from .refine import MeshSizeError

__all__ = [
    "Mesh",
    "MeshSizeError",
    "MeshWarning",
    "MeshSummary",
    "SPDEOperator",
    "TriangleLocator",
    "fem_matrices",
    "matern_precision",
    "matern_scales",
    "nonconvex_hull",
    "parsimonious_coefficients",
    "pc_prior_logdensity",
]
