"""mgcv's thin-plate regression spline ``s(x, ...)`` (``bs='tp'``, mgcv's default).

Wood (2003, JRSS-B 65:95-114), in mgcv's construction, any dimension d:

1. covariates are centred by their means (kept for prediction); the knots are the unique
   covariate rows in lexicographic order; when there are more than ``max_knots`` (2000)
   rows and unique rows, ``max_knots`` of the unique rows drawn as R's
   ``set.seed(seed); sample(nu, max_knots)`` (mgcv's ``xt = list(max.knots, seed)``),
   sorted like the unique rows;
2. penalty order m: the smallest m with 2m > d + 1 unless given (2m > d required);
   null-space dimension ``M = choose(m + d - 1, d)``; T = the M monomials of degree < m
   (``[1, x]`` in 1-D, ``[1, x, z]`` in 2-D);
3. E[i, j] = eta(||x_i - x_j||), the thin-plate radial function
   ``eta(r) = (-1)^(m+1+d/2) / (2^(2m-1) pi^(d/2) (m-1)! (m-d/2)!) r^(2m-d) log r`` (d even),
   ``Gamma(d/2 - m) / (2^(2m) pi^(d/2) (m-1)!) r^(2m-d)`` (d odd);
4. the k eigenpairs of E of largest magnitude (U, values v, in decreasing order; from
   mgcv's Lanczos iteration, :func:`~.lanczos.lanczos_eigen`, not a full eigendecomposition)
   and the
   null space Z of ``T' U`` (the first k - M columns of the orthogonal Q of a
   Householder "QT" factorisation ``T'U Q = [0, R]``, R reverse lower triangular);
5. basis ``[U diag(v) Z, T]`` when the knots are the unique data rows (``[E U Z, T]``
   for a knot subsample and for new data), penalty
   ``blockdiag(Z' diag(v) Z, 0_M)``; each column is then rescaled to root-mean-square 1
   over the data (penalty rescaled to match).

When the number of unique rows equals k no eigen step is needed: basis ``[E Z, T]`` with
Z the null space of T', penalty ``blockdiag(Z' E Z, 0)``.

The eigenpairs come from our implementation of mgcv's Lanczos process (same start vector,
re-orthogonalisation, stopping rule and reference-BLAS rounding), so the Ritz vectors, their
signs (which the Lanczos process fixes) and hence the basis and the coefficients are mgcv's:
``smoothCon(s(x))$X`` and ``coef(gam(...))`` agree to rounding (tests/test_tp_basis.py,
mgcv 1.8-41). The cost is a few dozen products with the knot matrix, not the O(n^3) of a
full eigendecomposition, and the data rows of the basis reuse the knot matrix when the
knots are the unique data rows.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from ...kernels import pairwise_distance
from .base import RawSmooth, SmoothBasis, numeric_matrix, warn_reset
from .lanczos import lanczos_eigen
from .r_sample import r_sample, r_uniquecombs_ordered

__all__ = ["ThinPlateSpline", "tps_eta", "tps_null_space_powers", "householder_qt_null_space"]

_DEFAULT_K_EXTRA = (8, 27, 100)
#: mgcv's Lanczos tolerance for the tp basis (machine epsilon ^ 0.7)
_LANCZOS_TOL = float(np.finfo(float).eps ** 0.7)
_controller: ThreadpoolController | None = None  # scanning the loaded libraries costs ~10 ms


def _one_blas_thread():
    """Context limiting BLAS to one thread (the construction makes many small products)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def default_penalty_order(d: int) -> int:
    """The smallest m with 2m > d + 1 (mgcv's default thin-plate penalty order)."""
    m = 1
    while 2 * m < d + 2:
        m += 1
    return m


def _power(r: np.ndarray, p: int) -> np.ndarray:
    """r**p for a small positive integer p by repeated products (faster than pow)."""
    out = r.copy()
    for _ in range(p - 1):
        out *= r
    return out


def tps_eta(r: np.ndarray, m: int, d: int, overwrite: bool = False) -> np.ndarray:
    """Thin-plate radial basis function eta_{m,d}(r) (0 at r = 0); ``overwrite=True``
    may reuse ``r``'s memory for the result.

    Examples
    --------
    >>> float(tps_eta(np.array(2.0), 2, 1))   # 1-D, m = 2: r^3 / 12
    0.6666666666666666
    """
    if 2 * m <= d:
        raise ValueError(f"thin-plate splines need 2m > d, got m={m}, d={d}")
    r = np.asarray(r, dtype=float)
    p = 2 * m - d
    if d % 2 == 0:
        sign = -1.0 if (m + 1 + d // 2) % 2 else 1.0
        c = sign / (
            2.0 ** (2 * m - 1)
            * math.pi ** (d / 2)
            * math.factorial(m - 1)
            * math.factorial(m - d // 2)
        )
        # c r^p log r, and 0 at r = 0; in place (these matrices have n x knots entries)
        pos = r > 0
        out = np.log(r, out=np.zeros_like(r), where=pos)
        out *= _power(r, p)
        out *= c
        return out
    c = math.gamma(d / 2 - m) / (2.0 ** (2 * m) * math.pi ** (d / 2) * math.factorial(m - 1))
    if overwrite and p > 1 and r.flags.writeable:
        # ((r r) r ...) as _power, the last product into r itself
        t = _power(r, p - 1)
        r *= t
        out = r
    else:
        out = _power(r, p)
    out *= c
    return out


#: entries per block of the radial-basis matrices: blocks stay in the CPU cache and below
#: the allocator's mmap threshold (a fresh n x n temporary per product cost page faults)
_ETA_BLOCK = 1 << 15


def tps_eta_matrix(xa: np.ndarray, xb: np.ndarray, m: int, d: int,
                   right: np.ndarray | None = None) -> np.ndarray:
    """``eta(|xa_i - xb_j|)`` for all pairs (rows of ``xa``, ``xb``), or its product with
    ``right`` (``E @ right``) without the whole of ``E`` held at once.

    Built in row blocks of about :data:`_ETA_BLOCK` entries: one output allocation instead
    of a distance matrix, its power and its logarithm. The values are those of
    :func:`tps_eta` of :func:`~spatialgamm.kernels.pairwise_distance` to the last bit.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [3.0]])
    >>> tps_eta_matrix(x, x, 2, 1)[0].tolist()   # r^3 / 12
    [0.0, 0.08333333333333333, 2.25]
    """
    na = xa.shape[0]
    out = np.empty((na, xb.shape[0] if right is None else right.shape[1]))
    step = max(1, _ETA_BLOCK // max(1, xb.shape[0]))
    for i in range(0, na, step):
        if d == 1:  # |xa - xb| directly (sqrt of the square is exact: cdist's value)
            r = np.subtract.outer(xa[i:i + step, 0], xb[:, 0])
            np.abs(r, out=r)
        else:
            r = pairwise_distance(xa[i:i + step], xb)
        e = tps_eta(r, m, d, overwrite=True)
        if right is None:
            out[i:i + step] = e
        else:
            out[i:i + step] = e @ right
    return out


def tps_null_space_powers(m: int, d: int) -> list[tuple[int, ...]]:
    """Exponents of the monomials spanning the penalty null space, in mgcv's order.

    mgcv counts like an odometer whose *first* coordinate turns fastest, restricted to
    total degree < m: ``[(0,0), (1,0), (0,1)]`` for d = 2, m = 2.

    Examples
    --------
    >>> tps_null_space_powers(3, 2)
    [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2)]
    """
    out = []
    for p in product(range(m), repeat=d):
        p = tuple(reversed(p))  # last coordinate varies slowest
        if sum(p) < m:
            out.append(p)
    out.sort(key=lambda p: tuple(reversed(p)))
    return out


def _poly_matrix(x: np.ndarray, powers: list[tuple[int, ...]]) -> np.ndarray:
    return np.column_stack([np.prod(x ** np.array(p), axis=1) for p in powers])


def householder_qt_null_space(A: np.ndarray) -> np.ndarray:
    """Null space of A (r x c, r < c) from the factorisation ``A Q = [0, R]``.

    Householder reflections ``H_i`` (``Q = H_1 ... H_r``) each rotate the leading
    ``c - i`` entries of row i of the current ``A H_1 ... H_{i-1}`` onto its last active
    position (reflecting to minus the sign of that entry, as mgcv's ``QT``). Returns the
    first ``c - r`` columns of Q.

    Examples
    --------
    >>> A = np.array([[1.0, 2.0, 3.0]])
    >>> Z = householder_qt_null_space(A)
    >>> bool(np.allclose(A @ Z, 0)), Z.shape
    (True, (3, 2))
    """
    A = np.array(A, dtype=float)
    r, c = A.shape
    Q = np.eye(c)
    for i in range(r):
        na = c - i
        p = A[i, :na].copy()
        s = float(np.linalg.norm(p))
        if s == 0.0:
            continue
        if p[-1] < 0:
            s = -s
        u = p
        u[-1] += s
        g = 1.0 / (s * u[-1])
        # apply H = I - g u u' (on the leading na coordinates) from the right
        A[:, :na] -= g * np.outer(A[:, :na] @ u, u)
        Q[:, :na] -= g * np.outer(Q[:, :na] @ u, u)
    return Q[:, : c - r]


class ThinPlateSpline(SmoothBasis):
    """``s(x, ...)`` / ``bs='tp'``: mgcv's thin-plate regression spline, any dimension.

    Parameters
    ----------
    *variables : str
        Covariate columns.
    k : int, optional
        Basis dimension before the constraint (default ``M + (8, 27, 100)[min(d,3)-1]``).
    m : int, optional
        Penalty order (derivative order); default the smallest m with 2m > d + 1.
    max_knots, seed : int
        Subsampling of the unique rows when there are more than ``max_knots`` (2000).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"x": np.linspace(0, 1, 40)})
    >>> sm = ThinPlateSpline("x", k=6).construct(d)
    >>> sm.X.shape, sm.null_dim, sm.rank
    ((40, 5), 1, 4)
    """

    bs = "tp"

    def _check_options(self) -> None:
        self.max_knots = int(self.options.pop("max_knots", 2000))
        self.seed = int(self.options.pop("seed", 1))
        super()._check_options()

    def _order(self, d: int) -> int:
        m = self.m
        if m is not None and not np.isscalar(m):
            vals = list(m)
            if len(vals) > 1:
                raise NotImplementedError(
                    f"{self.label}: only the penalty order m is supported for bs='tp' "
                    f"(mgcv's second element, dropping the null space, is not), got m={m!r}"
                )
            m = vals[0] if vals else None
        if m is None or m == 0:
            return default_penalty_order(d)
        if int(m) != m or m < 0:
            raise ValueError(f"{self.label}: tp penalty order m must be a positive integer")
        m = int(m)
        if 2 * m <= d:
            # mgcv silently falls back to the default order; say so
            warn_reset(f"{self.label}: m={m} needs 2m > d={d}; using the default order")
            return default_penalty_order(d)
        return m

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        x = numeric_matrix(data, self.variables, self.label)
        n, d = x.shape
        shift = x.mean(axis=0)
        xc = x - shift
        m = self._order(d)
        powers = tps_null_space_powers(m, d)
        M = len(powers)
        k = self.k_user
        if k is None or k < 0:
            k = M + _DEFAULT_K_EXTRA[min(d, 3) - 1]
        if k < M + 1:
            warn_reset(f"{self.label}: basis dimension k={k} increased to minimum possible {M + 1}")
            k = M + 1
        if self.knots is not None:
            raise NotImplementedError(f"{self.label}: user knots are not supported for bs='tp'")
        # mgcv's knots: the unique rows, sorted; inv maps each data row to its knot
        xu, inv = np.unique(xc, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        if n > self.max_knots and xu.shape[0] > self.max_knots:
            # mgcv draws with R's sampler from uniquecombs(x, TRUE)'s rows (a text order
            # for d > 1), then sorts the drawn knots numerically, as the unique rows
            pool = r_uniquecombs_ordered(xc) if d > 1 else xu
            xu = np.unique(pool[r_sample(pool.shape[0], self.max_knots, self.seed)], axis=0)
            inv = None  # the data rows are no longer all knots
        nu = xu.shape[0]
        if nu < k:
            raise ValueError(
                f"{self.label}: k={k} is larger than the number of unique covariate "
                f"combinations ({nu}); reduce k"
            )
        # a few dozen small products: one BLAS thread avoids waking idle ones per call
        with _one_blas_thread():
            E = tps_eta_matrix(xu, xu, m, d)
            T = _poly_matrix(xu, powers)
            if nu == k:
                Z = householder_qt_null_space(T.T)
                UZ = Z
                Sp = Z.T @ E @ Z
            else:
                res = lanczos_eigen(E, k, -1, tol=_LANCZOS_TOL, reference_blas=False)
                if not res.converged:
                    raise np.linalg.LinAlgError(
                        f"{self.label}: the Lanczos iteration for the thin-plate basis did "
                        "not converge"
                    )
                lam, U = res.values, res.vectors
                order = np.argsort(-lam, kind="stable")  # mgcv: decreasing signed order
                lam, U = lam[order], U[:, order]
                Z = householder_qt_null_space(T.T @ U)
                UZ = U @ Z
                Sp = Z.T @ (lam[:, None] * Z)
            S = np.zeros((k, k))
            S[: k - M, : k - M] = 0.5 * (Sp + Sp.T)
            state = {"shift": shift, "knots": xu, "UZ": UZ, "m": m, "d": d, "powers": powers}
            if inv is not None:
                # every data row is a knot: mgcv's rows are those of U diag(v) Z (= E U Z
                # for exact eigenvectors; not for the Lanczos ones of small eigenvalues)
                EUZ = E @ UZ if nu == k else (U * lam) @ Z
                X = np.column_stack([EUZ[inv], _poly_matrix(xc, powers)])
            else:
                X = self._rows(state, xc, w=None)
        # mgcv rescales every column to root-mean-square 1 over the data
        w = np.sqrt(np.mean(X * X, axis=0))
        w[w == 0] = 1.0
        X = X / w
        S = S / np.outer(w, w)
        state["w"] = w
        return RawSmooth(X=X, S=S, null_dim=M, rank=k - M, k=k, state=state, knots=xu + shift)

    @staticmethod
    def _rows(state: dict, xc: np.ndarray, w: np.ndarray | None) -> np.ndarray:
        xu, UZ = state["knots"], state["UZ"]
        n = xc.shape[0]
        q = UZ.shape[1]
        M = len(state["powers"])
        out = np.empty((n, q + M))
        out[:, q:] = _poly_matrix(xc, state["powers"])
        out[:, :q] = tps_eta_matrix(xc, xu, state["m"], state["d"], right=UZ)
        if w is not None:
            out /= w
        return out

    def _predict_raw(self, state: dict, newdata: pd.DataFrame) -> np.ndarray:
        x = numeric_matrix(newdata, self.variables, self.label)
        return self._rows(state, x - state["shift"], state["w"])
