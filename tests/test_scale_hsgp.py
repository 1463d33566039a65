"""Hilbert-space GPs at scale (issue 17): the cross-products strategy (many rows), the n x n
form (many more basis functions than rows) and the advice on m and c.

Independent references: the profiled (RE)ML deviance written directly from the marginal
covariance ``Sigma = sigma^2 (I + Z Lambda Lambda' Z')`` (n x n, numpy, no engine code), and
the fits of the solver path each strategy replaces (forced through the monkeypatched
strategy tests). The m/c advice is checked against the captured share of the prior variance
it is meant to restore, computed from the spectral density, not from the rule.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.engine import pls
from spatialgamm.engine import system as _system_module
from spatialgamm.engine.gaussian import GaussianObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.model import build_model


@pytest.fixture(autouse=True)
def _small_dense_designs_stay_dense(monkeypatch):
    """The strategies are tested on small designs: keep them dense as large ones are."""
    monkeypatch.setattr(_system_module, "DENSE_DESIGN_MIN_SIZE", 0)


def _sim(n=1200, seed=3):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 5, (n, 2))
    x = rng.normal(size=n)
    f = np.sin(1.3 * xy[:, 0]) * np.cos(0.8 * xy[:, 1])
    return pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x,
                         "y": 1 + 0.5 * x + f + rng.normal(0, 0.3, n)})


def _objective(spec, reml, strategy_off=None, monkeypatch=None):
    system = LatentSystem(spec.blocks, spec.n)
    if strategy_off is not None:
        monkeypatch.setattr(pls, strategy_off, lambda *a: False)
    obj = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, reml)
    if strategy_off is not None:
        monkeypatch.undo()
    return obj


def _closed_form(spec, phi, reml):
    """lme4's profiled deviance from the n x n marginal covariance (unit weights)."""
    Z = np.asarray(spec.blocks[0].Z)
    lam = spec.blocks[0].term.lambda_values(phi)
    S = np.eye(spec.n) + (Z * lam**2) @ Z.T
    X, y = spec.X, spec.y
    Si = np.linalg.inv(S)
    XSX = X.T @ Si @ X
    beta = np.linalg.solve(XSX, X.T @ Si @ y)
    r = y - X @ beta
    r2 = float(r @ Si @ r)
    dof = spec.n - spec.p if reml else spec.n
    d = np.linalg.slogdet(S)[1] + dof * (1 + np.log(2 * np.pi * r2 / dof))
    return d + (np.linalg.slogdet(XSX)[1] if reml else 0.0)


@pytest.mark.parametrize("reml", [True, False])
def test_strategies_match_the_marginal_likelihood(reml):
    """Both new strategies against the deviance written from Sigma directly."""
    cases = [("y ~ x + hsgp(sx, sy, m=6, c=1.5, kernel='matern52')", _sim(300), "crossprod"),
             ("z ~ x + hsgp(x, y, m=12, c=1.25)", sg.datasets.load_topo(), "nform")]
    for formula, data, backend in cases:
        spec = build_model(formula, data)
        obj = _objective(spec, reml)
        assert obj.solver.backend == backend
        for phi in ([0.0, 1.0], [0.4, 0.3], [-0.5, 2.5]):
            phi = np.array(phi) + spec.blocks[0].phi_start * [1, 0]
            assert obj(phi) == pytest.approx(_closed_form(spec, phi, reml), rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_nform_agrees_with_the_q_form(weighted, monkeypatch):
    """The n x n form against the q x q dense solve it replaces (2,500 -> 144 columns here
    to keep the reference fast): deviance and gradient to 1e-10, REML and ML, prior
    weights."""
    d = sg.datasets.load_topo()
    d["w"] = np.random.default_rng(1).uniform(0.5, 2.0, len(d))
    spec = build_model("z ~ x + hsgp(x, y, m=12, c=1.25)", d, weights="w" if weighted else None)
    for reml in (True, False):
        obj = _objective(spec, reml)
        ref = _objective(spec, reml, "nform_applies", monkeypatch)
        assert obj.solver.backend == "nform" and ref.solver.backend != "nform"
        start = spec.blocks[0].phi_start
        for phi in (start, start + [0.5, 0.7], start + [-0.6, 3.0]):
            d0, g0 = ref.value_and_grad(phi)
            d1, g1 = obj.value_and_grad(phi)
            assert d1 == pytest.approx(d0, rel=1e-10)
            np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-10 * max(1, np.abs(g0).max()))


@pytest.mark.parametrize("case", ["crossprod", "nform"])
def test_fits_equal_the_replaced_path(case, monkeypatch):
    """The fit (estimates, log-likelihood, fitted values, prediction SEs) equals the one the
    replaced solver path gives: log-likelihood to 1e-8, fixed effects to 1e-6. The two
    searches see deviances and gradients equal to 1e-10 but stop at different points
    within the optimiser's tolerance on this flat surface (2e-6 relative in phi here), so
    phi is held to 1e-5 and each optimum is checked to be as good under the other path's
    objective."""
    if case == "crossprod":
        formula, data, off = ("y ~ x + hsgp(sx, sy, m=8, c=1.4, kernel='matern32')", _sim(),
                              ("crossprod_applies",))
    else:
        formula, data, off = ("z ~ x + hsgp(x, y, m=12, c=2.5)", sg.datasets.load_topo(),
                              ("nform_applies", "crossprod_applies"))
    new = sg.fit(formula, data)
    assert new.state.objective.solver.backend == case
    for name in off:  # main's path before both strategies
        monkeypatch.setattr(pls, name, lambda *a: False)
    old = sg.fit(formula, data)
    monkeypatch.undo()
    assert old.state.objective.solver.backend == "dense"
    np.testing.assert_allclose(new.state.phi, old.state.phi, rtol=1e-5)
    np.testing.assert_allclose(new.state.beta, old.state.beta, rtol=1e-6)
    assert new.loglik == pytest.approx(old.loglik, abs=1e-8)
    f_old, f_new = old.state.objective, new.state.objective
    assert f_old(new.state.phi) == pytest.approx(f_new(old.state.phi), abs=1e-8)
    np.testing.assert_allclose(new.fitted, old.fitted, rtol=1e-6, atol=1e-8)
    nd = data.iloc[:5]
    p0, p1 = old.predict(nd, se_fit=True), new.predict(nd, se_fit=True)
    np.testing.assert_allclose(p1["fit"], p0["fit"], rtol=1e-6)
    np.testing.assert_allclose(p1["se_fit"], p0["se_fit"], rtol=1e-5)


def test_many_basis_functions_on_few_rows_fit():
    """Issue 17's case: m = 50 x 50 (2,500 functions) on topo's 52 points takes the n-form
    and warns that c, not m, is what is short."""
    with pytest.warns(UserWarning, match=r"box is too small.*raise c= from 1.25 to at least"):
        fit = sg.fit("z ~ 1 + hsgp(x, y, m=50, c=1.25)", sg.datasets.load_topo())
        _ = fit.gp_params
    assert fit.state.objective.solver.backend == "nform"
    assert np.isfinite(fit.loglik)


def test_advice_raises_c_when_the_box_is_short():
    """topo's fitted range (1.21, Matern 3/2): more functions at c = 1.25 do not help (the
    captured share stays at 63% from m = 50 to 80), the advised c with the advised m does."""
    d = sg.datasets.load_topo()
    rng_ = 1.2136

    def term(m, c):
        return build_model(f"z ~ 1 + hsgp(x, y, m={m}, c={c})", d).blocks[0].term

    t = term(50, 1.25)
    adv = t.basis_advice(rng_)
    assert adv.c_too_small and adv.exact_rule
    assert term(80, 1.25).variance_captured(rng_) < 0.65
    follow = term(max(adv.m_needed), adv.c_needed)
    assert follow.variance_captured(rng_) > 0.95
    assert not follow.basis_advice(rng_).c_too_small


@pytest.mark.parametrize("kernel", ["matern32", "matern52", "exp_quad"])
def test_advice_raises_m_when_the_range_is_short(kernel):
    """A short range in a wide-enough box: the advice is m, and the advised m captures more
    than 95% of the variance (each kernel's own rule)."""
    d = pd.DataFrame({"x": np.linspace(0, 10, 80)})
    d["y"] = np.sin(d["x"])

    def term(m):
        return build_model(f"y ~ 1 + hsgp(x, kernel='{kernel}', m={m}, c=1.25)",
                           d).blocks[0].term

    adv = term(4).basis_advice(0.3)
    assert adv.m_too_small and not adv.c_too_small
    assert term(4).variance_captured(0.3) < 0.6
    assert term(adv.m_needed[0]).variance_captured(0.3) > 0.95


def test_rough_kernel_advice_is_labelled_a_lower_bound():
    d = pd.DataFrame({"x": np.linspace(0, 10, 80)})
    d["y"] = np.sin(4 * d["x"]) + np.random.default_rng(2).normal(0, 0.2, 80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sg.fit("y ~ 1 + hsgp(x, kernel='exponential', m=4, range=0.3, c=1.25)", d)
    with pytest.warns(UserWarning, match=r"raise m= from 4 to at least \d+.*lower bound"):
        _ = fit.gp_params
