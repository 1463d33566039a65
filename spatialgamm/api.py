"""Front doors: ``lmer``, ``glmer``, ``gam`` and ``fit`` are thin compositions of the public
stages on the one engine::

    spec = build_model(formula, data)                            # model.py
    objective = make_objective(spec, method)                     # engine/objective.py
    summary = optimize(objective, default_plan(objective, spec)) # engine/optimize.py
    fit = assemble(spec, objective, summary)                     # results/assemble.py

Non-Gaussian fits go through ``fit_laplace`` (results/assemble_glmm.py): its checks, then
glmer's stages on the Laplace objective, or the same four stages for the precision form;
``gam`` resolves mgcv's method names first (results/assemble_gam.py).
"""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd

from .chunked import fit_chunked, is_chunked
from .engine.gaussian import GaussianObjective
from .engine.objective import default_plan, make_objective
from .engine.optimize import optimize
from .engine.threads import blas_threads_for
from .formula.parse import parse_formula
from .model import ModelSpec, build_model
from .results.assemble import assemble
from .validate import check_nagq


def _caller_env(depth: int = 2) -> dict[str, Any]:
    """The calling frame's globals and locals, so ``spde(x, y, mesh=mesh)`` resolves ``mesh``."""
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            frame = frame.f_back if frame is not None else None
        if frame is None:
            return {}
        env = dict(frame.f_globals)
        env.update(frame.f_locals)
        return env
    finally:
        del frame


def _with_crs(fit: Any, data: Any) -> Any:
    """Record the CRS of a GeoDataFrame's coordinates on the fit; refuse lon/lat for
    spatial terms (distances in degrees are not planar metres)."""
    crs = getattr(data, "crs", None)
    if crs is not None and getattr(fit, "spatial_coords", None):
        if getattr(crs, "is_geographic", False):
            raise ValueError(f"data has a geographic CRS ({crs.name}): spatial terms need "
                             "projected coordinates in metres; reproject first, e.g. "
                             "gdf.to_crs(gdf.estimate_utm_crs())")
    if crs is not None or getattr(fit, "crs", None) is None:
        fit.crs = crs  # a CRS declared on a term (gp(crs=...)) stays when data carry none
    return fit


def _threads(spec: ModelSpec):
    """BLAS threads for a system of this size (one for small ones, where threading costs)."""
    return blas_threads_for(spec.p + sum(b.q for b in spec.blocks))


def _check_residual_df(spec: Any, reml: bool) -> None:
    """A Gaussian fit needs residual degrees of freedom: with as many fixed-effect columns as
    observations the fixed effects reproduce the data, the REML criterion is undefined (lme4
    stops: "objective in x0 returns NA") and the ML likelihood grows without bound as the
    residual variance goes to 0. Say so before fitting."""
    if spec.n - spec.p > 0:
        return
    what = ("the REML criterion is undefined (it integrates over N - p = 0 error contrasts)"
            if reml else "the likelihood is unbounded (the residual variance goes to 0)")
    raise ValueError(f"no residual degrees of freedom: {spec.n} observations and {spec.p} "
                     f"fixed-effect columns {spec.x_names} fit the response exactly, so {what}; "
                     "remove fixed effects or add observations")


def _chunked_beta_mode(family: Any, method: str, where: str) -> None:
    """Out of core, non-Gaussian ML keeps beta at the joint mode (mgcv's way); glmer's
    second stage (beta optimised on the Laplace deviance) needs every row per evaluation:
    refused rather than silently changed."""
    from .families import get_family
    if method == "ML" and not get_family(family).is_gaussian_identity:
        raise NotImplementedError(
            f"{where}() on dask or Parquet data: non-Gaussian maximum likelihood with glmer's "
            "second stage is not available out of core; use sg.gam(..., method='ML') (beta "
            "at the joint mode, as mgcv) or method='REML'")


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, weights: Any = None,
         offset: Any = None, na_action: str = "omit", control: Any = None) -> Any:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        ``"Reaction ~ Days + (Days | Subject)"``: lme4 bars ``(x|g)``, ``(x||g)``,
        ``(1|a/b)``, ``(1|a:b)``, any number of crossed terms; ``offset(expr)``.
    data : DataFrame
    REML : bool
        REML (default, as lme4) or maximum likelihood.
    weights, offset : optional
        Prior weights and an offset (array or column name), added to the formula's offsets.
    na_action : {"omit", "fail"}
    control : Control or dict, optional
        lme4's ``lmerControl``: checks of the grouping factors (a factor with as many levels
        as observations is refused: its variance and the residual variance are not
        identifiable) and optimiser settings; see :func:`spatialgamm.lmer_control`.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    >>> m.fixef.round(3).tolist()
    [251.405, 10.467]
    """
    spec = build_model(formula, data, "gaussian", offset=offset, weights=weights,
                       na_action=na_action, env=_caller_env(), control=control)
    if not spec.blocks:
        raise ValueError("lmer needs at least one random-effects term like (1 | group); "
                         "use sg.fit() for a model without random effects")
    _check_residual_df(spec, REML)
    with _threads(spec):
        objective = make_objective(spec, "REML" if REML else "ML")
        summary = optimize(objective, default_plan(objective, spec))
        return _with_crs(assemble(spec, objective, summary), data)


def fit(formula: str, data: pd.DataFrame, family: Any = "gaussian", method: str = "REML",
        weights: Any = None, offset: Any = None, na_action: str = "omit", control: Any = None,
        **kwargs: Any) -> Any:
    """The general front door: any mix of fixed effects, lme4 bars and latent terms.

    Gaussian identity-link models are fitted by exact profiled REML (default) or ML; other
    families by the Laplace approximation (``method='ML'``: glmer's; ``'REML'``: integrating
    the fixed effects too, as mgcv's LAML). A formula with no random terms is an ordinary
    (generalised) linear model, so AIC/BIC compare it with mixed models. ``control`` is
    lme4's (:func:`spatialgamm.lmer_control`): lmer's checks for Gaussian identity-link
    models, glmer's for other families.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> ols = sg.fit("Reaction ~ Days", sg.datasets.load_sleepstudy(), method="ML")
    >>> round(ols.sigma, 2)
    47.45
    """
    method = method.upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    if is_chunked(data):  # a dask DataFrame or Parquet data: passes over its partitions
        _chunked_beta_mode(family, method, "fit")
        return fit_chunked(formula, data, family, method, weights=weights, offset=offset,
                           na_action=na_action, env=_caller_env(), control=control)
    spec = build_model(formula, data, family, offset=offset, weights=weights,
                       na_action=na_action, env=_caller_env(), control=control)
    if spec.family.is_gaussian_identity:
        _check_residual_df(spec, method == "REML")
    with _threads(spec):  # (building the objective factors its system once)
        objective = make_objective(spec, method)
        if not isinstance(objective, GaussianObjective):  # glmer's stages, or the field's
            from .results.assemble_glmm import fit_laplace
            return _with_crs(fit_laplace(spec, reml=(method == "REML"), objective=objective,
                                         **kwargs), data)
        summary = optimize(objective, default_plan(objective, spec))
        return _with_crs(assemble(spec, objective, summary), data)


def glmer(formula: str, data: pd.DataFrame, family: Any = "binomial", nAGQ: int = 1,
          weights: Any = None, offset: Any = None, na_action: str = "omit",
          control: Any = None) -> Any:
    """Fit a generalised linear mixed model by maximum likelihood, as lme4's ``glmer``.

    ``nAGQ = 1`` is the Laplace approximation; ``nAGQ > 1`` (up to 25) adaptive
    Gauss-Hermite quadrature for one scalar random effect ``(1 | g)``. Binomial responses
    may be ``cbind(successes, failures)``, 0/1, or proportions with ``weights=`` trials;
    Poisson exposure via ``offset(log(exposure))`` or ``offset=``. An observation-level
    effect ``(1 | obs)`` (one level per row) models overdispersion, as in glmer;
    ``control`` is lme4's ``glmerControl`` (:func:`spatialgamm.glmer_control`).

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              sg.datasets.load_cbpp(), family="binomial")
    >>> round(float(m.fixef["(Intercept)"]), 2)
    -1.4
    """
    from .results.assemble_glmm import fit_laplace
    env = _caller_env()
    if is_chunked(data):
        _chunked_beta_mode(family, "ML", "glmer")
        return fit_chunked(formula, data, family, "ML", weights=weights, offset=offset,
                           na_action=na_action, env=env, control=control)
    if isinstance(formula, str) and not (isinstance(nAGQ, int) and nAGQ == 1):
        check_nagq(nAGQ, parse_formula(formula, env))  # refused before anything is built
    spec = build_model(formula, data, family, offset=offset, weights=weights,
                       na_action=na_action, env=env, control=control)
    if not spec.blocks:
        raise ValueError("glmer needs at least one random-effects term like (1 | group)")
    if spec.family.is_gaussian_identity:
        _check_residual_df(spec, False)
    with _threads(spec):  # (building the objective factors its system once)
        objective = make_objective(spec, "ML")
        if not isinstance(objective, GaussianObjective):  # glmer's stages, or the field's
            return _with_crs(fit_laplace(spec, reml=False, nAGQ=nAGQ, objective=objective),
                             data)
        summary = optimize(objective, default_plan(objective, spec))
        return _with_crs(assemble(spec, objective, summary), data)


def gam(formula: str, data: pd.DataFrame, family: Any = "gaussian", method: str | None = None,
        offset: Any = None, weights: Any = None, na_action: str = "omit",
        gamma: float = 1.0, select: bool = False) -> Any:
    """Fit a generalised additive (mixed) model, as mgcv's ``gam``.

    ``s()`` smooths (``bs='gp'``, ``'cr'``, ``'ps'``, ``'tp'``, ``'re'``, ``by=``) may be
    mixed with lme4 bars and fixed effects. ``method``: ``'UBRE'`` (default for known scale,
    as mgcv), ``'GCV'`` (default otherwise), ``'REML'`` or ``'ML'`` (Laplace approximate for
    non-Gaussian families); ``'GCV.Cp'`` is mgcv's name for UBRE/GCV. ``gamma`` multiplies the
    edf in UBRE/GCV. ``select=True`` adds mgcv's null-space penalty to every smooth. ``te()``
    and ``ti()`` give tensor-product smooths. Offsets in the formula or ``offset=`` are kept
    for prediction.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.gam("counts ~ s(cX, cY, bs='gp', k=50)", sg.datasets.load_rongelap(),
    ...            family="poisson", offset="log(time)")
    >>> round(float(m.edf.iloc[0]), 1)
    49.0
    """
    from .results.assemble_gam import fit_gam
    if is_chunked(data):  # a dask DataFrame or Parquet data: passes over its partitions
        if method is None or str(method).upper() not in ("REML", "ML") or select:
            raise ValueError("out-of-core gam fits (dask or Parquet data) take method='REML' "
                             f"or 'ML' and select=False; got method={method!r}")
        if gamma != 1.0:
            raise ValueError(f"gamma={gamma!r}: out-of-core gam fits (dask or Parquet data) "
                             "take gamma=1 only")
        return fit_chunked(formula, data, family, method, weights=weights, offset=offset,
                           na_action=na_action, env=_caller_env())
    spec = build_model(formula, data, family, offset=offset, weights=weights,
                       na_action=na_action, env=_caller_env())
    if select:  # mgcv's extra null-space penalty per smooth
        from .terms.smooth import apply_select
        spec = apply_select(spec)
    return _with_crs(fit_gam(spec, method=method, gamma=gamma), data)


def gamm4(formula: str, data: pd.DataFrame, random: str | None = None,
          family: Any = "gaussian", weights: Any = None, offset: Any = None,
          na_action: str = "omit") -> Any:
    """Fit a GAMM as the R package gamm4: smooths as random effects, fitted as lme4 would.

    Gaussian identity-link models by REML (lmer), other families by glmer's Laplace maximum
    likelihood (not gam's LAML). ``random`` is a one-sided formula of lme4 bars
    (``"~ (1 | g)"``). Returns an object with ``fit.gam`` (mgcv's view: ``coef``, ``edf``,
    ``sp``, ``summary()``, ``predict``) and ``fit.mer`` (lme4's view: ``fixef``,
    ``varcorr`` with each smooth's variance component, ``loglik``, ``summary()``).

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.gam_sim(6, n=200, seed=3)
    >>> m = sg.gamm4("y ~ s(x0, bs='cr') + s(x2, bs='cr')", d, random="~ (1 | fac)")
    >>> sorted(m.gam.edf.index)
    ['s(x0)', 's(x2)']
    """
    from .results.gamm4 import fit_gamm4, gamm4_formula
    spec = build_model(gamm4_formula(formula, random), data, family, offset=offset,
                       weights=weights, na_action=na_action, env=_caller_env())
    if spec.family.is_gaussian_identity:
        _check_residual_df(spec, True)
    return fit_gamm4(spec)
