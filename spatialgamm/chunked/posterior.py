"""Standard errors of an out-of-core fit from its reduced statistics.

The posterior covariance of ``(beta, b)`` (mgcv's ``Vp`` in the engine's basis) needs only
``[X Z]' W [X Z]`` at the optimum's weights, which the last pass summed: with
``Lambda = Lambda(phi)``, ``P`` the latent prior precision (identity for factor blocks) and
the scale ``s``,

    H = [X  Z Lambda]' W [X  Z Lambda] + blockdiag(0, P),     cov(beta, u) = s H^-1,

and ``b = Lambda u``. Effective degrees of freedom per block are those of
:func:`~spatialgamm.engine.smoothness.block_edf` on the same PLS solution. Gaussian fits
report mgcv's scale, the weighted residual sum of squares over ``n - edf``, whose sum of
squares comes from the same statistics (``y'Wy - 2 c'[X Z]'Wy + c'[X Z]'W[X Z] c``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..engine.pls import CrossProducts, PLSResult
from ..engine.smoothness import block_edf
from ..engine.system import LatentSystem


@dataclass(frozen=True)
class ReducedPosterior:
    """``cov``: covariance of ``(beta, b)`` (scale included); ``edf_blocks``: each latent
    block's effective degrees of freedom (penalised part); ``rss``: the weighted residual
    sum of squares at the optimum (Gaussian fits)."""

    cov: np.ndarray
    edf_blocks: np.ndarray
    rss: float


def reduced_posterior(system: LatentSystem, cp: CrossProducts, r: PLSResult, phi: np.ndarray,
                      scale: float) -> ReducedPosterior:
    """The posterior of ``(beta, b)`` at ``phi`` from cross-products at the optimum's weights.

    Examples
    --------
    A fixed-effects-only model: ``cov = s (X'X)^-1``.

    >>> from spatialgamm.chunked.passes import Stats
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]]); y = np.array([1.0, 2, 2, 4])
    >>> system = LatentSystem([], 4)
    >>> cp = CrossProducts(np.zeros((0, 0)), np.zeros((0, 2)), X.T @ X, np.zeros(0),
    ...                    X.T @ y, float(y @ y))
    >>> class R:
    ...     beta, b = np.linalg.solve(X.T @ X, X.T @ y), (lambda self: np.zeros(0))
    >>> post = reduced_posterior(system, cp, R(), np.zeros(0), 1.0)
    >>> bool(np.allclose(post.cov, np.linalg.inv(X.T @ X)))
    True
    """
    p, q = cp.XtX.shape[0], system.q
    if q:
        Lam = system.Lambda(phi)
        Lam = Lam.toarray() if sp.issparse(Lam) else np.asarray(Lam)
        ZtZ = cp.ZtZ.toarray() if sp.issparse(cp.ZtZ) else np.asarray(cp.ZtZ)
        LZX = Lam.T @ cp.ZtX
        G = np.block([[cp.XtX, LZX.T], [LZX, Lam.T @ ZtZ @ Lam]])
        P, _ = system.precision(phi)
        H = G.copy()
        H[p:, p:] += np.eye(q) if P is None else (P.toarray() if sp.issparse(P) else P)
        edf = block_edf(system, r, phi)
    else:
        Lam, ZtZ, G, H, edf = np.zeros((0, 0)), np.zeros((0, 0)), cp.XtX, cp.XtX, np.zeros(0)
    try:  # H is positive definite (a pseudo-inverse would understate variances)
        Hinv = sla.cho_solve(sla.cho_factor(0.5 * (H + H.T)), np.eye(p + q))
    except np.linalg.LinAlgError:
        Hinv = np.linalg.pinv(H)
    T = np.eye(p + q)
    T[p:, p:] = Lam
    cov = scale * (T @ Hinv @ T.T)
    c = np.concatenate([np.asarray(r.beta, dtype=float), np.asarray(r.b(), dtype=float)])
    XZty = np.concatenate([cp.Xty, np.asarray(cp.Zty, dtype=float)])
    XZ2 = np.block([[cp.XtX, cp.ZtX.T], [cp.ZtX, ZtZ]]) if q else cp.XtX
    rss = float(cp.yty - 2 * c @ XZty + c @ XZ2 @ c)
    return ReducedPosterior(cov=cov, edf_blocks=edf, rss=max(rss, 0.0))


def predict_se(X: np.ndarray, Z: list, cov: np.ndarray) -> np.ndarray:
    """Standard errors of the linear predictor at design rows ``[X Z]`` (``Z`` per block)."""
    parts = [X] + [Zk.toarray() if sp.issparse(Zk) else np.asarray(Zk) for Zk in Z]
    D = np.column_stack(parts) if len(parts) > 1 else X
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", D, cov, D), 0.0))
