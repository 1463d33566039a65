"""From the sampler's unconstrained draws to an ArviZ InferenceData with brms's names.

Groups: ``posterior`` (``b_Intercept``, ``b_Days``, ``sd_Subject__Intercept``,
``cor_Subject__Intercept__Days``, ``sigma``, and the group-level effects ``r_Subject`` with
dimensions level x coefficient), ``log_likelihood`` (pointwise, conditional on the group-level
effects as brms's ``log_lik``), ``posterior_predictive``, ``observed_data`` and
``sample_stats``.
"""

from __future__ import annotations

import numpy as np

from .covariance import sd_cor, theta_from_phi
from .engine_adapter import ModelData
from .sampler import chain_seed
from .smooth_terms import fixed_var


def coef_label(name: str) -> str:
    """brms's label of a coefficient: ``(Intercept)`` -> ``Intercept``."""
    return "Intercept" if name == "(Intercept)" else name


def hyper_draws(density, x: np.ndarray) -> dict[str, np.ndarray]:
    """Fixed effects, SDs, correlations and sigma from unconstrained draws ``x`` (S, dim)."""
    lay = density.layout
    out: dict[str, np.ndarray] = {}
    beta = lay.beta(x)
    for j, nm in enumerate(lay.x_names):  # brms: bs_sx_1 for a smooth's unpenalised part
        out[fixed_var(nm, lay.smooth_fixed)] = beta[:, j]
    for t in lay.terms:
        sds = np.empty((len(x), t.nc))
        cors = np.empty((len(x), t.nc, t.nc))
        for s in range(len(x)):
            theta, _ = theta_from_phi(x[s, t.phi], t.nc)
            sds[s], cors[s] = sd_cor(theta, t.nc)
        if getattr(t, "smooth_name", None):  # a smooth's penalised part: brms's sds_sx_1
            out[f"sds_{t.smooth_name}"] = sds[:, 0]
            continue
        names = [coef_label(c) for c in t.cov_names]
        for i, c in enumerate(names):
            out[f"sd_{t.group}__{c}"] = sds[:, i]
        for i in range(t.nc):
            for j in range(i + 1, t.nc):
                out[f"cor_{t.group}__{names[i]}__{names[j]}"] = cors[:, i, j]
    if lay.sigma is not None:
        out["sigma"] = np.exp(x[:, lay.sigma])
    if getattr(lay, "shape", None) is not None:  # negative binomial / Gamma
        out["shape"] = np.exp(x[:, lay.shape])
    return out


def build_idata(md: ModelData, density, chains_out: list[dict[str, np.ndarray]],
                seed: int):
    """The InferenceData of a NUTS run (see the module docstring)."""
    C = len(chains_out)
    S = len(chains_out[0]["x"])
    lay = density.layout
    post: dict[str, np.ndarray] = {}
    r_draws, betas = [], []
    for c, ch in enumerate(chains_out):
        x = ch["x"]
        hd = hyper_draws(density, x)
        for k, v in hd.items():
            post.setdefault(k, np.empty((C, S)))[c] = v
        rng = np.random.default_rng(chain_seed(seed, 10_000 + c))
        r_draws.append(np.stack([density.draw_latent(x[s], rng) for s in range(S)])
                       if md.q else np.zeros((S, 0)))
        betas.append(lay.beta(x))
    stats = {k: np.stack([ch[k] for ch in chains_out]) for k in chains_out[0] if k != "x"}
    return assemble_idata(md, post, np.stack(betas), np.stack(r_draws), stats, seed)


def assemble_idata(md: ModelData, post: dict[str, np.ndarray], beta: np.ndarray,
                   b: np.ndarray, stats: dict[str, np.ndarray], seed: int):
    """InferenceData from scalar posterior draws ``post`` (chain, draw), fixed effects
    ``beta`` (C, S, p) and group-level effects ``b`` (C, S, q, level-major)."""
    import arviz as az

    C, S = beta.shape[:2]
    eta = md.offset + beta @ md.X.T
    if md.q:
        eta = eta + (md.Z @ b.reshape(C * S, -1).T).T.reshape(C, S, md.n)
    coords: dict[str, list] = {"obs": np.arange(md.n).tolist()}
    dims: dict[str, list[str]] = {"y": ["obs"]}
    for t in md.terms:
        if t.smooth is not None:  # brms's s_sx_1: the part's coefficients (identity penalty)
            coords[f"{t.name}_dim"] = list(range(1, t.n_levels + 1))
            post[t.name] = b[:, :, t.col]
            dims[t.name] = [f"{t.name}_dim"]
            continue
        lev, coef = f"{t.name}_level", f"{t.name}_coef"
        coords[lev] = list(t.levels)
        coords[coef] = [coef_label(c) for c in t.cov_names]
        post[f"r_{t.name}"] = b[:, :, t.col].reshape(C, S, t.n_levels, t.nc)
        dims[f"r_{t.name}"] = [lev, coef]
    mu = md.family.link.linkinv(eta)
    sigma = post.get("sigma")
    shape = post.get("shape")
    ll = md.loglik_obs_draws(mu, sigma, shape=shape)
    rng = np.random.default_rng(chain_seed(seed, 20_000))
    yrep = md.predict_draws(mu, sigma, rng, shape=shape)
    return az.from_dict(posterior=post, log_likelihood={"y": ll},
                        posterior_predictive={"y": yrep},
                        observed_data={"y": md.counts}, sample_stats=stats,
                        coords=coords, dims=dims)


def stack_chains(idata, var: str) -> np.ndarray:
    """All draws of ``var`` with chains stacked first: (chains * draws, ...)."""
    v = idata.posterior[var].values
    return v.reshape(-1, *v.shape[2:])
