"""mgcv's low-rank Gaussian-process smooth ``s(x, y, bs='gp', k=K, m=(type, rho, power))``.

Kammann & Wand (2003) low-rank kriging as mgcv's ``smooth.construct.gp.smooth.spec``
builds it (written here from its documented steps, DESIGN.md section 6):

1. knots: the unique covariate rows in the order of mgcv's ``uniquecombs(x, TRUE)`` (for
   d >= 2 rows are keyed by R's ``paste0`` text of their values, 15 significant digits,
   and sorted as C-locale strings; for d = 1 sorted numerically), a random subset of
   ``max_knots`` = 2000 when there are more (numpy's generator with ``seed``, so not R's
   subset), or user ``knots``. The order matters for ``eigen='mgcv'`` only;
2. data and knots are centred by the data's column means (kept for prediction);
3. ``rho <= 0`` or absent -> the largest distance between knots;
4. E = knot correlation matrix; null space ``[1, x, y, ...]``, or ``[1]`` for a negative
   type; ``k_rank = K - null_dim``;
5. ``k_rank`` < number of knots: the ``k_rank`` eigenpairs of E of largest magnitude
   (values lam, vectors U): basis ``[c(x, knots) U, T(x)]``, penalty ``diag(lam, 0..0)``;
   otherwise basis ``[c(x, knots), T(x)]`` and penalty ``[[E, 0], [0, 0]]``.

The eigenpairs: ``eigen='mgcv'`` (default) runs mgcv's own Lanczos process
(:func:`~spatialgamm.terms.smooths.lanczos.lanczos_eigen`, as ``slanczos(E, k_rank, -1)``),
which stops once the eigen*values* have converged, so the vectors of the smallest kept
eigenvalues are only approximate eigenvectors -- exactly as in mgcv, whose fits depend on
them when the smoothing parameter is tiny. ``eigen='exact'`` uses LAPACK's exact
eigendecomposition: the same space for the leading directions, a cleaner basis, but fits
that can differ from mgcv's.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from ...kernels import MgcvGPCorrelation, pairwise_distance
from .base import RawSmooth, SmoothBasis, numeric_matrix, warn_reset
from .lanczos import lanczos_eigen

__all__ = [
    "GPSmooth",
    "mgcv_knot_correlation",
    "mgcv_knot_distances",
    "mgcv_unique_rows",
    "parse_gp_m",
    "r_as_character",
]

_DEFAULT_K_EXTRA = (10, 30, 100)  # mgcv def.k: default K = d + 1 + def.k[d]
_EIGEN_METHODS = ("mgcv", "exact")


def r_as_character(x: float) -> str:
    """R's ``as.character`` of a finite double (15 significant digits, R's fixed/sci choice).

    R writes the shortest of fixed and scientific notation (fixed on ties, ``scipen = 0``)
    with the fewest significant digits (at most 15) that represent the value.

    Examples
    --------
    >>> [r_as_character(v) for v in (100000.0, 123456.0, 0.1 + 0.2, 1e-05, -6050.0)]
    ['1e+05', '123456', '0.3', '1e-05', '-6050']
    """
    if x == 0:
        return "0"
    mant, ex = f"{x:.14e}".split("e")
    kp = int(ex)  # decimal exponent after rounding to 15 significant digits
    nsig = max(1, len(mant.lstrip("-").replace(".", "").rstrip("0")))
    neg = int(x < 0)
    rgt = max(0, nsig - kp - 1)  # digits right of the point in fixed notation
    width_fixed = neg + (kp + 1 if kp >= 0 else 1) + rgt + (rgt > 0)
    width_sci = neg + (nsig > 1) + (nsig - 1) + 4 + (2 if abs(kp) >= 100 else 1)
    if width_fixed <= width_sci:
        return f"{x:.{rgt}f}"
    return f"{x:.{nsig - 1}e}"


def mgcv_unique_rows(x: np.ndarray) -> np.ndarray:
    """Unique rows of ``x`` in the order of mgcv's ``uniquecombs(x, ordered=TRUE)``.

    One column: sorted unique values. Several: rows are keyed by ``paste0`` of R's text of
    their values joined by ``"*"``; the first row of each key is kept and keys are sorted
    as C-locale (byte) strings. This fixes the knot order of mgcv's gp smooth, on which
    the Lanczos start vector (and so mgcv's basis) depends.

    Examples
    --------
    >>> mgcv_unique_rows(np.array([[-200.0, 1.0], [-1000.0, 2.0], [-200.0, 1.0]]))
    array([[-1000.,     2.],
           [ -200.,     1.]])
    """
    if x.shape[1] == 1:
        return np.unique(x[:, 0])[:, None]
    keys = ["*".join(r_as_character(v) for v in row) for row in x.tolist()]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    return x[[first[key] for key in sorted(first)]]


def parse_gp_m(m: Any) -> tuple[int, float, float]:
    """mgcv's ``m = c(type, rho, power)`` with its defaults (3, -1, 1).

    Examples
    --------
    >>> parse_gp_m((2, 0.5))
    (2, 0.5, 1.0)
    """
    if m is None:
        return (3, -1.0, 1.0)
    vals = [m] if np.isscalar(m) else list(m)
    if len(vals) == 0:
        return (3, -1.0, 1.0)
    if len(vals) > 3:
        raise ValueError(f"gp m must be (type, rho, power), got m={m!r}")
    tf = float(vals[0])
    if not np.isfinite(tf) or abs(round(tf)) not in (1, 2, 3, 4, 5):
        raise ValueError(f"gp type must be one of +-1..5, got type={vals[0]!r} in m={m!r}")
    rho = float(vals[1]) if len(vals) > 1 and vals[1] is not None else -1.0
    if np.isnan(rho):
        raise ValueError(f"gp range rho is NaN in m={m!r}")
    power = float(vals[2]) if len(vals) > 2 and vals[2] is not None else 1.0
    if not (0.0 < power <= 2.0):
        raise ValueError(f"gp power must satisfy 0 < power <= 2, got power={power!r}")
    return (int(round(tf)), rho, power)


def mgcv_knot_distances(kc: np.ndarray) -> np.ndarray:
    """Knot distances computed as mgcv's ``gpE`` does, to the last bit.

    ``sqrt(rowSums((x_i - x_j)^2))``: R's ``rowSums`` adds in long double (80-bit on x86)
    and rounds once to double; numpy's ``longdouble`` does the same where it exists.

    Examples
    --------
    >>> mgcv_knot_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[0., 5.],
           [5., 0.]])
    """
    acc = np.zeros((kc.shape[0],) * 2, dtype=np.longdouble)
    for c in range(kc.shape[1]):
        diff = kc[:, None, c] - kc[None, :, c]
        acc += diff * diff
    return np.sqrt(acc.astype(np.float64))


def mgcv_knot_correlation(r: np.ndarray, gtype: int, power: float = 1.0) -> np.ndarray:
    """mgcv's ``gpE`` correlation of scaled distances ``r = d / rho``, to the last bit.

    The knot correlation matrix feeds the Lanczos iteration, which amplifies its rounding
    in the vectors of small eigenvalues; so it is evaluated with mgcv's expressions in
    mgcv's order, with the C library's ``exp`` and ``pow`` (as R uses) rather than numpy's
    vectorised versions, which may differ in the last bit. The basis at the data uses
    :class:`~spatialgamm.kernels.MgcvGPCorrelation` (equal to rounding).

    Examples
    --------
    >>> mgcv_knot_correlation(np.array([0.0, 1.0]), 3).round(6).tolist()
    [1.0, 0.735759]
    """
    r = np.asarray(r, dtype=float)

    def libm(fun, x: np.ndarray, *args: float) -> np.ndarray:
        # upper triangle only for square symmetric input: half the scalar calls
        if x.ndim == 2 and x.shape[0] == x.shape[1] and np.array_equal(x, x.T):
            iu = np.triu_indices(x.shape[0])
            out = np.empty_like(x)
            vals = np.array([fun(v, *args) for v in x[iu].tolist()], dtype=float)
            out[iu] = vals
            out[iu[1], iu[0]] = vals
            return out
        flat = [fun(v, *args) for v in x.ravel().tolist()]
        return np.array(flat, dtype=float).reshape(x.shape)

    if gtype == 1:  # spherical: (1 - 1.5 r + 0.5 r^3) * (r <= 1)
        return (1.0 - 1.5 * r + 0.5 * libm(math.pow, r, 3.0)) * (r <= 1.0)
    if gtype == 2:  # power exponential exp(-r^k); R's ^ squares for k = 2
        rk = r * r if power == 2.0 else libm(math.pow, r, power)
        return libm(math.exp, -rk)
    eE = libm(math.exp, -r)
    if gtype == 3:
        return (1.0 + r) * eE
    if gtype == 4:
        return eE + (r * eE) * (1.0 + r / 3.0)
    if gtype == 5:
        return eE + (r * eE) * (1.0 + 0.4 * r + (r * r) / 15.0)
    raise ValueError(f"gp type must be one of 1..5, got {gtype!r}")


def _top_eigen(E: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenpairs of symmetric E of largest magnitude, by decreasing value."""
    n = E.shape[0]
    if n <= 400:
        lam, U = np.linalg.eigh(E)
        idx = np.argsort(-np.abs(lam), kind="stable")[:k]
    else:
        # correlation matrices are positive semi-definite: the top of the spectrum is
        # what we want unless a large negative eigenvalue (invalid kernel) competes
        lam, U = sla.eigh(E, subset_by_index=[n - k, n - 1])
        low = sla.eigh(E, eigvals_only=True, subset_by_index=[0, 0])[0]
        if low < 0 and -low > lam.min():
            lam, U = np.linalg.eigh(E)
            idx = np.argsort(-np.abs(lam), kind="stable")[:k]
        else:
            idx = np.arange(k)
    lam, U = lam[idx], U[:, idx]
    order = np.argsort(-lam, kind="stable")
    lam, U = lam[order], U[:, order]
    # fix the arbitrary eigenvector signs (largest entry positive) for reproducibility
    big = np.argmax(np.abs(U), axis=0)
    U = U * np.sign(U[big, np.arange(U.shape[1])])
    return lam, U


class GPSmooth(SmoothBasis):
    """``s(..., bs='gp')``: mgcv's low-rank GP (kriging) smooth of any dimension.

    Parameters
    ----------
    *variables : str
        Covariate columns (coordinates).
    k : int, optional
        Basis dimension before the centring constraint (default ``d + 1 + (10, 30, 100)[d-1]``).
    m : sequence, optional
        ``(type, rho, power)``: type 1 spherical, 2 power exponential, 3 Matern 3/2
        (default), 4 Matern 5/2, 5 Matern 7/2; negative type = constant-only null space;
        ``rho <= 0``/absent = the largest knot distance; ``power`` for type 2.
    knots : DataFrame or array, optional
        Knot coordinates (columns named as the variables, or an (nk, d) array).
    max_knots, seed : int
        Knot subsampling when there are more unique rows than ``max_knots`` (2000).
    eigen : {'mgcv', 'exact'}
        How the leading eigenpairs of the knot correlation matrix are found: ``'mgcv'``
        (default) by mgcv's Lanczos process, reproducing mgcv's basis (see the module
        docstring); ``'exact'`` by a full LAPACK eigendecomposition.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"x": rng.uniform(size=40), "y": rng.uniform(size=40)})
    >>> sm = GPSmooth("x", "y", k=12, m=(3, 0.5)).construct(d)
    >>> sm.X.shape, sm.gp_defn
    ((40, 11), (3, 0.5, 1.0))
    """

    bs = "gp"

    def _check_options(self) -> None:
        self.max_knots = int(self.options.pop("max_knots", 2000))
        self.seed = int(self.options.pop("seed", 1))
        self.eigen = self.options.pop("eigen", "mgcv")
        if self.eigen not in _EIGEN_METHODS:
            raise ValueError(
                f"gp eigen must be one of {_EIGEN_METHODS}, got eigen={self.eigen!r}"
            )
        super()._check_options()
        self.defn_in = parse_gp_m(self.m)

    def _knots_array(self, d: int) -> np.ndarray | None:
        if self.knots is None:
            return None
        if isinstance(self.knots, pd.DataFrame):
            missing = [v for v in self.variables if v not in self.knots.columns]
            if missing:
                raise KeyError(f"{self.label}: knots lack column(s) {missing}")
            kn = self.knots[list(self.variables)].to_numpy(dtype=float)
        elif isinstance(self.knots, dict):
            kn = np.column_stack([np.asarray(self.knots[v], dtype=float) for v in self.variables])
        else:
            kn = np.asarray(self.knots, dtype=float)
            kn = kn[:, None] if kn.ndim == 1 else kn
        if kn.ndim != 2 or kn.shape[1] != d:
            raise ValueError(f"{self.label}: knots must have {d} column(s), got shape {kn.shape}")
        if np.isnan(kn).any():
            raise ValueError(f"{self.label}: knots contain NaN")
        return kn

    def _setup(self, data: pd.DataFrame) -> RawSmooth:
        x = numeric_matrix(data, self.variables, self.label)
        n, d = x.shape
        xu = mgcv_unique_rows(x)
        nu = xu.shape[0]
        k = self.k_user
        if k is None or k < 0:
            k = d + 1 + _DEFAULT_K_EXTRA[min(d, 3) - 1]
        if nu < k:
            raise ValueError(
                f"{self.label}: k={k} is larger than the number of unique locations ({nu}) "
                f"of {', '.join(self.variables)}; reduce k"
            )
        if k < d + 2:
            warn_reset(f"{self.label}: basis dimension k={k} reset to minimum possible {d + 2}")
            k = d + 2
        knt = self._knots_array(d)
        if knt is not None and knt.shape[0] > n:
            warn_reset(f"{self.label}: more knots than data: knots ignored")
            knt = None
        if knt is None:
            if n > self.max_knots and nu > self.max_knots:
                rng = np.random.default_rng(self.seed)
                knt = xu[np.sort(rng.choice(nu, self.max_knots, replace=False))]
            else:
                knt = xu
        shift = x.mean(axis=0)
        xc = x - shift
        kc = knt - shift
        gtype, rho, power = self.defn_in
        dk = mgcv_knot_distances(kc)
        if rho <= 0:
            rho = float(dk.max())
            if rho <= 0:
                raise ValueError(f"{self.label}: all knots coincide; cannot set the GP range")
        corr = MgcvGPCorrelation(gtype, rho, power)
        E = mgcv_knot_correlation(dk / rho, abs(gtype), power)
        stationary = gtype < 0
        null_dim = 1 if stationary else d + 1
        nk = kc.shape[0]
        k_rank = k - null_dim
        if k_rank < nk:
            lam = U = None
            if self.eigen == "mgcv":
                try:
                    res = lanczos_eigen(E, k_rank, -1)
                    lam, U = res.values, res.vectors
                except np.linalg.LinAlgError as exc:
                    # e.g. E = identity (knots far apart relative to the range): the
                    # Krylov space closes at once; mgcv returns NaN there, we go exact
                    warnings.warn(f"{self.label}: {exc}; using eigen='exact'",
                                  UserWarning, stacklevel=4)
            if lam is None:
                lam, U = _top_eigen(E, k_rank)
            S = np.zeros((k, k))
            S[np.arange(k_rank), np.arange(k_rank)] = lam
        elif k_rank == nk:
            U = np.eye(nk)
            S = np.zeros((k, k))
            S[:nk, :nk] = E
        else:
            raise ValueError(
                f"{self.label}: k={k} needs at least {k_rank} knots, got {nk}"
            )
        state = {
            "shift": shift,
            "knots": kc,
            "U": U,
            "corr": corr,
            "stationary": stationary,
            "d": d,
        }
        X = self._basis_rows(state, xc)
        return RawSmooth(
            X=X,
            S=S,
            null_dim=null_dim,
            rank=k_rank,
            k=k,
            state=state,
            knots=knt,
            gp_defn=corr.defn,
        )

    @staticmethod
    def _basis_rows(state: dict, xc: np.ndarray) -> np.ndarray:
        kc, U, corr = state["knots"], state["U"], state["corr"]
        n = xc.shape[0]
        T = np.ones((n, 1)) if state["stationary"] else np.column_stack([np.ones(n), xc])
        out = np.empty((n, U.shape[1] + T.shape[1]))
        out[:, U.shape[1]:] = T
        # chunk rows so that no n x n_knots block is ever larger than ~16 MB
        step = max(1, 2_000_000 // max(1, kc.shape[0]))
        for i in range(0, n, step):
            out[i : i + step, : U.shape[1]] = corr(pairwise_distance(xc[i : i + step], kc)) @ U
        return out

    def _predict_raw(self, state: dict, newdata: pd.DataFrame) -> np.ndarray:
        x = numeric_matrix(newdata, self.variables, self.label)
        return self._basis_rows(state, x - state["shift"])
