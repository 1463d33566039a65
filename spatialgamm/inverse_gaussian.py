"""The inverse Gaussian family, R's ``inverse.gaussian()``: V(mu) = mu^3, scale unknown.

Kept beside :mod:`spatialgamm.families` (whose :func:`~spatialgamm.families.get_family`
resolves ``"inverse.gaussian"`` to it) so that module's classes stay as they are.

The density is f(y) = (2 pi phi y^3)^(-1/2) exp(-(y - mu)^2 / (2 phi mu^2 y)) (McCullagh &
Nelder 1989, sec. 2.2.2); the unit deviance (y - mu)^2 / (y mu^2); R's ``aic`` plugs in
phi = deviance / sum(wt).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .families import Family, PositiveResponse
from .links import Array, _arr


class InverseGaussian(PositiveResponse, Family):
    """Inverse Gaussian response with R's default link ``1/mu^2`` (canonical).

    Examples
    --------
    >>> fam = InverseGaussian()
    >>> fam.link.name, float(fam.variance(2.0))
    ('1/mu^2', 8.0)
    >>> round(float(fam.dev_resids([2.0], [1.0])[0]), 6)
    0.5
    """

    name = "inverse.gaussian"
    default_link = canonical_link = "1/mu^2"
    allowed_links = ("1/mu^2", "inverse", "log", "identity")
    scale_known = False
    mu_positive = True

    def variance(self, mu: ArrayLike) -> Array:
        return _arr(mu) ** 3

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        return wt * (y - mu) ** 2 / (y * mu ** 2)

    def _plugin_scale(self, y: Array, mu: Array, wt: Array) -> float:
        # R's inverse.gaussian()$aic uses disp = dev / sum(wt)
        return float(np.sum(self.dev_resids(y, mu, wt)) / np.sum(wt))

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """wt * log f(y; mu, phi) with phi the dispersion (``None``: R's dev / sum(wt)), so that
        the sum is R's ``logLik(glm(..., inverse.gaussian))``."""
        y, mu, wt = self._prep(y, mu, wt)
        phi = self._scale(y, mu, wt, scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * np.log(2 * np.pi * phi * y ** 3) - (y - mu) ** 2 / (2 * phi * mu ** 2 * y)
        return np.where(wt > 0, wt * ll, 0.0)
