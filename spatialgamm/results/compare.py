"""Likelihood-ratio comparison of nested fits (lme4's ``anova(m1, m2)``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .refit import refit_ml


def anova(*fits, refit: bool = True, test: str | None = None):
    """Compare nested models by likelihood-ratio tests, ordered by number of parameters.

    REML fits are refitted by ML first (as lme4 does with ``refit = TRUE``): REML
    likelihoods of models with different fixed effects are not comparable. GAM fits
    (``sg.gam``) follow mgcv's ``anova.gam`` instead (:mod:`.anova_gam`): several fits give
    its analysis of deviance (``test="Chisq"`` or ``"F"``), one fit its term tests.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.load_sleepstudy()
    >>> a = sg.anova(sg.lmer("Reaction ~ Days + (1|Subject)", d),
    ...              sg.lmer("Reaction ~ Days + (Days|Subject)", d))
    >>> int(a["Df"].iloc[1])
    2
    """
    from .gam import GamFit
    if fits and all(isinstance(f, GamFit) for f in fits):
        from .anova_gam import anova_fits, anova_one
        return anova_one(fits[0]) if len(fits) == 1 else anova_fits(*fits, test=test)
    if len(fits) < 2:
        raise ValueError("anova needs at least two fits")
    ml = []
    for f in fits:
        if getattr(f, "REML", False) and refit:
            f = refit_ml(f)
        ml.append(f)
    n = {f.nobs for f in ml}
    if len(n) > 1:
        raise ValueError(f"models were fitted to different numbers of observations: {sorted(n)}")
    order = sorted(range(len(ml)), key=lambda i: ml[i].n_params)
    rows = []
    prev = None
    for i in order:
        f = ml[i]
        row = {"model": f.spec.formula.text, "npar": f.n_params, "AIC": f.aic, "BIC": f.bic,
               "logLik": f.loglik, "deviance": -2 * f.loglik, "Chisq": np.nan, "Df": np.nan,
               "Pr(>Chisq)": np.nan}
        if prev is not None:
            chisq = 2 * (f.loglik - prev.loglik)
            df = f.n_params - prev.n_params
            if chisq < -1e-6:
                warnings.warn("the larger model fits worse: are the models nested?",
                              UserWarning, stacklevel=2)
            row.update(Chisq=max(chisq, 0.0), Df=df,
                       **{"Pr(>Chisq)": float(stats.chi2.sf(max(chisq, 0.0), df))
                          if df > 0 else np.nan})
        rows.append(row)
        prev = f
    return pd.DataFrame(rows)
