"""Leading eigenpairs of a symmetric matrix by mgcv's Lanczos iteration (``slanczos``).

mgcv builds its ``bs='gp'`` basis from the eigenpairs that ``slanczos(E, k, -1)`` returns
(its C routine ``Rlanczos``), not from an exact eigendecomposition. ``slanczos`` stops as
soon as the wanted eigen*values* have converged, so the Ritz vectors that belong to small
eigenvalues are only approximately eigenvectors. A fitted smooth with a tiny smoothing
parameter depends on those vectors, so reproducing mgcv's numbers needs the same process.
:func:`lanczos_eigen` is our own implementation of that process, written from mgcv's
documentation (``?slanczos``), our reading of what its C routine does (mgcv is GPL; no code
is copied) and the textbook algorithm:

* Demmel, J. W. (1997) *Applied Numerical Linear Algebra*, SIAM, section 7.4 (Lanczos with
  full re-orthogonalisation, the error bound ``|beta_j v_j|``);
* Golub, G. H. & Van Loan, C. F. (2013) *Matrix Computations*, 4th ed., section 10.1.

The algorithm, step by step (the choices that fix the numerical result are mgcv's):

1. Start vector: a deterministic "quick and dirty" linear congruential sequence,
   ``j_0 = 1``, ``j_i = (106 j_{i-1} + 1283) mod 6075``, entry ``i`` = ``j_i / 6075 - 0.5``,
   scaled to unit length. Being fixed, the start makes the result a function of ``A``
   (and of the order of its rows) only.
2. Lanczos step ``j = 0, 1, ...``: ``z = A q_j``, ``alpha_j = q_j' z``,
   ``z <- z - alpha_j q_j - beta_{j-1} q_{j-1}``; from the second step on, ``z`` is then
   orthogonalised against every previous Lanczos vector ``q_0 .. q_j`` by modified
   Gram-Schmidt, and the whole sweep is repeated once ("twice is enough", Parlett).
   ``beta_j = ||z||``, ``q_{j+1} = z / beta_j``.
3. Every ``f_check`` steps once ``j >= k + kl`` (``f_check = max(10, (k + kl) // 2)``,
   but at most ``max(1, n // 10)``), and at the last possible step, the tridiagonal
   ``T_j`` (diagonal ``alpha_0..alpha_j``, off-diagonal ``beta_0..beta_{j-1}``) is
   eigendecomposed (LAPACK's divide and conquer ``dstedc``, as mgcv); its eigenvalues ``d``
   are sorted decreasingly with eigenvectors ``v``.
   The error bound of Ritz value ``i`` is ``|beta_j v_{j,i}|`` (the residual norm
   ``||A y_i - d_i y_i||`` of its Ritz vector ``y_i``).
4. Convergence: every wanted Ritz value has an error bound ``<= tol * max(|d_0|, |d_j|)``.
   For the ``kl < 0`` ("largest magnitude") case the wanted set is built by walking in from
   both ends of ``d`` and taking the larger magnitude each time; mgcv looks up the error of
   a value taken from the bottom end under the index counted from the bottom (``ni``), not
   its position in ``d`` (``j - ni``). We keep that rule so that the stopping step is
   mgcv's; for positive semi-definite matrices (GP correlation matrices) the bottom end is
   never taken and the rule is immaterial.
5. Ritz vectors ``y_i = sum_l q_l v_{l,i}`` over the Lanczos vectors built so far; the
   largest values come first (decreasing), then any taken from the bottom end, in the
   order they sit in ``d``.

Rounding. The approximate vectors of small eigenvalues carry the rounding of every step,
and when ``A`` has a trivial spectrum (``A = I``: the start vector is an eigenvector and
every later Lanczos vector is normalised rounding noise) *all* of the result is rounding.
So the sums are formed in the order of the reference BLAS that R uses (``dsymv`` for
``A q``, ``ddot``/``daxpy`` for the Gram-Schmidt sweeps, mgcv's own sequential loops);
with the knot correlation matrix evaluated as mgcv does (:mod:`.gp`) the Ritz vectors of
the Rongelap fits agree with mgcv's to 3e-16, and on identity matrices the process breaks
down (``beta_j`` exactly zero) at exactly the sizes and steps where mgcv's does. Only the
small tridiagonal eigenproblem uses numpy's LAPACK, whose rounding may differ in the last
bit. ``reference_blas=False`` uses numpy's BLAS instead (faster, same to rounding on the
converged pairs; small-eigenvalue vectors then differ from mgcv's by ~1e-9 on Rongelap).

Breakdown: if ``beta_j`` is exactly zero before the last step, the Krylov space is
invariant. mgcv divides by that zero and returns NaN; we stop there with the (exact) Ritz
pairs when enough of them exist (``invariant=True``) and otherwise raise
:class:`numpy.linalg.LinAlgError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg.blas import daxpy as _daxpy
from scipy.linalg.blas import ddot as _ddot

__all__ = ["LanczosResult", "lanczos_eigen", "mgcv_start_vector"]

_SQRT_EPS = float(np.sqrt(np.finfo(float).eps))  # mgcv's default tol, .Machine$double.eps^.5


@dataclass(frozen=True)
class LanczosResult:
    """Eigenpairs from :func:`lanczos_eigen`.

    Attributes
    ----------
    values : ndarray, shape (m,)
        Ritz values: the largest first (decreasing), then any smallest ones.
    vectors : ndarray, shape (n, m)
        The matching Ritz vectors (unit length, mutually orthogonal to rounding).
    iterations : int
        Number of Lanczos vectors used (mgcv's ``iter``).
    converged : bool
        Whether the wanted values met the tolerance before the Krylov space was exhausted.
    n_largest, n_smallest : int
        How many of ``values`` come from the top and from the bottom of the spectrum.
    invariant : bool
        The iteration stopped because ``beta_j`` was exactly zero (the Krylov space is
        invariant under A, so the Ritz pairs are exact). mgcv divides by that zero and
        returns NaN; we return the exact pairs.
    """

    values: np.ndarray
    vectors: np.ndarray
    iterations: int
    converged: bool
    n_largest: int
    n_smallest: int
    invariant: bool = False


def mgcv_start_vector(n: int) -> np.ndarray:
    """mgcv's deterministic Lanczos start vector of length ``n`` (unit Euclidean norm).

    Examples
    --------
    >>> q = mgcv_start_vector(4)
    >>> round(float(q @ q), 12)
    1.0
    """
    if n < 1:
        raise ValueError(f"n must be positive, got n={n}")
    return _start_vector(int(n)).copy()


@lru_cache(maxsize=32)
def _start_vector(n: int) -> np.ndarray:
    """The start vector, kept per length (the sequence is a Python loop: ~1 ms at n = 400,
    paid by every smooth of every fit otherwise)."""
    out = np.empty(n)
    jran = 1
    for i in range(n):
        jran = (jran * 106 + 1283) % 6075
        out[i] = jran / 6075.0 - 0.5
    out /= np.sqrt(_seq_dot(out, out))
    out.flags.writeable = False
    return out


# ---- reference-BLAS rounding ------------------------------------------------------------
# R links mgcv to the reference BLAS (R's own Rblas, or Debian's libblas), whose loops add
# in a fixed sequential order. Optimised BLAS (numpy's OpenBLAS) add in other orders, which
# changes the last bit of the sums. That is harmless for the converged eigenpairs but not
# for the approximate vectors of small eigenvalues, and it decides everything when the
# Krylov process runs on rounding noise (E = identity: knots further apart than the range).
# So the products below add in the reference order; numpy's reduction over axis 0 of a
# C-ordered array adds row after row, i.e. sequentially per column (checked in the tests).


def _seq_dot(x: np.ndarray, y: np.ndarray) -> float:
    """``x'y`` summed left to right (reference ``ddot``; mgcv's own C loops)."""
    return float(np.add.accumulate(x * y)[-1])


class _RefSymv:
    """``A x`` with the rounding of reference BLAS ``dsymv`` (uplo = 'U', beta = 0).

    dsymv runs over columns j: ``y_i += x_j a_ij`` for i < j, then
    ``y_j = x_j a_jj + sum_{i<j} a_ij x_i`` (that inner sum sequential in i). So
    ``y_j = ((x_j a_jj + S_j) + x_{j+1} a_{j,j+1}) + ... + x_n a_{j,n}``, added left to right.
    Floating-point addition is commutative, so that is the plain left-to-right sum
    ``sum_i a_ij x_i`` over the symmetric matrix completed from the upper triangle: one
    product and one sequential column reduction (numpy reduces axis 0 of a C-ordered array
    row after row), in row blocks that keep the temporary small.
    """

    _BLOCK = 256

    def __init__(self, A: np.ndarray) -> None:
        if np.array_equal(A, A.T):
            self.full = np.ascontiguousarray(A)
        else:
            # dsymv reads the upper triangle only: mirror it (the diagonal once)
            self.full = np.triu(A)
            self.full += np.triu(A, 1).T
        n = A.shape[0]
        self._buf = np.empty((min(self._BLOCK, n), n))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        A, n = self.full, self.full.shape[0]
        y = np.zeros(n)
        for i in range(0, n, self._BLOCK):
            blk = A[i : i + self._BLOCK]
            buf = self._buf[: blk.shape[0]]
            np.multiply(blk, x[i : i + blk.shape[0], None], out=buf)
            # continue the running sum row by row: y + r_0 + r_1 + ... (left to right)
            buf[0] += y
            y = buf.sum(axis=0)
        return y


def _check_interval(k: int, kl: int, n: int) -> int:
    """How often (in Lanczos steps) the tridiagonal matrix is eigendecomposed."""
    f_check = max(10, (k + max(kl, 0)) // 2)
    return min(f_check, max(1, n // 10))


def _tridiagonal_eigen(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric tridiagonal matrix, decreasing eigenvalues.

    numpy's ``eigh`` (LAPACK ``dsyevd``) on the dense tridiagonal matrix reduces it with
    trivial reflectors and calls the divide-and-conquer ``dstedc``, the routine mgcv calls
    directly, so eigenvector signs follow the same convention.
    """
    T = np.diag(alpha)
    if beta.size:
        idx = np.arange(beta.size)
        T[idx + 1, idx] = beta
        T[idx, idx + 1] = beta
    d, v = np.linalg.eigh(T)
    return d[::-1], v[:, ::-1]


def _wanted_converged(
    d: np.ndarray, err: np.ndarray, k: int, kl: int, biggest: bool, max_err: float
) -> tuple[bool, int, int]:
    """mgcv's convergence test; returns (converged, n_largest, n_smallest)."""
    last = d.size - 1
    if biggest:
        pi = ni = 0
        while pi + ni < k:
            if abs(d[pi]) >= abs(d[last - ni]):
                if err[pi] > max_err:
                    return False, pi, ni
                pi += 1
            else:
                # mgcv checks err[ni] here (index counted from the bottom), see docstring
                if err[ni] > max_err:
                    return False, pi, ni
                ni += 1
        return True, pi, ni
    ok = bool(np.all(err[:k] <= max_err))
    if kl > 0:
        ok = ok and bool(np.all(err[last - kl + 1 :] <= max_err))
    return ok, k, kl


def lanczos_eigen(
    A: np.ndarray, k: int, kl: int = -1, tol: float = _SQRT_EPS, reference_blas: bool = True
) -> LanczosResult:
    """The leading eigenpairs of symmetric ``A`` as mgcv's ``slanczos(A, k, kl, tol)``.

    Parameters
    ----------
    A : ndarray, shape (n, n)
        Symmetric matrix (only symmetry is assumed; it need not be positive definite).
    k : int
        Number of largest eigenvalues wanted; with ``kl < 0``, of largest *magnitude*.
    kl : int
        Number of smallest eigenvalues wanted as well; negative for the magnitude rule.
    tol : float
        Convergence tolerance relative to ``||T_j||`` (mgcv's default
        ``sqrt(machine epsilon)``; must lie in (0, 0.01] as in mgcv).
    reference_blas : bool
        Add products in the order of the reference BLAS that R ships (default), so that
        the result reproduces mgcv's to the last bits; False uses numpy's BLAS, the same
        to rounding on the converged pairs and several times faster (the tp basis, whose
        wanted pairs all converge, uses it).

    Returns
    -------
    LanczosResult
        Values, vectors, number of Lanczos steps and convergence flag. See the module
        docstring for the algorithm.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([5.0, 3.0, 1.0, 0.5, 0.1])
    >>> res = lanczos_eigen(A, 2)
    >>> np.round(res.values, 10).tolist()
    [5.0, 3.0]
    """
    A, k, kl = _checked(A, k, kl, tol)
    n = A.shape[0]
    biggest = kl < 0
    kl = max(kl, 0)
    m = k + kl
    if m < 1:
        return LanczosResult(np.zeros(0), np.zeros((n, 0)), 0, True, 0, 0)
    f_check = _check_interval(k, kl, n)
    step = _Steps(A, reference_blas)
    d = v = None
    converged = invariant = False
    n_big, n_small = k, kl
    j = 0
    for j in range(n):
        beta_j = step(j)
        # beta = 0 before the last step: the Krylov space is invariant (at the last step
        # the space is all of R^n and beta is zero in exact arithmetic anyway)
        invariant = j < n - 1 and not beta_j > 0.0
        if invariant and j + 1 < m:
            # The Krylov space closed (beta = 0) before m vectors: it has no more
            # directions to offer. mgcv would divide by zero here; say so plainly.
            raise np.linalg.LinAlgError(
                f"Lanczos broke down after {j + 1} steps (an invariant subspace of A was "
                f"reached before {m} eigenpairs); use an exact eigendecomposition instead"
            )
        if j < n - 1 and not invariant:
            step.Q[j + 1] = step.z / beta_j
        if (j >= m and j % f_check == 0) or j == n - 1 or invariant:
            d, v = _tridiagonal_eigen(step.alpha[: j + 1], step.beta[:j])
            norm_t = max(abs(d[0]), abs(d[j]))
            err = np.abs(beta_j * v[j, :])
            # an invariant subspace makes every error bound zero: its Ritz pairs are exact
            if j >= m or invariant:
                ok, pi, ni = _wanted_converged(d, err, k, kl, biggest, norm_t * tol)
                if ok:
                    converged = True
                    if biggest:
                        n_big, n_small = pi, ni
                    break
    assert d is not None and v is not None
    last = d.size - 1
    cols = list(range(n_big)) + [last - (n_small - 1 - t) for t in range(n_small)]
    vectors = step.ritz_vectors(v[: j + 1, cols])
    return LanczosResult(d[cols].copy(), vectors, j + 1, converged, n_big, n_small, invariant)


def _checked(A: np.ndarray, k: int, kl: int, tol: float) -> tuple[np.ndarray, int, int]:
    """The arguments of :func:`lanczos_eigen`, checked as mgcv's ``slanczos`` does."""
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A contains NaN or infinite values")
    if not (0.0 < tol <= 0.01):
        raise ValueError(f"tol must satisfy 0 < tol <= 0.01 (mgcv's check), got tol={tol!r}")
    k, kl = int(round(k)), int(round(kl))
    if k < 0:
        raise ValueError(f"k must be non-negative, got k={k}")
    if k + max(kl, 0) > A.shape[0]:
        raise ValueError(f"cannot have more eigenvalues (k + kl = {k + max(kl, 0)}) than "
                         f"rows of A ({A.shape[0]})")
    return A, k, kl


class _Steps:
    """The Lanczos vectors (rows of ``Q``, contiguous) and the three-term recurrence.

    ``step(j)`` forms ``z = A q_j - alpha_j q_j - beta_{j-1} q_{j-1}``, re-orthogonalises
    it against ``q_0 .. q_j`` twice and returns ``beta_j = ||z||``; the caller stores
    ``q_{j+1} = z / beta_j``.
    """

    def __init__(self, A: np.ndarray, reference_blas: bool) -> None:
        n = A.shape[0]
        self.reference = reference_blas
        self.matvec = _RefSymv(A) if reference_blas else A.__matmul__
        self.dot = _seq_dot if reference_blas else np.dot
        self.Q = np.zeros((n, n))
        self.alpha, self.beta = np.zeros(n), np.zeros(n)
        self.Q[0] = mgcv_start_vector(n)
        self.z = np.zeros(n)

    def __call__(self, j: int) -> float:
        Q, dot = self.Q, self.dot
        q = Q[j]
        z = self.matvec(q)
        self.alpha[j] = dot(q, z)
        if j == 0:
            z = z - self.alpha[j] * q
        else:
            z = z - (self.alpha[j] * q + self.beta[j - 1] * Q[j - 1])
            # full re-orthogonalisation by modified Gram-Schmidt, twice ("twice is
            # enough"); classical Gram-Schmidt would be two BLAS products, but its other
            # rounding can flip the sign LAPACK gives a Ritz vector, and signs are mgcv's
            for _ in range(2):
                if self.reference:
                    for i in range(j + 1):
                        z += -dot(z, Q[i]) * Q[i]
                else:  # the same sweep by BLAS ddot / daxpy in place (no temporaries
                    # per vector); classical Gram-Schmidt, two BLAS products, rounds
                    # otherwise and flips the sign LAPACK gives some tp Ritz vectors
                    for qi in Q[: j + 1]:
                        z = _daxpy(qi, z, a=-_ddot(z, qi))
        self.z = z
        self.beta[j] = np.sqrt(dot(z, z))
        return float(self.beta[j])

    def ritz_vectors(self, vc: np.ndarray) -> np.ndarray:
        """``y_i = sum_l q_l v_li``; with reference sums accumulated over l in order (as
        mgcv's loop), else one product."""
        steps = vc.shape[0]
        if not self.reference:
            return self.Q[:steps].T @ vc
        vectors = np.zeros((self.Q.shape[1], vc.shape[1]))
        for l_ in range(steps):
            vectors += np.outer(self.Q[l_], vc[l_])
        return vectors
