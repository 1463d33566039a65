"""The one place where :mod:`spatialgamm.mcmc` touches the frequentist engine's internals.

Everything the samplers need from the package (the model structure ``build_model`` builds:
response, fixed-effects matrix with R's names, offset, trials, the lme4 bar blocks with their
``Z``, ``Lambda`` template and Jacobian; the family's link and log-likelihood; design rows for
new data) goes through the functions here, so a restructuring of the engine re-points only this
module. The rest of the package sees the plain :class:`ModelData` and :class:`BarTerm` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..engine.selinv import selected_inverse_from_factor  # noqa: F401 - for fields.py
from ..families import Family, get_family
from ..formula.evaluate import names_in
from ..model import ModelSpec, build_model
from . import shape_families
from .smooth_terms import brms_label, null_names, null_scale, smooth_parts


@dataclass
class BarTerm:
    """One lme4 bar ``(expr | group)`` as the samplers see it.

    ``b = Lambda(theta) u`` with ``Lambda = I_L (x) T`` and ``T`` the lower-triangular
    ``nc x nc`` factor whose lower triangle, column by column, is ``theta`` (lme4's order).
    Here ``T`` is the *absolute* Cholesky factor of one level's covariance (not relative to
    sigma as in lme4).
    """

    name: str
    group: str
    levels: list[str]
    cov_names: list[str]
    Z: sp.csc_matrix
    template: sp.csc_matrix
    jacobian: np.ndarray  # d(stored Lambda values) / d theta, (nnz, n_theta)
    col: slice  # this term's columns in the stacked Z
    block: Any = field(repr=False, default=None)
    #: a smooth's penalised part (:class:`~.smooth_terms.SmoothPart`), None for a bar: one
    #: SD over its columns ("levels"), which are not disjoint (Z'Z is dense)
    smooth: Any = field(repr=False, default=None)

    @property
    def nc(self) -> int:
        return len(self.cov_names)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        return self.nc * (self.nc + 1) // 2

    def lambda_matrix(self, theta: np.ndarray) -> sp.csc_matrix:
        """``Lambda(theta)`` on the block's fixed pattern."""
        L = self.template.copy()
        L.data = self.block.lambda_values(np.asarray(theta, dtype=float))
        return L

    def design_for(self, newdata: pd.DataFrame) -> sp.csc_matrix:
        """Rows of ``Z`` for new data (unseen levels give zero rows: the population level)."""
        if self.smooth is not None:
            return self.smooth.design_for(newdata)
        Z, _ = self.block.term.design_for(newdata)
        return sp.csc_matrix(Z)


@dataclass
class SPDEBlock:
    """One ``spde(x, y, mesh=)`` field as the samplers see it: its projector ``Z`` (n x
    nodes), mesh, SPDE order and coordinate columns (the precision is built in
    :mod:`spatialgamm.mcmc.fields`)."""

    name: str
    variables: tuple[str, str]
    mesh: Any
    alpha: float
    Z: sp.csc_matrix


@dataclass
class ModelData:
    """Response, fixed part and bar terms of one model, fixed at build time."""

    formula: str
    family: Family
    y: np.ndarray  # binomial: proportion of successes, as the engine stores it
    X: np.ndarray
    x_names: list[str]
    offset: np.ndarray
    weights: np.ndarray  # prior weights (binomial: trials)
    terms: list[BarTerm]
    data: pd.DataFrame
    response_name: str
    spec: ModelSpec = field(repr=False, default=None)
    fields: list[SPDEBlock] = field(default_factory=list)  # spde() fields
    smooth_fixed: list[str] = field(default_factory=list)  # smooths' unpenalised columns
    x_scale: np.ndarray | None = None  # X = spec.X * x_scale (smooths' columns as brms's)

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def q(self) -> int:
        return sum(t.Z.shape[1] for t in self.terms)

    @property
    def Z(self) -> sp.csc_matrix:
        """All bar designs side by side (n x q)."""
        if not self.terms:
            return sp.csc_matrix((self.n, 0))
        return sp.hstack([t.Z for t in self.terms], format="csc")

    @property
    def is_gaussian_identity(self) -> bool:
        return self.family.name == "gaussian" and self.family.link.name == "identity"

    @property
    def counts(self) -> np.ndarray:
        """The response on its natural scale (binomial: successes)."""
        if self.family.name == "binomial":
            return np.round(self.y * self.weights)
        return self.y

    @property
    def smooth_terms(self) -> list[BarTerm]:
        """The smooths' penalised parts among :attr:`terms` (brms's ``s_<label>_<j>``)."""
        return [t for t in self.terms if t.smooth is not None]

    def fixed_for(self, newdata: pd.DataFrame) -> np.ndarray:
        """Fixed-effects rows for new data (R's model.matrix with the fit's codings; the
        smooths' unpenalised columns after them)."""
        if not self.smooth_terms:
            return np.asarray(self.spec.fixed.for_newdata(newdata), dtype=float)
        return np.asarray(self._population_rows(newdata)[0], dtype=float) * self.x_scale

    def smooth_rows(self, newdata: pd.DataFrame) -> list[sp.csc_matrix]:
        """Each smooth part's design rows at new data (the order of :attr:`smooth_terms`)."""
        if not self.smooth_terms:
            return []
        _, Zb = self._population_rows(newdata)
        offs = np.cumsum([0] + [b.Z.shape[1] for b in self.spec.blocks])
        return [t.smooth.columns(Zb[:, offs[t.smooth.block]:offs[t.smooth.block + 1]])
                for t in self.smooth_terms]

    def _population_rows(self, newdata: pd.DataFrame):
        from types import SimpleNamespace

        from ..results.predict import design_rows  # the fit's rows: codings, s(log(x))

        return design_rows(SimpleNamespace(spec=self.spec), newdata, population=True)

    def fixed_columns(self) -> list[str]:
        """Data columns the fixed part of the formula and its smooths use (for conditional
        effects)."""
        names = set(names_in(self.spec.formula.fixed))
        for s in self.spec.formula.specials:
            if s.func in ("s", "t2"):
                names |= set(s.variables) | {str(s.kwargs.get("by", ""))}
        return [c for c in self.data.columns if c in names]

    def loglik_obs_draws(self, mu: np.ndarray, sigma: np.ndarray | None,
                         shape: np.ndarray | None = None) -> np.ndarray:
        """Pointwise log-likelihood (with R's constants) for draws of the means ``mu``
        (..., n) and, for the Gaussian, of ``sigma`` (...) (NB / Gamma: of ``shape``)."""
        if shape is not None:
            return shape_families.loglik_draws(self.family, self.y, mu, shape, self.weights)
        if self.is_gaussian_identity:
            s = np.asarray(sigma)[..., None]
            return -0.5 * np.log(2 * np.pi) - np.log(s) - 0.5 * ((self.y - mu) / s) ** 2
        return self.family.loglik_obs(self.y, mu, self.weights)

    def predict_draws(self, mu: np.ndarray, sigma: np.ndarray | None,
                      rng: np.random.Generator, shape: np.ndarray | None = None) -> np.ndarray:
        """Posterior predictive draws of the response on its natural scale (binomial:
        successes out of the trials, as brms's ``posterior_predict``)."""
        if shape is not None:
            return shape_families.predict_draws(self.family, mu, shape, rng)
        name = self.family.name
        if self.is_gaussian_identity:
            return mu + np.asarray(sigma)[..., None] * rng.standard_normal(mu.shape)
        if name == "binomial":
            return rng.binomial(np.round(self.weights).astype(np.int64), np.clip(mu, 0, 1))
        if name == "poisson":
            return rng.poisson(mu)
        raise NotImplementedError(f"posterior predictive draws for family {name!r}")


def model_data(formula: str, data: pd.DataFrame, family: Any = "gaussian",
               env: dict[str, Any] | None = None) -> ModelData:
    """Build the model with the package's ``build_model`` and keep what the samplers use.

    Raises
    ------
    NotImplementedError
        For terms other than lme4 bars and ``spde()`` fields (smooths), not yet sampled
        (brms's ``gp()`` terms are read by :mod:`spatialgamm.mcmc.gp_terms`, not here).
    """
    fam = get_family(family)
    # lme4's identifiability checks do not apply: the priors identify the parameters (brms
    # does not refuse more random effects than observations); one level is still refused
    control = dict(check_nobs_vs_nlev="ignore", check_nobs_vs_nRE="ignore")
    spec = build_model(formula, data, family=fam, control=control, env=env)
    terms: list[BarTerm] = []
    fields: list[SPDEBlock] = []
    start = 0
    for k, b in enumerate(spec.blocks):
        if b.kind == "precision" and type(b.term).__name__ == "SPDETerm":
            t = b.term
            fields.append(SPDEBlock(name=b.name, variables=tuple(t.variables), mesh=t.mesh,
                                    alpha=float(t.alpha), Z=sp.csc_matrix(b.Z)))
            continue
        if type(b.term).__name__ in ("SmoothTerm", "MultiPenaltyTerm"):
            parts = smooth_blocks(spec, k, b, start)
            terms.extend(parts)
            start += sum(t.Z.shape[1] for t in parts)
            continue
        if b.kind != "factor" or type(b.term).__name__ != "RandomEffectTerm":
            raise NotImplementedError(
                f"brm(): term {b.name!r} of formula {formula!r} is not an lme4 bar, s() / "
                "t2() smooth, gp() or spde() field, which are what brm() samples")
        term = b.term
        q = b.Z.shape[1]
        jac = np.asarray(term.lambda_jacobian(b.phi_start), dtype=float)
        terms.append(BarTerm(name=b.name, group=term.bar.group, levels=list(term.levels),
                             cov_names=list(term.cov_names), Z=sp.csc_matrix(b.Z),
                             template=sp.csc_matrix(b.template), jacobian=jac,
                             col=slice(start, start + q), block=b))
        start += q
    x_names, x_scale = brms_x_columns(spec)
    return ModelData(formula=formula, family=fam, y=np.asarray(spec.y, dtype=float),
                     X=np.asarray(spec.X, dtype=float) * x_scale, x_names=x_names,
                     x_scale=x_scale,
                     offset=np.asarray(spec.offset, dtype=float),
                     weights=np.asarray(spec.weights, dtype=float), terms=terms,
                     data=spec.data, response_name=spec.response_name, spec=spec,
                     fields=fields, smooth_fixed=[nm for nm in x_names
                                                  if nm not in spec.fixed.names])


def smooth_blocks(spec: ModelSpec, k: int, b: Any, start: int) -> list[BarTerm]:
    """The penalised parts of smooth block ``k`` as one-SD terms (columns from ``start``)."""
    from ..formula.rsyntax import deparse, parse_r

    term = b.term
    if b.Z.shape[1] == 0:
        raise NotImplementedError(f"brm(): smooth {b.name!r} is fixed (fx=TRUE): brms has "
                                  "no unpenalised smooths; drop fx=TRUE")
    base = term.spec.label.split(":")[0]
    special = next((s for s in spec.formula.specials
                    if f"{s.func}({','.join(s.variables)})" == base), None)
    text = deparse(parse_r(special.text)) if special is not None else base
    out = []
    for part in smooth_parts(term, b.Z, text):
        part.block = k
        Zp = part.columns(b.Z)
        r = Zp.shape[1]
        out.append(BarTerm(name=f"s_{part.name}", group=part.name,
                           levels=[str(i + 1) for i in range(r)], cov_names=["(Intercept)"],
                           Z=Zp, template=sp.identity(r, format="csc"),
                           jacobian=np.ones((r, 1)), col=slice(start, start + r),
                           smooth=part))
        start += r
    return out


def brms_x_columns(spec: ModelSpec) -> tuple[list[str], np.ndarray]:
    """The fixed-effect names with each smooth's unpenalised columns named as brms
    (``s(x).null1`` -> ``sx_1``), and the factor each column is scaled by to be brms's
    (:func:`~.smooth_terms.null_scale`; 1 for the formula's own columns)."""
    rename: dict[str, str] = {}
    scale: dict[str, float] = {}
    first: dict[str, Any] = {}  # a factor by's levels share the first level's scaling
    for b in spec.blocks:
        if type(b.term).__name__ in ("SmoothTerm", "MultiPenaltyTerm") and b.fixed_names:
            rename.update(zip(b.fixed_names, null_names(brms_label(b.term.spec.label, True),
                                                        len(b.fixed_names))))
            ref = first.setdefault(b.term.spec.label.split(":")[0], b)
            single = getattr(b.term, "S_range", None) is None
            sc = null_scale(ref.Z, ref.fixed) if single else np.ones(len(b.fixed_names))
            scale.update(zip(b.fixed_names, sc))
    names = [rename.get(nm, nm) for nm in spec.x_names]
    return names, np.array([scale.get(nm, 1.0) for nm in spec.x_names])
