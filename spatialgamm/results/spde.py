"""What users read from SPDE fields: range and SD with intervals, the field at the nodes.

* :class:`SparsePosterior` - the posterior covariance of ``(beta, u)`` kept as the selected
  inverse of the latent factor (entries of ``A^-1`` on the factor's pattern, Takahashi
  recursions) plus a rank-p correction for the fixed effects. A projector row touches three
  nodes of one triangle, whose covariances all lie on that pattern, so the variance of any
  prediction ``x'beta + a'u`` is exact and costs O(1) per point: no dense ``n x q`` matrix.
* :class:`FieldEstimate` - a float (the estimate) carrying its standard error on the log
  scale and a Wald interval computed there (always positive).
* :class:`SPDEMixedFit` / :class:`SPDEGamFit` - the fits ``sg.fit`` / ``sg.gam`` return for
  models with ``spde()`` terms: everything of :class:`MixedFit` / :class:`GamFit`, plus
  ``range``, ``sigma_field``, ``field``, ``spde_params`` and ``spde_info``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..terms.spde import SPDETerm
from .gam import GamFit
from .mixed import MixedFit


class SparsePosterior:
    """Posterior covariance of ``(beta, u)`` from a selected inverse.

    With ``H = [[X'WX, B'], [B, A]]``, ``C = A^-1 B`` and ``X'VX = R'R``:
    ``Cov(beta) = s (R'R)^-1``, ``Cov(u) = s (A^-1 + C (R'R)^-1 C')`` and
    ``Var(x'beta + z'u) = s (z'A^-1 z + (x - C'z)' (R'R)^-1 (x - C'z))``.

    Parameters
    ----------
    sel : csc_matrix (q, q)
        ``A^-1`` on the pattern of its Cholesky factor (symmetric, both triangles).
    C : ndarray (q, p)
    R : ndarray (p, p)
        Upper Cholesky factor of ``X'VX``.
    scale : float
        Residual variance (Gaussian) or 1.
    """

    def __init__(self, sel: sp.csc_matrix, C: np.ndarray, R: np.ndarray, scale: float):
        self.sel = sp.csc_matrix(sel)
        self.sel.sort_indices()
        self.C, self.R, self.scale = np.asarray(C), np.asarray(R), float(scale)
        self.q, self.p = self.C.shape
        self._keys = np.repeat(np.arange(self.q), np.diff(self.sel.indptr)).astype(
            np.int64) * self.q + self.sel.indices

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Entries ``A^-1[rows, cols]`` (each must lie on the factor's pattern)."""
        want = cols.astype(np.int64) * self.q + rows
        pos = np.searchsorted(self._keys, want)
        hit = self._keys[np.minimum(pos, len(self._keys) - 1)] == want
        if not hit.all():
            raise RuntimeError("a prediction row couples nodes outside the factor's pattern "
                               "(the row is not a projector row of this mesh)")
        return self.sel.data[pos]

    def latent_quadratic(self, Z: sp.spmatrix) -> np.ndarray:
        """``z_i' A^-1 z_i`` for every row of ``Z`` (sparse rows of a few entries)."""
        Zr = sp.csr_matrix(Z)
        cnt = np.diff(Zr.indptr)
        k2 = cnt * cnt
        owner = np.repeat(np.arange(Zr.shape[0]), k2)
        off = np.arange(k2.sum()) - np.repeat(np.cumsum(k2) - k2, k2)
        ca = Zr.indptr[:-1][owner] + off // np.maximum(cnt[owner], 1)
        cb = Zr.indptr[:-1][owner] + off % np.maximum(cnt[owner], 1)
        vals = Zr.data[ca] * Zr.data[cb] * self.entries(Zr.indices[ca], Zr.indices[cb])
        return np.bincount(owner, weights=vals, minlength=Zr.shape[0])

    def variance(self, X: np.ndarray, Z: Any, population: bool = False) -> np.ndarray:
        """``Var(x'beta + z'u)`` for rows of ``[X, Z]`` (scaled), in chunks.

        ``population`` is accepted for the prediction protocol; spatial fields are part of
        the mean at every level, so the rows of ``Z`` are used as given.
        """
        X = np.asarray(X, dtype=float)
        Z = sp.csr_matrix(Z) if Z is not None and Z.shape[1] else None
        out = np.empty(X.shape[0])
        step = 50_000
        for i in range(0, X.shape[0], step):
            sl = slice(i, min(i + step, X.shape[0]))
            G = X[sl]
            v = np.zeros(G.shape[0])
            if Z is not None:
                Zi = Z[sl]
                v += self.latent_quadratic(Zi)
                G = G - Zi @ self.C
            if self.p:
                T = sla.solve_triangular(self.R, G.T, trans="T", lower=False)
                v += np.sum(T * T, axis=0)
            out[sl] = self.scale * v
        return out

    def latent_variances(self) -> np.ndarray:
        """Posterior variance of every ``u_j`` (node of the field)."""
        d = np.asarray(self.sel.diagonal()).ravel()
        if self.p:
            CR = sla.solve_triangular(self.R, self.C.T, trans="T", lower=False)
            d = d + np.sum(CR * CR, axis=0)
        return self.scale * d

    @property
    def vcov_beta(self) -> np.ndarray:
        Rinv = sla.solve_triangular(self.R, np.eye(self.p), lower=False)
        return self.scale * (Rinv @ Rinv.T)


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
    """(index, block) of every spde() term of a fit."""
    return [(k, b) for k, b in enumerate(fit.spec.blocks) if isinstance(b.term, SPDETerm)]


def log_scale_cov(fit) -> np.ndarray:
    """Covariance of ``(log range, log sigma_field)`` per SPDE term, stacked (2k x 2k).

    Fast path: twice the inverse observed Hessian of the criterion (deviance scale; the
    average-information matrix when that is not positive definite); for the Gaussian family
    the field SD is ``sigma_rel * sqrt(s)``, so its log-variance takes the residual
    variance's share from the Hessian in ``(phi, log s)``. Other fits: the numerical Hessian
    of the criterion (Gaussian: relative SDs, scale uncertainty not included).
    """
    cached = fit.state.extra.get("spde_logcov")
    if cached is not None:
        return cached
    info = fit.state.extra.get("spde")
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
        obj = fit.state.extra["objective"]
        sysl = fit.state.extra["system"]
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
    fit.state.extra["spde_logcov"] = cov
    return cov


def _free(fit) -> np.ndarray:
    """Which coordinates of the fast path's AI matrix are off their bounds."""
    sysl = fit.state.extra["system"]
    phi, lo, hi = fit.state.phi, sysl.layout.lower, sysl.layout.upper
    free = ((phi - lo) > 1e-6) & ((hi - phi) > 1e-6)
    if fit.is_gaussian:
        free = np.append(free, True)
    return free


def spde_params(fit, level: float = 0.95) -> pd.DataFrame:
    """One row per spde() term: range and field SD with log-scale SEs and intervals."""
    sysl = fit.state.extra["system"]
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


def posterior_of(fit) -> SparsePosterior:
    """The fit's sparse posterior (built from a fresh factorisation for generic fits)."""
    post = fit.state.extra.get("sparse_posterior") or fit.state.extra.get("latent_posterior")
    if post is not None:
        return post
    from ..engine.pls import PLSSolver
    sysl = fit.state.extra["system"]
    spec = fit.spec
    w = fit.state.extra.get("working_weights", spec.weights)
    solver = PLSSolver(sysl, spec.X)
    r = solver.solve(fit.state.phi, solver.cross_products(np.zeros(spec.n), w))
    C = np.asarray(r.factor.solve(r.B)).reshape(sysl.q, spec.p) if spec.p else \
        np.zeros((sysl.q, 0))
    R = sla.cholesky(r.XtVX, lower=False) if spec.p else np.zeros((0, 0))
    post = SparsePosterior(r.factor.selected_inverse(), C, R, fit.state.scale)
    # in u-space (b = Lambda u): not for prediction rows in b-space, hence its own key
    fit.state.extra["latent_posterior"] = post
    return post


def field_frame(fit) -> pd.DataFrame:
    """Posterior mean and SD of the field at the mesh nodes (one spde() term)."""
    blocks = spde_blocks(fit)
    if len(blocks) != 1:
        raise ValueError(f"the model has {len(blocks)} spde() terms; fit.field needs one")
    k, blk = blocks[0]
    sl = fit.state.extra["system"].col_slices[k]
    post = posterior_of(fit)
    var = post.latent_variances()[sl]
    nodes = blk.term.mesh.nodes
    x, y = blk.term.variables
    return pd.DataFrame({x: nodes[:, 0], y: nodes[:, 1], "mean": fit.state.b[sl],
                         "sd": np.sqrt(np.clip(var, 0, None))},
                        index=pd.RangeIndex(len(nodes), name="node"))


def spde_summary_lines(fit) -> list[str]:
    """The SPDE section appended to a fit's summary."""
    tab = spde_params(fit)
    out = ["", "SPDE Matern fields (range: correlation about 0.14; 95% Wald intervals on the "
           "log scale):"]
    for _, r in tab.iterrows():
        out.append(f" {r['term']}: alpha = {r['alpha']:g} (nu = {r['nu']:g}), "
                   f"{int(r['mesh_nodes'])} mesh nodes")
        out.append(f"   range {r['range']:.5g}  ({r['range_lower']:.5g}, {r['range_upper']:.5g})"
                   f"   sigma {r['sigma']:.5g}  ({r['sigma_lower']:.5g}, "
                   f"{r['sigma_upper']:.5g})")
    info = fit.state.extra.get("spde")
    if info is not None:
        out.append(f" fitted in {info['evaluations']} evaluations (+"
                   f"{info.get('hessian_evaluations', 0)} for the standard errors): "
                   f"{info['factorizations']} numeric factorisations of the latent system, "
                   f"{info['prior_factorizations']} of the prior operator")
    return out


class SPDEFitMixin:
    """The SPDE quantities shared by the mixed and GAM fits."""

    @property
    def spde_params(self) -> pd.DataFrame:
        """Range and field SD of each spde() term with log-scale SEs and 95% intervals."""
        return spde_params(self)

    @property
    def range(self) -> FieldEstimate:
        """Range of the model's spde() field (INLA's: correlation about 0.14 there)."""
        return _single(self, "range")

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
        return dict(self.state.extra.get("spde", {"path": "generic engine"}))


class SPDEMixedFit(SPDEFitMixin, MixedFit):
    """A mixed model with spde() fields (``sg.fit``)."""

    def summary(self) -> str:
        return "\n".join([MixedFit.summary(self), *spde_summary_lines(self)])

    def refit_ml(self) -> SPDEMixedFit:
        """The same model refitted by maximum likelihood (for likelihood-ratio tests)."""
        if not self.REML:
            return self
        from .assemble_spde import fit_spde
        return fit_spde(self.spec, "ML", kind="fit", data_name=self.data_name)


class SPDEGamFit(SPDEFitMixin, GamFit):
    """A GAM with spde() fields (``sg.gam``)."""

    def _has_smooths(self) -> bool:
        return bool(self._smooths())

    def smooth_table(self) -> pd.DataFrame:
        # mgcv's table is about s() terms; without them it would only build the dense
        # posterior covariance of every mesh node for nothing
        return GamFit.smooth_table(self) if self._has_smooths() else pd.DataFrame()

    @property
    def Vp(self) -> pd.DataFrame:
        """Posterior covariance of the parametric coefficients (and of any s() terms)."""
        if self._has_smooths():
            return GamFit.Vp.fget(self)
        names = self.spec.x_names
        return pd.DataFrame(posterior_of(self).vcov_beta, index=names, columns=names)

    def summary(self) -> str:
        return "\n".join([GamFit.summary(self), *spde_summary_lines(self)])
