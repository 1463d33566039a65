"""``brm()``: brms's front door, sampled with NUTS (nutpie) on the package's model structure.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pandas as pd

from .density import make_density
from .draws import build_idata, coef_label
from .engine_adapter import ModelData, model_data
from .fit import BrmsFit
from .gp_terms import split_gp_terms
from .priors import Prior, check_user_priors, default_priors
from .sampler import ChainSettings, run_chains
from .smooth_terms import check_no_fields, smooth_texts
from .spatial import build_field_idata, build_fields, sampling_density
from .spatial_density import make_field_density

_TRIALS = re.compile(r"^\s*(.+?)\s*\|\s*trials\s*\((.+)\)\s*$")


def brms_formula(formula: str) -> str:
    """brms's ``y | trials(n) ~ ...`` as the package's ``cbind(y, n - y) ~ ...``.

    Examples
    --------
    >>> brms_formula("incidence | trials(size) ~ period + (1 | herd)")
    'cbind(incidence, (size) - (incidence)) ~ period + (1 | herd)'
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string with '~', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    m = _TRIALS.match(lhs)
    if m:
        y, n = m.group(1), m.group(2)
        return f"cbind({y}, ({n}) - ({y})) ~{rhs}"
    if "|" in lhs:
        raise ValueError(f"formula {formula!r}: of brms's response terms only "
                         "'y | trials(n)' is supported")
    return formula


def _user_priors(prior: Any) -> list[Prior]:
    if prior is None:
        return []
    items = [prior] if isinstance(prior, Prior) else list(prior)
    for p in items:
        if not isinstance(p, Prior):
            raise TypeError(f"prior must be Prior objects (spatialgamm.mcmc.prior(...)), "
                            f"got {type(p).__name__}")
    return items


def all_priors(md: ModelData, prior: Any) -> list[Prior]:
    """The user's priors (checked against the model) followed by brms's defaults."""
    user = _user_priors(prior)
    groups: dict[str, list[str]] = {}
    for t in md.terms:  # brms names SDs by group: (1 | g) + (0 + x | g) share "g"
        if t.smooth is None:
            groups.setdefault(t.group, []).extend(coef_label(c) for c in t.cov_names)
    coefs = ["Intercept" if c == "(Intercept)" else c for c in md.x_names]
    check_user_priors(user, coefs, groups, md.is_gaussian_identity,
                      smooths=smooth_texts(md))
    y = md.counts if md.family.name != "binomial" else md.y
    return user + default_priors(y, md.family.link.name, md.is_gaussian_identity,
                                 "(Intercept)" in md.x_names, list(groups))


def initial_values(md: ModelData, density) -> tuple[np.ndarray, np.ndarray]:
    """A start (least squares / the link of the mean response) and Stan-like jitter widths."""
    lay = density.layout
    init = np.zeros(lay.dim)
    jitter = np.ones(lay.dim)
    X = density.X
    if md.is_gaussian_identity:
        beta, *_ = np.linalg.lstsq(X, md.y - md.offset, rcond=None)
        res = md.y - md.offset - X @ beta
        s = float(np.std(res)) or 1.0
        XtX_inv = np.linalg.pinv(X.T @ X)
        init[:lay.p] = beta
        jitter[:lay.p] = 2 * s * np.sqrt(np.diag(XtX_inv))
        init[lay.sigma] = np.log(0.7 * s)
        jitter[lay.sigma] = 0.3
        scale = 0.5 * s
    else:
        mu = np.clip(np.average(md.y, weights=md.weights), 1e-3,
                     1 - 1e-3 if md.family.name == "binomial" else np.inf)
        if lay.intercept is not None:
            init[lay.intercept] = float(md.family.link.linkfun(np.array([mu]))[0])
        jitter[:lay.p] = 0.5
        scale = 0.5
    Z = md.Z
    for t in lay.terms:
        zz = Z[:, t.cols].tocsc()
        rms = np.sqrt(np.asarray(zz.multiply(zz).sum(axis=0)).ravel()
                      .reshape(t.n_levels, t.nc).sum(axis=0) / md.n)
        rms = np.where(rms > 0, rms, 1.0)
        k = t.phi.start
        for c in range(t.nc):
            for r in range(c, t.nc):
                if r == c:
                    init[k] = np.log(scale / rms[r])
                    jitter[k] = 0.5
                else:
                    init[k] = 0.0
                    jitter[k] = 0.1 * scale / rms[r]
                k += 1
    if lay.z is not None:
        jitter[lay.z] = 1.0
    return init, jitter


def brm(formula: str, data: pd.DataFrame, family: Any = "gaussian", prior: Any = None,
        chains: int = 4, iter: int = 2000, warmup: int | None = None, thin: int = 1,
        seed: int | None = None, cores: int | None = None, progress: bool = True,
        center: bool = True, max_treedepth: int = 10, adapt_delta: float = 0.8,
        prior_range: Any = None, prior_sigma: Any = None,
        env: dict[str, Any] | None = None) -> BrmsFit:
    """Fit a Bayesian (generalised) linear mixed model with brms's defaults, by NUTS.

    Gaussian models integrate the group-level effects out exactly (NUTS moves only the
    population-level effects, sigma and the covariance factors; the group-level effects are
    then drawn from their conditional Gaussian); binomial and Poisson models sample them
    non-centred. Smooths ``s()`` / ``t2()`` are brms's ``bs_sx_1`` columns and ``sds_sx_1``
    parts, sampled as group-level effects (:mod:`spatialgamm.mcmc.smooth_terms`). Models
    with latent fields (brms's ``gp(x, ..., by=, k=, c=)``, ``hsgp()``, ``spde(x, y,
    mesh=)``): Gaussian ones on the exact marginal posterior of the hyperparameters (fields
    drawn afterwards), others non-centred, spde() fields centred
    (:func:`spatialgamm.mcmc.spatial.sampling_density`).

    Parameters
    ----------
    formula : str
        lme4-style formula; brms's ``y | trials(n) ~ ...`` or ``cbind(y, n - y) ~ ...`` for
        binomial counts.
    data : DataFrame
    family : str or Family
        ``"gaussian"``, ``"binomial"``, ``"poisson"`` (canonical or other links).
    prior : Prior or list of Prior, optional
        :func:`spatialgamm.mcmc.prior` statements; brms's defaults fill the rest.
    chains, iter, warmup, thin : int
        As brms: ``iter`` draws per chain including ``warmup`` (default ``iter // 2``).
    seed : int, optional
        Makes the run reproducible (each chain's stream comes from it).
    cores : int, optional
        Worker processes (default: as many as chains, at most the CPUs); 1 runs in-process.
    progress : bool
        A progress bar of finished chains.
    center : bool
        Sample the intercept of the centred design (brms's default); ``False`` puts the
        ``b`` prior on R's intercept itself.
    max_treedepth, adapt_delta : NUTS settings (brms's ``control``).
    prior_range, prior_sigma : (float, float), optional
        PC prior of an spde() field: ``P(range < r0) = p`` and ``P(sigma > s0) = p``
        (default, as :func:`spatialgamm.inla`: ``(diameter / 10, 0.05)`` and ``(1, 0.05)``).
    env : dict, optional
        Names visible to term arguments (``mesh=mesh``); default the caller's namespace.

    Examples
    --------
    >>> from spatialgamm.datasets import load_sleepstudy
    >>> fit = brm("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), chains=2, iter=300,
    ...           seed=1, cores=1, progress=False)
    >>> sorted(fit.idata.groups())[:3]
    ['log_likelihood', 'observed_data', 'posterior']
    >>> 5 < float(fit.draws("b_Days").mean()) < 15
    True
    """
    if not (isinstance(iter, (int, np.integer)) and iter >= 2):
        raise ValueError(f"iter must be an integer >= 2, got {iter!r}")
    warmup = iter // 2 if warmup is None else warmup
    if not (isinstance(warmup, (int, np.integer)) and 0 <= warmup < iter):
        raise ValueError(f"warmup must be an integer in [0, iter), got {warmup!r}")
    if (iter - warmup) % thin:
        raise ValueError(f"iter - warmup ({iter - warmup}) must be a multiple of thin ({thin})")
    seed = int(np.random.SeedSequence().entropy % (2 ** 31)) if seed is None else int(seed)
    settings = ChainSettings(draws=(iter - warmup) // thin, warmup=warmup, thin=thin,
                             seed=seed, max_treedepth=max_treedepth, target_accept=adapt_delta)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if env is None:
        from ..api import _caller_env
        env = _caller_env()
    base, gp_texts = split_gp_terms(brms_formula(formula))
    md = model_data(base, data, family, env=env)
    md.formula = formula
    priors = all_priors(md, prior)
    fields: list = []
    check_no_fields(md, bool(gp_texts or md.fields))
    if gp_texts or md.fields:
        fields, priors = build_fields(md, gp_texts, env, priors, prior_range, prior_sigma)
        density = make_field_density(md, priors, fields, center=center)
    else:
        if prior_range is not None or prior_sigma is not None:
            raise ValueError("prior_range= / prior_sigma= are for spde() fields; the model "
                             "has none")
        density = make_density(md, priors, center=center)
    init, jitter = initial_values(md, density)
    for f in fields:  # a modest field SD and length scale
        init[f.hyper] = field_start(f, md)
        jitter[f.hyper] = 0.3
        jitter[f.z] = 1.0
    lay = density.layout
    if fields and md.family.link.name == "log" and lay.intercept is not None:
        # the rate per unit exposure, not the mean count (offsets such as log(time))
        init[lay.intercept] = float(np.log(max(md.y.sum(), 0.5) / np.exp(md.offset).sum()))
    # Gaussian models with fields: NUTS on the exact marginal posterior, latents drawn after;
    # spde() fields otherwise centred (spatial.sampling_density)
    sampled = sampling_density(density) if fields else None
    if sampled is not None:
        init, jitter = sampled.start(init, jitter)
    t0 = time.perf_counter()
    out = run_chains(sampled or density, chains, settings, init, jitter, cores=cores,
                     progress=progress)
    if sampled is not None:
        out = sampled.complete(out, seed)
    seconds = time.perf_counter() - t0
    idata = (build_field_idata(md, density, out, seed) if fields
             else build_idata(md, density, out, seed))
    return BrmsFit(idata=idata, model=md, priors=priors, sampler="nuts",
                   settings=dict(warmup=warmup, thin=thin, seed=seed, chains=chains),
                   seconds=seconds, density=density)


def field_start(f, md: ModelData) -> np.ndarray:
    """A start for a field's ``(log sd, log length)``: SD 0.5 (Gaussian: a fifth of the
    response's SD), length a third of the data's extent (scaled GPs: 0.3)."""
    sd = 0.2 * float(np.std(md.y)) if md.is_gaussian_identity else 0.5
    if hasattr(f, "part"):
        return np.log([max(sd, 1e-3), 0.3])
    nodes = f.mesh.nodes
    return np.log([float(np.ptp(nodes, axis=0).max()) / 3, max(sd, 1e-3)])
