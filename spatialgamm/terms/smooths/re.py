"""mgcv's simple random effect ``s(g, bs='re')`` and its relatives.

The basis is R's ``model.matrix(~ v1:v2:... - 1)`` for the smooth's variables: one column
per combination of factor levels (R's level order, the first factor varying fastest,
unobserved combinations included, as R does), multiplied by the product of the numeric
variables. So ``s(g)`` is the indicator matrix of g, ``s(x, g)`` random slopes of x by g,
``s(g1, g2)`` the g1:g2 interaction. Penalty: the identity; no null space and no
centring constraint. New data: unseen levels give zero rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sps

from .base import RawSmooth, SmoothBasis, _require_columns, factor_levels, is_factor

__all__ = ["RandomEffect"]


class RandomEffect(SmoothBasis):
    """``s(..., bs='re')``: i.i.d. Gaussian random effect with an identity penalty.

    ``k`` and ``m`` are ignored (as in mgcv). The basis is a sparse CSC matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"herd": pd.Categorical(["a", "b", "a", "c"])})
    >>> sm = RandomEffect("herd").construct(d)
    >>> sm.X.toarray().tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """

    bs = "re"
    centred = False

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        factors: dict[str, list] = {}
        for v in self.variables:
            col = data[v]
            if is_factor(col):
                if col.isna().any():
                    raise ValueError(f"{self.label}: factor {v!r} has missing values")
                factors[v] = factor_levels(col)
            elif pd.api.types.is_integer_dtype(col.dtype):
                # mgcv treats a numeric column as a covariate (one ridge column), which is
                # rarely what an integer-coded group id means: say so
                warnings.warn(
                    f"{self.label}: {v!r} is an integer column, so bs='re' uses it as a "
                    "numeric covariate (as mgcv does); convert it to a category for one "
                    "random effect per level",
                    UserWarning,
                    stacklevel=3,
                )
        state = {"levels": factors}
        X = self._matrix(state, data)
        K = X.shape[1]
        return RawSmooth(X=X, S=np.eye(K), null_dim=0, rank=K, k=K, state=state,
                         knots=None)

    def _matrix(self, state: dict, data: pd.DataFrame) -> sps.csc_matrix:
        _require_columns(data, self.variables, self.label)
        n = len(data)
        levels: dict[str, list] = state["levels"]
        col = np.zeros(n, dtype=np.int64)
        valid = np.ones(n, dtype=bool)
        stride = 1
        weight = np.ones(n)
        for v in self.variables:
            values = data[v]
            if v in levels:
                levs = levels[v]
                codes = pd.Index(levs).get_indexer(pd.Index(values)).astype(np.int64)
                valid &= codes >= 0  # unseen or missing level -> zero row
                col += np.where(codes >= 0, codes, 0) * stride
                stride *= len(levs)
            else:
                if is_factor(values):
                    raise ValueError(f"{self.label}: {v!r} was numeric when fitted, now a factor")
                x = np.asarray(values, dtype=float)
                if np.isnan(x).any():
                    raise ValueError(f"{self.label}: column {v!r} contains NaN/missing values")
                weight = weight * x
        K = stride
        rows = np.flatnonzero(valid)
        return sps.csc_matrix((weight[rows], (rows, col[rows])), shape=(n, K))

    def _predict_raw(self, state: dict, newdata: pd.DataFrame) -> sps.csc_matrix:
        return self._matrix(state, newdata)
