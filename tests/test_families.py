"""Tests of spatialgamm.families: links and families against closed forms, scipy.stats and R.

Independent sources of the expected numbers:
- closed forms (variance functions, derivatives by finite differences, link round trips,
  R's documented clamping constants);
- scipy.stats log-densities (poisson, binom, nbinom, gamma, norm);
- R 4.2.2 / MASS 7.3 output in reference/families_reference.json, written by
  reference/families_reference.R (family()$dev.resids, $aic, $initialize, make.link(), and
  logLik() of fitted glms).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from spatialgamm.families import (
    Family,
    Gamma,
    NegativeBinomial,
    binomial,
    gaussian,
    get_family,
    get_link,
    negative_binomial,
    poisson,
)

REF = json.loads((Path(__file__).parent / "reference" / "families_reference.json").read_text())
EPS = np.finfo(float).eps


def arr(x) -> np.ndarray:
    """JSON list -> float array ("Inf" strings included)."""
    return np.array([float(v) for v in x])


D = {k: arr(v) for k, v in REF["data"].items()}

# ---------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------
LINK_RANGES = {  # where the inverse link is not clamped and round trips are well conditioned
    "identity": (-5, 5), "log": (-20, 20), "logit": (-15, 15), "probit": (-5, 5),
    "cloglog": (-20, 2.5), "inverse": (0.1, 5), "sqrt": (0.1, 5),
}


@pytest.mark.parametrize("name", list(LINK_RANGES))
def test_link_round_trip(name):
    link = get_link(name)
    eta = np.linspace(*LINK_RANGES[name], 41)
    np.testing.assert_allclose(link.linkfun(link.linkinv(eta)), eta, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("name", list(LINK_RANGES))
def test_mu_eta_is_derivative_of_linkinv(name):
    link = get_link(name)
    eta = np.linspace(*LINK_RANGES[name], 37)
    h = 1e-6 * np.maximum(1.0, np.abs(eta))
    fd = (link.linkinv(eta + h) - link.linkinv(eta - h)) / (2 * h)
    # rounding in linkinv near mu = 1 costs about eps / h in the difference quotient
    np.testing.assert_allclose(link.mu_eta(eta), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["identity", "log", "logit", "probit", "cloglog", "inverse",
                                  "sqrt"])
def test_links_match_R_including_clamping(name):
    ref = REF["links"][name]
    link = get_link(name)
    eta = arr(ref["eta"])
    np.testing.assert_allclose(link.linkinv(eta), arr(ref["linkinv"]), rtol=1e-13)
    np.testing.assert_allclose(link.mu_eta(eta), arr(ref["mu_eta"]), rtol=1e-13)
    np.testing.assert_allclose(link.linkfun(arr(REF["mu01"])), arr(REF["linkfun"][name]),
                               rtol=1e-13)


def test_clamping_constants_as_R_documents():
    logit, probit, cloglog = get_link("logit"), get_link("probit"), get_link("cloglog")
    # R's C logit code: exp(eta) -> DBL_EPSILON below -30, 1/DBL_EPSILON above 30
    assert logit.linkinv(-40.0) == EPS / (1 + EPS)
    assert logit.linkinv(40.0) == (1 / EPS) / (1 + 1 / EPS)
    assert logit.mu_eta(-31.0) == EPS and logit.mu_eta(31.0) == EPS
    # probit: eta clamped to -qnorm(eps), so mu stays in [eps, 1 - eps]
    assert probit.linkinv(-50.0) == pytest.approx(EPS, rel=1e-12)
    assert probit.linkinv(50.0) == pytest.approx(1 - EPS, abs=1e-16)
    assert probit.mu_eta(50.0) == EPS
    assert cloglog.linkinv(-800.0) == EPS and cloglog.linkinv(10.0) == 1 - EPS
    assert get_link("log").linkinv(-800.0) == EPS


def test_valid_eta_and_linkfun_range():
    assert get_link("logit").valid_eta([-3.0, 0.0, 100.0])
    assert not get_link("log").valid_eta([0.0, np.nan])
    assert not get_link("inverse").valid_eta([1.0, 0.0])
    assert not get_link("sqrt").valid_eta([1.0, -0.5])
    assert get_link("sqrt").valid_eta([1.0, 0.5])
    with pytest.raises(ValueError, match="out of range"):
        get_link("logit").linkfun([0.5, 1.2])
    with pytest.raises(ValueError, match="allowed: identity, log, logit"):
        get_link("cauchy")


# ---------------------------------------------------------------------------------------------
# Variance functions and log-likelihoods against closed forms and scipy.stats
# ---------------------------------------------------------------------------------------------
MU = np.array([0.05, 0.3, 0.5, 0.9])


@pytest.mark.parametrize("fam, expected", [
    (gaussian(), np.ones(4)), (binomial(), MU * (1 - MU)), (poisson(), MU),
    (Gamma(), MU ** 2), (negative_binomial(2.5), MU + MU ** 2 / 2.5),
])
def test_variance_functions(fam, expected):
    np.testing.assert_allclose(fam.variance(MU), expected, rtol=1e-15)


def test_poisson_loglik_matches_scipy():
    y, mu, wt = D["yc"], D["muc"], D["wc"]
    fam = poisson()
    np.testing.assert_allclose(fam.loglik_obs(y, mu), stats.poisson.logpmf(y, mu), rtol=1e-12)
    assert fam.loglik(y, mu, wt) == pytest.approx(np.sum(wt * stats.poisson.logpmf(y, mu)),
                                                  rel=1e-12)


def test_binomial_loglik_with_trials_matches_scipy():
    succ, n, mu = D["succ"], D["trials"], D["mub"]
    expected = stats.binom.logpmf(succ, n, mu)
    got = binomial().loglik_obs(succ / n, mu, n)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # probit link does not change the likelihood of given means
    assert binomial("probit").loglik(succ / n, mu, n) == pytest.approx(expected.sum(), rel=1e-12)


@pytest.mark.parametrize("theta", [0.7, 2.5, 40.0])
def test_negbin_loglik_matches_scipy(theta):
    y, mu = D["yc"], D["muc"]
    expected = stats.nbinom.logpmf(y, theta, theta / (theta + mu))
    np.testing.assert_allclose(negative_binomial(theta).loglik_obs(y, mu), expected, rtol=1e-11)


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.7])
def test_gamma_loglik_matches_scipy(scale):
    y, mu = D["yg"], D["mug"]
    expected = stats.gamma.logpdf(y, a=1 / scale, scale=mu * scale)
    fam = Gamma("log")
    np.testing.assert_allclose(fam.loglik_obs(y, mu, scale=scale), expected, rtol=1e-12)
    # R's Gamma()$aic multiplies the log-density by the prior weights
    assert fam.loglik(y, mu, D["wg"], scale=scale) == pytest.approx(
        np.sum(D["wg"] * expected), rel=1e-12)


def test_gaussian_loglik_matches_scipy_with_weights():
    y, mu, wt, s2 = D["yg"], D["mug"], D["wg"], 1.7
    fam = gaussian()
    np.testing.assert_allclose(fam.loglik_obs(y, mu, scale=s2),
                               stats.norm.logpdf(y, mu, math.sqrt(s2)), rtol=1e-13)
    # weight w means Var(y) = sigma^2 / w
    assert fam.loglik(y, mu, wt, scale=s2) == pytest.approx(
        np.sum(stats.norm.logpdf(y, mu, np.sqrt(s2 / wt))), rel=1e-13)


def test_zero_weight_rows_contribute_nothing():
    y, mu = D["yg"], D["mug"]
    wt = np.ones_like(y)
    wt[2] = 0.0
    for fam in (gaussian(), Gamma()):
        assert fam.loglik_obs(y, mu, wt, scale=1.3)[2] == 0.0
        assert fam.dev_resids(y, mu, wt)[2] == 0.0
    assert binomial().loglik_obs([0.5, 7.0], [0.3, 0.3], [2.0, 0.0])[1] == 0.0
    with np.errstate(all="raise"):
        assert binomial().dev_resids([0.5, 7.0], [0.3, 0.3], [2.0, 0.0])[1] == 0.0


def test_plugin_scale_of_a_perfect_fit_is_refused():
    with pytest.raises(ValueError, match="deviance is zero"):
        gaussian().loglik([1.0, 2.0], [1.0, 2.0], scale=None)


# ---------------------------------------------------------------------------------------------
# Deviance residuals: 2 * scale * (loglik at the saturated mean - loglik), scipy log-densities
# ---------------------------------------------------------------------------------------------
def test_dev_resids_are_twice_loglik_difference():
    yc, muc = D["yc"], D["muc"]
    pois = 2 * (stats.poisson.logpmf(yc, yc) - stats.poisson.logpmf(yc, muc))
    np.testing.assert_allclose(poisson().dev_resids(yc, muc), pois, rtol=1e-10, atol=1e-14)

    theta = 2.5
    nb = 2 * (stats.nbinom.logpmf(yc, theta, theta / (theta + yc))
              - stats.nbinom.logpmf(yc, theta, theta / (theta + muc)))
    np.testing.assert_allclose(negative_binomial(theta).dev_resids(yc, muc), nb, rtol=1e-10,
                               atol=1e-13)

    succ, n, yb, mub = D["succ"], D["trials"], D["yb"], D["mub"]
    bi = 2 * (stats.binom.logpmf(succ, n, yb) - stats.binom.logpmf(succ, n, mub))
    np.testing.assert_allclose(binomial().dev_resids(yb, mub, n), bi, rtol=1e-10, atol=1e-13)

    yg, mug, s = D["yg"], D["mug"], 0.6
    ga = 2 * s * (stats.gamma.logpdf(yg, 1 / s, scale=yg * s)
                  - stats.gamma.logpdf(yg, 1 / s, scale=mug * s))
    np.testing.assert_allclose(Gamma().dev_resids(yg, mug), ga, rtol=1e-10)
    no = 2 * s * (stats.norm.logpdf(yg, yg, math.sqrt(s)) - stats.norm.logpdf(yg, mug, math.sqrt(s)))
    np.testing.assert_allclose(gaussian().dev_resids(yg, mug), no, rtol=1e-10)


def test_negbin_tends_to_poisson_for_large_theta():
    yc, muc = D["yc"], D["muc"]
    np.testing.assert_allclose(negative_binomial(1e10).dev_resids(yc, muc),
                               poisson().dev_resids(yc, muc), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(negative_binomial(1e10).loglik_obs(yc, muc),
                               stats.poisson.logpmf(yc, muc), rtol=1e-8)


# ---------------------------------------------------------------------------------------------
# Parity with R's family objects and logLik(glm)
# ---------------------------------------------------------------------------------------------
R_FAMS = {
    "poisson": (poisson(), "yc", "muc", "wc", "known"),
    "negbin_2.5": (negative_binomial(2.5), "yc", "muc", "wc", "known"),
    "negbin_0.7": (negative_binomial(0.7), "yc", "muc", "wc", "known"),
    "binomial": (binomial(), "yb", "mub", "trials", "known"),
    "gaussian": (gaussian(), "yg", "mug", "wg", "unknown"),
    "Gamma": (Gamma(), "yg", "mug", "wg", "unknown"),
}


@pytest.mark.parametrize("key", list(R_FAMS))
def test_family_matches_R(key):
    fam, yk, muk, wk, scale = R_FAMS[key]
    ref = REF["families"][key]
    y, mu, wt = D[yk], D[muk], D[wk]
    assert fam.name == ref["family"] and fam.link.name == ref["link"]
    np.testing.assert_allclose(fam.variance(mu), arr(ref["variance"]), rtol=1e-14)
    np.testing.assert_allclose(fam.dev_resids(y, mu, wt), arr(ref["dev_resids"]), rtol=1e-12,
                               atol=1e-14)
    assert fam.deviance(y, mu, wt) == pytest.approx(ref["deviance"], rel=1e-12)
    np.testing.assert_allclose(fam.initialize(y, wt), arr(ref["mustart"]), rtol=1e-14)
    # R's family()$aic = -2 loglik (+ 2 for an estimated scale, plugged in as R does)
    extra = 2.0 if scale == "unknown" else 0.0
    assert fam.loglik(y, mu, wt, scale=None) == pytest.approx(-(ref["aic"] - extra) / 2,
                                                              rel=1e-12)


FIT_FAMS = {
    "gaussian": (gaussian(), "yg"), "Gamma": (Gamma("log"), "yg"),
    "binomial_probit": (binomial("probit"), "yb"), "poisson": (poisson(), "yc"),
    "negbin_1.7": (negative_binomial(1.7), "yc"),
}


@pytest.mark.parametrize("key", list(FIT_FAMS))
def test_loglik_equals_R_logLik_of_glm(key):
    fam, yk = FIT_FAMS[key]
    ref = REF["fits"][key]
    y = D[yk]
    wt = arr(ref["prior_weights"])
    if key.startswith("binomial"):
        wt = D["trials"]  # cbind(succ, fail): prior weights 1, trials as weights
    mu = arr(ref["fitted"])
    # fitted values are stored to 15 digits, hence the absolute tolerance
    assert fam.loglik(y, mu, wt, scale=None) == pytest.approx(ref["logLik"], abs=1e-9)
    assert fam.deviance(y, mu, wt) == pytest.approx(ref["deviance"], abs=1e-9)


def test_negbin_name_as_MASS_prints_it():
    for theta, name in zip(REF["nb_names"]["theta"], REF["nb_names"]["name"]):
        assert negative_binomial(theta).name == name


# ---------------------------------------------------------------------------------------------
# IRLS working quantities and starting values
# ---------------------------------------------------------------------------------------------
def test_working_closed_forms():
    y, wt = np.array([0.0, 3.0, 1.0]), np.array([1.0, 2.0, 0.5])
    eta = np.array([-0.4, 1.1, 0.2])
    mu = np.exp(eta)
    z, w = poisson().working(y, eta, wt)
    np.testing.assert_allclose(z, eta + (y - mu) / mu, rtol=1e-14)
    np.testing.assert_allclose(w, wt * mu, rtol=1e-14)

    yb, n = np.array([0.0, 0.5, 1.0]), np.array([1.0, 4.0, 3.0])
    p = 1 / (1 + np.exp(-eta))
    z, w = binomial().working(yb, eta, n)
    np.testing.assert_allclose(z, eta + (yb - p) / (p * (1 - p)), rtol=1e-13)
    np.testing.assert_allclose(w, n * p * (1 - p), rtol=1e-13)

    # Gamma, log link: mu_eta = mu, V = mu^2, so w = wt
    z, w = Gamma("log").working(np.array([0.5, 2.0, 1.0]), eta, wt)
    np.testing.assert_allclose(w, wt, rtol=1e-14)


def test_working_guards_zero_division():
    with np.errstate(all="raise"):  # any division by zero would raise here
        z, w = poisson("identity").working([1.0, 2.0, 4.0], [0.0, 1.0, 2.0], [1.0, 0.0, 1.0])
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(w))
    assert w[0] == 0.0 and z[0] == 0.0  # mu = 0: variance 0, no information
    assert w[1] == 0.0  # zero prior weight
    assert w[2] == pytest.approx(1 / 2.0)


def test_initialize_closed_forms():
    y = np.array([0.0, 1.0, 4.0])
    np.testing.assert_allclose(poisson().initialize(y), y + 0.1)
    np.testing.assert_allclose(negative_binomial(2).initialize(y), [1 / 6, 1.0, 4.0])
    np.testing.assert_allclose(binomial().initialize([0.0, 0.5, 1.0], [1, 4, 3]),
                               [0.25, 2.5 / 5, 3.5 / 4])
    np.testing.assert_allclose(Gamma().initialize([0.5, 2.0]), [0.5, 2.0])
    start = gaussian("log").initialize([-1.0, 2.0, 4.0])
    assert np.all(start > 0) and start[1] == 2.0


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fam, y, wt, match", [
    (poisson(), [0, 2, -1, -3], None,
     r"non-negative counts: 2 negative values, first at row 2 \(y = -1\)"),
    (poisson(), [0, 2.5, 1], None, r"integer counts: 1 non-integer value, first at row 1"),
    (negative_binomial(1.0), [1, 0.2], None, r"Negative Binomial\(1\) response must be integer"),
    (binomial(), [0.5, 2.0, 3.0], [2, 1, 1],
     r"successes exceed trials: 2 rows with y > 1, first at row 1 \(y = 2, trials wt = 1\)"),
    (binomial(), [0.5, -0.5], [2, 2], r"proportion of successes in \[0, 1\]: 1 negative"),
    (binomial(), [0.5, 0.3], [2, 2], r"successes y \* wt must be whole numbers: 1 row not, "
     r"first at row 1 \(y = 0.3, trials wt = 2, successes = 0.6\)"),
    (binomial(), [0.5, 0.5], [2, 2.5], r"trials \(weights wt\) must be whole numbers"),
    (Gamma(), [1.0, 0.0, 2.0], None, r"Gamma response must be positive: 1 value <= 0, "
     r"first at row 1 \(y = 0\)"),
    (gaussian(), [1.0, np.nan], None, r"1 non-finite value \(NaN or inf\), first at row 1"),
    (gaussian(), [1.0, 2.0], [1.0, -1.0], r"weights wt must be finite and non-negative"),
    (gaussian(), [1.0, 2.0], [1.0, 1.0, 1.0], r"weights wt have shape \(3,\)"),
    (gaussian(), [1.0, 2.0], [0.0, 0.0], r"all zero"),
    (binomial(), [[1, 2], [0, 3]], None, r"one-dimensional.*y = successes / trials"),
])
def test_validate_errors(fam, y, wt, match):
    with pytest.raises(ValueError, match=match):
        fam.validate(y, wt)


def test_validate_accepts_good_data_and_ignores_zero_weight_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        poisson().validate(D["yc"], D["wc"])
        negative_binomial(2).validate(D["yc"])
        binomial().validate(D["yb"], D["trials"])
        binomial().validate([0.5, 7.0, 1.0], [2.0, 0.0, 1.0])  # y of a zero-weight row unused
        Gamma().validate(D["yg"])
        gaussian().validate([-1.0, 0.0, 3.0])


def test_validate_warns_for_degenerate_response():
    with pytest.warns(UserWarning, match="poisson response is all zero"):
        poisson().validate([0, 0, 0])
    with pytest.warns(UserWarning, match="no successes"):
        binomial().validate([0.0, 0.0], [3, 4])
    with pytest.warns(UserWarning, match="only successes"):
        binomial().validate([1.0, 1.0], [3, 4])


# ---------------------------------------------------------------------------------------------
# Lookup, flags, copies
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, name, link", [
    ("gaussian", "gaussian", "identity"), ("binomial", "binomial", "logit"),
    ("poisson", "poisson", "log"), ("gamma", "Gamma", "inverse"), ("Gamma", "Gamma", "inverse"),
    ("negbin", "Negative Binomial(1)", "log"), ("nb", "Negative Binomial(1)", "log"),
    ("negative_binomial", "Negative Binomial(1)", "log"),
    ("Negative Binomial(2.1235)", "Negative Binomial(2.1235)", "log"),
])
def test_get_family_names(spec, name, link):
    fam = get_family(spec)
    assert isinstance(fam, Family) and fam.name == name and fam.link.name == link


def test_get_family_links_and_errors():
    assert get_family("binomial", link="probit").link.name == "probit"
    assert get_family("Gamma", "log") == Gamma("log")
    fam = binomial("cloglog")
    assert get_family(fam) is fam
    assert get_family(fam, link="logit") == binomial()
    assert get_family("nb", theta=3.0) == negative_binomial(3.0)
    with pytest.raises(ValueError, match="allowed: gaussian, binomial, poisson"):
        get_family("tweedie")
    with pytest.raises(ValueError, match="allowed: logit, probit, cloglog, log"):
        get_family("binomial", link="sqrt")
    with pytest.raises(ValueError, match="allowed: identity, log, logit"):
        get_family("poisson", link="foo")
    with pytest.raises(ValueError, match="negative binomial family only"):
        get_family("poisson", theta=2.0)
    with pytest.raises(ValueError, match="theta must be a positive"):
        negative_binomial(0.0)
    with pytest.raises(ValueError, match="scale must be a positive"):
        gaussian().loglik([1.0], [1.0], scale=-1.0)
    with pytest.raises(TypeError):
        get_family(3)


def test_flags():
    assert binomial().canonical and not binomial("probit").canonical
    assert poisson().canonical and gaussian().canonical and Gamma().canonical
    assert not Gamma("log").canonical and not negative_binomial(2).canonical
    assert binomial().scale_known and poisson().scale_known and negative_binomial(2).scale_known
    assert not gaussian().scale_known and not Gamma().scale_known
    assert binomial().valid_mu([0.2, 0.9]) and not binomial().valid_mu([0.0, 0.5])
    assert not poisson().valid_mu([1.0, -0.1]) and gaussian().valid_mu([-3.0])


def test_with_theta_makes_a_new_family():
    fam = negative_binomial(2.0, link="sqrt")
    other = fam.with_theta(5.0)
    assert isinstance(other, NegativeBinomial) and other.theta == 5.0 and fam.theta == 2.0
    assert other.link.name == "sqrt"
    np.testing.assert_allclose(other.variance([2.0]), [2.0 + 4.0 / 5.0])
