"""A family whose IRLS weights are the *observed* information, as INLA's Laplace step.

The engine's PIRLS weights are the expected (Fisher) information ``wt mu_eta^2 / V``; for a
canonical link it equals minus the second derivative of the log-likelihood in ``eta``, and the
Laplace approximation of ``log p(y | theta)`` is the same either way. For a non-canonical link
(Gamma or Gaussian with a log link, binomial probit, negative binomial) INLA expands the
log-likelihood to second order at the mode, i.e. uses the observed information

    w_obs = w - wt (y - mu) d/d eta (mu_eta / V),

(McCullagh & Nelder 1989, sec. 2.5; the dispersion divides both, as the engine does with
``w / scale``; the weights are the engine's
:func:`~spatialgamm.engine.laplace.newton_working`, which gam's REML also uses).
:class:`ObservedInformation` wraps a family so that PIRLS takes full Newton steps (the mode is
the same) and the Laplace determinant ``log|A|`` uses ``w_obs``. Where
``w_obs`` is not positive (an observation far in a tail, where the log-likelihood is locally
convex in ``eta``) that observation keeps its expected information, so ``A`` stays positive
definite; INLA makes the same kind of safeguard.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.laplace import eta_derivative, newton_working


class ObservedInformation:
    """``family`` with :meth:`working` returning Newton (observed-information) quantities.

    Every other attribute is the wrapped family's. ``canonical`` is False (the link is not
    the family's canonical one) and ``newton_weights`` True: the weights are the Hessian of
    the log-likelihood in ``eta``, so the engine's exact Laplace gradient applies with
    :meth:`dw_deta` as the weights' derivative (the same formula as for canonical links,
    where the two informations agree).

    Examples
    --------
    >>> from spatialgamm.families import get_family
    >>> fam = ObservedInformation(get_family("Gamma", link="log"))
    >>> z, w = fam.working(np.array([2.0]), np.array([0.0]))
    >>> round(float(w[0]), 8)  # 1 - (2 - 1) * d/d eta (mu_eta / V) = 1 - (-1) = 2
    2.0
    """

    canonical = False
    newton_weights = True

    def __init__(self, family: Any):
        self.base = family

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def __repr__(self) -> str:
        return f"ObservedInformation({self.base!r})"

    def working(self, y: Any, eta: Any, wt: Any = None) -> tuple[np.ndarray, np.ndarray]:
        fam = self.base
        z, w = fam.working(y, eta, wt)
        eta = np.asarray(eta, dtype=float)
        y = np.broadcast_to(np.asarray(y, dtype=float), eta.shape)
        zn, w_obs = newton_working(fam, y, eta, z, w)  # the engine's observed information
        ok = (w > 0) & np.isfinite(w_obs) & (w_obs > 1e-8 * np.maximum(w, 1e-300))
        return np.where(ok, zn, z), np.where(ok, w_obs, w)

    def dw_deta(self, y: Any, eta: Any, wt: Any = None) -> np.ndarray:
        """``d w_obs / d eta`` per observation: central differences of :meth:`working`'s
        weights (the engine's :func:`~spatialgamm.engine.laplace.eta_derivative`). Where the
        safeguard swaps in the expected information the weight is not smooth; such
        observations are rare, in a tail."""
        return eta_derivative(lambda e: self.working(y, e, wt)[1], eta)
