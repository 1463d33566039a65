"""A group's random-effect covariance as the samplers move it, and its prior.

The sampler moves ``phi``: the lower triangle of the Cholesky factor ``T`` of one level's
covariance ``Sigma = T T'``, column by column (lme4's theta order), with the diagonal on the log
scale. The prior is stated on what users read, the standard deviations ``sd_i = ||T_i.||``
and the correlation Cholesky factor ``L = diag(1/sd) T`` (brms: independent half priors on the
SDs, LKJ(eta) on the correlation matrix), or as the lecture notes' Wishart on the precision
matrix ``Sigma^-1``. The change of variables is exact:

* ``(sd_i, L_i1..L_i,i-1) -> T_i.`` (row i, 1-based) has Jacobian ``sd_i^(i-1) / L_ii``;
* the LKJ(eta) density of ``L`` in its free (strictly lower) entries is
  ``prod_i L_ii^(K - i + 2 eta - 2)`` (Lewandowski, Kurowicka & Joe 2009; Stan's
  ``lkj_corr_cholesky``);
* ``T -> Sigma`` has Jacobian ``2^K prod_i T_ii^(K - i + 1)``;
* ``log T_ii -> T_ii`` adds ``sum_i log T_ii``.
"""

from __future__ import annotations

import numpy as np

from .priors import Prior


def tril_index(nc: int) -> list[tuple[int, int]]:
    """(row, column) of each theta entry: T's lower triangle column by column."""
    return [(r, c) for c in range(nc) for r in range(c, nc)]


_INDEX: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _index(nc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and diagonal flags of the theta entries (cached: runs per gradient)."""
    if nc not in _INDEX:
        rc = np.array(tril_index(nc), dtype=np.intp).reshape(-1, 2)
        _INDEX[nc] = (rc[:, 0], rc[:, 1], rc[:, 0] == rc[:, 1])
    return _INDEX[nc]


def diagonal_entries(nc: int) -> np.ndarray:
    """Which theta entries are diagonal elements of T."""
    return _index(nc)[2]


def theta_from_phi(phi: np.ndarray, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """``theta`` (T's entries) and ``d theta / d phi`` (diagonal: exp, else identity)."""
    dg = _index(nc)[2]
    theta = np.where(dg, np.exp(np.where(dg, phi, 0.0)), phi)
    return theta, np.where(dg, theta, 1.0)


def phi_from_theta(theta: np.ndarray, nc: int) -> np.ndarray:
    """The inverse of :func:`theta_from_phi` (diagonal made positive first)."""
    dg = _index(nc)[2]
    return np.where(dg, np.log(np.where(dg, np.abs(theta), 1.0)), theta)


def to_matrix(theta: np.ndarray, nc: int) -> np.ndarray:
    r, c, _ = _index(nc)
    T = np.zeros((nc, nc))
    T[r, c] = theta
    return T


def from_matrix(G: np.ndarray) -> np.ndarray:
    r, c, _ = _index(G.shape[0])
    return G[r, c]


def sd_cor(theta: np.ndarray, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations and correlation matrix of one level's coefficients.

    Examples
    --------
    >>> sd, R = sd_cor(np.array([3.0, 4.0, 5.0]), 2)   # T = [[3, 0], [4, 5]]
    >>> sd.round(4).tolist(), round(float(R[0, 1]), 4)
    ([3.0, 6.4031], 0.6247)
    """
    T = to_matrix(theta, nc)
    S = T @ T.T
    sd = np.sqrt(np.diag(S))
    return sd, S / np.outer(sd, sd)


def log_prior_T(T: np.ndarray, sd_priors: list[Prior], lkj_eta: float | None,
                wishart: Prior | None) -> tuple[float, np.ndarray]:
    """Log prior density of ``T`` (w.r.t. its lower-triangle entries) and its gradient.

    Parameters
    ----------
    T : ndarray (K, K)
        Lower triangular with a positive diagonal.
    sd_priors : list of Prior
        One half prior per standard deviation (unused with ``wishart``).
    lkj_eta : float or None
        LKJ shape of the correlation prior (``None``: 1, uniform over correlation matrices).
    wishart : Prior or None
        ``wishart_precision(nu, s...)``: Wishart(nu, S) on ``Sigma^-1`` with ``S = diag(s)``.
    """
    K = T.shape[0]
    diag = T.diagonal()
    if diag.min() <= 0:
        return -np.inf, np.zeros_like(T)
    if wishart is not None:
        nu, *s = wishart.args
        s = np.broadcast_to(np.asarray(s, dtype=float), (K,)) if len(s) in (1, K) else None
        if s is None:
            raise ValueError(f"prior {wishart.dist!r}: give one scale or {K} scales")
        psi = np.diag(1.0 / s)  # Sigma ~ inverse Wishart(nu, S^-1)
        Tinv = np.linalg.solve(T, np.eye(K))
        Sinv = Tinv.T @ Tinv
        i = np.arange(1, K + 1)
        a = -(nu + K + 1) + (K - i + 1)  # -(nu+K+1)/2 log|Sigma| + Jacobian T -> Sigma
        lp = float(np.sum(a * np.log(diag)) - 0.5 * np.trace(psi @ Sinv))
        G = Sinv @ psi @ Sinv @ T
        G[np.diag_indices(K)] += a / diag
        return lp, np.tril(G)
    # (this runs in every gradient evaluation: few numpy calls)
    sd = np.sqrt((T * T).sum(axis=1))
    i = np.arange(1.0, K + 1)
    eta = 1.0 if lkj_eta is None else lkj_eta
    c_diag = (K - i + 2 * eta - 2) + 1.0  # LKJ exponent + the Jacobian's 1 / L_ii
    # log p = sum h(sd_i) + sum c_i (log T_ii - log sd_i) - sum (i-1) log sd_i
    if all(p is sd_priors[0] for p in sd_priors):  # one prior for the group: one call
        h, dsd = sd_priors[0].logpdf(sd)
        lp = float(h.sum())
    else:
        lp, dsd = 0.0, np.zeros(K)  # d lp / d sd_i
        for k in range(K):
            h, dh = sd_priors[k].logpdf(sd[k])
            lp += float(h)
            dsd[k] = float(dh)
    logsd = np.log(sd)
    lp += float((c_diag * (np.log(diag) - logsd) - (i - 1) * logsd).sum())
    G = ((dsd - (c_diag + i - 1) / sd) / sd)[:, None] * T  # d sd_i / d T_ij = T_ij / sd_i
    G.flat[::K + 1] += c_diag / diag  # T lower triangular, so G is too
    return lp, G
