"""Random effects with a user-supplied covariance: ``kinship(id, K)`` / ``known_cov(id, K)``.

``b_id ~ N(0, s sigma^2 K)`` over the levels of ``id``: a genetic relationship matrix
(GCTA's GREML; animal models), a network or areal covariance. As an engine block
``Z`` is the id indicator and ``Lambda = sigma chol(K)`` (computed once: only ``sigma``
changes during the fit). For the Gaussian family ``sigma`` is relative to the residual SD
(``s`` = residual variance), so the heritability ``h^2 = s_g^2 / (s_g^2 + s_e^2)`` is a
function of the fitted parameter alone (``fit.heritability()``).

``K`` may be

* a pandas DataFrame whose index (and columns) are the ids,
* a dense array or scipy sparse matrix with ``ids=`` giving its row order,
* or, with ``Z=`` instead of ``K``, a genotype matrix (individuals x markers, a DataFrame
  indexed by id or an array with ``ids=``): ``K = Zs Zs' / p`` with each marker column
  centred and scaled to unit variance (``standardize=True``, the GCTA GRM with allele
  frequencies estimated from the sample) and monomorphic markers dropped.

Ids of ``K`` that have no data are kept for prediction: ``predict`` at such an id gives its
best linear unbiased predictor ``K_ns K_ss^-1 b`` (genomic prediction) with the conditional
variance added to its standard error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import FormulaError
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, register_term
from .gp import indicator, lower_triangle_template


def genotype_grm(Z: np.ndarray, standardize: bool = True) -> np.ndarray:
    """Genetic relationship matrix ``Zs Zs' / p`` of a genotype matrix (n x p).

    Examples
    --------
    >>> G = genotype_grm(np.array([[0., 1, 2], [2, 1, 0], [1, 1, 1]]))
    >>> G.shape
    (3, 3)
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2:
        raise ValueError(f"genotype matrix Z must be 2-D (individuals x markers), got {Z.shape}")
    if not np.all(np.isfinite(Z)):
        raise ValueError("genotype matrix Z has missing or infinite values; impute them first")
    if standardize:
        sd = Z.std(axis=0)
        keep = sd > 0
        if not keep.any():
            raise ValueError("every marker of the genotype matrix Z is monomorphic")
        Z = (Z[:, keep] - Z[:, keep].mean(axis=0)) / sd[keep]
    return Z @ Z.T / Z.shape[1]


def _ids_of(obj: Any, ids: Any, n: int, what: str, where: str) -> list[str]:
    if isinstance(obj, pd.DataFrame):
        out = [str(i) for i in obj.index]
    elif ids is None:
        raise FormulaError(f"{where}: {what} is an array without ids; pass ids= (the id of each "
                           "row, in order) or give a DataFrame indexed by id")
    else:
        out = [str(i) for i in (ids.tolist() if hasattr(ids, "tolist") else list(ids))]
    if len(out) != n:
        raise FormulaError(f"{where}: {len(out)} ids for the {n} rows of {what}")
    if len(set(out)) != len(out):
        dup = pd.Series(out)[pd.Series(out).duplicated()].iloc[0]
        raise FormulaError(f"{where}: id {dup!r} appears twice in the rows of {what}")
    return out


def read_covariance(kw: dict[str, Any], where: str) -> tuple[np.ndarray, list[str]]:
    """The covariance matrix and its ids from ``K=`` (or ``Z=``) and ``ids=``.

    Examples
    --------
    >>> K, ids = read_covariance({"K": np.eye(2), "ids": ["a", "b"]}, "kinship(id, K)")
    >>> ids
    ['a', 'b']
    """
    K, G, ids = kw.pop("K", None), kw.pop("Z", None), kw.pop("ids", None)
    standardize = bool(kw.pop("standardize", True))
    if (K is None) == (G is None):
        raise FormulaError(f"{where}: give the covariance as K (a matrix) or the genotypes as "
                           "Z (individuals x markers), not both or neither")
    if G is not None:
        labels = _ids_of(G, ids, np.shape(G)[0], "the genotype matrix Z", where)
        return genotype_grm(G.to_numpy() if isinstance(G, pd.DataFrame) else G, standardize), \
            labels
    if isinstance(K, pd.DataFrame):
        cols = [str(c) for c in K.columns]
        rows = [str(i) for i in K.index]
        if sorted(cols) != sorted(rows):
            raise FormulaError(f"{where}: the row and column ids of K differ")
        M = K.to_numpy(dtype=float)
        if cols != rows:
            M = K.loc[:, [K.columns[cols.index(r)] for r in rows]].to_numpy(dtype=float)
    elif sp.issparse(K):
        M = K.toarray().astype(float)
    else:
        M = np.asarray(K, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise FormulaError(f"{where}: K must be a square matrix, got shape {M.shape}")
    labels = _ids_of(K, ids, M.shape[0], "K", where)
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{where}: K has missing or infinite values")
    scale = max(float(np.max(np.abs(M))), 1e-300)
    asym = float(np.max(np.abs(M - M.T)))
    if asym > 1e-8 * scale:
        raise ValueError(f"{where}: K is not symmetric (largest |K - K'| = {asym:.3g})")
    return 0.5 * (M + M.T), labels


def psd_factor(K: np.ndarray, where: str, tol: float = 1e-8) -> tuple[np.ndarray, bool]:
    """A factor F with F F' = K (or K + a negligible ridge): (F, triangular).

    The Cholesky factor when K is positive definite. A singular but positive semi-definite
    K (a centred GRM always loses one dimension; fewer markers than individuals lose more)
    gets the Cholesky factor of ``K + 1e-8 mean(diag K) I``: the ridge adds an iid effect
    with a hundred-millionth of the variance, and keeps Lambda triangular. If even that fails,
    the eigen-factor ``U sqrt(D)``. A clearly negative eigenvalue is an error.

    Examples
    --------
    >>> F, triangular = psd_factor(np.array([[4.0, 2.0], [2.0, 2.0]]), "K")
    >>> (F @ F.T).tolist(), triangular
    ([[4.0, 2.0], [2.0, 2.0]], True)
    """
    try:
        return sla.cholesky(K, lower=True, check_finite=False), True
    except np.linalg.LinAlgError:
        pass
    dmin = float(sla.eigvalsh(K, subset_by_index=[0, 0])[0])
    dmax = float(sla.eigvalsh(K, subset_by_index=[len(K) - 1, len(K) - 1])[0])
    if dmin < -tol * max(dmax, 1e-300):
        raise ValueError(f"{where}: K is not positive semi-definite (smallest eigenvalue "
                         f"{dmin:.4g}, largest {dmax:.4g}); a covariance matrix must have no "
                         "negative eigenvalues")
    ridge = 1e-8 * float(np.mean(np.diag(K)))
    try:
        return sla.cholesky(K + ridge * np.eye(len(K)), lower=True, check_finite=False), True
    except np.linalg.LinAlgError:
        d, U = np.linalg.eigh(K)
        warnings.warn(f"{where}: K is numerically singular; using its eigen-factor",
                      UserWarning, stacklevel=4)
        return U * np.sqrt(np.clip(d, 0, None)), False


@dataclass(eq=False)
class KnownCovTerm(LatentTerm):
    """A random effect over ids with covariance ``s sigma^2 K``."""

    abilities = frozenset({Ability.HERITABLE, Ability.KRIGING_VARIANCE, Ability.RANEF_FRAME,
                           Ability.LAMBDA_JACOBIAN, Ability.COVARIANCE_FORM})

    #: a group-level effect: dropped by predict(re_form='~0'), as lme4 bars are
    population_level_drop = True

    name: str
    id_col: str
    levels: list[str]
    F_values: np.ndarray  # stored values of the factor of K_ss in template order
    relative: bool
    fixed_sigma: float | None
    K_new: np.ndarray  # covariance of ids without data with the data ids (r x q)
    K_new_diag: np.ndarray
    new_levels: list[str]
    factor: np.ndarray  # F (q x q), F F' = K_ss
    triangular: bool  # F is the Cholesky factor (K_ss positive definite)
    _K: np.ndarray | None = None  # F F', formed when the covariance form asks for it
    design_needs_phi = False
    spatial_coords = None

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def phi_names(self) -> list[str]:
        """sigma (relative to the residual SD for a Gaussian model), unless fixed by sigma=."""
        return [] if self.fixed_sigma is not None else ["sigma"]

    def sigma(self, phi: np.ndarray) -> float:
        return self.fixed_sigma if self.fixed_sigma is not None else abs(float(phi[0]))

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        return self.sigma(phi) * self.F_values

    #: Lambda = sigma F is linear in sigma: its Jacobian is constant (the engine caches it)
    lambda_is_linear = True

    def lambda_jacobian(self, phi: np.ndarray) -> np.ndarray:
        return self.F_values[:, None] * np.ones((1, len(phi)))

    def covariance_matrix(self, phi: np.ndarray) -> np.ndarray:
        """``sigma^2 K`` over the ids with data (``Lambda Lambda'``)."""
        if self._K is None:
            self._K = self.factor @ self.factor.T
        return self.sigma(phi) ** 2 * self._K

    def covariance_jacobian(self, phi: np.ndarray) -> list[np.ndarray]:
        if self.fixed_sigma is not None:
            return []
        if self._K is None:
            self._K = self.factor @ self.factor.T
        return [2.0 * float(phi[0]) * self._K]

    def at_boundary(self, phi: np.ndarray, tol: float = 1e-4) -> list[str]:
        if self.fixed_sigma is None and self.sigma(phi) < tol:
            return [f"{self.name}: variance is zero"]
        return []

    def variance(self, phi: np.ndarray, scale: float) -> float:
        """The variance component ``sigma^2`` on the data scale."""
        return self.sigma(phi) ** 2 * (scale if self.relative else 1.0)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        v = self.variance(phi, scale)
        return [dict(grp=self.name, var1="(Intercept)", var2=None, vcov=v, sdcor=np.sqrt(v))]

    def ranef_frame(self, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"effect": np.asarray(b, dtype=float)},
                            index=pd.Index(self.levels, name=self.id_col))

    def _blup_weights(self) -> np.ndarray:
        # K_ns K_ss^-1 by two triangular solves; K_ss^+ = F^+' F^+ when K_ss is singular
        if self.triangular:
            tmp = sla.solve_triangular(self.factor, self.K_new.T, lower=True, check_finite=False)
            return sla.solve_triangular(self.factor, tmp, lower=True, trans="T",
                                        check_finite=False).T
        Fp = np.linalg.pinv(self.factor)
        return self.K_new @ Fp.T @ Fp

    def _codes(self, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if self.id_col not in newdata.columns:
            raise ValueError(f"newdata lacks the id column {self.id_col!r} of {self.name}")
        labels = newdata[self.id_col].astype(str).to_numpy()
        seen = {lev: i for i, lev in enumerate(self.levels)}
        extra = {lev: i for i, lev in enumerate(self.new_levels)}
        return (np.array([seen.get(v, -1) for v in labels]),
                np.array([extra.get(v, -1) for v in labels]))

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[Any, None]:
        """Indicator rows for ids with data; BLUP weights for ids of K without data;
        zero rows (population level) for ids unknown to K."""
        code, extra = self._codes(newdata)
        Z = indicator(code, len(self.levels)).tolil()
        if np.any(extra >= 0):
            W = self._blup_weights()
            rows = np.flatnonzero(extra >= 0)
            Z = Z.toarray()
            Z[rows] = W[extra[rows]]
        return sp.csc_matrix(Z), None

    def extra_variance(self, newdata: pd.DataFrame, phi: np.ndarray, scale: float
                       ) -> np.ndarray:
        """Conditional variance ``s sigma^2 (K_nn - K_ns K_ss^-1 K_sn)`` for ids without data."""
        _, extra = self._codes(newdata)
        out = np.zeros(len(newdata))
        rows = np.flatnonzero(extra >= 0)
        if len(rows):
            W = self._blup_weights()[extra[rows]]
            cond = self.K_new_diag[extra[rows]] - np.einsum("ij,ij->i", W, self.K_new[extra[rows]])
            out[rows] = self.variance(phi, scale) * np.clip(cond, 0, None)
        return out


@register_term("kinship", "known_cov")
def build_known_cov(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
                    ) -> list[Block]:
    """The block of ``kinship(id, K)`` / ``known_cov(id, K=..., ids=..., Z=..., sigma=...)``.

    ``K`` (positionally or by name) and ``Z``/``ids`` are names in the caller's namespace.

    Examples
    --------
    >>> import numpy as np, pandas as pd, spatialgamm as sg
    >>> rng = np.random.default_rng(1)
    >>> geno = rng.binomial(2, 0.4, size=(80, 200)).astype(float)  # 80 people, 200 markers
    >>> g = (geno - geno.mean(0)) @ rng.normal(0, 0.1, 200)
    >>> pheno = pd.DataFrame({"id": [f"p{i}" for i in range(80)],
    ...                       "y": 10 + g + rng.normal(0, 1, 80)})
    >>> ids = pheno["id"].tolist()
    >>> K = pd.DataFrame(np.corrcoef(geno), index=ids, columns=ids)  # relationship matrix
    >>> fit = sg.fit("y ~ 1 + kinship(id, K)", pheno)
    >>> geno = pd.DataFrame(geno, index=ids)  # genotypes by id
    >>> fit2 = sg.fit("y ~ 1 + kinship(id, Z=geno)", pheno)
    >>> h = fit2.heritability()
    >>> bool(0 <= h["h2"] <= 1 and h["se"] > 0)
    True
    """
    where = special.text or f"{special.func}(...)"
    kw = check_arguments(special, {"K", "Z", "ids", "standardize", "sigma"}, where)
    if not special.variables:
        raise FormulaError(f"{where}: give the id column first, e.g. {special.func}(id, K)")
    id_col, *rest = special.variables
    if len(rest) > 1:
        raise FormulaError(f"{where}: expected (id, K), got {special.variables}")
    if rest:
        if "K" in kw or "Z" in kw:
            raise FormulaError(f"{where}: K given twice (positionally and by name)")
        if rest[0] not in env:
            raise FormulaError(f"{where}: {rest[0]!r} is not defined in the caller's namespace")
        kw["K"] = env[rest[0]]
    if id_col not in data.columns:
        raise FormulaError(f"{where}: id column {id_col!r} is not a column of the data")
    K, labels = read_covariance(kw, where)
    data_ids = data[id_col].astype(str).to_numpy()
    index = {lab: i for i, lab in enumerate(labels)}
    missing = sorted(set(data_ids) - set(index))
    if missing:
        raise ValueError(f"{where}: {len(missing)} id(s) of column {id_col!r} are not ids of "
                         f"K: {missing[:5]}{' ...' if len(missing) > 5 else ''} (K's ids look "
                         f"like {labels[:3]})")
    present = sorted({index[v] for v in data_ids})  # K's order, restricted to the data
    if len(present) < 2:
        raise ValueError(f"{where}: the data have fewer than 2 distinct ids")
    levels = [labels[i] for i in present]
    others = [i for i in range(len(labels)) if i not in set(present)]
    Kss = K[np.ix_(present, present)]
    F, triangular = psd_factor(Kss, where)
    q = len(levels)
    if triangular:
        template, rows, cols = lower_triangle_template(q)
    else:
        template = sp.csc_matrix(np.ones((q, q)))
        template.sort_indices()
        coo = template.tocoo()
        rows, cols = coo.row, coo.col
    relative = family.is_gaussian_identity
    fixed = kw.pop("sigma", None)
    if fixed is not None and relative:
        raise FormulaError(f"{where}: sigma= can be fixed only for families with a known scale")
    code_of = {lab: i for i, lab in enumerate(levels)}
    codes = np.array([code_of[v] for v in data_ids])
    term = KnownCovTerm(name=f"{special.func}({id_col})", id_col=id_col, levels=levels,
                        F_values=F[rows, cols], relative=relative,
                        fixed_sigma=None if fixed is None else float(fixed),
                        K_new=K[np.ix_(others, present)], K_new_diag=K[others, others],
                        new_levels=[labels[i] for i in others], factor=F,
                        triangular=triangular)
    start = np.array([]) if fixed is not None else np.array([1.0 if relative else 0.5])
    return [Block(name=term.name, Z=indicator(codes, q), kind="factor", phi_start=start,
                  phi_lower=np.zeros(len(start)), phi_upper=np.full(len(start), np.inf),
                  template=template, term=term)]
