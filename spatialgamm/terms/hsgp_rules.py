"""Which of ``m`` and ``c`` a Hilbert-space GP needs raised, and to what.

Riutort-Mayol, Burkner, Andersen, Solin & Vehtari (2023, Statistics and Computing 33:17,
section 4) relate, in one dimension, the boundary factor ``c`` (box half-width ``L = c S``,
``S`` the data's half-width), the number of basis functions ``m`` and the length-scale
``l`` of the kernel (relative to ``S``) for an accurate approximation:

    c >= max(a1 * l / S, 1.2)        the box must be wide for long length-scales;
    m >= a2 * c / (l / S)            enough functions for that box and length-scale,

with ``(a1, a2) = (3.2, 1.75)`` for the squared exponential, ``(4.1, 2.65)`` for Matern 5/2
and ``(4.5, 3.42)`` for Matern 3/2. Their ``l`` is the machine-learning length-scale
(``sqrt(2 nu) d / l`` in the Matern kernels, ``d^2 / (2 l^2)`` in the squared exponential);
this package's ``range`` is geoR's (``d / range``), so ``l = sqrt(2 nu) * range`` for a
Matern and ``l = range`` for ``exp_quad``. Rougher kernels (exponential, Matern nu < 3/2)
have no published rule: the Matern 3/2 one is used as a lower bound there (they need more).
The rules are applied per coordinate (``m`` and ``S`` per dimension, one ``c``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..kernels import KernelChoice

#: (a1, a2) by Matern smoothness (inf: squared exponential)
_RULES = {1.5: (4.5, 3.42), 2.5: (4.1, 2.65), math.inf: (3.2, 1.75)}
#: the smallest boundary factor the paper recommends
C_MIN = 1.2


@dataclass(frozen=True)
class BasisAdvice:
    """The diagnosis: ``c_needed`` (>= the current c when the box is too small) and
    ``m_needed`` per dimension for that c; ``exact_rule`` False when the kernel has no
    published rule (the Matern 3/2 rule, a lower bound, was used)."""

    c_needed: float
    m_needed: tuple[int, ...]
    c_too_small: bool
    m_too_small: bool
    exact_rule: bool

    def message(self, c: float, m: tuple[int, ...]) -> str:
        """What to raise, in words."""
        src = "Riutort-Mayol et al. 2023" if self.exact_rule else \
            "Riutort-Mayol et al. 2023's Matern 3/2 rule, a lower bound for this rougher kernel"
        mm = _fmt(self.m_needed)
        if self.c_too_small:
            return (f"the box is too small for this range: raise c= from {c:g} to at least "
                    f"{self.c_needed:g}, with m= at least {mm} for that box ({src})")
        if self.m_too_small:
            return (f"c={c:g} is wide enough but the basis is too small for this range: raise "
                    f"m= from {_fmt(m)} to at least {mm} ({src})")
        return (f"m={_fmt(m)} and c={c:g} meet the conditions of {src}; raise m= (the "
                "captured share grows with m)")


def _fmt(m: tuple[int, ...]) -> str:
    return str(m[0]) if len(set(m)) == 1 else str(tuple(m))


def advise(kernel: KernelChoice, range: float, S: np.ndarray, c: float,
           m: tuple[int, ...]) -> BasisAdvice:
    """Check ``m`` and ``c`` against Riutort-Mayol et al. (2023)'s conditions at ``range``.

    Examples
    --------
    >>> from spatialgamm.kernels import KernelChoice
    >>> k = KernelChoice("matern32")
    >>> a = advise(k, range=2.0, S=np.array([1.0]), c=1.25, m=(50,))  # l/S = 3.46
    >>> a.c_too_small, round(a.c_needed, 2), a.m_needed
    (True, 15.59, (16,))
    >>> advise(k, range=0.05, S=np.array([1.0]), c=1.5, m=(20,)).m_needed   # l/S = 0.087
    (60,)
    """
    nu = math.inf if kernel.name == "exp_quad" else kernel.matern_nu
    exact = nu in _RULES
    if not exact:
        nu = 1.5
    a1, a2 = _RULES[nu]
    ell = range if math.isinf(nu) else math.sqrt(2.0 * nu) * range
    rel = ell / np.asarray(S, dtype=float)  # l / S per dimension
    # rounded up to two decimals, so that refitting with the printed value meets the rule
    c_need = math.ceil(max(float(np.max(a1 * rel)), C_MIN) * 100.0) / 100.0
    c_use = max(c, c_need)
    m_need = tuple(int(math.ceil(a2 * c_use / r)) for r in rel)
    c_small = c < c_need
    m_small = any(k < need for k, need in zip(m, m_need))
    return BasisAdvice(c_needed=c_need, m_needed=m_need, c_too_small=c_small,
                       m_too_small=m_small, exact_rule=exact)
