"""Penalised weighted least squares: the kernel every objective calls.

For weights ``w``, response ``z`` (offset removed), fixed effects ``X`` and the latent system
at ``phi`` it solves

    min_{beta, u}  || W^1/2 (z - X beta - Z Lambda u) ||^2 + u' P u

through the blocked Cholesky factorisation of lme4 (Bates et al. 2015, JSS 67(1), section 3):
``A = Lambda' Z'WZ Lambda + P`` (sparse or dense), then the p x p Schur complement
``X'WX - X'WZ Lambda A^-1 Lambda' Z'WX``. Cross-products are computed once per weight vector
(once per model for Gaussian data, once per IRLS step otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk as _dsyrk
from scipy.linalg.lapack import dlauum as _dlauum
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs

from .linalg import (  # noqa: F401
    BlockFactor,
    NotPositiveDefinite,
    SPDFactor,
    choose_backend,
    make_factor,
)
from .nform import nform_applies, nform_rows, nform_solve
from .plsresult import PLSResult  # noqa: F401  (re-exported: the objectives import it here)
from .rowpairs import RowPairs
from .system import LatentSystem

#: dense systems up to this many columns take dense products with Lambda (below it scipy's
#: per-call overhead exceeds the q^3 flops); larger ones take sparse-dense products
SMALL_DENSE = 64


@dataclass
class CrossProducts:
    """Weighted cross-products of ``[Z, X, z]``."""

    ZtZ: object  # sparse csc (q x q) or dense ndarray
    ZtX: np.ndarray
    XtX: np.ndarray
    Zty: np.ndarray
    Xty: np.ndarray
    yty: float
    blocks: np.ndarray | None = None  # Z'WZ's diagonal blocks (G, k, k), block path only
    rows: tuple | None = None  # (W^1/2 Z, W^1/2 X, W^1/2 z), n-form only


class PLSSolver:
    """PLS for one model structure; the symbolic factorisation is done once here.

    Parameters
    ----------
    system : LatentSystem
    X : ndarray (n, p)
    blocks : bool
        Allow the block-diagonal path (:class:`~.linalg.BlockFactor`) when A has that
        structure (used by the Gaussian objective; PIRLS keeps the dense / sparse paths).
    fixed_pattern : bool, optional
        Store A on one fixed pattern refilled from index maps (:class:`FixedPatternPLS`):
        by default (None) when :meth:`FixedPatternPLS.applies` to the system and A is
        sparse; False forces the general sparse products (to check that they agree).

    The storage chosen is :attr:`storage`: ``"blocks"``, ``"dense"``, ``"diagonal"``,
    ``"fixed-pattern"`` or ``"sparse"``.
    """

    def __init__(self, system: LatentSystem, X: np.ndarray, blocks: bool = True,
                 fixed_pattern: bool | None = None, fixed_weights: bool = False, *,
                 ztz_pattern: sp.spmatrix | None = None):
        self.system = system
        self.X = X
        self.p = X.shape[1]
        q = system.q
        self.q = q
        self.fixed: FixedPatternPLS | None = None
        if ztz_pattern is not None:
            # cross-products given by the caller (summed over partitions of data that is
            # not in memory, spatialgamm.chunked): storage from their pattern, never from Z
            self._init_from_pattern(sp.csc_matrix(ztz_pattern))
            return
        if fixed_weights and nform_applies(system):
            self._setup_dense_design("nform")
            return
        if fixed_weights and crossprod_applies(system):
            self._setup_dense_design("crossprod")
            return
        if fixed_pattern is not False and FixedPatternPLS.applies(system):
            fixed = FixedPatternPLS(X, system.Z, _precision_pattern(system))
            if fixed.backend != "dense" or fixed_pattern:
                self._init_fixed(fixed)
                return
        Zdn = system.Z_dense
        if Zdn is not None and q * q <= 25_000_000:
            # a dense design: its pattern by BLAS (a sparse product on a dense basis of 1e5
            # rows takes a minute)
            nz = (Zdn != 0).astype(float)
            ZtZ_pattern = sp.csc_matrix(nz.T @ nz)
        else:
            ZtZ_pattern = (system.Z.T @ system.Z).tocsc()
        # Z'Z diagonal (each row of Z in one column: site/level indicators): Z'WZ is then a
        # vector and A = (D^1/2 Lambda)'(D^1/2 Lambda) + P is one symmetric rank-k update
        self.ztz_diagonal = q > 0 and ZtZ_pattern.nnz == q and np.all(
            ZtZ_pattern.indices == np.arange(q))
        if q > 0 and system.lambda_pattern.nnz > 0.25 * q * q:
            # a dense covariance factor (full-rank GP): A is dense; sparse products on a
            # dense pattern only cost time (seconds at a few thousand sites)
            self.backend = "dense"
            self.factor = SPDFactor("dense")
        else:
            phi0 = np.where(np.isfinite(system.layout.start), system.layout.start, 1.0)
            # generic values so no structural entry cancels during the symbolic analysis
            lam = system.Lambda(phi0)
            lam.data = np.abs(lam.data) + 1.0
            A0 = (lam.T @ ZtZ_pattern @ lam).tocsc()
            P0, _ = system.precision(phi0)
            A0 = A0 + (P0 if P0 is not None else sp.identity(q, format="csc"))
            A0 = A0 + sp.identity(q, format="csc") * (abs(A0).max() if A0.nnz else 1.0)
            blocks = _block_structure(A0, ZtZ_pattern, system) if q > 0 and blocks else None
            if blocks is not None:
                self.backend = "blocks"
                self.factor = BlockFactor(*blocks)
                self._setup_blocks(*blocks)
            else:
                self.backend = choose_backend(A0) if q > 0 else "dense"
                self.factor = make_factor(A0.toarray() if self.backend == "dense"
                                          else A0.tocsc(), self.backend) if q > 0 else None
        self.dense = self.backend == "dense"
        self._set_lambda_flags()
        # Lambda diagonal (scalar terms, smooths) and every level present on Z'Z's diagonal:
        # A can be refilled elementwise on Z'Z's pattern
        lam_t = system.lambda_pattern
        self.diagonal = (q > 0 and not self.dense and not system.has_precision
                         and lam_t.nnz == q and np.all(lam_t.indices == np.arange(q)))
        if self.diagonal:
            Zp = ZtZ_pattern.tocsc()
            Zp.sort_indices()
            coo = Zp.tocoo()
            self._rows, self._cols = coo.row, coo.col
            diag = np.flatnonzero(coo.row == coo.col)
            self.diagonal = len(diag) == q  # an empty level would leave a hole on the diagonal
            self._diag_pos = diag
            self._Zp = Zp
        nq = system.n * q
        self.storage = ("blocks" if self.backend == "blocks" else "dense" if self.dense
                        else "diagonal" if self.diagonal else "sparse")
        if Zdn is not None:
            self.Zd = Zdn if (Zdn != 0).sum() > 0.3 * nq or self.dense else None
            return
        dense_Z = q > 0 and system.Z.nnz > 0.3 * nq and nq <= 50_000_000  # e.g. GP smooth bases
        self.Zd = system.Z.toarray() if (dense_Z or (self.dense and nq <= 200_000)) else None

    def _init_from_pattern(self, ZtZ_pattern: sp.csc_matrix) -> None:
        """Storage for cross-products summed elsewhere: dense or sparse ``A`` on the pattern
        of ``Lambda' Z'Z Lambda + P`` (no block or elementwise paths: those index Z's rows).
        :meth:`solve` then takes ``cp.ZtZ`` dense when :attr:`dense`, else sparse CSC."""
        system, q = self.system, self.q
        self.ztz_diagonal = self.diagonal = False
        if q > 0 and system.lambda_pattern.nnz > 0.25 * q * q:
            self.backend = "dense"
        elif q > 0:
            phi0 = np.where(np.isfinite(system.layout.start), system.layout.start, 1.0)
            lam = system.Lambda(phi0)
            lam.data = np.abs(lam.data) + 1.0
            A0 = (lam.T @ abs(ZtZ_pattern) @ lam).tocsc()
            P0, _ = system.precision(phi0)
            A0 = A0 + (P0 if P0 is not None else sp.identity(q, format="csc"))
            A0 = A0 + sp.identity(q, format="csc") * (abs(A0).max() if A0.nnz else 1.0)
            self.backend = choose_backend(A0)
        else:
            self.backend = "dense"
        if self.backend == "dense":
            self.factor = SPDFactor("dense") if q > 0 else None
        else:
            self.factor = make_factor(A0.tocsc(), self.backend)
        self.dense = self.backend == "dense"
        self._set_lambda_flags()
        self.storage = "dense" if self.dense else "sparse"
        self.Zd = None

    def _init_fixed(self, fixed: FixedPatternPLS) -> None:
        """The fixed-pattern storage: A = Z'WZ + P refilled on ``fixed``'s pattern, factored
        by ``fixed``'s factor (one symbolic analysis, done there)."""
        self.fixed, self.storage = fixed, "fixed-pattern"
        self.backend, self.factor = fixed.backend, fixed.factor
        self.dense = self.backend == "dense"
        self.ztz_diagonal = self.diagonal = self.lam_diagonal = False
        self.lam_lower = True
        self.Zd = None

    def _set_lambda_flags(self) -> None:
        system, q = self.system, self.q
        self.lam_lower = bool(np.all(system.lam_rows >= system.lam_cols)) if q else True
        lam_p = system.lambda_pattern
        self.lam_diagonal = bool(q > 0 and lam_p.nnz == q
                                 and np.array_equal(lam_p.indices, np.arange(q))
                                 and np.array_equal(lam_p.indptr, np.arange(q + 1)))

    def _setup_dense_design(self, backend: str) -> None:
        """Strategies for fixed weights (Gaussian identity link) on a dense design:
        ``"crossprod"`` (:func:`crossprod_applies`: ``A`` dense, ``Z'WZ`` formed once by BLAS,
        nothing of length n per evaluation) or ``"nform"`` (:mod:`.nform`: q > n, the n x n
        matrix ``V = I + U U'`` instead of ``A``)."""
        self.backend = self.storage = backend
        self.fixed = None  # main's FixedPatternPLS slot (precision designs): not this one
        self.dense = backend == "crossprod"
        self.factor = SPDFactor("dense") if self.dense else None
        self.ztz_diagonal = False
        self.diagonal = False
        self.Zd = self.system.Z_dense
        self._set_lambda_flags()

    def _setup_blocks(self, perm: np.ndarray, k: int) -> None:
        """Index maps of the block path: for every pair of non-zeros in a row of Z, and for
        every stored Lambda value, its place in the (G, k, k) stack of diagonal blocks."""
        sysm = self.system
        where = np.empty_like(perm)
        where[perm] = np.arange(len(perm))
        blk, loc = where // k, where % k
        self._G, self._k = len(perm) // k, k
        Zr = sysm.Z.tocsr()
        Zr.sort_indices()
        counts = np.diff(Zr.indptr)
        rows_l, pos_l, val_l = [], [], []
        for m in np.unique(counts[counts > 0]):
            rows = np.flatnonzero(counts == m)
            idx = Zr.indptr[rows][:, None] + np.arange(m)
            cols, vals = Zr.indices[idx], Zr.data[idx]
            for a in range(m):
                for b in range(m):
                    rows_l.append(rows)
                    pos_l.append(blk[cols[:, a]] * k * k + loc[cols[:, a]] * k + loc[cols[:, b]])
                    val_l.append(vals[:, a] * vals[:, b])
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dtype=dt))
        self._pr_row, self._pr_pos = cat(rows_l, np.int64), cat(pos_l, np.int64)
        self._pr_val = cat(val_l, float)
        r, c = sysm.lam_rows, sysm.lam_cols
        self._lam_pos = blk[r] * k * k + loc[r] * k + loc[c]

    def _lambda_blocks(self, phi: np.ndarray) -> np.ndarray:
        Lb = np.zeros(self._G * self._k * self._k)
        Lb[self._lam_pos] = self.system.lambda_values(phi)
        return Lb.reshape(self._G, self._k, self._k)

    # -- cross products --------------------------------------------------------------
    def cross_products(self, z: np.ndarray, w: np.ndarray) -> CrossProducts:
        X = self.X
        if self.fixed is not None:  # Z'WZ refilled on A's pattern (no sparse product)
            Xw, wz = X * w[:, None], w * z
            ZtZ = self.fixed.weighted_ztz(w)
            return CrossProducts(ZtZ=ZtZ.toarray() if self.dense else ZtZ,
                                 ZtX=np.asarray(self.fixed.Zt @ Xw), XtX=X.T @ Xw,
                                 Zty=np.asarray(self.fixed.Zt @ wz).ravel(), Xty=Xw.T @ z,
                                 yty=float(z @ wz))
        if self.backend == "crossprod":
            return _dense_cross_products(self.Zd, X, z, w)
        if self.backend == "nform":  # the weighted rows themselves; no q x q product
            Xw, wz = X * w[:, None], w * z
            return CrossProducts(ZtZ=None, ZtX=self.Zd.T @ Xw, XtX=X.T @ Xw,
                                 Zty=self.Zd.T @ wz, Xty=Xw.T @ z, yty=float(z @ wz),
                                 rows=nform_rows(self.Zd, X, z, w))
        Z = self.system.Z
        if self.backend == "blocks":
            # Z'WZ block by block from the fixed pairs of non-zeros (no sparse product)
            G, k = self._G, self._k
            Mb = np.bincount(self._pr_pos, weights=w[self._pr_row] * self._pr_val,
                             minlength=G * k * k).reshape(G, k, k)
            ZtZ = self.factor.on_pattern(Mb)
            wz, Xw = w * z, X * w[:, None]
            return CrossProducts(ZtZ=ZtZ, ZtX=np.asarray(Z.T @ Xw), XtX=X.T @ Xw,
                                 Zty=np.asarray(Z.T @ wz).ravel(), Xty=Xw.T @ z,
                                 yty=float(z @ wz), blocks=Mb)
        if self.dense and self.ztz_diagonal:
            Xw = X * w[:, None]
            if self.Zd is not None:  # tiny designs: dense arithmetic has the least overhead
                Zw = self.Zd * w[:, None]
                d = np.einsum("ij,ij->j", self.Zd, Zw)
                return CrossProducts(ZtZ=d, ZtX=Zw.T @ X, XtX=X.T @ Xw, Zty=Zw.T @ z,
                                     Xty=Xw.T @ z, yty=float(z @ (w * z)))
            Zw = Z.multiply(w[:, None]).tocsc()
            d = np.asarray(Z.multiply(Zw).sum(axis=0)).ravel()
            return CrossProducts(ZtZ=d, ZtX=np.asarray(Zw.T @ X), XtX=X.T @ Xw,
                                 Zty=np.asarray(Zw.T @ z).ravel(), Xty=Xw.T @ z,
                                 yty=float(z @ (w * z)))
        if self.Zd is not None:
            Zw = self.Zd * w[:, None]
            Xw = X * w[:, None]
            return CrossProducts(ZtZ=self.Zd.T @ Zw, ZtX=Zw.T @ X, XtX=X.T @ Xw,
                                 Zty=Zw.T @ z, Xty=Xw.T @ z, yty=float(z @ (w * z)))
        Zw = Z.multiply(w[:, None]).tocsc() if Z.shape[1] else Z
        ZtZ = (Z.T @ Zw).tocsc()
        if self.dense:
            ZtZ = ZtZ.toarray()
        Xw = X * w[:, None]
        return CrossProducts(ZtZ=ZtZ, ZtX=np.asarray(Zw.T @ X), XtX=X.T @ Xw,
                             Zty=np.asarray(Zw.T @ z).ravel(), Xty=Xw.T @ z,
                             yty=float(z @ (w * z)))

    def _A_pattern(self, ZtZ) -> sp.csc_matrix:
        if ZtZ.nnz != self._Zp.nnz or not ZtZ.has_sorted_indices:
            # weights of zero can drop entries: put Z'WZ back on the fixed pattern
            ZtZ = (ZtZ + self._Zp * 0.0).tocsc()
            ZtZ.sort_indices()
        return sp.csc_matrix((ZtZ.data.copy(), self._Zp.indices, self._Zp.indptr),
                             shape=self._Zp.shape)

    # -- solve -----------------------------------------------------------------------
    def solve(self, phi: np.ndarray, cp: CrossProducts, beta_fixed: bool = False
              ) -> PLSResult:
        """Solve the PLS problem at ``phi``.

        With ``beta_fixed=True`` the fixed effects are not estimated (``X`` must then have
        been folded into the offset, and ``cp`` built with an empty ``X``).
        """
        sysm = self.system
        if self.backend == "nform":
            r = nform_solve(sysm, phi, cp.rows, 0 if beta_fixed else self.p)
            self.factor = r.factor
            return r
        P, logdet_P = sysm.precision(phi)
        q, p = self.q, (0 if beta_fixed else self.p)
        if q:
            if self.fixed is not None:  # Lambda = I: A = Z'WZ + P on the fixed pattern
                Lam = sysm.Lambda(phi)
                A = self.fixed.refill(cp.ZtZ, P)
            elif self.backend == "blocks":
                # every term on one grouping factor: A = Lambda' Z'WZ Lambda + I is
                # block-diagonal, one small block per level, factored as a batch
                Lb = self._lambda_blocks(phi)
                A = np.matmul(np.matmul(np.swapaxes(Lb, 1, 2), cp.blocks), Lb)
                A[:, np.arange(self._k), np.arange(self._k)] += 1.0
                Lam = sysm.Lambda(phi)
            elif self.dense:
                Lam = sysm.Lambda_dense(phi)
                if cp.ZtZ.ndim == 1:  # diagonal Z'WZ: A - I = (D^1/2 L)'(D^1/2 L)
                    S = Lam * np.sqrt(cp.ZtZ)[:, None]
                    if self.lam_lower:  # triangular: LAPACK lauum, a third of syrk's flops
                        A = _dlauum(S, lower=1)[0]
                    else:
                        A = _dsyrk(1.0, S, trans=1, lower=1)
                elif self.lam_diagonal:  # scalar terms: A - I = D Z'WZ D, D = diag(Lambda)
                    d = sysm.lambda_values(phi)
                    A = cp.ZtZ * d[:, None] * d[None, :]
                elif q <= SMALL_DENSE:  # a few dozen columns: BLAS beats sparse overhead
                    A = Lam.T @ cp.ZtZ @ Lam
                else:  # Lambda block-diagonal and sparse: two sparse-dense products, not q^3
                    Ls = sysm.Lambda(phi)
                    A = np.asarray(Ls.T @ np.asarray(Ls.T @ cp.ZtZ).T)
                A[np.diag_indices(q)] += 1.0 if P is None else 0.0
                if P is not None:
                    A += P.toarray()
            elif self.diagonal and P is None:
                # scalar random effects and smooths: Lambda is diagonal, so A is Z'WZ with
                # rows and columns rescaled, plus I, on Z'WZ's own (fixed) pattern
                Lam = sysm.Lambda(phi)
                d = Lam.diagonal()
                A = self._A_pattern(cp.ZtZ)
                A.data *= d[self._rows] * d[self._cols]
                A.data[self._diag_pos] += 1.0
            else:
                Lam = sysm.Lambda(phi)
                A = (Lam.T @ cp.ZtZ @ Lam).tocsc()
                A = A + (P if P is not None else sp.identity(q, format="csc"))
            self.factor.refactor(A)
            logdet_A = self.factor.logdet()
            if self.backend == "blocks":  # Lambda'[Z'WX, Z'Wz] block by block
                fac = self.factor
                rhs = np.column_stack([cp.ZtX[:, :p], cp.Zty])[fac.perm]
                out = np.matmul(np.swapaxes(Lb, 1, 2), rhs.reshape(self._G, self._k, p + 1))
                out = out.reshape(q, p + 1)[fac.iperm]
                LtZty, B = out[:, p], out[:, :p]
            else:
                LtZty = np.asarray(Lam.T @ cp.Zty).ravel()
                B = np.asarray(Lam.T @ cp.ZtX) if p else np.zeros((q, 0))
        else:
            Lam = np.zeros((0, 0))
            logdet_A, LtZty, B = 0.0, np.zeros(0), np.zeros((0, p))
        if p:
            if q:
                AinvB = self.factor.solve(B)
                AinvZy = self.factor.solve(LtZty)
                XtVX = cp.XtX - B.T @ AinvB
                rhs = cp.Xty - B.T @ AinvZy
            else:
                AinvB = np.zeros((0, p))
                AinvZy = np.zeros(0)
                XtVX, rhs = cp.XtX.copy(), cp.Xty.copy()
            RX, info = _dpotrf(XtVX, lower=0, clean=1)
            if info != 0:
                raise NotPositiveDefinite("the fixed-effects design is rank deficient at "
                                          "these parameters")
            beta = _dpotrs(RX, rhs, lower=0)[0]
            logdet_X = 2.0 * float(np.sum(np.log(np.diag(RX))))
            u = AinvZy - AinvB @ beta if q else np.zeros(0)
        else:
            XtVX = np.zeros((0, 0))
            beta = np.zeros(0)
            logdet_X = 0.0
            u = self.factor.solve(LtZty) if q else np.zeros(0)
        pwrss = cp.yty - float(beta @ cp.Xty) - float(u @ LtZty) if (p or q) else cp.yty
        pwrss = max(pwrss, 0.0)
        return PLSResult(beta=beta, u=np.asarray(u).ravel(), logdet_A=logdet_A,
                         logdet_P=logdet_P, logdet_XtVX=logdet_X, pwrss=pwrss,
                         factor=self.factor, XtVX=XtVX, B=B, Lam=Lam)

    def linear_predictor(self, res: PLSResult, X: np.ndarray | None = None) -> np.ndarray:
        """X beta + Z Lambda u (without offset)."""
        eta = np.zeros(self.system.n)
        if len(res.beta):
            eta += (self.X if X is None else X) @ res.beta
        if self.q:
            eta += self.system.Z_times(res.b())
        return eta


def crossprod_applies(system: LatentSystem) -> bool:
    """Whether the cross-products strategy fits ``system``: every block's design dense by
    nature (a Hilbert-space GP basis, stored as an ndarray, more than 30% non-zero; designs
    never depend on the parameters, Lambda carries them) and no precision blocks. With fixed
    weights (Gaussian identity link) one pass over the data then forms ``Z'WZ``, ``Z'WX``,
    ``X'WX``, ``Z'Wy`` and ``y'Wy``, and every evaluation is O(q^3), independent of n."""
    Zd = system.Z_dense
    if Zd is None or system.q == 0 or system.has_precision:
        return False
    return bool(np.count_nonzero(Zd) > 0.3 * Zd.size)


#: rows per chunk when weights are not all one (bounds the weighted copy of the design)
_CHUNK = 16_384


def _dense_cross_products(Zd: np.ndarray, X: np.ndarray, z: np.ndarray, w: np.ndarray
                          ) -> CrossProducts:
    """``[Z, X, z]' W [Z, X, z]`` for a dense ``Z``: Z'WZ by a symmetric rank-k update
    (BLAS syrk on ``W^1/2 Z``, half of a general product's flops), in row chunks when the
    weights are not all one, so no second n x q copy is made."""
    q = Zd.shape[1]
    unit = bool(np.all(w == 1.0))
    if unit:
        # a C-ordered (n, q) array is the Fortran-ordered (q, n) transpose: no copy
        ZtZ = _dsyrk(1.0, Zd.T, trans=0, lower=0)
    else:
        if np.any(w < 0):
            raise ValueError("weights must be non-negative")
        ZtZ = np.zeros((q, q))
        sw = np.sqrt(w)
        for i in range(0, Zd.shape[0], _CHUNK):
            Zs = Zd[i:i + _CHUNK] * sw[i:i + _CHUNK, None]
            ZtZ = _dsyrk(1.0, Zs.T, c=ZtZ, beta=1.0, trans=0, lower=0, overwrite_c=1)
    ZtZ = np.triu(ZtZ) + np.triu(ZtZ, 1).T
    Xw, wz = X * w[:, None], w * z
    return CrossProducts(ZtZ=ZtZ, ZtX=Zd.T @ Xw, XtX=X.T @ Xw, Zty=Zd.T @ wz, Xty=Xw.T @ z,
                         yty=float(z @ wz))


@dataclass
class LatentSolve:
    """One penalised least-squares solve at fixed weights (one numeric factorisation)."""

    beta: np.ndarray
    u: np.ndarray
    factor: Any  # SPDFactor of A = Z'WZ + Q
    C: np.ndarray  # A^-1 Z'WX (q x p)
    R: np.ndarray  # upper Cholesky factor of X'VX = X'WX - X'WZ C (p x p)
    logdet_A: float
    logdet_XtVX: float


class FixedPatternPLS:
    """The PLS solve's storage strategy for precision-only systems observed through sparse
    rows (a mesh projector: three non-zeros per row).

    ``A = Z'WZ + Q`` lives on one fixed pattern, analysed once per model (one CHOLMOD
    symbolic analysis); each solve refills its values from index maps fixed here (every pair
    of stored entries of a row of ``Z``, and every stored entry of ``Q``), with no sparse
    matrix product, then factors it numerically and takes the p x p Schur complement for
    the fixed effects, as :class:`PLSSolver`. The solves are counted
    (:attr:`n_factorizations`).

    Parameters
    ----------
    X : ndarray (n, p)
    Z : sparse (n, q)
    q_pattern : csc_matrix
        Sparsity pattern of every precision ``Q`` the solves are given.
    """

    def __init__(self, X: np.ndarray, Z: sp.spmatrix, q_pattern: sp.csc_matrix):
        self.X = np.asarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.Zr = sp.csr_matrix(Z)
        self.Zr.sort_indices()
        self.Zt = sp.csr_matrix(self.Zr.T)
        self.q = self.Zr.shape[1]
        self.n_factorizations = 0
        self._pattern(q_pattern)

    def _pattern(self, q_pattern: sp.csc_matrix) -> None:
        """The pattern of ``A`` and the index maps that refill it."""
        q = self.q
        # the node pairs the rows couple, once per design: Z'WZ = M w on those pairs
        self.pairs = RowPairs(self.Zr)
        hi, lo = self.pairs.hi, self.pairs.lo
        ztz = sp.csc_matrix((np.ones(2 * len(hi)), (np.r_[hi, lo], np.r_[lo, hi])),
                            shape=(q, q))
        pat = sp.csc_matrix(abs(ztz) + abs(q_pattern) + sp.identity(q, format="csc"))
        pat.sort_indices()
        pat.data[:] = 1.0
        self._A_pattern = pat
        self._keys = np.repeat(np.arange(q), np.diff(pat.indptr)).astype(np.int64) * q \
            + pat.indices
        self._pair_lower, self._pair_upper = self.pairs.positions(self._keys, q)
        qp = sp.csc_matrix(q_pattern)
        qp.sort_indices()
        self._q_indptr, self._q_indices = qp.indptr.copy(), qp.indices.copy()
        qcols = np.repeat(np.arange(q), np.diff(qp.indptr)).astype(np.int64)
        self._q_pos = self._locate(qcols * q + qp.indices)
        self._q_cols = qcols
        self.backend = choose_backend(pat)
        self.factor = make_factor(pat if self.backend != "dense" else pat.toarray(),
                                  self.backend, numeric=False)

    @staticmethod
    def applies(system: LatentSystem, max_row: int = 16) -> bool:
        """Whether a system suits this storage: every block a precision block given as a
        pencil (``Lambda = I`` and one pattern of ``P`` for every ``phi``), observed through
        sparse rows (at most ``max_row`` non-zeros: a projector has three)."""
        if system.q == 0 or not all(b.kind == "precision" and k in system.priors
                                    for k, b in enumerate(system.blocks)):
            return False
        Z = sp.csr_matrix(system.Z)
        return bool(np.diff(Z.indptr).max(initial=0) <= max_row)

    def weighted_ztz(self, w: np.ndarray) -> sp.csc_matrix:
        """``Z'WZ`` stored on A's pattern (zeros where only ``Q`` has entries)."""
        return sp.csc_matrix((self._ztz_data(w), self._A_pattern.indices,
                              self._A_pattern.indptr), shape=(self.q, self.q))

    def _ztz_data(self, w: np.ndarray) -> np.ndarray:
        """``Z'WZ`` as values on A's pattern: one sparse product over the row pairs."""
        v = self.pairs.weighted(w)
        data = np.zeros(len(self._keys))
        data[self._pair_lower] = v
        data[self._pair_upper] = v
        return data

    def refill(self, ztz: sp.csc_matrix | np.ndarray, Q: sp.csc_matrix
               ) -> sp.csc_matrix | np.ndarray:
        """``A = Z'WZ + Q`` from :meth:`weighted_ztz` (dense when the factor is)."""
        if isinstance(ztz, np.ndarray):
            return ztz + Q.toarray()
        A = ztz.copy()
        np.add.at(A.data, self._q_positions(Q), Q.data)
        return A

    def _q_positions(self, Q: sp.csc_matrix) -> np.ndarray:
        """Where Q's stored values go in A's data (the maps fixed here when Q keeps the
        pattern it was analysed with, as a pencil's does)."""
        Q = sp.csc_matrix(Q)
        if np.array_equal(Q.indptr, self._q_indptr) and np.array_equal(Q.indices,
                                                                       self._q_indices):
            return self._q_pos
        Q.sort_indices()
        cols = np.repeat(np.arange(self.q), np.diff(Q.indptr)).astype(np.int64)
        return self._locate(cols * self.q + Q.indices)

    def _locate(self, keys: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self._keys, keys)
        if np.any(self._keys[np.minimum(pos, len(self._keys) - 1)] != keys):
            raise RuntimeError("an entry falls outside the fixed sparsity pattern")
        return pos

    def _q_data(self, Q: sp.csc_matrix) -> np.ndarray:
        if not (np.array_equal(Q.indptr, self._q_indptr)
                and np.array_equal(Q.indices, self._q_indices)):
            raise RuntimeError("the prior precision changed its sparsity pattern")
        return Q.data

    def solve(self, Q: sp.csc_matrix, w: np.ndarray, z: np.ndarray) -> LatentSolve:
        """Minimise ``||W^1/2 (z - X beta - Z u)||^2 + u'Qu`` (one numeric factorisation)."""
        data = self._ztz_data(w)
        data[self._q_pos] += self._q_data(Q)  # Q's stored entries are distinct
        A = sp.csc_matrix((data, self._A_pattern.indices, self._A_pattern.indptr),
                          shape=(self.q, self.q))
        self.n_factorizations += 1
        self.factor.refactor(A if self.backend != "dense" else A.toarray())
        X, Zt = self.X, self.Zt
        Xw = X * w[:, None]
        B = np.asarray(Zt @ Xw)  # Z'WX
        C = np.asarray(self.factor.solve(B)).reshape(self.q, self.p)
        XtVX = X.T @ Xw - B.T @ C
        try:
            R = sla.cholesky(XtVX, lower=False, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefinite("the fixed-effects design is rank deficient") from exc
        zw = w * z
        Zz = np.asarray(Zt @ zw).ravel()
        a = np.asarray(self.factor.solve(Zz)).ravel()
        beta = sla.cho_solve((R, False), X.T @ zw - C.T @ Zz, check_finite=False)
        u = a - C @ beta
        return LatentSolve(beta, u, self.factor, C, R, self.factor.logdet(),
                           2.0 * float(np.sum(np.log(np.diag(R)))))

    def solve_H(self, s: LatentSolve, rb: np.ndarray, ru: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """``H^-1 [rb; ru]`` from the blocked factor (1-D or 2-D right-hand sides)."""
        a = np.asarray(s.factor.solve(ru)).reshape(ru.shape)
        xb = sla.cho_solve((s.R, False), rb - s.C.T @ ru, check_finite=False)
        return xb, a - s.C @ xb


def _precision_pattern(system: LatentSystem) -> sp.csc_matrix:
    """The fixed pattern of the global ``P`` of a system of pencil blocks (no factorisation:
    the pencils' own patterns, in :meth:`LatentSystem.precision`'s block order)."""
    P = sp.block_diag([b.pencil.pattern for b in system.blocks], format="csc")
    P.sort_indices()
    return P


def _block_structure(A0: sp.spmatrix, ZtZ: sp.spmatrix, system: LatentSystem,
                     max_k: int = 16, min_q: int = 64) -> tuple[np.ndarray, int] | None:
    """``(perm, k)`` when A is block-diagonal after a symmetric permutation, with blocks of
    one size ``2 <= k <= max_k`` that also hold every entry of Z'Z and Lambda (all random
    terms on one grouping factor); else None. Scalar terms (k = 1) keep their own paths, and
    so do systems of at most ``min_q`` columns (sleepstudy's 36), where dense LAPACK has
    less overhead than the batched calls."""
    from scipy.sparse.csgraph import connected_components
    if system.has_precision:
        return None
    q = A0.shape[0]
    if q <= min_q:
        return None
    n_comp, comp = connected_components(abs(A0) + abs(ZtZ), directed=False)
    sizes = np.bincount(comp)
    k = int(sizes[0])
    if n_comp < 2 or not np.all(sizes == k) or not 2 <= k <= max_k:
        return None
    if np.any(comp[system.lam_rows] != comp[system.lam_cols]):
        return None
    perm = np.argsort(comp, kind="stable")
    assert len(perm) == q
    return perm, k
