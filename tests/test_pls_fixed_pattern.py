"""The fixed-pattern storage of the least-squares solver agrees with the general one.

For a system of pencil precision blocks (spde() fields), ``PLSSolver`` stores
``A = Z'WZ + P`` on one pattern refilled from index maps (:class:`FixedPatternPLS`) instead
of forming ``Z'WZ`` by sparse products. Forcing the general sparse path on the same model
must give the same solution, log-determinants and Gaussian criterion with its gradient (to
1e-10 relative): the two strategies share no code between the weights and the factor.
The criterion itself is checked against dense linear algebra in test_spde_objective.py.
"""

import numpy as np
import pandas as pd
import pytest
import shapely

from spatialgamm.engine import pls
from spatialgamm.engine.gaussian import GaussianObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.mesh import Mesh
from spatialgamm.model import build_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def spec():
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 4), max_edge=(0.4, 1.5), offset=(0, 1.5))
    rng = np.random.default_rng(11)
    n = 400
    xy = rng.uniform(0.2, [5.8, 3.8], (n, 2))
    x1 = rng.standard_normal(n)
    y = 1 + 0.5 * x1 + np.sin(xy[:, 0]) * np.cos(xy[:, 1] / 2) + rng.normal(0, 0.3, n)
    data = pd.DataFrame({"y": y, "x1": x1, "sx": xy[:, 0], "sy": xy[:, 1]})
    return build_model("y ~ x1 + spde(sx, sy, mesh=mesh)", data, env={"mesh": mesh})


def test_fixed_pattern_storage_matches_sparse_products(spec):
    system = LatentSystem(spec.blocks, spec.n)
    fixed = pls.PLSSolver(system, spec.X, fixed_pattern=True)
    general = pls.PLSSolver(system, spec.X, fixed_pattern=False)
    assert fixed.storage == "fixed-pattern" and general.storage != "fixed-pattern"
    rng = np.random.default_rng(2)
    phi = np.log([1.1, 0.6])
    for w in (np.ones(spec.n), rng.uniform(0.2, 3.0, spec.n)):
        z = spec.y + rng.normal(0, 0.1, spec.n)
        a = fixed.solve(phi, fixed.cross_products(z, w))
        b = general.solve(phi, general.cross_products(z, w))
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
        np.testing.assert_allclose(a.u, b.u, rtol=1e-9, atol=1e-12 * np.abs(b.u).max())
        for key in ("logdet_A", "logdet_P", "logdet_XtVX", "pwrss"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-10)


def test_gaussian_criterion_and_gradient_agree_across_storages(spec, monkeypatch):
    phi = np.log([0.9, 0.5])
    out = []
    for choice in (None, False):
        monkeypatch.setattr(pls.PLSSolver.__init__, "__defaults__", (True, choice, False))
        obj = GaussianObjective(LatentSystem(spec.blocks, spec.n), spec.X, spec.y,
                                spec.offset, spec.weights, True)
        assert (obj.solver.storage == "fixed-pattern") == (choice is None)
        out.append(obj.value_and_grad(phi))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-8)
