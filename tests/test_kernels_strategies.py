"""The least-squares solver's storage strategies agree with each other.

``PLSSolver`` picks one storage for ``A = Lambda'Z'WZ Lambda + P`` per model: dense LAPACK,
CHOLMOD (symbolic analysis once), SuperLU, or the batched block-diagonal factor
(``BlockFactor``) when every term sits on one grouping factor. The choice must not change
any number: here each strategy is forced in turn on the same designs and the REML deviance,
its analytic gradient and the Laplace deviance of a binomial GLMM must agree with the dense
strategy to 1e-10 (relative). No strategy is compared with itself, and the dense one is
checked against lme4's sleepstudy deviance (tests/reference/sleepstudy.json) elsewhere.
"""

from functools import partial

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.engine import linalg, pls
from spatialgamm.engine import system as _system_module
from spatialgamm.engine.gaussian import GaussianObjective
from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.model import build_model


@pytest.fixture(autouse=True)
def _small_dense_designs_stay_dense(monkeypatch):
    """The strategies are tested on small designs: keep them dense as large ones are."""
    monkeypatch.setattr(_system_module, "DENSE_DESIGN_MIN_SIZE", 0)

STRATEGIES = ["dense", "cholmod", "splu", "blocks"]
BLOCKS = pls._block_structure


def _crossed(seed=0):
    rng = np.random.default_rng(seed)
    n = 400
    g1, g2 = rng.integers(0, 30, n), rng.integers(0, 12, n)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + rng.normal(0, 0.7, 30)[g1] + rng.normal(0, 0.4, 12)[g2]
         + 0.3 * x * rng.normal(size=30)[g1] + rng.normal(0, 1, n))
    return pd.DataFrame({"y": y, "x": x, "g1": [f"a{i}" for i in g1],
                         "g2": [f"b{i}" for i in g2]})


def _one_factor(seed=1):
    rng = np.random.default_rng(seed)
    n, G = 300, 40
    g = rng.integers(0, G, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    y = 2 + x + rng.normal(0, 1, G)[g] + 0.5 * x * rng.normal(size=G)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{i}" for i in g]})


# (formula, data, whether every term sits on one grouping factor: BlockFactor applies)
DESIGNS = {
    "sleepstudy (Days|Subject)": ("Reaction ~ Days + (Days | Subject)",
                                  sg.datasets.load_sleepstudy, True),
    "two terms on one factor": ("y ~ x + (1 | g) + (0 + x | g)", _one_factor, True),
    "correlated slope, one factor": ("y ~ x + z + (x | g)", _one_factor, True),
    "crossed (x|g1) + (1|g2)": ("y ~ x + (x | g1) + (1 | g2)", _crossed, False),
}


@pytest.fixture
def force(monkeypatch):
    """Build objectives with one storage strategy (None: the solver's own choice)."""
    def build(make, strategy):
        monkeypatch.undo()
        if strategy == "blocks":  # also below its size threshold (sleepstudy's q = 36)
            monkeypatch.setattr(pls, "_block_structure", partial(BLOCKS, min_q=0))
        else:
            monkeypatch.setattr(pls, "_block_structure", lambda *a, **k: None)
        if strategy in ("dense", "cholmod", "splu"):
            monkeypatch.setattr(pls, "choose_backend", lambda *a, **k: strategy)
        obj = make()
        monkeypatch.undo()
        return obj
    return build


def _points(system):
    lay = system.layout
    start = np.where(np.isfinite(lay.start), lay.start, 1.0)
    rng = np.random.default_rng(5)
    pts = [start]
    for _ in range(2):
        p = start * np.exp(rng.normal(0, 0.3, len(start))) + rng.normal(0, 0.2, len(start))
        pts.append(np.clip(p, lay.lower + 0.05, lay.upper))
    return pts


@pytest.mark.parametrize("design", list(DESIGNS))
def test_gaussian_deviance_and_gradient_agree_across_strategies(design, force):
    formula, load, blockwise = DESIGNS[design]
    spec = build_model(formula, load())
    system = LatentSystem(spec.blocks, spec.n)

    def make():
        return GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, True)

    ref = force(make, "dense")
    assert ref.solver.backend == "dense"
    strategies = [s for s in STRATEGIES[1:] if blockwise or s != "blocks"]
    for strategy in strategies:
        if strategy == "cholmod" and not linalg.HAVE_CHOLMOD:
            continue
        obj = force(make, strategy)
        assert obj.solver.backend == strategy, (strategy, obj.solver.backend)
        for phi in _points(system):
            d0, g0 = ref.value_and_grad(phi)
            d1, g1 = obj.value_and_grad(phi)
            assert d1 == pytest.approx(d0, rel=1e-10, abs=1e-10), (design, strategy)
            scale = max(1.0, float(np.max(np.abs(g0))))
            np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-10 * scale,
                                       err_msg=f"{design}: {strategy}")


@pytest.mark.parametrize("design", ["cbpp (1|herd)", "crossed binary (1|g1) + (1|g2)"])
def test_laplace_deviance_agrees_across_strategies(design, force):
    if design.startswith("cbpp"):
        d = sg.datasets.load_cbpp()
        formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    else:
        d = _crossed(3)
        d["y"] = (d["y"] > 1).astype(float)
        formula = "y ~ x + (1 | g1) + (1 | g2)"
    spec = build_model(formula, d, "binomial")
    system = LatentSystem(spec.blocks, spec.n)

    def make():
        return LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                spec.family)

    ref = force(make, "dense")
    assert ref.solver.joint.backend == "dense"
    for strategy in ("cholmod", "splu"):
        if strategy == "cholmod" and not linalg.HAVE_CHOLMOD:
            continue
        obj = force(make, strategy)
        assert obj.solver.joint.backend == obj.solver.uonly.backend == strategy
        for phi in _points(system):
            assert obj(phi) == pytest.approx(ref(phi), rel=1e-10), (design, strategy)


def _hsgp_data(seed=11, n=1500):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 4, (n, 2))
    x = rng.normal(size=n)
    f = np.sin(xy[:, 0]) * np.cos(0.7 * xy[:, 1])
    return pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x,
                         "y": 1 + 0.5 * x + f + rng.normal(0, 0.4, n),
                         "w": rng.uniform(0.5, 2.0, n)})


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reml", [True, False])
def test_crossprod_strategy_agrees_with_dense_path(weighted, reml, monkeypatch):
    """The cross-products strategy (dense parameter-free design, Gaussian: Z'WZ once, no
    n-vector per evaluation) against the dense path it replaces, which forms the residuals
    over the data for the gradient: deviance and gradient to 1e-10. The weighted case runs
    the chunked rank-k updates (chunks made small here so several are taken)."""
    spec = build_model("y ~ x + hsgp(sx, sy, m=7, c=1.4, kernel='matern32')", _hsgp_data(),
                       weights="w" if weighted else None)
    system = LatentSystem(spec.blocks, spec.n)
    monkeypatch.setattr(pls, "_CHUNK", 256)
    obj = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, reml)
    assert obj.solver.backend == "crossprod"
    monkeypatch.setattr(pls, "crossprod_applies", lambda *a: False)
    ref = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights, reml)
    assert ref.solver.backend == "dense"
    for phi in _points(system):
        d0, g0 = ref.value_and_grad(phi)
        d1, g1 = obj.value_and_grad(phi)
        assert d1 == pytest.approx(d0, rel=1e-10, abs=1e-10)
        scale = max(1.0, float(np.max(np.abs(g0))))
        np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-10 * scale)
