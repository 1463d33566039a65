"""mgcv-style smooth bases: ``make_basis(bs, variables, ...)`` then ``construct(data)``.

Each basis follows mgcv's protocol (see :mod:`.base`): ``construct(data) -> SmoothSpec``
with the constrained basis ``X``, penalty ``S`` (on mgcv's scale), ``null_dim``, ``rank``
and ``predict_matrix(newdata)``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> d = pd.DataFrame({"x": np.linspace(0, 1, 30)})
>>> make_basis("cr", "x", k=6).construct(d).label
's(x)'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .base import SmoothBasis, SmoothSpec, factor_levels, is_factor
from .cr import CubicRegressionSpline
from .gp import GPSmooth
from .ps import PSpline
from .re import RandomEffect
from .shrinkage import ShrinkageCubic, ShrinkageThinPlate
from .tp import ThinPlateSpline

__all__ = [
    "SmoothBasis",
    "SmoothSpec",
    "CubicRegressionSpline",
    "GPSmooth",
    "PSpline",
    "RandomEffect",
    "ShrinkageCubic",
    "ShrinkageThinPlate",
    "ThinPlateSpline",
    "BASES",
    "make_basis",
    "construct_by",
    "is_factor",
    "factor_levels",
]

BASES: dict[str, type[SmoothBasis]] = {
    "tp": ThinPlateSpline,
    "cr": CubicRegressionSpline,
    "ps": PSpline,
    "gp": GPSmooth,
    "re": RandomEffect,
    "ts": ShrinkageThinPlate,
    "cs": ShrinkageCubic,
}


def make_basis(
    bs: str | None,
    variables: str | tuple[str, ...] | list[str],
    k: int | None = None,
    m: Any = None,
    by: str | None = None,
    **kw: Any,
) -> SmoothBasis:
    """The basis object for ``s(variables, bs=bs, k=k, m=m, by=by, ...)``.

    Parameters
    ----------
    bs : str or None
        Basis type; None means mgcv's default ``'tp'``. Known: tp, cr, ps, gp, re.
    variables : str or sequence of str
        Covariate column names.
    k : int, optional
        Basis dimension before the centring constraint (mgcv's ``k``).
    m : optional
        Basis-specific order/parameters as in mgcv (gp: ``(type, rho, power)``).
    by : str, optional
        A numeric column multiplying the smooth, or a factor giving one smooth per level.
    **kw
        ``knots=`` and basis options (``max_knots``, ``seed`` for gp/tp).

    Examples
    --------
    >>> make_basis("gp", ("cX", "cY"), k=50, m=(3, 100.0))
    GPSmooth(cX, cY, bs='gp', k=50, m=(3, 100.0))
    """
    key = "tp" if bs is None else str(bs).lower()
    if key not in BASES:
        raise ValueError(f"unknown smooth basis bs={bs!r}; known bases: {', '.join(sorted(BASES))}")
    if isinstance(variables, str):
        variables = (variables,)
    return BASES[key](*tuple(variables), k=k, m=m, by=by, **kw)


def construct_by(basis: SmoothBasis, data: pd.DataFrame, by: str) -> list[SmoothSpec]:
    """Smooths of ``basis`` by the column ``by``: one per level of a factor, else one.

    For a factor, each level's smooth is the basis times the level's indicator, with the
    centring constraint kept (as mgcv: include the factor as a parametric term too);
    labels are mgcv's, e.g. ``s(x2):fac2`` for level ``2`` of ``fac``. An ordered factor
    gets no smooth for its first level. A numeric ``by`` multiplies the basis and drops
    the constraint (unless it is constant).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 40), "fac": ["1", "2"] * 20})
    >>> [s.label for s in construct_by(make_basis("cr", "x", k=5), d, "fac")]
    ['s(x):fac1', 's(x):fac2']
    """
    import copy

    b = copy.copy(basis)
    b.by = by
    return b.construct_all(data)
