"""mgcv's shrinkage smooths ``bs='ts'`` and ``bs='cs'``: a penalty with no null space.

The penalty of the thin-plate (``ts``) or cubic regression (``cs``) spline is
eigen-decomposed, ``S = U diag(e) U'`` (e decreasing), and its zero eigenvalues replaced by
small positive ones, so that the whole function, not only its wiggly part, is shrunk
towards zero as the smoothing parameter grows (Wood 2017, sec. 5.3.4):

* ``ts``: the ``M`` null-space eigenvalues become ``0.1 e_(k-M)``;
* ``cs``: the two null-space eigenvalues become ``0.1 e_(k-2)`` and ``0.01 e_(k-2)``.

For ``cs`` the result depends on which basis of the 2-D null space the eigen-solver returns:
mgcv takes LAPACK's, which is fixed by rounding. LAPACK (dsyevr) returns the linear function
vanishing at the first knot and its orthogonal complement, in an order that rounding
decides; here the former always gets ``0.1 e_(k-2)``. So ``cs`` fits equal mgcv's when
mgcv's eigen() happens to return that order (about half the data sets tried), and differ
slightly (a different, equally valid shrinkage of the null space) otherwise.

The basis is unchanged; penalty scaling and the centring constraint follow as for any
smooth.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .base import RawSmooth
from .cr import CubicRegressionSpline
from .tp import ThinPlateSpline

__all__ = ["ShrinkageThinPlate", "ShrinkageCubic", "shrink_null_space"]

SHRINK = 0.1  # mgcv's attr(object, "shrink")


def shrink_null_space(S: np.ndarray, null_dim: int, geometric: bool) -> np.ndarray:
    """``S`` with its ``null_dim`` zero eigenvalues replaced as mgcv's ts (``geometric=
    False``: all ``0.1 e_(k-M)``) or cs (``geometric=True``: 0.1, 0.01, ... times it).

    Examples
    --------
    >>> S = np.diag([4.0, 2.0, 0.0, 0.0])
    >>> np.round(np.linalg.eigvalsh(shrink_null_space(S, 2, True)), 6).tolist()
    [0.02, 0.2, 2.0, 4.0]
    """
    S = 0.5 * (S + S.T)
    e, U = np.linalg.eigh(S)
    e, U = e[::-1].copy(), U[:, ::-1]  # decreasing, as R's eigen()
    k = len(e)
    if null_dim <= 0 or null_dim >= k:
        return S
    base = e[k - null_dim - 1]
    if geometric and null_dim == 2 and np.hypot(U[0, k - 2], U[0, k - 1]) > 1e-8:
        # which null direction gets 0.1 and which 0.01 is, in mgcv, whatever rounding makes
        # LAPACK return for the two (numerically zero) eigenvalues. LAPACK's dsyevr returns
        # one null vector vanishing on the first knot (the linear function through it), in
        # either position; it is taken first here (0.1), the orthogonal one second (0.01)
        n1, n2 = U[:, k - 2], U[:, k - 1]
        v1 = n2[0] * n1 - n1[0] * n2
        v1 /= np.linalg.norm(v1)
        v2 = n1 + n2 - v1 * (v1 @ (n1 + n2))
        if np.linalg.norm(v2) < 1e-8:
            v2 = n1 - v1 * (v1 @ n1)
        v2 /= np.linalg.norm(v2)
        U = U.copy()
        U[:, k - 2], U[:, k - 1] = v1, v2
    for i in range(k - null_dim, k):
        e[i] = (e[i - 1] if geometric else base) * SHRINK
    out = (U * e) @ U.T
    return 0.5 * (out + out.T)


class ShrinkageThinPlate(ThinPlateSpline):
    """``s(x, bs='ts')``: thin-plate regression spline with a shrunk null space.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 40)})
    >>> sm = ShrinkageThinPlate("x", k=6).construct(d)
    >>> sm.null_dim, sm.rank
    (0, 5)
    """

    bs = "ts"

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        raw = super()._setup(data)
        S = shrink_null_space(np.asarray(raw.S), raw.null_dim, geometric=False)
        return replace(raw, S=S, null_dim=0, rank=raw.k)


class ShrinkageCubic(CubicRegressionSpline):
    """``s(x, bs='cs')``: cubic regression spline with a shrunk null space.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 40)})
    >>> ShrinkageCubic("x", k=6).construct(d).null_dim
    0
    """

    bs = "cs"

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        raw = super()._setup(data)
        S = shrink_null_space(np.asarray(raw.S), raw.null_dim, geometric=True)
        return replace(raw, S=S, null_dim=0, rank=raw.k)
