"""Fixed-effect model matrices as R's ``model.matrix``: columns, contrasts and names.

The right-hand side is read as an R expression (:mod:`.rsyntax`), expanded into R's terms
(:mod:`.terms`), each variable evaluated on the data (:mod:`.revaluate`), and the columns of
each term formed as R does:

- a factor in a term is coded by *contrasts* when the term without it is contained in an
  earlier term (the intercept counting as the empty term), and by *indicators* of all its
  levels otherwise; without an intercept, the first factor of the first term containing one
  gets indicators (R's ``TermCode`` and ``model.matrix``);
- contrasts are R's defaults: treatment for factors, ``contr.poly`` (``.L``, ``.Q``, ``.C``,
  ``^4``) for ordered factors, or those set with ``C(f, contr.sum)``; a logical variable is a
  factor with levels FALSE, TRUE (hence ``I(week > 2)TRUE``);
- names: the variable's R text followed by the contrast, level or matrix column name, joined
  by ``:`` with the first variable varying fastest.

formulaic (used before) names columns its own way (``poly(x, 2)[1]``, ``f[T.b]``), has no
``ns()``, no polynomial contrasts for pandas' ordered categoricals and no R syntax
(``as.numeric``, ``%in%``, back-quotes), so the matrix is built here; the stateful transforms
keep their fitted state in :class:`FixedDesign` and reuse it for new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import FormulaError
from .revaluate import (
    Context,
    RFactor,
    RMatrix,
    check_functions,
    eval_node,
    make_factor,
    recode,
)
from .rsyntax import calls_of, deparse_name, names_of, parse_r
from .terms import Terms, expand_terms
from .transforms import contr_poly


def contrast_matrix(fac: RFactor, what: str) -> tuple[np.ndarray, list[str]]:
    """The contrasts of a factor (k levels -> k x (k-1)) and their column names."""
    k = len(fac.levels)
    if k < 2:
        raise FormulaError(f"contrasts can be applied only to factors with 2 or more levels: "
                           f"{what} has {k} ({list(fac.levels)})")
    kind = fac.contrasts or ("poly" if fac.ordered else "treatment")
    if kind == "C:treatment":  # C(f, contr.treatment) calls contr.treatment(k): numbered
        return np.eye(k)[:, 1:], [str(j) for j in range(2, k + 1)]
    if kind in ("SAS", "C:SAS"):
        names = list(fac.levels[:-1]) if kind == "SAS" else [str(j) for j in range(1, k)]
        return np.eye(k)[:, :-1], names
    if kind == "treatment":
        return np.eye(k)[:, 1:], list(fac.levels[1:])
    if kind == "sum":
        C = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])
        return C, [str(j) for j in range(1, k)]
    if kind == "helmert":
        C = np.zeros((k, k - 1))
        for j in range(1, k):
            C[:j, j - 1] = -1.0
            C[j, j - 1] = float(j)
        return C, [str(j) for j in range(1, k)]
    return contr_poly(k)


def _as_factor(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.dtype == bool:
        return RFactor(v.astype(np.int64), ("FALSE", "TRUE"))
    if isinstance(v, list):
        return make_factor(v, None, "")
    return v


def _used_levels(v: Any, label: str, ctx: Context) -> Any:
    """A factor with the levels seen in the fitting data only (R's model frame drops unused
    levels: ``drop.unused.levels = TRUE`` in lm and lme4); new data are coded on those."""
    if not isinstance(v, RFactor):
        return v
    key = f"levels:{label}"
    if ctx.fitting:
        used = np.unique(v.codes[v.codes >= 0])
        ctx.state[key] = tuple(v.levels[i] for i in used)
    levels = ctx.state.get(key)
    if levels is None or tuple(levels) == tuple(v.levels):
        return v
    codes = recode(list(levels), list(v.levels), v.codes, label)
    return RFactor(codes, tuple(levels), v.ordered, v.contrasts)


def _block(v: Any, label: str, coding: int, n: int) -> tuple[np.ndarray, list[str]]:
    """One variable's columns in a term: coding 0 numeric, 1 contrasts, 2 indicators."""
    if isinstance(v, RFactor):
        rows = v.codes
        M, names = (contrast_matrix(v, label) if coding == 1
                    else (np.eye(len(v.levels)), list(v.levels)))
        out = np.full((n, M.shape[1]), np.nan)
        ok = rows >= 0
        out[ok] = M[rows[ok]]
        return out, [label + nm for nm in names]
    if isinstance(v, RMatrix):
        vals = np.asarray(v.values, dtype=float).reshape(n, -1)
        if v.colnames is None:
            names = [label] if vals.shape[1] == 1 else [f"{label}{j}" for j in
                                                        range(1, vals.shape[1] + 1)]
        else:
            names = [label + c for c in v.colnames]
        return vals, names
    vals = np.broadcast_to(np.asarray(v, dtype=float), (n,)).reshape(n, 1)
    return vals, [label]


def _product(blocks: list[tuple[np.ndarray, list[str]]]) -> tuple[np.ndarray, list[str]]:
    M, names = blocks[0]
    for B, bnames in blocks[1:]:
        M = np.column_stack([M[:, i] * B[:, j] for j in range(B.shape[1])
                             for i in range(M.shape[1])]) if M.shape[1] * B.shape[1] else \
            np.zeros((M.shape[0], 0))
        names = [f"{a}:{b}" for b in bnames for a in names]
    return M, names


def _codings(terms: Terms, is_factor: list[bool]) -> list[list[int]]:
    """R's TermCode: per term, per variable: 0 numeric, 1 contrasts, 2 indicators."""
    out: list[list[int]] = []
    for k, t in enumerate(terms.terms):
        codes = []
        for i in terms.variables_in(t):
            if not is_factor[i]:
                codes.append(0)
                continue
            rest = t & ~(1 << i)
            contained = rest == 0 or any(rest & ~prev == 0 for prev in terms.terms[:k])
            codes.append(1 if contained else 2)
        out.append(codes)
    if not terms.intercept:
        for k, t in enumerate(terms.terms):
            idx = terms.variables_in(t)
            hit = [j for j, i in enumerate(idx) if is_factor[i]]
            if hit:
                out[k][hit[0]] = 2
                break
    return out


@dataclass
class FixedDesign:
    """A model matrix with R's names and what it takes to rebuild it for new data.

    ``assign`` maps each column to its term (0 = intercept), as R's ``attr(X, "assign")``.
    """

    X: np.ndarray
    names: list[str]
    terms: Terms
    codings: list[list[int]]
    state: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    assign: list[int] = field(default_factory=list)

    def for_newdata(self, newdata: pd.DataFrame) -> np.ndarray:
        """The same columns on ``newdata``: the fitting data's factor levels, polynomial
        coefficients, spline knots and scaling; rows with missing values give NaN."""
        ctx = Context(newdata, self.env, self.state, fitting=False)
        X, names, _, _ = _assemble(self.terms, ctx, self.codings)
        if names != self.names:  # pragma: no cover - a coding that changed with the data
            raise FormulaError(f"new data give columns {names}, the fit had {self.names}")
        return X


def _assemble(terms: Terms, ctx: Context, codings: list[list[int]] | None
              ) -> tuple[np.ndarray, list[str], list[list[int]], list[int]]:
    n = ctx.n
    values = [_as_factor(_used_levels(eval_node(v, ctx), label, ctx))
              for v, label in zip(terms.variables, terms.labels_of_variables)]
    for v, label in zip(values, terms.labels_of_variables):
        if isinstance(v, str):
            raise FormulaError(f"variable {label!r} is a single string, not a column")
        if isinstance(v, np.ndarray) and v.ndim == 1 and len(v) not in (n, 1):
            raise FormulaError(f"variable {label!r} has {len(v)} values for {n} rows")
    if codings is None:
        codings = _codings(terms, [isinstance(v, RFactor) for v in values])
    cols: list[np.ndarray] = [np.ones((n, 1))] if terms.intercept else []
    names: list[str] = ["(Intercept)"] if terms.intercept else []
    assign: list[int] = [0] if terms.intercept else []
    for k, (t, coding) in enumerate(zip(terms.terms, codings), start=1):
        idx = terms.variables_in(t)
        blocks = [_block(values[i], terms.labels_of_variables[i], c, n)
                  for i, c in zip(idx, coding)]
        M, nm = _product(blocks)
        cols.append(M)
        names += nm
        assign += [k] * len(nm)
    # column-major, as formulaic returned it: the engine's products then round as before
    X = np.asfortranarray(np.column_stack(cols)) if cols else np.zeros((n, 0))
    return X, names, codings, assign


@dataclass(frozen=True)
class SimpleDesign:
    """Intercept and plain numeric columns: built without the general machinery (most of a
    small mixed-model fit's set-up otherwise)."""

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
        elif (t.isidentifier() and t.isascii() and deparse_name(t) == t and t in data.columns
              and t not in cols
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


def fixed_design(rhs: str, data: pd.DataFrame, context: dict[str, Any] | None = None,
                 response: tuple[str, ...] | None = None) -> FixedDesign | SimpleDesign:
    """R's ``model.matrix(~ rhs, data)`` with its column names.

    ``response`` are the variables of the left-hand side; given, ``.`` stands for every other
    column of ``data`` (as in R, grouping factors included).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0, 5.0], "f": pd.Categorical(list("abab")),
    ...                   "week": [1, 2, 3, 4]})
    >>> fixed_design("x*f + I(week > 2)", d).names
    ['(Intercept)', 'x', 'fb', 'I(week > 2)TRUE', 'x:fb']
    >>> fixed_design("poly(x, 2) - 1", d).names
    ['poly(x, 2)1', 'poly(x, 2)2']
    """
    simple = _simple_design(rhs, data)
    if simple is not None:
        return simple
    node = parse_r(rhs)
    # keep only the caller's names the formula uses (a fit must not hold the whole namespace)
    used = {c.fn for c in calls_of(node)} | set(names_of(node))
    env = {k: v for k, v in (context or {}).items() if k in used}
    check_functions(node, env)
    dot = tuple(c for c in data.columns if c not in response) if response is not None else ()
    terms = expand_terms(node, dot=dot)
    ctx = Context(data, env, {}, fitting=True)
    X, names, codings, assign = _assemble(terms, ctx, None)
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise FormulaError(f"column {names[c]!r} of the fixed part {rhs!r} is {X[r, c]} at "
                           f"row {r} (e.g. log or sqrt of a value out of range)")
    return FixedDesign(X, names, terms, codings, ctx.state, env, assign)
