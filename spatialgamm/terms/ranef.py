"""lme4 random-effects terms ``(expr | group)``.

For a term with ``nc`` covariates (columns of ``expr``) and ``L`` levels of ``group`` the
design has ``L * nc`` columns ordered level-major (all coefficients of level 1, then level 2,
...), as lme4's ``Zt``. The relative covariance factor is ``Lambda = I_L (x) T`` with ``T``
lower triangular; ``theta`` holds T's lower triangle column by column (lme4's order), so the
stored values of ``Lambda`` are ``theta`` repeated L times. Diagonal elements are bounded
below by zero: a variance may reach zero (a singular fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FormulaError
from ..termsyntax import BarTerm
from .base import Ability, Block, CovariateDesign, LatentTerm, column_rms


def group_parts(group: str) -> list[str]:
    """The factors of a grouping expression: ``a``, ``a:b``, or lme4's nested ``c:(b:a)``.

    Examples
    --------
    >>> group_parts("c:(b:a)")
    ['c', 'b', 'a']
    """
    return [p.strip().strip("()").strip() for p in group.replace("(", "").replace(")", "")
            .split(":")]


def grouping_factor(data: pd.DataFrame, group: str) -> pd.Categorical:
    """The grouping factor of ``group`` (``a`` or an interaction ``a:b``) as a Categorical.

    Levels of an interaction are the observed combinations ``"a_level:b_level"``, ordered by
    the levels of ``a`` then ``b`` (R's ``a:b`` on factors with unused levels dropped, as
    lme4: for ``(1 | batch/cask)`` the levels of ``cask:batch`` run ``a:A, a:B, ...``).
    """
    parts = group_parts(group)
    for p in parts:
        if p not in data.columns:
            raise FormulaError(f"grouping variable {p!r} of random-effects term '| {group}' is "
                               f"not a column of the data (columns: {list(data.columns)})")
    cats = [pd.Categorical(data[p]) for p in parts]
    if len(cats) == 1:
        return cats[0].remove_unused_categories()
    codes = np.stack([level_codes(c) for c in cats], axis=1)
    uniq, inv = np.unique(codes, axis=0, return_inverse=True)
    labels = [":".join(str(cats[j].categories[u[j]]) for j in range(len(cats))) for u in uniq]
    return pd.Categorical.from_codes(inv.ravel(), categories=labels)


def level_codes(fac: pd.Categorical) -> np.ndarray:
    """The level index of each row as a platform integer (-1 for a missing value).

    pandas stores codes in the smallest integer type that holds the number of levels (int8
    up to 127 levels, int16 up to 32,767): arithmetic on them, such as the column index
    ``code * nc + j``, silently wraps around. Every use of a factor's codes goes through here.

    Examples
    --------
    >>> level_codes(pd.Categorical(["b", "a", "b"])).tolist()
    [1, 0, 1]
    """
    return np.asarray(fac.codes).astype(np.intp)


@dataclass
class RandomEffectTerm(LatentTerm):
    """An lme4 bar term built on data; also rebuilds its design rows for new data."""

    abilities = frozenset({Ability.GROUPING_FACTOR, Ability.RANEF_FRAME,
                           Ability.LAMBDA_JACOBIAN, Ability.OPTIMISER_UNITS})
    #: group-level effects: left out of population-level predictions (re_form=~0)
    population_level_drop = True

    bar: BarTerm
    name: str
    levels: list[str]
    cov_names: list[str]
    covariates: CovariateDesign
    #: RMS of each covariate column over the rows with a level: the optimiser's units for
    #: the rows of T, so a slope covariate in other units gives the same search
    col_rms: np.ndarray | None = None

    @property
    def nc(self) -> int:
        return len(self.cov_names)

    @property
    def n_theta(self) -> int:
        return self.nc * (self.nc + 1) // 2

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def grouping_factor(self) -> str:
        """The grouping expression (``Subject``, ``a:b``)."""
        return self.bar.group

    @property
    def label(self) -> str:
        """``(expr | group)``."""
        return self.bar.label

    @property
    def phi_names(self) -> list[str]:
        """lme4's names of theta: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``,
        ``Subject.Days`` (T's lower triangle column by column)."""
        c = self.cov_names
        return [f"{self.name}.{c[r]}" if r == k else f"{self.name}.{c[r]}.{c[k]}"
                for k in range(self.nc) for r in range(k, self.nc)]

    # ---- construction -------------------------------------------------------------
    @classmethod
    def build(cls, bar: BarTerm, data: pd.DataFrame, covariates: CovariateDesign,
              name: str | None = None) -> Block:
        """Build the block of ``(expr | group)`` on ``data``.

        ``covariates`` is the model matrix of ``expr`` on ``data`` (R's ``model.matrix``,
        built by the formula layer: ``fixed_design(bar.expr, data)``); it also rebuilds the
        rows for new data.
        """
        fac = grouping_factor(data, bar.group)
        nlev = len(fac.categories)  # lme4's checks of nlev are in model.py (control=)
        cov = covariates
        if cov.X.shape[1] == 0:
            raise FormulaError(f"random-effects term {bar.label} has no columns")
        term = cls(bar, name or bar.group, [str(c) for c in fac.categories], cov.names, cov)
        codes = level_codes(fac)
        Z = term._design(codes, cov.X)
        term.col_rms = column_rms(cov.X[codes >= 0])
        nc = term.nc
        # Lambda template: L copies of a full lower-triangular nc x nc pattern
        rows, cols = [], []
        for c in range(nc):
            for r in range(c, nc):
                rows.append(r)
                cols.append(c)
        tmpl = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(nc, nc))
        template = sp.kron(sp.identity(nlev, format="csc"), tmpl, format="csc")
        template.sort_indices()
        start, lower = [], []
        for c in range(nc):
            for r in range(c, nc):
                # T = diag(1 / rms): each covariate's contribution starts at the scale of
                # lme4's theta = 1 for an intercept, whatever the covariate's units
                start.append(1.0 / term.col_rms[r] if r == c else 0.0)
                lower.append(0.0 if r == c else -np.inf)
        return Block(name=term.name, Z=Z, kind="factor", phi_start=np.array(start),
                     phi_lower=np.array(lower), phi_upper=np.full(len(start), np.inf),
                     template=template, term=term)

    def _design(self, codes: np.ndarray, cov: np.ndarray) -> sp.csc_matrix:
        n, nc = cov.shape
        codes = np.asarray(codes).astype(np.intp)  # never int8/int16 (see level_codes)
        ok = codes >= 0
        rows = np.repeat(np.arange(n)[ok], nc)
        cols = (codes[ok][:, None] * nc + np.arange(nc)[None, :]).ravel()
        vals = cov[ok].ravel()
        return sp.csc_matrix((vals, (rows, cols)), shape=(n, len(self.levels) * nc))

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[sp.csc_matrix, None]:
        """Design rows for new data (and no fixed columns); unseen levels give zero rows."""
        parts = group_parts(self.bar.group)
        missing = [p for p in parts if p not in newdata.columns]
        if missing:
            raise ValueError(f"newdata lacks grouping column(s) {missing} of {self.bar.label}")
        labels = newdata[parts[0]].astype(str).to_numpy()
        for p in parts[1:]:
            labels = np.char.add(np.char.add(labels.astype(str), ":"),
                                 newdata[p].astype(str).to_numpy().astype(str))
        index = {lev: i for i, lev in enumerate(self.levels)}
        codes = np.array([index.get(str(v), -1) for v in labels])
        cov = self.covariates.for_newdata(newdata)
        return self._design(codes, cov), None

    # ---- parameters ---------------------------------------------------------------
    def T(self, theta: np.ndarray) -> np.ndarray:
        """The nc x nc lower-triangular relative covariance factor."""
        T = np.zeros((self.nc, self.nc))
        k = 0
        for c in range(self.nc):
            for r in range(c, self.nc):
                T[r, c] = theta[k]
                k += 1
        return T

    def lambda_values(self, theta: np.ndarray) -> np.ndarray:
        return np.tile(theta, len(self.levels))

    # ---- optimiser protocol (engine.optimize.ParameterSpace) ------------------------
    def _rows(self) -> np.ndarray:
        return np.array([r for c in range(self.nc) for r in range(c, self.nc)])

    def phi_scale(self) -> np.ndarray:
        """Units of theta: element (r, c) of T scales with 1 / RMS of covariate r."""
        rms = np.ones(self.nc) if self.col_rms is None else self.col_rms
        return rms[self._rows()]

    def sign_free(self) -> np.ndarray:
        """Diagonal elements: flipping a column of T leaves T T' (and the likelihood) as is."""
        return np.array([r == c for c in range(self.nc) for r in range(c, self.nc)])

    def canonical_phi(self, theta: np.ndarray) -> np.ndarray:
        """theta with T's columns signed so that its diagonal is non-negative."""
        T = self.T(theta)
        T = T * np.where(np.diag(T) < 0, -1.0, 1.0)[None, :]
        return np.array([T[r, c] for c in range(self.nc) for r in range(c, self.nc)])

    #: Lambda is linear in theta, so its Jacobian is constant (the engine caches it)
    lambda_is_linear = True

    def lambda_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d(stored Lambda values)/d theta: (nnz, n_theta), the same at every theta."""
        return np.tile(np.eye(len(theta)), (len(self.levels), 1))

    def covariance(self, theta: np.ndarray, scale: float) -> np.ndarray:
        """Covariance matrix of one level's coefficients: ``scale * T T'``."""
        T = self.T(theta)
        return scale * T @ T.T

    def at_boundary(self, theta: np.ndarray, tol: float = 1e-4) -> list[str]:
        T = self.T(theta)
        out = [f"{self.name}: variance of {self.cov_names[i]} is zero"
               for i in range(self.nc) if abs(T[i, i]) < tol]
        if self.nc > 1 and not out:
            S = T @ T.T
            sd = np.sqrt(np.diag(S))
            R = S / np.outer(sd, sd)
            for i in range(self.nc):
                for j in range(i):
                    if abs(abs(R[i, j]) - 1) < tol:
                        out.append(f"{self.name}: correlation of {self.cov_names[j]} and "
                                   f"{self.cov_names[i]} is {R[i, j]:+.0f}")
        return out

    def varcorr_rows(self, theta: np.ndarray, scale: float) -> list[dict]:
        """Rows of ``as.data.frame(VarCorr(m))`` for this term."""
        S = self.covariance(theta, scale)
        sd = np.sqrt(np.clip(np.diag(S), 0, None))
        rows = [dict(grp=self.name, var1=self.cov_names[i], var2=None, vcov=S[i, i],
                     sdcor=sd[i]) for i in range(self.nc)]
        for i in range(self.nc):
            for j in range(i + 1, self.nc):
                denom = sd[i] * sd[j]
                rows.append(dict(grp=self.name, var1=self.cov_names[i], var2=self.cov_names[j],
                                 vcov=S[i, j], sdcor=S[i, j] / denom if denom > 0 else np.nan))
        return rows

    def ranef_frame(self, b: np.ndarray) -> pd.DataFrame:
        """Conditional modes as a DataFrame: one row per level, one column per covariate."""
        return pd.DataFrame(np.asarray(b).reshape(len(self.levels), self.nc),
                            index=pd.Index(self.levels, name=self.bar.group),
                            columns=self.cov_names)

