"""The optimiser's Newton option goes through the same claim checks as its L-BFGS path.

Synthetic objectives with closed-form minima, given the interface the Newton search needs
(``evaluate``, ``remember``, exact gradients and a positive definite Newton matrix): one
whose Newton search stops on a bound that is only a local minimum, one started exactly at
a saddle point. In both the probes (:func:`_probe_bounds`) or the observed Hessian's
negative curvature must find the lower region, the search must restart from there (logged
in ``OptSummary.log``) and end at the true minimum.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import brentq

from spatialgamm.engine.optimize import ParameterSpace, optimize


class Synthetic:
    """``f``, its gradient, and a Newton matrix ``ai(phi)`` (default the identity), positive
    definite everywhere as an average-information matrix is."""

    failures = (FloatingPointError,)
    gaussian = False

    def __init__(self, f, grad, ai=None):
        self.f, self.g = f, grad
        self.ai = ai or (lambda phi: np.eye(len(phi)))
        self.inner_tol = 1e-3
        self.n_evals = self.n_factorizations = 0
        self.observed = None

    def evaluate(self, phi, start=None, keep=True):
        self.n_evals += 1
        self.n_factorizations += 1
        phi = np.asarray(phi, dtype=float)
        return SimpleNamespace(phi=phi, f=float(self.f(phi)), grad=self.g(phi),
                               ai=self.ai(phi), dx=[], beta=np.zeros(0), u=np.zeros(0),
                               inner=1)

    def remember(self, ev):
        self.optimum = ev

    def __call__(self, phi):
        return self.evaluate(phi, keep=False).f


def test_newton_on_a_local_bound_minimum_restarts_from_a_lower_probe():
    # f(x) = x - 6 exp(-(x - 3)^2): increasing at the bound 0 (a local minimum there),
    # global minimum inside where 1 + 12 (x - 3) exp(-(x - 3)^2) = 0, below x = 3
    def curvature(x):  # |f''|, at least 1
        e = np.exp(-(x[0] - 3) ** 2)
        return np.array([[max(1.0, abs(12 * e * (1 - 2 * (x[0] - 3) ** 2)))]])

    obj = Synthetic(lambda x: x[0] - 6 * np.exp(-(x[0] - 3) ** 2),
                    lambda x: np.array([1 + 12 * (x[0] - 3) * np.exp(-(x[0] - 3) ** 2)]),
                    curvature)
    truth = brentq(lambda t: 1 + 12 * (t - 3) * np.exp(-(t - 3) ** 2), 2.5, 3.0)
    s = optimize(obj, np.array([0.2]), ParameterSpace.box(np.array([0.0]), np.array([10.0])),
                 newton=True)
    assert any("on the bound of parameter(s) [0]" in line and "restart 1" in line
               for line in s.log)
    assert s.x[0] == pytest.approx(truth, abs=1e-3)
    assert s.converged and obj.optimum.phi[0] == s.x[0]


def test_newton_started_at_a_saddle_leaves_along_negative_curvature():
    # f = x^2 - y^2 + y^4 / 4: a saddle at 0 (gradient zero), minima at y = +-sqrt(2), f = -1
    obj = Synthetic(lambda p: p[0] ** 2 - p[1] ** 2 + p[1] ** 4 / 4,
                    lambda p: np.array([2 * p[0], -2 * p[1] + p[1] ** 3]))
    space = ParameterSpace.box(np.full(2, -10.0), np.full(2, 10.0))
    s = optimize(obj, np.zeros(2), space, newton=True)
    assert any("not a minimum" in line for line in s.log)
    np.testing.assert_allclose(np.abs(s.x), [0.0, np.sqrt(2)], atol=1e-3)
    assert s.fun == pytest.approx(-1.0, abs=1e-6)
    assert s.converged and s.settings["newton"] and s.settings["max_restarts"] == 3
