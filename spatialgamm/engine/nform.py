"""The n x n form of the Gaussian least-squares solve, for far more latent columns than rows.

A Hilbert-space GP with ``m = 50`` per dimension has q = 2,500 basis functions; on 52 points
the q x q system ``A = I + U'U`` (``U = W^1/2 Z Lambda``, n x q) costs q^3 per evaluation
while everything it determines follows from the n x n matrix

    V = I_n + U U'          (the marginal covariance of W^1/2 y, relative to sigma^2)

(Woodbury; Rasmussen & Williams 2006, A.9; Sylvester's determinant identity):

    log|A|  = log|V|
    X'VX    = X'W X - B'A^-1 B = X~' V^-1 X~             (X~ = W^1/2 X, B = U'X~)
    u       = U' V^-1 (y~ - X~ beta),   pwrss = r' V^-1 r   (r = y~ - X~ beta)
    A^-1 b  = b - U' V^-1 U b

so one evaluation costs O(n^2 q + n^3). The exact gradient in ``phi`` (dU = W^1/2 Z dLambda):

    d log|V|      = 2 tr(V^-1 U dU')
    d pwrss       = -2 u' dU' a                          (a = V^-1 r; envelope in beta)
    d log|X'VX|   = -2 tr(R (U'H)' (dU'H))               (H = V^-1 X~, R = (X'VX)^-1)

This is the storage strategy ``"nform"`` of :class:`~.pls.PLSSolver` (Gaussian identity link,
factor blocks only, q > n); the covariance form of :mod:`.covform` is its Laplace analogue for
pointwise-observed fields.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs

from .linalg import NotPositiveDefinite, make_factor
from .plsresult import PLSResult
from .system import LatentSystem

#: the n-form keeps the weighted design dense: at most this many entries (400 MB)
MAX_ENTRIES = 50_000_000


def nform_applies(system: LatentSystem) -> bool:
    """Whether the n x n form fits ``system`` (with fixed weights): more latent columns than
    observations, factor blocks only (a precision block's prior is not a low-rank update),
    and a design dense by nature (every block's an ndarray: basis functions; sparse designs
    keep their sparse factorisations) that fits in memory."""
    q, n = system.q, system.n
    return bool(q > n > 0 and system.Z_dense is not None and not system.has_precision
                and n * q <= MAX_ENTRIES)


class WoodburyFactor:
    """``A = I_q + Ut Ut'`` (``Ut = U'``, q x n) held through the Cholesky factor of
    ``V = I_n + Ut'Ut``; the :class:`~.linalg.SPDFactor` queries the engine and the results
    make of a factor.

    Examples
    --------
    >>> import numpy as np
    >>> Ut = np.array([[1.0], [2.0]])              # q = 2, n = 1: A = I + Ut Ut'
    >>> f = WoodburyFactor(Ut)
    >>> bool(np.isclose(f.logdet(), np.log(6.0)))  # |A| = 1 + |Ut|^2
    True
    >>> A = np.eye(2) + Ut @ Ut.T
    >>> bool(np.allclose(A @ f.solve(np.array([1.0, 1.0])), [1.0, 1.0]))
    True
    """

    backend = "nform"

    def __init__(self, Ut: np.ndarray):
        self.Ut = Ut
        V = Ut.T @ Ut
        V[np.diag_indices_from(V)] += 1.0
        c, info = _dpotrf(V, lower=1, clean=1)
        if info != 0:
            raise NotPositiveDefinite(f"V is not positive definite (LAPACK info {info})")
        self.cV = c
        self._dense = None

    def V_solve(self, b: np.ndarray) -> np.ndarray:
        """``V^-1 b`` (n-vectors or n x k)."""
        return _dpotrs(self.cV, b, lower=1)[0]

    def logdet(self) -> float:
        """``log|A| = log|V|``."""
        return 2.0 * float(np.sum(np.log(np.diag(self.cV))))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``A^-1 b = b - Ut V^-1 Ut' b``."""
        b = np.asarray(b, dtype=float)
        return b - self.Ut @ self.V_solve(self.Ut.T @ b)

    def inverse_on_pattern(self) -> np.ndarray:
        """``A^-1`` (dense, q x q)."""
        F = sla.solve_triangular(self.cV, self.Ut.T, lower=True, check_finite=False)
        out = -(F.T @ F)
        out[np.diag_indices_from(out)] += 1.0
        return out

    def selected_inverse(self) -> sp.csc_matrix:
        return sp.csc_matrix(self.inverse_on_pattern())

    def _dense_factor(self) -> Any:
        # the triangular half-solves need a q x q factor of A itself: formed on demand only
        if self._dense is None:
            A = self.Ut @ self.Ut.T
            A[np.diag_indices_from(A)] += 1.0
            self._dense = make_factor(A, "dense")
        return self._dense

    def solve_L(self, b: np.ndarray) -> np.ndarray:
        return self._dense_factor().solve_L(b)

    def solve_Lt(self, x: np.ndarray) -> np.ndarray:
        return self._dense_factor().solve_Lt(x)


def nform_rows(Zd: np.ndarray, X: np.ndarray, z: np.ndarray, w: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weighted rows ``(W^1/2 Z, W^1/2 X, W^1/2 z)`` the n-form works on."""
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    sw = np.sqrt(w)
    return Zd * sw[:, None], X * sw[:, None], z * sw


def nform_solve(system: LatentSystem, phi: np.ndarray, rows: tuple, p: int) -> Any:
    """The PLS solution at ``phi`` through ``V`` (a :class:`~.pls.PLSResult` whose factor is
    a :class:`WoodburyFactor`)."""
    Zt, Xt, yt = rows
    Xt = Xt[:, :p]
    Lam = system.Lambda(phi)
    Ut = np.ascontiguousarray(np.asarray(Lam.T @ Zt.T))  # (W^1/2 Z Lambda)', q x n
    fac = WoodburyFactor(Ut)
    if p:
        H = fac.V_solve(Xt)
        XtVX = Xt.T @ H
        RX, info = _dpotrf(XtVX, lower=0, clean=1)
        if info != 0:
            raise NotPositiveDefinite("the fixed-effects design is rank deficient at "
                                      "these parameters")
        beta = _dpotrs(RX, H.T @ yt, lower=0)[0]
        logdet_X = 2.0 * float(np.sum(np.log(np.diag(RX))))
    else:
        XtVX, beta, logdet_X = np.zeros((0, 0)), np.zeros(0), 0.0
    resid = yt - Xt @ beta
    a = fac.V_solve(resid)
    u = Ut @ a
    pwrss = max(float(resid @ a), 0.0)
    return PLSResult(beta=beta, u=u, logdet_A=fac.logdet(), logdet_P=0.0,
                     logdet_XtVX=logdet_X, pwrss=pwrss, factor=fac, XtVX=XtVX, B=Ut @ Xt,
                     Lam=Lam)


def nform_gradient(rows: tuple, r: Any, dlambda: list, reml: bool, dof: float
                   ) -> np.ndarray:
    """The profiled deviance's gradient (module docstring) from the n-form solve ``r``;
    ``dlambda`` holds d Lambda / d phi_i (sparse, on Lambda's pattern)."""
    Zt, Xt, yt = rows
    p = len(r.beta)
    fac = r.factor
    Ut = fac.Ut
    F = fac.V_solve(Ut.T).T  # Ut V^-1, q x n
    a = fac.V_solve(yt - Xt[:, :p] @ r.beta)
    if reml and p:
        H = fac.V_solve(Xt[:, :p])
        UH = Ut @ H
        R = np.linalg.inv(r.XtVX)
    grad = np.zeros(len(dlambda))
    ZtT = Zt.T
    for i, dL in enumerate(dlambda):
        dUt = np.asarray(dL.T @ ZtT)  # (W^1/2 Z dLambda)', q x n
        g = 2.0 * float(np.sum(F * dUt))
        g += dof * (-2.0 * float(r.u @ (dUt @ a))) / r.pwrss
        if reml and p:
            g += -2.0 * float(np.sum(R * (UH.T @ (dUt @ H))))
        grad[i] = g
    return grad
