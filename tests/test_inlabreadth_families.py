"""inla() for every family the engine has (issue 15, "all families").

- The Laplace step uses the observed information (as INLA): on a Gamma log-link model whose
  marginal likelihood is a product of one-dimensional integrals (``y ~ 0 + (1 | g)``, fixed
  hyperparameters) it is closer to the exact value (adaptive quadrature) than the expected-
  information Laplace of the engine's PIRLS.
- Gamma (log link) and negative binomial GLMMs with their dispersion as a hyperparameter
  (Gamma precision: log-gamma(1, 0.01); NB size: pc.mgamma(7), INLA's defaults) against long
  HMC runs on the exact joint posteriors, written here from the densities (the test's own
  sampler, ``tests/inla_mcmc_helpers.py``; nothing from the package). 20 groups with SD 0.6:
  with 10 groups of SD 0.5 the group SD's posterior reaches 0 (HMC's 2.5% quantile 0.014,
  INLA's 0.085 at the time) and the intercept's SD comes out 8% high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inla_mcmc_helpers import ess, hmc
from scipy import integrate, stats
from scipy.special import digamma, gammaln, polygamma

from spatialgamm.bayes import PCPrec, inla
from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.families import get_family
from spatialgamm.model import build_model


def test_observed_information_laplace_is_closer_to_exact():
    rng = np.random.default_rng(8)
    G, per, k = 8, 4, 2.0
    g = np.repeat(np.arange(G), per)
    y = rng.gamma(k, np.exp(1.0 + rng.normal(0, 0.7, G)[g]) / k)
    d = pd.DataFrame({"y": y, "g": [f"g{j}" for j in g]})
    fam = get_family("Gamma", link="log")
    tau_b = 1.5
    fit = inla("y ~ 0 + (1 | g)", d, family=fam, fixed_theta=[np.log(tau_b), np.log(k)])
    got = fit.mlik["log marginal-likelihood (integration)"]
    sd = tau_b ** -0.5
    exact = 0.0
    for j in range(G):
        yy = y[g == j]

        def f(b, yy=yy):
            return np.exp(np.sum(stats.gamma.logpdf(yy, k, scale=np.exp(b) / k))
                          + stats.norm.logpdf(b, 0, sd))
        exact += np.log(integrate.quad(f, -8, 8, limit=200, epsabs=0, epsrel=1e-10)[0])
    spec = build_model("y ~ 0 + (1 | g)", d, fam)
    lap = LaplaceObjective(LatentSystem(spec.blocks, spec.n), spec.X, spec.y, spec.offset,
                           spec.weights, fam, reml=True, scale=1 / k)
    expected_info = -0.5 * lap(np.array([sd]))
    # measured: observed -0.035, expected +0.124 (8 groups of 4)
    assert abs(got - exact) < 0.05
    assert abs(got - exact) < 0.5 * abs(expected_info - exact)


def _glmm_data(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    G, per = 20, 6
    g = np.repeat(np.arange(G), per)
    x = rng.normal(size=G * per)
    mu = np.exp(1.0 + 0.4 * x + rng.normal(0, 0.6, G)[g])
    if kind == "gamma":
        y = rng.gamma(3.0, mu / 3.0)
    else:
        y = rng.negative_binomial(4.0, 4.0 / (4.0 + mu)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j:02d}" for j in g]}), g


def _pc_mgamma(t: float, lam: float = 7.0) -> float:
    s = np.exp(t)
    dist = np.sqrt(2 * (np.log(s) - digamma(s)))
    return np.log(lam) - lam * dist - np.log(dist) + np.log(polygamma(1, s) - 1 / s) + t


def _run_hmc(kind: str, d: pd.DataFrame, g: np.ndarray):
    y = d["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), d["x"].to_numpy()])
    G = int(g.max()) + 1
    lam_b = -np.log(0.01)  # pc.prec P(sd > 1) = 0.01 on the group SD

    def logp_grad(par):
        beta, e, tb, tf = par[:2], par[2:2 + G], par[2 + G], par[3 + G]
        sd = np.exp(-0.5 * tb)
        eta = X @ beta + sd * e[g]
        mu = np.exp(eta)
        f = np.exp(tf)
        if kind == "gamma":  # f: the precision (shape)
            ll = np.sum(f * np.log(f * y / mu) - f * y / mu - np.log(y) - gammaln(f))
            deta = f * (y / mu - 1)
            dtf = float(np.sum(f * (np.log(f * y / mu) + 1 - y / mu - digamma(f))))
            lpf, dlpf = tf - 0.01 * f, 1 - 0.01 * f
        else:  # f: the size
            ll = np.sum(gammaln(y + f) - gammaln(f) - gammaln(y + 1) + f * np.log(f / (f + mu))
                        + y * np.log(mu / (f + mu)))
            deta = y - (y + f) * mu / (f + mu)
            dtf = float(np.sum(f * (digamma(y + f) - digamma(f) + np.log(f / (f + mu)) + 1
                                    - (f + y) / (f + mu))))
            lpf = _pc_mgamma(tf)
            dlpf = (_pc_mgamma(tf + 1e-5) - _pc_mgamma(tf - 1e-5)) / 2e-5
        lp = (ll - 0.5 * 0.001 * beta[1] ** 2 - 0.5 * np.sum(e * e)
              + np.log(0.5 * lam_b) - lam_b * sd - 0.5 * tb + lpf)
        gb = X.T @ deta - np.array([0.0, 0.001 * beta[1]])
        ge = sd * np.bincount(g, weights=deta, minlength=G) - e
        gtb = float(np.sum(deta * (-0.5 * sd * e[g]))) + 0.5 * lam_b * sd - 0.5
        return lp, np.concatenate([gb, ge, [gtb, dtf + dlpf]])

    x0 = np.concatenate([[np.log(y.mean()), 0.0], np.zeros(G), [0.0, 1.0]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        draws, acc = hmc(logp_grad, x0, n_iter=8000, n_warm=2000, seed=11)
    assert acc > 0.5
    return draws


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gamma", "nb"])
def test_glmm_with_dispersion_matches_hmc(kind):
    d, g = _glmm_data(kind, 21)
    draws = _run_hmc(kind, d, g)
    fam = get_family("Gamma", link="log") if kind == "gamma" else "nb"
    fit = inla("y ~ x + (1 | g)", d, family=fam, priors={"g": PCPrec(1.0, 0.01)})
    fx = fit.summary_fixed
    for j, name in enumerate(["(Intercept)", "x"]):
        s = draws[:, j]
        mcse = s.std() / np.sqrt(ess(s))
        # the Gaussian strategy centres at the conditional mode; a log-link posterior's mean
        # lies below it (measured: 0.18 SD for the Gamma intercept, 0.1 for the NB)
        assert abs(fx.loc[name, "mean"] - s.mean()) < 0.25 * s.std() + 4 * mcse, name
        assert fx.loc[name, "sd"] == pytest.approx(s.std(), rel=0.08), name
    row = fit.summary_sd.loc["SD for g"]
    sd = np.exp(-0.5 * draws[:, -2])
    for q in (0.025, 0.5, 0.975):
        assert row[f"{q}quant"] == pytest.approx(np.quantile(sd, q), rel=0.12), q
    name = ("Precision-parameter for the Gamma observations" if kind == "gamma"
            else "size for the nbinomial observations (1/overdispersion)")
    f = np.exp(draws[:, -1])
    hp = fit.summary_hyperpar.loc[name]
    # two hyperparameters: the marginals come from the z-lattice (bayes/marginals.py).
    # Measured: quantiles within 0.5% (Gamma) and 1.9% (NB size, 97.5%) of HMC's; the split
    # normals used before gave the NB size 9.0 against 10.9 there. Tolerances: a few Monte
    # Carlo errors of the HMC quantiles (ESS ~ 1000-2000)
    for q, tol in ((0.025, 0.06), (0.5, 0.06), (0.975, 0.08)):
        assert hp[f"{q}quant"] == pytest.approx(np.quantile(f, q), rel=tol), q
    default = fit.prior_summary().set_index("term")
    assert default.loc["Gamma" if kind == "gamma" else "size", "prior"].startswith(
        "loggamma(shape 1, rate 0.01)" if kind == "gamma" else "pc.mgamma(lambda 7)")
