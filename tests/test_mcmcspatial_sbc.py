"""Simulation-based calibration (Talts et al. 2018) of brm() on a small exact-GP model
(spatialgamm.mcmc.sbc_gp): uniform ranks of the true intercept, sdgp, lscale and sigma among
thinned posterior draws. A tiny run in the default suite (the machinery, ranks in range), the
real test (chi-square on 10 bins, Bonferroni over the four parameters at 1%) marked study."""

import numpy as np
import pytest

from spatialgamm.mcmc.sbc import rank_chisq
from spatialgamm.mcmc.sbc_gp import GP_PARAMS, sbc_gp, simulate_gp


def test_simulated_data_are_on_brms_scale():
    truth, df = simulate_gp(np.random.default_rng(0), n=12)
    assert set(truth) == set(GP_PARAMS)
    assert np.ptp(df["x"]) == 1.0  # brms's scaling leaves the sites where they are


def test_sbc_gp_tiny():
    res = sbc_gp(n_rep=2, seed=1, n_draws=9, thin=1, warmup=60, n=6)
    assert list(res.ranks.columns) == GP_PARAMS
    assert res.ranks.to_numpy().min() >= 0 and res.ranks.to_numpy().max() <= 9


@pytest.mark.study
def test_sbc_gp_ranks_uniform():
    res = sbc_gp(n_rep=150, seed=2, n_draws=99, thin=2, warmup=300)
    for p in GP_PARAMS:
        assert rank_chisq(res.ranks[p].to_numpy(), 99, 10) > 0.01 / len(GP_PARAMS), p
