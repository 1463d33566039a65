"""Fitting spde() fields through sg.fit / sg.gam: estimates, uncertainty, prediction.

Independent references:
* ``tests/reference/spde/matern_gaussian.csv``: Gaussian data drawn from an exact Matern
  nu = 1 field (range 2, sigma 1, nugget 0.5; dense Cholesky), with the exact dense-GP ML fit
  of its first 400 rows (``spde_reference.json``; make_reference.py, scipy only);
* simulations with known truth;
* dense linear algebra for the posterior variances (the inverse of the dense ``H``).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

import spatialgamm as sg
from spatialgamm.formula.parse import FormulaError
from spatialgamm.mesh import Mesh
from spatialgamm.results.gam import GamFit
from spatialgamm.results.mixed import MixedFit
from spatialgamm.results.spde import FieldEstimate

pytestmark = pytest.mark.usefixtures("one_blas_thread")


REF = Path(__file__).parent / "reference" / "spde"


@pytest.fixture(scope="module")
def matern():
    data = pd.read_csv(REF / "matern_gaussian.csv")
    ref = json.loads((REF / "spde_reference.json").read_text())["matern_gaussian"]
    # range / 5 inside, an extension of two ranges: INLA's rules of thumb
    mesh = Mesh.build(boundary=shapely.box(0, 0, 10, 10), max_edge=(0.4, 1.5),
                      offset=(0, 4))
    return data, ref, mesh


def test_gaussian_matern_estimates_within_sampling_error(matern):
    data, ref, mesh = matern
    truth = ref["truth"]
    fit = sg.fit("z ~ spde(x, y, mesh=mesh)", data)
    assert isinstance(fit, MixedFit) and fit.converged
    for est, true in ((fit.range, truth["range"]), (fit.sigma_field, truth["sigma"])):
        assert isinstance(est, FieldEstimate)
        # within 2.5 standard errors (on the log scale) of the truth
        assert abs(np.log(float(est) / true)) < 2.5 * est.se_log
        assert est.lower < true < est.upper
    assert fit.sigma == pytest.approx(truth["nugget"], rel=0.06)
    vc = fit.varcorr.set_index("grp")
    assert vc.loc["spde(x, y)", "sdcor"] == pytest.approx(float(fit.sigma_field))
    assert fit.fixef["(Intercept)"] == pytest.approx(truth["intercept"],
                                                     abs=3 * fit.se["(Intercept)"])
    info = fit.spde_info
    assert info["factorizations"] + info["prior_factorizations"] <= 30


def test_gaussian_agrees_with_exact_dense_gp_ml(matern):
    data, ref, mesh = matern
    dense = ref["dense_ml_first400"]
    fit = sg.fit("z ~ spde(x, y, mesh=mesh)", data.iloc[:400], method="ML")
    # the SPDE on a mesh with edges of range / 5 approximates the Matern GP closely
    assert float(fit.range) == pytest.approx(dense["range"], rel=0.08)
    assert float(fit.sigma_field) == pytest.approx(dense["sigma"], rel=0.05)
    assert fit.sigma == pytest.approx(dense["nugget"], rel=0.05)
    assert fit.fixef["(Intercept)"] == pytest.approx(dense["intercept"], abs=0.02)
    assert fit.loglik == pytest.approx(dense["loglik"], abs=1.0)


# ---- non-Gaussian families ------------------------------------------------------------------
@pytest.fixture(scope="module")
def counts():
    """Poisson counts with exposure over a smooth field with known intercept."""
    rng = np.random.default_rng(11)
    n = 600
    xy = rng.uniform(0, 8, (n, 2))
    field = 0.6 * np.sin(xy[:, 0] / 1.3) * np.cos(xy[:, 1] / 1.7)
    time = rng.uniform(0.5, 3.0, n)
    y = rng.poisson(time * np.exp(1.0 + field))
    trials = rng.integers(1, 8, n)
    succ = rng.binomial(trials, 1 / (1 + np.exp(-(field - 0.3))))
    data = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "count": y, "time": time,
                         "succ": succ, "fail": trials - succ})
    mesh = Mesh.build(boundary=shapely.box(0, 0, 8, 8), max_edge=(0.5, 1.5), offset=(0, 2))
    return data, mesh, field


@pytest.mark.parametrize("alpha", [2, 1.5])
def test_poisson_with_exposure(counts, alpha):
    data, mesh, field = counts
    fit = sg.fit(f"count ~ spde(x, y, mesh=mesh, alpha={alpha}) + offset(log(time))", data,
                 family="poisson")
    assert fit.converged
    info = fit.spde_info
    assert info["factorizations"] <= 30
    assert info["factorizations"] + info["prior_factorizations"] <= 30 + 10 * (alpha != 2)
    # the fitted field at the sites follows the true one (simulation truth)
    A = mesh.projector(data[["x", "y"]])
    f_hat = A @ fit.state.b + fit.fixef["(Intercept)"] - 1.0
    assert np.corrcoef(f_hat, field)[0, 1] > 0.9
    assert np.sqrt(np.mean((f_hat - field) ** 2)) < 0.15
    # offset=0 predicts the rate per unit exposure; the offset column is used otherwise
    new = data.iloc[:5]
    rate = fit.predict(new, type="response", offset=0.0)["fit"].to_numpy()
    mean = fit.predict(new, type="response")["fit"].to_numpy()
    np.testing.assert_allclose(mean, rate * new["time"].to_numpy(), rtol=1e-12)


def test_binomial_cbind(counts):
    data, mesh, field = counts
    fit = sg.fit("cbind(succ, fail) ~ spde(x, y, mesh=mesh)", data, family="binomial")
    assert fit.converged and fit.spde_info["factorizations"] <= 30
    A = mesh.projector(data[["x", "y"]])
    f_hat = A @ fit.state.b + fit.fixef["(Intercept)"] + 0.3
    assert np.corrcoef(f_hat, field)[0, 1] > 0.8
    assert fit.fixef["(Intercept)"] == pytest.approx(-0.3, abs=3 * fit.se["(Intercept)"])


# ---- posterior variances by selected inversion = dense inverse -----------------------------
def _dense_variances(fit, mesh, X_new, A_new):
    """Var(x'beta + a'u) from the dense inverse of H = M'WM + blockdiag(0, Q)."""
    spec, st = fit.spec, fit.state
    A = spec.blocks[0].Z.toarray()
    M = np.column_stack([spec.X, A])
    w = st.working_weights
    H = M.T @ (M * w[:, None])
    Q = spec.blocks[0].term.Q(st.phi).toarray()
    p = spec.p
    H[p:, p:] += Q
    Hi = np.linalg.inv(H) * st.scale
    Mn = np.column_stack([X_new, A_new])
    return np.einsum("ij,jk,ik->i", Mn, Hi, Mn), np.diag(Hi)[p:]


@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_prediction_se_by_selected_inversion_is_exact(counts, family):
    data, mesh, _ = counts
    d = data.iloc[:200].copy()
    d["z"] = np.log1p(d["count"])
    formula = ("z ~ x + spde(x, y, mesh=mesh)" if family == "gaussian"
               else "count ~ x + spde(x, y, mesh=mesh) + offset(log(time))")
    fit = sg.fit(formula, d, family=family)
    rng = np.random.default_rng(5)
    new = pd.DataFrame({"x": rng.uniform(0, 8, 50), "y": rng.uniform(0, 8, 50), "time": 1.0})
    pred = fit.predict(new, se_fit=True, offset=0.0)
    X_new = np.column_stack([np.ones(50), new["x"]])
    var, node_var = _dense_variances(fit, mesh, X_new, mesh.projector(new[["x", "y"]]).toarray())
    np.testing.assert_allclose(pred["se_fit"] ** 2, var, rtol=1e-8)
    field = fit.field
    assert list(field.columns) == ["x", "y", "mean", "sd"] and len(field) == mesh.n
    np.testing.assert_allclose(field["sd"] ** 2, node_var, rtol=1e-8)
    np.testing.assert_allclose(field[["x", "y"]].to_numpy(), mesh.nodes)


def test_intervals_are_on_the_log_scale(counts):
    data, mesh, _ = counts
    fit = sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", data, family="poisson")
    tab = fit.spde_params
    r = fit.range
    assert r.lower < float(r) < r.upper
    assert np.log(r.upper / float(r)) == pytest.approx(np.log(float(r) / r.lower))
    assert tab["range"].iloc[0] == float(r) and tab["sigma"].iloc[0] == float(fit.sigma_field)
    # the AI-based standard errors against the curvature of the criterion itself
    obj = fit.state.objective
    from spatialgamm.engine.optimize import numerical_hessian
    H = numerical_hessian(obj, fit.state.phi, h=1e-3)
    se = np.sqrt(np.diag(2 * np.linalg.inv(H)))
    np.testing.assert_allclose([r.se_log, fit.sigma_field.se_log], se, rtol=0.25)
    assert "SPDE Matern fields" in fit.summary()


def test_gam_front_door(counts):
    data, mesh, _ = counts
    g = sg.gam("count ~ spde(x, y, mesh=mesh) + offset(log(time))", data, family="poisson")
    assert isinstance(g, GamFit) and g.state.method == "REML"
    f = sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", data, family="poisson")
    assert float(g.range) == pytest.approx(float(f.range), rel=1e-8)
    assert 1 < g.edf_total < mesh.n
    text = g.summary()
    assert "spde(x, y)" in text and "R-sq" in text
    assert g.Vp.shape == (1, 1)
    with pytest.raises(ValueError, match="REML.*ML"):
        sg.gam("count ~ spde(x, y, mesh=mesh)", data, family="poisson", method="UBRE")


def test_mixed_with_random_effects_uses_the_general_engine(counts):
    data, _, _ = counts
    d = data.iloc[:80].copy()
    d["g"] = np.arange(len(d)) % 5
    coarse = Mesh.build(boundary=shapely.box(0, 0, 8, 8), max_edge=(2.5, 4), offset=(0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sg.fit("count ~ spde(x, y, mesh=coarse) + (1 | g) + offset(log(time))", d,
                     family="poisson")
    assert isinstance(fit, MixedFit)
    assert fit.spde_info == {"path": "generic engine"}
    assert np.isfinite(float(fit.range)) and len(fit.field) == coarse.n
    assert fit.field["sd"].gt(0).all()


# ---- bad input ------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
def test_bad_input_errors(counts):
    data, mesh, _ = counts
    small = Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=1.0,  # noqa: F841 (formula)
                       offset=(0, None))
    with pytest.raises(ValueError, match=r"spde\(x, y, mesh=small\).*points lie outside the "
                                         r"mesh \(first: row"):
        sg.fit("count ~ spde(x, y, mesh=small)", data, family="poisson")
    fit = sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", data.iloc[:100],
                 family="poisson")
    with pytest.raises(ValueError, match=r"spde\(x, y\) \(newdata\).*outside the mesh"):
        fit.predict(pd.DataFrame({"x": [20.0], "y": [1.0]}), offset=0.0)
    bad = data.copy()
    bad.loc[3, "time"] = 0.0
    with pytest.raises(ValueError, match="offset is not finite at row 3.*exposure must be "
                                         "positive"):
        sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", bad, family="poisson")
    with pytest.raises(FormulaError, match="alpha = 1 is Matern nu = 0"):
        sg.fit("count ~ spde(x, y, mesh=mesh, alpha=1)", data, family="poisson")
    with pytest.raises(FormulaError, match=r"alpha must lie in \(1, 2\]"):
        sg.fit("count ~ spde(x, y, mesh=mesh, alpha=3)", data, family="poisson")
    with pytest.raises(FormulaError, match="needs mesh="):
        sg.fit("count ~ spde(x, y)", data, family="poisson")
    with pytest.raises(FormulaError, match="mesh= must be a Mesh"):
        sg.fit("count ~ spde(x, y, mesh=3)", data, family="poisson")
    with pytest.raises(FormulaError, match="unknown argument"):
        sg.fit("count ~ spde(x, y, mesh=mesh, kappa=2)", data, family="poisson")
    with pytest.raises(FormulaError, match="two coordinate columns"):
        sg.fit("count ~ spde(x, mesh=mesh)", data, family="poisson")


def test_mesh_too_large_for_memory_is_refused_with_an_estimate(counts):
    data, mesh, _ = counts
    with pytest.raises(MemoryError, match=r"the mesh has [\d,]+ nodes; fitting it needs about "
                                          r"[\d.]+ GiB .* but 0\.00 GiB is available"):
        sg.fit("count ~ spde(x, y, mesh=mesh, max_memory=1000)", data, family="poisson")


def test_boundary_not_containing_data_and_bad_max_edge():
    pts = np.array([[0.5, 0.5], [1.5, 1.5], [5.0, 5.0]])
    with pytest.raises(ValueError, match="1 of 3 loc points fall outside"):
        Mesh.build(pts, boundary=shapely.box(0, 0, 2, 2), max_edge=0.5)
    with pytest.raises(ValueError, match="max_edge"):
        Mesh.build(pts, max_edge=(0.0, 1.0))
    from spatialgamm.mesh import MeshSizeError
    with pytest.raises(MeshSizeError, match="would have about"):
        Mesh.build(pts, max_edge=1e-3, offset=(0.5, None), max_nodes=10_000)


def test_sparse_path_never_builds_a_dense_joint_covariance(counts):
    data, mesh, _ = counts
    fit = sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", data, family="poisson")
    fit.predict(data.iloc[:10], se_fit=True)
    assert fit.state.joint_cov is None
    assert sp.issparse(fit.state.sparse_posterior.sel)
