"""Full-rank Gaussian-process random effects: ``gp(x, y, kernel='matern', nu=1.5, ...)``.

A GP term is a random effect over the unique sites (several observations per site allowed):
``b_site ~ N(0, s (sigma^2 K(range) + tau^2 I))`` where ``K`` is a correlation matrix of the
site distances, ``tau`` an optional nugget (a site-level iid effect: for Poisson counts the
extra-Poisson variation of Diggle, Tawn & Moyeed 1998) and ``s`` the residual variance for the
Gaussian family (so ``sigma`` and ``tau`` are then *relative* to the residual SD, as lme4's
theta) and 1 otherwise. As an engine block (``kind="factor"``) it is

    Z = site indicator (n x q),   Lambda(phi) = chol(sigma^2 (K + jitter I) + tau^2 I),

lower triangular, stored as the full lower triangle in CSC order. Folding the nugget into the
same factor is exact for the likelihood (both effects share the indicator design) and keeps the
system at q, not 2q. Parameters on the optimiser scale: ``log range``, ``sigma >= 0``,
``tau >= 0`` (nugget) and ``log nu`` (estimated Matern smoothness); fixed ones are left out.
Zero variances are reachable and reported as a boundary (singular) fit.

Prediction at new sites is kriging: the b-space rows are ``sigma^2 K(new, sites) C^-1`` with
``C = sigma^2 K + tau^2 I`` (the conditional mean of the *smooth* field given the site
effects), and :meth:`GPTerm.extra_variance` adds the kriging variance
``s sigma^2 (1 - sigma^2 k' C^-1 k)`` that the posterior of the site effects does not carry.
A new point at exactly an observed site is that site (its full effect, nugget included).

Range convention: ``range`` is the kernel's length parameter of :mod:`spatialgamm.kernels`
(geoR/glmmTMB's phi: ``exp(-d/range)`` for the exponential); the effective ranges at
correlation 0.05 and 0.14 are reported next to it (``fit.gp_params``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import FormulaError
from ..kernels import KernelChoice, effective_range, pairwise_distance, parse_kernel
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, coordinate_matrix, register_term

NU_BOUNDS = (0.1, 20.0)
REL_MAX = 1e4  # largest GP SD relative to the residual SD (Gaussian family)
_GEO_NAMES = {"lon", "long", "longitude", "lng", "lat", "latitude"}


# ---- coordinates --------------------------------------------------------------------------
def check_crs(data: pd.DataFrame, kw: dict[str, Any], variables: tuple[str, ...],
              where: str) -> Any:
    """Refuse a geographic CRS (``crs=`` or the data's ``.crs``); return the CRS or None.

    Distances in degrees are not distances: a GP on longitude/latitude needs projected
    coordinates. Coordinate names that look like lon/lat without any CRS draw a warning.

    Examples
    --------
    >>> check_crs(pd.DataFrame(), {"crs": "EPSG:32633"}, ("x", "y"), "gp(x, y)").to_epsg()
    32633
    """
    crs = kw.pop("crs", None)
    if crs is None:
        crs = getattr(data, "crs", None)
        if crs is None and isinstance(getattr(data, "attrs", None), dict):
            crs = data.attrs.get("crs")
    if crs is not None:
        from pyproj import CRS
        try:
            c = CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") and
                                    not isinstance(crs, str) else crs)
        except Exception as exc:  # pyproj's CRSError; keep its reason
            raise FormulaError(f"{where}: crs={crs!r} is not a coordinate reference system "
                               f"({exc})") from exc
        if c.is_geographic:
            raise FormulaError(
                f"{where}: the coordinates' CRS ({c.name}) is geographic (longitude/latitude "
                "in degrees); a GP needs planar distances. Project the data first, e.g. "
                "gdf.to_crs(gdf.estimate_utm_crs()), and use the projected x/y columns.")
        return c
    if {v.lower() for v in variables} & _GEO_NAMES:
        warnings.warn(f"{where}: coordinates {variables} look like longitude/latitude; "
                      "distances are computed as planar. Project them (e.g. to UTM) unless "
                      "they already are projected.", UserWarning, stacklevel=4)
    return None


def unique_sites(coords: np.ndarray, site_ids: np.ndarray | None, where: str,
                 site_col: str | None, nugget: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """Sites (q x D), the site index of every row, and site labels.

    Without ``site=`` a site is a unique coordinate combination. With it, a site is an id
    whose coordinates must agree across its rows; two ids at identical coordinates make K
    singular (correlation 1) and are refused unless a nugget separates them.

    Examples
    --------
    >>> sites, index, _ = unique_sites(np.array([[0., 0], [1, 0], [0, 0]]), None, "gp", None,
    ...                                False)
    >>> index.tolist()
    [0, 1, 0]
    """
    if site_ids is None:
        sites, inv = np.unique(coords, axis=0, return_inverse=True)
        return sites, inv.ravel(), [tuple(s) for s in sites]
    cat = pd.Categorical(site_ids)
    inv = np.asarray(cat.codes)
    q = len(cat.categories)
    sites = np.full((q, coords.shape[1]), np.nan)
    sites[inv] = coords
    conflict = np.any(np.abs(sites[inv] - coords) > 1e-9 * (1 + np.abs(coords)), axis=1)
    if conflict.any():
        i = int(np.argmax(conflict))
        lab = cat.categories[inv[i]]
        rows = np.flatnonzero(inv == inv[i])
        seen = np.unique(coords[rows], axis=0)
        raise ValueError(f"{where}: site {lab!r} of column {site_col!r} has conflicting "
                         f"coordinates {[tuple(map(float, s)) for s in seen[:3]]} "
                         f"(rows {rows[:5].tolist()}); a site must have one location")
    if not nugget:
        u, first, counts = np.unique(sites, axis=0, return_index=True, return_counts=True)
        if np.any(counts > 1):
            dup = u[np.argmax(counts > 1)]
            ids = [cat.categories[j] for j in np.flatnonzero(np.all(sites == dup, axis=1))]
            raise ValueError(f"{where}: sites {ids[:4]} of column {site_col!r} share the "
                             f"coordinates {tuple(map(float, dup))}: their GP correlation is 1 "
                             "and K is singular. Merge them (omit site=) or add nugget=True")
    return sites, inv, [str(c) for c in cat.categories]


def indicator(index: np.ndarray, q: int, rows: np.ndarray | None = None, n: int | None = None
              ) -> sp.csc_matrix:
    """Sparse n x q indicator of ``index`` (rows ``rows`` of an n-row design; -1 = none).

    Examples
    --------
    >>> indicator(np.array([1, 0, -1]), 2).toarray()
    array([[0., 1.],
           [1., 0.],
           [0., 0.]])
    """
    n = len(index) if n is None else n
    rows = np.arange(len(index)) if rows is None else rows
    ok = index >= 0
    return sp.csc_matrix((np.ones(int(ok.sum())), (rows[ok], index[ok])), shape=(n, q))


def lower_triangle_template(q: int) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """CSC pattern of a full lower triangle and the (row, col) of its stored values in order.

    Examples
    --------
    >>> t, rows, cols = lower_triangle_template(2)
    >>> rows.tolist(), cols.tolist(), t.nnz
    ([0, 1, 1], [0, 0, 1], 3)
    """
    cols, rows = np.triu_indices(q)  # column-major order of the lower triangle
    t = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(q, q))
    t.sort_indices()
    return t, rows, cols


# ---- the term -----------------------------------------------------------------------------
@dataclass(eq=False)
class GPTerm(LatentTerm):
    """One exact GP over its sites (one level of a ``by`` factor)."""

    abilities = frozenset({Ability.FIELD_REPORT, Ability.KRIGING_VARIANCE,
                           Ability.FIELD_COVARIANCE, Ability.RANEF_FRAME,
                           Ability.LAMBDA_JACOBIAN, Ability.COVARIANCE_FORM})

    name: str
    variables: tuple[str, ...]
    kernel: KernelChoice
    sites: np.ndarray
    site_labels: list
    nugget: bool
    relative: bool  # Gaussian family: sigma, tau are relative to the residual SD
    fixed: dict[str, float]
    jitter: float
    by: tuple[str, str] | None = None
    site_col: str | None = None
    crs: Any = None
    range_bounds: tuple[float, float] = (0.0, np.inf)
    phi_names: list[str] = field(default_factory=list)
    design_needs_phi = True  # predict passes the fitted phi to design_for

    def __post_init__(self) -> None:
        self.q = len(self.sites)
        self.dist = pairwise_distance(self.sites)
        self._tri_rows, self._tri_cols = np.triu_indices(self.q)[::-1]
        self._cache: dict[str, tuple[bytes, Any]] = {}
        self._site_lookup = {tuple(s): i for i, s in enumerate(map(tuple, self.sites))}

    # -- parameters ---------------------------------------------------------------------
    @property
    def spatial_coords(self) -> tuple[str, ...] | None:
        return self.variables if len(self.variables) == 2 else None

    def unpack(self, phi: np.ndarray) -> dict[str, float]:
        """Kernel parameters on their natural scale: range, sigma, tau, nu."""
        val = dict(self.fixed)
        for name, x in zip(self.phi_names, np.asarray(phi, dtype=float)):
            if name == "log_range":
                val["range"] = math.exp(x)
            elif name == "log_nu":
                val["nu"] = math.exp(x)
            elif name == "sigma":
                val["sigma"] = abs(float(x))
            elif name == "tau":
                val["tau"] = abs(float(x))
        val.setdefault("tau", 0.0)
        val.setdefault("nu", self.kernel.nu)
        return val

    def correlation(self, d: np.ndarray, range: float, nu: float | None) -> np.ndarray:
        return self.kernel.kernel(nu)(d, range)

    def _chol_K(self, range: float, nu: float | None) -> np.ndarray:
        """Cholesky factor of K(range) + jitter I (cached: sigma steps reuse it)."""
        key = np.array([range, -1.0 if nu is None else nu]).tobytes()
        hit = self._cache.get("K")
        if hit is not None and hit[0] == key:
            return hit[1]
        K = self.correlation(self.dist, range, nu)
        K[np.diag_indices(self.q)] += self.jitter
        try:
            L = sla.cholesky(K, lower=True, check_finite=False)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(
                f"{self.name}: K(range={range:.4g}) is not numerically positive definite; "
                "increase jitter= or add nugget=True") from exc
        self._cache["K"] = (key, L)
        return L

    def factor(self, phi: np.ndarray) -> np.ndarray:
        """``chol(sigma^2 (K + jitter I) + tau^2 I)``, the q x q lower factor (cached)."""
        key = np.asarray(phi, dtype=float).tobytes()
        hit = self._cache.get("L")
        if hit is not None and hit[0] == key:
            return hit[1]
        v = self.unpack(phi)
        s, t = v["sigma"], v["tau"]
        if s == 0.0:
            L = np.eye(self.q) * t
        elif t == 0.0:
            L = s * self._chol_K(v["range"], v["nu"])
        else:
            L = sla.cholesky(self.covariance_matrix(phi), lower=True, check_finite=False)
        self._cache["L"] = (key, L)
        return L

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        return self.factor(phi)[self._tri_rows, self._tri_cols]

    def lambda_jacobian(self, phi: np.ndarray) -> np.ndarray:
        """d(stored Lambda values)/d phi: exact for sigma without a nugget (Lambda is then
        sigma chol(K)), central differences (two Cholesky factorisations) otherwise."""
        phi = np.asarray(phi, dtype=float)
        v = self.unpack(phi)
        J = np.empty((len(self._tri_rows), len(phi)))
        for i, name in enumerate(self.phi_names):
            if name == "sigma" and v["tau"] == 0.0:
                J[:, i] = self._chol_K(v["range"], v["nu"])[self._tri_rows, self._tri_cols]
                continue
            h = 1e-6 * max(1.0, abs(phi[i]))
            e = np.zeros(len(phi))
            e[i] = h
            J[:, i] = (self.lambda_values(phi + e) - self.lambda_values(phi - e)) / (2 * h)
        return J

    def covariance_matrix(self, phi: np.ndarray) -> np.ndarray:
        """``Lambda Lambda' = sigma^2 (K + jitter I) + tau^2 I`` without forming the product
        (for solvers that work with the covariance of the site effects directly)."""
        v = self.unpack(phi)
        s, t = v["sigma"], v["tau"]
        C = (s * s) * self.correlation(self.dist, v["range"], v["nu"])
        C[np.diag_indices(self.q)] += s * s * self.jitter + t * t
        return C

    def covariance_jacobian(self, phi: np.ndarray) -> list[np.ndarray]:
        """d covariance_matrix / d phi_j for each parameter: exact for sigma and tau,
        central differences of the kernel in log range and log nu (step 1e-5: ~1e-10
        relative, well below what the optimiser resolves)."""
        phi = np.asarray(phi, dtype=float)
        v = self.unpack(phi)
        out = []
        for i, name in enumerate(self.phi_names):
            if name == "sigma":
                R = self.correlation(self.dist, v["range"], v["nu"])
                R[np.diag_indices(self.q)] += self.jitter
                out.append(2.0 * phi[i] * R)
            elif name == "tau":
                out.append(np.diag(np.full(self.q, 2.0 * phi[i])))
            else:
                h = 1e-5
                e = np.zeros(len(phi))
                e[i] = h
                out.append((self.covariance_matrix(phi + e) - self.covariance_matrix(phi - e))
                           / (2 * h))
        return out

    def at_boundary(self, phi: np.ndarray, tol: float = 1e-4) -> list[str]:
        v = self.unpack(phi)
        out = []
        if "sigma" not in self.fixed and v["sigma"] < tol:
            out.append(f"{self.name}: GP variance is zero")
        if self.nugget and "tau" not in self.fixed and v["tau"] < tol:
            out.append(f"{self.name}: nugget variance is zero")
        if self.relative and max(v["sigma"], v["tau"]) > REL_MAX * (1 - 1e-6):
            out.append(f"{self.name}: the residual variance is negligible next to the GP's "
                       f"(ratio of SDs at its cap {REL_MAX:g}): the GP interpolates the data; "
                       "with one observation per site the residual is the nugget")
        if "range" not in self.fixed and v["sigma"] >= tol:
            lo, hi = self.range_bounds
            r = v["range"]
            if r > hi * (1 - 1e-3):
                out.append(f"{self.name}: range at its upper bound {hi:.4g} (the data do not "
                           "identify it: the field is close to a trend); fix range= or use "
                           "a smoother kernel")
            elif r < lo * (1 + 1e-3):
                out.append(f"{self.name}: range at its lower bound {lo:.4g} (no spatial "
                           "correlation between sites: an iid effect)")
        if self.kernel.estimate_nu:
            nu = v["nu"]
            if nu < NU_BOUNDS[0] * 1.001 or nu > NU_BOUNDS[1] * 0.999:
                out.append(f"{self.name}: smoothness nu at its bound ({nu:.3g})")
        return out

    # -- what users read ----------------------------------------------------------------
    def report(self, phi: np.ndarray, scale: float) -> dict[str, Any]:
        """Estimates on the user's scale (absolute SDs) with the range convention."""
        v = self.unpack(phi)
        f = math.sqrt(scale) if self.relative else 1.0
        nu = v["nu"] if self.kernel.name == "matern" else self.kernel.matern_nu
        kern = self.kernel.kernel(v["nu"] if self.kernel.name == "matern" else None)
        r = v["range"]
        return dict(term=self.name, kernel=self.kernel.label(v["nu"]), range=r,
                    sigma=v["sigma"] * f, nu=nu,
                    nugget=(v["tau"] * f) if self.nugget else np.nan,
                    effective_range=effective_range(kern, r, 0.05),
                    effective_range_014=effective_range(kern, r, 0.14),
                    range_convention=self.kernel.convention, n_sites=self.q)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        rep = self.report(phi, scale)
        rows = [dict(grp=self.name, var1="gp", var2=None, vcov=rep["sigma"] ** 2,
                     sdcor=rep["sigma"])]
        if self.nugget:
            rows.append(dict(grp=self.name, var1="nugget", var2=None,
                             vcov=rep["nugget"] ** 2, sdcor=rep["nugget"]))
        return rows

    def ranef_frame(self, b: np.ndarray) -> pd.DataFrame:
        """Site effects (conditional modes), one row per site with its coordinates."""
        frame = pd.DataFrame(self.sites, columns=list(self.variables))
        frame["effect"] = np.asarray(b, dtype=float)
        if self.site_col is not None:
            frame.index = pd.Index(self.site_labels, name=self.site_col)
        return frame

    # -- prediction -----------------------------------------------------------------------
    def new_coords(self, newdata: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of the rows of ``newdata`` this term applies to, and those rows."""
        missing = [v for v in self.variables if v not in newdata.columns]
        if missing:
            raise ValueError(f"newdata lacks coordinate column(s) {missing} of {self.name}")
        X = coordinate_matrix(newdata, self.variables, f"{self.name} (newdata)")
        rows = np.arange(len(newdata))
        if self.by is not None:
            col, level = self.by
            if col not in newdata.columns:
                raise ValueError(f"newdata lacks the by= column {col!r} of {self.name}")
            rows = np.flatnonzero(newdata[col].astype(str).to_numpy() == level)
            X = X[rows]
        return X, rows

    def _kriging(self, X: np.ndarray, phi: np.ndarray, chunk: int = 4096):
        """Yield (slice, site index or -1, weights W = sigma^2 k' C^-1, k' C^-1 k sigma^2)."""
        v = self.unpack(phi)
        s, t = v["sigma"], v["tau"]
        match = np.array([self._site_lookup.get(tuple(x), -1) for x in X], dtype=int)
        if s == 0.0:  # no smooth field: the site effects are all nugget
            for i in range(0, len(X), chunk):
                sl = slice(i, min(i + chunk, len(X)))
                yield sl, match[sl], np.zeros((sl.stop - sl.start, self.q)), \
                    np.ones(sl.stop - sl.start)
            return
        L = self._chol_K(v["range"], v["nu"]) if t == 0 else self.factor(phi) / s
        # with L L' = K + (t/s)^2 I (+ jitter): W = K_ns (L L')^-1, quad = rowsum(W * K_ns)
        for i in range(0, len(X), chunk):
            sl = slice(i, min(i + chunk, len(X)))
            Kns = self.correlation(pairwise_distance(X[sl], self.sites), v["range"], v["nu"])
            tmp = sla.solve_triangular(L, Kns.T, lower=True, check_finite=False)
            W = sla.solve_triangular(L, tmp, lower=True, trans="T", check_finite=False).T
            quad = np.einsum("ij,ij->i", tmp.T, tmp.T)
            yield sl, match[sl], W, quad

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[np.ndarray, None]:
        """Kriging weights of the site effects at new rows (b-space design rows).

        Rows at an observed site are that site's indicator; other rows get
        ``sigma^2 K(new, sites) C^-1``. Rows of other ``by`` levels are zero.
        """
        if phi is None:
            raise ValueError(f"{self.name}: kriging weights need the fitted parameters (phi)")
        X, rows = self.new_coords(newdata)
        Z = np.zeros((len(newdata), self.q))
        for sl, match, W, _ in self._kriging(X, phi):
            r = rows[sl]
            Z[r] = W
            hit = match >= 0
            Z[r[hit]] = 0.0
            Z[r[hit], match[hit]] = 1.0
        return Z, None

    def extra_variance(self, newdata: pd.DataFrame, phi: np.ndarray, scale: float
                       ) -> np.ndarray:
        """Kriging variance ``s sigma^2 (1 - k' (K + (tau/sigma)^2 I)^-1 k)`` at new rows.

        Zero at observed sites and for rows of other ``by`` levels. The nugget of a new
        site is not included: this is the variance of the smooth field there.
        """
        X, rows = self.new_coords(newdata)
        v = self.unpack(phi)
        f = scale if self.relative else 1.0
        out = np.zeros(len(newdata))
        for sl, match, _, quad in self._kriging(X, phi):
            var = f * v["sigma"] ** 2 * np.clip(1.0 - quad, 0.0, None)
            var[match >= 0] = 0.0
            out[rows[sl]] = var
        return out

    def field_covariance(self, X: np.ndarray, phi: np.ndarray, scale: float) -> np.ndarray:
        """Conditional covariance of the smooth field at points ``X`` given the site effects."""
        v = self.unpack(phi)
        s, t = v["sigma"], v["tau"]
        f = scale if self.relative else 1.0
        if s == 0.0:
            return np.zeros((len(X), len(X)))
        L = self._chol_K(v["range"], v["nu"]) if t == 0 else self.factor(phi) / s
        Knn = self.correlation(pairwise_distance(X), v["range"], v["nu"])
        Kns = self.correlation(pairwise_distance(X, self.sites), v["range"], v["nu"])
        tmp = sla.solve_triangular(L, Kns.T, lower=True, check_finite=False)
        C = f * s * s * (Knn - tmp.T @ tmp)
        match = np.array([self._site_lookup.get(tuple(x), -1) for x in X], dtype=int) >= 0
        C[match, :] = 0.0
        C[:, match] = 0.0
        return 0.5 * (C + C.T)


# ---- building ------------------------------------------------------------------------------
_ALLOWED = {"kernel", "nu", "power", "range", "sigma", "nugget", "by", "site", "crs", "jitter"}


def _positive(kw: dict, key: str, where: str, allow_zero: bool = False) -> float | None:
    val = kw.pop(key, None)
    if val is None:
        return None
    ok = isinstance(val, (int, float)) and not isinstance(val, bool) and np.isfinite(val) and (
        val >= 0 if allow_zero else val > 0)
    if not ok:
        kind = "non-negative" if allow_zero else "positive"
        raise FormulaError(f"{where}: {key}= must be a {kind} number, got {val!r}")
    return float(val)


@register_term("gp")
def build_gp(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
             ) -> list[Block]:
    """Blocks of ``gp(x, y, kernel=, nu=, range=, sigma=, nugget=, by=, site=, crs=)``.

    A factor ``by`` gives one GP (own range and variance) per level, as brms'
    ``gp(x, by=fac)``; include the factor's main effect in the fixed part yourself.
    ``nu='estimate'`` estimates the Matern smoothness; ``range=``/``sigma=`` fix those;
    ``site=`` (a column name, quoted) defines sites by id instead of by coordinates;
    ``crs=`` declares the coordinates' CRS (a geographic one is refused); ``jitter=`` is
    added to K's diagonal (default 1e-8) so smooth kernels stay numerically positive definite.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> fit = sg.fit("z ~ 1 + gp(x, y, kernel='exp_quad')", sg.datasets.load_topo(),
    ...              method="ML")
    >>> round(fit.range, 2), round(fit.gp_sigma, 1)
    (1.17, 53.2)
    """
    where = special.text or f"gp({', '.join(special.variables)})"
    kw = check_arguments(special, _ALLOWED, where)
    variables = tuple(special.variables)
    crs = check_crs(data, kw, variables, where)
    kern = parse_kernel(kw, where)
    if kern.name == "spherical" and len(variables) > 3:
        raise FormulaError(f"{where}: the spherical kernel is valid in up to 3 dimensions")
    coords = coordinate_matrix(data, variables, where)
    nugget = bool(kw.pop("nugget", False))
    relative = family.is_gaussian_identity
    fixed: dict[str, float] = {}
    r = _positive(kw, "range", where)
    if r is not None:
        fixed["range"] = r
    s = _positive(kw, "sigma", where, allow_zero=True)
    if s is not None:
        if relative:
            raise FormulaError(f"{where}: sigma= fixes the GP standard deviation, which for a "
                               "Gaussian model is estimated relative to the residual SD; fix "
                               "it only for families with a known scale (poisson, binomial)")
        fixed["sigma"] = s
    jitter = kw.pop("jitter", 1e-8)
    if not isinstance(jitter, (int, float)) or not (0 <= jitter < 1):
        raise FormulaError(f"{where}: jitter must be in [0, 1), got {jitter!r}")
    site_col = kw.pop("site", None)
    if site_col is not None and site_col not in data.columns:
        raise FormulaError(f"{where}: site={site_col!r} is not a column of the data")
    by = kw.pop("by", None)
    base = f"gp({','.join(variables)})"
    if by is None:
        groups = [(None, np.arange(len(data)))]
    else:
        if by not in data.columns:
            raise FormulaError(f"{where}: by={by!r} is not a column of the data")
        cat = pd.Categorical(data[by].astype(str))
        cat = cat.remove_unused_categories()
        groups = [((by, str(lev)), np.flatnonzero(cat == lev)) for lev in cat.categories]
    blocks = []
    for grp, rows in groups:
        name = base if grp is None else f"{base}:{grp[0]}{grp[1]}"
        ids = None if site_col is None else data[site_col].to_numpy()[rows]
        sites, inv, labels = unique_sites(coords[rows], ids, name, site_col, nugget)
        q = len(sites)
        if q < 3:
            raise ValueError(f"{name}: a GP needs at least 3 distinct sites, found {q}")
        counts = np.bincount(inv, minlength=q)
        if nugget and relative and counts.max() == 1:
            raise FormulaError(f"{where}: nugget=True with one observation per site in a "
                               "Gaussian model: the nugget is the residual variance and is not "
                               "identifiable; drop nugget=True")
        term = GPTerm(name=name, variables=variables, kernel=kern, sites=sites,
                      site_labels=labels, nugget=nugget, relative=relative, fixed=fixed,
                      jitter=float(jitter), by=grp, site_col=site_col, crs=crs)
        blocks.append(_block(term, indicator(inv, q, rows, len(data)), relative))
    return blocks


def _block(term: GPTerm, Z: sp.csc_matrix, relative: bool) -> Block:
    d = term.dist[np.triu_indices(term.q, 1)]
    dmax, dmin = float(d.max()), float(d[d > 0].min())
    unit = effective_range(term.kernel.kernel(), 1.0, 0.05)  # effective range of range = 1
    lo, hi = dmin / 10.0, 20.0 * dmax
    term.range_bounds = (lo, hi)
    names, start, lower, upper = [], [], [], []
    if "range" not in term.fixed:
        names.append("log_range")
        start.append(math.log(min(max(dmax / 3.0 / unit, lo * 2), hi / 2)))
        lower.append(math.log(lo))
        upper.append(math.log(hi))
    # relative SDs (Gaussian) are capped: beyond REL_MAX the residual variance is nil and
    # the likelihood is flat along a ridge to infinity (the GP interpolates the data)
    sd_max = REL_MAX if relative else np.inf
    if "sigma" not in term.fixed:
        names.append("sigma")
        start.append(1.0 if relative else 0.5)
        lower.append(0.0)
        upper.append(sd_max)
    if term.nugget:
        names.append("tau")
        start.append(0.5 if relative else 0.2)
        lower.append(0.0)
        upper.append(sd_max)
    if term.kernel.estimate_nu:
        names.append("log_nu")
        start.append(math.log(term.kernel.nu))
        lower.append(math.log(NU_BOUNDS[0]))
        upper.append(math.log(NU_BOUNDS[1]))
    term.phi_names = names
    template, _, _ = lower_triangle_template(term.q)
    return Block(name=term.name, Z=Z, kind="factor", phi_start=np.array(start, dtype=float),
                 phi_lower=np.array(lower, dtype=float), phi_upper=np.array(upper, dtype=float),
                 template=template, term=term)
