"""R expressions as R reads and prints them: a tokenizer, a precedence parser and ``deparse``.

Formulas are R expressions. Python's parser cannot read them (``as.numeric(x)``, ``a:b``,
``x %in% g``, `` `Δ days` ``, ``x^2`` meaning power, ``TRUE``), and R names model-matrix
columns by *deparsing* each variable (``I(week>2)`` becomes ``I(week > 2)``, ``1e6*x`` becomes
``1e+06 * x``). This module parses with R's operator precedence (``?Syntax``) and deparses with
R's spacing and number format, so that column names are R's, character for character.

Precedence, high to low (R): ``^`` (right) > unary ``- +`` > ``:`` > ``%any%`` > ``* /`` >
binary ``+ -`` > comparisons > ``!`` > ``& &&`` > ``| ||`` > ``~``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import FormulaError


@dataclass(frozen=True)
class Num:
    """A numeric literal (``2``, ``1e6``, ``3L``)."""

    value: float
    integer: bool = False


@dataclass(frozen=True)
class Str:
    """A string literal."""

    value: str


@dataclass(frozen=True)
class Name:
    """A symbol; ``quoted`` when it was written in back-quotes."""

    id: str


@dataclass(frozen=True)
class Call:
    """``fn(args)``; each argument is ``(name or None, expression)``."""

    fn: str
    args: tuple[tuple[str | None, Node], ...]


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Paren:
    inner: Node


Node = Num | Str | Name | Call | BinOp | Unary | Paren

# binary operators: (left binding power, right binding power); right-assoc has rbp < lbp
_BINARY: dict[str, tuple[int, int]] = {
    "~": (10, 11), "|": (20, 21), "||": (20, 21), "&": (30, 31), "&&": (30, 31),
    "==": (50, 51), "!=": (50, 51), "<": (50, 51), ">": (50, 51), "<=": (50, 51),
    ">=": (50, 51), "+": (60, 61), "-": (60, 61), "*": (70, 71), "/": (70, 71),
    "%%": (80, 81), ":": (90, 91), "^": (110, 109),
}
_SPECIAL = 80  # every %op% (``%in%``, ``%/%``, ``%%``) shares one level
_UNARY_MINUS = 100
_UNARY_NOT = 40

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`[^`]*`)
  | (?P<name>(?:[^\W\d]|\.(?!\d))[\w.]*(?::::?(?:[^\W\d]|\.(?!\d))[\w.]*)?)
  | (?P<op>%[^%]*%|\|\||&&|==|!=|<=|>=|[-+*/^:~|&!<>(),=\[\]])
""", re.VERBOSE | re.UNICODE)


def tokenize(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` tokens of an R expression; ``kind`` in num/str/name/op."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(f"cannot read {text[pos:]!r} in {text!r} (R syntax expected)")
        kind = m.lastgroup or ""
        if kind == "bq":
            out.append(("name", m.group()[1:-1]))
        elif kind == "op" and m.group() == "*" and text.startswith("**", pos):
            out.append(("op", "^"))  # R reads ** as ^
            pos += 2
            continue
        elif kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FormulaError(f"unexpected end of {self.text!r}")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok != ("op", op):
            raise FormulaError(f"expected {op!r} but found {tok[1]!r} in {self.text!r}")

    def expr(self, rbp: int = 0) -> Node:
        left = self.prefix()
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "op":
                break
            op = tok[1]
            if op.startswith("%") and op != "%%":
                lbp, nbp = _SPECIAL, _SPECIAL + 1
            elif op in _BINARY:
                lbp, nbp = _BINARY[op]
            else:
                break
            if lbp <= rbp:
                break
            self.take()
            left = BinOp(op, left, self.expr(nbp))
        return left

    def prefix(self) -> Node:
        kind, tok = self.take()
        if kind == "num":
            integer = tok.endswith("L")
            return Num(float(tok.rstrip("L")), integer)
        if kind == "str":
            return Str(tok[1:-1].encode().decode("unicode_escape") if "\\" in tok else tok[1:-1])
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                return Call(tok, self.arguments())
            return Name(tok)
        if tok == "(":
            inner = self.expr()
            self.expect(")")
            return Paren(inner)
        if tok in ("-", "+"):
            return Unary(tok, self.expr(_UNARY_MINUS))
        if tok == "!":
            return Unary(tok, self.expr(_UNARY_NOT))
        if tok == "~":
            return Unary(tok, self.expr(10))
        raise FormulaError(f"unexpected {tok!r} in {self.text!r}")

    def arguments(self) -> tuple[tuple[str | None, Node], ...]:
        args: list[tuple[str | None, Node]] = []
        if self.peek() == ("op", ")"):
            self.take()
            return ()
        while True:
            name = None
            tok = self.peek()
            if (tok is not None and tok[0] in ("name", "str") and self.i + 1 < len(self.toks)
                    and self.toks[self.i + 1] == ("op", "=")):
                name = tok[1].strip("'\"")
                self.i += 2
            args.append((name, self.expr()))
            tok = self.take()
            if tok == ("op", ")"):
                return tuple(args)
            if tok != ("op", ","):
                raise FormulaError(f"expected ',' or ')' but found {tok[1]!r} in {self.text!r}")


def parse_r(text: str) -> Node:
    """Parse one R expression.

    Examples
    --------
    >>> deparse(parse_r("I(week>2)"))
    'I(week > 2)'
    >>> parse_r("a:b*c").op
    '*'
    """
    p = _Parser(text)
    if not p.toks:
        raise FormulaError("empty expression")
    node = p.expr()
    if p.peek() is not None:
        raise FormulaError(f"unexpected {p.peek()[1]!r} in {text!r}")  # type: ignore[index]
    return node


# ---- deparse ---------------------------------------------------------------------------------
_SYNTACTIC = re.compile(r"^((?:[^\W\d_]|\.(?![\d]))[\w.]*|\.)$", re.UNICODE)
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "in"}


def deparse_name(name: str) -> str:
    """A symbol as R prints it: back-quoted unless syntactic (`` `Δ days` ``)."""
    if _SYNTACTIC.match(name) and name not in _RESERVED - {"TRUE", "FALSE", "Inf", "NaN", "NA",
                                                            "NULL"}:
        return name
    return f"`{name}`"


def format_number(x: float, integer: bool = False) -> str:
    """A number as R's deparse prints it (15 significant digits, fixed unless scientific
    is shorter): ``1e+06``, ``1e-07``, ``2.5``, ``123456789``.

    >>> [format_number(v) for v in (1e6, 1e5, 2.50, 0.1, 123456789, 1e-7, 3.0)]
    ['1e+06', '1e+05', '2.5', '0.1', '123456789', '1e-07', '3']
    """
    if integer:
        return f"{int(x)}L"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    sig = 1
    for sig in range(1, 16):
        if float(f"{x:.{sig}g}") == float(f"{x:.15g}"):
            break
    mant, _, exp = f"{x:.{sig - 1}e}".partition("e")
    e = int(exp)
    sci = f"{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    fixed = f"{x:.{max(sig - 1 - e, 0)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def _needs_parens(child: Node, op: str, right: bool) -> bool:
    # R deparse adds parentheses only where the tree would otherwise re-parse differently;
    # parentheses the user wrote are Paren nodes and print as written
    if not isinstance(child, BinOp):
        return False
    lbp = _SPECIAL if child.op.startswith("%") else _BINARY[child.op][0]
    mine = _SPECIAL if op.startswith("%") else _BINARY[op][0]
    if lbp != mine:
        return lbp < mine
    return right != (op == "^")


def deparse(node: Node) -> str:
    """R's ``deparse`` of an expression (its spacing, number format and quoting).

    >>> deparse(parse_r("poly(x,2,raw=TRUE)")), deparse(parse_r("exp(-x/2)+x^2"))
    ('poly(x, 2, raw = TRUE)', 'exp(-x/2) + x^2')
    """
    if isinstance(node, Num):
        return format_number(node.value, node.integer)
    if isinstance(node, Str):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Name):
        return deparse_name(node.id)
    if isinstance(node, Paren):
        return f"({deparse(node.inner)})"
    if isinstance(node, Unary):
        return f"{node.op}{deparse(node.operand)}"
    if isinstance(node, Call):
        args = ", ".join(deparse(v) if k is None else f"{deparse_name(k)} = {deparse(v)}"
                         for k, v in node.args)
        fn = node.fn if "::" in node.fn else deparse_name(node.fn)  # splines::ns
        return f"{fn}({args})"
    left, right = deparse(node.left), deparse(node.right)
    if _needs_parens(node.left, node.op, False):
        left = f"({left})"
    if _needs_parens(node.right, node.op, True):
        right = f"({right})"
    # R prints ^ : / and %% %/% without spaces, every other binary operator with spaces
    if node.op in ("^", ":", "/", "%%", "%/%"):
        return f"{left}{node.op}{right}"
    return f"{left} {node.op} {right}"


def names_of(node: Node) -> list[str]:
    """Variables an expression reads (symbols not in call position), in order of appearance.

    >>> names_of(parse_r("log(x + `Δ days`, base = b)"))
    ['x', 'Δ days', 'b']
    """
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Name):
            if n.id not in out:
                out.append(n.id)
        elif isinstance(n, Call):
            for _, a in n.args:
                walk(a)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Unary):
            walk(n.operand)
        elif isinstance(n, Paren):
            walk(n.inner)

    walk(node)
    return out


def calls_of(node: Node) -> list[Call]:
    """Every call in an expression, outermost first."""
    out: list[Call] = []

    def walk(n: Node) -> None:
        if isinstance(n, Call):
            out.append(n)
            for _, a in n.args:
                walk(a)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, (Unary, Paren)):
            walk(n.operand if isinstance(n, Unary) else n.inner)

    walk(node)
    return out
