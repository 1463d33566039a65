"""The smooth-basis protocol shared by every ``bs``: construct, constrain, predict.

A basis object holds what the user wrote in ``s(...)`` (variables, ``k``, ``m``, ``by``,
knots). ``construct(data)`` builds the *unconstrained* basis and penalty (each ``bs``
implements ``_setup`` and ``_predict_raw``), then does what mgcv's ``smoothCon`` does with
``absorb.cons=TRUE``:

1. penalty scaling: ``S <- S / S_scale`` with ``S_scale = ||S||_1 / ||X||_inf^2`` on the
   unconstrained basis, so that smoothing parameters mean what they mean in mgcv;
2. a numeric ``by`` multiplies the rows (and, unless it is constant, removes the centring
   constraint); a factor ``by`` gives one smooth per level, each keeping the constraint
   (mgcv ``?gam.models``: "when using factor by variables, centering constraints are
   applied to the smooths");
3. the centring constraint ``1' X b = 0`` (C = column sums of the unconstrained basis) is
   absorbed with the null space of C from a Householder QR of C': ``X <- X Z``,
   ``S <- Z' S Z``, Z = the last K - 1 columns of Q.

The fitted-value space and the penalty are mgcv's; the particular rotation Z may differ
from mgcv's LINPACK one, which changes coefficients but neither fits nor ``sp``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sps

__all__ = ["SmoothSpec", "SmoothBasis", "RawSmooth", "is_factor", "factor_levels"]


# --------------------------------------------------------------------------------------
# data helpers
# --------------------------------------------------------------------------------------


def is_factor(values: pd.Series | np.ndarray) -> bool:
    """True for categorical, string/object and boolean columns (R factors)."""
    dtype = getattr(values, "dtype", np.asarray(values).dtype)
    return bool(
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


def factor_levels(values: pd.Series) -> list:
    """Levels in R's order: a Categorical's categories, otherwise the sorted unique values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return sorted(pd.unique(values.dropna()))


def is_ordered(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) and bool(values.cat.ordered)


def _require_columns(data: pd.DataFrame, names: tuple[str, ...], what: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data for {what} must be a pandas DataFrame, got {type(data).__name__}")
    missing = [v for v in names if v not in data.columns]
    if missing:
        raise KeyError(f"{what}: column(s) {missing} not found in data")


def numeric_matrix(data: pd.DataFrame, names: tuple[str, ...], label: str) -> np.ndarray:
    """The named columns as an (n, d) float array; factors and NaN are errors."""
    _require_columns(data, names, label)
    cols = []
    for v in names:
        col = data[v]
        if is_factor(col):
            if len(names) == 1:
                raise ValueError(f"{label} is a factor: use bs='re'")
            raise ValueError(f"{label}: variable {v!r} is a factor: use bs='re'")
        arr = np.asarray(col, dtype=float)
        if np.isnan(arr).any():
            raise ValueError(f"{label}: column {v!r} contains NaN/missing values")
        if not np.isfinite(arr).all():
            raise ValueError(f"{label}: column {v!r} contains infinite values")
        cols.append(arr)
    return np.column_stack(cols) if cols else np.empty((len(data), 0))


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RawSmooth:
    """What a ``bs`` constructor returns: the basis before scaling and constraints.

    ``state`` holds everything ``_predict_raw`` needs (knots, shifts, eigenvectors ...).
    """

    X: np.ndarray | sps.spmatrix
    S: np.ndarray
    null_dim: int
    rank: int
    k: int
    state: dict = field(default_factory=dict)
    knots: Any = None
    gp_defn: tuple | None = None


@dataclass(frozen=True, eq=False)
class SmoothSpec:
    """One constructed smooth: basis, penalty and how to rebuild the basis on new data.

    Attributes
    ----------
    label : str
        mgcv's label, e.g. ``"s(cX,cY)"``, ``"s(herd)"``, ``"s(x2):fac2"``.
    bs : str
        Basis type.
    variables : tuple of str
        The smooth's covariates.
    X : ndarray or scipy.sparse matrix
        n x p basis *after* the centring constraint (p = k - 1 for centred smooths);
        ``bs='re'`` gives a sparse CSC matrix.
    S : ndarray
        p x p penalty after the constraint, on mgcv's scale (``sp`` multiplies it).
    S_scale : float
        mgcv's ``S.scale``: the unscaled penalty (e.g. the integrated squared second
        derivative for ``cr``) is ``S * S_scale``.
    null_dim, rank : int
        Dimension of S's null space and rank of S (after the constraint).
    k_user : int or None
        The ``k`` the user asked for (mgcv's basis dimension before the constraint).
    k : int
        The basis dimension actually used before the constraint.
    knots : object
        Knot information (array of knots; for ``gp`` the knot coordinates).
    by, by_level : str or None
        The ``by`` variable and, for a factor ``by``, this smooth's level.
    gp_defn : tuple or None
        ``(type, rho, power)`` as mgcv's ``gp.defn`` for ``bs='gp'``.
    Z : ndarray or None
        The constraint's null-space basis (k x (k-1)), None when unconstrained.
    """

    label: str
    bs: str
    variables: tuple[str, ...]
    X: np.ndarray | sps.spmatrix
    S: np.ndarray
    S_scale: float
    null_dim: int
    rank: int
    k_user: int | None
    k: int
    knots: Any = None
    by: str | None = None
    by_level: Any = None
    gp_defn: tuple | None = None
    Z: np.ndarray | None = field(default=None, repr=False)
    basis: SmoothBasis | None = field(default=None, repr=False)
    state: dict = field(default_factory=dict, repr=False)
    by_numeric: bool = False

    @property
    def n_coef(self) -> int:
        """Number of coefficients (columns of X)."""
        return int(self.X.shape[1])

    @property
    def centred(self) -> bool:
        """Whether the sum-to-zero constraint was absorbed."""
        return self.Z is not None

    def predict_matrix(self, newdata: pd.DataFrame) -> np.ndarray | sps.spmatrix:
        """Basis rows for ``newdata``: same knots, shifts, constraint and ``by`` handling.

        Examples
        --------
        >>> import pandas as pd, numpy as np
        >>> from spatialgamm.terms.smooths import make_basis
        >>> d = pd.DataFrame({"x": np.linspace(0, 1, 30)})
        >>> sm = make_basis("cr", "x", k=5).construct(d)
        >>> np.allclose(sm.predict_matrix(d), sm.X)
        True
        """
        assert self.basis is not None
        Xr = self.basis._predict_raw(self.state, newdata)
        if self.by is not None:
            _require_columns(newdata, (self.by,), self.label)
            byv = newdata[self.by]
            if self.by_numeric:
                w = np.asarray(byv, dtype=float)
                if np.isnan(w).any():
                    raise ValueError(f"{self.label}: by variable {self.by!r} contains NaN")
                Xr = _scale_rows(Xr, w)
        if self.Z is not None:
            Xr = Xr @ self.Z
        if self.by is not None and not self.by_numeric:
            ind = np.asarray(newdata[self.by] == self.by_level, dtype=float)
            Xr = _scale_rows(Xr, ind)
        return Xr


def _scale_rows(X, w: np.ndarray):
    if sps.issparse(X):
        return sps.csc_matrix(sps.diags(w) @ X)
    return X * w[:, None]


# --------------------------------------------------------------------------------------
# constraint and penalty scaling (mgcv smoothCon)
# --------------------------------------------------------------------------------------


def centring_null_space(X: np.ndarray | sps.spmatrix) -> np.ndarray:
    """Z (K x K-1) spanning the null space of C = 1' X, from a Householder QR of C'.

    Examples
    --------
    >>> X = np.random.default_rng(1).normal(size=(20, 4))
    >>> Z = centring_null_space(X)
    >>> bool(np.allclose((X @ Z).sum(axis=0), 0))
    True
    """
    C = np.asarray(X.sum(axis=0)).reshape(1, -1)
    K = C.shape[1]
    if not np.any(C):
        # mgcv's "indi" branch: a zero constraint leaves nothing to absorb; keep columns
        # 2..K so that the dimension bookkeeping stays that of a constrained smooth.
        return np.eye(K)[:, 1:]
    Q, _ = np.linalg.qr(C.T, mode="complete")
    return Q[:, 1:]


def mgcv_penalty_scale(X: np.ndarray | sps.spmatrix, S: np.ndarray) -> float:
    """mgcv's ``S.scale = ||S||_1 / ||X||_inf^2`` (max column / max row absolute sums)."""
    if sps.issparse(X):
        xinf = float(abs(X).sum(axis=1).max()) if X.shape[0] else 0.0
    else:
        xinf = float(np.abs(X).sum(axis=1).max()) if X.shape[0] else 0.0
    s1 = float(np.abs(S).sum(axis=0).max()) if S.size else 0.0
    if xinf == 0 or s1 == 0:
        return 1.0
    return s1 / xinf**2


# --------------------------------------------------------------------------------------
# the basis base class
# --------------------------------------------------------------------------------------


class SmoothBasis:
    """Base class of ``s(...)`` bases; subclasses set ``bs`` and implement two hooks.

    ``_setup(data) -> RawSmooth`` builds the unconstrained basis, and
    ``_predict_raw(state, newdata)`` evaluates it on new data from ``RawSmooth.state``.
    """

    bs: str = ""
    centred: bool = True  # mgcv's default sum-to-zero constraint ('re' sets False)

    def __init__(
        self,
        *variables: str,
        k: int | None = None,
        m: Any = None,
        by: str | None = None,
        knots: Any = None,
        **kw: Any,
    ) -> None:
        if len(variables) == 1 and not isinstance(variables[0], str):
            variables = tuple(variables[0])
        if not variables or not all(isinstance(v, str) for v in variables):
            raise ValueError(f"s(): variables must be column names, got {variables!r}")
        if k is not None:
            if int(k) != k:
                raise ValueError(f"k must be an integer, got k={k!r}")
            k = int(k)
        self.variables: tuple[str, ...] = tuple(variables)
        self.k_user = k
        self.m = m
        self.by = by
        self.knots = knots
        self.options = dict(kw)
        self._check_options()

    # ---- hooks ----------------------------------------------------------------------
    def _check_options(self) -> None:
        if self.options:
            raise TypeError(
                f"unknown argument(s) {sorted(self.options)} for bs={self.bs!r}"
            )

    def _setup(self, data: pd.DataFrame) -> RawSmooth:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_raw(self, state: dict, newdata: pd.DataFrame):  # pragma: no cover
        raise NotImplementedError

    # ---- labels ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """mgcv's label without the ``by`` part, e.g. ``s(cX,cY)``."""
        return "s(" + ",".join(self.variables) + ")"

    def __repr__(self) -> str:
        parts = [", ".join(self.variables), f"bs={self.bs!r}"]
        if self.k_user is not None:
            parts.append(f"k={self.k_user}")
        if self.m is not None:
            parts.append(f"m={self.m!r}")
        if self.by is not None:
            parts.append(f"by={self.by!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---- construction ---------------------------------------------------------------
    def construct(self, data: pd.DataFrame) -> SmoothSpec:
        """Build the smooth on ``data`` (no ``by`` or a numeric ``by``).

        A factor ``by`` gives one smooth per level: use :meth:`construct_all` or
        :func:`~spatialgamm.terms.smooths.construct_by`.
        """
        specs = self.construct_all(data)
        if len(specs) != 1:
            raise ValueError(
                f"{self.label} with factor by={self.by!r} gives {len(specs)} smooths "
                "(one per level): use construct_all() or construct_by()"
            )
        return specs[0]

    def construct_raw(self, data: pd.DataFrame) -> RawSmooth:
        """The constructor's output before penalty scaling, ``by`` and constraints.

        This is what mgcv's ``smoothCon(..., absorb.cons=FALSE, scale.penalty=FALSE)``
        returns (``X``, ``S``), useful for checking a basis against mgcv.
        """
        _require_columns(data, self.variables, self.label)
        if len(data) == 0:
            raise ValueError(f"{self.label}: data has no rows")
        return self._setup(data)

    def predict_raw(self, raw: RawSmooth, newdata: pd.DataFrame):
        """Unconstrained basis rows for ``newdata`` (mgcv's ``PredictMat`` of the raw smooth)."""
        return self._predict_raw(raw.state, newdata)

    def construct_all(self, data: pd.DataFrame) -> list[SmoothSpec]:
        """All smooths this term makes: one, or one per level of a factor ``by``."""
        raw = self.construct_raw(data)
        # mgcv scales the penalty on the unconstrained basis before by and constraints
        S_scale = mgcv_penalty_scale(raw.X, raw.S)
        S = raw.S / S_scale
        X = raw.X
        centred = self.centred
        by_numeric = False
        levels: list = [None]
        if self.by is not None:
            _require_columns(data, (self.by,), self.label)
            byv = data[self.by]
            if is_factor(byv):
                if byv.isna().any():
                    raise ValueError(f"{self.label}: by variable {self.by!r} has missing values")
                levels = factor_levels(byv)
                if is_ordered(byv) and len(levels) > 1:
                    levels = levels[1:]  # mgcv: no smooth for an ordered factor's first level
            else:
                by_numeric = True
                w = np.asarray(byv, dtype=float)
                if np.isnan(w).any():
                    raise ValueError(f"{self.label}: by variable {self.by!r} contains NaN")
                X = _scale_rows(X, w)
                # mgcv keeps the constraint only for a constant numeric by
                if np.ptp(w) > abs(np.mean(w)) * np.finfo(float).eps * 1000:
                    centred = False
        Z = centring_null_space(raw.X) if centred else None
        if Z is not None:
            X = X @ Z
            S = Z.T @ S @ Z
            S = 0.5 * (S + S.T)
            rank = min(raw.rank, raw.k - 1)
            null_dim = max(0, raw.null_dim - 1)
        else:
            rank, null_dim = raw.rank, raw.null_dim
        if sps.issparse(X):
            X = sps.csc_matrix(X)
        specs = []
        for lev in levels:
            if lev is None:
                Xl = X
                label = self.label if self.by is None else f"{self.label}:{self.by}"
            else:
                ind = np.asarray(data[self.by] == lev, dtype=float)
                Xl = _scale_rows(X, ind)
                label = f"{self.label}:{self.by}{lev}"
            specs.append(
                SmoothSpec(
                    label=label,
                    bs=self.bs,
                    variables=self.variables,
                    X=Xl,
                    S=S,
                    S_scale=S_scale,
                    null_dim=null_dim,
                    rank=rank,
                    k_user=self.k_user,
                    k=raw.k,
                    knots=raw.knots,
                    by=self.by,
                    by_level=lev,
                    gp_defn=raw.gp_defn,
                    Z=Z,
                    basis=self,
                    state=raw.state,
                    by_numeric=by_numeric,
                )
            )
        return specs


def warn_reset(msg: str) -> None:
    """mgcv resets impossible basis dimensions with a warning; so do we."""
    warnings.warn(msg, UserWarning, stacklevel=4)
