"""What users read from SPDE fields: range and SD with intervals, the field at the nodes.

* :class:`FieldEstimate` - a float (the estimate) carrying its standard error on the log
  scale and a Wald interval computed there (always positive).
* :class:`FieldReport` - ``range``, ``sigma_field``, ``field``, ``spde_params`` and
  ``spde_info`` of the generic fit classes (``MixedFit``, ``GamFit``) for models with
  ``spde()`` terms; standard errors come from the fit's sparse posterior
  (:class:`~spatialgamm.engine.posterior.SparsePosterior`) when it has one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats

from ..engine.posterior import SparsePosterior


class FieldEstimate(float):
    """An estimate (a float) with its log-scale standard error and interval.

    Attributes
    ----------
    se_log : float
        Standard error of ``log(estimate)`` (NaN on a boundary).
    lower, upper : float
        ``estimate * exp(-+ z se_log)`` at ``level``.
    level : float

    Examples
    --------
    >>> r = FieldEstimate(2.0, 0.1)
    >>> float(r), round(r.lower, 4), round(r.upper, 4)
    (2.0, 1.644, 2.433)
    """

    se_log: float
    lower: float
    upper: float
    level: float

    def __new__(cls, value: float, se_log: float, level: float = 0.95) -> FieldEstimate:
        obj = super().__new__(cls, value)
        obj.se_log = float(se_log)
        obj.level = float(level)
        z = float(stats.norm.ppf(0.5 + level / 2))
        obj.lower = float(value) * math.exp(-z * se_log) if np.isfinite(se_log) else math.nan
        obj.upper = float(value) * math.exp(z * se_log) if np.isfinite(se_log) else math.nan
        return obj

    def __repr__(self) -> str:
        return (f"{float(self):.6g} (SE of log {self.se_log:.3g}; {100 * self.level:g}% "
                f"interval {self.lower:.6g} to {self.upper:.6g})")


def spde_blocks(fit) -> list[tuple[int, Any]]:
    """(index, block) of every spde() term of a fit (the blocks given as an SPDE pencil)."""
    return [(k, b) for k, b in enumerate(fit.spec.blocks) if b.pencil is not None]


def log_scale_cov(fit) -> np.ndarray:
    """Covariance of ``(log range, log sigma_field)`` per SPDE term, stacked (2k x 2k).

    Fast path: twice the inverse observed Hessian of the criterion (deviance scale; the
    average-information matrix when that is not positive definite); for the Gaussian family
    the field SD is ``sigma_rel * sqrt(s)``, so its log-variance takes the residual
    variance's share from the Hessian in ``(phi, log s)``. Other fits: the numerical Hessian
    of the criterion (Gaussian: relative SDs, scale uncertainty not included).
    """
    cached = fit.state.spde_logcov
    if cached is not None:
        return cached
    info = fit.state.spde
    blocks = spde_blocks(fit)
    if info is not None:
        free = _free(fit)
        idx = np.nonzero(free)[0]
        cov = np.full((len(free), len(free)), np.nan)
        for key in ("hessian_full", "ai_full"):
            Hm = np.asarray(info[key])[np.ix_(idx, idx)]
            if len(idx) and np.all(np.linalg.eigvalsh(Hm) > 0):
                cov[np.ix_(idx, idx)] = 2.0 * np.linalg.inv(Hm)
                break
        if fit.is_gaussian:  # (log range, log sigma_rel, log s) -> (log range, log sigma)
            J = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]])
            cov = J @ cov @ J.T
    else:
        from ..engine.optimize import numerical_hessian
        obj = fit.state.objective
        sysl = fit.state.system
        idx = np.concatenate([np.arange(sysl.layout.slices[k].start,
                                        sysl.layout.slices[k].stop) for k, _ in blocks])
        phi = fit.state.phi

        def sub(x: np.ndarray) -> float:
            full = phi.copy()
            full[idx] = x
            return float(obj(full))

        try:
            cov = 2.0 * np.linalg.inv(numerical_hessian(sub, phi[idx]))
        except np.linalg.LinAlgError:
            cov = np.full((len(idx), len(idx)), np.nan)
    fit.state.spde_logcov = cov
    return cov


def _free(fit) -> np.ndarray:
    """Which coordinates of the fast path's AI matrix are off their bounds."""
    sysl = fit.state.system
    phi, lo, hi = fit.state.phi, sysl.layout.lower, sysl.layout.upper
    free = ((phi - lo) > 1e-6) & ((hi - phi) > 1e-6)
    if fit.is_gaussian:
        free = np.append(free, True)
    return free


def spde_params(fit, level: float = 0.95) -> pd.DataFrame:
    """One row per spde() term: range and field SD with log-scale SEs and intervals."""
    sysl = fit.state.system
    cov = log_scale_cov(fit)
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    for j, (k, blk) in enumerate(spde_blocks(fit)):
        rep = blk.term.report(sysl.block_phi(fit.state.phi, k), fit.state.scale)
        se_r = float(np.sqrt(cov[2 * j, 2 * j])) if cov[2 * j, 2 * j] >= 0 else np.nan
        se_s = float(np.sqrt(cov[2 * j + 1, 2 * j + 1])) if cov[2 * j + 1, 2 * j + 1] >= 0 \
            else np.nan
        rows.append(dict(term=rep["term"], alpha=blk.term.alpha, nu=rep["nu"],
                         range=rep["range"], range_se_log=se_r,
                         range_lower=rep["range"] * math.exp(-z * se_r),
                         range_upper=rep["range"] * math.exp(z * se_r),
                         sigma=rep["sigma"], sigma_se_log=se_s,
                         sigma_lower=rep["sigma"] * math.exp(-z * se_s),
                         sigma_upper=rep["sigma"] * math.exp(z * se_s),
                         effective_range=rep["effective_range"], mesh_nodes=blk.term.mesh.n))
    if not rows:
        raise ValueError("the model has no spde() term")
    return pd.DataFrame(rows)


def _single(fit, which: str, level: float = 0.95) -> FieldEstimate:
    tab = spde_params(fit, level)
    if len(tab) != 1:
        raise ValueError(f"the model has {len(tab)} spde() terms; read fit.spde_params")
    r = tab.iloc[0]
    return FieldEstimate(float(r[which]), float(r[f"{which}_se_log"]), level)


def field_range(fit) -> FieldEstimate:
    """Range of the model's spde() field (INLA's: correlation about 0.14 there)."""
    return _single(fit, "range")


def posterior_of(fit) -> SparsePosterior:
    """The fit's sparse posterior (built from a fresh factorisation for generic fits)."""
    post = fit.state.sparse_posterior or fit.state.latent_posterior
    if post is not None:
        return post
    from ..engine.pls import PLSSolver
    sysl = fit.state.system
    spec = fit.spec
    w = spec.weights if fit.state.working_weights is None else fit.state.working_weights
    solver = PLSSolver(sysl, spec.X)
    r = solver.solve(fit.state.phi, solver.cross_products(np.zeros(spec.n), w))
    C = np.asarray(r.factor.solve(r.B)).reshape(sysl.q, spec.p) if spec.p else \
        np.zeros((sysl.q, 0))
    R = sla.cholesky(r.XtVX, lower=False) if spec.p else np.zeros((0, 0))
    post = SparsePosterior(r.factor.selected_inverse(), C, R, fit.state.scale)
    # in u-space (b = Lambda u): not for prediction rows in b-space, hence its own key
    fit.state.latent_posterior = post
    return post


def field_frame(fit) -> pd.DataFrame:
    """Posterior mean and SD of the field at the mesh nodes (one spde() term)."""
    blocks = spde_blocks(fit)
    if len(blocks) != 1:
        raise ValueError(f"the model has {len(blocks)} spde() terms; fit.field needs one")
    k, blk = blocks[0]
    sl = fit.state.system.col_slices[k]
    post = posterior_of(fit)
    var = post.latent_variances()[sl]
    nodes = blk.term.mesh.nodes
    x, y = blk.term.variables
    return pd.DataFrame({x: nodes[:, 0], y: nodes[:, 1], "mean": fit.state.b[sl],
                         "sd": np.sqrt(np.clip(var, 0, None))},
                        index=pd.RangeIndex(len(nodes), name="node"))


def spde_summary_lines(fit) -> list[str]:
    """The SPDE section appended to a fit's summary (none without spde() terms)."""
    if not spde_blocks(fit):
        return []
    tab = spde_params(fit)
    out = ["", "SPDE Matern fields (range: correlation about 0.14; 95% Wald intervals on the "
           "log scale):"]
    for _, r in tab.iterrows():
        out.append(f" {r['term']}: alpha = {r['alpha']:g} (nu = {r['nu']:g}), "
                   f"{int(r['mesh_nodes'])} mesh nodes")
        out.append(f"   range {r['range']:.5g}  ({r['range_lower']:.5g}, {r['range_upper']:.5g})"
                   f"   sigma {r['sigma']:.5g}  ({r['sigma_lower']:.5g}, "
                   f"{r['sigma_upper']:.5g})")
    info = fit.state.spde
    if info is not None:
        out.append(f" fitted in {info['evaluations']} evaluations (+"
                   f"{info.get('hessian_evaluations', 0)} for the standard errors): "
                   f"{info['factorizations']} numeric factorisations of the latent system, "
                   f"{info['prior_factorizations']} of the prior operator")
    return out


class FieldReport:
    """What fits report about their spde() fields (``MixedFit`` and ``GamFit`` inherit it;
    each property raises when the model has no spde() term)."""

    @property
    def spde_params(self) -> pd.DataFrame:
        """Range and field SD of each spde() term with log-scale SEs and 95% intervals."""
        return spde_params(self)

    @property
    def sigma_field(self) -> FieldEstimate:
        """Marginal standard deviation of the spde() field (on the linear predictor)."""
        return _single(self, "sigma")

    @property
    def field(self) -> pd.DataFrame:
        """Posterior mean and SD of the field at the mesh nodes (x, y, mean, sd)."""
        return field_frame(self)

    @property
    def spde_info(self) -> dict[str, Any]:
        """How the field was fitted: evaluations, factorisations, the optimiser's log."""
        if not spde_blocks(self):
            raise ValueError("the model has no spde() term")
        return dict(self.state.spde or {"path": "generic engine"})
