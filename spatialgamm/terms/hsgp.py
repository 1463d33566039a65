"""Hilbert-space reduced-rank Gaussian processes: ``hsgp(x, y, m=20, c=1.25, kernel=...)``.

Solin & Sarkka (2020, Statistics and Computing 30:419-446); Riutort-Mayol, Burkner, Andersen,
Solin & Vehtari (2023, Statistics and Computing 33:17); brms' ``gp(..., k=, c=)``.

A stationary kernel is expanded in the eigenfunctions of the Laplacian on a box
``[centre - L, centre + L]`` (Dirichlet boundary) that covers the data (and any prediction
region given as ``region=``), ``L = c * S`` with ``S`` the half-width of the covered area in
each dimension. In one dimension, for ``j = 1..m``,

    phi_j(x) = L^-1/2 sin(pi j (x - centre + L) / (2 L)),   lambda_j = (pi j / (2 L))^2,

and in D dimensions the products over every combination of indices (``m^D`` functions,
eigenvalue the sum). Then ``k(x, x') ~ sum_j S(sqrt(lambda_j)) phi_j(x) phi_j(x')`` with ``S``
the kernel's spectral density (:meth:`spatialgamm.kernels.Kernel.spectral_density`), so the
field is ``f = Phi diag(sigma sqrt(S(sqrt(lambda)); range)) u`` with ``u ~ N(0, I)``. As an
engine block: ``Z = Phi`` (dense, n x m^D, independent of the parameters) and a diagonal
``Lambda``; only the diagonal changes with ``(log range, sigma)``.

The approximation is accurate inside the box away from its edges and when the box has
enough functions for the range (small ranges need more); the term reports the share of the
prior variance the basis captures at the data (``variance_captured``, 1 = exact) and warns
when it is low, and prediction warns for points outside the box (where the basis is zero).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FormulaError
from ..kernels import KernelChoice, effective_range, parse_kernel
from ..termsyntax import SpecialTerm
from .base import Ability, Block, LatentTerm, check_arguments, coordinate_matrix, register_term
from .gp import check_crs
from .hsgp_rules import BasisAdvice, advise

#: warn when the basis captures less than this share of the prior variance at the data
MIN_CAPTURED = 0.9


@dataclass(frozen=True)
class HilbertBox:
    """The box ``[centre - L, centre + L]`` and its ``m`` eigenfunctions per dimension."""

    centre: np.ndarray
    L: np.ndarray
    m: tuple[int, ...]

    @property
    def indices(self) -> np.ndarray:
        """All index combinations (M x D), M = prod(m)."""
        return np.array(list(itertools.product(*[range(1, k + 1) for k in self.m])), dtype=float)

    @property
    def sqrt_eigenvalues(self) -> np.ndarray:
        """sqrt(lambda_j): the angular frequency norm of each basis function."""
        w = np.pi * self.indices / (2.0 * self.L[None, :])
        return np.sqrt(np.sum(w * w, axis=1))

    def basis(self, X: np.ndarray) -> np.ndarray:
        """The n x M eigenfunction matrix at points ``X`` (n x D).

        Examples
        --------
        >>> box = HilbertBox(np.array([0.0]), np.array([1.0]), (3,))
        >>> box.basis(np.array([[0.0]])).round(6)   # sin(pi j / 2) for j = 1, 2, 3
        array([[ 1.,  0., -1.]])
        """
        out = None
        for d in range(X.shape[1]):
            u = (X[:, d] - self.centre[d] + self.L[d]) / (2.0 * self.L[d])
            # the 1-D factors for j = 1..m_d
            f = np.sin(np.pi * u[:, None] * np.arange(1, self.m[d] + 1)[None, :]) / \
                math.sqrt(self.L[d])
            # row-wise Kronecker product: the last index varies fastest, as in ``indices``
            # (one n x M array, no n x M temporaries per dimension)
            out = f if out is None else (out[:, :, None] * f[:, None, :]).reshape(len(X), -1)
        return np.ascontiguousarray(out)

    def outside(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X`` outside the box."""
        return np.any(np.abs(X - self.centre[None, :]) > self.L[None, :] * (1 + 1e-12), axis=1)


@dataclass(eq=False)
class HSGPTerm(LatentTerm):
    """One Hilbert-space GP."""

    abilities = frozenset({Ability.FIELD_REPORT, Ability.LAMBDA_JACOBIAN})

    name: str
    variables: tuple[str, ...]
    kernel: KernelChoice
    box: HilbertBox
    c: float
    relative: bool
    fixed: dict[str, float]
    range_bounds: tuple[float, float] = (0.0, np.inf)
    phi_names: list[str] = field(default_factory=list)
    crs: Any = None
    data_basis_sq_mean: np.ndarray | None = None  # mean over data of phi_j(x)^2
    design_needs_phi = False

    def __post_init__(self) -> None:
        self.omega = self.box.sqrt_eigenvalues
        self._kern = self.kernel.kernel()
        self.dim = len(self.variables)

    @property
    def spatial_coords(self) -> tuple[str, ...] | None:
        return self.variables if len(self.variables) == 2 else None

    @property
    def M(self) -> int:
        return len(self.omega)

    def unpack(self, phi: np.ndarray) -> dict[str, float]:
        val = dict(self.fixed)
        for name, x in zip(self.phi_names, np.asarray(phi, dtype=float)):
            if name == "log_range":
                val["range"] = math.exp(x)
            elif name == "sigma":
                val["sigma"] = abs(float(x))
        return val

    def weights(self, range: float) -> np.ndarray:
        """sqrt of the spectral density at each basis frequency (unit variance)."""
        return np.sqrt(self._kern.spectral_density(self.omega, range, self.dim))

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        v = self.unpack(phi)
        return v["sigma"] * self.weights(v["range"])

    def lambda_jacobian(self, phi: np.ndarray) -> np.ndarray:
        """d(diagonal of Lambda)/d phi: exact in sigma, central differences in log range."""
        phi = np.asarray(phi, dtype=float)
        v = self.unpack(phi)
        J = np.empty((self.M, len(phi)))
        for i, name in enumerate(self.phi_names):
            if name == "sigma":
                J[:, i] = self.weights(v["range"])
            else:
                h = 1e-6 * max(1.0, abs(phi[i]))
                J[:, i] = v["sigma"] * (self.weights(math.exp(phi[i] + h)) -
                                        self.weights(math.exp(phi[i] - h))) / (2 * h)
        return J

    def variance_captured(self, range: float) -> float:
        """Share of the prior variance the basis represents, averaged over the data."""
        if self.data_basis_sq_mean is None:
            return float("nan")
        return float(self.data_basis_sq_mean @ (self.weights(range) ** 2))

    def basis_advice(self, range: float) -> BasisAdvice:
        """Whether ``c`` (the box) or ``m`` (the basis) is too small for ``range``, and the
        values Riutort-Mayol et al. (2023)'s conditions call for (:mod:`.hsgp_rules`)."""
        return advise(self.kernel, range, self.box.L / self.c, self.c, self.box.m)

    def at_boundary(self, phi: np.ndarray, tol: float = 1e-4) -> list[str]:
        v = self.unpack(phi)
        out = []
        if "sigma" not in self.fixed and v["sigma"] < tol:
            out.append(f"{self.name}: GP variance is zero")
        elif "range" not in self.fixed:
            lo, hi = self.range_bounds
            if v["range"] > hi * (1 - 1e-3):
                out.append(f"{self.name}: range at its upper bound {hi:.4g}")
            elif v["range"] < lo * (1 + 1e-3):
                out.append(f"{self.name}: range at its lower bound {lo:.4g}: more basis "
                           "functions (m=) are needed for such short ranges")
        return out

    def report(self, phi: np.ndarray, scale: float) -> dict[str, Any]:
        v = self.unpack(phi)
        f = math.sqrt(scale) if self.relative else 1.0
        r = v["range"]
        captured = self.variance_captured(r)
        if captured < MIN_CAPTURED:
            warnings.warn(f"{self.name}: the {self.M} basis functions capture only "
                          f"{100 * captured:.0f}% of the GP variance at range {r:.4g}; "
                          + self.basis_advice(r).message(self.c, self.box.m),
                          UserWarning, stacklevel=3)
        return dict(term=self.name, kernel=self.kernel.label(), range=r, sigma=v["sigma"] * f,
                    nu=self.kernel.matern_nu, nugget=np.nan,
                    effective_range=effective_range(self._kern, r, 0.05),
                    effective_range_014=effective_range(self._kern, r, 0.14),
                    range_convention=self.kernel.convention, n_sites=np.nan,
                    m=self.box.m, c=self.c, variance_captured=captured)

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        rep = self.report(phi, scale)
        return [dict(grp=self.name, var1="hsgp", var2=None, vcov=rep["sigma"] ** 2,
                     sdcor=rep["sigma"])]

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[np.ndarray, None]:
        """Basis rows at new data; warns for points outside the box (the basis is 0 there)."""
        missing = [v for v in self.variables if v not in newdata.columns]
        if missing:
            raise ValueError(f"newdata lacks coordinate column(s) {missing} of {self.name}")
        X = coordinate_matrix(newdata, self.variables, f"{self.name} (newdata)")
        out = self.box.outside(X)
        if out.any():
            warnings.warn(f"{self.name}: {int(out.sum())} of {len(X)} prediction point(s) lie "
                          "outside the Hilbert-space box, where the approximation is 0; refit "
                          "with region= covering the prediction area (or a larger c=)",
                          UserWarning, stacklevel=3)
        return self.box.basis(X), None


_ALLOWED = {"kernel", "nu", "power", "m", "c", "range", "sigma", "region", "crs"}


def _region_bounds(region: Any, D: int, where: str) -> np.ndarray:
    """``region`` as a (D, 2) array of [min, max]: (xmin, xmax, ymin, ymax), an (n, D)
    array of points (a coordinate ring), or anything with ``.bounds`` (shapely/geopandas)."""
    if hasattr(region, "total_bounds"):
        b = np.asarray(region.total_bounds, dtype=float)
        return np.array([[b[0], b[2]], [b[1], b[3]]])[:D]
    if hasattr(region, "bounds") and not isinstance(region, (np.ndarray, list, tuple)):
        b = np.asarray(region.bounds, dtype=float)
        return np.array([[b[0], b[2]], [b[1], b[3]]])[:D]
    arr = np.asarray(region, dtype=float)
    if arr.ndim == 1 and arr.size == 2 * D:
        return arr.reshape(D, 2)
    if arr.ndim == 2 and arr.shape[1] == D:
        return np.column_stack([arr.min(axis=0), arr.max(axis=0)])
    raise FormulaError(f"{where}: region= must be (min, max) per coordinate "
                       f"({2 * D} numbers), an (n, {D}) array of points, or a geometry")


@register_term("hsgp")
def build_hsgp(special: SpecialTerm, data: pd.DataFrame, env: dict[str, Any], family
               ) -> list[Block]:
    """The block of ``hsgp(x, y, m=20, c=1.25, kernel=, nu=, range=, sigma=, region=)``.

    ``m`` is the number of basis functions per dimension (an int or one per coordinate);
    ``c`` the boundary factor (> 1); ``region`` an area the box must also cover (for
    prediction). Kernels need a spectral density: exponential, Matern (any fixed nu),
    exp_quad.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> fit = sg.fit("z ~ 1 + hsgp(x, y, m=15, c=1.5, kernel='exp_quad')",
    ...              sg.datasets.load_topo(), method="ML")
    >>> bool(fit.gp_params["variance_captured"].iloc[0] > 0.9)
    True
    """
    where = special.text or f"hsgp({', '.join(special.variables)})"
    kw = check_arguments(special, _ALLOWED, where)
    variables = tuple(special.variables)
    crs = check_crs(data, kw, variables, where)
    kern = parse_kernel(kw, where)
    if kern.name in ("spherical", "power_exponential"):
        raise FormulaError(f"{where}: kernel {kern.name!r} has no closed-form spectral density; "
                           "hsgp() needs exponential, matern32/52, matern (fixed nu) or exp_quad")
    if kern.estimate_nu:
        raise FormulaError(f"{where}: hsgp() needs a fixed smoothness nu")
    X = coordinate_matrix(data, variables, where)
    D = X.shape[1]
    m = kw.pop("m", 20)
    m = tuple([m] * D) if isinstance(m, (int, np.integer)) else tuple(m)
    if len(m) != D or any(not isinstance(k, (int, np.integer)) or k < 1 for k in m):
        raise FormulaError(f"{where}: m must be a positive integer (or one per coordinate), "
                           f"got {m!r}")
    c = kw.pop("c", 1.25)
    if not isinstance(c, (int, float)) or not c > 1:
        raise FormulaError(f"{where}: the boundary factor c must be > 1, got {c!r}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    region = kw.pop("region", None)
    if region is not None:
        rb = _region_bounds(region, D, where)
        lo, hi = np.minimum(lo, rb[:, 0]), np.maximum(hi, rb[:, 1])
    centre = 0.5 * (lo + hi)
    S = 0.5 * (hi - lo)
    if np.any(S <= 0):
        raise FormulaError(f"{where}: the coordinates do not vary in every dimension")
    box = HilbertBox(centre=centre, L=float(c) * S, m=tuple(int(k) for k in m))
    relative = family.is_gaussian_identity
    fixed: dict[str, float] = {}
    for key in ("range", "sigma"):
        val = kw.pop(key, None)
        if val is not None:
            if not isinstance(val, (int, float)) or not np.isfinite(val) or val < 0 or (
                    key == "range" and val == 0):
                raise FormulaError(f"{where}: {key}= must be a positive number, got {val!r}")
            if key == "sigma" and relative:
                raise FormulaError(f"{where}: sigma= can be fixed only for families with a "
                                   "known scale (the Gaussian GP SD is relative to sigma)")
            fixed[key] = float(val)
    name = f"hsgp({','.join(variables)})"
    Phi = box.basis(X)
    term = HSGPTerm(name=name, variables=variables, kernel=kern, box=box, c=float(c),
                    relative=relative, fixed=fixed, crs=crs,
                    data_basis_sq_mean=np.einsum("ij,ij->j", Phi, Phi) / len(Phi))
    diag = float(np.linalg.norm(2 * S))
    unit = effective_range(term._kern, 1.0, 0.05)
    # below ~ the box's resolution the basis cannot represent the field
    r_lo = float(np.min(2 * box.L / np.asarray(box.m))) / 10.0
    r_hi = 20.0 * diag
    term.range_bounds = (r_lo, r_hi)
    names, start, lower, upper = [], [], [], []
    if "range" not in fixed:
        names.append("log_range")
        start.append(math.log(min(max(diag / 3.0 / unit, 2 * r_lo), r_hi / 2)))
        lower.append(math.log(r_lo))
        upper.append(math.log(r_hi))
    if "sigma" not in fixed:
        names.append("sigma")
        start.append(1.0 if relative else 0.5)
        lower.append(0.0)
        upper.append(np.inf)
    term.phi_names = names
    return [Block(name=name, Z=Phi, kind="factor", phi_start=np.array(start, dtype=float),
                  phi_lower=np.array(lower, dtype=float),
                  phi_upper=np.array(upper, dtype=float),
                  template=sp.identity(term.M, format="csc"), term=term)]
