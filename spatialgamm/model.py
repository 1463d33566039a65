"""From a formula and data to a :class:`ModelSpec`: response, X, offset, weights and blocks.

This is the first public stage of a fit (``build_model -> objective -> optimize -> assemble``).
It validates the data (missing columns, non-numeric responses, NA rows), builds the fixed
part as R's model.matrix, each random/penalised term's block, and checks the fixed-effect
matrix for rank deficiency (aliased columns are dropped with a warning, as lme4 does).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from .control import Control, as_control, check_grouping
from .errors import DataWarning, check_dataframe
from .families import Family, get_family
from .formula.evaluate import add_expression_columns, evaluate, names_in
from .formula.fixed import FixedDesign, fixed_design
from .formula.parse import FormulaError, ParsedFormula, parse_formula
from .terms import build_special
from .terms.base import Block
from .terms.ranef import RandomEffectTerm
from .validate import (
    check_columns,
    check_factor_levels,
    check_formula_text,
    check_response_identifiable,
    check_term_arguments,
    check_weights_argument,
    column_roles,
    env_for_formula,
)

_CBIND = re.compile(r"^cbind\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs about one model, fixed at build time."""

    formula: ParsedFormula
    family: Family
    y: np.ndarray
    X: np.ndarray
    x_names: list[str]
    offset: np.ndarray
    weights: np.ndarray
    blocks: list[Block]
    data: pd.DataFrame
    fixed: FixedDesign
    fixed_cols: np.ndarray  # which columns of X come from the fixed formula
    response_name: str
    offset_exprs: tuple[str, ...] = ()
    offset_arg: Any = None
    n_dropped: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    trials: np.ndarray | None = None
    env: dict[str, Any] = field(default_factory=dict)
    control: Control = field(default_factory=Control)

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]


def _formula_columns(pf: ParsedFormula, data: pd.DataFrame) -> list[str]:
    text = pf.text
    used = set()
    # back-quoted names (`Δ days`) are columns too
    for tok in re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*|(?<=`)[^`]+(?=`)", text):
        if tok in data.columns or tok == ".":  # R's `.`: every column is in the model
            used.add(tok)
    if "." in used:
        return list(data.columns)
    return [c for c in data.columns if c in used]


def _response(pf: ParsedFormula, data: pd.DataFrame, env: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray | None, str]:
    if pf.response is None:
        raise FormulaError(f"formula {pf.text!r} has no response (left of '~')")
    lhs = pf.response
    m = _CBIND.match(lhs)
    if m:
        from .formula.parse import split_top_level
        parts = split_top_level(m.group(1), ",")
        if len(parts) != 2:
            raise FormulaError(f"cbind() response {lhs!r} needs two columns: successes, failures")
        s = evaluate(parts[0], data, env)
        f = evaluate(parts[1], data, env)
        if np.any(f < 0):
            i = int(np.argmax(f < 0))
            raise ValueError(f"successes exceed trials in {lhs!r}: failures {parts[1]!r} is "
                             f"negative at row {i} ({f[i]:g})")
        if np.any(s < 0):
            raise ValueError(f"negative successes in {lhs!r} ({parts[0]!r})")
        n = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(n > 0, s / np.where(n > 0, n, 1), 0.0)
        return y, n, lhs
    if lhs in data.columns:
        col = data[lhs]
        if isinstance(col.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise FormulaError(f"response column {lhs!r} is not numeric (dtype {col.dtype}); "
                               "convert it, e.g. to 0/1 for a binary response")
        return col.to_numpy(dtype=float), None, lhs
    return evaluate(lhs, data, env), None, lhs


def _drop_aliased(X: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop aliased columns as lme4 and R's ``lm`` do: keep the earlier columns, drop a later
    one that is (numerically) a combination of them, and name it.

    R's LINPACK QR (``dqrdc2``, tolerance 1e-7) only moves a column to the end when its
    residual on the columns kept before it is below ``1e-7`` times its own norm; the greedy
    left-to-right Gram-Schmidt below makes the same choice.
    """
    if X.shape[1] == 0:
        return X, names, []
    _, R, _ = sla.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    if len(d) == X.shape[1] and d.min() > 1e-7 * d.max():
        return X, names, []  # clearly full rank: the common case costs one QR
    keep: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        v = X[:, j].astype(float)
        norm = np.linalg.norm(v)
        if norm == 0.0:
            continue
        for _ in range(2):  # twice is enough (Kahan-Parlett re-orthogonalisation)
            v = v - Q @ (Q.T @ v)
        r = np.linalg.norm(v)
        if r > 1e-7 * norm:
            keep.append(j)
            Q = np.column_stack([Q, v / r])
    if len(keep) == X.shape[1]:
        return X, names, []
    dropped = [names[i] for i in range(X.shape[1]) if i not in keep]
    k = len(dropped)
    warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} column"
                  f"{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}: "
                  f"{', '.join(repr(d) for d in dropped)} (aliased with earlier columns)",
                  DataWarning, stacklevel=4)
    return X[:, keep], [names[i] for i in keep], dropped


def build_model(formula: str, data: pd.DataFrame, family: Any = "gaussian",
                offset: Any = None, weights: Any = None, na_action: str = "omit",
                env: dict[str, Any] | None = None,
                control: Control | dict[str, Any] | None = None) -> ModelSpec:
    """Build the model structure of ``formula`` on ``data``.

    Parameters
    ----------
    formula : str
        R-style formula with lme4 bars, ``s()``/``gp()``/``spde()`` terms and ``offset()``.
    data : DataFrame
    family : str or Family
    offset : array, column name or expression, optional
        Added to any ``offset()`` in the formula.
    weights : array or column name, optional
        Prior weights (binomial: number of trials when the response is a proportion).
    na_action : {"omit", "fail"}
        Rows with missing values in the variables of the model are dropped (with a warning
        giving the count), or raise.
    env : dict, optional
        The caller's namespace, for names used inside terms (``spde(x, y, mesh=mesh)``).
    control : Control or dict, optional
        lme4's checks of grouping factors and the optimiser settings
        (:func:`spatialgamm.lmer_control`); lmer's rules for Gaussian identity-link models,
        glmer's (an observation-level factor allowed) for other families.

    Examples
    --------
    >>> from spatialgamm.datasets import load_sleepstudy
    >>> spec = build_model("Reaction ~ Days + (Days | Subject)", load_sleepstudy())
    >>> spec.X.shape, spec.blocks[0].Z.shape
    ((180, 2), (180, 36))
    """
    check_dataframe(data, "data")
    if len(data) == 0:
        raise ValueError("data has no rows")
    fam = get_family(family)
    control = as_control(control)
    env = dict(env or {})
    pf = parse_formula(formula, env)
    # keep only the caller's objects the formula names: a fit must not keep the caller's
    # namespace (earlier fits included) alive
    env = env_for_formula(pf, env, offset)
    check_formula_text(formula, pf)
    check_term_arguments(pf)
    check_weights_argument(weights, data)
    _check_names(formula, pf, data, env)
    roles = column_roles(pf, data.columns, weights, offset)
    check_columns(data, roles, formula)
    data, n_dropped = _complete_rows(pf, data, weights, offset, na_action)
    check_factor_levels(data, roles)
    y, trials, rname = _response(pf, data, env)
    fixed = fixed_design(pf.fixed, data, context=env,
                         response=tuple(names_in(pf.response or "")))  # `.`: the other columns
    w = _prior_weights(data, weights, trials)
    check_response_identifiable(y, w, fam, rname)
    fam.validate(y, w)
    off = _offsets(pf, data, env, offset)
    blocks = _bar_blocks(pf, data, fam, control)
    data = add_expression_columns(data, pf.specials, env)  # s(log(x)): a column "log(x)"
    for s in pf.specials:
        blocks.extend(build_special(s, data, env, fam))
    X, x_names = fixed.X, list(fixed.names)
    fixed_cols = np.arange(X.shape[1])
    extra = [b.fixed for b in blocks if b.fixed is not None and b.fixed.shape[1]]
    if extra:
        X = np.column_stack([X, *extra])
        for b in blocks:
            if b.fixed is not None:
                x_names.extend(b.fixed_names)
    X, x_names, dropped = _drop_aliased(X, x_names)
    return ModelSpec(formula=pf, family=fam, y=y, X=X, x_names=x_names, offset=off, weights=w,
                     blocks=blocks, data=data, fixed=fixed, fixed_cols=fixed_cols,
                     response_name=rname, offset_exprs=pf.offsets, offset_arg=offset,
                     n_dropped=n_dropped, dropped_columns=dropped, trials=trials, env=env,
                     control=control)


def _check_names(formula: str, pf: ParsedFormula, data: pd.DataFrame,
                 env: dict[str, Any]) -> None:
    """Every identifier in the formula that is not a column, a function or a caller name
    is a missing column: say so before anything else fails obscurely."""
    idents = set()
    for part in [pf.response or "", pf.fixed, *pf.offsets, *(b.expr for b in pf.bars)]:
        idents |= names_in(part)
    for b in pf.bars:  # grouping factors are column names (`my group` without its quotes;
        # nested names may carry parentheses, lme4's c:(b:a))
        idents |= {g.strip(" ()") for g in b.group.split(":")} - {""}
    for s in pf.specials:
        idents |= set().union(*(names_in(v) for v in s.variables))
        if "by" in s.kwargs and isinstance(s.kwargs["by"], str):
            idents.add(s.kwargs["by"])
    known_funcs = {"log", "exp", "sqrt", "abs", "log1p", "log10", "log2", "C", "I", "cbind",
                   "poly", "scale", "center", "sin", "cos", "np", "T", "F", "TRUE", "FALSE"}
    missing = sorted(i for i in idents if i not in data.columns and i not in known_funcs
                     and i not in env and not i.isdigit())
    if missing:
        raise FormulaError(f"variable(s) {missing} in formula {formula!r} are not columns of "
                           f"the data (columns: {list(data.columns)})")


def _complete_rows(pf: ParsedFormula, data: pd.DataFrame, weights: Any, offset: Any,
                   na_action: str) -> tuple[pd.DataFrame, int]:
    """The rows without missing values in the model's variables (renumbered), and how many
    were dropped; ``na_action='fail'`` raises instead."""
    cols = _formula_columns(pf, data)
    if isinstance(weights, str):
        cols.append(weights)
    if isinstance(offset, str) and offset in data.columns:
        cols.append(offset)
    bad = data[cols].isna().any(axis=1).to_numpy() if cols else np.zeros(len(data), bool)
    n_dropped = int(bad.sum())
    if n_dropped:
        where = [c for c in cols if data[c].isna().any()]
        if na_action == "fail":
            raise ValueError(f"{n_dropped} row(s) have missing values in {where} "
                             "(na_action='fail')")
        warnings.warn(f"{n_dropped} row(s) with missing values dropped (columns {where})",
                      DataWarning, stacklevel=4)
        data = data.loc[~bad]
    data = data.reset_index(drop=True)
    if len(data) == 0:
        raise ValueError("no rows left after dropping missing values")
    return data, n_dropped


def _prior_weights(data: pd.DataFrame, weights: Any, trials: np.ndarray | None
                   ) -> np.ndarray:
    """Prior weights (a column name or an array), times the binomial trials."""
    w = np.ones(len(data))
    if weights is not None:
        w = (data[weights].to_numpy(dtype=float) if isinstance(weights, str)
             else np.asarray(weights, dtype=float).ravel())
        if len(w) != len(data) or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite, non-negative and one per row")
    if trials is not None:
        w = w * trials
    return w


def _offsets(pf: ParsedFormula, data: pd.DataFrame, env: dict[str, Any], offset: Any
             ) -> np.ndarray:
    """The formula's offsets plus ``offset=`` (a column, an expression or an array)."""
    off = np.zeros(len(data))
    for e in pf.offsets:
        off += evaluate(e, data, env)
    if offset is not None:
        if isinstance(offset, str):
            off += evaluate(offset, data, env)
        else:
            o = np.asarray(offset, dtype=float).ravel()
            if o.size not in (1, len(data)):
                raise ValueError(f"offset has {o.size} values for {len(data)} rows")
            off += o
    if not np.all(np.isfinite(off)):
        i = int(np.argmax(~np.isfinite(off)))
        raise ValueError(f"offset is not finite at row {i} (value {off[i]}); for "
                         "offset(log(exposure)) the exposure must be positive")
    return off


def _bar_blocks(pf: ParsedFormula, data: pd.DataFrame, fam: Any, control: Control
                ) -> list[Block]:
    """The lme4 bars' blocks, checked (lmerControl / glmerControl: glmer's looser rules for
    non-Gaussian families, where an observation-level effect models overdispersion) and
    ordered as lme4 orders them (decreasing number of levels, stable; repeated names
    numbered)."""
    blocks: list[Block] = [RandomEffectTerm.build(b, data, fixed_design(b.expr, data))
                           for b in pf.bars]
    check_grouping([(f"{b.term.bar.expr} | {b.term.bar.group}", b.term.bar.group,
                     len(b.term.levels), b.q) for b in blocks], len(data), control,
                   allow_n=not fam.is_gaussian_identity)
    blocks.sort(key=lambda b: -len(b.term.levels))
    seen: dict[str, int] = {}
    for i, b in enumerate(blocks):
        k = seen.get(b.name, 0)
        seen[b.name] = k + 1
        if k:
            blocks[i] = replace(b, name=f"{b.name}.{k}")
            b.term.name = blocks[i].name
    return blocks
