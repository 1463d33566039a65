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

from ..formula.parse import FormulaError, SpecialTerm
from .base import Block, check_arguments
from .smooths import SmoothSpec, make_basis

PHI_BOUND = 20.0  # sp in [exp(-40), exp(40)]: wide enough for any real smoothing problem


@dataclass
class SmoothTerm:
    """One smooth ``s(...)`` (one level of a factor ``by``) in mixed-model form."""

    spec: SmoothSpec
    U_range: np.ndarray  # k x r, scaled by d^-1/2
    U_null: np.ndarray  # k x m
    name: str

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

    def sp(self, phi: np.ndarray) -> float:
        return float(np.exp(-2.0 * phi[0]))

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        return []  # sp at its limits is a legitimate answer for a smooth (mgcv does not warn)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        sd = float(np.sqrt(scale) * np.exp(phi[0]))
        return [dict(grp=self.name, var1="(Intercept)" if self.spec.bs == "re" else "smooth",
                     var2=None, vcov=sd ** 2, sdcor=sd)]

    def design_for(self, newdata: pd.DataFrame) -> tuple[Any, np.ndarray | None]:
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
    another rotation: the reported null-space coefficients changed with row order (issue
    18). The projector ``U0 U0'`` is unique; Gram-Schmidt on its columns, taken by
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
        # text that looks like numbers is a data-import slip, not a factor: say so
        if (kw.get("bs") != "re" and not pd.api.types.is_numeric_dtype(col)
                and not isinstance(col.dtype, pd.CategoricalDtype)
                and pd.to_numeric(col, errors="coerce").notna().all()):
            raise FormulaError(f"{special.text}: column {v!r} holds numbers stored as text "
                               f"(dtype {col.dtype}); convert it with astype(float)")
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
        blocks.append(Block(name=s.label, Z=Z if sp.issparse(Z) else np.asarray(Z),
                            kind="factor", phi_start=np.array([0.0]),
                            phi_lower=np.array([-PHI_BOUND]), phi_upper=np.array([PHI_BOUND]),
                            template=sp.identity(r, format="csc"), fixed=fixed,
                            fixed_names=names, term=term))
    return blocks
