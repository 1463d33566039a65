"""The pairs of columns that the rows of a sparse design couple, found once per design.

A mesh projector has three non-zeros per row, so ``Z'WZ = sum_i w_i z_i z_i'`` and the
quadratic forms ``z_i' S z_i`` (variances of linear predictors) only ever involve the node
pairs of the triangles that hold data: a few tens of thousands, whatever the number of rows.
:class:`RowPairs` lists those pairs once (rows are grouped by their column pattern, i.e. by
triangle, so the pairs are found per group and not per row) and keeps the products
``z_ia z_ib`` of every row as one sparse ``(pairs x n)`` matrix ``M``. Then

    lower triangle of Z'WZ  = M w                       (one sparse product, 6 n flops)
    z_i' S z_i              = (M' (c * S_pairs))_i      (c = 1 on the diagonal, 2 off it)

with no per-row search and no Python loop. The construction costs a sort of the row
patterns (n log n on n integers), not of the n x 9 row pairs.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class RowPairs:
    """The column pairs ``(a >= b)`` coupled by the rows of ``Z`` and the row products.

    Parameters
    ----------
    Z : sparse (n, q)
        A design with few non-zeros per row (a projector: three).

    Attributes
    ----------
    lo, hi : ndarray of int
        The pairs ``(hi, lo)`` with ``hi >= lo``, sorted by ``(lo, hi)`` (column-major order
        of the lower triangle).
    mult : ndarray
        1 for diagonal pairs, 2 for off-diagonal ones (their share of a quadratic form).
    M : csr_matrix (pairs, n)
        ``M[k, i] = z_i,lo_k * z_i,hi_k``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> Z = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.5, 0.5, 0.0]]))
    >>> rp = RowPairs(Z)
    >>> w = np.array([1.0, 2.0, 3.0])
    >>> bool(np.allclose(rp.lower_to_dense(rp.weighted(w)), (Z.T @ sp.diags(w) @ Z).toarray()))
    True
    >>> S = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 4.0]])
    >>> Zd = Z.toarray()
    >>> bool(np.allclose(rp.quadratic(S[rp.hi, rp.lo]), np.einsum("ij,jk,ik->i", Zd, S, Zd)))
    True
    """

    def __init__(self, Z: sp.spmatrix):
        Zr = sp.csr_matrix(Z)
        Zr.sum_duplicates()
        Zr.sort_indices()
        n, q = Zr.shape
        self.n, self.q = n, q
        cnt = np.diff(Zr.indptr)
        lo_parts, hi_parts, rows_parts, slot_parts, val_parts = [], [], [], [], []
        base = 0
        for m in np.unique(cnt[cnt > 0]):
            rows = np.flatnonzero(cnt == m)
            idx = Zr.indptr[rows][:, None] + np.arange(m)
            cols, vals = Zr.indices[idx], Zr.data[idx]
            # group the rows by their column pattern (a triangle's three nodes)
            if float(q) ** m < 2.0 ** 62:
                key = np.zeros(len(rows), dtype=np.int64)
                for j in range(m):
                    key = key * q + cols[:, j]
                _, first, group = np.unique(key, return_index=True, return_inverse=True)
            else:
                _, first, group = np.unique(cols, axis=0, return_index=True,
                                            return_inverse=True)
            group = group.ravel()
            pat = cols[first]  # (G, m) column pattern of each group
            a, b = np.tril_indices(m)  # a >= b: within a row, indices are sorted
            lo_parts.append(pat[:, b].ravel())
            hi_parts.append(pat[:, a].ravel())
            npair = len(a)
            slot_parts.append(base + group[:, None] * npair + np.arange(npair))
            rows_parts.append(np.broadcast_to(rows[:, None], (len(rows), npair)))
            val_parts.append(vals[:, b] * vals[:, a])
            base += len(first) * npair
        if base == 0:
            self.lo = self.hi = np.zeros(0, dtype=np.int64)
            self.mult = np.zeros(0)
            self.M = sp.csr_matrix((0, n))
            return
        glo, ghi = np.concatenate(lo_parts), np.concatenate(hi_parts)
        # group pairs -> distinct pairs (adjacent triangles share edges and nodes)
        pkey = glo.astype(np.int64) * q + ghi
        ukey, inv = np.unique(pkey, return_inverse=True)
        self.lo, self.hi = ukey // q, ukey % q
        self.mult = np.where(self.lo == self.hi, 1.0, 2.0)
        slot = inv.ravel()[np.concatenate([s.ravel() for s in slot_parts])]
        rows = np.concatenate([r.ravel() for r in rows_parts])
        vals = np.concatenate([v.ravel() for v in val_parts])
        # one entry per (pair, row): a row couples each of its pairs once
        self.M = sp.csr_matrix((vals, (slot, rows)), shape=(len(ukey), n))
        self._Mt = None

    @property
    def n_pairs(self) -> int:
        return len(self.lo)

    @property
    def Mt(self) -> sp.csr_matrix:
        """``M'`` as CSR (row-wise: one pass per quadratic form); built on first use."""
        if self._Mt is None:
            self._Mt = sp.csr_matrix(self.M.T)
        return self._Mt

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """``Z'WZ`` at the pairs (``w`` a vector, or an (n, k) array of weight vectors)."""
        return self.M @ w

    def quadratic(self, s_pairs: np.ndarray) -> np.ndarray:
        """``z_i' S z_i`` for every row from ``S``'s values at the pairs (``S[hi, lo]``)."""
        return self.Mt @ (self.mult * s_pairs)

    def lower_to_dense(self, v: np.ndarray) -> np.ndarray:
        """The symmetric (q, q) matrix with values ``v`` at the pairs (small q: tests)."""
        out = np.zeros((self.q, self.q))
        out[self.hi, self.lo] = v
        out[self.lo, self.hi] = v
        return out

    def positions(self, keys: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Where each pair's ``(hi, lo)`` and ``(lo, hi)`` entries sit in a CSC matrix's data
        whose sorted ``col * q + row`` keys are ``keys`` (both raise when absent)."""
        out = []
        for rows, cols in ((self.hi, self.lo), (self.lo, self.hi)):
            want = cols.astype(np.int64) * q + rows
            pos = np.searchsorted(keys, want)
            if len(keys) == 0 or np.any(keys[np.minimum(pos, len(keys) - 1)] != want):
                raise RuntimeError("a pair of the design falls outside the sparsity pattern")
            out.append(pos)
        return out[0], out[1]
