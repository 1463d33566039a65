"""The sparse field criterion, its gradient and the prior log-determinant.

Independent references: dense numpy linear algebra on the same model inputs (the FEM
precision Q and the projector A): ``slogdet`` of the dense Q; the Gaussian marginal
likelihood of ``y ~ N(X beta, s (W^-1 + A Q^-1 A'))`` profiled in beta and s; a dense Newton
mode and dense log-determinants for the Laplace approximation; central finite differences
of the criterion for the analytic gradient.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely

from spatialgamm.engine.gaussian import GaussianObjective
from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.precform import FieldObjective
from spatialgamm.engine.prior import PriorOperator
from spatialgamm.engine.system import LatentSystem
from spatialgamm.families import get_family
from spatialgamm.formula.parse import parse_special
from spatialgamm.mesh import Mesh, SPDEOperator
from spatialgamm.terms.spde import build_spde

pytestmark = pytest.mark.usefixtures("one_blas_thread")


LOG2PI = np.log(2 * np.pi)


@pytest.fixture(scope="module")
def small():
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 4), max_edge=(0.6, 1.5), offset=(0, 1.5))
    rng = np.random.default_rng(3)  # the design; each test draws its own response
    n = 150
    xy = rng.uniform(0.2, [5.8, 3.8], (n, 2))
    field = np.sin(xy[:, 0]) * np.cos(xy[:, 1] / 2)
    x1 = rng.standard_normal(n)
    return dict(mesh=mesh, xy=xy, field=field, x1=x1, n=n,
                data=pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}))


def _objective(small, family, y, wt, alpha=2.0, reml=True):
    fam = get_family(family)
    blk = build_spde(parse_special(f"spde(x, y, mesh=mesh, alpha={alpha})",
                                   {"mesh": small["mesh"]}), small["data"], {}, fam)[0]
    X = np.column_stack([np.ones(small["n"]), small["x1"]])
    obj = FieldObjective(X, blk.Z, y, np.zeros(small["n"]), wt, fam, PriorOperator(blk.pencil).state,
                         blk.term.operator.pattern, reml=reml, inner_tol=1e-12)
    return obj, blk, X


# ---- the prior operator -------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [2.0, 1.5, 1.2])
def test_prior_logdet_gradient_and_solve_match_dense(small, alpha):
    op = SPDEOperator(small["mesh"], alpha)
    prior = PriorOperator(op)
    phi = np.log([1.3, 0.7])
    st = prior.state(phi)
    Qd = st.Q.toarray()
    sign, logdet = np.linalg.slogdet(Qd)
    assert sign == 1
    assert st.logdet == pytest.approx(logdet, rel=1e-10, abs=1e-8)
    h = 1e-5
    fd = [(np.linalg.slogdet(prior.state(phi + h * e).Q.toarray())[1]
           - np.linalg.slogdet(prior.state(phi - h * e).Q.toarray())[1]) / (2 * h)
          for e in np.eye(2)]
    np.testing.assert_allclose(st.dlogdet, fd, rtol=1e-6)
    v = np.random.default_rng(1).standard_normal((op.n, 2))
    np.testing.assert_allclose(st.solve(v), np.linalg.solve(Qd, v), rtol=1e-8, atol=1e-10)
    # dQ is the derivative of Q (the operator's, checked here against differences)
    dq = [(prior.state(phi + h * e).Q - prior.state(phi - h * e).Q).toarray() / (2 * h)
          for e in np.eye(2)]
    for a, b in zip(st.dQ, dq):
        np.testing.assert_allclose(a.toarray(), b, rtol=1e-5, atol=1e-8 * abs(b).max())


# ---- Gaussian: the exact marginal likelihood ------------------------------------------------
def _dense_gaussian(small, blk, X, y, phi, reml):
    Q = blk.term.Q(phi).toarray()
    A = blk.Z.toarray()
    n, p = X.shape
    K = np.eye(n) + A @ np.linalg.solve(Q, A.T)
    Ki = np.linalg.inv(K)
    XtKX = X.T @ Ki @ X
    beta = np.linalg.solve(XtKX, X.T @ Ki @ y)
    r = y - X @ beta
    dof = n - p if reml else n
    s = float(r @ Ki @ r) / dof
    val = np.linalg.slogdet(K)[1] + dof * (1 + LOG2PI + np.log(s))
    if reml:
        val += np.linalg.slogdet(XtKX)[1]
    return val, beta, s


@pytest.mark.parametrize("reml", [True, False])
def test_gaussian_criterion_is_the_exact_marginal_likelihood(small, reml):
    rng = np.random.default_rng(21)
    y = 1.0 + 0.5 * small["x1"] + small["field"] + 0.3 * rng.standard_normal(small["n"])
    obj, blk, X = _objective(small, "gaussian", y, np.ones(small["n"]), reml=reml)
    phi = np.log([1.5, 2.0])
    ev = obj.evaluate(phi)
    ref, beta, s = _dense_gaussian(small, blk, X, y, phi, reml)
    assert ev.f == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(ev.beta, beta, rtol=1e-8)
    assert ev.scale == pytest.approx(s, rel=1e-8)
    # the general engine's profiled deviance agrees too
    eng = GaussianObjective(LatentSystem([blk], small["n"]), X, y, np.zeros(small["n"]),
                            np.ones(small["n"]), reml)(phi)
    assert ev.f == pytest.approx(eng, rel=1e-10)


# ---- Laplace: dense Newton mode and dense determinants ---------------------------------------
def _dense_laplace(blk, X, y, wt, family, phi, reml):
    fam = get_family(family)
    Q = blk.term.Q(phi).toarray()
    A = blk.Z.toarray()
    n, p = X.shape
    M = np.column_stack([X, A])
    P = np.zeros((M.shape[1],) * 2)
    P[p:, p:] = Q
    x = np.zeros(M.shape[1])
    for _ in range(100):
        eta = M @ x
        mu = fam.link.linkinv(eta)
        w = wt * fam.link.mu_eta(eta) ** 2 / fam.variance(mu)
        score = M.T @ (wt * (y - mu))  # canonical links
        H = M.T @ (M * w[:, None]) + P
        step = np.linalg.solve(H, score - P @ x)
        x += step
        if np.max(np.abs(step)) < 1e-13:
            break
    eta = M @ x
    mu = fam.link.linkinv(eta)
    w = wt * fam.link.mu_eta(eta) ** 2 / fam.variance(mu)
    H = M.T @ (M * w[:, None]) + P
    u = x[p:]
    m2ll = -2 * float(np.sum(fam.loglik_obs(y, mu, wt)))
    ld = np.linalg.slogdet(H)[1] if reml else np.linalg.slogdet(H[p:, p:])[1]
    val = m2ll + u @ Q @ u + ld - np.linalg.slogdet(Q)[1]
    return val - (p * LOG2PI if reml else 0.0), x


@pytest.mark.parametrize("family", ["poisson", "binomial"])
@pytest.mark.parametrize("reml", [True, False])
def test_laplace_criterion_matches_dense_laplace(small, family, reml):
    rng = np.random.default_rng(22)
    eta = 0.3 + 0.4 * small["x1"] + small["field"]
    if family == "poisson":
        wt = np.ones(small["n"])
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        wt = rng.integers(1, 6, small["n"]).astype(float)
        y = rng.binomial(wt.astype(int), 1 / (1 + np.exp(-eta))) / wt
    obj, blk, X = _objective(small, family, y, wt, alpha=1.5, reml=reml)
    phi = np.log([1.2, 0.8])
    ev = obj.evaluate(phi)
    ref, x = _dense_laplace(blk, X, y, wt, family, phi, reml)
    assert ev.f == pytest.approx(ref, rel=1e-9)
    np.testing.assert_allclose(np.r_[ev.beta, ev.u], x, atol=1e-6)
    eng = LaplaceObjective(LatentSystem([blk], small["n"]), X, y, np.zeros(small["n"]), wt,
                           get_family(family), reml=reml)(phi)
    assert ev.f == pytest.approx(eng, rel=1e-9)


# ---- the analytic gradient ------------------------------------------------------------------
@pytest.mark.parametrize("family,alpha,reml", [("gaussian", 2.0, True), ("gaussian", 1.5, False),
                                               ("poisson", 2.0, True), ("poisson", 1.5, False),
                                               ("binomial", 2.0, False)])
def test_gradient_matches_finite_differences(small, family, alpha, reml):
    rng = np.random.default_rng(23)
    eta = 0.2 + small["field"]
    wt = np.ones(small["n"])
    if family == "gaussian":
        y = eta + 0.4 * rng.standard_normal(small["n"])
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        wt = np.full(small["n"], 4.0)
        y = rng.binomial(4, 1 / (1 + np.exp(-eta)), small["n"]) / 4.0
    obj, _, _ = _objective(small, family, y, wt, alpha=alpha, reml=reml)
    phi = np.log([1.1, 0.9])
    ev = obj.evaluate(phi)
    h = 1e-4
    fd = [(obj.evaluate(phi + h * e).f - obj.evaluate(phi - h * e).f) / (2 * h)
          for e in np.eye(2)]
    np.testing.assert_allclose(ev.grad, fd, rtol=2e-5, atol=2e-5 * np.abs(fd).max())
    # the average-information (Newton) matrix is positive definite
    assert np.linalg.eigvalsh(ev.ai).min() > 0


def test_early_stopped_mode_is_corrected_to_first_order(small):
    # PIRLS stops when the Newton decrement is below the default 1e-3; the log-determinant
    # is then corrected for the last step. That must give the tightly converged criterion.
    rng = np.random.default_rng(24)
    y = rng.poisson(np.exp(0.5 + small["field"])).astype(float)
    tight, _, _ = _objective(small, "poisson", y, np.ones(small["n"]))
    loose, _, _ = _objective(small, "poisson", y, np.ones(small["n"]))
    loose.inner_tol = 1e-3
    phi = np.log([1.4, 0.8])
    start = tight.evaluate(np.log([1.0, 1.0]))
    a = tight.evaluate(phi, (start.beta, start.u))
    b = loose.evaluate(phi, (start.beta, start.u))
    assert b.inner < a.inner
    assert b.f == pytest.approx(a.f, abs=1e-7)
    np.testing.assert_allclose(b.grad, a.grad, rtol=1e-3, atol=1e-3)


def test_pattern_is_fixed(small):
    # one symbolic analysis: a precision with another sparsity pattern is refused
    y = np.ones(small["n"])
    obj, blk, _ = _objective(small, "gaussian", y + small["field"], np.ones(small["n"]))
    Q = blk.term.Q(np.log([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="sparsity pattern"):
        obj.solve(sp.identity(Q.shape[0], format="csc"), np.ones(small["n"]), y)
