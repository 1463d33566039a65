"""Input checks for ``build_model`` and ``predict``: bad data named before any heavy work.

Each check raises (or warns, where R is silent but a user needs to know) with a message that
names the column, value or argument at fault and says how to fix it; the classes are in
:mod:`spatialgamm.errors`. The checks only read the data and the parsed formula, so they cost
a few vectorised passes over the columns the model uses.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning, FormulaError, ModelError
from .formula.evaluate import names_in
from .formula.parse import ParsedFormula

_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


@dataclass
class ColumnRoles:
    """Which data columns a model uses, and how (fixed covariate, grouping factor, ...)."""

    fixed: set[str] = field(default_factory=set)
    slopes: set[str] = field(default_factory=set)  # covariates inside (expr | g)
    grouping: set[str] = field(default_factory=set)
    smooth: set[str] = field(default_factory=set)  # variables of s(), gp(), spde() ...
    other: set[str] = field(default_factory=set)  # response, offsets, weights, by=
    response: set[str] = field(default_factory=set)

    @property
    def all(self) -> set[str]:
        return self.fixed | self.slopes | self.grouping | self.smooth | self.other


def _names(expr: str, columns: set[str]) -> set[str]:
    return {n for n in names_in(expr) if n in columns} | {
        n for n in _IDENT.findall(expr) if n in columns}


def column_roles(pf: ParsedFormula, columns, weights: Any = None,
                 offset: Any = None) -> ColumnRoles:
    """The roles of the data columns named in a parsed formula (and weights=/offset=)."""
    cols = {c for c in columns if isinstance(c, str)}
    r = ColumnRoles()
    r.fixed = _names(pf.fixed, cols)
    for b in pf.bars:
        r.slopes |= _names(b.expr, cols)
        r.grouping |= {p.strip() for p in re.split(r"[:/+]", b.group) if p.strip() in cols}
    for s in pf.specials:
        r.smooth |= {v for v in s.variables if v in cols}
        for v in s.variables:
            if v not in cols:
                r.smooth |= _names(v, cols)
        for key in ("by", "site"):
            val = s.kwargs.get(key)
            if isinstance(val, str) and val in cols:
                r.other.add(val)
    r.response = _names(pf.response or "", cols)
    for part in [pf.response or "", *pf.offsets]:
        r.other |= _names(part, cols)
    if isinstance(weights, str) and weights in cols:
        r.other.add(weights)
    if isinstance(offset, str):
        r.other |= _names(offset, cols)
    return r


def env_for_formula(pf: ParsedFormula, env: dict[str, Any], offset: Any = None
                    ) -> dict[str, Any]:
    """Only the caller's objects the formula names (``mesh`` in ``spde(x, y, mesh=mesh)``).

    A fit keeps its environment for prediction; keeping the caller's whole namespace would
    keep every object in it alive, earlier fits included.
    """
    used: set[str] = set()
    parts = [pf.response or "", pf.fixed, *pf.offsets, *(s.text for s in pf.specials)]
    parts += [f"{b.expr} + {b.group}" for b in pf.bars]
    if isinstance(offset, str):
        parts.append(offset)
    for p in parts:
        used |= names_in(p)  # AST names: keyword names such as m= in s(x, m=2) are not names
    return {k: env[k] for k in used if k in env}


# ---- the formula text and term arguments ------------------------------------------------
def check_formula_text(formula: str, pf: ParsedFormula) -> None:
    """Empty terms the parser lets through: a trailing '+', an empty ``offset()``."""
    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    if rhs.rstrip().endswith(("+", "-", "*", ":")):
        raise FormulaError(f"formula {formula!r} ends with {rhs.rstrip()[-1]!r}: a term is "
                           "missing after it (remove the trailing operator)")
    for e in pf.offsets:
        if not e.strip():
            raise FormulaError(f"formula {formula!r} has an empty offset(): give the offset "
                               "expression, e.g. offset(log(exposure))")


def _is_whole(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer()


def check_term_arguments(pf: ParsedFormula) -> None:
    """Argument types of ``s()``/``gp()``/... terms: ``k`` a whole number, ``bs`` a name."""
    for s in pf.specials:
        kw = s.kwargs
        if "k" in kw and kw["k"] is not None:
            k = kw["k"]
            ks = k if isinstance(k, (tuple, list)) else (k,)
            if not all(_is_whole(v) for v in ks) or any(int(v) < 1 for v in ks):
                raise FormulaError(f"{s.text}: k must be a whole number (the basis "
                                   f"dimension), e.g. k=10, got k={k!r}")
        if "bs" in kw and kw["bs"] is not None and not isinstance(kw["bs"], (str, tuple)):
            raise FormulaError(f"{s.text}: bs must be a basis name in quotes, e.g. bs='cr', "
                               f"got bs={kw['bs']!r}")


# ---- the columns ------------------------------------------------------------------------
def _is_text(col: pd.Series) -> bool:
    return (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)) and \
        not isinstance(col.dtype, pd.CategoricalDtype)


def _is_factor(col: pd.Series) -> bool:
    return (_is_text(col) or isinstance(col.dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(col))


def _datetime_like(col: pd.Series) -> bool:
    return (pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col)
            or isinstance(col.dtype, pd.PeriodDtype))


def check_columns(data: pd.DataFrame, roles: ColumnRoles, formula: str) -> None:
    """Duplicated, complex, datetime and infinite columns the model uses; text read as
    factors. Runs on the data as given (row numbers are positions in it)."""
    dup = sorted({c for c in data.columns[data.columns.duplicated()] if c in roles.all})
    if dup:
        raise DataError(f"column name(s) {dup} appear more than once in the data, so the "
                        "formula is ambiguous; rename or drop the duplicates, e.g. "
                        "data.loc[:, ~data.columns.duplicated()]")
    for name in sorted(roles.all):
        col = data[name]
        if pd.api.types.is_complex_dtype(col):
            raise DataError(f"column {name!r} holds complex numbers (dtype {col.dtype}); a "
                            "model needs real numbers: use its real part or modulus "
                            "explicitly (np.real, np.abs)")
        if _datetime_like(col) and name not in roles.grouping:
            where = "s()" if name in roles.smooth else "the formula"
            raise DataError(f"column {name!r} holds dates/times (dtype {col.dtype}); {where} "
                            "needs a numeric time, e.g. data['days'] = (data[" f"{name!r}] - "
                            f"data[{name!r}].min()) / pd.Timedelta(days=1)")
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            vals = col.to_numpy(dtype=float, na_value=np.nan)
            inf = np.isinf(vals)
            if inf.any():
                i = int(np.argmax(inf))
                n = int(inf.sum())
                more = f" and {n - 1} more" if n > 1 else ""
                what = "the response" if name in roles.response else "covariates"
                raise DataError(f"column {name!r} has an infinite value at row {i} "
                                f"({vals[i]}){more}: {what} must be finite")
    for name in sorted(roles.fixed | roles.slopes):
        col = data[name]
        if _is_text(col):
            _warn_text_factor(name, col)


def _warn_text_factor(name: str, col: pd.Series) -> None:
    """R reads a character column as a factor; say so when it looks like numbers."""
    present = col.dropna()
    if present.empty:
        return
    num = pd.to_numeric(present, errors="coerce")
    if num.notna().mean() < 0.5:  # a genuine text factor ('a', 'b'): R's choice, no warning
        return
    strays = pd.unique(present[num.isna()].astype(str))[:3].tolist()
    what = (f"numbers stored as text with non-numbers {strays}" if strays
            else "numbers stored as text")
    warnings.warn(f"column {name!r} (dtype {col.dtype}) holds {what}: it is treated as a factor "
                  f"with {present.nunique()} levels (one coefficient per value), as R does with "
                  f"character columns. If it is numeric, convert it: data[{name!r}] = "
                  f"pd.to_numeric(data[{name!r}], errors='coerce')"
                  + (" (the non-numbers become NaN and those rows are dropped)" if strays
                     else ""), DataWarning, stacklevel=5)


def check_factor_levels(data: pd.DataFrame, roles: ColumnRoles) -> None:
    """A fixed-effect factor needs two levels (R: "contrasts can be applied only to factors
    with 2 or more levels"). Runs after rows with missing values are dropped, as R."""
    for name in sorted(roles.fixed):
        col = data[name]
        if _is_factor(col):
            levels = pd.unique(col.dropna())
            if len(levels) < 2:
                lev = f" ({levels[0]!r})" if len(levels) else ""
                raise DataError(f"factor {name!r} has only one level{lev} in the data used: "
                                "contrasts can be applied only to factors with 2 or more "
                                "levels; drop it from the formula")


def check_weights_argument(weights: Any, data: pd.DataFrame) -> None:
    """``weights=`` given by name must be a column."""
    if isinstance(weights, str) and weights not in data.columns:
        raise DataError(f"weights={weights!r} is not a column of the data (columns: "
                        f"{list(data.columns)}); pass a column name or an array")


# ---- responses the model cannot learn from ------------------------------------------------
def check_response_identifiable(y: np.ndarray, w: np.ndarray, family, name: str) -> None:
    """Refuse a response with nothing to estimate, at every front door alike.

    A constant Gaussian response has zero residual variance (lme4 stops with non-finite
    gradients, mgcv's REML fails); an all-zero count response (or a binomial of all
    successes) puts the maximum-likelihood intercept at -inf (+inf): lme4's glmer refuses
    it ("Response is constant"), and so do ``lmer``, ``glmer``, ``gam`` and ``fit`` here.
    """
    yy = np.asarray(y, dtype=float)[np.asarray(w) > 0]
    if yy.size == 0:
        raise ModelError("every row has zero weight: nothing to fit")
    fam = family.name
    if fam == "gaussian" and yy.size > 1 and np.ptp(yy) == 0:
        raise ModelError(f"the response {name!r} is constant ({yy[0]:g} in every row): a "
                         "Gaussian model has zero residual variance, there is nothing to "
                         "estimate")
    if fam in ("poisson", "binomial", "quasipoisson", "quasibinomial") or \
            fam.startswith("Negative"):
        if np.all(yy == 0):
            raise ModelError(f"the response {name!r} is zero in every row: the "
                             "maximum-likelihood intercept is minus infinity, there is "
                             "nothing to estimate (lme4's glmer: 'Response is constant')")
        if fam.endswith("binomial") and np.all(yy == 1):
            raise ModelError(f"the response {name!r} is a success in every row: the "
                             "maximum-likelihood intercept is infinite, there is nothing to "
                             "estimate")


def check_nagq(nAGQ: Any, pf: ParsedFormula) -> None:
    """``nAGQ`` for glmer: a whole number in [1, 25]; above 1 only for one scalar random
    effect ``(1 | g)`` (lme4's rule), refused before anything is built."""
    if not _is_whole(nAGQ) or not 1 <= int(nAGQ) <= 25:
        raise ModelError(f"nAGQ must be a whole number between 1 and 25, got nAGQ={nAGQ!r}")
    if int(nAGQ) == 1:
        return
    scalar = (len(pf.bars) == 1 and not pf.specials
              and pf.bars[0].expr.replace(" ", "") in ("1", "1+0", "0+1"))
    if not scalar:
        terms = [b.label for b in pf.bars] + [s.text for s in pf.specials]
        raise ModelError(f"nAGQ={nAGQ} > 1 is only available for a single scalar "
                         f"random-effects term (1 | group), as in lme4; the formula has "
                         f"{terms}: use nAGQ=1 (Laplace)")
