"""Split an R-style model formula into its parts.

A formula such as ``cbind(s, n - s) ~ x + C(f) + (Days | Subject) + s(cX, cY, bs='gp', k=50)
+ offset(log(time))`` has a response, a fixed part (handed to formulaic), lme4 bar terms,
special terms (``s()``, ``gp()``, ``spde()`` ...) and offsets. This module only splits the text
and parses the arguments of special terms; nothing here touches data.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

#: Calls in a formula that build a penalised / latent term rather than fixed-effect columns.
SPECIAL_CALLS = ("s", "te", "ti", "gp", "hsgp", "spde", "kinship", "known_cov")


class FormulaError(ValueError):
    """A formula that cannot be parsed; the message says which part and why."""


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
    """The parts of a formula. ``fixed`` is a formulaic right-hand side (may be ``"1"``)."""

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
        if ch in "'\"":
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
    """``x || g`` -> separate uncorrelated terms; ``1 | a/b`` -> ``(1|a) + (1|a:b)``."""
    double = "||" in inner
    lhs, _, grp = inner.partition("||" if double else "|")
    lhs, grp = lhs.strip(), grp.strip()
    if not lhs or not grp:
        raise FormulaError(f"random-effects term ({inner}) needs 'expr | group'")
    groups: list[str] = []
    for g in split_top_level(grp, "+"):
        nest = [p.strip() for p in g.split("/")]
        for i in range(len(nest)):
            groups.append(":".join(nest[: i + 1]))
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
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"cannot parse term {text!r}: {exc.msg}") from exc
    if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
        raise FormulaError(f"term {text!r} is not a call")
    variables = []
    for a in tree.args:
        if isinstance(a, ast.Name):
            variables.append(a.id)
        else:
            variables.append(ast.unparse(a))
    # `by=fac` / `site=id` name data columns (as in mgcv), never Python variables of the caller
    kwargs = {kw.arg: (kw.value.id if kw.arg in ("by", "site") and isinstance(kw.value, ast.Name)
                       else _literal(kw.value, env)) for kw in tree.keywords if kw.arg}
    return SpecialTerm(tree.func.id, tuple(variables), kwargs, text.strip())


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
    if not rhs:
        raise FormulaError(f"formula {formula!r} has an empty right-hand side")
    fixed: list[str] = []
    bars: list[BarTerm] = []
    specials: list[SpecialTerm] = []
    offsets: list[str] = []
    for term in _split_minus_terms(rhs):
        inner = _strip_outer_parens(term)
        if inner is not None and "|" in inner:
            bars.extend(_expand_bar(inner))
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z_0-9]*)\s*\(", term)
        if m and m.group(1) == "offset" and term.endswith(")"):
            offsets.append(term[m.end():-1].strip())
        elif m and m.group(1) in SPECIAL_CALLS and term.endswith(")"):
            specials.append(parse_special(term, env))
        else:
            if "|" in term:
                raise FormulaError(f"random-effects term {term!r} must be in parentheses: "
                                   "'(expr | group)'")
            fixed.append(term)
    fixed_text = " + ".join(fixed) if fixed else "1"
    fixed_text = fixed_text.replace("+ -", "- ")
    return ParsedFormula(lhs or None, fixed_text, tuple(bars), tuple(specials), tuple(offsets),
                         formula)
