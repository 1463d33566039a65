"""Evaluate response and offset expressions (``log(time)``, ``cbind(s, n - s)``) on data.

The expressions are R's (``sqrt(dist)``, ``log(x, base = 2)``, ``as.numeric(f)``,
`` `Δ days` ``), evaluated by :mod:`.revaluate`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .errors import FormulaError
from .revaluate import Context, RFactor, RMatrix, check_functions, eval_node, variables_of
from .rsyntax import Name, calls_of, parse_r

_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


def names_in(expr: str) -> set[str]:
    """Variables an R expression reads (candidate data columns; function names excluded).

    >>> sorted(names_in("cbind(s, n - s) + log(`Δ days`)"))
    ['n', 's', 'Δ days']
    """
    try:
        return set(variables_of(parse_r(expr)))
    except FormulaError:
        return set(_IDENT.findall(expr))


def evaluate(expr: str, data: pd.DataFrame, env: dict[str, Any] | None = None) -> np.ndarray:
    """Evaluate the R expression ``expr`` with data columns, then the caller's names.

    Examples
    --------
    >>> import pandas as pd
    >>> evaluate("log(t)", pd.DataFrame({"t": [1.0, np.e]})).round(6).tolist()
    [0.0, 1.0]
    >>> evaluate("sqrt(`Δ days`) + (w > 2)", pd.DataFrame({"Δ days": [4.0], "w": [3]})).tolist()
    [3.0]
    """
    env = env or {}
    node = parse_r(expr)
    check_functions(node, env)
    out = eval_node(node, Context(data, env, {}, fitting=True))
    if isinstance(out, RFactor):
        raise FormulaError(f"{expr!r} is a factor (categorical), not numbers; use "
                           "as.numeric() for its codes or a comparison such as (f == 'yes')")
    if isinstance(out, RMatrix):
        out = out.values
    if isinstance(out, (str, list)):
        raise FormulaError(f"{expr!r} is not numeric")
    out = np.asarray(out, dtype=float)
    if out.ndim == 0:
        out = np.full(len(data), float(out))
    return out


#: functions whose value depends on the data they see: as a special term's argument they
#: would be recomputed on new data, so they are refused there
_STATEFUL = ("poly", "scale", "ns", "bs", "factor", "as.factor", "ordered", "as.ordered", "C",
             "relevel", "mean", "median", "sd", "var", "min", "max", "sum", "length")


def add_expression_columns(data: pd.DataFrame, specials: Any, env: dict[str, Any] | None = None
                           ) -> pd.DataFrame:
    """``data`` with a column for each argument of a smooth that is an R expression
    (``s(log(x))``), named by its R text, so that the term reads it as a column at fit and at
    prediction. Coordinates of spatial terms must be columns (they name a map's axes).

    Examples
    --------
    >>> from spatialgamm.formula.parse import parse_special
    >>> d = add_expression_columns(pd.DataFrame({"x": [1.0, 100.0]}),
    ...                            [parse_special("s(log10(x), k=5)")])
    >>> d["log10(x)"].tolist()
    [0.0, 2.0]
    """
    new: dict[str, np.ndarray] = {}
    for s in specials:
        for v in s.variables:
            if v in data.columns or v in new:
                continue
            try:
                node = parse_r(v)
            except FormulaError:
                continue  # the term reports what it cannot read
            if isinstance(node, Name):
                continue
            if s.func in ("gp", "hsgp", "spde") or (s.func == "s" and s.kwargs.get("bs") == "gp"
                                                    and len(s.variables) == 2):
                # coordinates name a map's axes (predict_grid builds them from a polygon)
                raise FormulaError(f"{s.text}: the coordinates of a spatial term must be columns "
                                   f"of the data, not the expression {v!r}; add the column "
                                   "(e.g. in km) before fitting")
            bad = [c.fn for c in calls_of(node) if c.fn in _STATEFUL]
            if bad:
                raise FormulaError(f"{s.text}: {bad[0]}() in the argument {v!r} depends on the "
                                   "data it sees and would change at prediction; compute the "
                                   "column before fitting")
            new[v] = evaluate(v, data, env)
    return data.assign(**new) if new else data
