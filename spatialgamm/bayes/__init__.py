"""Bayesian inference the INLA way on the package's engine (issue 15).

``inla(formula, data, family=..., priors=..., control_compute=...)`` integrates the engine's
Laplace approximation over the hyperparameters (Rue, Martino & Chopin 2009) and returns an
:class:`InlaFit` with INLA's summaries, marginals, criteria and posterior maps.
"""

from .priors import (
    FixedEffectsPrior,
    HalfNormal,
    HalfT,
    LogGamma,
    PCMatern,
    PCMGamma,
    PCPrec,
    Wishart,
)

__all__ = ["FixedEffectsPrior", "GinlaFit", "HalfNormal", "HalfT", "InlaFit", "LogGamma",
           "PCMGamma", "PCMatern", "PCPrec", "Wishart", "ginla", "inla"]


def __getattr__(name: str):  # the front door imports the engine: load it on first use
    if name in ("inla", "InlaFit"):
        from . import fit as _fit
        return getattr(_fit, name)
    if name in ("ginla", "GinlaFit"):
        from . import ginla_marginals as _ginla
        return getattr(_ginla, name)
    raise AttributeError(name)
