"""The numba-compiled log posteriors (spatialgamm/mcmc/compiled.py) against independent
numbers: the Gaussian marginal likelihood against scipy's multivariate normal of
``y ~ N(X beta, sigma^2 I + Z Sigma Z')``, the GLMM likelihoods against scipy.stats'
binomial / Poisson / negative binomial / Gamma densities, and every gradient against central
finite differences. All priors are flat, so the log posterior is the likelihood plus the
change-of-variables terms written out here from docs/BAYES_MCMC.md."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spatialgamm.datasets import load_cbpp, load_sleepstudy
from spatialgamm.mcmc import compiled, prior
from spatialgamm.mcmc.api import all_priors, brms_formula
from spatialgamm.mcmc.density import make_density
from spatialgamm.mcmc.engine_adapter import model_data

pytestmark = pytest.mark.skipif(not compiled.HAVE_NUMBA, reason="numba not installed")
FLAT = [prior("", "Intercept"), prior("", "sd"), prior("", "sigma"), prior("", "shape")]


def fd_grad(f, x, h=1e-6):
    e = np.eye(len(x))
    return np.array([(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(len(x))])


def cov_jacobian(T):
    """Flat SD priors + LKJ(1) in T's change of variables, plus log T_ii (log diagonal)."""
    K = T.shape[0]
    sd = np.sqrt((T * T).sum(axis=1))
    out = 0.0
    for i in range(1, K + 1):
        cd = K - i + 1.0
        out += cd * (np.log(T[i - 1, i - 1]) - np.log(sd[i - 1])) - (i - 1) * np.log(sd[i - 1])
        out += np.log(T[i - 1, i - 1])
    return out


def t_matrix(phi, nc):
    T = np.zeros((nc, nc))
    k = 0
    for c in range(nc):
        for r in range(c, nc):
            T[r, c] = np.exp(phi[k]) if r == c else phi[k]
            k += 1
    return T


@pytest.fixture(scope="module")
def sim3():
    rng = np.random.default_rng(3)
    n, L = 150, 12
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
                       "g": rng.integers(0, L, n).astype(str)})
    df["y"] = 1 + df.x1 + rng.normal(size=n) * 0.8 + rng.normal(size=L)[df.g.astype(int)]
    return df


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject)",
                                     "y ~ x1 + x2 + (x1 + x2 | g)"])
def test_gaussian_kernel_is_the_marginal_likelihood(formula, sim3):
    data = sim3 if formula.startswith("y") else load_sleepstudy()
    md = model_data(formula, data)
    d = make_density(md, FLAT + all_priors(md, None), center=False)
    assert d._kernel_args is not None  # the compiled path is the one tested
    t = d.layout.terms[0]
    rng = np.random.default_rng(1)
    y_sd = float(np.std(md.y))
    for _ in range(3):
        x = np.zeros(d.dim)
        x[:d.layout.p] = np.linalg.lstsq(md.X, md.y, rcond=None)[0] + rng.normal(size=md.p)
        x[d.layout.sigma] = np.log(0.5 * y_sd) + 0.2 * rng.normal()
        x[t.phi] = rng.normal(size=t.n_theta) * 0.3
        x[t.phi.start] += np.log(0.5 * y_sd)
        lp, g = d.logp_grad(x)
        T = t_matrix(x[t.phi], t.nc)
        s = np.exp(x[d.layout.sigma])
        Z = md.Z.toarray()
        V = s ** 2 * np.eye(md.n) + Z @ np.kron(np.eye(t.n_levels), T @ T.T) @ Z.T
        ll = stats.multivariate_normal(md.X @ x[:md.p], V).logpdf(md.y)
        # flat sigma prior: + log sigma (the log scale's Jacobian)
        assert lp == pytest.approx(ll + np.log(s) + cov_jacobian(T), abs=1e-7)
        gn = fd_grad(lambda v: d.logp_grad(v)[0], x, h=1e-5)
        assert np.allclose(g, gn, rtol=1e-5, atol=1e-5 * (1 + np.abs(gn).max()))


def _glmm_case(name):
    if name == "binomial":
        return model_data(brms_formula("incidence | trials(size) ~ period + (1 | herd)"),
                          load_cbpp(), "binomial")
    if name == "poisson":
        return model_data("incidence ~ period + (1 | herd)", load_cbpp(), "poisson")
    if name == "negbinomial":
        return model_data("incidence ~ period + (1 | herd)", load_cbpp(), "negbinomial")
    if name == "gamma_log":
        return model_data("Reaction ~ Days + (Days | Subject)", load_sleepstudy(),
                          "Gamma(link='log')")
    return model_data("Reaction ~ Days + (1 | Subject)", load_sleepstudy(), "Gamma")


def _loglik(md, mu, shape):
    y, w = md.y, md.weights
    if md.family.name == "binomial":
        return stats.binom.logpmf(np.round(y * w), w, mu).sum()
    if md.family.name == "poisson":
        return stats.poisson.logpmf(y, mu).sum()
    if md.family.name == "Gamma":
        return stats.gamma.logpdf(y, shape, scale=mu / shape).sum()
    return stats.nbinom.logpmf(y, shape, shape / (shape + mu)).sum()


@pytest.mark.parametrize("name", ["binomial", "poisson", "negbinomial", "gamma_log",
                                  "gamma_inverse"])
def test_glmm_kernel_is_the_likelihood(name):
    md = _glmm_case(name)
    d = make_density(md, FLAT + all_priors(md, None), center=False)
    assert d._kernel_args is not None
    lay = d.layout
    rng = np.random.default_rng(2)
    x = np.zeros(d.dim)
    x[lay.z] = rng.normal(size=md.q)
    for t in lay.terms:
        x[t.phi] = 0.2 * rng.normal(size=t.n_theta)
        x[t.phi.start] += np.log(0.1 if name.startswith("gamma") else 0.5)
    if name == "gamma_inverse":  # a positive linear predictor: mu around 1 / 300
        x[:md.p] = [1 / 300, -1e-5][:md.p]
        for t in lay.terms:
            x[t.phi.start] = np.log(1e-4)
    else:
        mu0 = np.average(md.y, weights=md.weights)
        x[0] = float(md.family.link.linkfun(np.array([mu0]))[0])
        x[1:md.p] = 0.1 * rng.normal(size=md.p - 1)
    shape = None
    if lay.shape is not None:
        x[lay.shape] = np.log(5.0 if name == "negbinomial" else 40.0)
        shape = np.exp(x[lay.shape])
    lp, g = d.logp_grad(x)
    b = np.concatenate([(x[lay.z][t.cols].reshape(t.n_levels, t.nc)
                         @ t_matrix(x[t.phi], t.nc).T).ravel() for t in lay.terms])
    eta = md.offset + md.X @ x[:md.p] + md.Z @ b
    mu = md.family.link.linkinv(eta)
    ref = (_loglik(md, mu, shape) - 0.5 * x[lay.z] @ x[lay.z]
           + sum(cov_jacobian(t_matrix(x[t.phi], t.nc)) for t in lay.terms))
    if shape is not None:
        ref += np.log(shape)  # flat prior on the shape, moved on the log scale
    # the kernel drops constants: compare differences between two points
    x2 = x.copy()
    x2[lay.z] *= 0.9
    x2[:md.p] += 1e-4 if name == "gamma_inverse" else 0.05
    lp2, _ = d.logp_grad(x2)
    b2 = np.concatenate([(x2[lay.z][t.cols].reshape(t.n_levels, t.nc)
                          @ t_matrix(x2[t.phi], t.nc).T).ravel() for t in lay.terms])
    mu2 = md.family.link.linkinv(md.offset + md.X @ x2[:md.p] + md.Z @ b2)
    ref2 = (_loglik(md, mu2, shape) - 0.5 * x2[lay.z] @ x2[lay.z]
            + sum(cov_jacobian(t_matrix(x2[t.phi], t.nc)) for t in lay.terms))
    if shape is not None:
        ref2 += np.log(shape)
    assert lp2 - lp == pytest.approx(ref2 - ref, abs=1e-8 * (1 + abs(ref)))
    if md.family.name in ("binomial", "poisson"):  # these keep R's constants exactly
        assert lp == pytest.approx(ref, abs=1e-8 * (1 + abs(ref)))
    h = 1e-9 if name == "gamma_inverse" else 1e-6
    gn = fd_grad(lambda v: d.logp_grad(v)[0], x, h=h)
    scale = np.ones(d.dim)
    if name == "gamma_inverse":  # beta lives on the 1e-3 scale there
        scale[:md.p] = 1e-3
        gn[md.p:] = fd_grad(lambda v: d.logp_grad(v)[0], x, h=1e-6)[md.p:]
    assert np.allclose(g * scale, gn * scale, rtol=1e-4, atol=1e-4 * (1 + np.abs(gn * scale).max()))


def test_kernels_off_the_support_return_minus_infinity():
    md = _glmm_case("gamma_inverse")
    d = make_density(md, all_priors(md, None))
    x = np.zeros(d.dim)
    x[0] = -1.0  # negative linear predictor: no inverse-link mean
    lp, g = d.logp_grad(x)
    assert lp == -np.inf and np.all(g == 0)


def test_prior_codes_reproduce_prior_logpdf():
    from spatialgamm.mcmc.priors import Prior
    for text in ["normal(1, 3)", "student_t(3, 0, 2.5)", "cauchy(0, 2)", "exponential(2)",
                 "gamma(2, 0.5)"]:
        p = Prior(text, "sd")
        code, args = compiled.encode_prior(p)
        for v in (0.3, 1.7, 4.0):
            got = compiled._scalar_prior(code, args, v)
            want = p.logpdf(v)
            assert got[0] == pytest.approx(float(want[0]), abs=1e-12)
            assert got[1] == pytest.approx(float(want[1]), abs=1e-12)
    # the logpdf itself against scipy (up to the half-distribution constant)
    p = Prior("student_t(3, 0, 2.5)", "sd")
    assert float(p.logpdf(1.3)[0]) == pytest.approx(stats.t(3, 0, 2.5).logpdf(1.3))
