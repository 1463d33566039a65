"""Draws against brms's posterior summaries within Monte Carlo error (shared by the brm()
tests that compare with tests/reference/brms*/): a mean within ``z`` combined MCSEs (ours
from ArviZ, brms's from its SD and its own bulk ESS), an SD likewise, and the expected
response at new points (``posterior_epred``) likewise. Tolerances are Monte Carlo errors,
never tuned."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd


def check_draws(post, ref: dict, z: float = 4.0, names=None, sign: dict | None = None
                ) -> None:
    """Every parameter in ``ref["mean"]`` (or only ``names``); ``sign`` flips brms's mean of
    a parameter whose basis vector has the other sign (smooths' null spaces)."""
    sign = sign or {}
    for var, m_ref in ref["mean"].items():
        if names is not None and var not in names:
            continue
        sd_ref, ess_ref = ref["sd"][var], ref["ess_bulk"][var]
        m_ref = sign.get(var, 1.0) * m_ref
        v = post[var].values.ravel()
        mcse = float(az.mcse(post[[var]])[var])
        mcse_sd = float(az.mcse(post[[var]], method="sd")[var])
        assert abs(v.mean() - m_ref) < z * np.hypot(mcse, sd_ref / np.sqrt(ess_ref)), \
            (var, v.mean(), m_ref)
        assert abs(v.std(ddof=1) - sd_ref) < z * np.hypot(mcse_sd,
                                                           sd_ref / np.sqrt(2 * ess_ref)), \
            (var, v.std(ddof=1), sd_ref)


def check_epred(fit, newdata: list | dict, ref: dict, z: float = 4.0) -> None:
    """``posterior_epred`` at ``newdata`` against brms's ``epred_mean`` / ``epred_sd`` /
    ``epred_ess`` (the draws' ESS per chain, as ArviZ computes it)."""
    nd = pd.DataFrame(newdata)
    ep = fit.posterior_epred(nd, seed=1)
    chains = fit.idata.posterior.sizes["chain"]
    ess = az.ess(az.convert_to_dataset({"e": ep.reshape(chains, -1, ep.shape[1])}))["e"].values
    for j in range(len(nd)):
        se = np.hypot(ep[:, j].std() / np.sqrt(ess[j]),
                      ref["epred_sd"][j] / np.sqrt(ref["epred_ess"][j]))
        assert abs(ep[:, j].mean() - ref["epred_mean"][j]) < z * se, \
            (j, ep[:, j].mean(), ref["epred_mean"][j])
