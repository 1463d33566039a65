"""One pass over the data: a function mapped over partitions on dask's workers, its results
reduced pairwise in a tree (so the client never holds one result per partition).

Each partition is processed in row chunks of ``chunk_rows`` rows, so a worker's memory is
``chunk_rows x (p + q)`` numbers whatever the partition's size. The sufficient statistics
are those of mgcv's ``bam`` (Wood, Goude & Shaw 2015, section 2): the weighted
cross-products ``[Z X z]' W [Z X z]`` (``Z'WZ`` block by block: dense by BLAS for dense
bases, sparse on the projector's pattern for spde() fields), the deviance and the number of
rows; for PIRLS also the step's checks (largest change of the linear predictor).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk as _dsyrk

from .design import ModelTemplate, Rows

#: rows per chunk inside a partition: bounds a worker's memory (chunk x q doubles) and keeps
#: a chunk's design near the cache (50,000 rows took twice the time per row at q = 243)
CHUNK_ROWS = 8192


@dataclass
class Stats:
    """Sums over rows; ``+`` merges two partitions' sums."""

    ZtZ: list  # ZtZ[i][j]: block i' W block j (j >= i), ndarray or sparse
    ZtX: list  # per block
    XtX: np.ndarray
    Zty: list
    Xty: np.ndarray
    yty: float
    n: int
    sum_log_w: float
    dev: float = 0.0  # deviance (or -2 log lik) of the candidate point
    m2ll: float = 0.0
    valid: bool = True
    change: float = 0.0  # max |eta_candidate - eta_current|
    eta_max: float = 0.0  # max |eta_candidate|
    extra: dict = field(default_factory=dict)

    def __add__(self, o: Stats) -> Stats:
        add = (lambda a, b: None if a is None else a + b)
        return Stats([[add(a, b) for a, b in zip(ra, rb)] for ra, rb in zip(self.ZtZ, o.ZtZ)],
                     [a + b for a, b in zip(self.ZtX, o.ZtX)], self.XtX + o.XtX,
                     [a + b for a, b in zip(self.Zty, o.Zty)], self.Xty + o.Xty,
                     self.yty + o.yty, self.n + o.n, self.sum_log_w + o.sum_log_w,
                     self.dev + o.dev, self.m2ll + o.m2ll, self.valid and o.valid,
                     max(self.change, o.change), max(self.eta_max, o.eta_max))


def _cross(a: Any, b: Any) -> Any:
    """``a' b`` for dense or sparse row blocks (dense unless both are sparse)."""
    if sp.issparse(a) and sp.issparse(b):
        return sp.csc_matrix(a.T @ b)
    if sp.issparse(a):
        return np.asarray(a.T @ b)
    if sp.issparse(b):
        return np.asarray((b.T @ a).T)
    return a.T @ b


def _gram(a: Any) -> Any:
    """``a' a``: BLAS syrk for a dense block (half a general product's flops)."""
    if sp.issparse(a):
        return sp.csc_matrix(a.T @ a)
    if a.shape[1] == 0:
        return np.zeros((0, 0))
    # a C-ordered (n, q) array is the Fortran-ordered (q, n) transpose: no copy
    G = _dsyrk(1.0, np.ascontiguousarray(a).T, trans=0, lower=0)
    return np.triu(G) + np.triu(G, 1).T


def _rows_weighted(Z: Any, s: np.ndarray | None) -> Any:
    if s is None:
        return Z
    return sp.csr_matrix(Z.multiply(s[:, None])) if sp.issparse(Z) else Z * s[:, None]


def cross_stats(r: Rows, z: np.ndarray, w: np.ndarray) -> Stats:
    """The weighted cross-products of one chunk's rows (``w`` non-negative).

    The dense blocks, ``X`` and ``z`` are stacked into one ``n x (q_dense + p + 1)`` array
    whose Gram matrix is one BLAS ``syrk`` (the pass is memory-bound: one sweep over the
    rows instead of one per product); sparse blocks (spde() projectors) are crossed with it.
    """
    if np.any(w < 0):
        raise ValueError("working weights must be non-negative")
    sw = None if np.all(w == 1.0) else np.sqrt(w)  # unit weights: no scaled copy
    dense = [k for k, Zk in enumerate(r.Z) if not sp.issparse(Zk)]
    A = np.empty((r.n, sum(r.Z[k].shape[1] for k in dense) + r.X.shape[1] + 1))
    cuts, at = {}, 0
    for k in dense:
        qk = r.Z[k].shape[1]
        A[:, at:at + qk] = r.Z[k]
        cuts[k] = slice(at, at + qk)
        at += qk
    p = r.X.shape[1]
    A[:, at:at + p] = r.X
    A[:, -1] = z
    if sw is not None:
        A *= sw[:, None]
    G = _gram(A)
    ix, iz = slice(at, at + p), A.shape[1] - 1
    sparse = {k: _rows_weighted(Zk, sw) for k, Zk in enumerate(r.Z) if sp.issparse(Zk)}
    SA = {k: np.asarray(Zk.T @ A) for k, Zk in sparse.items()}  # Z_k' [dense X z]
    K = len(r.Z)

    def zz(i: int, j: int) -> Any:
        if j < i:
            return None
        if i in cuts and j in cuts:
            return G[cuts[i], cuts[j]].copy()
        if i in sparse and j in sparse:
            return _gram(sparse[i]) if i == j else _cross(sparse[i], sparse[j])
        return SA[i][:, cuts[j]].copy() if i in sparse else SA[j][:, cuts[i]].T.copy()

    def zrow(k: int, cols: Any) -> np.ndarray:
        return (G[cuts[k], cols] if k in cuts else SA[k][:, cols]).copy()

    return Stats(ZtZ=[[zz(i, j) for j in range(K)] for i in range(K)],
                 ZtX=[zrow(k, ix) for k in range(K)], XtX=G[ix, ix].copy(),
                 Zty=[zrow(k, iz) for k in range(K)], Xty=G[ix, iz].copy(),
                 yty=float(G[iz, iz]), n=r.n, sum_log_w=0.0)


def _zero_like(t: ModelTemplate) -> Stats:
    qs = [b.q for b in t.blocks]
    p = t.p
    sparse = [sp.issparse(b.Z) for b in t.blocks]
    K = len(qs)

    def zz(i: int, j: int) -> Any:
        if j < i:
            return None
        return (sp.csc_matrix((qs[i], qs[j])) if sparse[i] and sparse[j]
                else np.zeros((qs[i], qs[j])))

    return Stats([[zz(i, j) for j in range(K)] for i in range(K)],
                 [np.zeros((q, p)) for q in qs], np.zeros((p, p)), [np.zeros(q) for q in qs],
                 np.zeros(p), 0.0, 0, 0.0)


#: design rows kept between passes, per process (a worker's cache), in bytes: PIRLS makes
#: a pass per iteration, and rebuilding a partition's bases each time costs more than the
#: cross-products; partitions whose rows do not fit are rebuilt (memory stays bounded)
CACHE_BYTES = int(float(os.environ.get("SPATIALGAMM_ROWS_CACHE_MB", "512")) * 2**20)
_cache: OrderedDict = OrderedDict()
_cache_size = [0]
_cache_lock = threading.Lock()


def _nbytes(r: Rows) -> int:
    z = sum(Zk.data.nbytes + Zk.indices.nbytes if sp.issparse(Zk) else Zk.nbytes for Zk in r.Z)
    return int(r.X.nbytes + z + 3 * r.y.nbytes)


def chunks(t: ModelTemplate, part: Any, chunk_rows: int, key: Any = None):
    """The partition's design rows, ``chunk_rows`` rows at a time (``part``: a DataFrame or
    a loader with ``load()``); kept in the process's cache under ``key`` when they fit."""
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
        if hit is not None:
            yield from hit
            return
    df = part.load() if hasattr(part, "load") else part
    kept: list | None = [] if key is not None else None
    size = 0
    for i in range(0, max(len(df), 1), chunk_rows):
        piece = df.iloc[i:i + chunk_rows]
        if not len(piece):
            continue
        r = t.rows(piece)
        if kept is not None:
            size += _nbytes(r)
            kept = kept if size <= CACHE_BYTES // 2 else None
            if kept is not None:
                kept.append(r)
        yield r
    if kept is not None:
        with _cache_lock:
            while _cache and _cache_size[0] + size > CACHE_BYTES:
                _, old = _cache.popitem(last=False)
                _cache_size[0] -= sum(_nbytes(r) for r in old)
            if _cache_size[0] + size <= CACHE_BYTES:
                _cache[key] = kept
                _cache_size[0] += size


def linear_predictor(t: ModelTemplate, r: Rows, state: State, eta_init: np.ndarray | None
                     ) -> np.ndarray:
    """``offset + c0 (eta_init - offset) + X beta + Z b`` of ``state`` on these rows."""
    eta = r.offset + r.X @ state.beta if len(state.beta) else r.offset.copy()
    off = 0
    for Zk in r.Z:
        qk = Zk.shape[1]
        if qk:
            eta = eta + np.asarray(Zk @ state.b[off:off + qk]).ravel()
        off += qk
    if state.c0:
        eta = eta + state.c0 * (eta_init - r.offset)
    return eta


@dataclass(frozen=True)
class State:
    """A linear predictor as coefficients (what a worker needs to rebuild it): ``beta``,
    ``b`` (b-space latent coefficients) and the weight ``c0`` of the family's starting
    values (PIRLS starts there and a halved first step keeps part of them)."""

    beta: np.ndarray
    b: np.ndarray
    c0: float = 0.0


def gaussian_pass(df: Any, key: Any, t: ModelTemplate, chunk_rows: int) -> Stats:
    """Cross-products at the prior weights (``z = y - offset``) and ``sum log w``."""
    out = _zero_like(t)
    for r in chunks(t, df, chunk_rows, None):  # one pass: nothing to cache rows for
        s = cross_stats(r, r.y - r.offset, r.w)
        with np.errstate(divide="ignore"):
            s.sum_log_w = float(np.sum(np.log(r.w)))
        out = out + s
    return out


def pirls_pass(df: Any, key: Any, t: ModelTemplate, chunk_rows: int, family: Any, scale: float,
               current: State, candidate: State, want_cp: bool) -> Stats:
    """At ``candidate``: the deviance, ``-2 log p(y | mu)``, whether every eta is valid, and
    (``want_cp``) the cross-products of the working response and weights there; the largest
    change of eta from ``current`` and the largest ``|eta|``."""
    out = _zero_like(t)
    for r in chunks(t, df, chunk_rows, key):
        need_init = current.c0 or candidate.c0
        eta_init = family.link.linkfun(family.initialize(r.y, r.w)) if need_init else None
        eta_c = linear_predictor(t, r, current, eta_init)
        eta_n = linear_predictor(t, r, candidate, eta_init)
        valid = bool(family.link.valid_eta(eta_n))
        if want_cp and valid:
            z, w = family.working(r.y, eta_n, r.w)
            s = cross_stats(r, z - r.offset, w / scale)
        else:
            s = _zero_like(t)
            s.n = r.n
        if valid:
            mu = family.link.linkinv(eta_n)
            s.dev = float(np.sum(family.dev_resids(r.y, mu, r.w)))
            s.m2ll = -2.0 * float(np.sum(family.loglik_obs(r.y, mu, r.w, scale=scale)))
        s.valid = valid
        s.change = float(np.max(np.abs(eta_n - eta_c)))
        s.eta_max = float(np.max(np.abs(eta_n)))
        out = out + s
    return out


def run_pass(source: Any, columns: Sequence[str], fn: Callable[..., Any], *args: Any,
             fan_in: int = 8) -> Any:
    """``fn(partition, key, *args)`` on every partition on dask's scheduler (a distributed
    ``Client`` when one is active), then ``+`` in a tree of ``fan_in`` at a time."""
    import dask
    token = getattr(args[0], "token", None) if args else None
    # the arguments enter the graph once each, named, and are not traversed: dask would
    # otherwise walk the model template's dataclasses for every task (0.1 s a pass)
    shared = [dask.delayed(a, name=f"chunked-arg-{uuid.uuid4().hex}", traverse=False)
              for a in args]
    tasks = [dask.delayed(fn)(source.delayed(i, columns),
                              None if token is None else (token, i), *shared)
             for i in range(source.n_partitions)]
    while len(tasks) > 1:
        tasks = [dask.delayed(_sum)(*tasks[i:i + fan_in]) for i in range(0, len(tasks), fan_in)]
    return tasks[0].compute()


def _sum(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out
