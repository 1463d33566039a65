"""The lecture notes' Gibbs sampler against NUTS under the same priors (sleepstudy), and
simulation-based calibration of brm() on a small LMM (Talts et al. 2018).

Agreement is judged by Monte Carlo error: posterior means within 4 combined MCSEs (ArviZ) and
posterior SDs within 4 combined MCSEs of an SD. SBC: rank histograms uniform by a chi-square
test (tiny run by default, 200 replications marked slow).
"""

import warnings

import arviz as az
import numpy as np
import pytest

from spatialgamm.datasets import load_sleepstudy
from spatialgamm.mcmc import brm
from spatialgamm.mcmc.gibbs import gibbs_lmm
from spatialgamm.mcmc.sbc import PARAMS, rank_chisq, sbc_lmm

VARS = ["b_Intercept", "b_Days", "sd_Subject__Intercept", "sd_Subject__Days",
        "cor_Subject__Intercept__Days", "sigma"]


def agree(a, b, z=4.0):
    for v in VARS:
        pa, pb = a.idata.posterior[[v]], b.idata.posterior[[v]]
        ma, mb = pa[v].values.mean(), pb[v].values.mean()
        ea, eb = float(az.mcse(pa)[v]), float(az.mcse(pb)[v])
        assert abs(ma - mb) < z * np.hypot(ea, eb), (v, ma, mb)
        sa, sb = pa[v].values.std(ddof=1), pb[v].values.std(ddof=1)
        ua, ub = float(az.mcse(pa, method="sd")[v]), float(az.mcse(pb, method="sd")[v])
        assert abs(sa - sb) < z * np.hypot(ua, ub), (v, sa, sb)


def run_pair(gibbs_iter, nuts_iter, chains):
    d = load_sleepstudy()
    g = gibbs_lmm("Reaction ~ Days + (Days | Subject)", d, beta_prior=(0, 1e3),
                  tau_prior=(1, 0.005), wishart=(3, [0.001, 0.01]), chains=chains,
                  iter=gibbs_iter, seed=7, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = brm("Reaction ~ Days + (Days | Subject)", d, prior=g.priors, center=False,
                chains=chains, iter=nuts_iter, seed=8, progress=False)
    return g, n


def test_gibbs_and_nuts_agree_on_sleepstudy():
    g, n = run_pair(gibbs_iter=1600, nuts_iter=700, chains=2)
    assert g.sampler == "gibbs" and "Gibbs" in str(g.summary())
    agree(g, n)


def test_gibbs_conditional_of_tau_is_the_closed_form():
    # with the random effects fixed at huge precision the model is a linear model with a
    # N(0, 1e3^2) prior on beta and Ga(a, b) on tau: the marginal posterior of sigma^-2 is
    # then close to Ga(a + (n - p)/2, b + RSS/2) (flat-prior limit)
    d = load_sleepstudy()
    g = gibbs_lmm("Reaction ~ Days + (1 | Subject)", d, wishart=(1e6, 1e6), chains=1,
                  iter=2000, seed=2, progress=False)
    X = np.column_stack([np.ones(len(d)), d["Days"]])
    rss = float(np.sum((d["Reaction"] - X @ np.linalg.lstsq(X, d["Reaction"], rcond=None)[0])
                       ** 2))
    tau = 1 / g.draws("sigma") ** 2
    shape, rate = 1 + (len(d) - 2) / 2, 0.005 + rss / 2
    mcse = float(az.mcse(az.convert_to_dataset(tau[None, :]))["x"])
    assert abs(tau.mean() - shape / rate) < 4 * mcse + 0.01 * shape / rate


def test_gibbs_refuses_bad_priors():
    d = load_sleepstudy()
    with pytest.raises(ValueError, match="nu"):
        gibbs_lmm("Reaction ~ Days + (Days | Subject)", d, wishart=(0.5, 1.0), iter=10)
    with pytest.raises(ValueError, match="no \\(expr \\| group\\)"):
        gibbs_lmm("Reaction ~ Days", d, iter=10)
    with pytest.raises(ValueError, match="positive"):
        gibbs_lmm("Reaction ~ Days + (1 | Subject)", d, tau_prior=(0, 1), iter=10)


def test_sbc_tiny():
    # 8 replications, ranks among 19 draws on 4 bins: catches a grossly miscalibrated
    # posterior (a wrong prior or likelihood term shifts the ranks to one end)
    res = sbc_lmm(n_rep=8, seed=1, n_draws=19, thin=2, warmup=150)
    r = res.ranks[PARAMS].to_numpy().ravel()
    assert r.min() >= 0 and r.max() <= 19
    assert rank_chisq(r, 19, 4) > 1e-3


@pytest.mark.slow
@pytest.mark.study
def test_sbc_lmm_ranks_uniform():
    res = sbc_lmm(n_rep=200, seed=2, n_draws=99, thin=2, warmup=300)
    for p in PARAMS:
        # Bonferroni over the four parameters at 1%
        assert rank_chisq(res.ranks[p].to_numpy(), 99, 10) > 0.01 / 4, p


@pytest.mark.slow
@pytest.mark.study
def test_sbc_poisson_glmm_ranks_uniform():
    res = sbc_lmm(n_rep=200, seed=3, n_draws=99, thin=2, warmup=300, family="poisson")
    for p in PARAMS[:3]:
        assert rank_chisq(res.ranks[p].to_numpy(), 99, 10) > 0.01 / 3, p


@pytest.mark.slow
@pytest.mark.study
def test_gibbs_and_nuts_agree_long():
    g, n = run_pair(gibbs_iter=6000, nuts_iter=3000, chains=4)
    agree(g, n)
