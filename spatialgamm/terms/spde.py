"""SPDE Matern fields in formulas: ``spde(x, y, mesh=mesh, alpha=2)``.

A field ``u`` on the nodes of a triangle mesh with the sparse SPDE precision
``Q(range, sigma)`` (Lindgren, Rue & Lindstrom 2011; DESIGN.md section 7) enters the linear
predictor through the barycentric projector: ``eta = ... + A u``, ``A`` with three non-zeros
per row. As an engine block it is ``kind="precision"``: ``u ~ N(0, s Q^-1)`` with ``s`` the
residual variance for the Gaussian family (so ``sigma`` is then *relative* to the residual SD,
as lme4's theta) and 1 otherwise. Parameters on the optimiser scale: ``(log range, log sigma)``.

The log-determinant. Every precision here is a polynomial in the pencil ``(G, Ct)``:
``Q = c K1 Ct^-1 K2`` with ``K_j = G + a_j Ct`` (alpha = 2: ``a_1 = a_2 = kappa^2``, c =
tau^2; 1 < alpha < 2: ``a_j = r_j kappa^2`` with ``-r_j`` the roots of ``b0 + b1 t + b2 t^2``,
which are real and negative for every such alpha, and ``c = tau^2 kappa^(2 alpha - 4) b2``). So

    log|Q| = n log c + log|K1| + log|K2| - sum(log diag Ct)
    d log|Q| / d log kappa = -2 n + sum_j 2 a_j tr(K_j^-1 Ct)

and ``Q^-1 v = K2^-1 Ct K1^-1 v / c``. ``K_j`` has the sparsity of ``G`` (a third of the
non-zeros of ``Q``): its Cholesky factor is cheap, and selected inversion of it gives the
diagonal the trace needs. The term counts these *prior* factorisations
(:attr:`SPDETerm.n_factorizations`); the latent system's own are counted by the engine.

This module uses the engine's Cholesky kernels (``engine.linalg``, ``engine.selinv``), which
import nothing above the leaf layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..engine.linalg import NotPositiveDefinite, make_factor
from ..errors import FormulaError
from ..mesh import Mesh, SPDEOperator, matern_scales, parsimonious_coefficients
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, coordinate_matrix, register_term

#: keyword arguments spde() understands
SPDE_KWARGS = ("mesh", "alpha", "range0", "sigma0", "max_memory")

#: bytes per stored Cholesky-factor entry at the fit's peak (the factor, its copy, the
#: selected inverse in both triangles and the index arrays of the recursions)
BYTES_PER_FACTOR_ENTRY = 100


@dataclass
class PriorState:
    """The field's prior at one parameter value, with what the gradient needs.

    Attributes
    ----------
    phi : ndarray
        ``(log range, log sigma)``.
    Q : scipy.sparse.csc_matrix
        Precision on the operator's fixed pattern.
    logdet : float
        ``log|Q|``.
    dlogdet : ndarray (2,)
        ``d log|Q| / d phi``.
    dQ : list of csc_matrix
        ``dQ / d phi_k`` on the same pattern.
    solve : callable
        ``v -> Q^-1 v`` (1-D or 2-D ``v``).
    """

    phi: np.ndarray
    Q: sp.csc_matrix
    logdet: float
    dlogdet: np.ndarray
    dQ: list[sp.csc_matrix]
    solve: Callable[[np.ndarray], np.ndarray]


def _pencil_shifts(alpha: float) -> tuple[np.ndarray, float]:
    """``(r, b2)`` with ``b0 + b1 t + b2 t^2 = b2 (t + r_1)(t + r_2)``; alpha = 2: r = (1,)."""
    if alpha == 2:
        return np.array([1.0]), 1.0
    b0, b1, b2 = parsimonious_coefficients(alpha)
    disc = max(b1 * b1 - 4 * b0 * b2, 0.0)
    # the numerically stable pair of roots (both negative): r = -t
    qv = -0.5 * (b1 + math.sqrt(disc))
    t1, t2 = qv / b2, b0 / qv
    return np.array([-t1, -t2]), float(b2)


class PriorOperator:
    """``log|Q|``, its gradient and ``Q^-1 v`` through factorisations of ``G + a Ct``.

    Parameters
    ----------
    operator : SPDEOperator
    """

    def __init__(self, operator: SPDEOperator):
        self.op = operator
        self.n = operator.n
        self.ct = np.asarray(operator.Ct.diagonal(), dtype=float)
        self.sum_log_ct = float(np.sum(np.log(self.ct)))
        self.r, self.b2 = _pencil_shifts(operator.alpha)
        self.nu = operator.alpha - 1.0
        G = sp.csc_matrix(operator.G)
        pattern = sp.csc_matrix(abs(G) + operator.Ct)
        pattern.sort_indices()
        self._G = G
        self._pattern = pattern
        self._factors: list[Any] = []
        self._last: tuple | None = None  # (kappa, log|K1 K2|, trace term, factors)
        self.n_factorizations = 0

    def _K(self, a: float) -> sp.csc_matrix:
        K = sp.csc_matrix(self._G + a * self.op.Ct)
        K.sort_indices()
        return K

    def _factor(self, j: int, K: sp.csc_matrix):
        if len(self._factors) <= j:
            # one symbolic analysis per shift for the whole fit; this call also factors
            self._factors.append(make_factor(K))
        else:
            self._factors[j].refactor(K)
        self.n_factorizations += 1
        return self._factors[j]

    def state(self, phi: np.ndarray) -> PriorState:
        """Everything about ``Q`` at ``phi = (log range, log sigma)``."""
        rng, sig = math.exp(phi[0]), math.exp(phi[1])
        kappa, tau = matern_scales(rng, sig, self.op.alpha)
        a = self.r * kappa * kappa
        if len(a) == 1:
            c = tau * tau
            shifts = [a[0], a[0]]
        else:
            c = tau * tau * kappa ** (2 * self.op.alpha - 4) * self.b2
            shifts = list(a)
        if self._last is not None and self._last[0] == kappa:
            # K depends on kappa only: a step in sigma alone needs no new factorisation
            _, ld_k, tr_k, factors = self._last
        else:
            factors, ld_k, tr_k = [], 0.0, 0.0
            for j, aj in enumerate(dict.fromkeys(shifts)):  # alpha = 2 factors K once
                try:
                    f = self._factor(j, self._K(aj))
                except NotPositiveDefinite as exc:
                    raise NotPositiveDefinite(f"the SPDE operator G + {aj:.3g} Ct is not "
                                              "positive definite") from exc
                mult = shifts.count(aj)
                diag = np.asarray(f.selected_inverse().diagonal()).ravel()
                ld_k += mult * f.logdet()
                tr_k += mult * 2.0 * aj * float(np.sum(diag * self.ct))
                factors.extend([f] * mult)
            self._last = (kappa, ld_k, tr_k, factors)
        logdet = self.n * math.log(c) - self.sum_log_ct + ld_k
        dlk = -2.0 * self.n + tr_k
        f1, f2 = factors

        def solve(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v, dtype=float)
            w = f1.solve(v)
            w = (self.ct[:, None] * w) if w.ndim == 2 else self.ct * w
            return f2.solve(w) / c

        Q = self.op.Q(rng, sig)
        dQ = list(self.op.dQ(rng, sig))
        # kappa = sqrt(8 nu) / range: d / d log range = -d / d log kappa
        dlogdet = np.array([-dlk, -2.0 * self.n])
        return PriorState(np.asarray(phi, dtype=float).copy(), Q, float(logdet), dlogdet, dQ,
                          solve)


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
    phi_names: tuple[str, str] = ("log_range", "log_sigma")
    _cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.operator = SPDEOperator(self.mesh, self.alpha)
        self.prior_operator = PriorOperator(self.operator)

    # -- parameters --------------------------------------------------------------------
    @property
    def spatial_coords(self) -> tuple[str, str]:
        return self.variables

    @property
    def nu(self) -> float:
        return self.alpha - 1.0

    @property
    def n_factorizations(self) -> int:
        """Numeric factorisations of the prior operator ``G + a Ct`` so far."""
        return self.prior_operator.n_factorizations

    def unpack(self, phi: np.ndarray) -> tuple[float, float]:
        """``(range, sigma)`` from ``(log range, log sigma)`` (sigma relative if Gaussian)."""
        return float(math.exp(phi[0])), float(math.exp(phi[1]))

    def prior(self, phi: np.ndarray) -> PriorState:
        """The prior at ``phi`` (cached: PIRLS steps at one phi share it)."""
        phi = np.asarray(phi, dtype=float)
        hit = self._cache.get("prior")
        if hit is not None and np.array_equal(hit.phi, phi):
            return hit
        st = self.prior_operator.state(phi)
        self._cache["prior"] = st
        return st

    def precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        """``(Q, log|Q|)``: the engine's contract for precision blocks."""
        st = self.prior(phi)
        return st.Q, st.logdet

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
    mesh is refused with an estimate.

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
                    range0_given=kw.get("range0") is not None)
    return [Block(name=name, Z=Z, kind="precision",
                  phi_start=np.log([range0, sigma0]),
                  phi_lower=np.log([range_bounds[0], sigma_bounds[0]]),
                  phi_upper=np.log([range_bounds[1], sigma_bounds[1]]), term=term)]
