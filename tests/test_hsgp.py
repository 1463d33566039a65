"""hsgp(): the Hilbert-space approximation converges to the exact GP as m grows.

References: the exact kernel matrix (closed-form kernels) for the approximate covariance
``Phi diag(S(sqrt(lambda))) Phi'`` (Solin & Sarkka 2020, eq. 20), and the exact gp() fit of
the same model for the fitted values and likelihood.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.formula.parse import FormulaError
from spatialgamm.model import build_model
from spatialgamm.terms.hsgp import HilbertBox

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _dist(a):
    return np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))


def _approx_cov(box, X, spectral):
    Phi = box.basis(X)
    return (Phi * spectral(box.sqrt_eigenvalues)) @ Phi.T


def test_basis_is_orthonormal_on_the_box():
    box = HilbertBox(np.array([1.0]), np.array([2.0]), (6,))
    t = np.linspace(-1, 3, 20001)[:, None]
    Phi = box.basis(t)
    gram = (Phi[:-1].T @ Phi[:-1]) * (t[1, 0] - t[0, 0])
    np.testing.assert_allclose(gram, np.eye(6), atol=1e-3)
    np.testing.assert_allclose(Phi[[0, -1]], 0.0, atol=1e-12)  # Dirichlet boundary


def test_covariance_converges_1d_exp_quad():
    # exp(-d^2 / (2 r^2)), S(w) = sqrt(2 pi) r exp(-r^2 w^2 / 2) in one dimension
    r = 0.2
    x = np.linspace(0, 1, 50)[:, None]
    K = np.exp(-_dist(x) ** 2 / (2 * r * r))
    errs = []
    for m in (4, 8, 16, 32):
        box = HilbertBox(np.array([0.5]), np.array([1.25]), (m,))
        approx = _approx_cov(box, x, lambda w: np.sqrt(2 * np.pi) * r * np.exp(-(r * w) ** 2 / 2))
        errs.append(np.abs(approx - K).max())
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-9


def test_covariance_converges_2d_matern52():
    # Matern nu = 5/2 in 2-D: S(w) = 4 pi Gamma(7/2)/Gamma(5/2) k^5 (k^2 + w^2)^(-7/2), k = 1/r
    r = 0.15
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (80, 2))
    u = _dist(X) / r
    K = np.exp(-u) * (1 + u + u * u / 3)
    k = 1 / r

    def spec(w):
        return 4 * np.pi * 2.5 * k ** 5 * (k * k + w * w) ** -3.5
    errs = []
    for m in (5, 10, 20, 40):
        box = HilbertBox(np.array([0.5, 0.5]), np.array([1.5, 1.5]), (m, m))
        errs.append(np.abs(_approx_cov(box, X, spec) - K).max())
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-3


def test_fit_converges_to_the_exact_gp():
    rng = np.random.default_rng(3)
    n = 120
    xs = np.sort(rng.uniform(0, 10, n))
    K = np.exp(-(xs[:, None] - xs[None, :]) ** 2 / 2)
    y = np.linalg.cholesky(K + 1e-9 * np.eye(n)) @ rng.standard_normal(n) + \
        rng.normal(0, 0.3, n)
    d = pd.DataFrame({"x": xs, "y": y})
    exact = sg.fit("y ~ 1 + gp(x, kernel='exp_quad')", d, method="ML")
    diffs, lls = [], []
    for m in (8, 16, 24, 32):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small m: low captured variance, boundary range
            h = sg.fit(f"y ~ 1 + hsgp(x, kernel='exp_quad', m={m}, c=1.5)", d, method="ML")
        diffs.append(np.abs(h.fitted - exact.fitted).max())
        lls.append(abs(h.loglik - exact.loglik))
    assert all(a > b for a, b in zip(diffs, diffs[1:]))
    assert diffs[-1] < 1e-5 and lls[-1] < 1e-3
    p, q = h.gp_params.iloc[0], exact.gp_params.iloc[0]
    assert p["range"] == pytest.approx(q["range"], rel=1e-3)
    assert p["sigma"] == pytest.approx(q["sigma"], rel=1e-3)
    assert p["variance_captured"] > 0.999


def test_prediction_outside_the_box_warns_and_region_widens_it():
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"sx": rng.uniform(0, 1, 60), "sy": rng.uniform(0, 1, 60)})
    d["y"] = np.sin(3 * d["sx"]) + rng.normal(0, 0.1, 60)
    fit = sg.fit("y ~ 1 + hsgp(sx, sy, m=8, c=1.25)", d)
    far = pd.DataFrame({"sx": [0.5, 3.0], "sy": [0.5, 0.5]})
    with pytest.warns(UserWarning, match="outside the Hilbert-space box"):
        fit.predict(far)
    wide = build_model("y ~ 1 + hsgp(sx, sy, m=8, c=1.25, region=(0, 4, 0, 1))", d)
    box = wide.blocks[0].term.box
    assert box.L[0] == pytest.approx(1.25 * 2.0) and box.centre[0] == pytest.approx(2.0)
    assert not box.outside(far.to_numpy()).any()


def test_low_captured_variance_warns():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"x": np.linspace(0, 10, 80)})
    d["y"] = np.sin(4 * d["x"]) + rng.normal(0, 0.2, 80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the starved basis also puts sigma on its boundary
        fit = sg.fit("y ~ 1 + hsgp(x, kernel='matern32', m=4, range=0.3, c=1.25)", d)
    with pytest.warns(UserWarning, match="capture only"):
        _ = fit.gp_params


def test_poisson_hsgp_matches_exact_gp_with_offset():
    rng = np.random.default_rng(4)
    n = 100
    xs = np.sort(rng.uniform(0, 10, n))
    u = np.abs(xs[:, None] - xs[None, :]) / 1.5
    f = np.linalg.cholesky((1 + u) * np.exp(-u) + 1e-9 * np.eye(n)) @ rng.standard_normal(n)
    expo = rng.uniform(1, 4, n)
    d = pd.DataFrame({"x": xs, "expo": expo, "y": rng.poisson(expo * np.exp(1 + 0.6 * f))})
    exact = sg.fit("y ~ 1 + gp(x, kernel='matern32') + offset(log(expo))", d,
                   family="poisson", method="ML")
    # Matern 3/2 has heavy spectral tails and a long reach to the boundary: a wide box
    # (c = 3) and many functions, as Riutort-Mayol et al. (2023) advise
    h = sg.fit("y ~ 1 + hsgp(x, kernel='matern32', m=100, c=3) + offset(log(expo))", d,
               family="poisson", method="ML")
    assert h.converged
    np.testing.assert_allclose(h.fitted, exact.fitted, rtol=2e-3)
    assert h.loglik == pytest.approx(exact.loglik, abs=0.01)
    assert h.gp_params["variance_captured"].iloc[0] > 0.999
    new = pd.DataFrame({"x": [2.5, 7.5]})
    np.testing.assert_allclose(h.predict(new, offset=0.0)["fit"],
                               exact.predict(new, offset=0.0)["fit"], atol=5e-3)


@pytest.mark.parametrize("args,match", [
    ("kernel='spherical'", "spectral density"),
    ("kernel='matern', nu='estimate'", "fixed smoothness"),
    ("c=1", "boundary factor"),
    ("m=0", "positive integer"),
    ("m=(5, 5, 5)", "one per coordinate"),
    ("region=(0, 1)", "region"),
    ("knots=3", "unknown argument"),
])
def test_bad_hsgp_arguments(args, match):
    d = pd.DataFrame({"sx": np.arange(10.0), "sy": np.arange(10.0) % 3, "y": np.arange(10.0)})
    with pytest.raises(FormulaError, match=match):
        build_model(f"y ~ 1 + hsgp(sx, sy, {args})", d)
