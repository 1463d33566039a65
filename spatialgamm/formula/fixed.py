"""Fixed-effect model matrices through formulaic, with R's column names and contrasts.

formulaic already uses treatment contrasts with the first level as reference for categoricals;
this module renames its columns the way R does (``Intercept`` -> ``(Intercept)``,
``period[T.2]`` -> ``period2``) and keeps the model spec so new data get the same columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from .parse import FormulaError

_LEVEL = re.compile(r"\[(?:T\.)?([^\]]*)\]")


def r_name(col: str) -> str:
    """R's name for a formulaic column.

    >>> r_name("period[T.2]"), r_name("Intercept"), r_name("x:f[T.b]")
    ('period2', '(Intercept)', 'x:fb')
    """
    if col == "Intercept":
        return "(Intercept)"
    return _LEVEL.sub(r"\1", col)


@dataclass(frozen=True)
class SimpleDesign:
    """Intercept and plain numeric columns: built without formulaic (which costs ~1.5 ms a
    call, most of a small mixed-model fit's set-up)."""

    X: np.ndarray
    names: list[str]
    columns: tuple[str, ...]
    intercept: bool

    def for_newdata(self, newdata: pd.DataFrame) -> np.ndarray:
        cols = [np.ones(len(newdata))] if self.intercept else []
        for c in self.columns:
            if c not in newdata.columns:
                raise ValueError(f"newdata lacks column {c!r}")
            cols.append(newdata[c].to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(newdata), 0))


def _simple_design(rhs: str, data: pd.DataFrame) -> SimpleDesign | None:
    terms = [t.strip() for t in rhs.replace("-", "+-").split("+") if t.strip()]
    intercept, cols = True, []
    for t in terms:
        if t in ("0", "-1"):
            intercept = False
        elif t == "1":
            continue
        elif (t.isidentifier() and t in data.columns and t not in cols
              and pd.api.types.is_numeric_dtype(data[t])
              and not pd.api.types.is_bool_dtype(data[t])):
            cols.append(t)
        else:
            return None
    X = [np.ones(len(data))] if intercept else []
    X += [data[c].to_numpy(dtype=float) for c in cols]
    names = (["(Intercept)"] if intercept else []) + cols
    return SimpleDesign(np.column_stack(X) if X else np.zeros((len(data), 0)), names,
                        tuple(cols), intercept)


@dataclass(frozen=True)
class FixedDesign:
    """A fixed-effect matrix with R names and the spec to rebuild it for new data."""

    X: np.ndarray
    names: list[str]
    spec: Any

    def for_newdata(self, newdata: pd.DataFrame) -> np.ndarray:
        """The same columns evaluated on ``newdata`` (levels and transforms as in the fit)."""
        mm = self.spec.get_model_matrix(newdata, na_action="ignore")
        return np.asarray(mm, dtype=float)


def fixed_design(rhs: str, data: pd.DataFrame, context: dict[str, Any] | None = None
                 ) -> FixedDesign | SimpleDesign:
    """Evaluate a formulaic right-hand side on ``data``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": pd.Categorical(["a", "b", "a"])})
    >>> fixed_design("x + f", d).names
    ['(Intercept)', 'x', 'fb']
    """
    simple = _simple_design(rhs, data)
    if simple is not None:
        return simple
    try:
        mm = model_matrix(rhs, data, na_action="ignore", context=context or {})
    except Exception as exc:
        raise FormulaError(f"cannot build the fixed-effect part {rhs!r}: {exc}") from exc
    names = [r_name(c) for c in mm.columns]
    X = np.asarray(mm, dtype=float)
    return FixedDesign(X, names, mm.model_spec)
