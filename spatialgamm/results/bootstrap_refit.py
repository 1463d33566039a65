"""The refits behind :mod:`.bootstrap`: one model structure, many responses or resamples.

* :class:`ParametricRefitter` - a new response on the same design. Gaussian identity-link
  models keep one objective (one PLS solver, one symbolic analysis) and swap only the
  cross-products of the response; other families rerun the Laplace fit on the same spec.
  Every refit starts from the original estimates.
* :func:`resample_groups` / :class:`CaseRefitter` - the case (cluster) bootstrap: groups of a
  grouping factor drawn with replacement, each copy relabelled as a level of its own (as are
  the levels of factors nested within it), the model rebuilt on those rows and refitted.
* :func:`statistics` - what is recorded of a refit: fixed effects, the ``sdcor`` column of
  ``varcorr`` (SDs and correlations), the residual SD, NB theta, population predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..engine.gaussian import GaussianObjective
from ..engine.optimize import optimize
from ..engine.system import LatentSystem
from ..model import ModelSpec, build_model
from ..terms.base import Ability


@dataclass
class Replicate:
    """The numbers of one refit that the statistics are read from."""

    spec: ModelSpec
    system: LatentSystem
    beta: np.ndarray
    phi: np.ndarray
    scale: float
    b: np.ndarray
    gaussian: bool
    theta: float | None
    converged: bool
    singular: bool


def from_fit(fit) -> Replicate:
    """The original fit as a :class:`Replicate` (its statistics are the estimates)."""
    st = fit.state
    return Replicate(fit.spec, st.system, st.beta, st.phi, st.scale, st.b,
                     fit.is_gaussian, st.theta, fit.converged, fit.singular)


# ---- statistics -----------------------------------------------------------------------------
def _vc_name(r: dict) -> str:
    if r["var2"] is not None:
        return f"cor({r['grp']}: {r['var1']}, {r['var2']})"
    return f"sd({r['grp']}: {r['var1']})"


def statistics(rep: Replicate, pred: PredictionRows | None = None) -> dict[str, float]:
    """Fixed effects, variance components (SD / correlation), dispersion, predictions."""
    vals: dict[str, float] = dict(zip(rep.spec.x_names, map(float, rep.beta)))
    latent_scale = rep.scale if rep.gaussian else 1.0
    for k, blk in enumerate(rep.spec.blocks):
        for r in blk.term.varcorr_rows(rep.system.block_phi(rep.phi, k), latent_scale):
            vals[_vc_name(r)] = float(r["sdcor"])
    if not rep.spec.family.scale_known:
        vals["sd(Residual)"] = float(np.sqrt(rep.scale))
    if rep.theta is not None:
        vals["theta"] = rep.theta
    if pred is not None:
        vals.update(pred.values(rep))
    return vals


@dataclass
class PredictionRows:
    """Population-level predictions (``re_form='~0'``) at new data for every replicate."""

    X: np.ndarray
    x_names: list[str]
    Z: Any  # latent columns kept at population level (smooths), or None
    offset: np.ndarray
    labels: list[str]
    linkinv: Any  # None: link scale

    @classmethod
    def build(cls, fit, newdata: pd.DataFrame, type: str = "link", offset: Any = None
              ) -> PredictionRows:
        from .predict import _offset_for, design_rows
        if not isinstance(newdata, pd.DataFrame):
            raise TypeError(f"newdata must be a pandas DataFrame, got {newdata.__class__.__name__}")
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        for blk in fit.spec.blocks:
            if blk.term.design_needs_phi:
                raise NotImplementedError(
                    f"bootstrap predictions for term {blk.name!r}: its kriging weights change "
                    "with each replicate's parameters")
        X, Z = design_rows(fit, newdata, population=True)
        off = _offset_for(fit, newdata, offset)
        labels = [f"pred[{i}]" for i in newdata.index]
        return cls(X, list(fit.spec.x_names), Z if Z.nnz else None, off, labels,
                   fit.family.link.linkinv if type == "response" else None)

    def values(self, rep: Replicate) -> dict[str, float]:
        # align by name: a case resample may lack a factor level (its column is then
        # dropped); rows that do not use such a column still have a prediction
        pos = {nm: i for i, nm in enumerate(rep.spec.x_names)}
        beta = np.array([rep.beta[pos[nm]] if nm in pos else np.nan for nm in self.x_names])
        contrib = np.where(self.X != 0, self.X * beta, 0.0)
        eta = self.offset + contrib.sum(axis=1)
        if self.Z is not None:
            if rep.b.shape[0] != self.Z.shape[1]:
                raise NotImplementedError("predictions with smooth or spatial terms need the "
                                          "parametric bootstrap (the same basis in every refit)")
            eta = eta + np.asarray(self.Z @ rep.b).ravel()
        if self.linkinv is not None:
            eta = self.linkinv(eta)
        return dict(zip(self.labels, map(float, eta)))


# ---- parametric refits ----------------------------------------------------------------------
def _laplace_start(fit) -> np.ndarray:
    """phi (and log theta for a negative binomial whose theta was estimated)."""
    theta = fit.state.theta
    return fit.state.phi if theta is None else np.append(fit.state.phi, np.log(theta))


class ParametricRefitter:
    """Refit a fitted model to new responses, warm-started at its estimates.

    Gaussian identity-link models keep one :class:`GaussianObjective` (its own PLS solver:
    the fit's keeps its factor at the estimates) and swap the response's cross-products.
    glmer-type fits with exact Laplace gradients (canonical link, Laplace, known scale) keep
    one :class:`LaplaceObjective` and rerun glmer's joint ``(theta, beta)`` search only (the
    Hessian for standard errors is not needed); other fits rerun the whole Laplace fit.
    """

    def __init__(self, fit):
        self.fit = fit
        spec, st = fit.spec, fit.state
        self.gaussian = fit.is_gaussian
        self.system = st.system
        self.lap = None
        if self.gaussian:
            self.obj = GaussianObjective(self.system, spec.X, spec.y, spec.offset,
                                         spec.weights, fit.REML)
        elif (st.method == "Laplace" and spec.family.scale_known and spec.p and self.system.q
              and st.theta is None):
            from ..engine.laplace import LaplaceObjective
            lap = LaplaceObjective(self.system, spec.X, spec.y, spec.offset, spec.weights,
                                   spec.family)
            self.lap = lap if lap.has_gradient else None

    def __call__(self, y: np.ndarray) -> Replicate:
        fit = self.fit
        spec, system = fit.spec, self.system
        lay = system.layout
        if self.gaussian:
            o = self.obj
            o.y = y
            o.cp = o.solver.cross_products(y - o.offset, o.weights)
            fg = o.value_and_grad if o.solver.dense else None
            info = optimize(o, fit.state.phi, lay.lower, lay.upper,
                            boundary=system.at_boundary, fg=fg)
            r = o.solve(info.x)
            b = r.b() if system.q else np.zeros(0)
            return Replicate(spec, system, r.beta, info.x, o.sigma2(r), b, True, None,
                             info.converged, bool(info.boundary))
        if self.lap is not None:
            lap, k = self.lap, system.n_phi
            lap.y, lap._eta_start = np.asarray(y, dtype=float), None
            par0 = np.concatenate([fit.state.phi, fit.state.beta])
            lo = np.concatenate([lay.lower, np.full(spec.p, -np.inf)])
            hi = np.concatenate([lay.upper, np.full(spec.p, np.inf)])
            info = optimize(lap.with_beta, par0, lo, hi,
                            boundary=lambda x: system.at_boundary(x[:k]), check_hessian=False,
                            polish=False, fd_eps=1e-6, fg=lap.with_beta_and_gradient)
            if not np.isfinite(info.fun):
                raise RuntimeError("penalised IRLS failed in a bootstrap refit")
            phi, beta = info.x[:k], info.x[k:]
            mode = lap.pirls(phi, beta=beta)
            b = np.asarray(system.Lambda(phi) @ mode.u).ravel()
            return Replicate(spec, system, beta, phi, 1.0, b, False, None, info.converged,
                             bool(info.boundary))
        from .assemble_glmm import laplace_state
        st = laplace_state(replace(spec, y=np.asarray(y, dtype=float)),
                           reml=fit.state.method == "REML", nAGQ=fit.state.nAGQ,
                           phi0=_laplace_start(fit))
        return Replicate(spec, st.system, st.beta, st.phi, st.scale, st.b, False,
                         st.theta, st.optinfo.converged,
                         bool(st.optinfo.boundary))


# ---- case (cluster) resampling --------------------------------------------------------------
def _bar_columns(spec: ModelSpec) -> list[str]:
    cols: list[str] = []
    for blk in spec.blocks:
        if blk.term.has(Ability.GROUPING_FACTOR):
            for c in blk.term.grouping_factor.split(":"):
                if c.strip() not in cols:
                    cols.append(c.strip())
    return cols


def _nested_in(data: pd.DataFrame, inner: str, outer: str) -> bool:
    """Does every level of ``inner`` occur within one level of ``outer``?"""
    return bool((data.groupby(inner, observed=True)[outer].nunique() <= 1).all())


def default_group(fit) -> str:
    """The grouping factor to resample: the one bar factor all others are nested in."""
    spec = fit.spec
    cols = _bar_columns(spec)
    if not cols:
        raise ValueError("the model has no lme4 random-effects term: pass group= (a column "
                         "of the data whose groups are resampled)")
    outer = [c for c in cols if all(c == o or _nested_in(spec.data, o, c) for o in cols)]
    if len(outer) != 1:
        raise ValueError(f"the model has several grouping factors {cols}: say which one is "
                         "resampled with group=")
    return outer[0]


@dataclass
class CaseDesign:
    """What a case resample needs from the original fit."""

    data: pd.DataFrame
    group: str
    codes: np.ndarray  # group code of each row
    rows_of: list[np.ndarray]  # rows of each group
    nested: list[str]  # other grouping columns nested within the group (relabelled too)
    prior_weights: np.ndarray
    extra_offset: np.ndarray  # offset= argument values (formula offsets are re-evaluated)

    @classmethod
    def build(cls, fit, group: str | None) -> CaseDesign:
        spec = fit.spec
        for blk in spec.blocks:
            if not blk.term.has(Ability.GROUPING_FACTOR):
                raise NotImplementedError(
                    f"the case bootstrap rebuilds the model on resampled groups; term "
                    f"{blk.name!r} is not an lme4 random-effects term (use kind='parametric')")
        data = spec.data
        group = default_group(fit) if group is None else group
        if group not in data.columns:
            raise ValueError(f"group={group!r} is not a column of the model's data (columns: "
                             f"{list(data.columns)})")
        codes, uniq = pd.factorize(data[group], sort=True)
        if len(uniq) < 2:
            raise ValueError(f"group={group!r} has {len(uniq)} level: nothing to resample")
        rows_of = [np.flatnonzero(codes == j) for j in range(len(uniq))]
        nested = [c for c in _bar_columns(spec) if c != group and _nested_in(data, c, group)]
        w = spec.weights
        if spec.trials is not None:
            w = np.where(spec.trials > 0, w / np.where(spec.trials > 0, spec.trials, 1), 1.0)
        from ..formula.evaluate import evaluate
        formula_off = np.zeros(spec.n)
        for e in spec.offset_exprs:
            formula_off += evaluate(e, data, spec.env)
        return cls(data, group, codes, rows_of, nested, w, spec.offset - formula_off)

    @property
    def n_groups(self) -> int:
        return len(self.rows_of)

    def frame(self, groups: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows of the drawn ``groups``; copy ``k`` of a group becomes level ``k`` of the
        group column, and each level of a nested factor within it a level of its own."""
        rows = np.concatenate([self.rows_of[g] for g in groups])
        copy = np.concatenate([np.full(len(self.rows_of[g]), k) for k, g in enumerate(groups)])
        d = self.data.iloc[rows].reset_index(drop=True)
        d[self.group] = pd.Categorical(copy)
        for c in self.nested:
            inner = pd.factorize(self.data[c])[0][rows]
            d[c] = pd.Categorical(inner.astype(np.int64) * len(groups) + copy)
        return d, rows


class CaseRefitter:
    """Rebuild the model on a set of groups (with repeats) and refit it."""

    def __init__(self, fit, group: str | None):
        self.fit = fit
        self.design = CaseDesign.build(fit, group)

    def __call__(self, groups: np.ndarray) -> Replicate:
        fit, des = self.fit, self.design
        spec = fit.spec
        data, rows = des.frame(groups)
        family = spec.family
        if fit.state.theta is not None:
            family = family.with_theta(fit.state.theta)
        new = build_model(spec.formula.text, data, family, offset=des.extra_offset[rows],
                          weights=des.prior_weights[rows], env=spec.env)
        if fit.is_gaussian:
            from .assemble import gaussian_state
            st = gaussian_state(new, fit.REML, phi0=fit.state.phi)
        else:
            from .assemble_glmm import laplace_state
            st = laplace_state(new, reml=fit.state.method == "REML", nAGQ=fit.state.nAGQ,
                               phi0=_laplace_start(fit))
        return Replicate(new, st.system, st.beta, st.phi, st.scale, st.b,
                         fit.is_gaussian, st.theta, st.optinfo.converged,
                         bool(st.optinfo.boundary))
