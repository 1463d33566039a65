"""Kriging prediction, conditional simulation and profile intervals of gp() fits.

Independent references: universal kriging written out here from the marginal model
``y ~ N(X beta, V)`` (GLS mean, the kriging variance with the estimated-beta term), the same
for the covariance of several new points (checked against simulation draws), and profile
likelihoods recomputed here with ``scipy.stats.multivariate_normal`` and scipy's optimiser.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.stats import multivariate_normal

import spatialgamm as sg

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _dist(a, b=None):
    b = a if b is None else b
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _m32(d, r):
    return (1 + d / r) * np.exp(-d / r)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 40
    xy = rng.uniform(0, 5, (n, 2))
    f = np.linalg.cholesky(_m32(_dist(xy), 1.5) + 1e-10 * np.eye(n)) @ rng.standard_normal(n)
    rows = np.repeat(np.arange(n), 3)
    x = rng.normal(size=3 * n)
    y = 2 + 0.7 * x + f[rows] + rng.normal(0, 0.5, n)[rows] + rng.normal(0, 0.3, 3 * n)
    return pd.DataFrame({"sx": xy[rows, 0], "sy": xy[rows, 1], "x": x, "y": y})


NEW = pd.DataFrame({"sx": [1.0, 1.2, 4.0], "sy": [1.0, 1.1, 2.5], "x": [0.0, 1.0, -0.5]})


def _universal_kriging(fit, d, newdata):
    """Mean and covariance of X0 beta + S(x0) (the smooth field, no nugget) given y."""
    p = fit.gp_params.iloc[0]
    term = fit.spec.blocks[0].term
    sites = term.sites
    Zs = fit.spec.blocks[0].Z.toarray()
    s2, t2 = p["sigma"] ** 2, (0.0 if np.isnan(p["nugget"]) else p["nugget"] ** 2)
    Kss = _m32(_dist(sites), p["range"]) + term.jitter * np.eye(len(sites))
    V = Zs @ (s2 * Kss + t2 * np.eye(len(sites))) @ Zs.T + fit.sigma ** 2 * np.eye(len(d))
    X, y = fit.spec.X, d["y"].to_numpy()
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    beta = np.linalg.solve(A, X.T @ Vi @ y)
    x0 = np.column_stack([np.ones(len(newdata)), newdata["x"]])
    loc = newdata[["sx", "sy"]].to_numpy()
    c = s2 * _m32(_dist(loc, sites), p["range"]) @ Zs.T          # Cov(S(x0), y)
    mean = x0 @ beta + c @ Vi @ (y - X @ beta)
    R = x0.T - X.T @ Vi @ c.T
    cov = s2 * _m32(_dist(loc), p["range"]) - c @ Vi @ c.T + R.T @ np.linalg.solve(A, R)
    return mean, cov


def test_kriging_mean_and_se_equal_universal_kriging(data):
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32', nugget=True)", data, method="ML")
    assert fit.gp_params["nugget"].iloc[0] > 0.05
    pr = fit.predict(NEW, se_fit=True)
    mean, cov = _universal_kriging(fit, data, NEW)
    np.testing.assert_allclose(pr["fit"], mean, rtol=1e-6)
    np.testing.assert_allclose(pr["se_fit"], np.sqrt(np.diag(cov)), rtol=1e-5)


def test_prediction_at_an_observed_site_is_that_site(data):
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32')", data, method="ML")
    at = data.iloc[[0, 1]]
    np.testing.assert_allclose(fit.predict(at)["fit"], fit.fitted[:2], rtol=1e-10)
    se_new = fit.predict(at, se_fit=True)["se_fit"]
    se_data = fit.predict(se_fit=True)["se_fit"].iloc[:2]
    np.testing.assert_allclose(se_new, se_data, rtol=1e-10)


def test_simulate_field_has_the_kriging_covariance(data):
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32', nugget=True)", data, method="ML")
    sims = fit.simulate_field(NEW, n=20000, seed=4)
    assert sims.shape == (3, 20000)
    mean, cov = _universal_kriging(fit, data, NEW)
    se = np.sqrt(np.diag(cov))
    assert np.all(np.abs(sims.mean(axis=1) - mean) < 4 * se / np.sqrt(20000))
    np.testing.assert_allclose(np.cov(sims), cov, atol=0.04 * cov.max())
    # the two close points are strongly correlated, which pointwise SEs cannot show
    emp = np.corrcoef(sims)[0, 1]
    assert emp == pytest.approx(cov[0, 1] / (se[0] * se[1]), abs=0.02)
    with pytest.raises(ValueError, match="max_points"):
        fit.simulate_field(pd.concat([NEW] * 3000), n=2)


def _profile_ml(d, fixed_log_range):
    """ML profile over (sigma, sigma_e, beta) at a fixed range, by scipy (independent)."""
    xy = d[["sx", "sy"]].to_numpy()
    X = np.column_stack([np.ones(len(d)), d["x"]])
    y = d["y"].to_numpy()
    K = _m32(_dist(xy), np.exp(fixed_log_range)) + 1e-8 * np.eye(len(d))

    def nll(par):
        V = np.exp(2 * par[0]) * K + np.exp(2 * par[1]) * np.eye(len(d))
        Vi = np.linalg.inv(V)
        beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
        return -multivariate_normal(X @ beta, V).logpdf(y)
    res = optimize.minimize(nll, [0.0, -1.0], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
    return res.fun


def test_profile_interval_for_range_matches_an_independent_profile(data):
    d = data.groupby(["sx", "sy"], as_index=False).first()  # one observation per site
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32')", d, method="ML")
    ci = fit.confint(["range", "sigma"])
    assert list(ci["method"]) == ["profile", "profile"]
    nll_min = -fit.loglik
    crit = stats.chi2.ppf(0.95, 1) / 2
    for limit in ci.loc["gp(sx,sy): range", ["2.5 %", "97.5 %"]]:
        assert _profile_ml(d, np.log(limit)) - nll_min == pytest.approx(crit, abs=2e-3)
    lo, hi = ci.loc["gp(sx,sy): sigma", ["2.5 %", "97.5 %"]]
    est = fit.gp_sigma
    assert lo < est < hi
    assert ci.loc["gp(sx,sy): range", "estimate"] == pytest.approx(fit.range, rel=1e-4)
    # fixed effects: Wald
    wald = fit.confint("beta")
    z = stats.norm.ppf(0.975)
    assert wald.loc["x", "97.5 %"] == pytest.approx(fit.fixef["x"] + z * fit.se["x"])


def test_poisson_prediction_with_exposure():
    d = sg.datasets.load_rongelap()
    fit = sg.fit("counts ~ 1 + gp(cX, cY, kernel='exponential') + offset(log(time))", d,
                 family="poisson", method="ML")
    new = pd.DataFrame({"cX": [-5000.0, -3000.0], "cY": [-3000.0, -2000.0]})
    with pytest.raises(ValueError, match="offset"):
        fit.predict(new)
    rate = fit.predict(new, offset=0.0, type="response", se_fit=True)
    link = fit.predict(new, offset=0.0, se_fit=True)
    np.testing.assert_allclose(rate["fit"], np.exp(link["fit"]))
    np.testing.assert_allclose(rate["se_fit"], np.exp(link["fit"]) * link["se_fit"])
    two = fit.predict(new.assign(time=2.0), type="response")
    np.testing.assert_allclose(two["fit"], 2 * rate["fit"])
    assert fit.spatial_coords == ("cX", "cY")


def test_predict_grid_maps_the_kriging(data):
    pytest.importorskip("rasterio")
    from shapely.geometry import box
    fit = sg.fit("y ~ x + gp(sx, sy, kernel='matern32')", data, method="ML")
    grid = sg.predict_grid(fit, box(0, 0, 5, 5), n=(6, 6), covariates={"x": 0.0},
                           type="link")
    cells = grid.cells
    pr = fit.predict(pd.DataFrame({"sx": cells["sx"], "sy": cells["sy"], "x": 0.0}),
                     se_fit=True)
    np.testing.assert_allclose(cells["estimate"], pr["fit"], rtol=1e-10)
    np.testing.assert_allclose(cells["se"], pr["se_fit"], rtol=1e-10)
