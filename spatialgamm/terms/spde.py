"""SPDE Matern fields in formulas: ``spde(x, y, mesh=mesh, alpha=2)``.

A field ``u`` on the nodes of a triangle mesh with the sparse SPDE precision
``Q(range, sigma)`` (Lindgren, Rue & Lindstrom 2011; DESIGN.md section 7) enters the linear
predictor through the barycentric projector: ``eta = ... + A u``, ``A`` with three non-zeros
per row. As an engine block it is ``kind="precision"``: ``u ~ N(0, s Q^-1)`` with ``s`` the
residual variance for the Gaussian family (so ``sigma`` is then *relative* to the residual SD,
as lme4's theta) and 1 otherwise. Parameters on the optimiser scale: ``(log range, log sigma)``.

The block hands its :class:`~spatialgamm.mesh.SPDEOperator` to the engine as
``Block.pencil``: ``Q``, ``dQ`` and the pencil ``(G, Ct)`` from which the engine computes
``log|Q|`` and its gradient (:mod:`spatialgamm.engine.prior`). This module factors nothing
and imports nothing from the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FormulaError
from ..mesh import Mesh, SPDEOperator
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, coordinate_matrix, register_term

#: keyword arguments spde() understands
SPDE_KWARGS = ("mesh", "alpha", "range0", "sigma0", "max_memory", "constr")

#: bytes per stored Cholesky-factor entry at the fit's peak (the factor, its copy, the
#: selected inverse in both triangles and the index arrays of the recursions)
BYTES_PER_FACTOR_ENTRY = 100


@dataclass(eq=False)
class SPDETerm(LatentTerm):
    """One ``spde(x, y, mesh=, alpha=)`` field.

    Attributes
    ----------
    name : str
        Label in tables, e.g. ``"spde(cX, cY)"``.
    variables : (str, str)
        Coordinate columns.
    mesh : Mesh
    alpha : float
        SPDE order, 1 < alpha <= 2 (Matern smoothness nu = alpha - 1).
    relative : bool
        Gaussian family: ``sigma`` on the optimiser scale is relative to the residual SD.
    range_bounds, sigma_bounds : (float, float)
        Box for the optimiser (natural scale).
    """

    abilities = frozenset({Ability.FIELD_REPORT})

    name: str
    variables: tuple[str, str]
    mesh: Mesh
    alpha: float
    relative: bool
    range_bounds: tuple[float, float]
    sigma_bounds: tuple[float, float]
    sigma0_given: bool = False
    range0_given: bool = False
    constr: bool = False
    phi_names: tuple[str, str] = ("log_range", "log_sigma")

    def __post_init__(self) -> None:
        # constr: the operator carries the sum-to-zero rows; the engine conditions on them
        self.operator = SPDEOperator(self.mesh, self.alpha, constr=self.constr)

    # -- parameters --------------------------------------------------------------------
    @property
    def spatial_coords(self) -> tuple[str, str]:
        return self.variables

    @property
    def nu(self) -> float:
        return self.alpha - 1.0

    def unpack(self, phi: np.ndarray) -> tuple[float, float]:
        """``(range, sigma)`` from ``(log range, log sigma)`` (sigma relative if Gaussian)."""
        return float(math.exp(phi[0])), float(math.exp(phi[1]))

    def Q(self, phi: np.ndarray) -> sp.csc_matrix:
        """The precision at ``phi = (log range, log sigma)`` (the operator's fixed pattern).

        Its log-determinant and gradient are the engine's (``Block.pencil``)."""
        rng, sig = self.unpack(phi)
        return self.operator.Q(rng, sig)

    def start_phi(self, data: pd.DataFrame, resid: np.ndarray, phi0: np.ndarray,
                  gaussian: bool) -> np.ndarray:
        """Starting ``(log range, log sigma)``: the empirical variogram of ``resid`` (working
        residuals of the model without the field, NaN where the weight is 0), unless
        range0= / sigma0= were given.

        For the Gaussian family ``sigma`` is relative to the residual SD, so the start is
        ``sqrt(partial sill / nugget)``; otherwise the partial sill's root."""
        xy = np.column_stack([data[v].to_numpy(dtype=float) for v in self.variables])
        vg = variogram_start(xy, resid, self.nu, self.range_bounds)
        phi = np.array(phi0, dtype=float)
        if vg is None:
            return phi
        r, psill, nugget = vg
        if not self.range0_given:
            phi[0] = np.log(np.clip(r, *self.range_bounds))
        if not self.sigma0_given:
            s = np.sqrt(psill / nugget) if gaussian else np.sqrt(psill)
            if np.isfinite(s) and s > 0:
                phi[1] = np.log(np.clip(s, 0.05, 20.0 if gaussian else 3.0))
        return phi

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        rng, sig = self.unpack(phi)
        out = []
        if sig <= self.sigma_bounds[0] * 1.001:
            out.append(f"{self.name}: field SD at its lower bound ({sig:.3g}): no spatial "
                       "variation detected")
        if rng >= self.range_bounds[1] * 0.999:
            out.append(f"{self.name}: range at its upper bound {rng:.4g} (the field is close "
                       "to a constant or a trend over the mesh)")
        elif rng <= self.range_bounds[0] * 1.001:
            out.append(f"{self.name}: range at its lower bound {rng:.4g}, below the mesh "
                       "resolution; refine the mesh or drop the field")
        return out

    # -- what users read ------------------------------------------------------------------
    def report(self, phi: np.ndarray, scale: float) -> dict[str, Any]:
        """Range (INLA's convention) and the field's marginal SD on the data's scale."""
        from ..kernels import Exponential, Matern, effective_range

        rng, sig = self.unpack(phi)
        f = math.sqrt(scale) if self.relative else 1.0
        kappa = math.sqrt(8 * self.nu) / rng
        kern = Exponential() if self.nu == 0.5 else Matern(self.nu)
        return dict(term=self.name, kernel=f"spde(alpha={self.alpha:g})", range=rng,
                    sigma=sig * f, nu=self.nu, nugget=np.nan,
                    effective_range=effective_range(kern, 1.0 / kappa, 0.05),
                    effective_range_014=rng,
                    range_convention="sqrt(8 nu) / kappa (INLA): correlation about 0.14",
                    n_sites=self.mesh.n)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        s = self.report(phi, scale)["sigma"]
        return [dict(grp=self.name, var1="field", var2=None, vcov=s * s, sdcor=s)]

    # -- design -----------------------------------------------------------------------------
    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[sp.csc_matrix, None]:
        """Projector rows at new locations (prediction)."""
        xy = coordinate_matrix(newdata, self.variables, f"{self.name} (newdata)")
        return project(self.mesh, xy, f"{self.name} (newdata)"), None


def variogram_start(xy: np.ndarray, resid: np.ndarray, nu: float,
                    bounds: tuple[float, float], max_points: int = 1500,
                    seed: int = 0) -> tuple[float, float, float] | None:
    """Starting ``(range, partial sill, nugget)`` from the empirical variogram of residuals.

    The classical geostatistical start (Cressie 1993, sec. 2.6): the semivariogram of the
    residuals of the model without the field on at most ``max_points`` sites, 20 distance
    classes up to half the largest distance, fitted by weighted least squares with the
    Matern correlation of the field (INLA's range convention); nugget and partial sill are
    non-negative least squares for each range on a grid. None when it cannot be formed.
    """
    from scipy.optimize import nnls
    from scipy.spatial.distance import pdist
    from scipy.special import gamma, kv

    ok = np.isfinite(resid)
    xy, resid = xy[ok], resid[ok]
    if len(resid) > max_points:
        pick = np.random.default_rng(seed).choice(len(resid), max_points, replace=False)
        xy, resid = xy[pick], resid[pick]
    if len(resid) < 10:
        return None
    d = pdist(xy)
    g = 0.5 * pdist(resid[:, None], "sqeuclidean")
    dmax = 0.5 * float(d.max())
    if not dmax > 0:
        return None
    edges = np.linspace(0.0, dmax, 21)
    k = np.digitize(d, edges) - 1
    use = (k >= 0) & (k < 20)
    cnt = np.bincount(k[use], minlength=20)
    gam = np.bincount(k[use], weights=g[use], minlength=20) / np.maximum(cnt, 1)
    h = np.bincount(k[use], weights=d[use], minlength=20) / np.maximum(cnt, 1)
    keep = cnt >= 10
    if keep.sum() < 4:
        return None
    h, gam, wts = h[keep], gam[keep], np.sqrt(cnt[keep])
    best = None
    lo, hi = max(bounds[0], 0.5 * h[0]), min(bounds[1], 4.0 * dmax)
    for r in np.geomspace(lo, max(hi, lo * 1.01), 40):
        x = np.sqrt(8 * nu) / r * h
        rho = 2 ** (1 - nu) / gamma(nu) * x ** nu * kv(nu, x)
        M = np.column_stack([np.ones_like(h), 1.0 - rho]) * wts[:, None]
        coef, res = nnls(M, gam * wts)
        if best is None or res < best[0]:
            best = (res, r, coef[1], coef[0])
    _, r, psill, nugget = best
    return (float(r), float(psill), float(nugget)) if psill > 0 else None


def project(mesh: Mesh, xy: np.ndarray, where: str) -> sp.csc_matrix:
    """Projector rows for coordinates, with an error naming the term and the points."""
    try:
        return mesh.projector(xy)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _available_memory() -> float:
    """Bytes of memory available (Linux MemAvailable; inf when unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("inf")


def memory_estimate(mesh: Mesh) -> float:
    """Rough bytes a fit on ``mesh`` needs: its Cholesky factor and selected inverse.

    With a nested-dissection ordering the factor of a planar mesh's precision (2-ring
    stencil) has ``O(n log n)`` entries: ``6.2, 6.9, 7.5 n log2(n)`` measured at 4,900,
    20,000 and 75,000 nodes; ``8 n log2(n)`` is used here.
    """
    n = max(mesh.n, 2)
    return BYTES_PER_FACTOR_ENTRY * 8.0 * n * math.log2(n)


def check_memory(mesh: Mesh, name: str, max_memory: float | None) -> None:
    """Refuse a mesh whose fit would not fit in memory, quoting the estimate."""
    need = memory_estimate(mesh)
    have = _available_memory() if max_memory is None else float(max_memory)
    if need > have:
        raise MemoryError(f"{name}: the mesh has {mesh.n:,} nodes; fitting it needs about "
                          f"{need / 2**30:.2f} GiB (sparse Cholesky factor and selected "
                          f"inverse) but {have / 2**30:.2f} GiB is available; build a coarser "
                          "mesh (larger max_edge, or a positive cutoff)")


def _check_alpha(alpha: Any, where: str) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise FormulaError(f"{where}: alpha must be a number in (1, 2]; got {alpha!r}") from None
    if a == 1:
        raise FormulaError(f"{where}: alpha = 1 is Matern nu = 0 in 2-D, whose variance is "
                           "infinite, so range and sigma are undefined; use 1 < alpha <= 2 "
                           "(alpha = 2 is nu = 1, alpha = 1.5 the exponential)")
    if not 1 < a <= 2:
        raise FormulaError(f"{where}: alpha must lie in (1, 2] on a 2-D mesh (nu = alpha - 1); "
                           f"got {alpha!r}")
    return a


def _positive(kw: dict, key: str, where: str) -> float | None:
    v = kw.get(key)
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise FormulaError(f"{where}: {key} must be a positive number; got {v!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise FormulaError(f"{where}: {key} must be a positive number; got {v!r}")
    return v


@register_term("spde")
def build_spde(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
               ) -> list[Block]:
    """The block of ``spde(x, y, mesh=mesh, alpha=2, range0=None, sigma0=None)``.

    In a formula: ``x, y`` are the (projected) coordinate columns; ``mesh`` a
    :class:`~spatialgamm.mesh.Mesh` (looked up in the caller's namespace) that contains every
    location; ``alpha`` in (1, 2] (Matern nu = alpha - 1; 1.5 is INLA's parsimonious
    approximation of the exponential); ``range0``, ``sigma0`` optional starting values
    (default: from the empirical variogram of the residuals without the field);
    ``max_memory`` bytes the fit may use (default: the memory available), above which the
    mesh is refused with an estimate; ``constr=True`` constrains the field to sum to zero
    over the mesh nodes (INLA's ``constr = TRUE``; the engine conditions on it by kriging,
    in models whose only latent term is the field).

    Parameters
    ----------
    special : SpecialTerm
        The parsed call; ``mesh`` is resolved in the caller's namespace by the parser.
    data : DataFrame
    env : dict
    family : Family

    Examples
    --------
    >>> import numpy as np, pandas as pd, shapely
    >>> from spatialgamm.formula.parse import parse_special
    >>> from spatialgamm.families import get_family
    >>> mesh = Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=0.5, offset=(0, None))
    >>> d = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.5, 1.5]})
    >>> sp_ = parse_special("spde(x, y, mesh=mesh)", {"mesh": mesh})
    >>> blk = build_spde(sp_, d, {}, get_family("poisson"))[0]
    >>> blk.Z.shape == (3, mesh.n), blk.kind
    (True, 'precision')
    """
    where = special.text or "spde()"
    kw = check_arguments(special, SPDE_KWARGS, where)
    if len(special.variables) != 2:
        raise FormulaError(f"{where}: spde() needs two coordinate columns, e.g. "
                           f"spde(x, y, mesh=mesh); got {list(special.variables)}")
    mesh = kw.get("mesh")
    if mesh is None:
        raise FormulaError(f"{where}: spde() needs mesh=, a Mesh built with sg.Mesh.build "
                           "(the name is looked up in the calling namespace)")
    if not isinstance(mesh, Mesh):
        raise FormulaError(f"{where}: mesh= must be a Mesh (sg.Mesh.build(...)); got "
                           f"{type(mesh).__name__}")
    alpha = _check_alpha(kw.get("alpha", 2), where)
    constr = kw.get("constr", False)
    if not isinstance(constr, (bool, np.bool_)):
        raise FormulaError(f"{where}: constr must be True or False; got {constr!r}")
    check_memory(mesh, where, kw.get("max_memory"))
    xy = coordinate_matrix(data, special.variables, where)
    name = f"spde({', '.join(special.variables)})"
    Z = project(mesh, xy, where)

    gaussian = family.is_gaussian_identity
    # bounds: below the mesh resolution a range means nothing; far above the mesh's size
    # the field is a constant (the likelihood is flat there)
    e = mesh.nodes[mesh.edges]
    edge = np.hypot(*(e[:, 1] - e[:, 0]).T)
    lo, hi = mesh.nodes.min(axis=0), mesh.nodes.max(axis=0)
    diameter = float(np.hypot(*(hi - lo)))
    range_bounds = (0.1 * float(np.median(edge)), 100.0 * diameter)
    sigma_bounds = (1e-5, 1e4) if gaussian else (1e-5, 1e2)
    range0 = _positive(kw, "range0", where)
    if range0 is None:  # replaced by a variogram estimate at fit time
        dlo, dhi = xy.min(axis=0), xy.max(axis=0)
        range0 = 0.25 * float(np.hypot(*(dhi - dlo))) or 0.25 * diameter
    sigma0 = _positive(kw, "sigma0", where) or 1.0
    range0 = float(np.clip(range0, *range_bounds))
    sigma0 = float(np.clip(sigma0, *sigma_bounds))
    term = SPDETerm(name=name, variables=tuple(special.variables), mesh=mesh, alpha=alpha,
                    relative=gaussian, range_bounds=range_bounds, sigma_bounds=sigma_bounds,
                    sigma0_given=kw.get("sigma0") is not None,
                    range0_given=kw.get("range0") is not None, constr=bool(constr))
    return [Block(name=name, Z=Z, kind="precision", pencil=term.operator,
                  phi_start=np.log([range0, sigma0]),
                  phi_lower=np.log([range_bounds[0], sigma_bounds[0]]),
                  phi_upper=np.log([range_bounds[1], sigma_bounds[1]]), term=term)]
