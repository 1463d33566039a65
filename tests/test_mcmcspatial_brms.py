"""brm() with gp() terms against brms 2.18 (rstan 2.21).

References: tests/reference/brms/brms_gp_reference.R -> brms_gp_reference.json (4 chains x 3000
post-warm-up draws) on data simulated there (gp_gauss.csv: 60 points, 1-D, Gaussian;
gp_pois.csv: 60 points, 2-D, Poisson; gp_by.csv: 80 points, ``gp(x, by = fac, k = 15,
c = 5/4)``, Gaussian). Tolerances are Monte Carlo errors, never tuned: a posterior mean within
4 combined MCSEs (ours from ArviZ, brms's from its SD and its own bulk ESS), a posterior SD
within 4 combined MCSEs of an SD; the expected response at new points (``posterior_epred``)
likewise. brms's default priors (the data-tuned inverse gamma on lscale) must match exactly.
"""

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from brms_compare import check_draws, check_epred

from spatialgamm.mcmc import brm

HERE = Path(__file__).parent / "reference/brms"
REF = json.loads((HERE / "brms_gp_reference.json").read_text())
MODELS = {"gauss": ("y ~ gp(x)", "gaussian"), "pois": ("y ~ gp(x1, x2)", "poisson"),
          "by": ("y ~ fac + gp(x, by = fac, k = 15, c = 5/4)", "gaussian")}


def fit_model(label, chains, iter, seed=3):
    formula, family = MODELS[label]
    data = pd.read_csv(HERE / f"gp_{label}.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return brm(formula, data, family=family, chains=chains, iter=iter, seed=seed,
                   progress=False)


def check_against_brms(fit, label, z=4.0, names=None):
    """``names``: the parameters to compare (default all of brms's)."""
    ref = REF[label]
    check_draws(fit.idata.posterior, ref, z, names=names)
    check_epred(fit, REF["newdata"][label], ref, z)


@pytest.mark.parametrize("label", list(MODELS))
def test_default_priors_are_brms(label):
    formula, family = MODELS[label]
    data = pd.read_csv(HERE / f"gp_{label}.csv")
    from spatialgamm.mcmc.api import all_priors, brms_formula
    from spatialgamm.mcmc.engine_adapter import model_data
    from spatialgamm.mcmc.gp_terms import split_gp_terms
    from spatialgamm.mcmc.spatial import build_fields

    base, gps = split_gp_terms(brms_formula(formula))
    md = model_data(base, data, family)
    _, priors = build_fields(md, gps, {}, all_priors(md, None))
    ref = pd.DataFrame(REF[label]["prior"])
    want = {(r["class"], r["coef"]): r["prior"] for _, r in ref.iterrows()
            if r["class"] in ("lscale", "sdgp", "Intercept", "sigma") and r["prior"]}
    ours = {(p.class_, p.coef): p.dist for p in priors if p.class_ in
            ("lscale", "sdgp", "Intercept", "sigma")}
    for key, dist in want.items():
        if key == ("lscale", ""):  # brms's "(flat)" class row: every GP has its own
            continue
        assert ours[key].replace(" ", "") == dist.replace(" ", ""), (key, ours[key], dist)


def test_by_factor_hsgp_short_chains_agree_with_brms():
    # short chains: sigma and the expected response at new points, which short chains
    # estimate well; the weakly identified sdgp / intercept tails are for the long chains
    check_against_brms(fit_model("by", chains=2, iter=600), "by", names=["sigma"])


@pytest.mark.study
@pytest.mark.parametrize("label", [
    # Gaussian: the exact marginal posterior (field_marginal.py); 4 x 1000 draws: intercept
    # bulk ESS 3113 (brms 2832), sdgp 1939 (brms 2389), no divergences, all z < 4
    "gauss",
    pytest.param("by", marks=pytest.mark.xfail(
        reason="4 x 1000 draws on the marginal posterior: every mean and SD within 4 MCSEs "
               "except sdgp_gpxfacb's SD, 1.14 (bulk ESS 1452) against brms's 0.83 from a "
               "bulk ESS of 678, and b_facb's SD 1.49 vs 1.31 (brms ESS 624): brms's own "
               "chains see a lighter tail along the sdgp / b_facb ridge (as ours did when "
               "non-centred: 0.63); brms_gp_by_long.R (4 x 10000, adapt_delta 0.99) is the "
               "reference that settles which, not yet run",
        strict=False)),
    pytest.param("pois", marks=pytest.mark.xfail(
        reason="Poisson: non-centred (no exact marginal); 4 x 1000 draws: intercept bulk "
               "ESS 7, Rhat 1.58, 1025 divergences (brms: ESS 790); with nutpie's low-rank "
               "mass matrix (now the default) ESS 174, Rhat 1.02, 412 divergences, intercept SD 0.94 vs "
               "brms's 1.17: still short of brms", strict=False)),
])
def test_long_chains_agree_with_brms(label):
    fit = fit_model(label, chains=4, iter=2000)
    check_against_brms(fit, label)
    assert np.all(az.rhat(fit.idata.posterior[list(REF[label]["mean"])])
                  .to_array().values < 1.02)
