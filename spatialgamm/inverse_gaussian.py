"""The inverse Gaussian family, R's ``inverse.gaussian()`` (kept as an import place: the class
lives in :mod:`spatialgamm.families` with the others, which resolves ``"inverse.gaussian"``)."""

from .families import InverseGaussian

__all__ = ["InverseGaussian"]
