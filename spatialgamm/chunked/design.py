"""The model's structure set up from passes over the data, and its design rows per partition.

Choice (as mgcv's ``bam`` sets a basis up from a subsample, but exact where the basis
depends on the data only through a few summaries): a first light pass over the partitions
collects, for every numeric column the model uses, the rows holding its minimum and maximum,
one row of every level of every other column, the number of rows and the columns' types.
The model is built (:func:`~spatialgamm.model.build_model`) on these rows plus the first
``sample_rows`` rows: a P-spline's knots, an ``hsgp()`` box and an ``spde()`` start depend
on the data's range only, so they are those of the whole data. A smooth's sum-to-zero
constraint (mgcv's ``1'X``) and its penalty scaling (``||X||_inf``) need every row: a second
pass sums the unconstrained basis over the data, and the smooth is rebuilt with them.
Tensor products as in memory (:mod:`~spatialgamm.terms.smooths.tensor`): ``te()``'s
constraint and penalty scaling are the tensor basis's column sums and largest absolute row
sum, taken in that pass (with ``B'B``, whose diagonal after the constraint gives the
search's start, mgcv's ``initial.sp``); ``ti()`` constrains each margin first, so that pass
sums the margins' bases and a second one the constrained tensor basis's row sums.
Bases whose knots are data quantiles or data points (``cr``, ``tp``) take their knots from
the setup rows, as ``bam`` does from its subsample; they then differ from the in-memory fit's.
"""

from __future__ import annotations

import functools
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from ..formula.evaluate import add_expression_columns
from ..model import (
    ModelSpec,
    _complete_rows,
    _formula_columns,
    _offsets,
    _prior_weights,
    _response,
)
from ..terms.base import Ability
from ..terms.smooth import (
    MULTI_PHI_LOWER,
    PHI_BOUND,
    SmoothTerm,
    _OnePenalty,
    _reparameterise,
    _single_penalty_block,
    initial_sp,
    multi_penalty_block,
)
from ..terms.smooths.base import centring_null_space
from ..terms.smooths.tensor import TensorSums

#: rows of the first partition added to the setup rows (factor-free structure checks, the
#: response's validity for the family)
SAMPLE_ROWS = 500
#: rows of a partition whose bases :func:`smooth_sums` holds at a time
SUM_CHUNK_ROWS = 16384


@dataclass
class Rows:
    """Design rows of part of a partition (complete cases only)."""

    X: np.ndarray
    Z: list  # one design per block (ndarray or sparse csr), system order
    y: np.ndarray
    offset: np.ndarray
    w: np.ndarray

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass
class ModelTemplate:
    """The model built on the setup rows, with smooth constraints from the whole data.

    Picklable: dask's workers receive it with every task and call :meth:`rows`.
    """

    spec: ModelSpec
    blocks: list
    columns: list[str]
    weights: Any
    offset: Any
    na_action: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # names cached rows

    @property
    def p(self) -> int:
        return self.spec.X.shape[1]

    @property
    def q(self) -> int:
        return int(sum(b.q for b in self.blocks))

    def rows(self, df: pd.DataFrame, response: bool = True) -> Rows:
        """The model's rows of ``df``: fixed design (with smooths' null spaces), each
        block's design, response, offset and prior weights (``response=False``: new data
        to predict at, every row kept, no response)."""
        spec = self.spec
        pf = spec.formula
        df = df.reset_index(drop=True)
        if response:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # dropped NA rows: counted on pass 1
                df, _ = _complete_rows(pf, df, self.weights, self.offset, self.na_action)
            y, trials, _ = _response(pf, df, spec.env)
            w = _prior_weights(df, self.weights, trials)
        else:
            y, w = np.zeros(len(df)), np.ones(len(df))
        off = _offsets(pf, df, spec.env, self.offset)
        df = add_expression_columns(df, pf.specials, spec.env)
        cols = [spec.fixed.for_newdata(df)]
        zs = []
        for blk in self.blocks:
            z_new, fixed_new = blk.term.design_for(df, None)
            # the block's storage as built, whatever a chunk's own density (sparse products
            # on a dense te() design cost the statistics pass 40x)
            if sp.issparse(blk.Z):
                zs.append(sp.csr_matrix(z_new))
            else:
                zs.append(z_new.toarray() if sp.issparse(z_new) else np.asarray(z_new))
            if blk.fixed is not None:
                cols.append(fixed_new if fixed_new is not None
                            else np.zeros((len(df), blk.fixed.shape[1])))
        X = np.column_stack(cols) if len(cols) > 1 else cols[0]
        if spec.dropped_columns:
            allnames = list(spec.fixed.names) + [n for b in self.blocks for n in b.fixed_names]
            keep = [i for i, nm in enumerate(allnames) if nm not in spec.dropped_columns]
            X = X[:, keep]
        return Rows(np.asarray(X, dtype=float), zs, np.asarray(y, dtype=float), off, w)


def model_columns(pf: Any, names: Sequence[str], weights: Any, offset: Any) -> list[str]:
    """The data columns a model reads (formula variables, weights and offset columns)."""
    cols = _formula_columns(pf, pd.DataFrame(columns=list(names)))
    for extra in (weights, offset):
        if isinstance(extra, str) and extra in names and extra not in cols:
            cols.append(extra)
    return cols


def setup_rows(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``df`` a model's set-up needs: each numeric column's minimum and maximum,
    one row per level of every other column (complete cases)."""
    d = df[list(columns)]
    d = d.loc[~d.isna().any(axis=1)]
    if len(d) == 0:
        return d
    keep: set[int] = set()
    for c in columns:
        s = d[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            keep.add(int(np.argmin(s.to_numpy())))
            keep.add(int(np.argmax(s.to_numpy())))
        else:
            first = ~s.duplicated()
            keep.update(np.flatnonzero(first.to_numpy()).tolist())
    return d.iloc[sorted(keep)]


def sum_functions(spec: ModelSpec) -> dict[int, Any]:
    """For every smooth whose set-up needs sums over all rows (block index): the function
    of a data frame whose column sums and largest absolute row sum it needs. ``s()``: its
    unconstrained basis; ``te()``: the tensor basis; ``ti()``: its margins' unconstrained
    bases (their constraints; the tensor's row sums need a second pass,
    :func:`ti_sum_functions`)."""
    out: dict[int, Any] = {}
    for k, blk in enumerate(spec.blocks):
        s = _constrainable(blk)
        if s is not None:
            out[k] = functools.partial(_smooth_raw, s)
            continue
        ts = _tensor_of(blk)
        if ts is not None:
            out[k] = (ts.margin_raw_rows(spec.data) if ts.inter
                      else WithCross(ts.basis_rows(spec.data)))
    return out


@dataclass(frozen=True)
class WithCross:
    """A basis function whose cross-product ``B'B`` is summed too (after the column sums,
    flattened): a multi-penalty smooth's starting smoothing parameters need ``diag(X'X)``
    (mgcv's ``initial.sp``), so that the search starts where the in-memory one does."""

    fn: Any

    def __call__(self, df: pd.DataFrame) -> Any:
        return self.fn(df)


def ti_sum_functions(spec: ModelSpec, sums: dict) -> dict[int, Any]:
    """``ti()`` blocks: the tensor basis with its margins constrained by the whole data's
    sums (``sums``: the first pass's), whose largest absolute row sum scales the
    penalties."""
    out = {}
    for k, blk in enumerate(spec.blocks):
        ts = _tensor_of(blk)
        if ts is not None and ts.inter:
            out[k] = WithCross(ts.basis_rows(spec.data, _margin_sums(ts, spec, sums[k][0])))
    return out


def _margin_sums(ts: Any, spec: ModelSpec, colsum: np.ndarray) -> list[np.ndarray]:
    """The first pass's side-by-side margin sums of a ``ti()``, split by margin."""
    sizes = [mb.construct_raw(spec.data).X.shape[1] for mb in ts.margins]
    return np.split(np.asarray(colsum), np.cumsum(sizes)[:-1])


def _smooth_raw(s: Any, df: pd.DataFrame) -> Any:
    return s.basis._predict_raw(s.state, df)


def smooth_sums(fns: dict[int, Any], df: pd.DataFrame, spec: ModelSpec, weights: Any,
                offset: Any, na_action: str) -> dict[int, tuple[np.ndarray, float]]:
    """For every function of :func:`sum_functions` (block index): the column sums of its
    rows of ``df``'s complete rows and their largest absolute row sum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df, _ = _complete_rows(spec.formula, df.reset_index(drop=True), weights, offset,
                               na_action)
    df = add_expression_columns(df, spec.formula.specials, spec.env)
    out: dict[int, tuple[np.ndarray, float]] = {}
    for k, fn in fns.items():
        # a chunk of rows at a time: a tensor basis of a whole row group would not fit
        for start in range(0, max(len(df), 1), SUM_CHUNK_ROWS):
            Xr = fn(df.iloc[start:start + SUM_CHUNK_ROWS])
            Xa = abs(Xr) if sp.issparse(Xr) else np.abs(Xr)
            v = np.asarray(Xr.sum(axis=0)).ravel()
            if isinstance(fn, WithCross):
                v = np.concatenate([v, np.asarray(Xr.T @ Xr).ravel()])
            m = float(np.asarray(Xa.sum(axis=1)).max()) if Xr.shape[0] else 0.0
            out[k] = (v, m) if k not in out else (out[k][0] + v, max(out[k][1], m))
    return out


def _constrainable(blk: Any) -> Any:
    """The SmoothSpec of a block whose constraint this module recomputes (a single-penalty
    smooth, centred, no ``by``), else None."""
    term = blk.term
    if type(term) is not SmoothTerm or blk.q == 0 or _tensor_of(blk) is not None:
        return None
    s = term.spec
    if not s.centred or s.by is not None or s.basis is None:
        return None
    return s


def _tensor_of(blk: Any) -> Any:
    """The TensorSmooth of a ``te()``/``ti()`` block without ``by``, else None."""
    term = blk.term
    if not isinstance(term, SmoothTerm):
        return None
    ts = getattr(term.spec, "tensor", None)
    return ts if ts is not None and ts.by is None else None


def refuse_unsupported(blocks: list) -> None:
    """Smooths whose set-up needs the whole data in ways no pass computes yet are refused
    by name (their fits would differ from the in-memory ones without a word).

    Raises
    ------
    NotImplementedError
        A ``t2`` or ``fs`` smooth (their constraint and penalty scaling come from the whole
        basis), a tensor smooth with ``by``, or a smooth by a factor (each level's penalty
        scaling comes from that level's rows).
    """
    for blk in blocks:
        term = blk.term
        if not term.has(Ability.SMOOTH):
            continue
        if getattr(term.spec, "tensor", None) is not None and term.spec.tensor.by is not None:
            raise NotImplementedError(
                f"{blk.name}: a tensor-product smooth with by= is not fitted out of core "
                "(a factor's levels and a numeric by's constraint need the whole data); fit "
                "in memory, or drop by=")
        if _tensor_of(blk) is None and (type(term) is not SmoothTerm
                                        or hasattr(term.spec, "tensor")):
            raise NotImplementedError(
                f"{blk.name}: t2() and multi-penalty smooths (t2, fs) are not fitted out of "
                "core (their constraint and penalty scaling need the whole data's basis); "
                "fit in memory, or use s(), te(), ti(), hsgp() or spde() terms")
        if getattr(term.spec, "by_level", None) is not None:
            raise NotImplementedError(
                f"{blk.name}: a smooth by a factor is not fitted out of core (each level's "
                "penalty scaling needs that level's rows); fit in memory, or use a numeric "
                "by= or one smooth")


def with_data_constraints(spec: ModelSpec, sums: dict[int, tuple[np.ndarray, float]],
                          ti_sums: dict[int, tuple[np.ndarray, float]] | None = None) -> list:
    """The blocks of ``spec`` with each smooth's constraint and penalty scaling taken from
    the whole data's sums (:func:`smooth_sums` of :func:`sum_functions`, and for ``ti()``
    of :func:`ti_sum_functions`), as mgcv's ``smoothCon`` computes them."""
    blocks = list(spec.blocks)
    for k, (colsum, xinf) in sums.items():
        blk = blocks[k]
        ts = _tensor_of(blk)
        if ts is None:
            blocks[k] = _smooth_block(spec, blk, colsum, xinf)
            continue
        if ts.inter:
            tensor = (ti_sums or {})[k]
            tsums = TensorSums(margin_colsums=_margin_sums(ts, spec, colsum), xinf=tensor[1])
        else:
            tensor = (colsum, xinf)
            tsums = TensorSums(colsum=_split_cross(colsum)[0], xinf=xinf)
        blocks[k] = _tensor_block(ts, spec, blk, tsums, *_split_cross(tensor[0]))
    return blocks


def _split_cross(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A :class:`WithCross` function's sums: column sums ``c`` (p) and ``B'B`` (p x p)."""
    p = int(round((np.sqrt(1 + 4 * len(v)) - 1) / 2))
    return v[:p], v[p:].reshape(p, p)


def _tensor_block(ts: Any, spec: ModelSpec, blk: Any, tsums: TensorSums, colsum: np.ndarray,
                  BB: np.ndarray) -> Any:
    """A ``te()``/``ti()`` block rebuilt from the whole data's sums, its search starting
    where the in-memory one does (``diag(X'X)`` from ``B'B``)."""
    s_new = ts.construct_all(spec.data, tsums)[0]
    if len(s_new.S) == 1:
        new = _single_penalty_block(_OnePenalty(s_new))
    else:
        new = multi_penalty_block(s_new, spec.n)
        Z = np.eye(len(colsum)) if s_new.X.shape[1] == len(colsum) else \
            centring_null_space(colsum.reshape(1, -1))
        xx = np.einsum("ij,ik,kj->j", Z, BB, Z)
        start = -0.5 * np.log(initial_sp(None, s_new.S, xx=xx))
        new = replace(new, phi_start=np.clip(start, -MULTI_PHI_LOWER + 1, PHI_BOUND - 1))
    if new.q != blk.q or new.fixed_names != blk.fixed_names:
        raise DataError(f"{blk.name}: the penalties' rank changed with the whole data's "
                        "constraint; fit it in memory")
    return new


def _smooth_block(spec: ModelSpec, blk: Any, colsum: np.ndarray, xinf: float) -> Any:
    """An ``s()`` block rebuilt with the whole data's constraint and penalty scaling."""
    s = blk.term.spec
    raw = s.basis.construct_raw(spec.data)
    s1 = float(np.abs(raw.S).sum(axis=0).max()) if raw.S.size else 0.0
    S_scale = 1.0 if (xinf == 0 or s1 == 0) else s1 / xinf ** 2
    Zc = centring_null_space(colsum.reshape(1, -1))
    S = Zc.T @ (raw.S / S_scale) @ Zc
    S = 0.5 * (S + S.T)
    Xs = raw.X @ Zc
    s_new = replace(s, X=Xs, S=S, S_scale=S_scale, Z=Zc)
    Ur, U0 = _reparameterise(s_new)
    if Ur.shape[1] != blk.q:
        raise DataError(f"{s.label}: the penalty's rank changed with the whole data's "
                        "constraint; fit it in memory")
    term = SmoothTerm(s_new, Ur, U0, s_new.label)
    Zb = Xs @ Ur
    return replace(blk, Z=sp.csc_matrix(Zb) if sp.issparse(Zb) else np.asarray(Zb),
                   fixed=np.asarray(Xs @ U0) if U0.shape[1] else None, term=term)
