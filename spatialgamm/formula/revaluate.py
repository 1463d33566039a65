"""Evaluate R expressions on a data frame, as R's ``model.frame`` evaluates a formula's variables.

Names are looked up in the data, then in the caller's namespace (a formula's environment in
R). Values are numeric vectors (float arrays), logical vectors (bool arrays), factors
(:class:`RFactor`) or matrices (:class:`RMatrix`, from ``poly``/``ns``/``bs``/``cbind``).
Data-dependent functions (``poly``, ``scale``, ``ns``, ``bs``, ``factor`` and the levels of
factor columns) keep what they learnt on the fitting data in a state dictionary, keyed by
the call's R text, and reuse it on new data.

Differences from R, on purpose: ``scale()`` and nested stateful calls (``log(scale(x))``)
reuse the fitting data's centre and scale at prediction (R's ``predict`` would recompute them
on the new data, a known trap); character columns are sorted by code point, not by the
locale's collation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import FormulaError
from .rsyntax import (
    BinOp,
    Call,
    Name,
    Node,
    Num,
    Paren,
    Str,
    Unary,
    calls_of,
    deparse,
    format_number,
    names_of,
)
from .transforms import bs_basis, ns_apply, ns_fit, poly_basis, scale_apply, scale_fit

CONTRASTS = {"contr.treatment": "treatment", "contr.sum": "sum", "contr.helmert": "helmert",
             "contr.poly": "poly", "treatment": "treatment", "sum": "sum",
             "helmert": "helmert", "poly": "poly", "contr.SAS": "SAS", "SAS": "SAS"}
CONSTANTS: dict[str, Any] = {"TRUE": True, "FALSE": False, "T": True, "F": False, "pi": math.pi,
                             "Inf": math.inf, "NaN": math.nan, "NA": math.nan, "NULL": None,
                             "True": True, "False": False}  # Python spellings, leniently


@dataclass(frozen=True)
class RFactor:
    """A factor: integer codes into ``levels`` (-1 = missing), optionally ordered, with the
    contrasts set by ``C()`` (None: R's default, treatment or poly for ordered)."""

    codes: np.ndarray
    levels: tuple[str, ...]
    ordered: bool = False
    contrasts: str | None = None


@dataclass(frozen=True)
class RMatrix:
    """A numeric matrix with R's column names (None: numbered 1..k, or none for one column)."""

    values: np.ndarray
    colnames: tuple[str, ...] | None = None


@dataclass
class Context:
    """What an evaluation sees: the data, the caller's names and the transforms' state."""

    data: pd.DataFrame
    env: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    fitting: bool = True

    @property
    def n(self) -> int:
        return len(self.data)


# ---- values ---------------------------------------------------------------------------------
def r_string(v: Any) -> str:
    """``as.character`` of one value (numbers with R's 15 significant digits)."""
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format_number(float(v)) if float(v) != int(v) or abs(v) >= 1e15 \
            else str(int(v))
    return str(v)


def recode(levels: list[str], labels: list[str], codes: np.ndarray, what: str
              ) -> np.ndarray:
    """Map codes into ``labels`` onto ``levels``; a label not among them is an error."""
    index = {lev: i for i, lev in enumerate(levels)}
    remap = np.array([index.get(lab, -2) for lab in labels] + [-1], dtype=np.int64)
    out = remap[np.where(codes >= 0, codes, len(labels))]
    if np.any(out == -2):
        new = sorted({labels[c] for c in np.unique(codes[out == -2])})
        raise FormulaError(f"factor {what} has new level(s) {new} not among the levels it "
                           f"had in the fitting data {list(levels)}")
    return out


def make_factor(values: np.ndarray | list, levels: list[str] | None, what: str,
                ordered: bool = False) -> RFactor:
    """Codes of ``values`` in ``levels`` (sorted unique values when None); missing -> -1."""
    ser = pd.Series(np.asarray(values, dtype=object) if isinstance(values, list) else values)
    try:
        codes, uniques = pd.factorize(ser, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(ser.map(lambda v: v if pd.isna(v) else str(v)), sort=True)
    labels = [r_string(v) for v in uniques]
    if levels is None:
        levels = list(dict.fromkeys(labels))
    return RFactor(recode(list(levels), labels, np.asarray(codes), what), tuple(levels),
                   ordered)


def _column(name: str, ctx: Context) -> Any:
    col = ctx.data[name]
    key = f"column:{name}"
    what = deparse(Name(name))
    if isinstance(col.dtype, pd.CategoricalDtype):
        if ctx.fitting:
            # lme4 and lm build the model frame with drop.unused.levels = TRUE
            used = set(pd.unique(col.dropna()))
            levels = [r_string(c) for c in col.cat.categories if c in used]
            ctx.state[key] = (levels, bool(col.cat.ordered))
        levels, ordered = ctx.state.get(key, ([r_string(c) for c in col.cat.categories],
                                              bool(col.cat.ordered)))
        codes = recode(list(levels), [r_string(c) for c in col.cat.categories],
                          col.cat.codes.to_numpy(), what)
        return RFactor(codes, tuple(levels), ordered)
    if pd.api.types.is_bool_dtype(col) and not col.isna().any():
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        raise FormulaError(f"column {name!r} holds dates/times ({col.dtype}); convert it to a "
                           "number (e.g. days since the start) to use it in a formula")
    if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
        # character columns become factors (model.matrix) with the fitting data's levels
        if ctx.fitting:
            ctx.state[key] = (make_factor(col.to_numpy(), None, what).levels, False)
        levels, _ = ctx.state.get(key, (None, False))
        return make_factor(col.to_numpy(), None if levels is None else list(levels), what)
    raise FormulaError(f"column {name!r} has a type ({col.dtype}) a formula cannot use")


def numeric(v: Any, what: str) -> np.ndarray | float:
    """A value as numbers (logicals as 0/1); factors are refused as in R's arithmetic."""
    if isinstance(v, RFactor):
        raise FormulaError(f"arithmetic on the factor in {what!r} is not meaningful (R: "
                           "'not meaningful for factors'); use as.numeric() for its codes")
    if isinstance(v, RMatrix):
        return v.values
    if isinstance(v, (bool, int, float, np.ndarray, np.number, np.bool_)):
        return np.asarray(v, dtype=float) if isinstance(v, np.ndarray) else float(v)
    raise FormulaError(f"{what!r} is not numeric")


# ---- the evaluator --------------------------------------------------------------------------
def eval_node(node: Node, ctx: Context) -> Any:
    """The value of an R expression on ``ctx.data``."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Paren):
        return eval_node(node.inner, ctx)
    if isinstance(node, Name):
        if node.id in ctx.data.columns:
            return _column(node.id, ctx)
        if node.id in ctx.env:
            v = ctx.env[node.id]
            if isinstance(v, pd.Series):
                v = v.to_numpy()
            return v
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise FormulaError(f"variable {node.id!r} is neither a column of the data nor a name in "
                           f"the caller's namespace (columns: {list(ctx.data.columns)})")
    if isinstance(node, Unary):
        v = eval_node(node.operand, ctx)
        if node.op == "!":
            return np.logical_not(v)
        x = numeric(v, deparse(node))
        return -x if node.op == "-" else x
    if isinstance(node, BinOp):
        return _binop(node, ctx)
    return _call(node, ctx)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "^": np.power,
    "%%": lambda a, b: a - np.floor(a / b) * b, "%/%": lambda a, b: np.floor(a / b),
}
_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater,
            "<=": np.less_equal, ">=": np.greater_equal}


def _as_labels(v: Any) -> Any:
    if isinstance(v, RFactor):
        lev = np.array(list(v.levels) + [None], dtype=object)
        return lev[v.codes]
    return v


def _binop(node: BinOp, ctx: Context) -> Any:
    op = node.op
    a, b = eval_node(node.left, ctx), eval_node(node.right, ctx)
    with np.errstate(divide="ignore", invalid="ignore"):
        if op in _ARITH:
            return _ARITH[op](numeric(a, deparse(node)), numeric(b, deparse(node)))
        if op in _COMPARE:
            if isinstance(a, RFactor) or isinstance(b, RFactor) or isinstance(a, str) \
                    or isinstance(b, str):
                a, b = _as_labels(a), _as_labels(b)
                if op not in ("==", "!="):
                    raise FormulaError(f"{op!r} is not meaningful for factors in "
                                       f"{deparse(node)!r}")
                if isinstance(a, (int, float)) or isinstance(b, (int, float)):
                    a, b = (np.vectorize(r_string, otypes=[object])(x)
                            if isinstance(x, np.ndarray) else r_string(x) for x in (a, b))
                out = np.asarray(a == b if op == "==" else a != b, dtype=bool)
                return out
            return _COMPARE[op](numeric(a, deparse(node)), numeric(b, deparse(node)))
        if op in ("&", "&&"):
            return np.logical_and(a, b)
        if op in ("|", "||"):
            return np.logical_and(True, np.logical_or(a, b))
        if op == "%in%":
            labels = _as_labels(a)
            pool = set(np.atleast_1d(_as_labels(b)).tolist())
            return np.array([x in pool for x in np.atleast_1d(labels)], dtype=bool)
    raise FormulaError(f"operator {op!r} in {deparse(node)!r} is not supported in a variable")


def _bind(call: Call, formals: list[str], ctx: Context, lazy: set[str] = frozenset()
          ) -> dict[str, Any]:
    """R's argument matching (exact names, then positions); ``lazy`` ones stay unevaluated."""
    out: dict[str, Any] = {}
    positional = []
    for name, node in call.args:
        if name is None:
            positional.append(node)
            continue
        if name not in formals:
            # R matches a unique prefix of an argument's name (poly(x, deg = 2))
            hits = [f for f in formals if f.startswith(name)]
            if len(hits) != 1:
                raise FormulaError(f"unused argument {name!r} in {deparse(call)!r} (arguments: "
                                   f"{', '.join(formals)})")
            name = hits[0]
        out[name] = node
    free = [f for f in formals if f not in out]
    if len(positional) > len(free):
        raise FormulaError(f"too many arguments in {deparse(call)!r}")
    out.update(zip(free, positional))
    return {k: (v if k in lazy else eval_node(v, ctx)) for k, v in out.items()}


def _state(ctx: Context, call: Call, fit: Callable[[], Any]) -> Any:
    key = deparse(call)
    if ctx.fitting or key not in ctx.state:
        if not ctx.fitting:
            raise FormulaError(f"no stored state for {key!r} (the model was fitted without it)")
        ctx.state[key] = fit()
    return ctx.state[key]


def _vector(v: Any, what: str) -> np.ndarray:
    x = numeric(v, what)
    return np.asarray(x, dtype=float).ravel()


def _f_poly(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "degree", "coefs", "raw", "simple"], ctx)
    what = deparse(call)
    x = _vector(a["x"], what)
    degree = a.get("degree", 1)
    if not isinstance(degree, (int, float)) or degree != int(degree):
        raise FormulaError(f"poly() of several variables is not supported in {what!r}; "
                           "give one variable and a whole-number degree")
    degree, raw = int(degree), bool(a.get("raw", False))
    names = tuple(str(j) for j in range(1, degree + 1))
    state = _state(ctx, call, dict)  # filled by the first (fitting) call, reused after
    return RMatrix(poly_basis(x, degree, raw, state, what), names)


def _f_ns(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "df", "knots", "intercept", "Boundary.knots"], ctx)
    what = deparse(call)
    x = _vector(a["x"], what)
    df = a.get("df")
    st = _state(ctx, call, lambda: ns_fit(x[np.isfinite(x)], None if df is None else int(df),
                                          a.get("knots"), bool(a.get("intercept", False)),
                                          a.get("Boundary.knots"), what))
    basis = ns_apply(x, st)
    return RMatrix(basis, tuple(str(j) for j in range(1, basis.shape[1] + 1)))


def _f_bs(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "df", "knots", "degree", "intercept", "Boundary.knots"], ctx)
    what = deparse(call)
    x = _vector(a["x"], what)
    df = a.get("df")
    state = _state(ctx, call, dict)
    basis = bs_basis(x, None if df is None else int(df), a.get("knots"),
                     int(a.get("degree", 3)), bool(a.get("intercept", False)),
                     a.get("Boundary.knots"), state, what)
    return RMatrix(basis, tuple(str(j) for j in range(1, basis.shape[1] + 1)))


def _f_scale(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "center", "scale"], ctx)
    x = _vector(a["x"], deparse(call))
    st = _state(ctx, call, lambda: scale_fit(x[np.isfinite(x)], a.get("center", True),
                                             a.get("scale", True)))
    return RMatrix(scale_apply(x, st)[:, None], None)


def _f_factor(ordered_default: bool | None) -> Callable[[Call, Context], Any]:
    def f(call: Call, ctx: Context) -> Any:
        a = _bind(call, ["x", "levels", "labels", "exclude", "ordered"], ctx)
        x = a["x"]
        what = deparse(call)
        ordered = a.get("ordered", ordered_default if ordered_default is not None else
                        (x.ordered if isinstance(x, RFactor) else False))
        if isinstance(x, RFactor):
            x = _as_labels(x)
            given = a.get("levels")
            if given is None:
                used = sorted(set(c for c in a["x"].codes if c >= 0))
                given = [a["x"].levels[c] for c in used]
        else:
            given = a.get("levels")
        if isinstance(x, (int, float, bool, str)):
            x = np.full(ctx.n, x, dtype=object)

        def fit() -> tuple[str, ...]:
            lev = None if given is None else [r_string(v) for v in np.atleast_1d(given)]
            return make_factor(x, lev, what).levels
        levels = _state(ctx, call, fit)
        fac = make_factor(x, list(levels), what, bool(ordered))
        if a.get("labels") is not None:
            labels = [str(v) for v in np.atleast_1d(a["labels"])]
            if len(labels) != len(levels):
                raise FormulaError(f"labels and levels differ in length in {what!r}")
            fac = RFactor(fac.codes, tuple(labels), fac.ordered)
        return fac
    return f


def _f_relevel(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "ref"], ctx)
    x, ref = a["x"], r_string(a["ref"])
    if not isinstance(x, RFactor) or ref not in x.levels:
        raise FormulaError(f"relevel() needs a factor with level {ref!r} in {deparse(call)!r}")
    k = x.levels.index(ref)
    order = [k] + [i for i in range(len(x.levels)) if i != k]
    remap = np.argsort(order)
    codes = np.where(x.codes >= 0, remap[np.maximum(x.codes, 0)], -1)
    return RFactor(codes, tuple(x.levels[i] for i in order), x.ordered, x.contrasts)


def _f_C(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["object", "contr", "how.many"], ctx, lazy={"contr"})
    x = a["object"]
    if isinstance(x, np.ndarray) and x.dtype == bool:
        x = make_factor(x, ["FALSE", "TRUE"], deparse(call))
    if not isinstance(x, RFactor):
        raise FormulaError(f"C() needs a factor in {deparse(call)!r}")
    contr = a.get("contr")
    name = "treatment" if contr is None else (
        contr.id if isinstance(contr, Name) else contr.value if isinstance(contr, Str)
        else contr.fn if isinstance(contr, Call) else None)
    if name not in CONTRASTS:
        raise FormulaError(f"unsupported contrasts {deparse(contr) if contr else ''!r} in "
                           f"{deparse(call)!r}; use contr.treatment, contr.sum, contr.helmert, "
                           "contr.poly or contr.SAS")
    kind = CONTRASTS[name]
    # C() calls the contrast function with the number of levels, so treatment and SAS
    # columns are numbered (C(f, contr.treatment)2), not named by level
    return RFactor(x.codes, x.levels, x.ordered,
                   f"C:{kind}" if kind in ("treatment", "SAS") and contr is not None else kind)


def _f_as_numeric(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x"], ctx)
    x = a["x"]
    if isinstance(x, RFactor):
        return np.where(x.codes >= 0, x.codes + 1.0, np.nan)
    return np.asarray(numeric(x, deparse(call)), dtype=float)


def _f_log(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "base"], ctx)
    x = numeric(a["x"], deparse(call))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x)
        return out / math.log(float(a["base"])) if "base" in a else out


def _f_round(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["x", "digits"], ctx)
    return np.round(numeric(a["x"], deparse(call)), int(a.get("digits", 0)))


def _f_cbind(call: Call, ctx: Context) -> Any:
    cols, names = [], []
    for name, node in call.args:
        v = numeric(eval_node(node, ctx), deparse(call))
        cols.append(np.broadcast_to(v, (ctx.n,)) if np.ndim(v) < 2 else v)
        names.append(name or deparse(node))
    return RMatrix(np.column_stack(cols), tuple(names))


def _f_c(call: Call, ctx: Context) -> Any:
    vals = [eval_node(node, ctx) for _, node in call.args]
    if any(isinstance(v, str) for v in vals):
        return [str(v) for v in vals]
    return np.array([float(v) for v in vals])


def _unary(fn: Callable[[Any], Any]) -> Callable[[Call, Context], Any]:
    def f(call: Call, ctx: Context) -> Any:
        a = _bind(call, ["x"], ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            return fn(numeric(a["x"], deparse(call)))
    return f


def _f_identity(call: Call, ctx: Context) -> Any:
    if len(call.args) != 1:
        raise FormulaError(f"I() takes one argument in {deparse(call)!r}")
    return eval_node(call.args[0][1], ctx)


def _pm(fn: Callable[..., Any]) -> Callable[[Call, Context], Any]:
    def f(call: Call, ctx: Context) -> Any:
        vals = [numeric(eval_node(node, ctx), deparse(call)) for _, node in call.args]
        out = vals[0]
        for v in vals[1:]:
            out = fn(out, v)
        return out
    return f


def _summary(fn: Callable[[np.ndarray], float]) -> Callable[[Call, Context], Any]:
    """``mean(x)``, ``sd(x)`` ...: one number from the fitting data, kept for new data (so
    ``I(x - mean(x))`` centres new data at the fitting mean; R's predict() would use the new
    data's mean)."""
    def f(call: Call, ctx: Context) -> Any:
        vals = [eval_node(node, ctx) for k, node in call.args if k != "na.rm"]
        x = np.concatenate([np.atleast_1d(np.asarray(numeric(v, deparse(call)), dtype=float))
                            .ravel() for v in vals])
        return _state(ctx, call, lambda: float(fn(x)))
    return f


def _f_cut(call: Call, ctx: Context) -> Any:
    """``cut(x, breaks = c(...), labels, include.lowest, right)`` with R's interval labels
    (``(0,2.5]``: C's %g with 3 significant digits, more if two labels would coincide)."""
    a = _bind(call, ["x", "breaks", "labels", "include.lowest", "right", "dig.lab",
                     "ordered_result"], ctx)
    what = deparse(call)
    x = _vector(a["x"], what)
    breaks = np.sort(np.atleast_1d(np.asarray(a.get("breaks"), dtype=float)))
    if breaks.size < 2:
        raise FormulaError(f"give cut() the break points themselves in {what!r} (a number of "
                           "intervals would depend on the data)")
    right, lowest = bool(a.get("right", True)), bool(a.get("include.lowest", False))
    dig = int(a.get("dig.lab", 3))
    for d in range(dig, max(12, dig) + 1):
        ch = [f"{b:.{d}g}" for b in breaks]
        if all(u != v for u, v in zip(ch[:-1], ch[1:])):
            break
    k = len(breaks) - 1
    if a.get("labels") is not None and not isinstance(a["labels"], bool):
        labels = [str(v) for v in np.atleast_1d(a["labels"])]
    else:
        labels = [f"({ch[i]},{ch[i + 1]}]" if right else f"[{ch[i]},{ch[i + 1]})"
                  for i in range(k)]
        if lowest:
            if right:
                labels[0] = "[" + labels[0][1:]
            else:
                labels[-1] = labels[-1][:-1] + "]"
    if right:
        codes = np.searchsorted(breaks, x, side="left") - 1
        if lowest:
            codes[x == breaks[0]] = 0
    else:
        codes = np.searchsorted(breaks, x, side="right") - 1
        if lowest:
            codes[x == breaks[-1]] = k - 1
    codes = np.where(np.isfinite(x) & (codes >= 0) & (codes < k), codes, -1)
    return RFactor(codes.astype(np.int64), tuple(labels), bool(a.get("ordered_result", False)))


def _f_ifelse(call: Call, ctx: Context) -> Any:
    a = _bind(call, ["test", "yes", "no"], ctx)
    test = np.asarray(a["test"], dtype=bool)
    yes, no = (numeric(a[k], deparse(call)) for k in ("yes", "no"))
    return np.where(test, yes, no)


FUNCTIONS: dict[str, Callable[[Call, Context], Any]] = {
    "mean": _summary(np.mean), "median": _summary(np.median),
    "sd": _summary(lambda x: np.std(x, ddof=1)), "var": _summary(lambda x: np.var(x, ddof=1)),
    "min": _summary(np.min), "max": _summary(np.max), "sum": _summary(np.sum),
    "length": _summary(lambda x: float(len(x))), "ifelse": _f_ifelse, "cut": _f_cut,
    "I": _f_identity, "log": _f_log, "exp": _unary(np.exp), "sqrt": _unary(np.sqrt),
    "abs": _unary(np.abs), "log1p": _unary(np.log1p), "expm1": _unary(np.expm1),
    "log2": _unary(np.log2), "log10": _unary(np.log10), "sin": _unary(np.sin),
    "cos": _unary(np.cos), "tan": _unary(np.tan), "atan": _unary(np.arctan),
    "asin": _unary(np.arcsin), "acos": _unary(np.arccos), "sinh": _unary(np.sinh),
    "cosh": _unary(np.cosh), "tanh": _unary(np.tanh), "floor": _unary(np.floor),
    "ceiling": _unary(np.ceil), "trunc": _unary(np.trunc), "sign": _unary(np.sign),
    "round": _f_round, "pmin": _pm(np.minimum), "pmax": _pm(np.maximum),
    "plogis": _unary(lambda x: 1 / (1 + np.exp(-x))),
    "qlogis": _unary(lambda p: np.log(p / (1 - p))),
    "poly": _f_poly, "ns": _f_ns, "bs": _f_bs, "scale": _f_scale,
    "factor": _f_factor(None), "as.factor": _f_factor(None), "ordered": _f_factor(True),
    "as.ordered": _f_factor(True), "relevel": _f_relevel, "C": _f_C,
    "as.numeric": _f_as_numeric, "as.double": _f_as_numeric,
    "as.integer": lambda call, ctx: np.trunc(_f_as_numeric(call, ctx)),
    "cbind": _f_cbind, "c": _f_c,
}
# package-qualified spellings R users write (splines::ns)
FUNCTIONS.update({f"splines::{k}": FUNCTIONS[k] for k in ("ns", "bs")})
FUNCTIONS.update({f"stats::{k}": FUNCTIONS[k] for k in ("poly",)})


def _call(call: Call, ctx: Context) -> Any:
    f = FUNCTIONS.get(call.fn)
    if f is not None:
        return f(call, ctx)
    user = ctx.env.get(call.fn)
    if callable(user):
        # a function of the caller's namespace, as R finds one in the formula's environment
        args = [numeric(eval_node(n, ctx), deparse(call)) for k, n in call.args if k is None]
        kwargs = {k: eval_node(n, ctx) for k, n in call.args if k is not None}
        return np.asarray(user(*args, **kwargs), dtype=float)
    raise FormulaError(f"unsupported function {call.fn!r} in {deparse(call)!r}")


def check_functions(node: Node, env: dict[str, Any] | None = None, allowed: tuple[str, ...] = ()
                    ) -> None:
    """Raise for the first call that is neither an R function supported here nor a function
    of the caller's namespace (before any data are touched)."""
    env = env or {}
    for c in calls_of(node):
        if c.fn not in FUNCTIONS and c.fn not in allowed and not callable(env.get(c.fn)):
            raise FormulaError(f"unsupported function {c.fn!r} in {deparse(c)!r}")


def variables_of(node: Node) -> list[str]:
    """The data/caller names an expression reads, without R's constants and contrast names."""
    out = []
    skip: set[str] = set()  # C(f, contr.sum): the contrasts' name is not a variable
    for c in calls_of(node):
        if c.fn == "C" and len(c.args) > 1 and isinstance(c.args[1][1], Name):
            skip.add(c.args[1][1].id)
    for name in names_of(node):
        if name not in CONSTANTS and name not in skip and name not in CONTRASTS and name != ".":
            out.append(name)
    return out
