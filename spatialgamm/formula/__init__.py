"""Formula parsing: R-style formulas into response, fixed part, bars, special terms, offsets."""

from .parse import BarTerm, FormulaError, ParsedFormula, SpecialTerm, parse_formula

__all__ = ["BarTerm", "FormulaError", "ParsedFormula", "SpecialTerm", "parse_formula"]
