"""brms's ``gp()`` terms for :func:`spatialgamm.mcmc.brm`: data, scaling, bases and priors.

brms's Gaussian process (``gp(x1, ..., by=, k=, c=, scale=TRUE, gr=TRUE)``, squared-exponential
kernel ``k(x, x') = sdgp^2 exp(-||x - x'||^2 / (2 lscale^2))``, isotropic) differs from the
package's geostatistical ``gp()`` (Matern, ``range``), so ``brm()`` reads these terms itself and
keeps brms's conventions:

* ``gr=TRUE``: one latent value per unique covariate value (rows sharing a location share it);
* ``scale=TRUE``: the unique values are divided by their largest pairwise distance ``dmax``,
  so ``lscale`` is on the scale where the data span 1;
* ``by=fac``: one GP (own ``sdgp`` and ``lscale``) per level, on that level's rows
  (brms's ``cmc=TRUE``); a numeric ``by`` multiplies the GP;
* ``k=`` (with ``c``, default 5/4): the Hilbert-space approximation (Solin & Sarkka 2020,
  Riutort-Mayol et al. 2023). The scaled values are centred (``cmeans``); on ``[-L, L]`` with
  ``L = c * max(1, range of the centred values)`` (brms's ``choose_L``) the basis is
  ``phi_j(x) = prod_d L^-1/2 sin(j_d pi (x_d + L) / (2 L))`` for every ``j`` in
  ``{1..k}^D``, with ``omega_j^2 = sum_d (j_d pi / (2 L))^2`` and spectral density
  ``S(omega) = sdgp^2 (sqrt(2 pi) lscale)^D exp(-lscale^2 omega^2 / 2)``;
  ``f = Phi (sqrt(S) * z)``. ``hsgp(x, ..., k=, c=)`` is the same term.

The default prior on ``lscale`` is brms's: the inverse gamma with 1% of its mass below the
smallest (non-zero) and 1% above the largest distance between the scaled unique values (the
smallest raised to 1% of the largest), its parameters rounded to six digits.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.spatial import ConvexHull, cKDTree

from ..errors import FormulaError
from ..formula.parse import parse_special, split_top_level

#: calls brm() reads as brms GPs
GP_CALLS = ("gp", "hsgp")
_GP_KWARGS = {"by", "k", "m", "c", "scale", "gr", "cov", "iso", "cmc"}


@dataclass
class GPPart:
    """One latent GP of a ``gp()`` term (one per level of a factor ``by``).

    Attributes
    ----------
    label : str
        brms's suffix, e.g. ``"gpx"`` or ``"gpxfaca"`` (parameters ``sdgp_<label>``,
        ``lscale_<label>``).
    covars : tuple of str
        Covariate columns.
    rows : ndarray of int
        Data rows this GP enters.
    cgp : ndarray
        Its multiplier on those rows (1, or a numeric ``by``).
    jgp : ndarray of int
        Unique-site index of each of ``rows``.
    sites : ndarray
        Unique covariate values after scaling (m x D), not centred.
    dmax : float
        Scale divisor (1 when ``scale=False``).
    k, c : int or None, float or None
        Basis size per dimension and boundary factor of the approximation (None: exact GP).
    """

    label: str
    covars: tuple[str, ...]
    rows: np.ndarray
    cgp: np.ndarray
    jgp: np.ndarray
    sites: np.ndarray
    dmax: float
    k: int | None = None
    c: float | None = None
    by: str | None = None
    level: str | None = None
    cmeans: np.ndarray = field(default_factory=lambda: np.zeros(0))
    L: float = 1.0
    js: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))

    def __post_init__(self) -> None:
        self.cmeans = self.sites.mean(axis=0)
        if self.k is not None:
            ctr = self.sites - self.cmeans
            rng = float(ctr.max() - ctr.min()) if ctr.size else 1.0
            self.L = float(self.c) * max(1.0, rng)
            D = self.sites.shape[1]
            self.js = np.array(list(itertools.product(range(1, self.k + 1), repeat=D)))

    @property
    def D(self) -> int:
        return self.sites.shape[1]

    @property
    def approximate(self) -> bool:
        return self.k is not None

    @property
    def n_latent(self) -> int:
        return len(self.js) if self.approximate else len(self.sites)

    def scaled(self, frame: pd.DataFrame) -> np.ndarray:
        """Covariate values of ``frame`` on this GP's scale (m x D)."""
        X = np.column_stack([np.asarray(frame[v], dtype=float) for v in self.covars])
        return X / self.dmax

    def omega2(self) -> np.ndarray:
        """Squared frequencies ``sum_d (j_d pi / 2L)^2`` of the basis functions."""
        return np.sum((self.js * math.pi / (2 * self.L)) ** 2, axis=1)

    def basis(self, xs: np.ndarray) -> np.ndarray:
        """Eigenfunctions at scaled values ``xs`` (rows) for every ``j``: (rows, k^D)."""
        x = xs - self.cmeans
        out = np.ones((len(x), len(self.js)))
        for d in range(self.D):
            out *= np.sin(self.js[None, :, d] * math.pi / (2 * self.L)
                          * (x[:, d:d + 1] + self.L)) / math.sqrt(self.L)
        return out

    def distances(self) -> tuple[float, float]:
        """(smallest non-zero, largest) distance between the scaled unique values."""
        return min_max_distance(self.sites)


def min_max_distance(pts: np.ndarray) -> tuple[float, float]:
    """Smallest non-zero and largest pairwise Euclidean distance of ``pts`` (m x D).

    Examples
    --------
    >>> min_max_distance(np.array([[0.0], [1.0], [3.0]]))
    (1.0, 3.0)
    """
    pts = np.asarray(pts, dtype=float)
    if len(pts) < 2:
        return float("nan"), float("nan")
    if pts.shape[1] == 1:
        v = np.sort(pts[:, 0])
        d = np.diff(v)
        d = d[d > 0]
        return (float(d.min()) if d.size else float("nan")), float(v[-1] - v[0])
    tree = cKDTree(pts)
    dd, _ = tree.query(pts, k=2)
    nz = dd[:, 1][dd[:, 1] > 0]
    lo = float(nz.min()) if nz.size else float("nan")
    try:  # the largest distance is between hull vertices
        hv = pts[ConvexHull(pts).vertices] if pts.shape[1] > 1 and len(pts) > 3 else pts
    except Exception:  # degenerate (collinear) sets: all points
        hv = pts
    diff = hv[:, None, :] - hv[None, :, :]
    return lo, float(np.sqrt((diff ** 2).sum(-1)).max())


def lscale_prior_args(lb: float, ub: float) -> tuple[float, float] | None:
    """brms's default inverse gamma ``(shape, scale)`` for ``lscale``: ``P(l < lb) = 0.01``
    and ``P(l > ub) = 0.01``, with ``lb`` raised to at least ``0.01 ub``; rounded to 6 digits.
    None when the equations have no solution (brms then uses ``normal(0, 0.5)``).

    Examples
    --------
    >>> lscale_prior_args(0.0002, 1.0)  # brms 2.18: inv_gamma(1.494197, 0.056607)
    (1.494197, 0.056607)
    """
    lb = max(lb, 0.01 * ub)

    def eqs(p: np.ndarray) -> np.ndarray:
        a, b = np.exp(p)
        return np.array([stats.invgamma.logcdf(lb, a, scale=b) - math.log(0.01),
                         stats.invgamma.logsf(ub, a, scale=b) - math.log(0.01)])
    # Levenberg-Marquardt from brms's start (0, 0): Powell's hybrid method stalls there
    sol = optimize.root(eqs, np.zeros(2), method="lm")
    if not np.all(np.isfinite(sol.x)) or np.max(np.abs(eqs(sol.x))) > 1e-6:
        return None
    a, b = np.exp(sol.x)
    return round(float(a), 6), round(float(b), 6)


def _label(covars: tuple[str, ...], by: str | None) -> str:
    # brms's rename(): only letters, digits, '.' and '_' survive in parameter names
    return re.sub(r"[^A-Za-z0-9._]", "", "gp" + "".join(covars) + (by or ""))


def _unique(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows in order of first appearance (brms's ``match_rows``) and each row's index."""
    _, first, inv = np.unique(X, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return X[np.sort(first)], rank[inv.ravel()]


def _flag(kw: dict, key: str, default: bool, where: str) -> bool:
    v = kw.get(key, default)
    if not isinstance(v, (bool, np.bool_)):
        raise FormulaError(f"{where}: {key}= must be TRUE or FALSE, got {v!r}")
    return bool(v)


def build_gp_parts(text: str, data: pd.DataFrame, env: dict[str, Any]) -> list[GPPart]:
    """The latent GPs of one ``gp(...)`` / ``hsgp(...)`` term on ``data`` (brms's rules).

    Examples
    --------
    >>> d = pd.DataFrame({"x": [0.0, 1.0, 2.0, 1.0, 4.0]})
    >>> p, = build_gp_parts("gp(x)", d, {})
    >>> p.label, p.jgp.tolist(), p.sites.ravel().tolist()
    ('gpx', [0, 1, 2, 1, 3], [0.0, 0.25, 0.5, 1.0])
    """
    sp = parse_special(text, env)
    where = sp.text
    unknown = set(sp.kwargs) - _GP_KWARGS
    if unknown:
        raise FormulaError(f"{where}: unknown argument(s) {sorted(unknown)}; brms's gp() takes "
                           f"{sorted(_GP_KWARGS)}")
    if sp.kwargs.get("cov", "exp_quad") != "exp_quad":
        raise FormulaError(f"{where}: only cov='exp_quad' (brms 2.18's kernel) is supported")
    if not _flag(sp.kwargs, "iso", True, where):
        raise FormulaError(f"{where}: iso=FALSE (one lscale per dimension) is not supported")
    if not _flag(sp.kwargs, "cmc", True, where):
        raise FormulaError(f"{where}: cmc=FALSE is not supported")
    if not _flag(sp.kwargs, "gr", True, where):
        raise FormulaError(f"{where}: gr=FALSE is not supported (rows at one location share "
                           "their latent value)")
    scale = _flag(sp.kwargs, "scale", True, where)
    if not sp.variables:
        raise FormulaError(f"{where}: give at least one covariate")
    for v in sp.variables:
        if v not in data.columns:
            raise FormulaError(f"{where}: covariate {v!r} is not a column of data")
        if not pd.api.types.is_numeric_dtype(data[v]):
            raise FormulaError(f"{where}: covariate {v!r} must be numeric "
                               f"(dtype {data[v].dtype})")
    k = sp.kwargs.get("k", sp.kwargs.get("m"))
    if sp.func == "hsgp" and k is None:
        raise FormulaError(f"{where}: hsgp() needs k= (basis functions per dimension)")
    c = sp.kwargs.get("c", 5 / 4 if k is not None else None)
    if k is not None:
        if isinstance(k, bool) or not float(k).is_integer() or int(k) < 1:
            raise FormulaError(f"{where}: k must be a positive integer, got {k!r}")
        k = int(k)
        if not (isinstance(c, (int, float)) and not isinstance(c, bool) and c > 1):
            raise FormulaError(f"{where}: c must be a number > 1 (boundary factor), got {c!r}")
        c = float(c)
        if k ** len(sp.variables) > 4000:
            raise FormulaError(f"{where}: k^D = {k ** len(sp.variables)} basis functions is "
                               "too many")
    X = np.column_stack([np.asarray(data[v], dtype=float) for v in sp.variables])
    if not np.all(np.isfinite(X)):
        raise FormulaError(f"{where}: covariates {list(sp.variables)} have missing or "
                           "infinite values")
    by = sp.kwargs.get("by")
    groups: list[tuple[str | None, np.ndarray, np.ndarray]] = []
    if by is None:
        groups.append((None, np.arange(len(data)), np.ones(len(data))))
    else:
        if by not in data.columns:
            raise FormulaError(f"{where}: by={by!r} is not a column of data")
        col = data[by]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            groups.append((None, np.arange(len(data)), col.to_numpy(dtype=float)))
        else:
            cat = pd.Categorical(col)
            for j, lev in enumerate(cat.categories):
                rows = np.flatnonzero(np.asarray(cat.codes) == j)
                groups.append((str(lev), rows, np.ones(len(rows))))
    parts = []
    base = _label(tuple(sp.variables), by)
    for level, rows, cgp in groups:
        sites, jgp = _unique(X[rows])
        if len(sites) < 2:
            what = f"level {level!r} of {by}" if level is not None else "the data"
            raise FormulaError(f"{where}: {what} has fewer than two distinct covariate "
                               "values")
        dmax = 1.0
        if scale:
            dmax = min_max_distance(sites)[1]
            if not dmax > 0:
                raise FormulaError(f"{where}: cannot scale the covariates (all equal); "
                                   "use scale=FALSE")
        lab = base + (re.sub(r"[^A-Za-z0-9._]", "", level) if level is not None else "")
        parts.append(GPPart(label=lab, covars=tuple(sp.variables), rows=rows, cgp=cgp,
                            jgp=jgp, sites=sites / dmax, dmax=dmax, k=k, c=c, by=by,
                            level=level))
    return parts


def split_gp_terms(formula: str) -> tuple[str, list[str]]:
    """The formula without its ``gp()`` / ``hsgp()`` terms, and those terms' texts.

    Examples
    --------
    >>> split_gp_terms("y ~ fac + gp(x, by = fac, k = 15) + (1 | g)")
    ('y ~ fac + (1 | g)', ['gp(x, by = fac, k = 15)'])
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string with '~', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    keep, gps = [], []
    for t in split_top_level(rhs, "+"):
        t = t.strip()
        m = re.match(r"^([A-Za-z_][A-Za-z_0-9]*)\s*\(", t)
        if m and m.group(1) in GP_CALLS and t.endswith(")"):
            gps.append(t)
        elif t:
            keep.append(t)
    return f"{lhs.strip()} ~ {' + '.join(keep) if keep else '1'}", gps
