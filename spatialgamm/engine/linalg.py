"""Cholesky factorisations of the symmetric positive-definite systems the engine solves.

``SPDFactor`` hides three back-ends behind one interface:

* ``"cholmod"``: scikit-sparse's CHOLMOD. The symbolic analysis (fill-reducing ordering and
  elimination tree) is done once per model in :func:`make_factor`; every objective evaluation
  calls :meth:`SPDFactor.refactor`, which only repeats the numeric factorisation.
* ``"dense"``: LAPACK through scipy, for small or dense systems where sparse overhead loses.
* ``"splu"``: scipy's SuperLU in symmetric mode, the fallback when scikit-sparse is missing.

All solves with the triangular factor apply the fill-reducing permutation internally, so
``solve_L(b)`` returns ``L^-1 P b`` and ``solve_Lt(x)`` returns ``P' L^-T x``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotri as _dpotri
from scipy.linalg.lapack import dpotrs as _dpotrs

try:  # CHOLMOD is the fast path; the package still works without it
    from sksparse.cholmod import CholmodNotPositiveDefiniteError
    from sksparse.cholmod import analyze as _cholmod_analyze

    HAVE_CHOLMOD = True
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_CHOLMOD = False
    CholmodNotPositiveDefiniteError = np.linalg.LinAlgError  # type: ignore[misc,assignment]

_warned = False


class NotPositiveDefinite(np.linalg.LinAlgError):
    """The system matrix is not positive definite at these parameters."""


def _warn_no_cholmod() -> None:
    global _warned
    if not _warned:
        warnings.warn("scikit-sparse (CHOLMOD) is not installed: large sparse systems use "
                      "scipy's SuperLU, which is slower. Run `make setup` to install it.",
                      RuntimeWarning, stacklevel=3)
        _warned = True


def choose_backend(A, dense_below: int = 400, density: float = 0.25) -> str:
    """Pick a back-end for a system with the pattern of ``A``."""
    n = A.shape[0]
    if not sp.issparse(A):
        return "dense"
    if n <= dense_below or A.nnz > density * n * n:
        return "dense"
    if HAVE_CHOLMOD:
        return "cholmod"
    _warn_no_cholmod()
    return "dense" if n <= 3000 else "splu"


class SPDFactor:
    """A re-usable Cholesky factor ``P A P' = L L'``.

    Examples
    --------
    >>> import numpy as np
    >>> f = make_factor(np.array([[4.0, 2.0], [2.0, 3.0]]))
    >>> bool(round(f.logdet(), 6) == round(np.log(8.0), 6))
    True
    """

    def __init__(self, backend: str, analysed=None):
        self.backend = backend
        self._an = analysed
        self._f = None
        self._n = 0

    def refactor(self, A) -> SPDFactor:
        """Numeric factorisation of ``A`` (same sparsity pattern as at analysis)."""
        self._n = A.shape[0]
        self._A = A
        if self.backend == "cholmod":
            A = A if sp.isspmatrix_csc(A) else sp.csc_matrix(A)
            try:
                self._an.cholesky_inplace(A)
            except CholmodNotPositiveDefiniteError as exc:
                raise NotPositiveDefinite(str(exc)) from exc
            self._f = self._an
        elif self.backend == "dense":
            Ad = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=float)
            # LAPACK directly: scipy.linalg's wrappers cost more than a 36 x 36 factorisation
            c, info = _dpotrf(Ad, lower=1, clean=1)
            if info != 0:
                raise NotPositiveDefinite(f"matrix is not positive definite (LAPACK info {info})")
            self._f = c
        else:
            from scipy.sparse.linalg import splu
            lu = splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
            d = lu.U.diagonal()
            if np.any(d <= 0):
                raise NotPositiveDefinite("matrix is not positive definite")
            self._f = lu
        return self

    # -- queries ----------------------------------------------------------------------
    def logdet(self) -> float:
        """log |A|."""
        if self.backend == "cholmod":
            return float(self._f.logdet())
        if self.backend == "dense":
            return 2.0 * float(np.sum(np.log(np.diag(self._f))))
        return float(np.sum(np.log(self._f.U.diagonal())))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^-1 b."""
        if self.backend == "cholmod":
            return self._f(b)
        if self.backend == "dense":
            x, info = _dpotrs(self._f, b, lower=1)
            return x
        return self._f.solve(np.asarray(b, dtype=float))

    def solve_L(self, b: np.ndarray) -> np.ndarray:
        """L^-1 P b, so that ``||solve_L(b)||^2 = b' A^-1 b``."""
        if self.backend == "cholmod":
            return self._f.solve_L(self._f.apply_P(b), use_LDLt_decomposition=False)
        if self.backend == "dense":
            return sla.solve_triangular(self._f, b, lower=True, check_finite=False)
        raise NotImplementedError("half solves need CHOLMOD or the dense back-end")

    def solve_Lt(self, x: np.ndarray) -> np.ndarray:
        """P' L^-T x (the inverse of :meth:`solve_L`'s transpose)."""
        if self.backend == "cholmod":
            return self._f.apply_Pt(self._f.solve_Lt(x, use_LDLt_decomposition=False))
        if self.backend == "dense":
            return sla.solve_triangular(self._f, x, lower=True, trans="T", check_finite=False)
        raise NotImplementedError("half solves need CHOLMOD or the dense back-end")

    def _dense_inverse(self) -> np.ndarray:
        """A^-1 from the dense Cholesky factor (LAPACK potri)."""
        inv, info = _dpotri(self._f, lower=1)
        if info != 0:
            raise NotPositiveDefinite(f"cannot invert the factor (LAPACK info {info})")
        return np.tril(inv) + np.tril(inv, -1).T

    def inverse_on_pattern(self):
        """A^-1: a dense array for the dense back-end, else its entries on the factor's
        pattern (Takahashi selected inversion) as a symmetric sparse matrix."""
        return self._dense_inverse() if self.backend == "dense" else self.selected_inverse()

    def selected_inverse(self) -> sp.csc_matrix:
        """Entries of A^-1 on the pattern of the current factor, as a sparse matrix.

        Takahashi recursions over the factor itself (no new factorisation) for CHOLMOD; the
        whole inverse for the dense back-end; SuperLU's selected inverse otherwise.
        """
        from .selinv import selected_inverse, selected_inverse_from_factor
        from .threads import blas_threads_for
        if self.backend == "cholmod":
            f = self._f.copy()  # L() converts the factor in place: keep ours supernodal
            # the recursions are many small dense blocks: one BLAS thread is 2-5x faster
            with blas_threads_for(0):
                return selected_inverse_from_factor(f.L(), f.P())
        if self.backend == "dense":
            return sp.csc_matrix(self._dense_inverse())
        return selected_inverse(sp.csc_matrix(self._A), backend="superlu")


class BlockFactor(SPDFactor):
    """Cholesky factors of a matrix that is block-diagonal after a symmetric permutation,
    with ``G`` blocks of one small size ``k`` (every random term on one grouping factor:
    ``(1|g) + (0 + x|g)``, ``(x|g)``): batched LAPACK over the blocks, O(G k^3), with
    none of a sparse factorisation's per-call overhead.

    ``perm`` (length ``G k``) lists the columns block by block. :meth:`refactor` takes the
    blocks themselves, shape ``(G, k, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> f = BlockFactor(np.array([0, 2, 1, 3]), 2)
    >>> _ = f.refactor(np.array([[[2.0, 1.0], [1.0, 2.0]], [[4.0, 0.0], [0.0, 1.0]]]))
    >>> bool(np.isclose(f.logdet(), np.log(3.0 * 4.0)))
    True
    >>> f.solve(np.array([3.0, 4.0, 3.0, 1.0])).round(6).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, perm: np.ndarray, k: int):
        super().__init__("blocks")
        self.perm = np.asarray(perm)
        self.k = int(k)
        self.G = len(self.perm) // self.k
        self._n = len(self.perm)
        inv = np.empty_like(self.perm)
        inv[self.perm] = np.arange(len(self.perm))
        self.iperm = inv
        # the block-diagonal pattern in CSC order: for each stored entry, its place in the
        # (G, k, k) stack (column-major within a block, blocks in perm order)
        pb = self.perm.reshape(self.G, self.k)
        rows = np.broadcast_to(pb[:, :, None], (self.G, self.k, self.k)).ravel()
        cols = np.broadcast_to(pb[:, None, :], (self.G, self.k, self.k)).ravel()
        order = np.lexsort((rows, cols))
        self._pattern = sp.csc_matrix((np.arange(len(rows), dtype=float)[order],
                                       (rows[order], cols[order])), shape=(self._n, self._n))
        self._pattern.sort_indices()
        self._take = self._pattern.data.astype(np.int64)

    def on_pattern(self, blocks: np.ndarray) -> sp.csc_matrix:
        """The sparse (n x n) matrix whose diagonal blocks are ``blocks`` (G, k, k)."""
        S = self._pattern.copy()
        S.data = np.ascontiguousarray(blocks).ravel()[self._take]
        return S

    def refactor(self, A) -> BlockFactor:
        """Factor the stacked blocks ``A`` (G, k, k)."""
        self._A = A
        try:
            self._f = np.linalg.cholesky(A)
        except np.linalg.LinAlgError as exc:
            raise NotPositiveDefinite(f"a diagonal block is not positive definite ({exc})") \
                from exc
        self._inv = None
        return self

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(np.diagonal(self._f, axis1=1, axis2=2))))

    def _blocks_of(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        return b[self.perm].reshape((self.G, self.k) + b.shape[1:])

    def _from_blocks(self, x: np.ndarray, shape: tuple) -> np.ndarray:
        return x.reshape(shape)[self.iperm]

    def solve(self, b: np.ndarray) -> np.ndarray:
        # by the blocks' inverses, formed once per factorisation: A = Lambda'MLambda + I has
        # eigenvalues >= 1, so its inverse is well conditioned, and each solve is then one
        # batched product (a PLS step makes three)
        bb = self._blocks_of(b)
        x = np.linalg.solve(self._A, bb if bb.ndim == 3 else bb[:, :, None])
        return self._from_blocks(x, np.shape(b))

    def solve_L(self, b: np.ndarray) -> np.ndarray:
        """L^-1 P b (blocks in perm order)."""
        bb = self._blocks_of(b)
        x = np.linalg.solve(self._f, bb if bb.ndim == 3 else bb[:, :, None])
        return x.reshape(np.shape(b))

    def solve_Lt(self, x: np.ndarray) -> np.ndarray:
        """P' L^-T x."""
        xb = np.asarray(x, dtype=float).reshape((self.G, self.k) + np.shape(x)[1:])
        y = np.linalg.solve(np.swapaxes(self._f, 1, 2), xb if xb.ndim == 3 else xb[:, :, None])
        return self._from_blocks(y, np.shape(x))

    def block_inverse(self) -> np.ndarray:
        """The inverse's diagonal blocks, (G, k, k) (the whole inverse: it is block-diagonal
        too)."""
        if self._inv is None:
            self._inv = np.linalg.inv(self._A)
        return self._inv

    def inverse_on_pattern(self) -> sp.csc_matrix:
        """A^-1 as a sparse matrix on the block pattern (it is exactly block-diagonal)."""
        return self.on_pattern(self.block_inverse())

    def selected_inverse(self) -> sp.csc_matrix:
        return self.inverse_on_pattern()


def make_factor(A, backend: str | None = None, numeric: bool = True) -> SPDFactor:
    """Analyse the pattern of ``A`` once and factor it.

    ``A`` should carry the structural non-zeros of every later matrix that will be passed to
    :meth:`SPDFactor.refactor` (explicit zeros are fine). ``numeric=False`` does the symbolic
    analysis only (counting numeric factorisations).
    """
    backend = backend or choose_backend(A)
    if backend == "cholmod":
        A = sp.csc_matrix(A)
        f = SPDFactor("cholmod", _cholmod_analyze(A, mode="supernodal",
                                                  ordering_method="amd"))
    else:
        f = SPDFactor(backend)
    if numeric:
        f.refactor(A)
    return f
