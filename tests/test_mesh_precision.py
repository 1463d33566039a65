"""SPDE Matern precision: the Matern covariance it approximates, its structure, PC prior.

Independent references: the closed-form Matern correlation
``2^(1-nu) / Gamma(nu) (kappa d)^nu K_nu(kappa d)`` (scipy.special.kv) and marginal SD
``sigma``; the formulas of DESIGN.md section 7 written out with scipy operations; finite
differences for derivatives; numerical quadrature for the PC prior's tail probabilities.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from scipy import integrate
from scipy.special import gamma, kv

from spatialgamm.engine.selinv import selected_inverse
from spatialgamm.mesh import (
    Mesh,
    SPDEOperator,
    matern_precision,
    matern_scales,
    parsimonious_coefficients,
    pc_prior_logdensity,
)


def _matern_cor(d, nu, kappa):
    x = kappa * np.asarray(d, float)
    return 2 ** (1 - nu) / gamma(nu) * x**nu * kv(nu, x)


@pytest.fixture(scope="module")
def big_square():
    # [3, 7]^2 meshed at range / 10, extended by 3 ranges at range / 2.5: the whole mesh
    # spans [0, 10]^2, so the centre is 5 ranges from the Neumann boundary
    return Mesh.build(boundary=shapely.box(3, 3, 7, 7), max_edge=(0.1, 0.4), offset=(0, 3))


def _implied_correlations(mesh, alpha, distances):
    """Correlation between the centre and points at the given distances (8 directions)."""
    op = SPDEOperator(mesh, alpha)
    Q = op.Q(1.0, 1.0)
    S = selected_inverse(Q)  # covariances on the factor's pattern (incl. each triangle)
    centre = np.array([[5.0, 5.0]])
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pts = np.array([centre[0] + d * np.array([np.cos(a), np.sin(a)])
                    for d in distances for a in ang])
    A0, A = mesh.projector(centre), mesh.projector(pts)
    # one solve for the covariances with the centre
    lu = sp.linalg.splu(Q.tocsc())
    cov = A @ lu.solve(A0.toarray().ravel())

    def point_var(Ap):
        Ap = Ap.tocsr()
        out = []
        for i in range(Ap.shape[0]):
            idx = Ap.indices[Ap.indptr[i]:Ap.indptr[i + 1]]
            w = Ap.data[Ap.indptr[i]:Ap.indptr[i + 1]]
            out.append(w @ S[idx][:, idx].toarray() @ w)
        return np.array(out)

    v0, v = point_var(A0)[0], point_var(A)
    return (cov / np.sqrt(v0 * v)).reshape(len(distances), 8), np.sqrt(v0), np.sqrt(v)


def test_alpha2_reproduces_matern_nu1(big_square):
    # Key physics check: alpha = 2 in 2-D is Matern nu = 1 with kappa = sqrt(8) / range.
    d = np.array([0.25, 0.5, 1.0, 1.5])
    cor, sd0, sd = _implied_correlations(big_square, 2.0, d)
    exact = _matern_cor(d, 1.0, np.sqrt(8.0))  # = (kappa d) K_1(kappa d)
    assert np.abs(cor - exact[:, None]).max() < 0.03
    assert abs(sd0 - 1.0) < 0.10 and np.abs(sd - 1.0).max() < 0.10
    # the correlation at distance `range` is about 0.14, as the parameterisation promises
    assert cor[2].mean() == pytest.approx(0.14, abs=0.01)


def test_alpha_three_halves_approximates_exponential(big_square):
    # INLA's parsimonious fractional approximation (alpha = 3/2, nu = 1/2: exponential
    # correlation exp(-2 d / range)). It is an approximation of the operator, not only of
    # the mesh: it is accurate to about 0.05 in correlation away from d = 0 and a few % in SD.
    d = np.array([0.5, 1.0, 1.5])
    cor, sd0, sd = _implied_correlations(big_square, 1.5, d)
    exact = np.exp(-2.0 * d)
    assert np.abs(cor - exact[:, None]).max() < 0.05
    assert abs(sd0 - 1.0) < 0.05


def test_parsimonious_coefficients_match_design():
    # DESIGN.md section 7: b is about (0.9375, 1.875, 0.117) for alpha = 3/2
    np.testing.assert_allclose(parsimonious_coefficients(1.5), [0.9375, 1.875, 0.117], atol=1e-3)
    with pytest.raises(ValueError, match="1 < alpha < 2"):
        parsimonious_coefficients(2.0)


def test_scales_closed_form():
    # nu = 1: kappa = sqrt(8) / range, tau = 1 / (sqrt(4 pi) kappa sigma)
    kappa, tau = matern_scales(3.0, 2.0, alpha=2)
    assert kappa == pytest.approx(np.sqrt(8) / 3.0)
    assert tau == pytest.approx(1 / (np.sqrt(4 * np.pi) * kappa * 2.0))
    # nu = 1/2: tau^2 = Gamma(1/2) / (Gamma(3/2) 4 pi kappa sigma^2) = 1 / (2 pi kappa sigma^2)
    kappa, tau = matern_scales(1.0, 1.0, alpha=1.5)
    assert kappa == pytest.approx(2.0)
    assert tau**2 == pytest.approx(1 / (2 * np.pi * 2.0))
    with pytest.raises(ValueError, match="nu = 0"):
        matern_scales(1.0, 1.0, alpha=1)
    with pytest.raises(ValueError, match="range"):
        matern_scales(-1.0, 1.0)


@pytest.fixture(scope="module")
def small_mesh():
    return Mesh.build(boundary=shapely.box(0, 0, 3, 2), max_edge=0.4, offset=(0, None))


def test_precision_matches_design_formulas(small_mesh):
    C, Ct, G = small_mesh.fem()
    Cti = sp.diags(1 / Ct.diagonal())
    kappa, tau = 1.7, 0.6
    op2, op1 = SPDEOperator(small_mesh, 2), SPDEOperator(small_mesh, 1)
    Q2 = tau**2 * (kappa**4 * Ct + 2 * kappa**2 * G + G @ Cti @ G)
    Q1 = tau**2 * (kappa**2 * Ct + G)
    assert abs(op2.Q_kappa_tau(kappa, tau) - Q2).max() < 1e-12 * abs(Q2).max()
    assert abs(op1.Q_kappa_tau(kappa, tau) - Q1).max() < 1e-12 * abs(Q1).max()
    b = parsimonious_coefficients(1.5)
    Q15 = tau**2 * kappa ** (2 * 1.5 - 4) * (b[0] * kappa**4 * Ct + b[1] * kappa**2 * G
                                             + b[2] * G @ Cti @ G)
    op15 = SPDEOperator(small_mesh, 1.5)
    assert abs(op15.Q_kappa_tau(kappa, tau) - Q15).max() < 1e-12 * abs(Q15).max()
    # the range/sigma form agrees with the kappa/tau form
    k, t = matern_scales(2.0, 0.8, 2.0)
    assert abs(op2.Q(2.0, 0.8) - op2.Q_kappa_tau(k, t)).max() == 0
    assert abs(matern_precision(small_mesh, 2.0, 0.8) - op2.Q(2.0, 0.8)).max() == 0


def test_fixed_pattern_symmetric_positive_definite(small_mesh):
    op = SPDEOperator(small_mesh, 2)
    Qa, Qb = op.Q(0.5, 1.0), op.Q(5.0, 0.1)
    np.testing.assert_array_equal(Qa.indptr, Qb.indptr)
    np.testing.assert_array_equal(Qa.indices, Qb.indices)
    assert abs(Qa - Qa.T).max() < 1e-12 * abs(Qa).max()
    assert np.linalg.eigvalsh(Qa.toarray())[0] > 0
    np.testing.assert_array_equal(op.Q_data(0.5, 1.0), Qa.data)


@pytest.mark.parametrize("alpha", [2.0, 1.5])
def test_derivatives_match_finite_differences(small_mesh, alpha):
    op = SPDEOperator(small_mesh, alpha)
    r, s, h = 1.3, 0.7, 1e-6
    dr, ds = op.dQ(r, s)
    fd_r = (op.Q(r * np.exp(h), s) - op.Q(r * np.exp(-h), s)) / (2 * h)
    fd_s = (op.Q(r, s * np.exp(h)) - op.Q(r, s * np.exp(-h))) / (2 * h)
    scale = abs(op.Q(r, s)).max()
    assert abs(dr - fd_r).max() < 1e-6 * scale
    assert abs(ds - fd_s).max() < 1e-6 * scale


def test_pc_prior_tail_probabilities_by_quadrature():
    r0, p_r, s0, p_s = 2.0, 0.1, 1.5, 0.05
    # P(range < r0) = p_r, P(sigma > s0) = p_s and total mass 1, by 2-D quadrature
    dens = lambda r, s: np.exp(pc_prior_logdensity(r, s, r0, p_r, s0, p_s))
    total = integrate.dblquad(lambda s, r: dens(r, s), 0, np.inf, 0, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    p_range = integrate.dblquad(lambda s, r: dens(r, s), 0, r0, 0, np.inf)[0]
    assert p_range == pytest.approx(p_r, abs=1e-6)
    p_sigma = integrate.dblquad(lambda s, r: dens(r, s), 0, np.inf, s0, np.inf)[0]
    assert p_sigma == pytest.approx(p_s, abs=1e-6)
    # log_scale adds the Jacobian of (log range, log sigma)
    a = pc_prior_logdensity(1.2, 0.4, r0, p_r, s0, p_s, log_scale=True)
    b = pc_prior_logdensity(1.2, 0.4, r0, p_r, s0, p_s) + np.log(1.2) + np.log(0.4)
    assert a == pytest.approx(b)
    assert pc_prior_logdensity(-1.0, 1.0, r0, p_r, s0, p_s) == -np.inf
    with pytest.raises(ValueError, match="p_r"):
        pc_prior_logdensity(1.0, 1.0, r0, 1.5, s0, p_s)
