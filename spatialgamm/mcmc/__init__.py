"""Bayesian models the brms / Stan way: priors, NUTS (nutpie), the lecture notes' Gibbs
sampler, ArviZ diagnostics, PSIS-LOO, hypotheses and conditional effects.

Modules: :mod:`.api` (``brm``), :mod:`.priors`, :mod:`.covariance` (covariance
parameterisation and its priors), :mod:`.density` (log posteriors and gradients),
:mod:`.sampler` (nutpie, chains in processes), :mod:`.gibbs`, :mod:`.draws`
(InferenceData), :mod:`.fit` (``BrmsFit``, ``loo_compare``), :mod:`.summary`,
:mod:`.hypothesis`, :mod:`.effects`, :mod:`.engine_adapter` (every call into the engine).
"""

from .api import brm
from .fit import BrmsFit, loo_compare
from .priors import Prior, prior

__all__ = ["brm", "BrmsFit", "loo_compare", "Prior", "prior"]
