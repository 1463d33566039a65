"""mgcv's factor-smooth interaction ``s(t, site, bs='fs')``: one random curve per level.

As mgcv builds it (``smooth.construct.fs.smooth.spec``, Wood 2017, sec. 5.8):

1. the base smooth of the numeric covariates (``xt=`` names its basis, default ``'tp'``) is
   built without constraint;
2. it is re-parameterised to its natural form (mgcv's ``nat.param`` type 1): with
   ``X = QR`` and ``R^-T S R^-1 = V diag(d) V'``, the new basis is ``Q V`` with the range
   columns divided by ``sqrt(d)`` (identity penalty there), then the range columns rescaled
   to mean square 1 (their penalty becomes ``scale^2``) and the null-space columns likewise;
3. each level of the factor gets a copy of that basis (zero outside the level) and the
   penalties are shared across levels: one on the range space and one per null-space
   column (so a base with an ``M``-dimensional null space gives ``1 + M`` smoothing
   parameters; random intercepts and slopes for the default ``tp``);
4. no centring constraint; penalties scaled as for any smooth.

When the null space has more than one dimension, which basis of it the eigen-solver returns
is fixed by rounding in mgcv (each column gets its own penalty, so this changes the fit
slightly). The same LAPACK routine as R's ``eigen`` is used here (``dsyevr``), which returns
the same basis when rounding agrees; a base with a 1-D null space (e.g. ``m=1``) has no such
ambiguity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla

from .base import _require_columns, factor_levels, is_factor
from .tensor import MultiSmoothSpec

__all__ = ["FactorSmooth", "natural_parameterisation"]


def natural_parameterisation(X: np.ndarray, S: np.ndarray, rank: int
                             ) -> tuple[np.ndarray, np.ndarray, float]:
    """mgcv's ``nat.param(X, S, rank, type=1)`` with ``unit.fnorm``: ``(X_new, P, D)``.

    ``X_new = X P``; the first ``rank`` columns carry the penalty ``D`` (a scalar times the
    identity), the others none.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 4))
    >>> S = np.diag([2.0, 1.0, 0.0, 0.0])
    >>> Xn, P, D = natural_parameterisation(X, S, 2)
    >>> bool(np.allclose(Xn, X @ P)), bool(np.allclose(P.T @ S @ P, np.diag([D, D, 0, 0])))
    (True, True)
    """
    Q, R = np.linalg.qr(X)
    Rinv = sla.solve_triangular(R, np.eye(R.shape[0]))
    RSR = Rinv.T @ S @ Rinv
    e, V = sla.eigh(0.5 * (RSR + RSR.T), driver="evr")
    e, V = e[::-1], V[:, ::-1]  # decreasing, as R's eigen()
    E = np.ones(X.shape[1])
    E[:rank] = np.sqrt(e[:rank])
    Xn = (Q @ V) / E
    P = (Rinv @ V) / E
    scale = 1.0 / np.sqrt(np.mean(Xn[:, :rank] ** 2))
    Xn[:, :rank] *= scale
    P[:, :rank] *= scale
    if rank < X.shape[1]:
        sf = 1.0 / np.sqrt(np.mean(Xn[:, rank:] ** 2))
        Xn[:, rank:] *= sf
        P[:, rank:] *= sf
    return Xn, P, float(scale ** 2)


class FactorSmooth:
    """``s(x, fac, bs='fs', k=, m=, xt=)``: a smooth of ``x`` per level of ``fac``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"t": rng.uniform(size=60), "g": list("abc") * 20})
    >>> sm = FactorSmooth(("t", "g"), k=5).construct(d)
    >>> sm.label, sm.X.shape, len(sm.S)
    ('s(t,g)', (60, 15), 3)
    """

    def __init__(self, variables: tuple[str, ...], k: int | None = None, m=None,
                 xt: str | None = None, **kw) -> None:
        self.variables = tuple(variables)
        self.k, self.m, self.kw = k, m, kw
        self.base_bs = "tp" if xt is None else str(xt)
        if self.base_bs in ("fs", "re", "ts", "cs"):
            raise ValueError(f"{self.label}: xt={xt!r} cannot be the base of an fs smooth")

    @property
    def label(self) -> str:
        return "s(" + ",".join(self.variables) + ")"

    def construct(self, data: pd.DataFrame) -> MultiSmoothSpec:
        from . import make_basis

        _require_columns(data, self.variables, self.label)
        facs = [v for v in self.variables if is_factor(data[v])]
        if len(facs) != 1:
            raise ValueError(f"{self.label}: bs='fs' needs exactly one factor among its "
                             f"variables (found {facs or 'none'})")
        fterm = facs[0]
        if data[fterm].isna().any():
            raise ValueError(f"{self.label}: factor {fterm!r} has missing values")
        others = tuple(v for v in self.variables if v != fterm)
        if not others:
            raise ValueError(f"{self.label}: bs='fs' needs a numeric covariate besides "
                             f"{fterm!r}")
        base = make_basis(self.base_bs, others, k=self.k, m=self.m, **self.kw)
        raw = base.construct_raw(data)
        Xb = np.asarray(raw.X.toarray() if hasattr(raw.X, "toarray") else raw.X, dtype=float)
        Xn, P, D = natural_parameterisation(Xb, np.asarray(raw.S), raw.rank)
        levels = factor_levels(data[fterm])
        kb, rank = Xn.shape[1], raw.rank
        null_d = kb - rank
        nf = len(levels)

        def full(Xbase: np.ndarray, fac: pd.Series) -> np.ndarray:
            codes = pd.Index(levels).get_indexer(pd.Index(fac))
            out = np.zeros((Xbase.shape[0], kb * nf))
            rows = np.flatnonzero(codes >= 0)  # unseen levels: zero rows (no curve)
            for j in range(kb):
                out[rows, codes[rows] * kb + j] = Xbase[rows, j]
            return out

        X = full(Xn, data[fterm])
        S = [np.diag(np.tile(np.r_[np.full(rank, D), np.zeros(null_d)], nf))]
        for i in range(null_d):
            u = np.zeros(kb)
            u[rank + i] = 1.0
            S.append(np.diag(np.tile(u, nf)))
        xinf = float(np.abs(X).sum(axis=1).max())
        scales = []
        for j in range(len(S)):
            sc = float(np.abs(S[j]).sum(axis=0).max()) / xinf ** 2
            S[j] = S[j] / sc
            scales.append(sc)

        def predictor(newdata: pd.DataFrame, _level=None) -> np.ndarray:
            _require_columns(newdata, self.variables, self.label)
            Xr = base._predict_raw(raw.state, newdata)
            Xr = np.asarray(Xr.toarray() if hasattr(Xr, "toarray") else Xr, dtype=float)
            return full(Xr @ P, newdata[fterm])

        return MultiSmoothSpec(label=self.label, bs="fs", variables=self.variables, X=X,
                               S=S, S_scale=scales, null_dim=0,
                               sp_labels=[f"{self.label}{j + 1}" for j in range(len(S))],
                               predictor=predictor)
