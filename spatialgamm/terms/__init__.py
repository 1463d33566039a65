"""Terms: each kind of model term builds its :class:`~spatialgamm.terms.base.Block`.

``build_special`` dispatches a parsed call from the formula (``s(...)``, ``gp(...)``, ...) to
the module that owns that term kind. Adding a term kind means adding a builder here; the
engine does not change.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..formula.parse import FormulaError, SpecialTerm
from .base import Block

#: formula call -> "module:function" building a list of blocks
BUILDERS = {
    "s": "spatialgamm.terms.smooth:build_smooth",
    "te": "spatialgamm.terms.smooth:build_tensor",
    "ti": "spatialgamm.terms.smooth:build_tensor",
    "t2": "spatialgamm.terms.smooth:build_tensor",
    "gp": "spatialgamm.terms.gp:build_gp",
    "hsgp": "spatialgamm.terms.hsgp:build_hsgp",
    "spde": "spatialgamm.terms.spde:build_spde",
    "kinship": "spatialgamm.terms.known_cov:build_known_cov",
    "known_cov": "spatialgamm.terms.known_cov:build_known_cov",
}


def build_special(special: SpecialTerm, data, env: dict[str, Any], family) -> list[Block]:
    """Build the blocks of one special term."""
    target = BUILDERS.get(special.func)
    if target is None:
        raise FormulaError(f"term {special.text!r}: {special.func}() is not a known term "
                           f"(known: {sorted(BUILDERS)})")
    mod, fn = target.split(":")
    try:
        builder = getattr(import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise FormulaError(f"term {special.func}() is not available in this version") from exc
    return builder(special, data, env, family)
