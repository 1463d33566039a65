"""Gaussian models with latent fields sampled on the exact marginal posterior
(spatialgamm.mcmc.field_marginal): the log density against scipy's multivariate normal with the
covariance built column by column from the non-centred linear maps, the gradient against
finite differences, and the conditional draws of the latent normals against the closed-form
conditional mean and covariance."""

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

from spatialgamm.mcmc.api import all_priors, brms_formula
from spatialgamm.mcmc.engine_adapter import model_data
from spatialgamm.mcmc.field_marginal import marginal_field_density
from spatialgamm.mcmc.gp_terms import split_gp_terms
from spatialgamm.mcmc.spatial import build_fields
from spatialgamm.mcmc.spatial_density import make_field_density
from spatialgamm.mesh import Mesh

RNG = np.random.default_rng(11)
N = 36
DATA = pd.DataFrame(dict(x=RNG.uniform(0, 10, N), x2=RNG.uniform(0, 10, N),
                         g=RNG.integers(0, 4, N).astype(str),
                         fac=np.repeat(["a", "b"], N // 2), t=RNG.uniform(1, 3, N)))
DATA["z"] = RNG.normal(size=N)
DATA["yg"] = np.sin(DATA.x) + RNG.normal(size=N)
MESH = Mesh.build(boundary=shapely.box(0, 0, 10, 10), max_edge=3.0, offset=(0, None))
FORMULAS = ["yg ~ gp(x)", "yg ~ z + gp(x, x2)", "yg ~ fac + gp(x, by=fac, k=8)",
            "yg ~ gp(x, k=10) + (1 + z | g)", "yg ~ x + spde(x, x2, mesh=mesh)",
            "yg ~ gp(x) + spde(x, x2, mesh=mesh) + offset(log(t)) + (1 | g)"]


def densities(formula):
    base, gps = split_gp_terms(brms_formula(formula))
    env = {"mesh": MESH}
    md = model_data(base, DATA, "gaussian", env=env)
    fields, priors = build_fields(md, gps, env, all_priors(md, None))
    full = make_field_density(md, priors, fields)
    return full, marginal_field_density(full)


def start(full, marg):
    x = RNG.normal(size=marg.dim) * 0.3
    x[full.layout.sigma] = -0.5
    for f in full.fields:  # well-conditioned exact kernels (brms's jitter is 1e-12)
        x[f.hyper] = [0.0, -1.5] if hasattr(f, "part") else [math.log(4.0), 0.0]
    return x


def linear_map(full, x):
    """M (n x latent) column by column through the non-centred linear predictor."""
    k = full.layout.z.start
    xf = np.concatenate([x, np.zeros(full.dim - k)])
    base = full.eta(xf)
    cols = []
    for j in range(full.dim - k):
        xj = xf.copy()
        xj[k + j] = 1.0
        cols.append(full.eta(xj) - base)
    return np.column_stack(cols), base


@pytest.mark.parametrize("formula", FORMULAS)
def test_marginal_density_is_the_gaussian_integral(formula):
    # NUTS moves w with beta = m(h) + R(h)^-1 w (m, R'R: beta's conditional mean and
    # precision under a flat prior), so the density is N(y; X beta, V) |R|^-1 times the priors
    full, marg = densities(formula)
    x = start(full, marg)
    xb = x.copy()
    xb[:full.layout.p] = marg.beta(x)
    M, mean = linear_map(full, xb)
    s = math.exp(x[full.layout.sigma])
    V = s * s * np.eye(N) + M @ M.T
    ll = stats.multivariate_normal(mean, V).logpdf(full.y)
    log_r = 0.5 * np.linalg.slogdet(full.X.T @ np.linalg.solve(V, full.X))[1]
    # the priors: the non-centred log posterior at z = 0 minus its likelihood
    xf0 = np.concatenate([xb, np.zeros(full.dim - marg.dim)])
    prior = full.logp_grad(xf0)[0] - stats.norm.logpdf(full.y, mean, s).sum()
    assert marg.logp_grad(x)[0] == pytest.approx(ll - log_r + prior, abs=1e-8, rel=1e-10)


def test_fixed_effects_are_their_conditional_posterior():
    # beta(h, w) for w = 0 is the GLS estimate given V
    full, marg = densities("yg ~ z + gp(x, k=8)")
    x = start(full, marg)
    x[:full.layout.p] = 0.0
    xb = x.copy()
    M, mean0 = linear_map(full, np.where(np.arange(len(x)) < full.layout.p, 0.0, x))
    s = math.exp(x[full.layout.sigma])
    V = s * s * np.eye(N) + M @ M.T
    Vi = np.linalg.inv(V)
    gls = np.linalg.solve(full.X.T @ Vi @ full.X, full.X.T @ Vi @ (full.y - full.offset))
    np.testing.assert_allclose(marg.beta(xb), gls, rtol=1e-8)


@pytest.mark.parametrize("formula", FORMULAS)
def test_marginal_gradient_matches_finite_differences(formula, monkeypatch):
    monkeypatch.setattr("spatialgamm.mcmc.field_marginal.JITTER", 1e-4)
    monkeypatch.setattr("spatialgamm.mcmc.fields.JITTER", 1e-4)
    full, marg = densities(formula)
    x = start(full, marg)
    lp, g = marg.logp_grad(x)
    assert np.isfinite(lp)
    h = 1e-6
    num = np.array([(marg.logp_grad(x + h * e)[0] - marg.logp_grad(x - h * e)[0]) / (2 * h)
                    for e in np.eye(marg.dim)])
    assert np.max(np.abs(num - g)) < 1e-6 * max(1.0, np.max(np.abs(g)))


def test_latent_draws_follow_the_conditional_gaussian():
    full, marg = densities("yg ~ gp(x, k=6) + (1 | g)")
    x = start(full, marg)
    xb = x.copy()
    xb[:full.layout.p] = marg.beta(x)
    M, mean = linear_map(full, xb)
    s2 = math.exp(2 * x[full.layout.sigma])
    Vinv = np.linalg.inv(s2 * np.eye(N) + M @ M.T)
    mu = M.T @ Vinv @ (full.y - mean)
    C = np.eye(M.shape[1]) - M.T @ Vinv @ M
    rng = np.random.default_rng(5)
    S = 4000
    u = np.stack([marg.draw_latent_normals(x, rng)[marg.dim:] for _ in range(S)])
    np.testing.assert_allclose(marg.draw_latent_normals(x, rng)[:marg.dim], xb, rtol=1e-12)
    se = np.sqrt(np.diag(C) / S)
    assert np.all(np.abs(u.mean(0) - mu) < 4.5 * se)
    # covariance entries: SE of a sample covariance ~ sqrt((C_ii C_jj + C_ij^2) / S)
    se_c = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C ** 2) / S)
    assert np.all(np.abs(np.cov(u.T) - C) < 5 * se_c)


def test_large_or_non_gaussian_models_stay_non_centred():
    base, gps = split_gp_terms("t ~ gp(x)")
    DATA["cnt"] = RNG.poisson(2, N)
    md = model_data("cnt ~ 1", DATA, "poisson")
    fields, priors = build_fields(md, ["gp(x)"], {}, all_priors(md, None))
    assert marginal_field_density(make_field_density(md, priors, fields)) is None


# ---- spde() fields sampled centred (spatialgamm.mcmc.spde_centred) ------------------------
def centred(formula="cnt ~ x + spde(x, x2, mesh=mesh) + offset(log(t))"):
    from spatialgamm.mcmc.spde_centred import centred_spde_density

    DATA["cnt"] = np.random.default_rng(2).poisson(3, N)
    base, gps = split_gp_terms(formula)
    env = {"mesh": MESH}
    md = model_data(base, DATA, "poisson", env=env)
    fields, priors = build_fields(md, gps, env, all_priors(md, None))
    full = make_field_density(md, priors, fields)
    return full, centred_spde_density(full)


@pytest.mark.parametrize("eig_max", [4000, 0])
def test_centred_spde_prior_is_the_gaussian_of_the_noncentred_map(eig_max, monkeypatch):
    monkeypatch.setattr("spatialgamm.mcmc.fields.EIG_MAX", eig_max)
    full, cen = centred()
    f, fc = full.fields[0], cen.fields[0]
    x = np.random.default_rng(3).normal(size=f.n_latent)
    out = []
    for h in ([math.log(4.0), 0.0], [math.log(2.0), -0.5]):
        h = np.array(h)
        B = np.column_stack([f.nodes(h, e) for e in np.eye(f.n_latent)])  # x = B z
        ref = stats.multivariate_normal(np.zeros(f.n_latent), B @ B.T,
                                        allow_singular=False).logpdf(x)
        out.append(fc.latent_prior(h, x)[0] - ref)
        np.testing.assert_allclose(f.nodes(h, fc.to_standard(h, x)), x, rtol=1e-9,
                                   atol=1e-12)
    assert out[0] == pytest.approx(out[1], abs=1e-8)  # equal up to one constant


@pytest.mark.parametrize("eig_max", [4000, 0])  # pencil eigenvalues / selected inverse
def test_centred_spde_gradient_matches_finite_differences(eig_max, monkeypatch):
    monkeypatch.setattr("spatialgamm.mcmc.fields.EIG_MAX", eig_max)
    full, cen = centred()
    rng = np.random.default_rng(4)
    x = rng.normal(size=cen.dim) * 0.3
    x[cen.fields[0].hyper] = [math.log(3.0), -0.3]
    lp, g = cen.logp_grad(x)
    assert np.isfinite(lp)
    h = 1e-6
    num = np.array([(cen.logp_grad(x + h * e)[0] - cen.logp_grad(x - h * e)[0]) / (2 * h)
                    for e in np.eye(cen.dim)])
    assert np.max(np.abs(num - g)) < 1e-6 * max(1.0, np.max(np.abs(g)))
