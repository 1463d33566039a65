"""The public stages (issue 13, items 1 and 2): build_model -> make_objective -> optimize ->
assemble, typed and frozen state, spde() fields through the one pipeline.

Independent references: lme4 1.1-31's sleepstudy fit (``reference/sleepstudy.json``, written
by ``reference/make_reference.R``); central finite differences of the criterion for the
exact gradient the objectives expose; dense linear algebra (the inverse of the dense
``H = M'WM + blockdiag(0, Q)``) for the posterior at a given parameter value.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

import spatialgamm as sg
from spatialgamm.engine.objective import default_plan, make_objective
from spatialgamm.engine.optimize import OptSummary, Plan, finish_summary, optimize
from spatialgamm.engine.precform import FieldObjective
from spatialgamm.mesh import Mesh
from spatialgamm.model import build_model
from spatialgamm.results.assemble import assemble
from spatialgamm.results.mixed import MixedFit

pytestmark = pytest.mark.usefixtures("one_blas_thread")

REF = Path(__file__).parent / "reference"
PKG = Path(sg.__file__).parent


def test_four_stages_give_lme4s_sleepstudy_fit():
    ref = json.loads((REF / "sleepstudy.json").read_text())["lmer_Reaction_Days_corr_REML"]
    fixef = [ref["fixef"]["(Intercept)"], ref["fixef"]["Days"]]
    se_ref = [ref["se"]["(Intercept)"], ref["se"]["Days"]]
    spec = build_model("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    objective = make_objective(spec, "REML")
    plan = default_plan(objective, spec)
    assert isinstance(plan, Plan)
    summary = optimize(objective, plan)
    fit = assemble(spec, objective, summary)
    assert isinstance(fit, MixedFit) and fit.converged
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-3)
    np.testing.assert_allclose(fit.fixef.to_numpy(), fixef, rtol=1e-4)
    np.testing.assert_allclose(fit.se.to_numpy(), se_ref, rtol=1e-3)
    # the summary records the settings it searched with
    assert summary.settings["gtol"] == spec.control.optimizer_kwargs()["gtol"]
    # the objective's public pieces at the optimum: the mode is the fit's, the posterior's
    # fixed-effects covariance is lme4's vcov
    beta, u = objective.mode(fit.state.phi)
    np.testing.assert_allclose(beta, fixef, rtol=1e-4)
    se = np.sqrt(np.diag(objective.posterior(fit.state.phi).vcov_beta))
    np.testing.assert_allclose(se, se_ref, rtol=1e-3)


def test_make_objective_refuses_an_unknown_method():
    spec = build_model("Reaction ~ Days + (1 | Subject)", sg.datasets.load_sleepstudy())
    with pytest.raises(ValueError, match="method must be one of"):
        make_objective(spec, "REM")


def test_spec_block_and_summary_are_frozen():
    spec = build_model("Reaction ~ Days + (1 | Subject)", sg.datasets.load_sleepstudy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.family = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.blocks[0].name = "x"
    s = OptSummary("L-BFGS-B", np.zeros(1), 0.0, True, 1, 1, np.zeros(1), 0.5, "ok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.converged = False
    t = finish_summary(s, True, "ok")  # a new summary; the old one is unchanged
    assert s.converged and not t.converged


def test_fit_state_fields_are_typed():
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    st = m.state
    # the engine's numbers are named fields; there is no untyped dict of them any more
    assert not hasattr(st, "extra")
    assert isinstance(st.deviance, float) and st.deviance > 0
    assert st.theta is None and st.gaussian is False and st.system.q == 15


def test_terms_spde_imports_nothing_from_the_engine():
    tree = ast.parse((PKG / "terms" / "spde.py").read_text())
    mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any("engine" in m for m in mods), mods


# ---- the spde() field through the one pipeline ---------------------------------------------
@pytest.fixture(scope="module")
def field_data():
    rng = np.random.default_rng(7)
    n = 250
    xy = rng.uniform(0, 6, (n, 2))
    f = 0.7 * np.sin(xy[:, 0] / 1.2) * np.cos(xy[:, 1] / 1.5)
    time = rng.uniform(0.5, 2.0, n)
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "time": time,
                      "count": rng.poisson(time * np.exp(0.5 + f))})
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(0.7, 2.0), offset=(0, 2))
    return d, mesh


def test_field_objective_gradient_and_posterior_at_any_phi(field_data):
    d, mesh = field_data
    spec = build_model("count ~ spde(x, y, mesh=mesh) + offset(log(time))", d, "poisson",
                       env={"mesh": mesh})
    obj = make_objective(spec, "ML")
    assert isinstance(obj, FieldObjective)
    obj.inner_tol = 1e-12  # modes to rounding, for the differences below
    phi = np.log([2.0, 0.6])
    f, g = obj.value_and_grad(phi)
    h = 1e-5
    fd = [(obj.evaluate(phi + h * e).f - obj.evaluate(phi - h * e).f) / (2 * h)
          for e in np.eye(2)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
    # the posterior at phi against the dense inverse of H at the mode
    beta, u = obj.mode(phi)
    eta = spec.offset + spec.X @ beta + spec.blocks[0].Z @ u
    w = spec.family.working(spec.y, eta, spec.weights)[1]
    M = np.column_stack([spec.X, spec.blocks[0].Z.toarray()])
    H = M.T @ (M * w[:, None])
    H[spec.p:, spec.p:] += spec.blocks[0].term.Q(phi).toarray()
    Hi = np.linalg.inv(H)
    post = obj.posterior(phi)
    np.testing.assert_allclose(post.vcov_beta, Hi[:spec.p, :spec.p], rtol=1e-6)
    np.testing.assert_allclose(post.latent_variances(), np.diag(Hi)[spec.p:], rtol=1e-6)


def test_glmer_gam_and_fit_take_the_same_field_path(field_data):
    d, mesh = field_data
    f = sg.fit("count ~ spde(x, y, mesh=mesh) + offset(log(time))", d, family="poisson",
               method="ML")
    g = sg.glmer("count ~ spde(x, y, mesh=mesh) + offset(log(time))", d, family="poisson")
    a = sg.gam("count ~ spde(x, y, mesh=mesh) + offset(log(time))", d, family="poisson",
               method="ML")
    for m in (f, g, a):
        assert m.spde_info["path"].startswith("sparse Newton")
        assert m.optinfo.settings["newton"] and m.optinfo.log and m.optinfo.trace
        assert m.state.sparse_posterior is not None
    assert float(g.range) == pytest.approx(float(f.range), rel=1e-10)
    assert float(a.sigma_field) == pytest.approx(float(f.sigma_field), rel=1e-10)
    assert g.loglik == pytest.approx(f.loglik, abs=1e-8)


@pytest.mark.parametrize("reml", [True, False])
def test_gaussian_form_gradient_of_a_field_with_random_effects(field_data, reml):
    """The Gaussian form's exact gradient with a precision block from its pencil (and a
    factor block beside it), against central differences of the criterion."""
    from spatialgamm.engine.gaussian import GaussianObjective

    d, mesh = field_data
    d = d.assign(z=np.log1p(d["count"]), g=np.arange(len(d)) % 7)
    spec = build_model("z ~ x + spde(x, y, mesh=mesh) + (1 | g)", d, env={"mesh": mesh})
    obj = make_objective(spec, "REML" if reml else "ML")
    assert isinstance(obj, GaussianObjective) and obj.system.precision_gradients
    phi = np.array([0.4, np.log(2.0), np.log(0.8)])
    f, g = obj.value_and_grad(phi)
    h = 1e-5
    fd = [(obj(phi + h * e) - obj(phi - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)
