"""The u-space Laplace form's exact gradient for precision blocks (spde() beside bars).

A Poisson model with an spde() field and a random intercept is not the precision form (two
latent blocks), so it is fitted in u-space; its gradient in the field's (log range, log
sigma) and the intercept's parameter is exact (selected inversion for ``tr(A^-1 dP)``, the
mode's move by solves). Checked against central differences of the Laplace deviance itself
(ML and REML, the joint mode; and glmer's second stage with beta held), on simulated data.
"""

import numpy as np
import pandas as pd
import pytest
import shapely

from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.objective import make_objective
from spatialgamm.mesh import Mesh
from spatialgamm.model import build_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def spec():
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 4), max_edge=(0.6, 1.5), offset=(0, 1.5))
    rng = np.random.default_rng(5)
    n, G = 300, 15
    xy = rng.uniform(0.2, [5.8, 3.8], (n, 2))
    g = rng.integers(0, G, n)
    x1 = rng.standard_normal(n)
    eta = 0.5 + 0.3 * x1 + 0.6 * np.sin(xy[:, 0]) * np.cos(xy[:, 1] / 2) \
        + rng.normal(0, 0.4, G)[g]
    data = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x1": x1, "sx": xy[:, 0],
                         "sy": xy[:, 1], "g": [f"g{i}" for i in g]})
    return build_model("y ~ x1 + spde(sx, sy, mesh=mesh) + (1 | g)", data, family="poisson",
                       env={"mesh": mesh})


def _central(f, x, h=1e-4):
    out = np.zeros(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_exact_gradient_matches_central_differences(spec, method):
    obj = make_objective(spec, method)
    assert isinstance(obj, LaplaceObjective) and obj.has_gradient
    assert obj.system.has_precision
    phi = _layout(spec, np.array([0.3, np.log(0.5), np.log(0.7)]))
    f, g = obj.value_and_grad(phi)
    fd = _central(obj, phi)
    assert np.isfinite(f)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4)


def test_exact_gradient_with_beta_held(spec):
    obj = make_objective(spec, "ML")
    phi = _layout(spec, np.array([0.3, np.log(0.5), np.log(0.7)]))
    par = np.concatenate([phi, [0.4, 0.25]])
    f, g = obj.with_beta_and_gradient(par)
    np.testing.assert_allclose(g, _central(obj.with_beta, par), rtol=1e-5, atol=1e-4)


def _layout(spec, values):
    """(theta of (1|g), log range, log sigma) in the order of the model's blocks."""
    out = []
    for b in spec.blocks:
        out.extend(values[:1] if b.kind == "factor" else values[1:])
    return np.array(out)
