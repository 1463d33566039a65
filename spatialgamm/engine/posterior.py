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

from .rowpairs import RowPairs


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
    constraint : (ndarray (k, q), ndarray (q, k)), optional
        A constrained field's rows ``F`` (``F u = 0``) and ``A^-1 F'``: the covariances are
        then conditioned on the constraint by kriging, ``Cov - W S^-1 W'`` with
        ``W = Cov [0; F']`` and ``S = F W_u`` (Rue & Held 2005, sec. 2.3.3), ``W`` from
        the blocks above (so the same for any ``R``, e.g. with a fixed-effects prior).
    """

    def __init__(self, sel: sp.csc_matrix, C: np.ndarray, R: np.ndarray, scale: float,
                 constraint: tuple[np.ndarray, np.ndarray] | None = None):
        self.sel = sp.csc_matrix(sel)
        self.sel.sort_indices()
        self.C, self.R, self.scale = np.asarray(C), np.asarray(R), float(scale)
        self.q, self.p = self.C.shape
        self._keys = np.repeat(np.arange(self.q), np.diff(self.sel.indptr)).astype(
            np.int64) * self.q + self.sel.indices
        self.constraint = constraint
        if constraint is not None:
            F, AinvFt = (np.atleast_2d(np.asarray(a, dtype=float)) for a in constraint)
            AinvFt = AinvFt.reshape(self.q, F.shape[0])
            if self.p:
                RtR = (self.R, False)
                self._Wb = -sla.cho_solve(RtR, self.C.T @ F.T)
            else:
                self._Wb = np.zeros((0, F.shape[0]))
            self._Wu = AinvFt - self.C @ self._Wb
            S = F @ self._Wu
            self._S_inv = np.linalg.inv(0.5 * (S + S.T))
            self._F = F

    def constrain(self, beta: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean on the constraint plane from a mean off it: ``x - W S^-1 F u``
        (unchanged without a constraint)."""
        if self.constraint is None:
            return beta, u
        t = self._S_inv @ (self._F @ u)
        return beta - self._Wb @ t, u - self._Wu @ t

    def _krige_rows(self, G: np.ndarray) -> np.ndarray:
        """``diag(G S^-1 G')`` for rows ``G = x'W_b + z'W_u`` (the kriging's variance share)."""
        return np.einsum("ij,jk,ik->i", G, self._S_inv, G)

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
        """``z_i' A^-1 z_i`` for every row of ``Z`` (sparse rows of a few entries).

        Through the node pairs the rows couple (:class:`~.rowpairs.RowPairs`, kept for the
        last few designs: the integration over theta and the maps ask for the same rows at
        every point), so each call is one gather and one sparse product.
        """
        pairs = _pairs_for(sp.csr_matrix(Z))
        if pairs.n_pairs == 0:
            return np.zeros(Z.shape[0])
        return pairs.quadratic(self.entries(pairs.hi, pairs.lo))

    def variance(self, X: np.ndarray, Z: Any, population: bool = False) -> np.ndarray:
        """``Var(x'beta + z'u)`` for rows of ``[X, Z]`` (scaled), in chunks.

        ``population`` is accepted for the prediction protocol; spatial fields are part of
        the mean at every level, so the rows of ``Z`` are used as given.
        """
        X = np.asarray(X, dtype=float)
        Z = sp.csr_matrix(Z) if Z is not None and Z.shape[1] else None
        # the latent part over all rows at once (its pairs are cached per design)
        out = self.latent_quadratic(Z) if Z is not None else np.zeros(X.shape[0])
        step = 50_000
        for i in range(0, X.shape[0], step) if self.p else ():
            sl = slice(i, min(i + step, X.shape[0]))
            G = X[sl]
            if Z is not None:
                G = G - Z[sl] @ self.C
            T = sla.solve_triangular(self.R, G.T, trans="T", lower=False)
            out[sl] += np.sum(T * T, axis=0)
        if self.constraint is not None:
            G = X @ self._Wb if self.p else np.zeros((X.shape[0], self._F.shape[0]))
            if Z is not None:
                G = G + np.asarray(Z @ self._Wu)
            out -= self._krige_rows(G)
        return self.scale * out

    def latent_variances(self) -> np.ndarray:
        """Posterior variance of every ``u_j`` (node of the field)."""
        d = np.asarray(self.sel.diagonal()).ravel()
        if self.p:
            CR = sla.solve_triangular(self.R, self.C.T, trans="T", lower=False)
            d = d + np.sum(CR * CR, axis=0)
        if self.constraint is not None:
            d = d - self._krige_rows(self._Wu)
        return self.scale * d

    @property
    def vcov_beta(self) -> np.ndarray:
        Rinv = sla.solve_triangular(self.R, np.eye(self.p), lower=False)
        V = Rinv @ Rinv.T
        if self.constraint is not None and self.p:
            V = V - self._Wb @ self._S_inv @ self._Wb.T
        return self.scale * V


_PAIRS: list[tuple[tuple[np.ndarray, ...], RowPairs]] = []


def _pairs_for(Z: sp.csr_matrix) -> RowPairs:
    """The :class:`RowPairs` of ``Z``, reused while the same design comes back (compared by
    value: a cheap pass over its arrays, against the sort that building them costs)."""
    Z.sort_indices()
    arrays = (Z.indptr, Z.indices, Z.data)
    for i, (key, pairs) in enumerate(_PAIRS):
        if pairs.q == Z.shape[1] and all(len(a) == len(b) and np.array_equal(a, b)
                                         for a, b in zip(key, arrays, strict=True)):
            if i:
                _PAIRS.insert(0, _PAIRS.pop(i))
            return pairs
    pairs = RowPairs(Z)
    _PAIRS.insert(0, (tuple(a.copy() for a in arrays), pairs))
    del _PAIRS[3:]
    return pairs


def field_edf(post: SparsePosterior, Q: sp.spmatrix) -> float:
    """``q - tr(Q Cov(u)/s)``: the field's effective degrees of freedom."""
    coo = Q.tocoo()
    tr = float(np.sum(coo.data * post.entries(coo.row, coo.col)))
    if post.p:
        CR = sla.solve_triangular(post.R, post.C.T, trans="T", lower=False).T
        tr += float(np.sum(CR * (Q @ CR)))
    if post.constraint is not None:
        tr -= float(np.sum(post._S_inv * (post._Wu.T @ (Q @ post._Wu))))
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
