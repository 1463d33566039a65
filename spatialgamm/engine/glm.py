"""IRLS kernels: the unpenalised GLM fit (R's ``glm.fit``) and the step halving that
every penalised IRLS loop (Laplace's PIRLS, adaptive quadrature's modes) shares.

:func:`glm_irls` is used where a model needs the fixed-effects-only fit: starting values
of a latent model (the field's prior mean and a variogram of its residuals) and the null
deviance (intercept-only model with the same offset). Each iteration solves the weighted normal
equations ``X'WX beta = X'W (z - offset)`` with ``Family.working``'s ``z`` and ``w``;
it stops when no coefficient moves by more than ``tol * (1 + max |beta|)``.

:func:`halve_step` is PIRLS's guard against divergence: from the current point, the full
step is halved until the penalised deviance does not increase (lme4's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..families import Family


class PIRLSError(RuntimeError):
    """Penalised IRLS failed (diverged or produced non-finite values)."""


class Step(NamedTuple):
    """An accepted (possibly halved) PIRLS step: fraction ``t`` of the full step, the
    linear predictor, mean and latent coefficients there, and the penalised deviance."""

    t: float
    eta: np.ndarray
    mu: np.ndarray
    u: np.ndarray
    objective: float


def halve_step(family: Family, y: np.ndarray, wt: np.ndarray, scale: float, eta: np.ndarray,
               eta_new: np.ndarray, u: np.ndarray, u_new: np.ndarray, old_objective: float,
               penalty: Callable[[np.ndarray], float], max_halvings: int = 30) -> Step:
    """The longest step ``t = 1, 1/2, 1/4, ...`` towards ``(eta_new, u_new)`` whose penalised
    deviance ``sum dev_resids / scale + penalty(u)`` is finite and not above
    ``old_objective`` (up to rounding: a relative 1e-12).

    Raises
    ------
    PIRLSError
        When ``max_halvings`` halvings do not reduce it (divergence).

    Examples
    --------
    >>> from spatialgamm.families import get_family
    >>> fam, y = get_family("poisson"), np.array([3.0, 1.0])
    >>> s = halve_step(fam, y, np.ones(2), 1.0, np.zeros(2), np.log(y), np.zeros(0),
    ...                np.zeros(0), np.inf, lambda u: 0.0)
    >>> s.t, round(s.objective, 12)
    (1.0, 0.0)
    """
    link = family.link
    t = 1.0
    for _ in range(max_halvings):
        eta_t = eta_new if t == 1.0 else eta + t * (eta_new - eta)
        if link.valid_eta(eta_t):
            mu_t = link.linkinv(eta_t)
            u_t = u_new if t == 1.0 else u + t * (u_new - u)
            # a step outside the mean's range (Gamma identity link: mu < 0) has no finite
            # deviance and is halved: no warning for the log of a negative ratio
            with np.errstate(invalid="ignore", divide="ignore"):
                obj = float(np.sum(family.dev_resids(y, mu_t, wt))) / scale + penalty(u_t)
            if np.isfinite(obj) and obj <= old_objective * (1 + 1e-12) + 1e-12:
                return Step(t, eta_t, mu_t, u_t, obj)
        t /= 2
    raise PIRLSError("PIRLS step halving failed to reduce the penalised deviance "
                     "(divergence; check for separation or extreme offsets)")


@dataclass(frozen=True)
class GLMFit:
    """The IRLS solution: coefficients, linear predictor, mean and how it went."""

    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    iterations: int
    converged: bool


def glm_irls(X: np.ndarray, y: np.ndarray, family: Family, weights: np.ndarray | None = None,
             offset: np.ndarray | None = None, eta0: np.ndarray | None = None,
             tol: float = 1e-8, maxit: int = 50) -> GLMFit:
    """Maximum-likelihood GLM coefficients by IRLS.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects design (``p = 0`` gives the offset-only model).
    y : ndarray (n,)
        Response (proportions for the binomial, with ``weights`` the trials).
    family : Family
    weights, offset : ndarray (n,), optional
        Prior weights (default 1) and offset (default 0).
    eta0 : ndarray (n,), optional
        Starting linear predictor; default ``linkfun(family.initialize(y, weights))``, R's
        ``mustart``.
    tol, maxit : float, int
        Stop when ``max |beta_new - beta| < tol (1 + max |beta_new|)`` or after ``maxit``
        iterations.

    Returns
    -------
    GLMFit

    Examples
    --------
    >>> from spatialgamm.families import get_family
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> r = glm_irls(np.column_stack([np.ones(4), x]), np.array([1.0, 2.0, 4.0, 9.0]),
    ...              get_family("poisson"))
    >>> r.converged, np.round(r.beta, 4)
    (True, array([-0.0605,  0.7478]))
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    if len(y) != n:
        raise ValueError(f"y has {len(y)} rows but X has {n}")
    wt = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    link = family.link
    eta = link.linkfun(family.initialize(y, wt)) if eta0 is None else np.asarray(eta0, float)
    beta = np.zeros(p)
    if p == 0:
        eta = off.copy()
        return GLMFit(beta, eta, link.linkinv(eta), 0, True)
    converged, iterations = False, 0
    while not converged and iterations < maxit:
        iterations += 1
        z, w = family.working(y, eta, wt)
        Xw = X * w[:, None]
        beta_new = np.linalg.lstsq(X.T @ Xw, Xw.T @ (z - off), rcond=None)[0]
        eta_new = off + X @ beta_new
        converged = bool(np.max(np.abs(beta_new - beta)) < tol * (1 + np.max(np.abs(beta_new))))
        beta, eta = beta_new, eta_new
    return GLMFit(beta, eta, link.linkinv(eta), iterations, converged)
