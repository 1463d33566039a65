"""The optimiser's claims: no stop on a bound that is not a minimum, a verdict that agrees
with its message, and lme4's gradient rule (closed-form objectives)."""

import numpy as np
import pytest

from spatialgamm.engine.optimize import (
    OptSummary,
    ParameterSpace,
    finish_summary,
    optimize,
    scaled_gradient,
)


def test_even_objective_started_on_its_bound_reaches_the_interior_minimum():
    # f is even in x with its minimum at |x| = 1; the gradient at the bound 0 is exactly 0
    f = lambda x: float((x[0] ** 2 - 1) ** 2 + 0.1 * x[1] ** 2)
    s = optimize(f, np.array([0.0, 1.0]), np.array([0.0, -np.inf]), np.array([np.inf] * 2))
    assert s.x[0] == pytest.approx(1.0, abs=1e-6) and s.boundary == []
    assert s.fun == pytest.approx(0.0, abs=1e-12)
    assert any("restart" in line for line in s.log)


def test_sign_free_parameter_passes_through_zero_and_is_made_canonical():
    # minimum at x = -2 in the search's sign; the canonical representative is +2
    f = lambda x: float((x[0] ** 2 - 4) ** 2)
    space = ParameterSpace(np.array([0.0]), np.array([np.inf]), sign_free=np.array([True]),
                           canonical=np.abs)
    s = optimize(f, np.array([0.5]), space)
    assert s.x[0] == pytest.approx(2.0, abs=1e-6)


def test_true_boundary_minimum_is_kept_and_exact():
    # minimum of the even function x^2 + 1 over x >= 0 is on the bound: reported exactly 0
    space = ParameterSpace(np.array([0.0]), np.array([np.inf]), sign_free=np.array([True]),
                           canonical=np.abs)
    s = optimize(lambda x: float(x[0] ** 2 + 1), np.array([1.0]), space,
                 boundary=lambda x: ["x is zero"] if x[0] == 0 else [])
    assert s.x[0] == 0.0 and s.boundary == ["x is zero"] and s.converged


def test_units_do_not_change_the_search():
    # the same objective in x and in x * 1e6: the same answer in the respective units
    f = lambda x: float((x[0] - 3) ** 2 + (x[0] - 3) * x[1] + x[1] ** 2)
    g = lambda z: f(np.array([z[0] * 1e-6, z[1]]))
    a = optimize(f, np.array([0.0, 0.0]), np.array([-np.inf] * 2), np.array([np.inf] * 2))
    space = ParameterSpace(np.array([-np.inf] * 2), np.array([np.inf] * 2),
                           scale=np.array([1e-6, 1.0]))
    b = optimize(g, np.array([0.0, 0.0]), space)
    assert b.x[0] * 1e-6 == pytest.approx(a.x[0], rel=1e-8)
    assert b.x[1] == pytest.approx(a.x[1], abs=1e-8)


def test_converged_never_carries_an_abnormal_message():
    s = OptSummary("L-BFGS-B", np.zeros(1), 0.0, False, 3, 9, np.array([1e-10]), 1e-10,
                   "ABNORMAL_TERMINATION_IN_LNSRCH")
    s = finish_summary(s, False, s.message)
    assert s.converged and "ABNORMAL" not in s.message and s.warnings == []
    assert any("ABNORMAL" in line for line in s.log)


def test_not_converged_is_said():
    s = OptSummary("L-BFGS-B", np.zeros(1), 0.0, True, 3, 9, np.array([0.5]), 0.5, "ok")
    s = finish_summary(s, True, s.message)
    assert not s.converged and "failed to converge" in s.warnings[0]


def test_tiny_gradient_on_a_flat_direction_is_not_a_failure():
    # H nearly singular: the Newton step H^-1 g is large, the gradient itself is 1e-10
    # (lme4's rule takes the smaller of the two per parameter)
    assert scaled_gradient(np.array([[1e-14]]), np.array([1e-10])) <= 1e-10
    assert scaled_gradient(np.eye(2) * 4, np.array([0.4, 0.0])) == pytest.approx(0.1)
