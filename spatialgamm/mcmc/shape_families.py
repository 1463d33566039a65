"""Pointwise log-likelihood and posterior predictive draws of the families with brms's
``shape`` parameter, for draws of the mean and of the shape.

* ``negbinomial``: ``y ~ NB(mu, shape)`` with variance ``mu + mu^2 / shape`` (brms's
  ``neg_binomial_2``);
* ``Gamma``: ``y ~ Gamma(shape, rate = shape / mu)`` (mean ``mu``, variance ``mu^2 / shape``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..families import Family, NegativeBinomial


def has_shape(family: Family) -> bool:
    """Whether the family has brms's ``shape`` parameter (negative binomial, Gamma).

    Examples
    --------
    >>> from spatialgamm.families import get_family
    >>> has_shape(get_family("negbinomial")), has_shape(get_family("poisson"))
    (True, False)
    """
    return isinstance(family, NegativeBinomial) or family.name == "Gamma"


def loglik_draws(family: Family, y: np.ndarray, mu: np.ndarray, shape: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """``log p(y_i | mu, shape)`` for draws ``mu`` (..., n) and ``shape`` (...)."""
    k = np.asarray(shape, dtype=float)[..., None]
    if isinstance(family, NegativeBinomial):
        ll = stats.nbinom.logpmf(y, k, k / (k + mu))
    else:
        ll = stats.gamma.logpdf(y, k, scale=mu / k)
    return weights * ll


def predict_draws(family: Family, mu: np.ndarray, shape: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Posterior predictive draws of the response for draws ``mu`` (..., n) and ``shape``."""
    k = np.broadcast_to(np.asarray(shape, dtype=float)[..., None], mu.shape)
    if isinstance(family, NegativeBinomial):
        return rng.negative_binomial(k, k / (k + mu))
    return rng.gamma(k, mu / k)
