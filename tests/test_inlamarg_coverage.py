"""Calibration of the INLA-style posterior of an SPDE Poisson model (issue 15, item 6).

Simulation-based calibration (Cook, Gelman & Rubin 2006; Talts et al. 2018): every
parameter is drawn from the prior the fit uses (intercept N(1, 1); range and sigma from the
PC prior P(range < 1.5) = 0.5, P(sigma > 1) = 0.1, i.e. 1 / range ~ Exp(lam_r) and sigma ~
Exp(lam_s) in two dimensions; the field from N(0, Q(range, sigma)^-1) on the fit's own
mesh), counts from the Poisson model. An exact posterior then puts the truth at a uniform
posterior rank (PIT), so its 95% intervals cover exactly 95% averaged over the prior, for
every quantity. No draw is discarded (a truncated prior would break the identity).

Findings (runs of 2026-12-02, seed 1):

- the 0.83 coverage of sigma that tests/test_inla_coverage.py once recorded was the marginal
  approximation: on the *same* data sets, the former split-normal marginals cover range and
  sigma 0.89 and 0.86 (70 sets), the lattice-integrated ones (bayes/marginals.py) 1.00 and
  0.98 (100 sets). That study also drew the range from a truncated prior (0.3 < range < 20)
  and held the intercept at 1 under an N(1, 1) prior: neither is a draw from the prior, so
  its target was not 0.95; both are fixed here.
- what remained was not the marginals: 100 of 100 range intervals cover (p = 0.006 under
  exact calibration: they are too wide), and the intercept's cover 0.88, the field's 0.90,
  with the package's fast default (``strategy="gaussian"``, CCD). Two causes, both shown
  against the exact posterior of tests/test_inlamarg_spde_mcmc.py: the Gaussian
  approximation of ``pi(x | theta, y)`` shifts the intercept by 0.2 posterior SD, and the
  CCD's nine points miss the long-range tail of ``pi(theta | y)`` (intervals 20% too
  narrow). (The Laplace ``pi(theta | y)`` itself is right there; an earlier HMC reference
  that suggested otherwise never reached the tail.) The studies below therefore fit with
  INLA's own defaults for two hyperparameters, ``int_strategy="grid"`` and
  ``strategy="simplified.laplace"``. On the first 50 data sets of the study (the run of
  100 at 35-50 s a fit did not fit in the session; the fast default's run did) they
  cover the intercept 0.94 and the field 0.927 +- 0.028, against the default's 0.88 and
  0.875 +- 0.039 on the same 50 sets (its 100: 0.88 and 0.903); range 1.00, sigma 0.96.
- the field's nodes are not independent trials: in a data set whose true range is long
  (16 to 400 on a 6 x 6 square) the field's level and the intercept trade off and all
  nodes miss together (coverage 0 to 0.1 in one set). That is what the exact posterior
  does too: on the worst of the first 20 sets (true range 20.6) the exact posterior (theta
  grid x importance sampling, tests/inla_exact_reference.py) gives the intercept PIT 0.003
  and the field coverage 0.11, the fit 0.003 and 0.10 (test below). The field's mean
  coverage is therefore judged by the spread of the per-set coverages (0.20 to 0.24), not
  by a binomial bound.

binomial SE of a 0.95 coverage over 100 data sets: 0.022. The default suite runs 10 data
sets on a coarser mesh and checks only gross failures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
import shapely

from spatialgamm.bayes import FixedEffectsPrior, PCMatern, inla

PRIOR_RANGE, PRIOR_SIGMA = (1.5, 0.5), (1.0, 0.1)


def _setup(max_edge: float = 0.8):
    from spatialgamm.mesh import Mesh, SPDEOperator

    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(max_edge, 2.5),
                      offset=(0, 1.5))
    return mesh, SPDEOperator(mesh, 2.0)


def simulate(rng: np.random.Generator, mesh, op, n_obs: int = 150, b0_mean: float = 1.0
             ) -> tuple[pd.DataFrame, dict[str, float], np.ndarray]:
    """One prior draw and its data: ``(data, truth, field at the mesh nodes)``."""
    prior = PCMatern(prior_range=PRIOR_RANGE, prior_sigma=PRIOR_SIGMA)
    r = 1.0 / rng.exponential(1.0 / prior.lam_r)
    s = rng.exponential(1.0 / prior.lam_s)
    b0 = rng.normal(b0_mean, 1.0)
    u = sla.solve_triangular(sla.cholesky(op.Q(r, s).toarray(), lower=False),
                             rng.normal(size=mesh.n))
    xy = rng.uniform(0.2, 5.8, (n_obs, 2))
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    d["c"] = rng.poisson(np.exp(b0 + mesh.projector(xy) @ u))
    return d, {"range": r, "sigma": s, "b0": b0}, u


def fit_ranks(d: pd.DataFrame, truth: dict[str, float], u: np.ndarray, mesh,
              b0_mean: float = 1.0, **fit_args) -> dict[str, float]:
    """The fit's posterior ranks (PIT) of the truth, and its field intervals' coverage."""
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", prior_range=PRIOR_RANGE,
               prior_sigma=PRIOR_SIGMA,
               fixed=FixedEffectsPrior(mean_intercept=b0_mean, prec_intercept=1.0), **fit_args)
    hyp = fit._hyper
    out = {"range": float(hyp["Range for spde(x, y)"].cdf(np.array([truth["range"]]))[0]),
           "sigma": float(hyp["Stdev for spde(x, y)"].cdf(np.array([truth["sigma"]]))[0]),
           "b0": float(fit.fixed_marginals.cdf(np.array([truth["b0"]]))[0])}
    f = fit.summary_random["spde(x, y)"]
    out["field"] = float(np.mean((f["0.025quant"] <= u) & (u <= f["0.975quant"])))
    out.update({f"true_{k}": v for k, v in truth.items()})
    return out


def sbc_once(rng: np.random.Generator, mesh, op, n_obs: int = 150, b0_mean: float = 1.0,
             **fit_args) -> dict[str, float]:
    """One prior draw, its data and fit: the posterior ranks (PIT) of the truth."""
    d, truth, u = simulate(rng, mesh, op, n_obs, b0_mean)
    return fit_ranks(d, truth, u, mesh, b0_mean, **fit_args)


def sbc(n_sets: int, seed: int, max_edge: float = 0.8, **kw) -> pd.DataFrame:
    mesh, op = _setup(max_edge)
    rng = np.random.default_rng(seed)
    return pd.DataFrame([sbc_once(rng, mesh, op, **kw) for _ in range(n_sets)])


def coverage(pit: np.ndarray) -> float:
    """Share of central 95% intervals holding the truth: its rank in (0.025, 0.975)."""
    return float(np.mean((pit > 0.025) & (pit < 0.975)))


def test_spde_calibration_small():
    # 10 data sets on a coarser mesh: a gross failure (coverage of 0.6, the old truncated
    # split normals' worst) would leave 4 or more of 10 intervals missing; with a calibrated
    # posterior P(3 or more misses of 10) = 0.012 for each quantity
    res = sbc(10, 31, max_edge=1.2, n_obs=100)
    for k in ("range", "sigma", "b0"):
        assert coverage(res[k].to_numpy()) >= 0.8, (k, res[k].to_numpy())


def _bounds(n: int) -> tuple[float, float]:
    se = np.sqrt(0.95 * 0.05 / n)
    return 0.95 - 3 * se, 0.95 + 3 * se


#: INLA's defaults for two hyperparameters (module doc)
STUDY_FIT = {"int_strategy": "grid", "strategy": "simplified.laplace"}


@pytest.fixture(scope="module")
def study():
    return sbc(100, 1, **STUDY_FIT)


@pytest.mark.slow
@pytest.mark.study
def test_spde_hyperparameter_intervals_cover_prior_draws(study):
    lo, hi = _bounds(len(study))
    for k in ("range", "sigma"):  # measured: 1.00 and 0.98
        assert lo <= coverage(study[k].to_numpy()) <= hi, k


@pytest.mark.slow
@pytest.mark.study
def test_spde_latent_intervals_cover_prior_draws(study):
    lo, hi = _bounds(len(study))
    assert lo <= coverage(study["b0"].to_numpy()) <= hi
    f = study["field"].to_numpy()  # per-set coverage: nodes miss together (module doc)
    assert abs(f.mean() - 0.95) <= 3 * f.std(ddof=1) / np.sqrt(len(f))


@pytest.mark.slow
@pytest.mark.study
def test_worst_set_misses_as_the_exact_posterior_does():
    """The fourth data set of the study (true range 20.6, intercept -0.34): the fit's
    intercept PIT and field coverage against the exact posterior's on the same data."""
    from inla_exact_reference import grid_reference

    mesh, op = _setup()
    rng = np.random.default_rng(1)
    for _ in range(4):
        d, truth, u = simulate(rng, mesh, op)
    A = mesh.projector(d[["x", "y"]].to_numpy()).toarray()
    ref = grid_reference(lambda r, s: op.Q(r, s).toarray(), A, d["c"].to_numpy(), PRIOR_RANGE,
                         PRIOR_SIGMA, np.linspace(np.log(0.25), np.log(300.0), 24),
                         np.linspace(np.log(0.03), np.log(4.0), 16), 1500, b0_prior=(1.0, 1.0))
    pit = float(np.interp(truth["b0"], ref.b0_grid,
                          np.tensordot(ref.weights(), ref.b0_cdf, axes=2)))
    cover = np.mean((ref.field_quantiles(0.025) <= u) & (u <= ref.field_quantiles(0.975)))
    got = fit_ranks(d, truth, u, mesh, **STUDY_FIT)
    # measured: exact 0.0030 and 0.109; the fit 0.0030 and 0.097
    assert pit < 0.025 and got["b0"] < 0.025  # both miss
    assert got["b0"] == pytest.approx(pit, abs=0.005)
    assert got["field"] == pytest.approx(cover, abs=0.05)
