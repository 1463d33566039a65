"""A small Poisson SPDE model: the INLA-style fit against a long HMC run (issue 15, item 6).

60 counts on a 6 x 6 square, an alpha = 2 Matern field on a coarse mesh (about 100 nodes),
the PC prior P(range < 1) = 0.5, P(sigma > 1) = 0.05, a flat intercept (INLA's default).
The reference samples the exact joint posterior with the tests' HMC
(tests/inla_mcmc_helpers.py) in the *non-centred* form

    u = sigma L_r^-T e,   e ~ N(0, I),   Q(range, 1) = L_r L_r',

over ``(b0, e, log range, log sigma)``: the centred form's funnel between sigma and the field
(and the intercept's trade-off with the field's level) left the earlier reference with
effective sample sizes near 25. Dense linear algebra written here; the gradient in
``log range`` by central differences of the exact log density (HMC's accept step uses the
exact density, so this costs efficiency, never correctness). Only the model's definition,
the precision matrix of the mesh, comes from the package (``SPDEOperator``), so the test
checks the Laplace approximation and the integration, not the finite elements.
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

PR, PS = (1.0, 0.5), (1.0, 0.05)


def spde_problem(seed: int = 5):
    rng = np.random.default_rng(seed)
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(1.0, 2.5), offset=(0, 1.5))
    n = 60
    xy = rng.uniform(0.3, 5.7, (n, 2))
    op = SPDEOperator(mesh, 2.0)
    u_true = sla.solve_triangular(sla.cholesky(op.Q(1.5, 0.7).toarray(), lower=False),
                                  rng.normal(size=mesh.n))
    A = mesh.projector(xy).toarray()
    y = rng.poisson(np.exp(1.0 + A @ u_true))
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "c": y})
    return mesh, op, A, d


def noncentred_posterior(op, A, y):
    """``(logp_grad, field)``: the joint log density of ``(b0, e, log range, log sigma)``
    with its gradient, and ``(log range, e) -> (L_r^-T e, L_r)``."""
    q = A.shape[1]
    lam_r, lam_s = -np.log(PR[1]) * PR[0], -np.log(PS[1]) / PS[0]

    def field(lr: float, e: np.ndarray) -> np.ndarray:  # L_r^-T e at sigma = 1
        L = sla.cholesky(op.Q(np.exp(lr), 1.0).toarray(), lower=True)
        return sla.solve_triangular(L, e, lower=True, trans="T"), L

    def loglik(b0: float, u: np.ndarray) -> tuple[float, np.ndarray]:
        eta = b0 + A @ u
        mu = np.exp(eta)
        return float(np.sum(y * eta - mu)), y - mu

    def logp_grad(par):
        b0, e, lr, ls = par[0], par[1:1 + q], par[-2], par[-1]
        if not (abs(lr) < 8 and abs(ls) < 8):  # far outside the posterior: reject
            return -np.inf, np.zeros_like(par)
        s = np.exp(ls)
        try:
            v, L = field(lr, e)
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros_like(par)
        u = s * v
        ll, res = loglik(b0, u)
        r = np.exp(lr)
        lp = (ll - 0.5 * e @ e + np.log(lam_r) - 2 * lr - lam_r / r + np.log(lam_s)
              - lam_s * s + lr + ls)
        h = 1e-5
        dll = (loglik(b0, s * field(lr + h, e)[0])[0]
               - loglik(b0, s * field(lr - h, e)[0])[0]) / (2 * h)
        Atr = A.T @ res
        g = np.concatenate([[np.sum(res)],
                            s * sla.solve_triangular(L, Atr, lower=True) - e,
                            [dll - 1 + lam_r / r, float(Atr @ u) + 1 - lam_s * s]])
        return lp, g

    return logp_grad, field


def reference_draws(op, A, y, n_iter: int = 2000, n_warm: int = 800, seed: int = 3):
    """HMC draws of ``(b0, e, log range, log sigma)`` and the field ``u`` of each draw."""
    q = A.shape[1]
    logp_grad, field = noncentred_posterior(op, A, y)
    x0 = np.concatenate([[np.log(y.mean() + 0.5)], np.zeros(q), [np.log(1.5), np.log(0.5)]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), threadpool_limits(1):
        draws, acc = hmc(logp_grad, x0, n_iter=n_iter, n_warm=n_warm, n_leap=24, seed=seed)
    u = np.array([np.exp(t[-1]) * field(t[-2], t[1:1 + q])[0] for t in draws])
    return draws, u, acc


@pytest.fixture(scope="module")
def reference():
    mesh, op, A, d = spde_problem()
    draws, u, acc = reference_draws(op, A, d["c"].to_numpy())
    assert acc > 0.5
    # measured (2000 draws): ESS 2000 (intercept), 800 (log range), 820 (log sigma)
    assert min(ess(draws[:, 0]), ess(draws[:, -2]), ess(draws[:, -1])) > 400
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=PR,
               prior_sigma=PS)
    return fit, draws, u


@pytest.mark.slow
@pytest.mark.study
def test_poisson_spde_sigma_and_spreads_match_hmc(reference):
    # measured: sigma quantiles within 2%, range 2.5% / 50% points within 3%, intercept SD
    # -6%, field SDs within 8%; tolerances: 5% on quantiles (their MC error with ~800
    # effective draws is 2-4%), 10% on SDs
    fit, draws, u = reference
    hp = fit.summary_hyperpar
    v = np.exp(draws[:, -1])
    for p in (0.025, 0.5, 0.975):
        assert hp.loc["Stdev for spde(x, y)", f"{p}quant"] == pytest.approx(
            np.quantile(v, p), rel=0.05), p
    v = np.exp(draws[:, -2])
    for p in (0.025, 0.5):
        assert hp.loc["Range for spde(x, y)", f"{p}quant"] == pytest.approx(
            np.quantile(v, p), rel=0.05), p
    assert fit.summary_fixed.loc["(Intercept)", "sd"] == pytest.approx(draws[:, 0].std(),
                                                                        rel=0.10)
    np.testing.assert_allclose(fit.summary_random["spde(x, y)"]["sd"], u.std(axis=0),
                               rtol=0.10)


@pytest.mark.slow
@pytest.mark.study
@pytest.mark.xfail(strict=False, reason=(
    "measured against the non-centred HMC (ESS 800-2000): the range's 97.5% point is 9.2 "
    "against 6.3 (the Laplace-approximated pi(theta | y) has too heavy a long-range tail); "
    "the intercept's mean 1.00 against 0.954 +- 0.004 (0.23 SD; simplified.laplace with "
    "the grid: 0.948, but its SD 0.33 against 0.19, the mixture reaching into that tail); "
    "field means within 0.12 SD"))
def test_poisson_spde_range_tail_and_means_match_hmc(reference):
    fit, draws, u = reference
    s = draws[:, 0]
    mcse = s.std() / np.sqrt(ess(s))
    v = np.exp(draws[:, -2])
    assert fit.summary_hyperpar.loc["Range for spde(x, y)", "0.975quant"] == pytest.approx(
        np.quantile(v, 0.975), rel=0.10)
    assert abs(fit.summary_fixed.loc["(Intercept)", "mean"] - s.mean()) < 0.1 * s.std() \
        + 4 * mcse
    np.testing.assert_allclose(fit.summary_random["spde(x, y)"]["mean"], u.mean(axis=0),
                               atol=0.1 * u.std(axis=0).mean())
