"""The posterior of ``(beta, u)`` for large sparse fits, kept as a selected inverse.

:class:`SparsePosterior` holds the entries of ``A^-1`` on the pattern of the latent factor
(Takahashi recursions, :mod:`.selinv`) plus a rank-p correction for the fixed effects. A
projector row touches three nodes of one triangle, whose covariances all lie on that pattern,
so the variance of any prediction ``x'beta + a'u`` is exact and costs O(1) per point: no
dense ``n x q`` or ``(p + q)^2`` matrix. Fits that carry one (``FitState.sparse_posterior``)
use it for every standard error (:mod:`spatialgamm.results.predict`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp


class SparsePosterior:
    """Posterior covariance of ``(beta, u)`` from a selected inverse.

    With ``H = [[X'WX, B'], [B, A]]``, ``C = A^-1 B`` and ``X'VX = R'R``:
    ``Cov(beta) = s (R'R)^-1``, ``Cov(u) = s (A^-1 + C (R'R)^-1 C')`` and
    ``Var(x'beta + z'u) = s (z'A^-1 z + (x - C'z)' (R'R)^-1 (x - C'z))``.

    Parameters
    ----------
    sel : csc_matrix (q, q)
        ``A^-1`` on the pattern of its Cholesky factor (symmetric, both triangles).
    C : ndarray (q, p)
    R : ndarray (p, p)
        Upper Cholesky factor of ``X'VX``.
    scale : float
        Residual variance (Gaussian) or 1.
    """

    def __init__(self, sel: sp.csc_matrix, C: np.ndarray, R: np.ndarray, scale: float):
        self.sel = sp.csc_matrix(sel)
        self.sel.sort_indices()
        self.C, self.R, self.scale = np.asarray(C), np.asarray(R), float(scale)
        self.q, self.p = self.C.shape
        self._keys = np.repeat(np.arange(self.q), np.diff(self.sel.indptr)).astype(
            np.int64) * self.q + self.sel.indices

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Entries ``A^-1[rows, cols]`` (each must lie on the factor's pattern)."""
        want = cols.astype(np.int64) * self.q + rows
        pos = np.searchsorted(self._keys, want)
        hit = self._keys[np.minimum(pos, len(self._keys) - 1)] == want
        if not hit.all():
            raise RuntimeError("a prediction row couples nodes outside the factor's pattern "
                               "(the row is not a projector row of this mesh)")
        return self.sel.data[pos]

    def latent_quadratic(self, Z: sp.spmatrix) -> np.ndarray:
        """``z_i' A^-1 z_i`` for every row of ``Z`` (sparse rows of a few entries)."""
        Zr = sp.csr_matrix(Z)
        cnt = np.diff(Zr.indptr)
        k2 = cnt * cnt
        owner = np.repeat(np.arange(Zr.shape[0]), k2)
        off = np.arange(k2.sum()) - np.repeat(np.cumsum(k2) - k2, k2)
        ca = Zr.indptr[:-1][owner] + off // np.maximum(cnt[owner], 1)
        cb = Zr.indptr[:-1][owner] + off % np.maximum(cnt[owner], 1)
        vals = Zr.data[ca] * Zr.data[cb] * self.entries(Zr.indices[ca], Zr.indices[cb])
        return np.bincount(owner, weights=vals, minlength=Zr.shape[0])

    def variance(self, X: np.ndarray, Z: Any, population: bool = False) -> np.ndarray:
        """``Var(x'beta + z'u)`` for rows of ``[X, Z]`` (scaled), in chunks.

        ``population`` is accepted for the prediction protocol; spatial fields are part of
        the mean at every level, so the rows of ``Z`` are used as given.
        """
        X = np.asarray(X, dtype=float)
        Z = sp.csr_matrix(Z) if Z is not None and Z.shape[1] else None
        out = np.empty(X.shape[0])
        step = 50_000
        for i in range(0, X.shape[0], step):
            sl = slice(i, min(i + step, X.shape[0]))
            G = X[sl]
            v = np.zeros(G.shape[0])
            if Z is not None:
                Zi = Z[sl]
                v += self.latent_quadratic(Zi)
                G = G - Zi @ self.C
            if self.p:
                T = sla.solve_triangular(self.R, G.T, trans="T", lower=False)
                v += np.sum(T * T, axis=0)
            out[sl] = self.scale * v
        return out

    def latent_variances(self) -> np.ndarray:
        """Posterior variance of every ``u_j`` (node of the field)."""
        d = np.asarray(self.sel.diagonal()).ravel()
        if self.p:
            CR = sla.solve_triangular(self.R, self.C.T, trans="T", lower=False)
            d = d + np.sum(CR * CR, axis=0)
        return self.scale * d

    @property
    def vcov_beta(self) -> np.ndarray:
        Rinv = sla.solve_triangular(self.R, np.eye(self.p), lower=False)
        return self.scale * (Rinv @ Rinv.T)


def field_edf(post: SparsePosterior, Q: sp.spmatrix) -> float:
    """``q - tr(Q Cov(u)/s)``: the field's effective degrees of freedom."""
    coo = Q.tocoo()
    tr = float(np.sum(coo.data * post.entries(coo.row, coo.col)))
    if post.p:
        CR = sla.solve_triangular(post.R, post.C.T, trans="T", lower=False).T
        tr += float(np.sum(CR * (Q @ CR)))
    return post.q - tr


def pls_posterior(r: Any, scale: float) -> SparsePosterior:
    """The posterior of ``(beta, u)`` from a PLS solve (:class:`~.pls.PLSResult`) in
    u-space (``b = Lambda u``): the selected inverse of its factor, ``C = A^-1 Lambda'Z'WX``
    and the Cholesky factor of ``X'VX``; ``scale`` multiplies it (the residual variance of a
    Gaussian model, 1 otherwise)."""
    q, p = r.B.shape
    C = np.asarray(r.factor.solve(r.B)).reshape(q, p) if p else np.zeros((q, 0))
    R = sla.cholesky(r.XtVX, lower=False) if p else np.zeros((0, 0))
    return SparsePosterior(r.factor.selected_inverse(), C, R, scale)
