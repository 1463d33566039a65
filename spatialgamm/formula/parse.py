"""Split an R-style model formula into its parts.

A formula such as ``cbind(s, n - s) ~ x + C(f) + (Days | Subject) + s(cX, cY, bs='gp', k=50)
+ offset(log(time))`` has a response, a fixed part (R's model.matrix, :mod:`.fixed`), lme4
bar terms, special terms (``s()``, ``gp()``, ``spde()`` ...) and offsets. This module only
splits the text and parses the arguments of special terms; nothing here touches data.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import FormulaError
from .rsyntax import deparse, parse_r

#: Calls in a formula that build a penalised / latent term rather than fixed-effect columns.
SPECIAL_CALLS = ("s", "te", "ti", "t2", "gp", "hsgp", "spde", "kinship", "known_cov")


@dataclass(frozen=True)
class BarTerm:
    """One lme4 random-effects term ``(expr | group)``.

    ``expr`` is the covariate formula (``1``, ``Days``, ``0 + Days``); ``group`` is a grouping
    expression whose ``:`` denotes an interaction of factors.
    """

    expr: str
    group: str

    @property
    def label(self) -> str:
        return f"({self.expr} | {self.group})"


@dataclass(frozen=True)
class SpecialTerm:
    """A call such as ``s(cX, cY, bs='gp', k=50)``: variables and keyword arguments."""

    func: str
    variables: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class ParsedFormula:
    """The parts of a formula. ``fixed`` is an R right-hand side (may be ``"1"``)."""

    response: str | None
    fixed: str
    bars: tuple[BarTerm, ...]
    specials: tuple[SpecialTerm, ...]
    offsets: tuple[str, ...]
    text: str


def split_top_level(text: str, sep: str = "+") -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and brackets.

    >>> split_top_level("a + (1 | g) + s(x, k=3)")
    ['a', '(1 | g)', 's(x, k=3)']
    """
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":  # strings and R's back-quoted names (`Δ days`)
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in formula part {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in formula part {text!r}")
    parts.append("".join(cur).strip())
    return parts


def _split_minus_terms(rhs: str) -> list[str]:
    """Split on top-level '+' but keep '- 1' / '-1' parts attached as their own items."""
    out: list[str] = []
    for part in split_top_level(rhs, "+"):
        pieces = split_top_level(part, "-")
        if len(pieces) > 1 and all(p.strip() in ("", "0", "1") or i == 0 for i, p in
                                    enumerate(pieces)):
            if pieces[0].strip():
                out.append(pieces[0].strip())
            out.extend("-" + p.strip() for p in pieces[1:])
        else:
            out.append(part)
    return [p for p in out if p]


def _strip_outer_parens(t: str) -> str | None:
    t = t.strip()
    if not (t.startswith("(") and t.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(t):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(t) - 1:
            return None
    return t[1:-1]


def _expand_bar(inner: str) -> list[BarTerm]:
    """``x || g`` -> separate uncorrelated terms; ``1 | a/b`` -> ``(1|a) + (1|b:a)``.

    Nested groups take lme4's names: ``a/b/c`` gives ``a``, ``b:a`` and ``c:(b:a)``.
    """
    double = "||" in inner
    lhs, _, grp = inner.partition("||" if double else "|")
    lhs, grp = lhs.strip(), grp.strip()
    if not lhs or not grp:
        raise FormulaError(f"random-effects term ({inner}) needs 'expr | group'")
    groups: list[str] = []
    for g in split_top_level(grp, "+"):
        name = ""
        for i, part in enumerate(p.strip() for p in g.split("/")):
            name = part if i == 0 else f"{part}:{name}" if i == 1 else f"{part}:({name})"
            groups.append(name)
    terms: list[BarTerm] = []
    for g in groups:
        if not double:
            terms.append(BarTerm(lhs, g))
            continue
        parts = [p.strip() for p in split_top_level(lhs, "+")]
        has_int = not any(p in ("0", "-1") for p in parts)
        covs = [p for p in parts if p not in ("0", "1", "-1")]
        if has_int:
            terms.append(BarTerm("1", g))
        terms.extend(BarTerm(f"0 + {c}", g) for c in covs)
    return terms


def _literal(node: ast.AST, env: dict[str, Any]) -> Any:
    """Evaluate a keyword argument: literals, R's c(...), or names from the caller's namespace."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "c":
        return tuple(_literal(a, env) for a in node.args)
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Name):
        if node.id in ("TRUE", "T"):
            return True
        if node.id in ("FALSE", "F"):
            return False
        if node.id in env:
            return env[node.id]
        raise FormulaError(f"name {node.id!r} in a term's arguments is not defined in the "
                           "caller's namespace")
    code = compile(ast.Expression(node), "<formula>", "eval")
    try:
        return eval(code, {"__builtins__": {}}, dict(env))  # noqa: S307 - user's own namespace
    except Exception as exc:  # pragma: no cover - message path
        raise FormulaError(f"cannot evaluate argument {ast.unparse(node)!r}: {exc}") from exc


def parse_special(text: str, env: dict[str, Any] | None = None) -> SpecialTerm:
    """Parse ``s(x, z, bs='gp', k=50, m=c(3, 0.5))`` into a :class:`SpecialTerm`.

    >>> parse_special("s(cX, cY, bs='gp', k=50)").kwargs
    {'bs': 'gp', 'k': 50}
    """
    env = env or {}
    # R's back-quoted names (`Δ x`) are not Python: stand-ins here, mapped back below
    quoted: dict[str, str] = {}

    def stand_in(m: re.Match) -> str:
        key = f"_bq{len(quoted)}_"
        quoted[key] = m.group(1)
        return key
    src = re.sub(r"`([^`]*)`", stand_in, text.strip())
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse term {text!r}: {exc.msg}") from exc
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise FormulaError(f"term {text!r} is not a call")
    variables = []
    for a in tree.args:
        if isinstance(a, ast.Name):
            variables.append(quoted.get(a.id, a.id))
            continue
        # an expression (s(log(x))): kept as R prints it, evaluated on the data by the model
        seg = ast.get_source_segment(src, a) or ast.unparse(a)
        for key, name in quoted.items():
            seg = seg.replace(key, f"`{name}`")
        try:
            variables.append(deparse(parse_r(seg)))
        except FormulaError:
            variables.append(seg)
    # `by=fac` / `site=id` name data columns (as in mgcv), never Python variables of the caller
    kwargs = {kw.arg: (kw.value.id if kw.arg in ("by", "site") and isinstance(kw.value, ast.Name)
                       else _literal(kw.value, env)) for kw in tree.keywords if kw.arg}
    return SpecialTerm(tree.func.id, tuple(variables), kwargs, text.strip())


_TRIALS = re.compile(r"^(?P<y>.+?)\|\s*trials\s*\((?P<n>.+)\)\s*$", re.S)


def _brms_response(lhs: str) -> str:
    """brms's ``y | trials(n)`` is R's ``cbind(y, n - y)``; other addition terms are refused.

    >>> _brms_response("incidence | trials(size)")
    'cbind(incidence, size - incidence)'
    """
    if len(split_top_level(lhs, "|")) < 2:
        return lhs
    m = _TRIALS.match(lhs)
    if m is None:
        raise FormulaError(f"response {lhs!r}: of brms's addition terms ('y | ...') only "
                           "trials(n) is supported (as cbind(y, n - y)); give weights= or "
                           "offset= for the others")

    def wrap(t: str) -> str:
        t = t.strip()
        return t if re.fullmatch(r"[\w.]+|`[^`]+`", t) else f"({t})"
    y, n = m["y"].strip(), m["n"].strip()
    return f"cbind({y}, {wrap(n)} - {wrap(y)})"


def parse_formula(formula: str, env: dict[str, Any] | None = None) -> ParsedFormula:
    """Split an R-style formula.

    Parameters
    ----------
    formula : str
        ``"y ~ x + (1 | g) + s(z) + offset(log(t))"``.
    env : dict, optional
        Names visible to term arguments (``spde(x, y, mesh=mesh)``): the caller's namespace.

    Examples
    --------
    >>> p = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> p.fixed, p.bars[0].group
    ('Days', 'Subject')
    """
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string like 'y ~ x', got {type(formula).__name__}")
    if formula.count("~") != 1:
        raise FormulaError(f"formula {formula!r} must contain exactly one '~'")
    lhs, rhs = (t.strip() for t in formula.split("~"))
    lhs = _brms_response(lhs)
    if not rhs:
        raise FormulaError(f"formula {formula!r} has an empty right-hand side")
    fixed: list[str] = []
    bars: list[BarTerm] = []
    specials: list[SpecialTerm] = []
    offsets: list[str] = []
    for term in _split_minus_terms(rhs):
        inner = _strip_outer_parens(term)
        if inner is not None and "|" in inner:
            # grouping factors are columns: `my group` is the column "my group" (lme4's name)
            bars.extend(BarTerm(b.expr, b.group.replace("`", "")) for b in _expand_bar(inner))
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z_0-9]*)\s*\(", term)
        if m and m.group(1) == "offset" and term.endswith(")"):
            offsets.append(term[m.end():-1].strip())
        elif m and m.group(1) in SPECIAL_CALLS and term.endswith(")"):
            specials.append(parse_special(term, env))
        else:
            if "|" in term and not re.match(r"^[\w.]+\s*\(", term):
                raise FormulaError(f"random-effects term {term!r} must be in parentheses: "
                                   "'(expr | group)'")
            fixed.append(term)
    fixed_text = " + ".join(fixed) if fixed else "1"
    fixed_text = fixed_text.replace("+ -", "- ")
    return ParsedFormula(lhs or None, fixed_text, tuple(bars), tuple(specials), tuple(offsets),
                         formula)
