"""Selected inversion: the entries of Q^-1 on the sparsity pattern of its Cholesky factor.

With ``P Q P' = L L'`` the covariance ``S = Q^-1`` satisfies ``S L = L^-T`` in the permuted
order (Takahashi, Fagan & Chen 1973; Rue & Held 2005, section 2.3; Rue & Martino 2007).
Because ``L^-T`` is upper triangular with diagonal ``1 / L_jj``, for each column j with
below-diagonal structure J:

    S[J, j] = -S[J, J] L[J, j] / L_jj
    S[j, j] = 1 / L_jj^2 - L[J, j]' S[J, j] / L_jj

and every S entry these recursions need lies on the pattern of L (its structure is closed
under elimination). Computing from the last column back therefore gives S on that pattern
at about the cost of the factorisation.

The loop runs over *supernodes* (runs of columns sharing one structure), not columns: for a
supernode with diagonal block F and rows R below it, with ``X = L_RF L_FF^-1``,

    S_RF = -S_RR X,        S_FF = L_FF^-T L_FF^-1 + X' S_RR X,

dense BLAS work on small blocks. The only per-entry bookkeeping is gathering ``S_RR`` from
the stored entries, once per supernode.

Back-ends: scikit-sparse's CHOLMOD when importable; otherwise scipy's SuperLU in symmetric
mode (``U = D L'``); otherwise a dense LAPACK Cholesky for n <= 3000. A warning says when
CHOLMOD is missing.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

try:  # the fast path; the package still works without it
    from sksparse.cholmod import cholesky as _cholmod_cholesky

    HAVE_CHOLMOD = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_CHOLMOD = False

#: Largest matrix the dense last-resort fallback will invert.
DENSE_MAX = 3000


def _supernodes(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Start columns of the supernodes of a lower-triangular CSC pattern (plus n at the end).

    Column c+1 continues column c's supernode when c+1 is c's first below-diagonal row and
    c has exactly one more entry (then, for a Cholesky pattern, the structures agree).
    """
    n = len(indptr) - 1
    cnt = np.diff(indptr)
    c = np.arange(n - 1)
    has_sub = cnt[:-1] >= 2
    first_sub = np.where(has_sub, indices[np.minimum(indptr[:-2] + 1, len(indices) - 1)], -1)
    joins = has_sub & (first_sub == c + 1) & (cnt[:-1] == cnt[1:] + 1)
    # confirm equal structures (always true for a Cholesky pattern; cheap to check)
    j = np.nonzero(joins)[0]
    if len(j):
        lens = cnt[j + 1]
        owner = np.repeat(np.arange(len(j)), lens)
        k = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        same = indices[indptr[j][owner] + 1 + k] == indices[indptr[j + 1][owner] + k]
        ok = np.ones(len(j), dtype=bool)
        ok[owner[~same]] = False
        joins[j[~ok]] = False
    starts = np.r_[0, np.nonzero(~joins)[0] + 1]
    return np.r_[starts, n]


class _Supernode:
    """Index maps of one supernode, fixed by the factor's pattern (see :class:`_Plan`)."""

    __slots__ = ("s", "r", "lo", "hi", "fill", "pos", "dst", "dst_t")

    def __init__(self, s, r, lo, hi, fill, pos, dst, dst_t):
        self.s, self.r, self.lo, self.hi = s, r, lo, hi
        self.fill, self.pos, self.dst, self.dst_t = fill, pos, dst, dst_t


class _Plan:
    """Everything the recursions need that depends only on the factor's pattern.

    The engine factors one pattern many times (one symbolic analysis per model), so the
    supernodes, the places of each dense block's entries in ``L.data`` and the positions
    of every gathered ``S_RR`` entry are found once here (the searches were two thirds of
    the recursions' time) and reused for every factor with this pattern.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray):
        n = len(indptr) - 1
        self.n, self.indptr, self.indices = n, indptr.copy(), indices.copy()
        if np.any(indices[indptr[:-1]] != np.arange(n)):
            raise ValueError("L must be lower triangular with a stored diagonal in every column")
        cols = np.repeat(np.arange(n), np.diff(indptr))
        keys = cols.astype(np.int64) * n + indices
        starts = _supernodes(indptr, indices)
        self.nodes: list[_Supernode] = []
        fills: dict[tuple[int, int], np.ndarray] = {}
        # where S_RR's stored lower entries go in the dense r x r block (and its mirror):
        # shared by all supernodes with r rows below; only the gather positions are per
        # supernode, as int32 (4 bytes per gathered entry: ~25 MB at 28,000 nodes)
        dsts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        small = len(keys) < 2**31
        for b in range(len(starts) - 2, -1, -1):
            f, last = int(starts[b]), int(starts[b + 1]) - 1
            s = last - f + 1
            R = indices[indptr[last] + 1: indptr[last + 1]]  # rows below the supernode
            r = len(R)
            fill = fills.get((s, r))
            if fill is None:
                # (row, col) of the (s + r) x s lower trapezoid, column by column as stored
                jj, ii = np.nonzero(np.arange(s)[:, None] <= np.arange(s + r)[None, :])
                fill = fills[(s, r)] = (ii * s + jj).astype(np.int32)
            pos = dst = dst_t = None
            if r:
                a, c = np.tril_indices(r)
                want = R[c].astype(np.int64) * n + R[a]
                pos = np.searchsorted(keys, want)
                if np.any(keys[np.minimum(pos, len(keys) - 1)] != want):
                    raise RuntimeError("the factor's pattern is not closed under elimination")
                if small:
                    pos = pos.astype(np.int32)
                if r not in dsts:
                    dsts[r] = ((a * r + c).astype(np.int32), (c * r + a).astype(np.int32))
                dst, dst_t = dsts[r]
            self.nodes.append(_Supernode(s, r, int(indptr[f]), int(indptr[last + 1]), fill,
                                         pos, dst, dst_t))

    def matches(self, indptr: np.ndarray, indices: np.ndarray) -> bool:
        return (len(indptr) == len(self.indptr) and len(indices) == len(self.indices)
                and np.array_equal(indptr, self.indptr)
                and np.array_equal(indices, self.indices))


_PLANS: list[_Plan] = []  # the last few patterns (a fit uses one or two)


def _plan_for(indptr: np.ndarray, indices: np.ndarray) -> _Plan:
    for i, plan in enumerate(_PLANS):
        if plan.matches(indptr, indices):
            if i:
                _PLANS.insert(0, _PLANS.pop(i))
            return plan
    plan = _Plan(indptr, indices)
    _PLANS.insert(0, plan)
    del _PLANS[4:]
    return plan


def takahashi(L: sp.csc_matrix) -> np.ndarray:
    """Values of ``(L L')^-1`` on the pattern of the lower-triangular factor ``L``.

    Parameters
    ----------
    L : scipy.sparse.csc_matrix
        Lower-triangular Cholesky factor with sorted indices (diagonal first in each column).

    Returns
    -------
    ndarray
        Aligned with ``L.data``: entry k is ``S[L.indices[k], col(k)]``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> L = sp.csc_matrix(np.linalg.cholesky(A))
    >>> np.allclose(takahashi(L), np.linalg.inv(A)[[0, 1, 1], [0, 0, 1]])
    True
    """
    L = sp.csc_matrix(L)
    L.sort_indices()
    plan = _plan_for(L.indptr, L.indices)
    data = L.data
    S = np.zeros(len(data))
    dtrtri = sla.lapack.dtrtri
    for nd in plan.nodes:
        s, r = nd.s, nd.r
        # the dense (s + r) x s block of L for these columns
        blk = np.zeros((s + r) * s)
        blk[nd.fill] = data[nd.lo: nd.hi]
        blk = blk.reshape(s + r, s)
        Linv, info = dtrtri(blk[:s], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Cholesky factor has a zero on its diagonal")
        Sff = Linv.T @ Linv
        if r:
            vals = S[nd.pos]  # S_RR, lower part stored at (column min, row max)
            Srr = np.empty(r * r)
            Srr[nd.dst] = vals
            Srr[nd.dst_t] = vals
            Srr = Srr.reshape(r, r)
            X = blk[s:] @ Linv
            SX = Srr @ X
            Sff += X.T @ SX
            full = np.vstack([Sff, -SX])
        else:
            full = Sff
        S[nd.lo: nd.hi] = full.ravel()[nd.fill]
    return S


class _Mirror:
    """The symmetric matrix of a factor's selected entries in the original order: its
    fixed pattern and where each of its values comes from (found once per pattern)."""

    def __init__(self, L: sp.csc_matrix, perm: np.ndarray):
        n = L.shape[0]
        self.key = (L.indptr.copy(), L.indices.copy(), np.asarray(perm).copy())
        cols = np.repeat(np.arange(n), np.diff(L.indptr))
        rows = L.indices
        r, c = perm[rows], perm[cols]
        off = np.flatnonzero(rows != cols)
        self.off = off
        src = np.arange(len(rows) + len(off), dtype=float)
        out = sp.coo_matrix((src, (np.r_[r, c[off]], np.r_[c, r[off]])), shape=(n, n)).tocsc()
        out.sort_indices()
        self.order = out.data.astype(np.int64)
        self.indices, self.indptr, self.shape = out.indices, out.indptr, out.shape

    def matches(self, L: sp.csc_matrix, perm: np.ndarray) -> bool:
        a, b, p = self.key
        return (len(a) == len(L.indptr) and len(b) == len(L.indices) and len(p) == len(perm)
                and np.array_equal(a, L.indptr) and np.array_equal(b, L.indices)
                and np.array_equal(p, perm))

    def apply(self, S: np.ndarray) -> sp.csc_matrix:
        data = np.concatenate([S, S[self.off]])[self.order]
        # the index arrays are shared between calls: callers may key caches on them
        out = sp.csc_matrix((data, self.indices, self.indptr), shape=self.shape)
        out.has_sorted_indices = True
        return out


_MIRRORS: list[_Mirror] = []


def _to_original(L: sp.csc_matrix, S: np.ndarray, perm: np.ndarray) -> sp.csc_matrix:
    """Symmetric matrix with the selected entries, in the original ordering.

    ``perm[i]`` is the original index of permuted row/column i (``Q[perm][:, perm] = L L'``).
    """
    perm = np.asarray(perm)
    for i, m in enumerate(_MIRRORS):
        if m.matches(L, perm):
            if i:
                _MIRRORS.insert(0, _MIRRORS.pop(i))
            return m.apply(S)
    m = _Mirror(L, perm)
    _MIRRORS.insert(0, m)
    del _MIRRORS[4:]
    return m.apply(S)


def selected_inverse_from_factor(L: sp.spmatrix, perm: np.ndarray | None = None
                                 ) -> sp.csc_matrix:
    """Selected inverse from a ready Cholesky factor ``Q[perm][:, perm] = L L'``.

    Use it when a factor is at hand already (e.g. the engine's CHOLMOD factor).

    Parameters
    ----------
    L : sparse lower-triangular factor (LL' form).
    perm : (n,) ndarray of int, optional
        Fill-reducing permutation (CHOLMOD's ``factor.P()``); identity when None.

    Returns
    -------
    scipy.sparse.csc_matrix
        Symmetric; ``Q^-1`` on the pattern of ``L + L'`` mapped back to the original order.
    """
    L = sp.csc_matrix(L)
    L.sort_indices()
    perm = np.arange(L.shape[0]) if perm is None else np.asarray(perm)
    return _to_original(L, takahashi(L), perm)


def _superlu_factor(Q: sp.csc_matrix):
    """LL' factor and permutation from SuperLU in symmetric mode, or None if it pivoted."""
    lu = spla.splu(Q, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                   options=dict(SymmetricMode=True))
    if not np.array_equal(lu.perm_r, lu.perm_c):
        return None
    d = lu.U.diagonal()
    if np.any(d <= 0):
        raise np.linalg.LinAlgError("Q is not positive definite")
    Lu = sp.csc_matrix(lu.L)
    if abs(lu.U - sp.diags(d) @ Lu.T).max() > 1e-8 * np.abs(d).max():
        return None
    # SuperLU: B[q[i], q[j]] = Q[i, j]; we need perm with B[i, j] = Q[perm[i], perm[j]]
    perm = np.argsort(lu.perm_c)
    return sp.csc_matrix(Lu @ sp.diags(np.sqrt(d))), perm


def _check_square(Q) -> sp.csc_matrix:
    if not sp.issparse(Q):
        Q = sp.csc_matrix(np.asarray(Q, dtype=float))
    Q = sp.csc_matrix(Q, dtype=float)
    if Q.shape[0] != Q.shape[1]:
        raise ValueError(f"Q must be square; got shape {Q.shape}")
    if Q.shape[0] == 0:
        raise ValueError("Q is empty")
    if not np.isfinite(Q.data).all():
        raise ValueError("Q has non-finite entries")
    return Q


def selected_inverse(Q, backend: str | None = None) -> sp.csc_matrix:
    """Entries of ``Q^-1`` on the sparsity pattern of the Cholesky factor of ``Q``.

    That pattern contains the pattern of ``Q`` itself, so the result gives every marginal
    variance and the covariances of neighbouring nodes (all a projector row needs).

    Parameters
    ----------
    Q : sparse or dense symmetric positive-definite matrix
    backend : {"cholmod", "superlu", "dense"}, optional
        Force a back-end; by default CHOLMOD when installed, else SuperLU, else dense.

    Returns
    -------
    scipy.sparse.csc_matrix
        Symmetric, same ordering as ``Q``; entries outside the factor's pattern are absent
        (not zero in the true inverse, just not computed).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> Q = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(5, 5), format="csc")
    >>> S = selected_inverse(Q)
    >>> np.allclose(S.diagonal(), np.diag(np.linalg.inv(Q.toarray())))
    True
    """
    Q = _check_square(Q)
    n = Q.shape[0]
    if backend is None:
        backend = "cholmod" if HAVE_CHOLMOD else "superlu"
        if not HAVE_CHOLMOD:
            warnings.warn("scikit-sparse (CHOLMOD) is not installed: selected inversion uses "
                          "scipy's SuperLU (slower); `pip install 'scikit-sparse<0.5'`",
                          RuntimeWarning, stacklevel=2)
    if backend == "cholmod":
        if not HAVE_CHOLMOD:
            raise ImportError("backend='cholmod' needs scikit-sparse")
        try:  # a simplicial LDL' factor only notices a bad pivot when converted to LL'
            factor = _cholmod_cholesky(Q)
            L, perm = factor.L(), factor.P()
        except Exception as err:  # CholmodNotPositiveDefiniteError and friends
            raise np.linalg.LinAlgError(f"Q is not positive definite: {err}") from err
        return selected_inverse_from_factor(L, perm)
    if backend == "superlu":
        got = _superlu_factor(Q)
        if got is not None:
            return selected_inverse_from_factor(*got)
        backend = "dense"  # SuperLU pivoted off the diagonal: fall through
    if backend != "dense":
        raise ValueError(f"backend must be 'cholmod', 'superlu' or 'dense'; got {backend!r}")
    if n > DENSE_MAX:
        raise RuntimeError(f"Q has {n} rows: too large for the dense fallback (at most "
                           f"{DENSE_MAX}); install scikit-sparse for CHOLMOD")
    perm = sp.csgraph.reverse_cuthill_mckee(sp.csr_matrix(Q), symmetric_mode=True)
    B = Q[perm][:, perm].toarray()
    Ld = sla.cholesky(B, lower=True)
    L = sp.csc_matrix(np.where(np.tril(np.ones_like(Ld, dtype=bool)) & (
        np.abs(Ld) > 0), Ld, 0.0))
    L.eliminate_zeros()
    # dense inverse restricted to the factor's pattern (exact; no closure assumption)
    Sd = sla.cho_solve((Ld, True), np.eye(n))
    cols = np.repeat(np.arange(n), np.diff(L.indptr))
    return _to_original(L, Sd[L.indices, cols], perm)


def marginal_variances(Q, backend: str | None = None) -> np.ndarray:
    """``diag(Q^-1)`` by selected inversion, without forming the inverse.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> Q = sp.diags([2.0, 4.0], format="csc")
    >>> marginal_variances(Q).round(12).tolist()
    [0.5, 0.25]
    """
    return np.asarray(selected_inverse(Q, backend=backend).diagonal())
