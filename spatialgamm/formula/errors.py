"""The one error type of formula handling."""


class FormulaError(ValueError):
    """A formula that cannot be parsed; the message says which part and why."""
