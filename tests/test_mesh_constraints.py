"""Conditioning by kriging (Rue & Held 2005, sec. 2.3.3) against dense closed forms.

The references are computed another way than the module computes them:

- the constrained mean from the KKT system of ``min (x - mu)' Q (x - mu) s.t. A x = e``;
- the constrained covariance and log-determinant from an orthonormal basis ``N`` of the
  null space of ``A``: ``cov = N (N' Q N)^-1 N'``, ``log|Q|_A = log|N' Q N|``;
- the Laplace (ML) and REML criteria of a Gaussian model with a sum-to-zero field from the
  exact marginal distribution of ``y``, whose covariance uses the (singular) constrained prior
  covariance of the field;
- the derivative of ``log|A Q^-1 A'|`` by central differences.
"""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.stats import multivariate_normal

from spatialgamm.engine.constraints import LinearConstraint, laplace_correction

LOG2PI = np.log(2 * np.pi)


def _spd(n, rng, cond=50.0):
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return (U * np.geomspace(1.0, cond, n)) @ U.T


def _dense_solve(Q):
    c = sla.cho_factor(Q)
    return lambda B: sla.cho_solve(c, B)


def _kkt_mean(Q, mu, A, e):
    n, k = len(mu), len(e)
    K = np.block([[Q, A.T], [A, np.zeros((k, k))]])
    return np.linalg.solve(K, np.r_[Q @ mu, e])[:n]


CASES = [(12, 1, 0), (12, 2, 1), (30, 3, 2), (7, 1, 3)]


@pytest.mark.parametrize("n, k, seed", CASES)
def test_mean_covariance_and_logdet_match_the_null_space_forms(n, k, seed):
    rng = np.random.default_rng(seed)
    Q = _spd(n, rng)
    mu = rng.normal(size=n)
    A = rng.normal(size=(k, n)) if seed else np.ones((1, n))
    e = rng.normal(size=k)
    c = LinearConstraint(A, e).condition(_dense_solve(Q))
    Sigma = np.linalg.inv(Q)
    N = sla.null_space(A)
    cov_ref = N @ np.linalg.solve(N.T @ Q @ N, N.T)
    # mean
    mstar = c.mode(mu)
    np.testing.assert_allclose(mstar, _kkt_mean(Q, mu, A, e), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(A @ mstar, e, atol=1e-12)
    # covariance, variances, variances of combinations
    np.testing.assert_allclose(c.covariance(Sigma), cov_ref, atol=1e-12)
    np.testing.assert_allclose(c.variances(np.diag(Sigma)), np.diag(cov_ref), atol=1e-12)
    L = sp.random(5, n, density=0.4, random_state=seed, format="csr")
    np.testing.assert_allclose(
        c.combination_variances(L, np.diag(L @ Sigma @ L.T)),
        np.diag(L @ cov_ref @ L.T), atol=1e-12)
    # the same linear map corrects samples: T Sigma T' is the constrained covariance
    T = LinearConstraint(A).condition(_dense_solve(Q)).mode(np.eye(n))
    np.testing.assert_allclose(T @ Sigma @ T.T, cov_ref, atol=1e-12)
    # the projected solve: Cov* v from Q^-1 v
    v = rng.normal(size=(n, 2))
    np.testing.assert_allclose(c.project(np.linalg.solve(Q, v)), cov_ref @ v, atol=1e-12)
    # log-determinant of Q compressed to the plane
    logdet_Q = np.linalg.slogdet(Q)[1]
    assert c.logdet(logdet_Q) == pytest.approx(np.linalg.slogdet(N.T @ Q @ N)[1], abs=1e-9)
    # the density on the plane, at a point of the plane, through the basis coordinates
    x = mstar + N @ rng.normal(size=n - k)
    z = N.T @ (x - mstar)
    ref = multivariate_normal(np.zeros(n - k), np.linalg.inv(N.T @ Q @ N)).logpdf(z)
    ours = -(n - k) / 2 * LOG2PI + 0.5 * c.logdet(logdet_Q) \
        - 0.5 * (x - mstar) @ Q @ (x - mstar)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_a_sparse_cholmod_factor_gives_the_dense_answers():
    cholmod = pytest.importorskip("sksparse.cholmod")
    rng = np.random.default_rng(5)
    n = 60  # a 1-D random-walk-plus-ridge precision: sparse, like an SPDE Q
    Q = sp.diags([-np.ones(n - 1), 2.2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1],
                 format="csc")
    A = np.vstack([np.ones(n), np.r_[np.zeros(n // 2), np.ones(n - n // 2)]])
    con = LinearConstraint(sp.csr_matrix(A), [0.0, 1.5])
    f = cholmod.cholesky(Q)
    sparse = con.condition(f)
    dense = con.condition(_dense_solve(Q.toarray()))
    mu = rng.normal(size=n)
    np.testing.assert_allclose(sparse.mode(mu), dense.mode(mu), atol=1e-12)
    v = np.diag(np.linalg.inv(Q.toarray()))
    np.testing.assert_allclose(sparse.variances(v), dense.variances(v), atol=1e-12)
    assert sparse.logdet(f.logdet()) == pytest.approx(dense.logdet(f.logdet()), abs=1e-10)


def test_derivative_of_logdet_S():
    rng = np.random.default_rng(8)
    n = 15
    G, C = _spd(n, rng, 20.0), np.diag(rng.uniform(0.5, 2.0, n))

    def Q(t):
        return np.exp(t[0]) * G + np.exp(t[1]) * C

    A = np.vstack([np.ones(n), rng.normal(size=n)])
    con = LinearConstraint(A)
    t0 = np.array([0.3, -0.4])
    c = con.condition(_dense_solve(Q(t0)))
    grad = c.dlogdet_S([np.exp(t0[0]) * G, np.exp(t0[1]) * C])
    h = 1e-5
    fd = []
    for j in range(2):
        d = np.eye(2)[j] * h
        fd.append((con.condition(_dense_solve(Q(t0 + d))).logdet_S
                   - con.condition(_dense_solve(Q(t0 - d))).logdet_S) / (2 * h))
    np.testing.assert_allclose(grad, fd, rtol=1e-7)


def _gaussian_model(seed, m=40, n=25, p=2):
    """y = X beta + Z u + eps, u ~ N(0, Q^-1) | sum(u) = 0, eps ~ N(0, s2 I)."""
    rng = np.random.default_rng(seed)
    Q = _spd(n, rng, 30.0)
    Z = sp.random(m, n, density=0.15, random_state=seed).toarray() + \
        np.eye(m, n)  # every observation sees some node
    X = np.c_[np.ones(m), rng.normal(size=(m, p - 1))]
    y = X @ rng.normal(size=p) + rng.normal(size=m)
    return Q, Z, X, y, 0.7


@pytest.mark.parametrize("seed", [0, 1])
def test_laplace_ml_criterion_of_a_sum_to_zero_field_is_exact(seed):
    Q, Z, _, y, s2 = _gaussian_model(seed)
    n = Q.shape[0]
    prior_c = LinearConstraint.sum_to_zero(n).condition(_dense_solve(Q))
    cov_prior = prior_c.covariance(np.linalg.inv(Q))  # singular: rank n - 1
    exact = multivariate_normal(np.zeros(len(y)), Z @ cov_prior @ Z.T + s2 * np.eye(len(y)))
    # Laplace (exact for a Gaussian): posterior precision H, unconstrained mode corrected
    H = Q + Z.T @ Z / s2
    post_c = LinearConstraint.sum_to_zero(n).condition(_dense_solve(H))
    u = post_c.mode(np.linalg.solve(H, Z.T @ y / s2))
    assert abs(u.sum()) < 1e-10
    loglik_y = multivariate_normal(Z @ u, s2 * np.eye(len(y))).logpdf(y)
    ld = np.linalg.slogdet
    laplace = loglik_y - 0.5 * u @ Q @ u + 0.5 * (ld(Q)[1] - ld(H)[1]) \
        - 0.5 * laplace_correction(prior_c, post_c)
    assert laplace == pytest.approx(exact.logpdf(y), abs=1e-8)
    # without the correction (or without conditioning the mode) the answer is wrong
    assert abs(laplace + 0.5 * laplace_correction(prior_c, post_c) - exact.logpdf(y)) > 1e-3


@pytest.mark.parametrize("seed", [2, 3])
def test_reml_criterion_with_fixed_effects_in_the_latent_vector_is_exact(seed):
    Q, Z, X, y, s2 = _gaussian_model(seed)
    (m, p), n = X.shape, Q.shape[0]
    prior_c = LinearConstraint.sum_to_zero(n).condition(_dense_solve(Q))
    V = Z @ prior_c.covariance(np.linalg.inv(Q)) @ Z.T + s2 * np.eye(m)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    r = y - X @ np.linalg.solve(XtViX, X.T @ Vi @ y)
    ld = np.linalg.slogdet
    exact = -0.5 * ((m - p) * LOG2PI + ld(V)[1] + ld(XtViX)[1] + r @ Vi @ r)
    # flat prior on beta: latent (beta, u), the constraint padded with zeros for beta
    M = np.c_[X, Z]
    H = M.T @ M / s2
    H[p:, p:] += Q
    post_c = LinearConstraint.sum_to_zero(p + n, block=slice(p, None)).condition(
        _dense_solve(H))
    zeta = post_c.mode(np.linalg.solve(H, M.T @ y / s2))
    u = zeta[p:]
    loglik_y = multivariate_normal(M @ zeta, s2 * np.eye(m)).logpdf(y)
    reml = loglik_y - 0.5 * u @ Q @ u + 0.5 * p * LOG2PI + 0.5 * (ld(Q)[1] - ld(H)[1]) \
        - 0.5 * laplace_correction(prior_c, post_c)
    assert reml == pytest.approx(exact, abs=1e-8)


def test_bad_constraints_are_named():
    with pytest.raises(ValueError, match="linearly dependent"):
        LinearConstraint(np.vstack([np.ones(4), 2 * np.ones(4)]))
    with pytest.raises(ValueError, match="constraint e must be 1"):
        LinearConstraint(np.ones((1, 4)), [0.0, 1.0])
    with pytest.raises(ValueError, match="constraint A"):
        LinearConstraint(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="selects no entry"):
        LinearConstraint.sum_to_zero(3, block=slice(5, 9))
    with pytest.raises(ValueError, match="not positive definite"):
        LinearConstraint(np.ones((1, 3))).condition(lambda B: np.zeros_like(B))
    c1 = LinearConstraint(np.ones((1, 3))).condition(_dense_solve(np.eye(3)))
    c2 = LinearConstraint(np.eye(3)[:2]).condition(_dense_solve(np.eye(3)))
    with pytest.raises(ValueError, match="same constraints"):
        laplace_correction(c1, c2)


def _poisson_model(seed, m=60, n=20):
    rng = np.random.default_rng(seed)
    Q0 = _spd(n, rng, 20.0)
    Z = np.abs(sp.random(m, n, density=0.2, random_state=seed).toarray())
    Z[np.arange(m), np.arange(m) % n] += 1.0  # every observation sees a node
    Z /= Z.sum(axis=1, keepdims=True)  # rows of a projector: weights summing to one
    y = rng.poisson(np.exp(0.5 + Z @ rng.normal(0, 0.6, n)))
    return Q0, Z, y.astype(float), np.full(m, 0.5)


def _constrained_mode(Q, Z, y, off, con):
    """Newton's method on the plane: each step projected by the posterior conditioning."""
    u = np.zeros(Q.shape[0])  # sum(u) = 0 already
    for _ in range(50):
        mu = np.exp(off + Z @ u)
        H = Q + Z.T @ (mu[:, None] * Z)
        g = Q @ u - Z.T @ (y - mu)
        c = con.condition(_dense_solve(H))
        step = c.project(np.linalg.solve(H, g))
        u = u - step
        if np.abs(step).max() < 1e-13:
            break
    mu = np.exp(off + Z @ u)
    return u, Q + Z.T @ (mu[:, None] * Z)


@pytest.mark.parametrize("seed", [4, 5])
def test_poisson_laplace_with_the_constraint_equals_laplace_in_plane_coordinates(seed):
    # Non-Gaussian: the Laplace approximation with the kriging correction must equal the
    # Laplace approximation done directly in coordinates of the plane (u = N z, z free).
    Q, Z, y, off = _poisson_model(seed)
    n = Q.shape[0]
    con = LinearConstraint.sum_to_zero(n)
    u, H = _constrained_mode(Q, Z, y, off, con)
    assert abs(u.sum()) < 1e-12

    def loglik(eta):
        return float(y @ eta - np.exp(eta).sum() - sum(np.log(np.arange(1, k + 1)).sum()
                                                       for k in y.astype(int)))

    ld = np.linalg.slogdet
    ours = loglik(off + Z @ u) - 0.5 * u @ Q @ u + 0.5 * (ld(Q)[1] - ld(H)[1]) \
        - 0.5 * laplace_correction(con.condition(_dense_solve(Q)),
                                   con.condition(_dense_solve(H)))
    # reference: unconstrained Newton in plane coordinates
    N = sla.null_space(np.ones((1, n)))
    Qz = N.T @ Q @ N
    z = np.zeros(n - 1)
    for _ in range(50):
        mu = np.exp(off + Z @ N @ z)
        Hz = Qz + N.T @ Z.T @ (mu[:, None] * Z) @ N
        step = np.linalg.solve(Hz, Qz @ z - N.T @ Z.T @ (y - mu))
        z -= step
        if np.abs(step).max() < 1e-13:
            break
    mu = np.exp(off + Z @ N @ z)
    Hz = Qz + N.T @ Z.T @ (mu[:, None] * Z) @ N
    ref = loglik(off + Z @ N @ z) - 0.5 * z @ Qz @ z + 0.5 * (ld(Qz)[1] - ld(Hz)[1])
    np.testing.assert_allclose(u, N @ z, atol=1e-10)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_implicit_mode_derivative_under_the_constraint():
    # Q(theta) = exp(theta) Q0: at the constrained mode d u*/d theta = -Cov* (dQ u*), with
    # Cov* v = project(H^-1 v); checked by central differences of constrained modes.
    Q0, Z, y, off = _poisson_model(6)
    con = LinearConstraint.sum_to_zero(Q0.shape[0])
    t, h = 0.3, 1e-5
    u, H = _constrained_mode(np.exp(t) * Q0, Z, y, off, con)
    c = con.condition(_dense_solve(H))
    du = -c.project(np.linalg.solve(H, np.exp(t) * Q0 @ u))
    fd = (_constrained_mode(np.exp(t + h) * Q0, Z, y, off, con)[0]
          - _constrained_mode(np.exp(t - h) * Q0, Z, y, off, con)[0]) / (2 * h)
    np.testing.assert_allclose(du, fd, rtol=1e-6, atol=1e-9)
    assert abs(du.sum()) < 1e-12  # the derivative stays in the plane
