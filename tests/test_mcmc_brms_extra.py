"""brm() against brms on a Poisson GLMM with two crossed grouping factors (lme4's grouseticks)
and on a Gaussian LMM with two bar terms of one group (the dense marginal path).

References: tests/reference/brms/brms_reference_extra.R -> brms_reference_extra.json (4 x 3000
draws). Same Monte Carlo rule as tests/test_mcmc_brms.py (means and SDs within 4 combined
MCSEs, elpd_loo within brms's SE). brms's smallest bulk ESS (brms_reference_extra.out) is 711
for grouseticks (sd(LOCATION), with 325 divergent transitions of 12000 in brms's run) and
4791 for the uncorrelated sleepstudy model: the reference MCSEs use 700 and 2400.
"""

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from test_mcmc_brms import check_against_brms

from spatialgamm.datasets import load_sleepstudy
from spatialgamm.mcmc import brm

HERE = Path(__file__).parent / "reference/brms"
REF = json.loads((HERE / "brms_reference_extra.json").read_text())


def grouseticks() -> pd.DataFrame:
    g = pd.read_csv(HERE / "grouseticks.csv")
    for c in ("YEAR", "BROOD", "LOCATION"):
        g[c] = pd.Categorical(g[c].astype(str))
    return g


def fit(label: str, chains: int, iter: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if label == "grouseticks":
            return brm("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", grouseticks(),
                       family="poisson", chains=chains, iter=iter, seed=31, progress=False)
        return brm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", load_sleepstudy(),
                   chains=chains, iter=iter, seed=32, progress=False)


@pytest.mark.slow
@pytest.mark.study
@pytest.mark.parametrize("label", ["grouseticks", "sleepstudy_uncorrelated"])
def test_agrees_with_brms(label):
    f = fit(label, chains=4, iter=2000)
    names = set(REF[label]["mean"])
    assert names <= set(f.idata.posterior.data_vars), names - set(f.idata.posterior.data_vars)
    check_against_brms(f, label, ref=REF, ref_ess=700 if label == "grouseticks" else None)
