"""A small Poisson SPDE model: the INLA-style fit against a long HMC run (issue 15, item 6).

60 counts on a 6 x 6 square, an alpha = 2 Matern field on a coarse mesh (~100 nodes), the PC
prior P(range < 1) = 0.5, P(sigma > 1) = 0.05. The reference samples the exact joint
posterior of (b0, u, log range, log sigma) by the test's HMC (tests/inla_mcmc_helpers.py)
with dense linear algebra written here; only the model's definition, the precision matrix
Q(range, sigma) of the mesh and its derivatives, comes from the package (``SPDEOperator``),
so the test checks the Laplace approximation and the integration, not the finite elements.
Tolerances: fixed-effect mean within 0.15 posterior SD + 4 MC SEs (the Gaussian strategy's
mode-vs-mean shift for counts), SDs within 10%, hyperparameter quantiles within 12%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import shapely
from inla_mcmc_helpers import ess, hmc
from threadpoolctl import threadpool_limits

from spatialgamm.bayes import inla
from spatialgamm.mesh import Mesh, SPDEOperator


@pytest.mark.slow
@pytest.mark.study
@pytest.mark.xfail(strict=False, reason=(
    "the reference is not good enough yet: in this centred form the HMC mixes poorly "
    "(effective sample sizes ~25 of 3000 draws for the intercept and log range), and the "
    "intercept SD it gives (0.28-0.32) is below INLA's 0.39; a non-centred or much longer "
    "reference run is needed before this comparison means anything"))
def test_poisson_spde_matches_hmc():
    rng = np.random.default_rng(5)
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(1.0, 2.5), offset=(0, 1.5))
    n = 60
    xy = rng.uniform(0.3, 5.7, (n, 2))
    op = SPDEOperator(mesh, 2.0)
    Q0 = op.Q(1.5, 0.7).toarray()
    u_true = sla.solve_triangular(sla.cholesky(Q0, lower=False), rng.normal(size=mesh.n))
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    fit0 = inla("c ~ spde(x, y, mesh=mesh)", d.assign(c=1), family="poisson",
                prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.05), fixed_theta=[0.0, 0.0])
    A = fit0.adapter.system.Z.toarray()  # the projector of the data onto the mesh
    y = rng.poisson(np.exp(1.0 + A @ u_true))
    d["c"] = y
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=(1.0, 0.5),
               prior_sigma=(1.0, 0.05))

    lam_r, lam_s = -np.log(0.5) * 1.0, -np.log(0.05) / 1.0
    q = mesh.n

    def logp_grad(par):
        b0, u, lr, ls = par[0], par[1:1 + q], par[-2], par[-1]
        if not (abs(lr) < 8 and abs(ls) < 8):  # far outside the posterior: reject
            return -np.inf, np.zeros_like(par)
        r, s = np.exp(lr), np.exp(ls)
        Q = op.Q(r, s).toarray()
        dQ = [m.toarray() for m in op.dQ(r, s)]
        try:
            L = sla.cholesky(Q, lower=True)
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros_like(par)
        eta = b0 + A @ u
        mu = np.exp(eta)
        Qu = Q @ u
        lp = (np.sum(y * eta - mu) + np.sum(np.log(np.diag(L))) - 0.5 * u @ Qu
              + np.log(lam_r) - 2 * lr - lam_r / r + np.log(lam_s) - lam_s * s + lr + ls)
        Qi = sla.cho_solve((L, True), np.eye(q))
        g_th = [0.5 * np.sum(Qi * dq) - 0.5 * u @ dq @ u for dq in dQ]
        g = np.concatenate([[np.sum(y - mu)], A.T @ (y - mu) - Qu,
                            [g_th[0] - 1 + lam_r / r, g_th[1] + 1 - lam_s * s]])
        return lp, g

    x0 = np.concatenate([[np.log(y.mean() + 0.5)], np.zeros(q), [np.log(1.5), np.log(0.5)]])
    # one BLAS thread: 150 x 150 factorisations are slower with threads on a busy machine
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), threadpool_limits(1):
        draws, acc = hmc(logp_grad, x0, n_iter=5000, n_warm=1500, n_leap=20, seed=3)
    assert acc > 0.5
    assert min(ess(draws[:, 0]), ess(draws[:, -2])) > 400  # a reference worth comparing with
    s = draws[:, 0]
    mcse = s.std() / np.sqrt(ess(s))
    fx = fit.summary_fixed.loc["(Intercept)"]
    assert abs(fx["mean"] - s.mean()) < 0.15 * s.std() + 4 * mcse
    assert fx["sd"] == pytest.approx(s.std(), rel=0.10)
    hp = fit.summary_hyperpar
    for name, col in (("Range for spde(x, y)", -2), ("Stdev for spde(x, y)", -1)):
        v = np.exp(draws[:, col])
        for p in (0.025, 0.5, 0.975):
            assert hp.loc[name, f"{p}quant"] == pytest.approx(np.quantile(v, p), rel=0.12), \
                (name, p)
    field = fit.summary_random["spde(x, y)"]
    u = draws[:, 1:1 + q]
    np.testing.assert_allclose(field["mean"], u.mean(axis=0), atol=0.15 * u.std(axis=0).mean())
    np.testing.assert_allclose(field["sd"], u.std(axis=0), rtol=0.15)
