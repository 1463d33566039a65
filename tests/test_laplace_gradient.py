"""The exact gradient of the u-space Laplace deviance (LaplaceObjective.value_and_gradient,
with_beta_and_gradient) against central differences of the deviance itself, on dense and
sparse (CHOLMOD, selected inversion) systems, scalar, vector-valued and crossed terms, ML,
REML and fixed beta, and at a variance on its boundary.

Central differences with step 1e-5 have truncation error ~1e-10 and PIRLS noise ~1e-9, so
agreement to 1e-6 relative is a real check of the derivative formulae.
"""

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.model import build_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _sim(n: int, n1: int, n2: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g1, g2, x = rng.integers(0, n1, n), rng.integers(0, n2, n), rng.normal(size=n)
    b1, s1, b2 = rng.normal(0, .5, n1), rng.normal(0, .3, n1), rng.normal(0, .4, n2)
    eta = 0.5 + 0.3 * x + b1[g1] + s1[g1] * x + b2[g2]
    return pd.DataFrame({"g1": [f"a{i}" for i in g1], "g2": [f"b{i}" for i in g2], "x": x,
                         "y": rng.poisson(np.exp(eta)),
                         "yb": rng.binomial(1, 1 / (1 + np.exp(-(0.2 * x + b1[g1]))))})


SMALL = _sim(600, 40, 15, 3)
LARGE = _sim(8000, 600, 60, 4)  # q > 400: the sparse (CHOLMOD) back-end
CASES = [
    ("cbind(incidence, size - incidence) ~ period + (1|herd)", "cbpp", "binomial"),
    ("y ~ x + (x|g1)", SMALL, "poisson"),
    ("y ~ x + (x||g1) + (1|g2)", SMALL, "poisson"),
    ("yb ~ x + (1|g1)", SMALL, "binomial"),
    ("y ~ x + (1|g1) + (1|g2)", LARGE, "poisson"),
    ("y ~ x + (x|g1)", LARGE, "poisson"),
]


def _objective(formula, data, family, reml=False):
    if isinstance(data, str):
        data = sg.datasets.load_cbpp()
    spec = build_model(formula, data, family=family)
    system = LatentSystem(spec.blocks, spec.n)
    lap = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights, spec.family,
                           reml=reml)
    assert lap.has_gradient
    return system, lap


@pytest.mark.parametrize("formula,data,family", CASES)
@pytest.mark.parametrize("reml", [False, True])
def test_gradient_at_the_joint_mode(formula, data, family, reml, gradient_check):
    system, lap = _objective(formula, data, family, reml)
    gradient_check(lap.value_and_gradient, lap, system.layout.start * 0.8 + 0.05)


@pytest.mark.parametrize("formula,data,family", CASES)
def test_gradient_with_beta_fixed(formula, data, family, gradient_check):
    system, lap = _objective(formula, data, family)
    phi = system.layout.start * 0.8 + 0.05
    par = np.concatenate([phi, lap.pirls(phi).beta + 0.01])
    gradient_check(lap.with_beta_and_gradient, lap.with_beta, par)


def test_gradient_with_a_variance_at_zero(gradient_check):
    """theta = 0: Lambda vanishes (sparse products then drop its entries). The deviance is
    even in theta (Lambda = theta I), so its derivative there is zero; the other
    parameter's derivative is checked by central differences."""
    system, lap = _objective("y ~ x + (1|g1) + (1|g2)", LARGE, "poisson")
    phi = np.array([0.0, 0.4])
    assert lap(np.array([1e-2, 0.4])) == pytest.approx(lap(np.array([-1e-2, 0.4])), rel=1e-12)
    grad = gradient_check(lap.value_and_gradient, lap, phi)
    assert grad[0] == pytest.approx(0.0, abs=1e-8)
