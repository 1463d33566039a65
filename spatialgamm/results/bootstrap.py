"""Parametric bootstrap of a fitted mixed model (lme4's ``bootMer`` with percentile intervals).

Each replicate simulates new random effects from their fitted distribution and a new response
from the family, refits the same model structure (same blocks, same design; only ``y``
changes, starting from the fitted parameters) and records the fixed effects and the
``sdcor`` column of ``varcorr``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm


def simulate_response(fit, rng: np.random.Generator) -> np.ndarray:
    """One draw of the response from the fitted model (new random effects, new noise)."""
    st, spec = fit.state, fit.spec
    sysl = st.extra["system"]
    eta = spec.offset + spec.X @ st.beta
    if sysl.q:
        P, _ = sysl.precision(st.phi)
        if P is None:
            u = rng.standard_normal(sysl.q) * np.sqrt(st.latent_scale)
        else:  # precision blocks: u ~ N(0, s P^-1) via P = L L'
            from ..engine.linalg import make_factor
            f = make_factor(P)
            u = f.solve_Lt(rng.standard_normal(sysl.q)) * np.sqrt(st.latent_scale)
        b = np.asarray(sysl.Lambda(st.phi) @ u).ravel()
        eta = eta + np.asarray(sysl.Z @ b).ravel()
    mu = spec.family.link.linkinv(eta)
    fam = spec.family.name
    w = spec.weights
    if fam == "gaussian":
        return mu + rng.standard_normal(len(mu)) * np.sqrt(st.scale / w)
    if fam == "poisson":
        return rng.poisson(mu).astype(float)
    if fam == "binomial":
        n = np.round(w).astype(int)
        return np.where(n > 0, rng.binomial(np.maximum(n, 1), mu) / np.maximum(n, 1), 0.0)
    raise NotImplementedError(f"bootstrap is not implemented for family {fam!r}")


def parametric_bootstrap(fit, n: int = 200, seed: int | None = None, level: float = 0.95,
                         progress: bool = True) -> pd.DataFrame:
    """Percentile intervals from ``n`` parametric bootstrap refits.

    Returns a DataFrame indexed by parameter (fixed effects by name, then
    ``sd|cor(grp: var1[, var2])`` and ``sigma``) with columns estimate, boot_mean, boot_sd,
    lower, upper and the number of successful refits.
    """
    from .assemble import refit

    if n < 1:
        raise ValueError(f"n must be a positive number of replicates, got {n}")
    rng = np.random.default_rng(seed)

    def params(f) -> pd.Series:
        vc = f.varcorr
        names = [f"{'cor' if isinstance(r.var2, str) else 'sd'}({r.grp}"
                 f"{': ' + str(r.var1) if isinstance(r.var1, str) else ''}"
                 f"{', ' + r.var2 if isinstance(r.var2, str) else ''})" for r in vc.itertuples()]
        return pd.concat([f.fixef, pd.Series(vc["sdcor"].to_numpy(), index=names)])

    est = params(fit)
    draws = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in tqdm(range(n), disable=not progress, desc="bootstrap", leave=False):
            y = simulate_response(fit, rng)
            try:
                draws.append(params(refit(fit, y=y)).to_numpy())
            except (np.linalg.LinAlgError, RuntimeError, ValueError):
                continue
    if not draws:
        raise RuntimeError("every bootstrap refit failed")
    D = np.array(draws)
    a = (1 - level) / 2
    return pd.DataFrame({"estimate": est.to_numpy(), "boot_mean": D.mean(0),
                         "boot_sd": D.std(0, ddof=1) if len(D) > 1 else np.nan,
                         "lower": np.quantile(D, a, axis=0),
                         "upper": np.quantile(D, 1 - a, axis=0),
                         "n_ok": len(D)}, index=est.index)
