"""The parsed pieces of a formula that terms are built from: lme4 bars and special calls.

A leaf module (it imports nothing of the package): the formula parser
(:mod:`spatialgamm.formula.parse`) produces these objects and the term modules
(:mod:`spatialgamm.terms`) consume them, so neither layer imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BarTerm", "SpecialTerm"]


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
