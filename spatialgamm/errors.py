"""The exceptions and warnings spatialgamm raises for bad input, in one place.

Every class derives from the built-in one a user would catch anyway (``ValueError``,
``TypeError``, ``UserWarning``), so ``except ValueError`` keeps working; the classes only make
the cause easier to catch and to document. Each message names the column, value or argument
at fault and, where there is one, the fix.

=======================  ====================================================================
class                    raised when
=======================  ====================================================================
``FormulaError``         the formula cannot be read: unbalanced parentheses, an empty term
                         (a trailing ``+``), an empty ``offset()``, a term argument of the
                         wrong type (``k='ten'``), a variable that is not a column
``DataError``            the data cannot be used as given: duplicated or complex columns,
                         infinite covariates, a one-level factor, a ``weights=`` name that is
                         not a column, a datetime where a number is needed
``DataTypeError``        ``data`` / ``newdata`` is not a pandas DataFrame (a polars frame is
                         named, with ``.to_pandas()`` suggested); also a ``TypeError``
``ModelError``           the data cannot identify the model: a constant Gaussian response,
                         an all-zero count response, more random effects than observations,
                         ``nAGQ > 1`` with a random slope
``PredictionError``      ``newdata`` does not fit the model: an unseen level of a grouping
                         factor (unless ``allow_new_levels=True``) or of a fixed-effect
                         factor, text in a numeric column
``DataWarning``          a data choice R makes silently that a user should know about: text
                         columns treated as factors, rows dropped for missing values,
                         aliased columns dropped, NaN covariates in ``newdata``
=======================  ====================================================================

Examples
--------
>>> import pandas as pd, spatialgamm as sg
>>> d = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0, float("inf")]})
>>> try:
...     sg.fit("y ~ x", d)
... except sg.DataError as err:
...     print(err)
column 'x' has an infinite value at row 2 (inf): covariates must be finite
"""

from __future__ import annotations

from typing import Any

__all__ = ["FormulaError", "DataError", "DataTypeError", "ModelError", "PredictionError",
           "DataWarning", "check_dataframe"]


class FormulaError(ValueError):
    """A formula that cannot be parsed; the message says which part and why."""


class DataError(ValueError):
    """Data that cannot be used as given; the message names the column and the fix."""


class DataTypeError(DataError, TypeError):
    """``data`` / ``newdata`` of the wrong type (not a pandas DataFrame)."""


class ModelError(ValueError):
    """A model the data cannot identify (nothing to estimate, or too many parameters)."""


class PredictionError(ValueError):
    """``newdata`` that does not match the fitted model (levels, types)."""


class DataWarning(UserWarning):
    """A silent choice (as R makes it) that the user should know about."""


def check_dataframe(data: Any, what: str = "data") -> None:
    """Refuse anything but a pandas DataFrame, naming what it is and how to convert it.

    Examples
    --------
    >>> check_dataframe([1, 2], "newdata")
    Traceback (most recent call last):
    ...
    spatialgamm.errors.DataTypeError: newdata must be a pandas DataFrame, got list
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return
    cls = type(data)
    module = getattr(cls, "__module__", "") or ""
    # detected by the type's module, so polars need not be installed to name it
    if module.split(".")[0] == "polars":
        raise DataTypeError(f"{what} is a polars {cls.__name__}; spatialgamm needs a pandas "
                            f"DataFrame: convert it with {what}.to_pandas()")
    if module.split(".")[0] == "pyarrow":
        raise DataTypeError(f"{what} is a pyarrow {cls.__name__}; convert it with "
                            f"{what}.to_pandas()")
    if isinstance(data, dict):
        raise DataTypeError(f"{what} must be a pandas DataFrame, got a dict: wrap it as "
                            f"pd.DataFrame({what})")
    raise DataTypeError(f"{what} must be a pandas DataFrame, got {cls.__name__}")
