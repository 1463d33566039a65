"""Evaluate response and offset expressions (``log(time)``, ``cbind(s, n - s)``) on data."""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np
import pandas as pd

from .parse import FormulaError

_FUNCS: dict[str, Any] = {
    "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p,
    "log10": np.log10, "log2": np.log2, "sin": np.sin, "cos": np.cos, "I": lambda x: x,
    "cbind": lambda *a: np.column_stack(a), "np": np,
}

_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


def names_in(expr: str) -> set[str]:
    """Identifiers used in an expression (candidate data columns)."""
    try:
        tree = ast.parse(expr, mode="eval")
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set(_IDENT.findall(expr))


def evaluate(expr: str, data: pd.DataFrame, env: dict[str, Any] | None = None) -> np.ndarray:
    """Evaluate ``expr`` with data columns, then the caller's names, then numpy functions.

    Examples
    --------
    >>> import pandas as pd
    >>> evaluate("log(t)", pd.DataFrame({"t": [1.0, np.e]})).round(6).tolist()
    [0.0, 1.0]
    """
    env = env or {}
    used = names_in(expr)
    ns: dict[str, Any] = dict(_FUNCS)
    ns.update({k: v for k, v in env.items() if k in used})
    for name in used:
        if name in data.columns:
            col = data[name]
            if not pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype,
                                                                          pd.BooleanDtype):
                raise FormulaError(f"column {name!r} used in {expr!r} is not numeric "
                                   f"(dtype {col.dtype})")
            ns[name] = col.to_numpy(dtype=float)
    missing = [n for n in used if n not in ns]
    if missing:
        raise FormulaError(f"{expr!r} uses {missing}, which are not columns of the data "
                           f"(columns: {list(data.columns)})")
    try:
        out = eval(compile(ast.parse(expr, mode="eval"), "<formula>", "eval"),  # noqa: S307
                   {"__builtins__": {}}, ns)
    except Exception as exc:
        raise FormulaError(f"cannot evaluate {expr!r}: {exc}") from exc
    return np.asarray(out, dtype=float)
