"""Standard errors of negative binomial GLMMs: conditional on theta (glmer.nb's) or joint.

``glmer.nb`` estimates theta, then refits ``glmer`` with theta held at its estimate: its
fixed-effect SEs are those of that last fit, *conditional* on theta. The *joint* ones invert
the Hessian of the Laplace deviance in ``(phi, log theta, beta)`` and so carry theta's
uncertainty (as glmmTMB's ``nbinom2``, although glmmTMB's Laplace uses the observed rather
than the expected information and so differs slightly in every number).

The log link is not canonical for the negative binomial, so the Laplace deviance has no
exact gradient here and its Hessian is a central difference. Two things keep it from moving
with the difference step:

* every evaluation runs PIRLS from the same start (the mode at the estimates) to a tight
  tolerance, so the deviance is one smooth function rather than one that depends on the
  path of warm starts (which leaves ~1e-8 of jitter: enough to ruin a step of 1e-4);
* the steps are 1% of each parameter's own standard error (a first pass on rough scales
  gives those), so the second difference is ~1e-4 of the deviance's curvature, far above
  its rounding and far below its higher-order terms.
"""

from __future__ import annotations

import numpy as np

from ..engine.derivatives import hessian_and_gradient
from ..engine.laplace import LaplaceObjective, PIRLSError

#: difference step as a fraction of each parameter's standard error
STEP = 0.01


def _pinned_deviance(lap: LaplaceObjective, k: int, theta_slot: bool, eta0: np.ndarray):
    """The glmer stage-2 deviance of ``(phi[, log theta], beta)``, PIRLS from ``eta0``."""
    base = lap.family

    def f(par: np.ndarray) -> float:
        if theta_slot:
            lap.family = base.with_theta(float(np.exp(np.clip(par[k], -30, 30))))
        beta = par[k + 1:] if theta_slot else par[k:]
        try:
            mode = lap.pirls(par[:k], beta=beta, tol=1e-12, maxit=200, eta0=eta0)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return lap.laplace(mode, fixed_beta=True)

    return f


def negbin_vcov(lap: LaplaceObjective, par: np.ndarray, k: int, theta_slot: bool,
                eta0: np.ndarray, se_beta: np.ndarray
                ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Fixed-effect covariances (conditional on theta, joint) at the estimates.

    Parameters
    ----------
    lap : LaplaceObjective
        The u-space objective, its family at the estimated (or given) theta.
    par : ndarray
        ``(phi, log theta, beta)`` when ``theta_slot`` (theta estimated), else
        ``(phi, beta)``.
    k : int
        Number of covariance parameters ``phi``.
    eta0 : ndarray
        The linear predictor at the mode at ``par``: every PIRLS starts there.
    se_beta : ndarray
        Rough standard errors of ``beta`` (scales of the first pass).

    Returns
    -------
    (conditional, joint)
        ``2 H^-1`` restricted to ``beta``, without / with the ``log theta`` row and column
        (the same matrix twice when theta was given); ``(None, None)`` if the Hessian is not
        positive definite.
    """
    family, start = lap.family, lap._eta_start
    f = _pinned_deviance(lap, k, theta_slot, eta0)
    ke = k + int(theta_slot)
    scale = np.concatenate([np.full(ke, 0.1), np.maximum(np.abs(se_beta), 1e-8)])
    try:
        H = None
        for _ in range(2):  # rough scales, then each parameter's own standard error
            H_new, _, _ = hessian_and_gradient(f, par, STEP * scale)
            if not np.all(np.isfinite(H_new)):
                break
            np.linalg.cholesky(H_new)
            H = H_new
            scale = np.sqrt(np.diag(2.0 * np.linalg.inv(H)))
    except np.linalg.LinAlgError:
        pass
    finally:
        lap.family, lap._eta_start = family, start
    if H is None:
        return None, None
    joint = 2.0 * np.linalg.inv(H)[ke:, ke:]
    keep = [i for i in range(len(par)) if not (theta_slot and i == k)]
    cond = 2.0 * np.linalg.inv(H[np.ix_(keep, keep)])[k:, k:]
    return cond, joint
