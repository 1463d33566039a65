"""Terms: each kind of model term builds its :class:`~spatialgamm.terms.base.Block`.

``build_special`` dispatches a parsed call from the formula (``s(...)``, ``gp(...)``, ...) to
the builder registered for it (:func:`~spatialgamm.terms.base.register_term`). The modules of
this package register their builders when they are imported; the first look-up imports them
all, so adding a term kind means adding one module here. The engine does not change.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from typing import Any

from ..errors import FormulaError
from ..termsyntax import SpecialTerm
from .base import TERM_KINDS, Ability, Block, LatentTerm, register_term

__all__ = ["Ability", "Block", "LatentTerm", "build_special", "known_calls", "register_term"]

_discovered = False


def _discover() -> None:
    """Import every module of this package once, so each registers its term builders."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            import_module(f"{__name__}.{mod.name}")


def known_calls() -> frozenset[str]:
    """The formula calls that build latent terms (``s``, ``gp``, ``spde``, ...).

    Examples
    --------
    >>> sorted({"s", "te", "gp", "spde", "kinship"} - known_calls())
    []
    """
    _discover()
    return frozenset(TERM_KINDS)


def build_special(special: SpecialTerm, data, env: dict[str, Any], family) -> list[Block]:
    """Build the blocks of one special term."""
    builder = TERM_KINDS.get(special.func)
    if builder is None:
        _discover()
        builder = TERM_KINDS.get(special.func)
    if builder is None:
        raise FormulaError(f"term {special.text!r}: {special.func}() is not a known term "
                           f"(known: {sorted(known_calls())})")
    return builder(special, data, env, family)
