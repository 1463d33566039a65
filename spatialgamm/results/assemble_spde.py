"""Fitting models with spde() fields: objective -> Newton-AI optimiser -> fit object.

A model whose only latent term is one spde() field (plus fixed effects and offsets), with a
Gaussian identity or canonical-link family, takes the fast path of
:mod:`spatialgamm.engine.spde_fit`: exact gradients by selected inversion, average-information
Newton steps, one symbolic analysis, a few dozen numeric factorisations at most. Any other
mix (spde() with lme4 bars or s() terms, non-canonical links) is fitted by the general engine
(derivative-free optimiser, same criterion) and reported the same way.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..engine.laplace import PIRLSError
from ..engine.optimize import emit_warnings
from ..engine.spde_fit import FieldObjective
from ..engine.spde_optimize import observed_hessian, optimise_field
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from ..terms.spde import SPDETerm
from .mixed import FitState
from .spde import SparsePosterior, SPDEGamFit, SPDEMixedFit


def fast_path(spec: ModelSpec) -> bool:
    """One spde() block and nothing else latent; Gaussian identity or a canonical link."""
    fam = spec.family
    gaussian = fam.name == "gaussian" and fam.link.name == "identity"
    return (len(spec.blocks) == 1 and isinstance(spec.blocks[0].term, SPDETerm)
            and spec.blocks[0].fixed is None and (gaussian or (fam.canonical and
                                                               fam.scale_known)))


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


def _start(obj: FieldObjective, spec: ModelSpec, term: SPDETerm, phi0: np.ndarray,
           range_given: bool) -> np.ndarray:
    """Starting (log range, log sigma): the empirical variogram of the residuals of the model
    without the field, unless range0= / sigma0= were given."""
    beta, _ = obj.glm_start()
    eta = obj.offset + obj.X @ beta
    z, w = obj.family.working(obj.y, eta, obj.wt)
    xy = np.column_stack([spec.data[v].to_numpy(dtype=float) for v in term.variables])
    vg = variogram_start(xy, np.where(w > 0, z - eta, np.nan), term.nu, term.range_bounds)
    phi = phi0.copy()
    if vg is None:
        return phi
    r, psill, nugget = vg
    if not range_given:
        phi[0] = np.log(np.clip(r, *term.range_bounds))
    if not term.sigma0_given:
        s = np.sqrt(psill / nugget) if obj.gaussian else np.sqrt(psill)
        if np.isfinite(s) and s > 0:
            phi[1] = np.log(np.clip(s, 0.05, 20.0 if obj.gaussian else 3.0))
    return phi


def _field_edf(post: SparsePosterior, Q) -> float:
    """``q - tr(Q Cov(u)/s)``: the field's effective degrees of freedom."""
    coo = Q.tocoo()
    tr = float(np.sum(coo.data * post.entries(coo.row, coo.col)))
    if post.p:
        CR = sla.solve_triangular(post.R, post.C.T, trans="T", lower=False).T
        tr += float(np.sum(CR * (Q @ CR)))
    return post.q - tr


def spde_state(spec: ModelSpec, reml: bool = True) -> FitState:
    """Fit the fast-path model; the engine state at the optimum."""
    blk = spec.blocks[0]
    term: SPDETerm = blk.term
    system = LatentSystem(spec.blocks, spec.n)
    obj = FieldObjective(spec.X, blk.Z, spec.y, spec.offset, spec.weights, spec.family,
                         term.prior, term.operator.pattern, reml=reml)
    phi0 = _start(obj, spec, term, blk.phi_start, term.range0_given)
    prior_before = term.n_factorizations
    info, ev, log = optimise_field(obj, phi0, blk.phi_lower, blk.phi_upper,
                                   boundary=system.at_boundary)
    n_opt = obj.n_factorizations
    n_evals = obj.n_evals
    try:  # observed information for the standard errors (AI matrix as the fallback)
        hess, hess_full = observed_hessian(obj, ev)
    except (np.linalg.LinAlgError, RuntimeError, PIRLSError):
        hess, hess_full = ev.ai, ev.ai_full
    post = SparsePosterior(ev.sel, ev.solve.C, ev.solve.R, ev.scale)
    fam = spec.family
    if obj.gaussian:
        method = "REML" if reml else "ML"
    else:
        method = "REML" if reml else "Laplace"
    edf = _field_edf(post, ev.prior.Q)
    start = (ev.beta.copy(), ev.u.copy())

    def objective(phi: np.ndarray) -> float:
        """The criterion at ``phi`` (for profiles and Hessians), warm-started at the mode."""
        try:
            return obj.evaluate(np.asarray(phi, dtype=float), start).f
        except (np.linalg.LinAlgError, RuntimeError):
            return np.inf

    extra = {
        "system": system, "objective": objective, "working_weights": ev.w,
        "gaussian": obj.gaussian,
        "sparse_posterior": post, "edf_blocks": np.array([edf]),
        "deviance": float(np.sum(fam.dev_resids(spec.y, ev.mu, spec.weights))),
        "spde": {"path": "sparse Newton (average information)", "evaluations": len(log),
                 "hessian_evaluations": obj.n_evals - n_evals,
                 "iterations": info.iterations,
                 "factorizations": obj.n_factorizations,
                 "factorizations_optimiser": n_opt,
                 "prior_factorizations": term.n_factorizations - prior_before,
                 "ai": ev.ai, "ai_full": ev.ai_full, "hessian": hess,
                 "hessian_full": hess_full, "log": log, "mesh_nodes": term.mesh.n},
    }
    return FitState(phi=ev.phi, beta=ev.beta, u=ev.u, b=ev.u.copy(), pls=None, scale=ev.scale,
                    criterion=ev.f, vcov_beta=post.vcov_beta, eta=ev.eta, mu=ev.mu,
                    optinfo=info, method=method, extra=extra)


def fit_spde(spec: ModelSpec, method: str = "REML", kind: str = "fit",
             data_name: str = "data") -> SPDEMixedFit | SPDEGamFit:
    """Fit a model with spde() terms; ``kind`` is the front door ('fit' or 'gam').

    Parameters
    ----------
    spec : ModelSpec
    method : {'REML', 'ML'}
        REML integrates the fixed effects out (for non-Gaussian families the Laplace
        approximate REML of mgcv); ML keeps them at the joint mode (glmer's Laplace).
    kind : {'fit', 'gam'}
    data_name : str

    Examples
    --------
    >>> fit = sg.fit("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5) + offset(log(time))",
    ...              rongelap, family="poisson")  # doctest: +SKIP
    >>> fit.range, fit.sigma_field  # doctest: +SKIP
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"models with spde() fields are fitted by 'REML' or 'ML' (Laplace); "
                         f"got method={method!r}")
    reml = method == "REML"
    warned = False
    if fast_path(spec):
        with blas_threads_for(spec.blocks[0].q + spec.p):
            state = spde_state(spec, reml=reml)
        if kind == "gam":
            state.method = method
            state.extra["score"] = state.criterion / 2.0
    elif kind == "gam":
        from .assemble_gam import fit_gam
        state = fit_gam(spec, method=method).state
        warned = True  # fit_gam has raised its warnings
    else:
        if spec.family.name == "gaussian" and spec.family.link.name == "identity":
            from .assemble import gaussian_state
            state = gaussian_state(spec, reml)
        else:
            from .assemble_glmm import laplace_state
            state = laplace_state(spec, reml=reml, glmer_stage2=False)
    cls = SPDEGamFit if kind == "gam" else SPDEMixedFit
    fit = cls(spec, state, data_name=data_name)
    if not warned:
        emit_warnings(state.optinfo)
    return fit

