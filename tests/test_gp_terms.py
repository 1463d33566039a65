"""gp() terms: the block against the covariance it stands for, the likelihood of every kernel
against an independent multivariate-normal density (scipy), by= and fixed parameters, and
clear errors for bad input.

Expected numbers come from closed forms: the covariance ``sigma^2 K + tau^2 I`` built here
from the kernel formulas, and ``scipy.stats.multivariate_normal`` log-densities of the
marginal model ``y ~ N(X beta, V)`` at the fitted parameters.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import special
from scipy.stats import multivariate_normal

import spatialgamm as sg
from spatialgamm.formula.parse import FormulaError
from spatialgamm.model import build_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _dist(a, b=None):
    b = a if b is None else b
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


# the kernels written out here, independently of spatialgamm.kernels
CORR = {
    "exponential": lambda d, r: np.exp(-d / r),
    "matern32": lambda d, r: (1 + d / r) * np.exp(-d / r),
    "matern52": lambda d, r: (1 + d / r + (d / r) ** 2 / 3) * np.exp(-d / r),
    "exp_quad": lambda d, r: np.exp(-d ** 2 / (2 * r ** 2)),
    "spherical": lambda d, r: np.where(d <= r, 1 - 1.5 * d / r + 0.5 * (d / r) ** 3, 0.0),
    "power_exponential": lambda d, r: np.exp(-(d / r) ** 1.5),
}


def _matern(d, r, nu):
    u = np.where(d > 0, d / r, 1.0)
    v = 2 ** (1 - nu) / special.gamma(nu) * u ** nu * special.kv(nu, u)
    return np.where(d > 0, v, 1.0)


def _field_data(n=60, seed=3, reps=1):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 6, (n, 2))
    K = CORR["matern32"](_dist(xy), 1.2)
    f = np.linalg.cholesky(K + 1e-10 * np.eye(n)) @ rng.standard_normal(n)
    rows = np.repeat(np.arange(n), reps)
    x = rng.normal(size=n * reps)
    y = 1.0 + 0.5 * x + f[rows] + rng.normal(0, 0.4, n * reps)
    return pd.DataFrame({"sx": xy[rows, 0], "sy": xy[rows, 1], "x": x, "y": y}), xy


def test_lambda_is_factor_of_the_kernel_covariance():
    d, _ = _field_data(reps=2)
    spec = build_model("y ~ x + gp(sx, sy, kernel='matern52', nugget=True)", d)
    blk = spec.blocks[0]
    term = blk.term
    assert blk.Z.shape == (len(d), 60) and np.all(blk.Z.sum(axis=1) == 1)
    phi = np.array([np.log(0.8), 1.3, 0.4])  # log range, sigma, tau
    L = blk.template.copy()
    L.data = blk.lambda_values(phi)
    L = L.toarray()
    assert np.allclose(np.triu(L, 1), 0)
    expected = 1.3 ** 2 * CORR["matern52"](_dist(term.sites), 0.8) + 0.4 ** 2 * np.eye(60)
    np.testing.assert_allclose(L @ L.T, expected, atol=1e-7)
    np.testing.assert_allclose(term.covariance_matrix(phi), expected, atol=1e-7)
    # without a nugget Lambda = sigma chol(K): its sigma derivative is chol(K), exactly
    plain = build_model("y ~ x + gp(sx, sy, kernel='matern52')", d).blocks[0]
    J = plain.term.lambda_jacobian(phi[:2])
    Lk = np.linalg.cholesky(CORR["matern52"](_dist(term.sites), 0.8) + 1e-8 * np.eye(60))
    rows, cols = np.tril_indices(60)
    order = np.lexsort((rows, cols))  # column-major: the template's CSC order
    np.testing.assert_allclose(J[:, 1], Lk[rows[order], cols[order]], atol=1e-10)


@pytest.mark.parametrize("kernel,extra", [
    ("exponential", ""), ("matern32", ""), ("matern52", ""), ("exp_quad", ""),
    ("spherical", ""), ("power_exponential", ", power=1.5"), ("matern", ", nu=0.8"),
])
def test_ml_loglik_equals_multivariate_normal(kernel, extra):
    d, _ = _field_data()
    fit = sg.fit(f"y ~ x + gp(sx, sy, kernel='{kernel}'{extra})", d, method="ML")
    p = fit.gp_params.iloc[0]
    xy = d[["sx", "sy"]].to_numpy()
    corr = (lambda dd, r: _matern(dd, r, 0.8)) if kernel == "matern" else CORR[kernel]
    V = p["sigma"] ** 2 * (corr(_dist(xy), p["range"]) + 1e-8 * np.eye(len(d))) + \
        fit.sigma ** 2 * np.eye(len(d))
    mu = fit.spec.X @ fit.fixef.to_numpy()
    assert fit.loglik == pytest.approx(multivariate_normal(mu, V).logpdf(d["y"]), abs=1e-6)
    # and the likelihood is maximised: moving the range lowers it
    V2 = p["sigma"] ** 2 * corr(_dist(xy), p["range"] * 1.05) + fit.sigma ** 2 * np.eye(len(d))
    assert multivariate_normal(mu, V2).logpdf(d["y"]) < fit.loglik


def test_reml_criterion_equals_closed_form():
    d, _ = _field_data()
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='exponential')", d, method="REML")
    p = fit.gp_params.iloc[0]
    xy = d[["sx", "sy"]].to_numpy()
    V = p["sigma"] ** 2 * (CORR["exponential"](_dist(xy), p["range"]) + 1e-8 * np.eye(60)) + \
        fit.sigma ** 2 * np.eye(60)
    X, y = fit.spec.X, d["y"].to_numpy()
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    r = y - X @ beta
    crit = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(X.T @ Vi @ X)[1] + r @ Vi @ r
            + (60 - 2) * np.log(2 * np.pi))
    assert fit.reml_criterion == pytest.approx(crit, abs=1e-6)
    np.testing.assert_allclose(fit.fixef, beta, rtol=1e-7)


def test_nugget_with_replicates_equals_multivariate_normal():
    d, xy = _field_data(n=40, reps=3)
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32', nugget=True)", d, method="ML")
    p = fit.gp_params.iloc[0]
    assert p["nugget"] > 0
    sites = fit.spec.blocks[0].term.sites
    Zs = fit.spec.blocks[0].Z.toarray()
    C = p["sigma"] ** 2 * (CORR["matern32"](_dist(sites), p["range"]) + 1e-8 * np.eye(40)) + \
        p["nugget"] ** 2 * np.eye(40)
    V = Zs @ C @ Zs.T + fit.sigma ** 2 * np.eye(len(d))
    mu = fit.spec.X @ fit.fixef.to_numpy()
    assert fit.loglik == pytest.approx(multivariate_normal(mu, V).logpdf(d["y"]), abs=1e-6)
    vc = fit.varcorr.set_index("var1")
    assert vc.loc["nugget", "sdcor"] == pytest.approx(p["nugget"])


def test_fixed_range_and_estimated_nu():
    d, _ = _field_data()
    fixed = sg.fit("y ~ x + gp(sx, sy, kernel='matern32', range=1.5)", d, method="ML")
    assert fixed.range == 1.5
    assert fixed.spec.blocks[0].term.phi_names == ["sigma"]
    free = sg.fit("y ~ x + gp(sx, sy, kernel='matern32')", d, method="ML")
    assert free.loglik >= fixed.loglik - 1e-8          # nested: more freedom, no worse
    assert free.n_params == fixed.n_params + 1
    est = sg.fit("y ~ x + gp(sx, sy, kernel='matern', nu='estimate')", d, method="ML")
    assert est.spec.blocks[0].term.phi_names == ["log_range", "sigma", "log_nu"]
    assert est.loglik >= free.loglik - 1e-6            # nu = 1.5 is one of its candidates
    p = est.gp_params.iloc[0]
    assert 0.1 <= p["nu"] <= 20 and p["kernel"].startswith("matern(nu=")


def test_by_factor_gives_one_gp_per_level():
    rng = np.random.default_rng(8)
    parts = []
    for lev, r in (("a", 0.5), ("b", 2.0)):
        xy = rng.uniform(0, 5, (40, 2))
        f = np.linalg.cholesky(CORR["exponential"](_dist(xy), r) + 1e-10 * np.eye(40)) @ \
            rng.standard_normal(40)
        parts.append(pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "g": lev,
                                   "y": f + rng.normal(0, 0.3, 40)}))
    d = pd.concat(parts, ignore_index=True)
    fit = sg.fit("y ~ g + gp(sx, sy, kernel='exponential', by=g)", d, method="ML")
    tab = fit.gp_params
    assert list(tab["term"]) == ["gp(sx,sy):ga", "gp(sx,sy):gb"]
    # independent density: block-diagonal covariance, one GP per level
    V = np.zeros((80, 80))
    for k, lev in enumerate("ab"):
        idx = np.flatnonzero(d["g"] == lev)
        xy = d.loc[idx, ["sx", "sy"]].to_numpy()
        V[np.ix_(idx, idx)] = tab["sigma"].iloc[k] ** 2 * (
            CORR["exponential"](_dist(xy), tab["range"].iloc[k]) + 1e-8 * np.eye(40))
    V += fit.sigma ** 2 * np.eye(80)
    mu = fit.spec.X @ fit.fixef.to_numpy()
    assert fit.loglik == pytest.approx(multivariate_normal(mu, V).logpdf(d["y"]), abs=1e-6)
    # prediction rows of level a get nothing from the GP of level b
    nd = pd.DataFrame({"sx": [1.0, 1.0], "sy": [1.0, 1.0], "g": ["a", "b"]})
    Z = fit.spec.blocks[1].term.design_for(nd, phi=fit.state.phi[2:])[0]
    assert np.all(Z[0] == 0) and np.any(Z[1] != 0)
    with pytest.raises(ValueError, match="several|2 GP terms"):
        _ = fit.range


def test_effective_ranges_reported():
    d, _ = _field_data()
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='exp_quad')", d, method="ML")
    p = fit.gp_params.iloc[0]
    # exp(-d^2 / (2 r^2)) = level  <=>  d = r sqrt(-2 log level)
    assert p["effective_range"] == pytest.approx(p["range"] * np.sqrt(-2 * np.log(0.05)))
    assert p["effective_range_014"] == pytest.approx(p["range"] * np.sqrt(-2 * np.log(0.14)))
    assert "range" in p["range_convention"]


# ---- bad input ----------------------------------------------------------------------------
def _data():
    d, _ = _field_data(n=20)
    return d


def test_conflicting_site_coordinates():
    d = _data()
    d["site"] = np.arange(len(d)) % 10  # ids reused at different coordinates
    with pytest.raises(ValueError, match="site .* conflicting coordinates"):
        sg.fit("y ~ 1 + gp(sx, sy, site='site')", d)


def test_two_sites_at_one_location_need_a_nugget():
    d = _data()
    d = pd.concat([d, d.iloc[[0]].assign(y=0.0)], ignore_index=True)
    d["site"] = np.arange(len(d))
    with pytest.raises(ValueError, match="share the coordinates"):
        sg.fit("y ~ 1 + gp(sx, sy, site='site')", d)
    # with a nugget the two sites are distinct effects: accepted
    twice = pd.concat([d, d], ignore_index=True)
    spec = build_model("y ~ 1 + gp(sx, sy, site='site', nugget=True)", twice)
    assert spec.blocks[0].q == len(d)


@pytest.mark.parametrize("nu", [0, -1.5, "smooth"])
def test_bad_nu(nu):
    with pytest.raises(FormulaError, match="nu"):
        sg.fit(f"y ~ 1 + gp(sx, sy, kernel='matern', nu={nu!r})", _data())


def test_nu_with_a_fixed_kernel():
    with pytest.raises(FormulaError, match="does not apply"):
        sg.fit("y ~ 1 + gp(sx, sy, kernel='exp_quad', nu=2.5)", _data())


@pytest.mark.parametrize("crs_arg", ["data", "kwarg"])
def test_geographic_crs_is_refused(crs_arg):
    d = _data()
    if crs_arg == "data":
        d.attrs["crs"] = "EPSG:4326"
        formula = "y ~ 1 + gp(sx, sy)"
    else:
        formula = "y ~ 1 + gp(sx, sy, crs='EPSG:4326')"
    with pytest.raises(FormulaError, match="geographic"):
        sg.fit(formula, d)


def test_geodataframe_in_lonlat_is_refused():
    gpd = pytest.importorskip("geopandas")
    d = _data()
    g = gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["sx"], d["sy"]), crs="EPSG:4326")
    with pytest.raises(ValueError, match="geographic"):
        sg.fit("y ~ 1 + gp(sx, sy)", g)


def test_projected_crs_is_kept():
    fit = sg.fit("y ~ 1 + gp(sx, sy, crs='EPSG:32633')", _data())
    assert fit.spec.blocks[0].term.crs.to_epsg() == 32633


def test_lonlat_names_warn():
    d = _data().rename(columns={"sx": "lon", "sy": "lat"})
    with pytest.warns(UserWarning, match="longitude/latitude"):
        sg.fit("y ~ 1 + gp(lon, lat)", d)


@pytest.mark.parametrize("formula,match", [
    ("y ~ 1 + gp(sx, sy, kernel='wiggly')", "unknown kernel"),
    ("y ~ 1 + gp(sx, sy, lengthscale=2)", "unknown argument"),
    ("y ~ 1 + gp(sx, sy, sigma=1)", "known scale"),
    ("y ~ 1 + gp(sx, sy, nugget=True)", "not identifiable"),
    ("y ~ 1 + gp(sx, sy, range=-1)", "positive"),
    ("y ~ 1 + gp(sx, sy, kernel='power_exponential', power=3)", "power"),
    ("y ~ 1 + gp(sx, lab)", "not numeric"),
])
def test_bad_arguments(formula, match):
    d = _data()
    d["lab"] = "a"
    with pytest.raises(FormulaError, match=match):
        sg.fit(formula, d)


def test_too_few_sites():
    d = pd.DataFrame({"sx": [0.0, 1.0, 0.0, 1.0], "sy": [0.0] * 4, "y": [1.0, 2, 3, 4]})
    with pytest.raises(ValueError, match="at least 3 distinct sites"):
        sg.fit("y ~ 1 + gp(sx, sy)", d)
