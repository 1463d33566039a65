"""The one error type of formula handling (defined with the others in :mod:`spatialgamm.errors`,
a leaf module every layer may import)."""

from ..errors import FormulaError

__all__ = ["FormulaError"]
