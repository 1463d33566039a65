"""A small Poisson SPDE model: the INLA-style fit against an exact-enough posterior (issue 15,
item 6).

60 counts on a 6 x 6 square, an alpha = 2 Matern field on a coarse mesh (about 100 nodes),
the PC prior P(range < 1) = 0.5, P(sigma > 1) = 0.05, a flat intercept (INLA's default).

The reference (tests/inla_exact_reference.py) integrates the hyperparameters on a 30 x 20
grid (range 0.25 to 300, sigma 0.08 to 4) and the latent values by importance sampling at
each grid point: ``p(y | theta)`` without the Laplace approximation, and the exact
posterior of the range, the intercept and the field up to Monte Carlo and grid error. Only
the model's definition, the precision matrix of the mesh, comes from the package.

Findings (2026-12-02):

- The Laplace approximation of ``pi(theta | y)`` is right here. The package's
  ``log p(y | theta)`` equals the reference's own dense Laplace value to 6e-5 at 1040
  points; importance sampling moves it by -0.01 to +0.27 nats across the region of mass
  (the most at large sigma, where the field is least Gaussian), and the range's 2.5 / 50 /
  97.5% points from 0.376 / 1.30 / 9.28 (Laplace) to 0.375 / 1.28 / 9.02 (exact). The
  package's 9.23 is right to 2.5%.
- The earlier reference, a non-centred HMC run (2000 draws, ESS 800 for the log range; the
  same priors as ours), gave 6.3 for that 97.5% point: it never left the bulk. Its largest
  range in 2000 draws was 14.3, where the exact posterior puts 1.1% of its mass above 14.3
  and 0.6% above 20; its intercept SD 0.19 and its field SDs (0.65 to 0.91 of the exact
  ones) are short for the same reason: on this bounded mesh the field's level and the flat
  intercept trade off ever more as the range grows, so the tail carries their spread.
  The xfail "range 97.5% 9.2 against 6.3" was the reference's error.
- The intercept: exact median 0.945 (2.5 / 97.5%: 0.496 / 1.427). The default fit
  (``strategy="gaussian"``, CCD) gives 0.995: the Gaussian approximation of
  ``pi(x | theta, y)``, not the integration: the same Gaussian means integrated over the
  reference's own grid with the *exact* weights give 0.997. INLA's default strategy
  ``simplified.laplace`` corrects it: 0.946 (CCD) and 0.946 (grid), and with the grid the
  interval 0.496 / 1.421. The CCD's nine points miss the long-range tail (intercept and
  field intervals 20% too narrow, field SDs 0.79 of the exact); the grid reaches it
  (field SDs 0.87: what remains lies beyond the grid's ``diff_logdens = 6``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import shapely
from inla_exact_reference import grid_reference
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


def exact_reference(op, A, y, n_range: int = 30, n_sigma: int = 20, n_draws: int = 2000):
    with threadpool_limits(1):
        return grid_reference(lambda r, s: op.Q(r, s).toarray(), A, y, PR, PS,
                              np.linspace(np.log(0.25), np.log(300.0), n_range),
                              np.linspace(np.log(0.08), np.log(4.0), n_sigma), n_draws)


@pytest.fixture(scope="module")
def reference():
    mesh, op, A, d = spde_problem()
    ref = exact_reference(op, A, d["c"].to_numpy())
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=PR,
               prior_sigma=PS)
    return fit, ref, d, mesh


@pytest.mark.slow
@pytest.mark.study
def test_laplace_marginal_likelihood_matches_importance_sampling(reference):
    fit, ref, _, _ = reference
    lr, ls = np.meshgrid(ref.log_range, ref.log_sigma, indexing="ij")
    ours = np.array([fit.adapter.logml(np.array([a, b])) for a, b in zip(lr.ravel(),
                                                                          ls.ravel())])
    diff = ours.reshape(lr.shape) - ref.log_lik_laplace
    assert np.ptp(diff) < 1e-3  # the same Laplace value (measured: 6e-5)
    lp = ref.log_lik_laplace + ref.log_prior
    mass = (lp > lp.max() - 8) & (ref.khat < 0.7)
    corr = (ref.log_lik_is - ref.log_lik_laplace)[mass]
    assert np.ptp(corr) < 0.4  # measured: 0.27
    np.testing.assert_allclose(ref.range_quantiles([0.025, 0.5, 0.975], laplace=True),
                               ref.range_quantiles([0.025, 0.5, 0.975]), rtol=0.05)


@pytest.mark.slow
@pytest.mark.study
def test_poisson_spde_hyperparameters_match_exact(reference):
    # measured: range 0.361 / 1.29 / 9.23 against 0.375 / 1.28 / 9.02; sigma within 2%
    fit, ref, _, _ = reference
    hp = fit.summary_hyperpar
    probs = [0.025, 0.5, 0.975]
    got = hp.loc["Range for spde(x, y)", ["0.025quant", "0.5quant", "0.975quant"]]
    np.testing.assert_allclose(got.to_numpy(float), ref.range_quantiles(probs), rtol=0.06)
    w = ref.weights().sum(axis=0)  # the sigma marginal on its grid
    c = np.cumsum(w) - 0.5 * w
    s_ref = np.exp(np.interp(probs, c, ref.log_sigma))
    got = hp.loc["Stdev for spde(x, y)", ["0.025quant", "0.5quant", "0.975quant"]]
    np.testing.assert_allclose(got.to_numpy(float), s_ref, rtol=0.06)


@pytest.mark.slow
@pytest.mark.study
def test_poisson_spde_range_tail_and_latent_match_exact(reference):
    fit, ref, d, mesh = reference
    b0 = ref.b0_quantiles([0.025, 0.5, 0.975])
    sd0 = (b0[2] - b0[0]) / 3.92
    # the default's Gaussian latent strategy: its intercept median is the Gaussian one
    # (0.995; the Gaussian means over the exact weights: 0.997), 0.2 SD above the exact 0.945
    gauss_mean = float(np.sum(ref.weights() * ref.b0_mode))
    assert fit.summary_fixed.loc["(Intercept)", "0.5quant"] == pytest.approx(gauss_mean,
                                                                             abs=0.02)
    assert gauss_mean - b0[1] > 0.1 * sd0
    sla_fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=PR,
                   prior_sigma=PS, int_strategy="grid", strategy="simplified.laplace")
    # measured: 0.496 / 0.946 / 1.421 against 0.496 / 0.945 / 1.427
    got = sla_fit.summary_fixed.loc["(Intercept)", ["0.025quant", "0.5quant", "0.975quant"]]
    np.testing.assert_allclose(got.to_numpy(float), b0, atol=0.05 * sd0 + 0.005)
    um, us = ref.field_moments()
    f = sla_fit.summary_random["spde(x, y)"]
    assert np.max(np.abs(f["mean"] - um) / us) < 0.05  # measured 0.016
    for p, col in ((0.025, "0.025quant"), (0.975, "0.975quant")):
        q = ref.field_quantiles(p)
        assert np.max(np.abs(f[col] - q) / us) < 0.15, p
