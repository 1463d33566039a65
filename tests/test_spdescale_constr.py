"""spde(constr=True): the sum-to-zero field, conditioned by kriging, against dense algebra.

The references never use kriging: the Gaussian marginal likelihood from the exact covariance
of ``y`` (with the singular constrained prior covariance of the field), the conditional mean
by generalised least squares, the constrained posterior covariance and the Laplace
approximation of a Poisson model through an orthonormal basis ``N`` of the constraint's null
space (``log|Q|_A = log|N'QN|``, the mode by Newton's method in ``N``'s coordinates).
"""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import shapely

import spatialgamm as sg
from spatialgamm.engine.objective import make_objective
from spatialgamm.errors import FormulaError, ModelError
from spatialgamm.mesh import Mesh
from spatialgamm.model import build_model

LOG2PI = np.log(2 * np.pi)


@pytest.fixture(scope="module")
def mesh():
    return Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=1.0, offset=(0, 1.0))


def _data(n=80, seed=1, poisson=False):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.uniform(0, 4, n), "y": rng.uniform(0, 4, n),
                      "c": rng.normal(size=n)})
    eta = 0.3 + 0.4 * d.c + 0.7 * np.sin(d.x) * np.cos(0.7 * d.y)
    if poisson:
        d["z"] = rng.poisson(np.exp(eta))
    else:
        d["z"] = 1 + eta + 0.5 * rng.normal(size=n)
    return d


def _null_basis(a):
    """Orthonormal basis of the null space of the rows ``a``."""
    return sla.null_space(np.atleast_2d(a))


def _objective(mesh, d, family, method):
    spec = build_model("z ~ c + spde(x, y, mesh=mesh, constr=True)", d, family,
                       env={"mesh": mesh})
    return spec, make_objective(spec, method)


def _fd_grad(obj, phi, h=1e-5):
    g = np.empty(len(phi))
    for k in range(len(phi)):
        e = np.zeros(len(phi))
        e[k] = h
        g[k] = (obj.evaluate(phi + e, keep=False).f - obj.evaluate(phi - e, keep=False).f) / (2 * h)
    return g


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_gaussian_criterion_mode_and_gradient_match_the_dense_marginal_model(mesh, method):
    d = _data()
    spec, obj = _objective(mesh, d, "gaussian", method)
    phi = np.log([2.0, 1.5])
    ev = obj.evaluate(phi)
    blk = spec.blocks[0]
    Z, X, y, n, p = blk.Z.toarray(), spec.X, spec.y, spec.n, spec.p
    Q = blk.pencil.Q(2.0, 1.5).toarray()
    Qi = np.linalg.inv(Q)
    a = np.ones(len(Q))
    Sc = Qi - np.outer(Qi @ a, Qi @ a) / (a @ Qi @ a)  # the constrained prior covariance
    V = np.eye(n) + Z @ Sc @ Z.T  # Cov(y) / s
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    r2 = r @ Vi @ r
    dof = n - p if method == "REML" else n
    f = np.linalg.slogdet(V)[1] + dof * (1 + np.log(2 * np.pi * r2 / dof))
    if method == "REML":
        f += np.linalg.slogdet(XtViX)[1]
    assert ev.f == pytest.approx(f, abs=1e-8)
    np.testing.assert_allclose(ev.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(ev.u, Sc @ Z.T @ Vi @ r, atol=1e-10)
    assert abs(ev.u.sum()) < 1e-10  # the field sums to zero at the mesh nodes
    assert ev.scale == pytest.approx(r2 / dof, rel=1e-10)
    np.testing.assert_allclose(ev.grad, _fd_grad(obj, phi), rtol=1e-5, atol=1e-6)


def test_gaussian_posterior_covariances_match_the_null_space_form(mesh):
    d = _data(seed=2)
    spec, obj = _objective(mesh, d, "gaussian", "REML")
    phi = np.log([1.5, 0.8])
    ev = obj.evaluate(phi)
    post = obj.posterior(phi)
    blk = spec.blocks[0]
    Z, X, p, q = blk.Z.toarray(), spec.X, spec.p, blk.q
    M = np.hstack([X, Z])
    H = M.T @ M
    H[p:, p:] += blk.pencil.Q(1.5, 0.8).toarray()
    N = _null_basis(np.r_[np.zeros(p), np.ones(q)])  # x = N z spans {1'u = 0}
    cov = ev.scale * N @ np.linalg.inv(N.T @ H @ N) @ N.T
    np.testing.assert_allclose(post.vcov_beta, cov[:p, :p], rtol=1e-8)
    np.testing.assert_allclose(post.latent_variances(), np.diag(cov)[p:], rtol=1e-8,
                               atol=1e-12)
    new = pd.DataFrame({"x": [0.3, 2.0, 3.9], "y": [0.2, 2.2, 3.1], "c": [0.0, 1.0, -1.0]})
    Zn = blk.term.design_for(new)[0]
    Xn = np.column_stack([np.ones(3), new.c])
    G = np.hstack([Xn, Zn.toarray()])
    np.testing.assert_allclose(post.variance(Xn, Zn), np.einsum("ij,jk,ik->i", G, cov, G),
                               rtol=1e-8)


def _dense_laplace(spec, rng_, sig, reml):
    """The constrained Laplace criterion by Newton's method in null-space coordinates."""
    blk = spec.blocks[0]
    Z, X, y, off, p, q = blk.Z.toarray(), spec.X, spec.y, spec.offset, spec.p, blk.q
    Q = blk.pencil.Q(rng_, sig).toarray()
    M = np.hstack([X, Z])
    P = np.zeros((p + q, p + q))
    P[p:, p:] = Q
    N = _null_basis(np.r_[np.zeros(p), np.ones(q)])
    zc = np.zeros(N.shape[1])
    for _ in range(100):
        x = N @ zc
        mu = np.exp(off + M @ x)
        g = N.T @ (M.T @ (mu - y) + P @ x)
        Hz = N.T @ ((M.T * mu) @ M + P) @ N
        step = np.linalg.solve(Hz, g)
        zc -= step
        if np.max(np.abs(step)) < 1e-13:
            break
    x = N @ zc
    eta = off + M @ x
    mu = np.exp(eta)
    u = x[p:]
    m2ll = -2 * np.sum(y * eta - mu - np.array([np.sum(np.log(np.arange(1, k + 1)))
                                                for k in y.astype(int)]))
    Nu = _null_basis(np.ones(q))
    ld_prior = np.linalg.slogdet(Nu.T @ Q @ Nu)[1]
    H = (M.T * mu) @ M + P
    if reml:
        ld = np.linalg.slogdet(N.T @ H @ N)[1] - p * LOG2PI
    else:  # beta fixed at the joint mode: the field's integral alone
        Hu = H[p:, p:]
        ld = np.linalg.slogdet(Nu.T @ Hu @ Nu)[1]
    return m2ll + u @ Q @ u + ld - ld_prior, x


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_poisson_laplace_criterion_matches_the_null_space_computation(mesh, method):
    d = _data(seed=3, poisson=True)
    spec, obj = _objective(mesh, d, "poisson", method)
    # the algebra, not PIRLS's stopping rule (its default 1e-3 decrement moves f by ~1e-5)
    obj.inner_tol = 1e-10
    phi = np.log([1.8, 0.7])
    ev = obj.evaluate(phi)
    f, x = _dense_laplace(spec, 1.8, 0.7, method == "REML")
    assert ev.f == pytest.approx(f, abs=1e-8)
    np.testing.assert_allclose(np.r_[ev.beta, ev.u], x, atol=1e-9)
    assert abs(ev.u.sum()) < 1e-10
    np.testing.assert_allclose(ev.grad, _fd_grad(obj, phi, h=1e-4), rtol=1e-5, atol=1e-5)


def test_fit_gives_a_field_summing_to_zero_and_finite_standard_errors(mesh):
    d = _data(n=150, seed=4, poisson=True)
    fit = sg.fit("z ~ c + spde(x, y, mesh=mesh, constr=True)", d, family="poisson")
    free = sg.fit("z ~ c + spde(x, y, mesh=mesh)", d, family="poisson")
    b = fit.state.b
    assert abs(b.sum()) < 1e-8 * np.abs(b).sum()
    assert abs(free.state.b.sum()) > 1e-3  # without the constraint it does not
    se = np.sqrt(np.diag(np.asarray(fit.vcov)))
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    pr = fit.predict(d.iloc[:5], se_fit=True)
    assert np.all(np.isfinite(pr["se_fit"])) and np.all(pr["se_fit"] > 0)
    # the same model through glmer() (Laplace ML) and gam() (REML): fields summing to zero
    for other in (sg.glmer, sg.gam):
        b2 = other("z ~ c + spde(x, y, mesh=mesh, constr=True)", d, family="poisson").state.b
        assert abs(b2.sum()) < 1e-8 * np.abs(b2).sum()


def test_inla_latent_means_sum_to_zero(mesh):
    from spatialgamm.bayes import inla

    d = _data(n=120, seed=5, poisson=True)
    fit = inla("z ~ c + spde(x, y, mesh=mesh, constr=True)", d, family="poisson",
               prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.01))
    for p in fit.points:
        assert abs(p.u.sum()) < 1e-8
        # the kriged variances: the sum of the field has no posterior variance
        F = np.ones((1, len(p.u)))
        W = p.post._Wu
        cov_sum = F @ (W - W @ p.post._S_inv @ (F @ W))
        assert abs(float(cov_sum[0, 0])) < 1e-8


def test_constr_is_refused_where_the_engine_would_ignore_it(mesh):
    d = _data(seed=6)
    d["g"] = np.repeat(np.arange(8), 10)
    with pytest.raises(ModelError, match="constr=True"):
        sg.fit("z ~ c + spde(x, y, mesh=mesh, constr=True) + (1 | g)", d)
    with pytest.raises(FormulaError, match="constr must be True or False"):
        sg.fit("z ~ spde(x, y, mesh=mesh, constr='yes')", d)
