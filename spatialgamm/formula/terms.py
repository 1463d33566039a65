"""R's ``terms.formula``: the right-hand side's operators expanded into terms.

A term is a set of variables (a bit mask over the formula's variables, numbered in order of
first appearance). The operators follow R's model formulae (Chambers & Hastie 1992, ch. 2;
``?formula``): ``a + b`` unites, ``a:b`` forms every pairwise interaction, ``a * b`` is
``a + b + a:b``, ``a %in% b`` is ``a`` interacted with all of ``b``, ``a / b`` is
``a + b %in% a``, ``(a + b)^k`` all interactions up to order k, ``- t`` removes a term, ``0``/
``-1`` remove the intercept and ``1`` puts it back. Terms are then ordered by their number of
variables, keeping the written order within one order, as R does (``keep.order = FALSE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FormulaError
from .rsyntax import BinOp, Call, Name, Node, Num, Paren, Unary, deparse


@dataclass(frozen=True)
class Terms:
    """The expanded right-hand side.

    ``variables`` are the distinct variable expressions (deparsed text -> node), ``terms``
    bit masks over them in R's order, ``intercept`` whether ``(Intercept)`` is in.
    """

    variables: tuple[Node, ...]
    labels_of_variables: tuple[str, ...]
    terms: tuple[int, ...]
    intercept: bool

    def variables_in(self, term: int) -> list[int]:
        return [i for i in range(len(self.variables)) if term >> i & 1]

    def label(self, term: int) -> str:
        """R's term label (``x:f``): variables in the order they first appear."""
        return ":".join(self.labels_of_variables[i] for i in self.variables_in(term))

    @property
    def term_labels(self) -> list[str]:
        return [self.label(t) for t in self.terms]


def _unique(terms: list[int]) -> list[int]:
    out: list[int] = []
    for t in terms:
        if t and t not in out:
            out.append(t)
    return out


class _Encoder:
    """R's EncodeVars: a recursive walk with the intercept and a parity for ``-``."""

    def __init__(self, dot: tuple[str, ...]) -> None:
        self.variables: list[Node] = []
        self.labels: list[str] = []
        self.intercept = True
        self.parity = True
        self.dot = dot

    def variable(self, node: Node) -> list[int]:
        label = deparse(node)
        if label not in self.labels:
            self.labels.append(label)
            self.variables.append(node)
        return [1 << self.labels.index(label)]

    def encode(self, node: Node) -> list[int]:
        if isinstance(node, Num) and node.value in (0.0, 1.0):
            # `1` adds the intercept, `0` removes it; inside `- ...` the meaning flips
            self.intercept = (node.value == 1.0) == self.parity
            return []
        if isinstance(node, Paren):
            return self.encode(node.inner)
        if isinstance(node, Name) and node.id == "." and not self.dot:
            raise FormulaError("'.' (all other columns) is not supported in a formula here; "
                               "list the columns")
        if isinstance(node, Name) and node.id == ".":
            out: list[int] = []
            for col in self.dot:
                out += self.variable(Name(col))
            return out
        if isinstance(node, Unary) and node.op == "-":
            return self.delete([], node.operand)
        if isinstance(node, Unary) and node.op == "+":
            return self.encode(node.operand)
        if not isinstance(node, BinOp):
            if isinstance(node, Num):
                raise FormulaError(f"invalid model formula: the number {deparse(node)} is "
                                   "neither 0 nor 1 (write I(...) for arithmetic)")
            return self.variable(node)
        op = node.op
        if op == "+":
            return _unique(self.encode(node.left) + self.encode(node.right))
        if op == "-":
            return self.delete(self.encode(node.left), node.right)
        if op == ":":
            left, right = self.encode(node.left), self.encode(node.right)
            return _unique([a | b for a in left for b in right])
        if op == "*":
            left, right = self.encode(node.left), self.encode(node.right)
            return _unique(left + right + [a | b for a in left for b in right])
        if op == "%in%":
            left, right = self.encode(node.left), self.encode(node.right)
            allr = 0
            for b in right:
                allr |= b
            return _unique([a | allr for a in left])
        if op == "/":
            left, right = self.encode(node.left), self.encode(node.right)
            alll = 0
            for a in left:
                alll |= a
            return _unique(left + [b | alll for b in right])
        if op == "^":
            power = node.right.inner if isinstance(node.right, Paren) else node.right
            if not isinstance(power, Num) or power.value < 1 or power.value != int(power.value):
                raise FormulaError(f"invalid power in formula term {deparse(node)!r}: "
                                   "'^' needs a positive whole number (write I(x^2) for a "
                                   "squared covariate)")
            left = self.encode(node.left)
            result = left
            for _ in range(int(power.value) - 1):
                result = _unique([a | b for a in left for b in result])
            return result
        # any other operator (`x > 2`, `a & b`, `x %% 2`) makes one variable, as in R
        return self.variable(node)

    def delete(self, left: list[int], right_node: Node) -> list[int]:
        self.parity = not self.parity
        right = self.encode(right_node)
        self.parity = not self.parity
        return [t for t in left if t not in right]


def expand_terms(node: Node | None, dot: tuple[str, ...] = ()) -> Terms:
    """Expand a right-hand side into R's terms.

    Parameters
    ----------
    node
        The parsed right-hand side (``None`` for an empty one: intercept only).
    dot
        Column names that ``.`` stands for (the data's columns except the response).

    Examples
    --------
    >>> from spatialgamm.formula.rsyntax import parse_r
    >>> expand_terms(parse_r("(x + week + f)^2 - week:f")).term_labels
    ['x', 'week', 'f', 'x:week', 'x:f']
    >>> t = expand_terms(parse_r("f/x - 1"))
    >>> t.term_labels, t.intercept
    (['f', 'f:x'], False)
    """
    enc = _Encoder(dot)
    terms = enc.encode(node) if node is not None else []
    if isinstance(node, Call) and node.fn == "offset":  # pragma: no cover - parse.py strips
        terms = []
    order = sorted(range(len(terms)), key=lambda i: (bin(terms[i]).count("1"), i))
    return Terms(tuple(enc.variables), tuple(enc.labels), tuple(terms[i] for i in order),
                 enc.intercept)
