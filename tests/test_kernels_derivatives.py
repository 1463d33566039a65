"""The finite-difference stencils (spatialgamm.engine.derivatives) against closed forms.

Every number here is an exact derivative worked out by hand: the stencils must reproduce it
to their truncation order (central differences ``O(h^2)``), one-sided at a bound.
"""

import numpy as np
import pytest

from spatialgamm.engine import derivatives as d
from spatialgamm.families import get_family


def _f(x):
    # f = exp(x0) sin(x1) + x0^2 x2^3
    return float(np.exp(x[0]) * np.sin(x[1]) + x[0] ** 2 * x[2] ** 3)


def _grad(x):
    return np.array([np.exp(x[0]) * np.sin(x[1]) + 2 * x[0] * x[2] ** 3,
                     np.exp(x[0]) * np.cos(x[1]),
                     3 * x[0] ** 2 * x[2] ** 2])


def _hess(x):
    e, s, c = np.exp(x[0]), np.sin(x[1]), np.cos(x[1])
    return np.array([[e * s + 2 * x[2] ** 3, e * c, 6 * x[0] * x[2] ** 2],
                     [e * c, -e * s, 0.0],
                     [6 * x[0] * x[2] ** 2, 0.0, 6 * x[0] ** 2 * x[2]]])


X0 = np.array([0.3, 1.1, -1.7])
FREE = (np.full(3, -np.inf), np.full(3, np.inf))


def test_relative_steps_are_relative_far_from_zero_and_absolute_near_it():
    assert d.relative_steps(np.array([0.0, 0.5, -3.0, 200.0]), 1e-5) == pytest.approx(
        [1e-5, 1e-5, 3e-5, 2e-3], rel=1e-15)


def test_gradient_matches_the_closed_form():
    assert d.gradient(_f, X0, *FREE) == pytest.approx(_grad(X0), rel=1e-8, abs=1e-9)


def test_gradient_is_one_sided_at_a_bound():
    # x0 = 0 on the lower bound 0: f = x^2 has the one-sided slope h (O(h)), not 0 by symmetry
    g = d.gradient(lambda x: float(x[0] ** 2 + x[0]), np.array([0.0]), np.array([0.0]),
                   np.array([1.0]))
    assert g[0] == pytest.approx(1.0 + 1e-5, rel=1e-9)


def test_three_hessians_match_the_closed_form():
    H = _hess(X0)
    assert d.hessian(_f, X0) == pytest.approx(H, rel=1e-6, abs=1e-6)
    H2, g2, f0 = d.hessian_and_gradient(_f, X0, d.relative_steps(X0, 1e-4))
    assert H2 == pytest.approx(H, rel=1e-6, abs=1e-6)
    assert g2 == pytest.approx(_grad(X0), rel=1e-7)
    assert f0 == _f(X0)
    H3 = d.hessian_from_gradient(lambda x: (_f(x), _grad(x)), X0, _grad(X0), *FREE)
    assert H3 == pytest.approx(H, rel=1e-8, abs=1e-9)


def test_jacobian_of_a_matrix_valued_function():
    def f(x):
        return np.array([[x[0] * x[1], np.log(x[1])], [x[0] ** 3, 1.0]])
    x = np.array([2.0, 0.5])
    J = d.jacobian(f, x)
    assert J.shape == (2, 2, 2)
    exact = np.array([[[0.5, 2.0], [0.0, 2.0]], [[12.0, 0.0], [0.0, 0.0]]])
    assert J == pytest.approx(exact, rel=1e-9, abs=1e-9)


def test_elementwise_derivative_of_links():
    eta = np.linspace(-4, 4, 9)
    logit = get_family("binomial").link
    p = logit.linkinv(eta)
    # d mu_eta / d eta for the logit link: p (1 - p) (1 - 2 p)
    assert d.elementwise_derivative(logit.mu_eta, eta) == pytest.approx(
        p * (1 - p) * (1 - 2 * p), rel=1e-8, abs=1e-10)


def test_check_gradient_separates_right_from_wrong():
    assert d.check_gradient(_f, _grad(X0), X0) < 1e-8
    wrong = _grad(X0) + np.array([0.0, 1e-4, 0.0])
    assert d.check_gradient(_f, wrong, X0) > 1e-5
