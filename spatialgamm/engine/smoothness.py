"""Smoothing-parameter criteria of mgcv: effective degrees of freedom, UBRE/Cp and GCV.

At parameters ``phi`` the penalised fit (PLS for Gaussian data, PIRLS otherwise) has the
influence (hat) matrix ``F = H^-1 Xt' W Xt`` with ``Xt = [X, Z Lambda]`` and
``H = Xt' W Xt + blockdiag(0, P)``. Unpenalised coefficients have edf exactly 1; a block's
edf is ``q_k - tr(P_k [H^-1]_kk)``. With ``D`` the deviance and ``tau`` the total edf
(Wood 2017, sec. 6.2):

    UBRE = D / n + 2 scale tau / n - scale        (known scale: Poisson, binomial)
    GCV  = n D / (n - tau)^2                      (unknown scale)
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .pls import PLSResult
from .system import LatentSystem


def latent_inverse_diag(r: PLSResult, q: int) -> np.ndarray:
    """diag([H^-1]_uu) = diag(A^-1) + rowsums((A^-1 B R^-1)^2), R' R = X'VX."""
    if q == 0:
        return np.zeros(0)
    f = r.factor
    if q <= 3000:
        Ainv = f.solve(np.eye(q))
        d = np.diag(Ainv).copy()
        AinvB = Ainv @ r.B if r.B.shape[1] else None
    else:  # large latent blocks: selected inversion over the factor already in hand
        d = np.asarray(f.selected_inverse().diagonal()).ravel()
        AinvB = f.solve(r.B) if r.B.shape[1] else None
    if AinvB is not None and r.XtVX.shape[0]:
        R = sla.cholesky(r.XtVX, lower=False)
        M = sla.solve_triangular(R, AinvB.T, trans="T", lower=False)  # R^-T B' A^-1
        d += np.sum(M ** 2, axis=0)
    return d


def block_edf(system: LatentSystem, r: PLSResult, phi: np.ndarray | None = None
              ) -> np.ndarray:
    """Effective degrees of freedom of each block's penalised part.

    Factor blocks have ``P_k = I``: ``q_k - tr([H^-1]_kk)``. Precision blocks (several
    smoothing parameters, e.g. tensor products) need ``phi`` for ``q_k - tr(P_k [H^-1]_kk)``.
    """
    d = latent_inverse_diag(r, system.q)
    out = np.empty(len(system.blocks))
    for k, s in enumerate(system.col_slices):
        blk = system.blocks[k]
        if blk.kind == "precision" and s.stop > s.start:
            if phi is None:
                raise ValueError("block_edf needs phi for precision blocks")
            Pk, _ = system.block_precision(k, system.block_phi(phi, k))
            Hkk = _latent_inverse_block(r, s)
            Pk = Pk.toarray() if hasattr(Pk, "toarray") else np.asarray(Pk)
            out[k] = (s.stop - s.start) - float(np.sum(Pk * Hkk))
        else:
            out[k] = (s.stop - s.start) - float(np.sum(d[s]))
    return out


def _latent_inverse_block(r: PLSResult, s: slice) -> np.ndarray:
    """[H^-1]_kk for the latent columns ``s``: [A^-1]_kk + G_k (X'VX)^-1 G_k', G = A^-1 B."""
    E = np.zeros((r.B.shape[0], s.stop - s.start))
    E[np.arange(s.start, s.stop), np.arange(s.stop - s.start)] = 1.0
    AinvE = np.asarray(r.factor.solve(E))
    out = AinvE[s]
    if r.B.shape[1] and r.XtVX.shape[0]:
        Gk = AinvE.T @ r.B  # (A^-1 B)_k rows, A symmetric
        R = sla.cholesky(r.XtVX, lower=False)
        M = sla.solve_triangular(R, Gk.T, trans="T", lower=False)
        out = out + M.T @ M
    return out


def ubre(deviance: float, n: int, tau: float, scale: float = 1.0, gamma: float = 1.0) -> float:
    return deviance / n + 2.0 * gamma * scale * tau / n - scale


def gcv(deviance: float, n: int, tau: float, gamma: float = 1.0) -> float:
    return n * deviance / (n - gamma * tau) ** 2
