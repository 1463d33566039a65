"""mgcv's tensor-product smooths ``te(...)`` and ``ti(...)`` (Wood 2006; Wood 2017, sec. 5.6).

A tensor product of marginal bases ``X_1, ..., X_m`` (each any basis of this package: ``cr``,
``ps``, ``tp``, ``gp``, ``re``; a margin may have several covariates, mgcv's ``d=``) has the
row-wise Kronecker basis ``X = X_1 (*) ... (*) X_m`` (the first margin's index varying
slowest) and one penalty per margin,

    S_j = I (x) ... (x) S~_j (x) ... (x) I,

so a term has ``m`` smoothing parameters. As mgcv builds them:

1. margins: ``te`` uses each margin's unconstrained basis; ``ti`` first absorbs each margin's
   centring constraint, so that main effects can be separate terms;
2. a one-covariate margin that is not already parameterised by function values (``cr`` and
   ``re`` are) is re-parameterised so that its coefficients are the function's values at
   ``k`` evenly spaced points of the covariate's range (``X_j <- X_j P^-1`` with ``P`` the
   margin's basis at those points; mgcv's ``np=TRUE``);
3. each marginal penalty ``S~_j`` is divided by its largest eigenvalue;
4. the tensor basis then goes through the usual smooth set-up: each ``S_j`` is divided by
   ``||S_j||_1 / ||X||_inf^2`` (mgcv's ``S.scale``), a ``by`` variable is applied and, for
   ``te`` only, the sum-to-zero constraint is absorbed (none when a margin is ``re``: such a
   margin has no constraint, so neither does mgcv's tensor).

The constraint null space is taken from a Householder QR, as for single smooths.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> d = pd.DataFrame({"x": rng.uniform(size=100), "z": rng.uniform(size=100)})
>>> sm = TensorSmooth.from_call(("x", "z"), k=(5, 4)).construct_all(d)[0]
>>> sm.label, sm.X.shape, len(sm.S), sm.null_dim
('te(x,z)', (100, 19), 2, 3)
"""

from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sps

from .base import (
    SmoothBasis,
    _require_columns,
    _scale_rows,
    centring_null_space,
    factor_levels,
    is_factor,
    is_ordered,
)

__all__ = ["TensorSmooth", "TensorSums", "MultiSmoothSpec", "row_kronecker",
           "tensor_penalties"]

#: margins whose coefficients are already function values: mgcv's ``noterp``
_NO_INTERP = ("cr", "re")


class TensorPredictor:
    """The prediction matrix of a tensor smooth (te, ti, t2) for new data: ``basis(newdata)``
    (the margins combined), times a numeric ``by``, then the constraint ``Z``, then the rows
    of a factor ``by`` level kept; called as ``predictor(newdata, level)``. ``basis`` and
    ``Z`` stay readable so a caller mapping the rows on (a block's range and null spaces)
    can fold ``Z`` into its own matrix: one product per row chunk instead of two."""

    def __init__(self, basis: Any, variables: Any, label: str, by: str | None,
                 by_numeric: bool, Z: np.ndarray | None) -> None:
        self.basis, self.variables, self.label = basis, variables, label
        self.by, self.by_numeric, self.Z = by, by_numeric, Z

    def raw_rows(self, newdata: pd.DataFrame) -> np.ndarray:
        """``basis(newdata)`` before ``by`` and the constraint (columns checked)."""
        _require_columns(newdata, self.variables, self.label)
        return self.basis(newdata)

    def __call__(self, newdata: pd.DataFrame, level: Any) -> np.ndarray:
        Xn = self.raw_rows(newdata)
        by = self.by
        if by is not None:
            _require_columns(newdata, (by,), self.label)
            if self.by_numeric:
                Xn = Xn * np.asarray(newdata[by], dtype=float)[:, None]
        if self.Z is not None:
            Xn = Xn @ self.Z
        if by is not None and not self.by_numeric:
            Xn = _scale_rows(Xn, np.asarray(newdata[by] == level, dtype=float))
        return Xn


def tensor_predictor(basis: Any, variables: Any, label: str, by: str | None,
                     by_numeric: bool, Z: np.ndarray | None) -> TensorPredictor:
    """The :class:`TensorPredictor` of a tensor smooth."""
    return TensorPredictor(basis, variables, label, by, by_numeric, Z)


def apply_by(data: pd.DataFrame, by: str, label: str, X: np.ndarray, constrain: bool
             ) -> tuple[bool, list, np.ndarray, bool]:
    """mgcv's ``by=`` for a tensor term (te, ti, t2): a factor gives one smooth per level
    (ordered factors drop the first level; the constraint is kept); a numeric variable
    multiplies the rows and, unless it is constant, removes the constraint.

    Returns ``(by_numeric, levels, X, constrain)``.
    """
    _require_columns(data, (by,), label)
    byv = data[by]
    if is_factor(byv):
        if byv.isna().any():
            raise ValueError(f"{label}: by variable {by!r} has missing values")
        levels = factor_levels(byv)
        if is_ordered(byv) and len(levels) > 1:
            levels = levels[1:]
        return False, levels, X, constrain
    w = np.asarray(byv, dtype=float)
    if np.isnan(w).any():
        raise ValueError(f"{label}: by variable {by!r} contains NaN")
    if np.std(w, ddof=1) > np.mean(w) * np.finfo(float).eps * 1000:
        constrain = False
    return True, [None], X * w[:, None], constrain


def row_kronecker(mats: list[np.ndarray]) -> np.ndarray:
    """Row-wise Kronecker product, the first matrix's column index varying slowest.

    Examples
    --------
    >>> row_kronecker([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0, 5.0]])])
    array([[ 3.,  4.,  5.,  6.,  8., 10.]])
    """
    out = np.asarray(mats[0], dtype=float)
    for M in mats[1:]:
        M = np.asarray(M, dtype=float)
        out = (out[:, :, None] * M[:, None, :]).reshape(out.shape[0], -1)
    return out


def tensor_penalties(S: list[np.ndarray]) -> list[np.ndarray]:
    """``S_j = I (x) ... (x) S[j] (x) ... (x) I`` for each margin j (mgcv's order).

    Examples
    --------
    >>> [P.shape for P in tensor_penalties([np.eye(2), np.eye(3)])]
    [(6, 6), (6, 6)]
    """
    if len(S) == 1:
        return [np.asarray(S[0], dtype=float)]
    out = []
    for j in range(len(S)):
        M = np.ones((1, 1))
        for i, Si in enumerate(S):
            M = np.kron(M, Si if i == j else np.eye(Si.shape[0]))
        out.append(0.5 * (M + M.T))
    return out


def _dense(X) -> np.ndarray:
    return X.toarray() if sps.issparse(X) else np.asarray(X, dtype=float)


@dataclass(frozen=True)
class TensorSums:
    """The summaries of a tensor smooth's set-up that need every row of the data, when the
    smooth is built on a subset of them (out-of-core fits, :mod:`spatialgamm.chunked`).

    Attributes
    ----------
    margin_colsums : list of ndarray, optional
        ``ti``: each margin's unconstrained basis column sums (its centring constraint).
    colsum : ndarray, optional
        The tensor basis's column sums (``te``'s centring constraint).
    xinf : float, optional
        The tensor basis's largest absolute row sum (the penalties' scaling).
    """

    margin_colsums: list | None = None
    colsum: np.ndarray | None = None
    xinf: float | None = None


@dataclass
class _Margin:
    """One fitted margin: its basis object and how to rebuild its rows."""

    basis: SmoothBasis
    state: dict
    Z: np.ndarray | None  # ti: the margin's own centring constraint
    XP: np.ndarray | None  # np=TRUE re-parameterisation (function values at points)

    def rows(self, data: pd.DataFrame) -> np.ndarray:
        X = _dense(self.basis._predict_raw(self.state, data))
        if self.Z is not None:
            X = X @ self.Z
        if self.XP is not None:
            X = X @ self.XP
        return X


@dataclass(frozen=True, eq=False)
class MultiSmoothSpec:
    """A constructed smooth with several penalties (tensor products, ``fs``, ``select``).

    Attributes
    ----------
    label : str
        mgcv's label, e.g. ``"te(x,z)"``, ``"ti(x,z,t)"``, ``"te(x,z):fac2"``.
    bs : str
        ``"te"``, ``"ti"``, ``"fs"``...
    variables : tuple of str
    X : ndarray, shape (n, p)
        Basis after constraints.
    S : list of ndarray (p x p)
        Penalties on mgcv's scale (each smoothing parameter multiplies one).
    S_scale : list of float
    null_dim : int
        Dimension of the joint null space of the penalties (unpenalised directions).
    sp_labels : list of str
        Names of the smoothing parameters (mgcv's ``te(x,z)1``, ``te(x,z)2``).
    fit_basis : tuple or None
        ``(U_range, U_null, shift)``: the basis mgcv fits the term in, when it is not the
        reported one (t2: :func:`~.t2.fitting_basis`); None otherwise.
    ml_exact : bool
        False when the block cannot be built in mgcv's fitting basis, so its ML would not
        be mgcv's.
    """

    label: str
    bs: str
    variables: tuple[str, ...]
    X: np.ndarray
    S: list[np.ndarray]
    S_scale: list[float]
    null_dim: int
    sp_labels: list[str]
    predictor: Any = field(default=None, repr=False)
    by: str | None = None
    by_level: Any = None
    fit_basis: Any = field(default=None, repr=False)
    ml_exact: bool = True
    #: the TensorSmooth that built it (rebuilt from whole-data sums out of core)
    tensor: Any = field(default=None, repr=False)

    @property
    def n_coef(self) -> int:
        return int(self.X.shape[1])

    def predict_matrix(self, newdata: pd.DataFrame) -> np.ndarray:
        """Basis rows for new data, rebuilt from the stored margins, constraint and ``by``."""
        return self.predictor(newdata, self.by_level)


def _as_list(v: Any, n: int, name: str, where: str) -> list:
    """mgcv's recycling of per-margin arguments (``k=5``, ``bs=c('gp','cr')``)."""
    if v is None:
        return [None] * n
    if isinstance(v, (str, int, float)) or np.isscalar(v):
        return [v] * n
    vals = list(v)
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ValueError(f"{where}: {name}= has {len(vals)} entries for {n} margins")
    return vals


class TensorSmooth:
    """``te(...)`` / ``ti(...)``: a tensor product of marginal smooths.

    Parameters
    ----------
    margins : list of SmoothBasis
        One basis per margin (each may have several covariates).
    inter : bool
        ``ti``: margins constrained before the product, no constraint on the whole.
    by : str, optional
        Numeric or factor column (as for ``s``).
    np_reparam : bool
        mgcv's ``np=TRUE``: one-covariate margins re-parameterised to function values.
    """

    def __init__(self, margins: list[SmoothBasis], inter: bool = False, by: str | None = None,
                 np_reparam: bool = True) -> None:
        self.margins = margins
        self.inter = inter
        self.by = by
        self.np_reparam = np_reparam
        self.variables = tuple(v for m in margins for v in m.variables)
        if len(set(self.variables)) != len(self.variables):
            raise ValueError(f"{self.label}: a covariate appears in more than one margin")

    @classmethod
    def from_call(cls, variables: tuple[str, ...], bs: Any = None, k: Any = None,
                  m: Any = None, d: Any = None, by: str | None = None, inter: bool = False,
                  np: bool = True, **kw: Any) -> TensorSmooth:
        """Margins from mgcv's ``te(..., bs=, k=, m=, d=)`` arguments.

        ``d`` groups consecutive covariates into margins (default: one covariate each);
        ``bs`` (default ``'cr'``), ``k`` (default ``5^d_j``) and ``m`` are recycled over the
        margins. ``m`` may be a list with one entry per margin (e.g. a gp margin's
        ``(type, rho)``).
        """
        from . import make_basis

        variables = tuple(variables)
        func = "ti" if inter else "te"
        where = f"{func}({','.join(variables)})"
        if not variables:
            raise ValueError(f"{func}(): give at least one covariate")
        if d is None:
            dims = [1] * len(variables)
        else:
            dims = [d] if np_is_scalar(d) else list(d)
            if any(int(v) != v or v < 1 for v in dims):
                raise ValueError(f"{where}: d= must be positive integers, got d={d!r}")
            dims = [int(v) for v in dims]
            if sum(dims) != len(variables):
                raise ValueError(f"{where}: d={tuple(dims)} covers {sum(dims)} covariates but "
                                 f"the term has {len(variables)}")
        nm = len(dims)
        bss = _as_list("cr" if bs is None else bs, nm, "bs", where)
        ks = _as_list(k, nm, "k", where)
        if m is not None and not np_is_scalar(m) and len(m) == nm and any(
                not np_is_scalar(v) for v in m):
            ms = list(m)  # one entry per margin (tuples for gp margins)
        else:
            ms = _as_list(m, nm, "m", where)
        margins = []
        pos = 0
        for j, dj in enumerate(dims):
            vars_j = variables[pos:pos + dj]
            pos += dj
            kj = ks[j]
            if kj is None or (isinstance(kj, float) and np.isnan(kj)) or kj < 0:
                kj = 5 ** dj
            bj = str(bss[j]).lower()
            if bj in ("ts", "cs", "fs"):
                raise ValueError(f"{where}: bs={bj!r} cannot be a tensor margin")
            extra = dict(kw) if bj in ("tp", "gp") else {}
            margins.append(make_basis(bj, vars_j, k=int(kj), m=ms[j], **extra))
        return cls(margins, inter=inter, by=by, np_reparam=bool(np))

    @property
    def label(self) -> str:
        return ("ti(" if self.inter else "te(") + ",".join(self.variables) + ")"

    # ---- construction ---------------------------------------------------------------
    def _margins(self, data: pd.DataFrame, margin_colsums: list | None = None
                 ) -> tuple[list[_Margin], list[np.ndarray], list[np.ndarray], list[int], bool]:
        fitted, Xs, Ss, nulls = [], [], [], []
        constrain_whole = not self.inter
        for j, mb in enumerate(self.margins):
            if self.inter:
                spec = mb.construct(data)  # centred and scaled, as mgcv's smoothCon
                X, S, Z, state = _dense(spec.X), np.asarray(spec.S), spec.Z, spec.state
                null = spec.null_dim
                if margin_colsums is not None and Z is not None:
                    # the constraint of every row (the penalty's scale is divided out below)
                    raw = mb.construct_raw(data)
                    Z = centring_null_space(np.reshape(margin_colsums[j], (1, -1)))
                    X, S = _dense(raw.X) @ Z, Z.T @ np.asarray(raw.S) @ Z
            else:
                raw = mb.construct_raw(data)
                X, S, Z, state = _dense(raw.X), np.asarray(raw.S), None, raw.state
                null = raw.null_dim
                if mb.bs == "re":
                    constrain_whole = False  # an unconstrained margin: mgcv's C <- 0 x 0
            mg = _Margin(mb, state, Z, None)
            if self.np_reparam and len(mb.variables) == 1 and mb.bs not in _NO_INTERP:
                XP = self._interp_reparam(mg, data, X.shape[1])
                if XP is not None:
                    X = X @ XP
                    S = XP.T @ S @ XP
                    mg.XP = XP
            S = 0.5 * (S + S.T)
            top = float(np.linalg.eigvalsh(S)[-1]) if S.size else 0.0
            if top > 0:
                S = S / top
            fitted.append(mg)
            Xs.append(X)
            Ss.append(S)
            nulls.append(null)
        return fitted, Xs, Ss, nulls, constrain_whole

    def _interp_reparam(self, mg: _Margin, data: pd.DataFrame, npar: int) -> np.ndarray | None:
        v = mg.basis.variables[0]
        x = data[v]
        if is_factor(x):
            pts = pd.unique(x)
        else:
            xv = np.asarray(x, dtype=float)
            pts = np.linspace(xv.min(), xv.max(), npar)
        P = mg.rows(pd.DataFrame({v: pts}))
        if P.shape[0] != P.shape[1]:
            return None
        U, d, Vt = np.linalg.svd(P)
        if d[-1] / d[0] < np.finfo(float).eps ** 0.66:
            warnings.warn(f"{self.label}: re-parameterisation unstable for margin "
                          f"{mg.basis.label}: not done", UserWarning, stacklevel=4)
            return None
        return Vt.T @ (U.T / d[:, None])

    def basis_rows(self, data: pd.DataFrame, margin_colsums: list | None = None) -> Any:
        """``rows(newdata)``: the tensor basis (before ``by`` and the whole's constraint) of
        the margins set up on ``data`` (``ti``: constrained by ``margin_colsums``), for
        summing it over data not in memory (:class:`TensorSums`)."""
        margins = self._margins(data, margin_colsums)[0]
        return functools.partial(_tensor_rows, margins)

    def margin_raw_rows(self, data: pd.DataFrame) -> Any:
        """``rows(newdata)``: the margins' unconstrained bases side by side (``ti``'s
        constraints are their column sums), with the margins set up on ``data``."""
        states = [(mb, mb.construct_raw(data).state) for mb in self.margins]
        return functools.partial(_raw_rows, states)

    def construct_all(self, data: pd.DataFrame, sums: TensorSums | None = None
                      ) -> list[MultiSmoothSpec]:
        """The tensor smooth (one per level of a factor ``by``); with ``sums``, constraints
        and penalty scaling are those of the data they summarise, not of ``data``."""
        _require_columns(data, self.variables, self.label)
        sums = sums or TensorSums()
        margins, Xs, Ss, nulls, constrain = self._margins(data, sums.margin_colsums)
        X = row_kronecker(Xs)
        S = tensor_penalties(Ss)
        xinf = float(np.abs(X).sum(axis=1).max()) if sums.xinf is None else float(sums.xinf)
        scales = []
        for j in range(len(S)):
            s1 = float(np.abs(S[j]).sum(axis=0).max())
            sc = s1 / xinf ** 2 if xinf > 0 and s1 > 0 else 1.0
            S[j] = S[j] / sc
            scales.append(sc)
        by_numeric, levels = False, [None]
        if self.by is not None:
            by_numeric, levels, X, constrain = apply_by(data, self.by, self.label, X, constrain)
        C = X if sums.colsum is None else np.reshape(sums.colsum, (1, -1))
        Z = centring_null_space(C) if constrain else None
        null_dim = int(np.prod(nulls)) if all(n > 0 for n in nulls) else 0
        if Z is not None:
            X = X @ Z
            S = [0.5 * (Z.T @ Sj @ Z + (Z.T @ Sj @ Z).T) for Sj in S]
            null_dim = max(0, null_dim - 1)
        base, by = self.label, self.by
        predictor = tensor_predictor(
            functools.partial(_tensor_rows, margins),
            self.variables, base, by, by_numeric, Z)

        out = []
        for lev in levels:
            if lev is None:
                Xl = X
                label = base if by is None else f"{base}:{by}"
            else:
                Xl = _scale_rows(X, np.asarray(data[by] == lev, dtype=float))
                label = f"{base}:{by}{lev}"
            out.append(MultiSmoothSpec(
                label=label, bs="ti" if self.inter else "te", variables=self.variables,
                X=Xl, S=[Sj.copy() for Sj in S], S_scale=scales, null_dim=null_dim,
                sp_labels=[f"{label}{j + 1}" for j in range(len(S))] if len(S) > 1
                else [label], predictor=predictor, by=by, by_level=lev, tensor=self))
        return out

    def copy_with_by(self, by: str | None) -> TensorSmooth:
        c = copy.copy(self)
        c.by = by
        return c


def _tensor_rows(margins: list[_Margin], newdata: pd.DataFrame) -> np.ndarray:
    return row_kronecker([mg.rows(newdata) for mg in margins])


def _raw_rows(states: list, newdata: pd.DataFrame) -> np.ndarray:
    return np.hstack([_dense(mb._predict_raw(st, newdata)) for mb, st in states])


def np_is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float)) or np.isscalar(v)
