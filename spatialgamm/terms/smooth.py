"""mgcv smooths ``s(...)`` as blocks: the mixed-model representation of a penalised basis.

A constructed smooth (basis ``X`` after the centring constraint, penalty ``S`` on mgcv's
scale) is re-parameterised once (Wood 2017, sec. 5.8; gamm4's construction): with
``S = U diag(d) U'``, the penalised directions ``X U_r diag(d_r)^-1/2`` become the block's
``Z`` with an identity penalty, and the null-space directions ``X U_0`` become unpenalised
columns of the fixed-effect matrix. Then ``Lambda = exp(phi) I`` and mgcv's smoothing
parameter is ``sp = exp(-2 phi)``; the variance component (``gam.vcomp``) is
``scale / sp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FormulaError
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, register_term
from .smooths import SmoothSpec, make_basis

PHI_BOUND = 20.0  # sp in [exp(-40), exp(40)]: wide enough for any real smoothing problem
# multi-penalty (precision) blocks put sp_j S_j into A = Z'WZ + P unscaled: above sp = e^20
# (penalties are on the data's scale, so the smooth is long flat there) A loses all precision
MULTI_PHI_LOWER = 10.0


@dataclass
class SmoothTerm(LatentTerm):
    """One smooth ``s(...)`` (one level of a factor ``by``) in mixed-model form."""

    abilities = frozenset({Ability.SMOOTH, Ability.LAMBDA_JACOBIAN})

    spec: SmoothSpec
    U_range: np.ndarray  # k x r, scaled by d^-1/2
    U_null: np.ndarray  # k x m
    name: str

    #: one penalty: the smoothing parameter is labelled by the smooth's name
    sp_labels = None

    @property
    def phi_names(self) -> list[str]:
        """phi is the log of the smooth's SD relative to the scale (``sp = exp(-2 phi)``)."""
        return ["log_sd"]

    @property
    def spatial_coords(self) -> tuple[str, ...] | None:
        return self.spec.variables if self.spec.bs == "gp" and len(self.spec.variables) == 2 \
            else None

    #: phi is log(relative SD): the engine may choose a data-based start (see
    #: LatentSystem.data_start), as mgcv's initial.sp balances penalty and data
    log_scale_start = True

    @property
    def rank(self) -> int:
        return self.U_range.shape[1]

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        return np.full(self.rank, float(np.exp(phi[0])))

    def lambda_jacobian(self, phi: np.ndarray) -> np.ndarray:
        """d(lambda_values)/d phi, exactly (d exp(phi) = exp(phi)): the GCV/UBRE and REML
        gradients call this at every evaluation, where central differences cost more."""
        return self.lambda_values(phi)[:, None]

    def sp(self, phi: np.ndarray) -> float:
        return float(np.exp(-2.0 * phi[0]))

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        return []  # sp at its limits is a legitimate answer for a smooth (mgcv does not warn)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        sd = float(np.sqrt(scale) * np.exp(phi[0]))
        return [dict(grp=self.name, var1="(Intercept)" if self.spec.bs == "re" else "smooth",
                     var2=None, vcov=sd ** 2, sdcor=sd)]

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[Any, np.ndarray | None]:
        """b-space design rows (and null-space columns) of the smooth at new data."""
        Xn = self.spec.predict_matrix(newdata)
        if sp.issparse(Xn):
            Z = (Xn @ self.U_range)
            Z = sp.csc_matrix(Z)
            F = np.asarray(Xn @ self.U_null) if self.U_null.shape[1] else None
        else:
            Z = Xn @ self.U_range
            F = Xn @ self.U_null if self.U_null.shape[1] else None
        return Z, F

    def coef_from(self, b: np.ndarray, beta_null: np.ndarray) -> np.ndarray:
        """The smooth's coefficients in its own (mgcv) basis from block and null-space parts."""
        d = self.U_range @ b
        if self.U_null.shape[1]:
            d = d + self.U_null @ beta_null
        return d


def _storage(Z: np.ndarray) -> Any:
    """A multi-penalty block's design rows as the block stores them: sparse (csc) when under
    30% of the entries are non-zero (fs, select), dense otherwise (te, ti: a dense csc costs
    the out-of-core statistics pass 40x in its products and conversions)."""
    return sp.csc_matrix(Z) if np.count_nonzero(Z) < 0.3 * Z.size else Z


def _reparameterise(spec: SmoothSpec, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    S = np.asarray(spec.S, dtype=float)
    S = 0.5 * (S + S.T)
    d, U = np.linalg.eigh(S)
    keep = d > tol * max(d.max(), 1e-300)
    Ur = U[:, keep] / np.sqrt(d[keep])
    U0 = _canonical_null_basis(U[:, ~keep])
    # sign convention: the largest-magnitude entry of each direction is positive, so the
    # block's coefficients do not flip with rounding-level changes of S (row order)
    big = np.argmax(np.abs(Ur), axis=0)
    Ur = Ur * np.where(Ur[big, np.arange(Ur.shape[1])] < 0, -1.0, 1.0)
    return Ur, U0


def _canonical_null_basis(U0: np.ndarray) -> np.ndarray:
    """One orthonormal basis of the penalty's null space, whatever basis eigh returned.

    The null space is an eigenspace of a repeated (zero) eigenvalue, so LAPACK may return
    any rotation of it, and a rounding-level change of S (the rows in another order) gives
    another rotation: the reported null-space coefficients changed with row order. The
    projector ``U0 U0'`` is unique; Gram-Schmidt on its columns, taken by
    decreasing diagonal (then index), gives a basis that depends on the space only: for
    a null space spanned by basis columns it is those columns (coefficients as mgcv's).
    """
    m = U0.shape[1]
    if m == 0:
        return U0
    P = U0 @ U0.T
    order = sorted(range(P.shape[0]), key=lambda j: (-round(P[j, j], 8), j))
    out: list[np.ndarray] = []
    for j in order:
        v = P[:, j].copy()
        for _ in range(2):
            for q in out:
                v -= q * (q @ v)
        nv = np.linalg.norm(v)
        if nv > 1e-8:
            out.append(v / nv)
        if len(out) == m:
            break
    return np.column_stack(out)


@register_term("s")
def build_smooth(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
                 ) -> list[Block]:
    """Blocks of ``s(x1, ..., bs=, k=, m=, by=)``; a factor ``by`` gives one block per level."""
    kw = check_arguments(special, {"bs", "k", "m", "by", "knots", "max_knots", "seed", "xt",
                                   "id", "fx", "eigen"})
    for v in special.variables:
        if v not in data.columns:
            raise FormulaError(f"{special.text}: {v!r} is not a column of the data")
        col = data[v]
        if pd.api.types.is_numeric_dtype(col) and col.isna().any():
            raise FormulaError(f"{special.text}: column {v!r} has missing values (NaN)")
        # text that looks like numbers is a data-import slip, not a factor: say so (except
        # where a factor is expected: bs='re', and bs='fs', whose factor may be any variable)
        factor_ok = str(kw.get("bs", "")).lower() in ("re", "fs")
        if (not factor_ok and not pd.api.types.is_numeric_dtype(col)
                and not isinstance(col.dtype, pd.CategoricalDtype)
                and pd.to_numeric(col, errors="coerce").notna().all()):
            raise FormulaError(f"{special.text}: column {v!r} holds numbers stored as text "
                               f"(dtype {col.dtype}); convert it with astype(float)")
    if str(kw.get("bs", "")).lower() == "fs":
        return _build_fs(special, data, kw)
    fx = bool(kw.pop("fx", False))
    kw.pop("xt", None)
    kw.pop("id", None)
    basis = make_basis(kw.pop("bs", None), special.variables, k=kw.pop("k", None),
                       m=kw.pop("m", None), by=kw.pop("by", None), **kw)
    specs = basis.construct_all(data) if hasattr(basis, "construct_all") else [
        basis.construct(data)]
    blocks = []
    for s in specs:
        Ur, U0 = _reparameterise(s)
        term = SmoothTerm(s, Ur, U0, s.label)
        X = s.X
        Z = (X @ Ur) if not sp.issparse(X) else sp.csc_matrix(X @ Ur)
        fixed = (np.asarray(X @ U0) if U0.shape[1] else None)
        names = [f"{s.label}.null{j + 1}" for j in range(U0.shape[1])]
        if fx:  # an unpenalised smooth: everything is fixed
            fixed = np.asarray(X.toarray() if sp.issparse(X) else X)
            names = [f"{s.label}.{j + 1}" for j in range(fixed.shape[1])]
            blocks.append(Block(name=s.label, Z=sp.csc_matrix((len(data), 0)), kind="factor",
                                phi_start=np.zeros(0), phi_lower=np.zeros(0),
                                phi_upper=np.zeros(0), template=sp.csc_matrix((0, 0)),
                                fixed=fixed, fixed_names=names, term=term))
            continue
        r = Ur.shape[1]
        start = 0.0
        if U0.shape[1] == 0 and s.bs in ("ts", "cs"):
            # shrinkage smooths can be shrunk out entirely (sp -> infinity), a plateau of the
            # criterion; the engine's start balances Z'WZ against the identity, which for
            # them can begin on that plateau: start from mgcv's initial.sp instead
            term.log_scale_start = False
            Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
            start = float(np.clip(-0.5 * np.log(initial_sp(Xd, [np.asarray(s.S)])[0]),
                                  -PHI_BOUND + 1, PHI_BOUND - 1))
        blocks.append(Block(name=s.label, Z=Z if sp.issparse(Z) else np.asarray(Z),
                            kind="factor", phi_start=np.array([start]),
                            phi_lower=np.array([-PHI_BOUND]), phi_upper=np.array([PHI_BOUND]),
                            template=sp.identity(r, format="csc"), fixed=fixed,
                            fixed_names=names, term=term))
    return blocks


# --------------------------------------------------------------------------------------
# smooths with several penalties: te(), ti(), bs='fs', select=TRUE
# --------------------------------------------------------------------------------------


@dataclass
class MultiPenaltyTerm(SmoothTerm):
    """A smooth with penalties ``S_1 .. S_m`` (one smoothing parameter each) as a block.

    The penalties cannot in general be diagonalised together, so the term is a *precision*
    block: with ``U_range`` a basis of the joint range space of the ``S_j`` and ``U_null`` of
    their joint null space (which moves to the fixed effects, unpenalised, as for single
    smooths), the block's coefficients ``b`` (``coef = U_range b + U_null beta_null``) have
    prior precision

        P(phi) = sum_j sp_j U_range' S_j U_range,     sp_j = exp(-2 phi_j)

    relative to the scale, i.e. the penalty ``sum_j sp_j coef' S_j coef`` of mgcv. The
    restricted likelihood depends on ``log|A| - log|P|``, which does not depend on the
    choice of ``U_range``, so REML/ML scores are mgcv's.
    """

    S_range: list = None  # type: ignore[assignment]
    sp_labels: list = None  # type: ignore[assignment]
    #: when the block is built in another basis than the reported one (t2: mgcv's fitting
    #: basis), its columns are ``X U_range + 1 shift'``: the reported intercept absorbs
    #: ``shift' b`` (:func:`~.smooths.t2.fitting_basis`)
    intercept_shift: np.ndarray | None = None

    abilities = SmoothTerm.abilities | {Ability.PRECISION_DERIVATIVES}
    log_scale_start = False

    @property
    def phi_names(self) -> list[str]:
        return [f"log_sd[{lab}]" for lab in self.sp_labels]

    @property
    def spatial_coords(self) -> tuple[str, ...] | None:
        return None

    def sp(self, phi: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return np.exp(-2.0 * np.asarray(phi, dtype=float))

    def precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        lam = self.sp(phi)
        if all(sp.issparse(Sj) for Sj in self.S_range):  # diagonal penalties (fs, select)
            d = sum(Sj.diagonal() * lj for Sj, lj in zip(self.S_range, lam))
            return sp.diags(d).tocsc(), float(np.sum(np.log(d)))
        # P = M'M with M the stacked square roots sqrt(sp_j) R_j: positive semi-definite by
        # construction, and log|P| from a QR of M stays accurate when the sp_j differ by
        # many orders of magnitude (a plain sum would be indefinite by rounding there)
        M = np.vstack([np.sqrt(lj) * Rj for Rj, lj in zip(self._roots, lam)])
        R = np.linalg.qr(M, mode="r")
        P = M.T @ M
        return sp.csc_matrix(0.5 * (P + P.T)), 2.0 * float(np.sum(np.log(np.abs(np.diag(R)))))

    def precision_derivatives(self, phi: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """For each penalty j: ``(M_j, tr(P^-1 dP_j))`` with ``dP_j = dP/dphi_j =
        -2 M_j' M_j`` (``M_j = sqrt(sp_j) R_j``).

        The trace comes from the QR of the stacked ``M = [M_1; M_2; ...] = Q R``:
        ``tr(P^-1 M_j'M_j) = ||Q_j||_F^2`` (Q_j: the rows of Q of penalty j), accurate when
        the sp_j differ by many orders of magnitude, where ``P^-1`` itself is not.
        """
        lam = self.sp(phi)
        if all(sp.issparse(Sj) for Sj in self.S_range):
            d = sum(Sj.diagonal() * lj for Sj, lj in zip(self.S_range, lam))
            out = []
            for Sj, lj in zip(self.S_range, lam):
                dj = Sj.diagonal() * lj
                nz = np.flatnonzero(dj)
                Mj = np.zeros((len(nz), len(d)))
                Mj[np.arange(len(nz)), nz] = np.sqrt(dj[nz])
                out.append((Mj, -2.0 * float(np.sum(dj / d))))
            return out
        Ms = [np.sqrt(lj) * Rj for Rj, lj in zip(self._roots, lam)]
        Q, _ = np.linalg.qr(np.vstack(Ms), mode="reduced")
        out, off = [], 0
        for Mj in Ms:
            Qj = Q[off:off + Mj.shape[0]]
            off += Mj.shape[0]
            out.append((Mj, -2.0 * float(np.sum(Qj ** 2))))
        return out

    @property
    def _roots(self) -> list[np.ndarray]:
        """Square roots ``R_j`` (rank_j x r) with ``R_j' R_j = S_range_j``, exact zeros kept."""
        if getattr(self, "_roots_cache", None) is None:
            roots = []
            for Sj in self.S_range:
                Sj = Sj.toarray() if sp.issparse(Sj) else Sj
                e, V = np.linalg.eigh(0.5 * (Sj + Sj.T))
                keep = e > e.max() * np.finfo(float).eps ** 0.8
                roots.append(np.sqrt(e[keep])[:, None] * V[:, keep].T)
            self._roots_cache = roots
        return self._roots_cache

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        return [dict(grp=self.name, var1=lab, var2=None, vcov=scale / s,
                     sdcor=float(np.sqrt(scale / s)))
                for lab, s in zip(self.sp_labels, self.sp(phi))]

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[Any, np.ndarray | None]:
        W = self._fused_map()
        if W is not None:  # te/ti without by: the constraint folded into [U_range U_null]
            XW = self.spec.predictor.raw_rows(newdata) @ W
            r = self.U_range.shape[1]
            Zd, F = XW[:, :r], (XW[:, r:] if self.U_null.shape[1] else None)
        else:
            Xn = self.spec.predict_matrix(newdata)
            Xn = Xn.toarray() if sp.issparse(Xn) else np.asarray(Xn)
            Zd = Xn @ self.U_range
            F = Xn @ self.U_null if self.U_null.shape[1] else None
        if self.intercept_shift is not None:
            Zd = Zd + self.intercept_shift[None, :]
        return _storage(Zd), F

    def _fused_map(self) -> np.ndarray | None:
        """``Z [U_range U_null]`` for a tensor smooth without ``by`` (else None), made
        once: new-data rows then cost one product with the raw tensor basis, not two (the
        out-of-core statistics pass maps every row through it)."""
        pred = getattr(self.spec, "predictor", None)
        if not hasattr(pred, "raw_rows") or pred.by is not None:
            return None
        if getattr(self, "_fused_cache", None) is None:
            U = np.hstack([self.U_range, self.U_null])
            self._fused_cache = U if pred.Z is None else np.asarray(pred.Z) @ U
        return self._fused_cache


def _joint_spaces(S: list[np.ndarray], null_dim: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Bases of the joint range and null spaces of penalties ``S`` (identity columns when
    every penalty is diagonal, so fs / select blocks stay sparse)."""
    p = S[0].shape[0]
    if all(np.count_nonzero(Sj - np.diag(np.diag(Sj))) == 0 for Sj in S):
        tot = sum(np.abs(np.diag(Sj)) for Sj in S)
        keep = tot > 0
        eye = np.eye(p)
        return eye[:, keep], eye[:, ~keep]
    St = sum(Sj / max(np.linalg.norm(Sj), 1e-300) for Sj in S)
    d, U = np.linalg.eigh(0.5 * (St + St.T))
    if null_dim is None:
        null_dim = int(np.sum(d <= d.max() * np.finfo(float).eps ** 0.66))
    return U[:, null_dim:], U[:, :null_dim]


def initial_sp(X: np.ndarray | None, S: list[np.ndarray], xx: np.ndarray | None = None
               ) -> np.ndarray:
    """Starting smoothing parameters as mgcv's ``initial.sp``: each penalty's mean diagonal
    matched to that of ``X'X`` on the coefficients it penalises, then all scaled by powers
    of 10 until the penalised fraction ``mean(x'x / (x'x + sum_j sp_j s_jj))`` is about 0.4.
    A start where one penalty swamps the data can leave the search on a plateau.
    ``xx``: the columns' sums of squares when ``X`` is not in memory (out of core)."""
    xx = np.sum(X ** 2, axis=0) if xx is None else np.asarray(xx, dtype=float)
    ss = np.zeros_like(xx)
    pen = np.zeros(xx.shape, bool)
    out = np.ones(len(S))
    for j, Sj in enumerate(S):
        A = np.abs(Sj)
        thresh = np.finfo(float).eps ** 0.8 * max(A.max(), 1e-300)
        ind = (A.mean(axis=1) > thresh) & (A.mean(axis=0) > thresh) & (np.diag(A) > thresh)
        if np.any(ind):
            out[j] = float(np.mean(xx[ind]) / np.mean(np.diag(Sj)[ind]))
        pen |= ind
        ss += out[j] * np.diag(Sj)
    ind = (ss > 0) & pen & (xx > 0)
    if np.any(ind):
        a, b = xx[ind], ss[ind]
        for _ in range(60):
            if np.mean(a / (a + b)) <= 0.4:
                break
            out, b = out * 10, b * 10
        for _ in range(60):
            if np.mean(a / (a + b)) >= 0.4:
                break
            out, b = out / 10, b / 10
    return np.maximum(out, 1e-300)


def multi_penalty_block(spec, data_n: int, null_dim: int | None = None) -> Block:
    """The precision block of a constructed multi-penalty smooth (a ``MultiSmoothSpec``)."""
    X = spec.X.toarray() if sp.issparse(spec.X) else np.asarray(spec.X, dtype=float)
    shift = None
    if getattr(spec, "fit_basis", None) is not None and null_dim is None:
        Ur, U0, shift = spec.fit_basis  # mgcv's fitting basis (t2)
    else:
        Ur, U0 = _joint_spaces(spec.S, spec.null_dim if null_dim is None else null_dim)
    S_r = []
    for Sj in spec.S:
        Sr = Ur.T @ Sj @ Ur
        Sr = 0.5 * (Sr + Sr.T)
        S_r.append(Sr)
    if all(np.count_nonzero(Sr - np.diag(np.diag(Sr))) == 0 for Sr in S_r):
        S_r = [sp.diags(np.diag(Sr)).tocsc() for Sr in S_r]
    Z = X @ Ur if shift is None else X @ Ur + shift[None, :]
    term = MultiPenaltyTerm(spec=spec, U_range=Ur, U_null=U0, name=spec.label, S_range=S_r,
                            sp_labels=list(spec.sp_labels), intercept_shift=shift)
    start = -0.5 * np.log(initial_sp(X, spec.S))
    start = np.clip(start, -MULTI_PHI_LOWER + 1, PHI_BOUND - 1)
    Zb = _storage(Z)
    fixed = X @ U0 if U0.shape[1] else None
    names = [f"{spec.label}.null{j + 1}" for j in range(U0.shape[1])]
    m = len(S_r)
    return Block(name=spec.label, Z=Zb, kind="precision", phi_start=np.array(start),
                 phi_lower=np.full(m, -MULTI_PHI_LOWER), phi_upper=np.full(m, PHI_BOUND),
                 fixed=fixed, fixed_names=names, term=term)


@register_term("te", "ti", "t2")
def build_tensor(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
                 ) -> list[Block]:
    """Blocks of ``te(...)`` / ``ti(...)`` / ``t2(...)`` (one per level of a factor ``by``)."""
    from .smooths.t2 import T2Smooth
    from .smooths.tensor import TensorSmooth

    kw = check_arguments(special, {"bs", "k", "m", "d", "by", "fx", "np", "xt", "id",
                                   "max_knots", "seed"} | (
                                       {"full", "ord"} if special.func == "t2" else set()))
    for v in special.variables:
        if v not in data.columns:
            raise FormulaError(f"{special.text}: {v!r} is not a column of the data")
    fx = bool(kw.pop("fx", False))
    kw.pop("xt", None)
    kw.pop("id", None)
    try:
        make = T2Smooth.from_call if special.func == "t2" else TensorSmooth.from_call
        ts = make(special.variables, bs=kw.pop("bs", None), k=kw.pop("k", None),
                  m=kw.pop("m", None), d=kw.pop("d", None), by=kw.pop("by", None),
                  inter=special.func == "ti", np=kw.pop("np", True), **kw)
    except ValueError as exc:
        raise FormulaError(f"{special.text}: {exc}") from exc
    blocks = []
    for s in ts.construct_all(data):
        if fx:
            X = np.asarray(s.X)
            blocks.append(Block(name=s.label, Z=sp.csc_matrix((len(data), 0)), kind="factor",
                                phi_start=np.zeros(0), phi_lower=np.zeros(0),
                                phi_upper=np.zeros(0), template=sp.csc_matrix((0, 0)),
                                fixed=X, fixed_names=[f"{s.label}.{j + 1}"
                                                      for j in range(X.shape[1])]))
            continue
        if len(s.S) == 1:  # ti(x), te(x): one penalty, an ordinary smooth block
            blocks.append(_single_penalty_block(_OnePenalty(s)))
            continue
        blocks.append(multi_penalty_block(s, len(data)))
    return blocks


@dataclass(frozen=True)
class _OnePenalty:
    """A one-penalty tensor smooth seen as a single smooth (``S`` a matrix, ``S_scale`` a
    number), so that it is an ordinary factor block like ``s()``."""

    multi: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.multi, name)

    @property
    def S(self) -> np.ndarray:
        return self.multi.S[0]

    @property
    def S_scale(self) -> float:
        return float(self.multi.S_scale[0])

    def predict_matrix(self, newdata: pd.DataFrame):
        return self.multi.predict_matrix(newdata)


def _single_penalty_block(s) -> Block:
    Ur, U0 = _reparameterise(s)
    term = SmoothTerm(s, Ur, U0, s.label)
    X = np.asarray(s.X, dtype=float)
    fixed = X @ U0 if U0.shape[1] else None
    names = [f"{s.label}.null{j + 1}" for j in range(U0.shape[1])]
    r = Ur.shape[1]
    return Block(name=s.label, Z=X @ Ur, kind="factor", phi_start=np.array([0.0]),
                 phi_lower=np.array([-PHI_BOUND]), phi_upper=np.array([PHI_BOUND]),
                 template=sp.identity(r, format="csc"), fixed=fixed, fixed_names=names,
                 term=term)


def _null_penalty(S: list[np.ndarray]) -> np.ndarray | None:
    """mgcv's select=TRUE penalty ``U U'`` on the null space of the summed penalties
    (eigenvalues below ``eps^0.66`` of the largest), or None when there is none."""
    St = sum(S)
    d, U = np.linalg.eigh(0.5 * (St + St.T))
    ind = d < d.max() * np.finfo(float).eps ** 0.66
    if not np.any(ind):
        return None
    return U[:, ind] @ U[:, ind].T


def apply_select(spec):
    """mgcv's ``gam(select=TRUE)``: each smooth with a penalty null space gets a second
    penalty (``U U'`` on that null space, its own smoothing parameter), so the null-space
    columns leave the fixed effects and the whole term can be penalised out of the model.

    Returns a new :class:`~spatialgamm.model.ModelSpec`; smooths without a null space
    (``re``, ``ts``, ``cs``, full-rank ``ti``) and non-smooth blocks are unchanged.
    """
    from dataclasses import replace as dc_replace

    from .smooths.tensor import MultiSmoothSpec

    blocks, drop = [], []
    for blk in spec.blocks:
        term = blk.term
        if not isinstance(term, SmoothTerm) or term.U_null.shape[1] == 0 or blk.n_phi == 0:
            blocks.append(blk)
            continue
        s = term.spec
        if isinstance(term, MultiPenaltyTerm):
            S = [np.asarray(Sj) for Sj in s.S]
            labels = list(s.sp_labels)
        else:
            S = [np.asarray(s.S)]
            labels = [s.label]
        Sf = _null_penalty(S)
        if Sf is None:
            blocks.append(blk)
            continue
        labels = [f"{s.label}{j + 1}" for j in range(len(S) + 1)]
        X = s.X.toarray() if sp.issparse(s.X) else np.asarray(s.X, dtype=float)
        ms = MultiSmoothSpec(label=s.label, bs=s.bs, variables=s.variables, X=X,
                             S=[*S, Sf], S_scale=[*np.atleast_1d(s.S_scale), 1.0],
                             null_dim=0, sp_labels=labels,
                             predictor=(lambda nd, _lev, _s=s: _s.predict_matrix(nd)),
                             by=s.by, by_level=s.by_level, ml_exact=s.bs != "t2")
        blocks.append(multi_penalty_block(ms, spec.n, null_dim=0))
        drop.extend(blk.fixed_names)
    keep = [i for i, nm in enumerate(spec.x_names) if nm not in set(drop)]
    return dc_replace(spec, X=spec.X[:, keep], x_names=[spec.x_names[i] for i in keep],
                      blocks=blocks)


def _build_fs(special: SpecialTerm, data: pd.DataFrame, kw: dict[str, Any]) -> list[Block]:
    """``s(x, fac, bs='fs')``: random curves per level, a multi-penalty block."""
    from .smooths.fs import FactorSmooth

    kw = dict(kw)
    kw.pop("bs")
    kw.pop("id", None)
    for bad in ("by", "fx"):
        if kw.get(bad):
            raise FormulaError(f"{special.text}: {bad}= is not supported with bs='fs'")
        kw.pop(bad, None)
    xt = kw.pop("xt", None)
    if isinstance(xt, dict):
        xt = xt.get("bs")
    try:
        spec = FactorSmooth(special.variables, k=kw.pop("k", None), m=kw.pop("m", None),
                            xt=xt, **kw).construct(data)
    except ValueError as exc:
        raise FormulaError(f"{special.text}: {exc}") from exc
    return [multi_penalty_block(spec, len(data), null_dim=0)]
