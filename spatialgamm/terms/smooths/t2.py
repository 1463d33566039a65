"""mgcv's ``t2(...)`` tensor products (Wood, Scheipl & Faraway 2013), usable as mixed-model
terms: every penalty is the identity on a block of coefficients.

Each margin ``j`` (its unconstrained basis ``X_j`` and one penalty ``S_j`` of rank ``r_j``)
is put in natural parameterisation (mgcv's ``nat.param(type=3)``):

1. ``S_j = V diag(e) V'`` (eigenvalues decreasing); ``X_j <- X_j V E^-1`` with
   ``E = sqrt(e)`` on the penalised directions, so their penalty becomes the identity, and on
   the null-space directions ``E`` chosen so their columns have the average squared norm of
   the penalised ones;
2. a null space of dimension two or more is rotated to the eigenvectors of its centred
   cross-product (largest variance last);
3. penalised and null-space columns are each scaled to mean square 1.

The margins' penalised (``r``) and null-space (``n``) column blocks are then multiplied out
(row-wise Kronecker products, the earlier margin's index varying slowest): after margin 2
the blocks are ``rr, nr, rn, nn``, after margin 3 ``rrr, nrr, rnr, nnr, rrn, ...``. Every
block with an ``r`` is penalised by the identity on its columns (its own smoothing
parameter, named ``t2(x,z)rr`` etc. as mgcv); the all-``n`` block is unpenalised. Then as
mgcv's ``smoothCon`` within ``gam()``: each penalty is scaled by ``||X||_inf^2``, a ``by``
variable applied, and the sum-to-zero (centring) constraint absorbed.

mgcv *fits* a t2 term in another basis than the one it reports (the t2 constructor's
constraint, on the unpenalised columns only; ``gam.setup`` then maps the coefficients to the
centred basis). The ML criterion, unlike REML, GCV and UBRE, depends on that basis (which
directions are integrated out and which are fixed effects), and so do the edf per term: the
block is therefore built in the fitting basis (:func:`fitting_basis`) and reported in the
centred one. A t2 with a ``by`` variable keeps the centred block, and ML is refused for it
(:func:`refuse_ml`).

Eigenvectors come from LAPACK's ``dsyevr`` (scipy's ``driver='evr'``), the routine R's
``eigen`` calls, so the coefficients' signs are mgcv's.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> d = pd.DataFrame({"x": rng.uniform(size=100), "z": rng.uniform(size=100)})
>>> sm = T2Smooth.from_call(("x", "z"), k=(5, 4)).construct_all(d)[0]
>>> sm.label, sm.X.shape, sm.sp_labels
('t2(x,z)', (100, 19), ['t2(x,z)rr', 't2(x,z)nr', 't2(x,z)rn'])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from .base import (
    _require_columns,
    _scale_rows,
    centring_null_space,
)
from .tensor import (
    MultiSmoothSpec,
    TensorSmooth,
    _dense,
    _Margin,
    apply_by,
    row_kronecker,
    tensor_predictor,
)

__all__ = ["T2Smooth", "natural_parameterisation", "t2_model_matrix"]


def _eigen_decreasing(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's ``eigen(A, symmetric=TRUE)``: LAPACK dsyevr, values decreasing."""
    e, V = sla.eigh(0.5 * (A + A.T), driver="evr")
    return e[::-1], V[:, ::-1]


def natural_parameterisation(X: np.ndarray, S: np.ndarray, rank: int
                             ) -> tuple[np.ndarray, np.ndarray]:
    """mgcv's ``nat.param(X, S, rank, type = 3, unit.fnorm = TRUE)``: ``(X P, P)``.

    The first ``rank`` columns of ``X P`` carry an identity penalty, the rest none.

    Examples
    --------
    >>> X = np.random.default_rng(1).normal(size=(30, 4))
    >>> S = np.diag([3.0, 2.0, 0.0, 0.0])
    >>> Xn, P = natural_parameterisation(X, S, 2)
    >>> bool(np.allclose(X @ P, Xn)), [round(float(np.mean(Xn[:, :2] ** 2)), 12)]
    (True, [1.0])
    """
    e, V = _eigen_decreasing(S)
    p = X.shape[1]
    E = np.ones(p)
    E[:rank] = np.sqrt(e[:rank])
    XV = X @ V
    col = np.sum(XV ** 2, axis=0) / E ** 2
    if rank < p:
        E[rank:] = np.sqrt(col[rank:] / np.mean(col[:rank]))
    P = V / E
    Xn = XV / E
    if rank < p - 1:  # a null space of dimension >= 2: rotate to its principal axes
        ind = np.arange(rank, p)
        Xc = Xn[:, ind] - Xn[:, ind].mean(axis=0)
        _, U = _eigen_decreasing(Xc.T @ Xc)
        Xn[:, ind[::-1]], P[:, ind[::-1]] = Xn[:, ind] @ U, P[:, ind] @ U
    for cols in (slice(0, rank), slice(rank, p)):
        if Xn[:, cols].size:
            s = 1.0 / np.sqrt(np.mean(Xn[:, cols] ** 2))
            Xn[:, cols] *= s
            P[:, cols] *= s
    return Xn, P


def t2_model_matrix(Xm: list[np.ndarray], ranks: list[int], full: bool = False
                    ) -> tuple[np.ndarray, list[int], list[str]]:
    """mgcv's ``t2.model.matrix``: the basis, the sizes and labels of its penalised blocks
    (the unpenalised all-null blocks, when there are any, come last).

    With ``full=False`` each margin's null space is one group (label ``n``); with
    ``full=True`` each of its columns is its own (labels ``1``, ``2``, ...), so every
    product of a range space with one null-space column gets its own penalty.
    """
    def nulls(X: np.ndarray, r: int) -> list[tuple[np.ndarray, str]]:
        Zn = X[:, r:]
        if not Zn.shape[1]:
            return []
        if not full:
            return [(Zn, "n")]
        return [(Zn[:, [j]], str(j + 1)) for j in range(Zn.shape[1])]

    blocks = [(Xm[0][:, :ranks[0]], "r"), *nulls(Xm[0], ranks[0])]
    for X, r in zip(Xm[1:], ranks[1:]):
        new = [(row_kronecker([B, X[:, :r]]), lab + "r") for B, lab in blocks]
        for Zn, nl in nulls(X, r):
            new += [(row_kronecker([B, Zn]), lab + nl) for B, lab in blocks]
        blocks = new
    pen = [(B, lab) for B, lab in blocks if "r" in lab]
    unpen = [B for B, lab in blocks if "r" not in lab]
    if full and unpen:  # mgcv keeps the all-null columns as one product, the first
        # margin's index varying slowest (as with full=FALSE)
        unpen = [row_kronecker([X[:, r:] for X, r in zip(Xm, ranks)])]
    X = np.column_stack([B for B, _ in pen] + unpen)
    return X, [B.shape[1] for B, _ in pen], [lab for _, lab in pen]


class T2Smooth:
    """``t2(...)``: margins as for ``te`` (``bs``, ``k``, ``m``, ``d``, ``by``)."""

    def __init__(self, tensor: TensorSmooth, full: bool = False) -> None:
        self.margins = tensor.margins
        self.by = tensor.by
        self.variables = tensor.variables
        self.full = bool(full)

    @classmethod
    def from_call(cls, variables: tuple[str, ...], full: bool = False, ord: Any = None,
                  **kw: Any) -> T2Smooth:
        """Margins from mgcv's ``t2(..., bs=, k=, m=, d=, by=)`` (defaults: ``cr``, ``5^d``).

        ``full=TRUE``: a penalty for each product of range spaces with one null-space
        column (mgcv's strictly invariant version).

        Raises
        ------
        NotImplementedError
            ``ord=`` (mgcv's selection of interaction orders).
        """
        if ord is not None:
            raise NotImplementedError(f"t2({','.join(variables)}): ord= is not supported")
        kw.pop("np", None)  # te's interpolation re-parameterisation: t2 has none
        if not isinstance(full, (bool, np.bool_)):
            raise ValueError(f"t2({','.join(variables)}): full must be TRUE or FALSE, got "
                             f"{full!r}")
        return cls(TensorSmooth.from_call(tuple(variables), np=False, **kw), full=bool(full))

    @property
    def label(self) -> str:
        return "t2(" + ",".join(self.variables) + ")"

    def _margins(self, data: pd.DataFrame) -> tuple[list[_Margin], list[np.ndarray],
                                                     list[int], bool]:
        fitted, Xs, ranks = [], [], []
        constrain = True
        for mb in self.margins:
            raw = mb.construct_raw(data)
            Xn, P = natural_parameterisation(_dense(raw.X), np.asarray(raw.S, dtype=float),
                                             int(raw.rank))
            fitted.append(_Margin(mb, raw.state, None, P))
            Xs.append(Xn)
            ranks.append(int(raw.rank))
            constrain = constrain and mb.bs != "re"  # an re margin: mgcv's C <- 0 x 0
        return fitted, Xs, ranks, constrain

    def construct_all(self, data: pd.DataFrame) -> list[MultiSmoothSpec]:
        """The t2 smooth (one per level of a factor ``by``)."""
        _require_columns(data, self.variables, self.label)
        margins, Xs, ranks, constrain = self._margins(data)
        X, sizes, labels = t2_model_matrix(Xs, ranks, self.full)
        starts = np.r_[0, np.cumsum(sizes)]
        xinf2 = float(np.abs(X).sum(axis=1).max()) ** 2
        S = []
        for j in range(len(sizes)):  # identity on the block, scaled as mgcv's S.scale
            dj = np.zeros(X.shape[1])
            dj[starts[j]:starts[j + 1]] = xinf2
            S.append(np.diag(dj))
        scales = [1.0 / xinf2] * len(S)
        n_pen = int(starts[-1])
        by_numeric, levels = False, [None]
        if self.by is not None:
            by_numeric, levels, X, constrain = apply_by(data, self.by, self.label, X, constrain)
        Z = _constraint(X, n_pen) if constrain else None
        null_dim = X.shape[1] - n_pen
        # mgcv fits in the basis whose constraint touches the unpenalised columns only
        # (:func:`fitting_basis`); without a factor or numeric by it is used here too
        fit_basis = fitting_basis(X, n_pen, Z) if Z is not None and self.by is None else None
        if Z is not None:
            X = X @ Z
            S = [0.5 * (Z.T @ Sj @ Z + (Z.T @ Sj @ Z).T) for Sj in S]
            null_dim -= 1
        predictor = self._predictor(margins, ranks, by_numeric, Z)
        out = []
        for lev in levels:
            Xl, label = X, self.label if self.by is None else f"{self.label}:{self.by}"
            if lev is not None:
                Xl = _scale_rows(X, np.asarray(data[self.by] == lev, dtype=float))
                label = f"{self.label}:{self.by}{lev}"
            out.append(MultiSmoothSpec(
                label=label, bs="t2", variables=self.variables, X=Xl,
                S=[Sj.copy() for Sj in S], S_scale=list(scales), null_dim=null_dim,
                sp_labels=[f"{label}{lab}" for lab in labels], predictor=predictor,
                by=self.by, by_level=lev, fit_basis=fit_basis,
                ml_exact=Z is None or fit_basis is not None))
        return out

    def _predictor(self, margins: list[_Margin], ranks: list[int], by_numeric: bool,
                   Z: np.ndarray | None):
        return tensor_predictor(
            lambda newdata: t2_model_matrix([mg.rows(newdata) for mg in margins], ranks,
                                            self.full)[0],
            self.variables, self.label, self.by, by_numeric, Z)


def _constraint(X: np.ndarray, n_pen: int) -> np.ndarray | None:
    """Null space of the constraint ``gam()`` gives a t2 term: the whole basis sums to zero
    over the data (mgcv's ``Cp``, which ``gam.setup`` uses in place of the t2 constructor's
    constraint on the unpenalised columns alone; checked on the ``lpmatrix``); none when
    every column is penalised."""
    if X.shape[1] == n_pen:
        return None
    return centring_null_space(X)


def fitting_basis(X: np.ndarray, n_pen: int, Z: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The basis mgcv fits a t2 term in, as directions of the reported (centred) one.

    The t2 constructor constrains the unpenalised columns alone (they sum to zero over the
    data); ``gam()`` reports the term in the basis centred as a whole (``Z``, the null space
    of ``1'X``). Both give the same fits, but not the same ML criterion, nor the same edf
    per term: mgcv's are those of the fitting basis. Its penalised columns are the raw ones,
    ``X_p = X Z U_range + 1 m'`` with ``m`` their column means (the constant is in the span
    of the unpenalised columns: ``X_n a = 1``), so ``U_range = Z'[I; -a m']``, and its
    unpenalised columns are ``X_n V`` (``V`` centring them), ``U_null = Z'[0; V]``. The
    intercept absorbs ``m'b``. None when the constant is not in the unpenalised span.

    Returns
    -------
    (U_range, U_null, shift) : ndarrays (K-1, n_pen), (K-1, K-n_pen-1), (n_pen,)
    """
    Xp, Xn = X[:, :n_pen], X[:, n_pen:]
    one = np.ones(X.shape[0])
    a = np.linalg.lstsq(Xn, one, rcond=None)[0]
    if np.max(np.abs(Xn @ a - one)) > 1e-8:
        return None
    m = Xp.mean(axis=0)
    c = np.vstack([np.eye(n_pen), -np.outer(a, m)])
    V = centring_null_space(Xn)
    U_null = Z.T @ np.vstack([np.zeros((n_pen, V.shape[1])), V])
    return Z.T @ c, U_null, m


def refuse_ml(blocks: list) -> None:
    """Raise for ``method='ML'`` with a t2 term whose fitting basis is not mgcv's (a t2 with
    a ``by`` variable and a centring constraint, or rebuilt by ``select=TRUE``): the ML
    criterion, unlike REML, GCV and UBRE, depends on which directions are penalised.

    Raises
    ------
    NotImplementedError
        Naming the t2 term(s).
    """
    t2 = [b.name for b in blocks
          if getattr(getattr(getattr(b, "term", None), "spec", None), "bs", None) == "t2"
          and not getattr(b.term.spec, "ml_exact", True)]
    if t2:
        raise NotImplementedError(
            f"method='ML' with t2() terms {t2} is not supported: with a by variable (or "
            "select=TRUE) mgcv fits t2 in another basis than the one built here, and ML "
            "(unlike REML, GCV and UBRE) depends on it; use method='REML' or te()")
