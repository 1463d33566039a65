"""inla() speed paths (issue 15 item 6): value-only Laplace evaluations and exact gradients
for families whose Laplace step uses the observed information.

1. ``FieldObjective.value`` (log-determinants and the mode, no selected inverse, no gradient)
   is what tabulating ``log p(y | theta)`` needs; it must equal the full evaluation's value
   (an implementation check: the same mode and factorisation, to 1e-10).
2. Non-canonical links (negative binomial, Gamma with a log link) used central differences
   for the mode search's gradient; the engine's exact u-space gradient now serves them with
   the observed weights' derivative. The gradient is checked against differences of the
   value, and the mode the search finds against a fine Nelder-Mead on the log posterior
   (values only), with fewer Laplace evaluations than the difference gradient took.
"""

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.optimize import minimize

from spatialgamm.bayes.engine_adapter import EngineAdapter
from spatialgamm.bayes.fit import inla
from spatialgamm.bayes.hyper import LogPosterior, find_mode
from spatialgamm.bayes.observed import ObservedInformation
from spatialgamm.engine.objective import make_objective
from spatialgamm.engine.precform import FieldObjective
from spatialgamm.families import get_family
from spatialgamm.mesh import Mesh
from spatialgamm.model import build_model


@pytest.fixture(scope="module")
def mesh():
    return Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(0.8, 2.0), offset=(0, 2))


def _field_data(kind: str, seed: int, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 6, (n, 2))
    f = 0.8 * np.sin(xy[:, 0] / 1.3) * np.cos(xy[:, 1] / 1.6)
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "c": rng.normal(size=n),
                      "time": rng.uniform(0.5, 2.0, n)})
    eta = 0.4 + 0.3 * d.c + f
    if kind == "poisson":
        d["z"] = rng.poisson(d.time * np.exp(eta))
    elif kind == "binomial":
        d["z"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    else:
        d["z"] = eta + 0.4 * rng.normal(size=n)
    return d


CASES = [("poisson", "z ~ c + spde(x, y, mesh=mesh) + offset(log(time))", "ML"),
         ("poisson", "z ~ c + spde(x, y, mesh=mesh, alpha=1.5)", "REML"),
         ("binomial", "z ~ c + spde(x, y, mesh=mesh)", "REML"),
         ("gaussian", "z ~ c + spde(x, y, mesh=mesh)", "REML"),
         ("poisson", "z ~ c + spde(x, y, mesh=mesh, constr=True)", "REML"),
         ("gaussian", "z ~ c + spde(x, y, mesh=mesh, constr=True)", "ML")]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_value_only_equals_full_evaluation(mesh, case):
    kind, formula, method = CASES[case]
    d = _field_data(kind, 10 + case)
    spec = build_model(formula, d, kind, env={"mesh": mesh})
    obj = make_objective(spec, method)
    assert isinstance(obj, FieldObjective)
    phis = (np.log([1.5, 0.7]), np.log([4.0, 0.3]), np.log([0.8, 1.4]))
    # at the engine's tolerance the two differ by the second order of PIRLS's last step
    # (the full one corrects log|H| to first order; the value refactors at the mode): both
    # within the Newton decrement's tolerance of the Laplace value at the exact mode
    for phi in phis:
        start = obj.glm_start()
        diff = obj.value(phi, start).f - obj.evaluate(phi, start, keep=False).f
        assert abs(diff) < obj.inner_tol
    obj.inner_tol = 1e-14  # modes to rounding: the two are the same number
    for phi in phis:
        start = obj.glm_start()
        full = obj.evaluate(phi, start, keep=False)
        val = obj.value(phi, start)
        assert val.f == pytest.approx(full.f, rel=0, abs=1e-10 * max(1.0, abs(full.f)))
        np.testing.assert_allclose(val.beta, full.beta, rtol=0, atol=1e-10)
        np.testing.assert_allclose(val.u, full.u, rtol=0, atol=1e-10)


def test_adapter_logml_equals_laplace_point(mesh):
    """The lattice's value (``EngineAdapter.logml``, value-only) equals the conditional
    Gaussian's (``laplace_at``, with selected inverse), fixed-effects prior included."""
    d = _field_data("poisson", 3)
    spec = build_model("z ~ c + spde(x, y, mesh=mesh) + offset(log(time))", d, "poisson",
                       env={"mesh": mesh})
    ad = EngineAdapter(spec, np.full(spec.p, 0.001), np.zeros(spec.p))
    assert ad.field_path
    ad.field.inner_tol = 1e-14  # modes to rounding (see above)
    for th in (np.log([1.5, 0.7]), np.log([3.0, 0.4])):
        ad._start = None  # both from the GLM start
        a = ad.logml(th)
        ad._start = None
        b = ad.laplace_at(th).logml
        assert a == pytest.approx(b, rel=0, abs=1e-10 * abs(b))


def _glmm_data(kind: str, seed: int, n: int = 300, groups: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    eta = 0.8 + 0.4 * x + rng.normal(0, 0.6, groups)[g]
    mu = np.exp(eta)
    y = rng.negative_binomial(4.0, 4.0 / (4.0 + mu)) if kind == "nb" else \
        rng.gamma(3.0, mu / 3.0)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


def _adapter(kind: str, seed: int) -> EngineAdapter:
    d = _glmm_data(kind, seed)
    fam = "nb" if kind == "nb" else get_family("Gamma", link="log")
    spec = build_model("y ~ x + (1 | g)", d, fam)
    return EngineAdapter(spec, np.zeros(spec.p), np.zeros(spec.p))


@pytest.mark.parametrize("kind", ["nb", "gamma"])
def test_observed_information_gradient_is_exact(kind):
    ad = _adapter(kind, 5)
    assert ad.lap.has_gradient  # the exact u-space gradient, not differences
    th = ad.theta_start() + np.array([0.3, -0.2])
    v, g = ad.value_and_grad(th)
    h = 1e-4
    fd = []
    for k in range(len(th)):
        e = np.zeros(len(th))
        e[k] = h
        fd.append((ad.value_and_grad(th + e)[0] - ad.value_and_grad(th - e)[0]) / (2 * h))
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


def _pirls_runs(ad: EngineAdapter) -> int:
    return ad.lap.n_evals


@pytest.mark.parametrize("kind", ["nb", "gamma"])
def test_exact_gradient_mode_matches_nelder_mead_with_fewer_evaluations(kind, monkeypatch):
    from spatialgamm.bayes.fit import _resolve_priors

    ad = _adapter(kind, 7)
    hp, _ = _resolve_priors(ad, None, None, None)  # INLA's default priors
    priors = [(s.index, hp[s.term]) for s in ad.slots]
    lp = LogPosterior(ad, priors)
    th0 = ad.theta_start()
    n0 = _pirls_runs(ad)
    mode = find_mode(lp, th0)
    exact_runs = _pirls_runs(ad) - n0
    # the reference: Nelder-Mead on values alone, tight tolerances
    ref = minimize(lambda t: -lp.value_and_grad(t)[0], mode + 0.2, method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})
    np.testing.assert_allclose(mode, ref.x, atol=2e-4)
    assert -ref.fun <= lp.value_and_grad(mode)[0] + 1e-7
    # the same search on difference gradients (as before) costs more Laplace evaluations
    monkeypatch.setattr(ObservedInformation, "newton_weights", False)
    ad2 = _adapter(kind, 7)
    assert not ad2.lap.has_gradient
    n0 = _pirls_runs(ad2)
    mode_fd = find_mode(LogPosterior(ad2, priors), th0)
    assert _pirls_runs(ad2) - n0 > exact_runs
    np.testing.assert_allclose(mode_fd, ref.x, atol=2e-4)


def test_inla_nb_fit_runs_on_the_exact_gradient():
    d = _glmm_data("nb", 11)
    fit = inla("y ~ x + (1 | g)", d, family="nb")
    assert fit.adapter.lap.has_gradient
    assert np.all(np.isfinite(fit.summary_fixed["mean"]))


def test_integration_point_without_gradient_equals_full(mesh):
    """``laplace_at`` on the sparse field path skips the gradient (its prior traces, the
    mode's derivatives, the Newton matrix) but keeps the value and the posterior."""
    d = _field_data("poisson", 4)
    spec = build_model("z ~ c + spde(x, y, mesh=mesh, alpha=1.5)", d, "poisson",
                       env={"mesh": mesh})
    th = np.log([2.0, 0.6])
    pts = []
    for gradient in (False, True):
        ad = EngineAdapter(spec, np.full(spec.p, 0.001), np.zeros(spec.p))
        pts.append(ad.laplace_at(th, gradient=gradient))
    a, b = pts
    assert np.all(np.isnan(a.grad_flat)) and np.all(np.isfinite(b.grad_flat))
    assert a.logml == b.logml
    np.testing.assert_array_equal(a.beta, b.beta)
    np.testing.assert_array_equal(a.post.latent_variances(), b.post.latent_variances())
