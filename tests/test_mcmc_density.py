"""spatialgamm.mcmc densities against independent numbers: the marginal Gaussian likelihood
against scipy's multivariate normal, gradients against finite differences, the covariance
priors against their textbook densities through a numerically computed Jacobian, and the
prior table against brms's prior_summary (tests/reference/brms/)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from spatialgamm.datasets import load_cbpp, load_sleepstudy
from spatialgamm.mcmc import prior
from spatialgamm.mcmc.api import all_priors, brms_formula
from spatialgamm.mcmc.covariance import log_prior_T, to_matrix
from spatialgamm.mcmc.density import make_density
from spatialgamm.mcmc.engine_adapter import model_data
from spatialgamm.mcmc.priors import Prior

REF = json.loads((Path(__file__).parent / "reference/brms/brms_reference.json").read_text())


def fd_grad(f, x, h=1e-6):
    e = np.eye(len(x))
    return np.array([(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(len(x))])


@pytest.fixture(scope="module")
def sleep_md():
    return model_data("Reaction ~ Days + (Days | Subject)", load_sleepstudy())


def test_marginal_gaussian_equals_multivariate_normal(sleep_md):
    md = sleep_md
    d = make_density(md, [prior("", "Intercept")] + all_priors(md, None), center=False)
    beta, sigma = np.array([250.0, 10.0]), 24.0
    T = np.array([[22.0, 0.0], [1.5, 5.5]])
    x = np.array([*beta, np.log(sigma), np.log(T[0, 0]), T[1, 0], np.log(T[1, 1])])
    ll, _, _ = d._logp_grouped(x)
    Z = md.Z.toarray()
    V = sigma ** 2 * np.eye(md.n) + Z @ np.kron(np.eye(18), T @ T.T) @ Z.T
    ref = stats.multivariate_normal(md.X @ beta, V).logpdf(md.y)
    assert ll == pytest.approx(ref, abs=1e-8)
    # the dense path (used for several terms) gives the same number
    ll2, _, _ = d._logp_dense(x)
    assert ll2 == pytest.approx(ref, abs=1e-8)


@pytest.mark.parametrize("case", ["gauss", "gauss_conj", "two_terms", "binom", "binom_slope",
                                  "poisson"])
def test_gradient_matches_finite_differences(case, sleep_md):
    rng = np.random.default_rng(3)
    if case.startswith("gauss"):
        md = sleep_md
        pri = all_priors(md, [prior("wishart_precision(3, 0.001, 0.01)", "cov",
                                    group="Subject"),
                              prior("gamma_precision(1, 0.005)", "sigma"),
                              prior("normal(0, 100)", "b")] if case == "gauss_conj" else None)
        d = make_density(md, pri, center=case == "gauss")
        x = np.array([280.0, 9.0, np.log(26), np.log(23), 2.0, np.log(6.5)])
    elif case == "two_terms":
        md = model_data("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                        load_sleepstudy())
        d = make_density(md, all_priors(md, None))
        x = np.array([260.0, 9.0, np.log(26), np.log(23), np.log(6.5)])
    elif case.startswith("binom"):
        f = "(1 | herd)" if case == "binom" else "(period | herd)"
        md = model_data(brms_formula(f"incidence | trials(size) ~ period + {f}"), load_cbpp(),
                        "binomial")
        d = make_density(md, all_priors(md, None))
        x = 0.4 * rng.standard_normal(d.dim)
    else:
        n = 60
        g = np.repeat(np.arange(12), 5)
        import pandas as pd
        df = pd.DataFrame({"y": rng.poisson(3, n), "x": rng.normal(size=n), "g": g})
        md = model_data("y ~ x + (x | g)", df, "poisson")
        d = make_density(md, all_priors(md, None))
        x = 0.4 * rng.standard_normal(d.dim)
    f, g = d.logp_grad(x)
    assert np.isfinite(f)
    gn = fd_grad(lambda v: d.logp_grad(v)[0], x, h=1e-5)
    np.testing.assert_allclose(g, gn, rtol=1e-5, atol=1e-4 * (1 + np.abs(gn).max()) * 1e-2)


def _num_jacobian(F, v, h=1e-6):
    e = np.eye(len(v))
    return np.column_stack([(F(v + h * e[i]) - F(v - h * e[i])) / (2 * h)
                            for i in range(len(v))])


def test_sd_lkj_prior_is_the_change_of_variables():
    # p_T(T) = p(sd1) p(sd2) LKJ(rho; eta) |d(sd1, rho, sd2) / dT|   (K = 2, eta = 2)
    sdp = Prior("student_t(3, 0, 5)", "sd")
    eta = 2.0

    def F(t):  # (T11, T21, T22) -> (sd1, rho, sd2)
        T = to_matrix(t, 2)
        S = T @ T.T
        sd = np.sqrt(np.diag(S))
        return np.array([sd[0], S[1, 0] / (sd[0] * sd[1]), sd[1]])

    def target(t):
        sd1, rho, sd2 = F(t)
        lp = (stats.t(3, scale=5).logpdf(sd1) + stats.t(3, scale=5).logpdf(sd2)
              + (eta - 1) * np.log(1 - rho ** 2))
        return lp + np.log(abs(np.linalg.det(_num_jacobian(F, t))))

    pts = [np.array([3.0, 1.0, 2.0]), np.array([0.7, -2.5, 4.0]), np.array([6.0, 0.3, 0.2])]
    ours = [log_prior_T(to_matrix(t, 2), [sdp, sdp], eta, None)[0] for t in pts]
    ref = [target(t) for t in pts]
    # equal up to one normalising constant
    np.testing.assert_allclose(np.diff(ours), np.diff(ref), atol=1e-6)


def test_wishart_prior_is_the_change_of_variables():
    # Omega = Sigma^-1 ~ Wishart(nu, S)  <=>  Sigma ~ invWishart(nu, S^-1)
    nu, s = 4.0, np.array([0.5, 2.0])
    w = Prior(f"wishart_precision({nu}, {s[0]}, {s[1]})", "cov")

    def F(t):
        S = to_matrix(t, 2) @ to_matrix(t, 2).T
        return np.array([S[0, 0], S[1, 0], S[1, 1]])

    def target(t):
        S = to_matrix(t, 2) @ to_matrix(t, 2).T
        return (stats.invwishart(df=nu, scale=np.diag(1 / s)).logpdf(S)
                + np.log(abs(np.linalg.det(_num_jacobian(F, t)))))

    pts = [np.array([1.0, 0.5, 0.8]), np.array([0.3, -0.2, 2.0]), np.array([2.0, 1.0, 0.1])]
    ours = [log_prior_T(to_matrix(t, 2), [], None, w)[0] for t in pts]
    ref = [target(t) for t in pts]
    np.testing.assert_allclose(np.diff(ours), np.diff(ref), atol=1e-6)


@pytest.mark.parametrize("label,formula,family", [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian"),
    ("cbpp", "incidence | trials(size) ~ period + (1 | herd)", "binomial")])
def test_default_priors_are_brms(label, formula, family):
    data = load_sleepstudy() if label == "sleepstudy" else load_cbpp()
    md = model_data(brms_formula(formula), data, family)
    pri = all_priors(md, None)
    ref = {(r["class"], r["coef"], r["group"]): r["prior"] for r in REF[label]["prior"]
           if r["prior"]}
    # brms states the class-level priors; LKJ is written on the Cholesky factor (class L)
    ours = {p.class_: p.dist for p in pri}
    assert ours["Intercept"] == ref[("Intercept", "", "")]
    assert ours["sd"] == ref[("sd", "", "")]
    if family == "gaussian":
        assert ours["sigma"] == ref[("sigma", "", "")]
        assert ref[("L", "", "")] == "lkj_corr_cholesky(1)" and ours["cor"] == "lkj(1)"


def test_bad_priors_are_refused(sleep_md):
    with pytest.raises(ValueError, match="unknown distribution"):
        prior("weibull(1, 2)", "sd")
    with pytest.raises(ValueError, match="class"):
        prior("normal(0, 1)", "tau")
    with pytest.raises(ValueError, match="coefficient 'Dayz'"):
        all_priors(sleep_md, [prior("normal(0, 1)", "b", coef="Dayz")])
    with pytest.raises(ValueError, match="location 0"):
        all_priors(sleep_md, [prior("normal(3, 1)", "sd")])
    with pytest.raises(ValueError, match="trials"):
        brms_formula("y | weights(w) ~ x")
