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

    def fixed_for(self, newdata: pd.DataFrame) -> np.ndarray:
        """Fixed-effects rows for new data (R's model.matrix with the fit's codings)."""
        return np.asarray(self.spec.fixed.for_newdata(newdata), dtype=float)

    def fixed_columns(self) -> list[str]:
        """Data columns the fixed part of the formula uses (for conditional effects)."""
        names = names_in(self.spec.formula.fixed)
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
    for b in spec.blocks:
        if b.kind == "precision" and type(b.term).__name__ == "SPDETerm":
            t = b.term
            fields.append(SPDEBlock(name=b.name, variables=tuple(t.variables), mesh=t.mesh,
                                    alpha=float(t.alpha), Z=sp.csc_matrix(b.Z)))
            continue
        if b.kind != "factor" or type(b.term).__name__ != "RandomEffectTerm":
            raise NotImplementedError(
                f"brm(): term {b.name!r} of formula {formula!r} is not an lme4 bar; only "
                "(expr | group), gp() and spde() terms are sampled so far (smooths are not)")
        term = b.term
        q = b.Z.shape[1]
        jac = np.asarray(term.lambda_jacobian(b.phi_start), dtype=float)
        terms.append(BarTerm(name=b.name, group=term.bar.group, levels=list(term.levels),
                             cov_names=list(term.cov_names), Z=sp.csc_matrix(b.Z),
                             template=sp.csc_matrix(b.template), jacobian=jac,
                             col=slice(start, start + q), block=b))
        start += q
    if spec.fixed_cols.size != spec.X.shape[1]:  # pragma: no cover - only bars reach here
        raise NotImplementedError("brm(): terms that add fixed columns are not sampled yet")
    return ModelData(formula=formula, family=fam, y=np.asarray(spec.y, dtype=float),
                     X=np.asarray(spec.X, dtype=float), x_names=list(spec.x_names),
                     offset=np.asarray(spec.offset, dtype=float),
                     weights=np.asarray(spec.weights, dtype=float), terms=terms,
                     data=spec.data, response_name=spec.response_name, spec=spec,
                     fields=fields)
