"""brm() with latent fields: ``gp()`` (exact), ``gp(..., k=, c=)`` / ``hsgp()`` (Hilbert-space)
and ``spde()`` (Matern SPDE on a mesh, PC prior): building the fields and their priors,
the InferenceData, and draws of the linear predictor at new data (for maps).

Parameter names are brms's: ``sdgp_<label>``, ``lscale_<label>`` and the standard normals
``zgp_<label>``; an spde() field reports ``range_<label>``, ``sigma_<label>`` and ``z_<label>``
(INLA's range and marginal SD).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .draws import hyper_draws
from .engine_adapter import ModelData
from .field_marginal import marginal_field_density
from .fields import ApproxGP, ExactGP, SPDEField
from .gp_terms import GPPart, build_gp_parts, lscale_prior_args
from .priors import Prior, resolve
from .sampler import chain_seed
from .spde_centred import centred_spde_density


def gp_priors(parts: list[GPPart], priors: list[Prior]) -> list[Prior]:
    """brms's defaults for ``sdgp`` (the ``sd`` default) and ``lscale`` (inverse gamma tuned to
    each GP's distances), after checking the user's ``sdgp`` / ``lscale`` statements."""
    labels = [p.label for p in parts]
    for p in priors:
        if p.source == "user" and p.class_ in ("sdgp", "lscale"):
            if p.coef and p.coef not in labels:
                raise ValueError(f"prior {p.dist!r} on class {p.class_!r} names coef "
                                 f"{p.coef!r}, not a GP of the model ({labels})")
            if p.name in ("normal", "student_t", "cauchy") and p.args[-2] != 0:
                raise ValueError(f"prior {p.dist!r} on class {p.class_!r}: a half "
                                 "distribution needs location 0")
    out = list(priors)
    sd = resolve(priors, "sd")
    out.append(Prior(sd.dist if sd.source == "default" else "student_t(3, 0, 2.5)", "sdgp",
                     source="default"))
    for part in parts:
        lo, hi = part.distances()
        args = lscale_prior_args(lo, hi) if np.isfinite(lo) else None
        dist = f"inv_gamma({args[0]!r}, {args[1]!r})" if args else "normal(0, 0.5)"
        out.append(Prior(dist, "lscale", coef=part.label, source="default"))
    return out


def gp_fields(parts: list[GPPart], priors: list[Prior]) -> list[Any]:
    """One :class:`ExactGP` or :class:`ApproxGP` per part, with its resolved priors."""
    out = []
    for part in parts:
        cls = ApproxGP if part.approximate else ExactGP
        out.append(cls(part=part, sdgp_prior=resolve(priors, "sdgp", part.label),
                       lscale_prior=resolve(priors, "lscale", part.label)))
    return out


def default_pc_prior(mesh: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """The package's inla() default: P(range < diameter / 10) = 0.05, P(sigma > 1) = 0.05."""
    nodes = mesh.nodes
    diameter = float(np.hypot(*(nodes.max(axis=0) - nodes.min(axis=0))))
    return (diameter / 10.0, 0.05), (1.0, 0.05)


def _pair(v: Any, name: str) -> tuple[float, float]:
    try:
        a, p = (float(t) for t in v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (value, probability), got {v!r}") from None
    if not (a > 0 and 0 < p < 1):
        raise ValueError(f"{name}={v!r}: the value must be positive and the probability in "
                         "(0, 1)")
    return a, p


def spde_fields(md: ModelData, prior_range: Any, prior_sigma: Any) -> list[SPDEField]:
    """The model's spde() fields (alpha = 2), with PC priors."""
    out = []
    if (prior_range is None) != (prior_sigma is None):
        raise ValueError("give both prior_range=(r0, p) and prior_sigma=(s0, p), or neither")
    if prior_range is not None and len(md.fields) != 1:
        raise ValueError(f"prior_range= / prior_sigma= need exactly one spde() field; the model "
                         f"has {len(md.fields)}")
    for f in md.fields:
        if f.alpha != 2:
            raise NotImplementedError(f"brm(): {f.name} has alpha={f.alpha}; only alpha=2 is "
                                      "sampled (its precision is tau^2 K Ct^-1 K)")
        pr, ps = default_pc_prior(f.mesh) if prior_range is None else \
            (_pair(prior_range, "prior_range"), _pair(prior_sigma, "prior_sigma"))
        C, Ct, G = f.mesh.fem()
        label = "spde" + re.sub(r"[^A-Za-z0-9._]", "", "".join(f.variables))
        out.append(SPDEField(name=f.name, label=label, variables=tuple(f.variables),
                             A=f.Z, Ct=np.asarray(Ct.diagonal(), dtype=float), G=G,
                             mesh=f.mesh, prior_range=pr, prior_sigma=ps,
                             prior_source="default" if prior_range is None else "user"))
    return out


def build_fields(md: ModelData, gp_texts: list[str], env: dict[str, Any],
                 priors: list[Prior], prior_range: Any = None, prior_sigma: Any = None
                 ) -> tuple[list[Any], list[Prior]]:
    """All latent fields of the model and the priors with the fields' defaults added."""
    parts = [p for t in gp_texts for p in build_gp_parts(t, md.data, env)]
    labels = [p.label for p in parts]
    if len(set(labels)) < len(labels):
        raise ValueError(f"gp() terms with the same covariates and by= appear twice: {labels}")
    priors = gp_priors(parts, priors) if parts else list(priors)
    return gp_fields(parts, priors) + spde_fields(md, prior_range, prior_sigma), priors


def sampling_density(full: Any) -> Any:
    """The density NUTS moves for a model with fields, when it is not ``full`` itself:
    Gaussian models on the exact marginal posterior
    (:mod:`spatialgamm.mcmc.field_marginal`), others with spde() fields centred
    (:mod:`spatialgamm.mcmc.spde_centred`); None: ``full`` (everything non-centred). The
    returned density has ``start(init, jitter)`` and ``complete(chains_out, seed)``, the
    latter giving draws in ``full``'s layout."""
    if full.gaussian:
        return marginal_field_density(full)
    return centred_spde_density(full)


def field_draws(density: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each field's hyperparameters (natural scale) and standard normals from draws ``x``."""
    out: dict[str, np.ndarray] = {}
    for f in density.fields:
        h = np.exp(x[:, f.hyper])
        for j, nm in enumerate(f.hyper_names):
            out[nm] = h[:, j]
        zname = f"zgp_{f.label}" if not isinstance(f, SPDEField) else f"z_{f.label}"
        out[zname] = x[:, f.z]
    return out


def build_field_idata(md: ModelData, density: Any, chains_out: list[dict[str, np.ndarray]],
                      seed: int):
    """InferenceData of a run with latent fields: posterior (brms's names), pointwise
    log-likelihood, posterior predictive, observed data and sample statistics."""
    import arviz as az

    C = len(chains_out)
    S = len(chains_out[0]["x"])
    post: dict[str, np.ndarray] = {}
    eta = np.empty((C, S, md.n))
    r_draws = []
    for c, ch in enumerate(chains_out):
        x = ch["x"]
        for k, v in {**hyper_draws(density, x), **field_draws(density, x)}.items():
            post.setdefault(k, np.empty((C, S) + v.shape[1:]))[c] = v
        eta[c] = np.stack([density.eta(x[s]) for s in range(S)])
        r_draws.append(np.stack([density.draw_latent(x[s], None) for s in range(S)])
                       if md.q else np.zeros((S, 0)))
    coords: dict[str, list] = {"obs": np.arange(md.n).tolist()}
    dims: dict[str, list[str]] = {"y": ["obs"]}
    b = np.stack(r_draws)
    for t in md.terms:
        lev, coef = f"{t.name}_level", f"{t.name}_coef"
        coords[lev] = list(t.levels)
        coords[coef] = [c if c != "(Intercept)" else "Intercept" for c in t.cov_names]
        post[f"r_{t.name}"] = b[:, :, t.col].reshape(C, S, t.n_levels, t.nc)
        dims[f"r_{t.name}"] = [lev, coef]
    for f in density.fields:
        zname = f"zgp_{f.label}" if not isinstance(f, SPDEField) else f"z_{f.label}"
        coords[f"{zname}_dim"] = list(range(f.n_latent))
        dims[zname] = [f"{zname}_dim"]
    mu = md.family.link.linkinv(eta)
    sigma = post.get("sigma")
    ll = md.loglik_obs_draws(mu, sigma)
    rng = np.random.default_rng(chain_seed(seed, 20_000))
    yrep = md.predict_draws(mu, sigma, rng)
    stats = {k: np.stack([ch[k] for ch in chains_out]) for k in chains_out[0] if k != "x"}
    return az.from_dict(posterior=post, log_likelihood={"y": ll},
                        posterior_predictive={"y": yrep}, observed_data={"y": md.counts},
                        sample_stats=stats, coords=coords, dims=dims)


def raw_draws(idata: Any, density: Any) -> np.ndarray:
    """The unconstrained parameter vectors of all draws (chains stacked), rebuilt from the
    posterior: fixed effects (centred), log sigma, field hyperparameters and z's. Bar
    covariance factors are not rebuilt (maps leave group-level effects out)."""
    post = idata.posterior
    lay = density.layout
    S = post.sizes["chain"] * post.sizes["draw"]
    x = np.zeros((S, density.dim))

    def st(name: str) -> np.ndarray:
        v = post[name].values
        return v.reshape(S, *v.shape[2:])
    names = [("Intercept" if n == "(Intercept)" else n) for n in lay.x_names]
    beta = np.column_stack([st(f"b_{n}") for n in names]) if names else np.zeros((S, 0))
    if lay.intercept is not None:  # back to the centred intercept
        beta = beta.copy()
        beta[:, lay.intercept] += beta @ lay.center
    x[:, :lay.p] = beta
    if lay.sigma is not None:
        x[:, lay.sigma] = np.log(st("sigma"))
    for f in density.fields:
        for j, nm in enumerate(f.hyper_names):
            x[:, f.hyper.start + j] = np.log(st(nm))
        zname = f"zgp_{f.label}" if not isinstance(f, SPDEField) else f"z_{f.label}"
        x[:, f.z] = st(zname)
    return x


def eta_new(density: Any, md: ModelData, frame: pd.DataFrame, x: np.ndarray,
            rng: np.random.Generator | None, offset: float = 0.0) -> np.ndarray:
    """Draws (rows of ``x``) of the linear predictor at ``frame`` without group-level effects:
    the fixed part, plus every field at the new points (exact GPs drawn from their conditional
    given the site values when ``rng`` is given; Hilbert-space GPs and SPDE fields are the
    basis / projector times the draws)."""
    X = md.fixed_for(frame)
    lay = density.layout
    beta = x[:, :lay.p].copy()
    if lay.intercept is not None:
        beta[:, lay.intercept] -= beta @ lay.center
    out = beta @ X.T + offset
    for f in density.fields:
        if isinstance(f, SPDEField):
            xy = frame[list(f.variables)].to_numpy(dtype=float)
            A = f.mesh.projector(xy)
            for s in range(len(x)):
                out[s] += A @ f.nodes(x[s, f.hyper], x[s, f.z])
            continue
        part = f.part
        rows = np.arange(len(frame))
        cg = np.ones(len(frame))
        if part.by is not None:
            col = frame[part.by]
            if part.level is None:  # numeric by
                cg = col.to_numpy(dtype=float)
            else:
                rows = np.flatnonzero(col.astype(str).to_numpy() == part.level)
                cg = np.ones(len(rows))
        if len(rows) == 0:
            continue
        xs = part.scaled(frame.iloc[rows])
        for s in range(len(x)):
            out[s, rows] += cg * f.at_new(x[s, f.hyper], x[s, f.z], xs, rng)
    return out
