"""The Laplace approximation in u-space: PLS steps for PIRLS and the exact gradient.

u-space is lme4's form, ``b = Lambda(phi) u`` with ``u ~ N(0, I)`` (or ``N(0, P^-1)`` for
precision blocks), solved by the blocked Cholesky of :mod:`.pls`; it serves every model.
:mod:`.covform` is the alternative for dense fields observed pointwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .pls import PLSResult, PLSSolver
from .system import LatentSystem


class USpaceSolver:
    """PLS in u-space (lme4's blocked Cholesky): the general latent form."""

    def __init__(self, system: LatentSystem, X: np.ndarray):
        self.system = system
        # no block-diagonal path here: the Gaussian objective is what it was written for
        self.joint = PLSSolver(system, X, blocks=False)
        self.uonly = PLSSolver(system, np.zeros((system.n, 0)), blocks=False)

    def solve(self, phi: np.ndarray, z: np.ndarray, w: np.ndarray, fixed: bool) -> PLSResult:
        solver = self.uonly if fixed else self.joint
        return solver.solve(phi, solver.cross_products(z, w))

    @staticmethod
    def coef(step: PLSResult) -> np.ndarray:
        return step.u

    def latent_eta(self, step: PLSResult) -> np.ndarray:
        return np.asarray(self.system.Z @ step.b()).ravel()

    def penalty(self, u: np.ndarray, phi: np.ndarray) -> float:
        P, _ = self.system.precision(phi)
        return float(u @ u) if P is None else float(u @ (P @ u))

    # -- the exact gradient --------------------------------------------------------------
    @property
    def has_gradient(self) -> bool:
        """Exact gradients need covariance factors or precision blocks given as a pencil
        (spde(): ``dP`` sparse on ``A``'s pattern) and rows of ``Z Lambda`` with few
        non-zeros (grouping factors, as lme4's bars; a mesh projector). Smooth bases,
        whose rows are dense, are left to finite differences: there the gradient's
        products over the rows cost as much as several evaluations."""
        sysm = self.system
        if sysm.q == 0 or any(b.kind == "precision" and k not in sysm.priors
                              for k, b in enumerate(sysm.blocks)):
            return False
        R = (sysm.Z @ sysm.lambda_pattern).tocsr()
        return int(np.diff(R.indptr).max(initial=0)) <= 16

    def gradient(self, phi: np.ndarray, step: PLSResult, w: np.ndarray, score: np.ndarray,
                 dw: np.ndarray, X: np.ndarray, beta_fixed: bool, reml: bool) -> np.ndarray:
        """Exact gradient of the u-space Laplace deviance at a mode (canonical links).

        ``-2 log p(y | eta_hat) + u'u + log|A|`` (+ ``log|H|``, ``H = X'V^-1 X``, for REML),
        ``A = Lambda' Z'WZ Lambda + I``. At the mode the first two terms are stationary in
        ``u`` (and ``beta`` at the joint mode), leaving their explicit derivative
        ``-2 g' Z Lambda_j u`` (``Lambda_j = d Lambda / d phi_j``), the explicit derivative of
        ``log|A|``, ``2 tr(A^-1 Lambda' D Lambda_j)`` (``D = Z'WZ``), and the change of
        ``log|A|`` with the weights along the moving mode:

            d log|A| / d eta_i = w'_i (Z Lambda A^-1 Lambda' Z')_ii,
            A du = Lambda_j' Z'g - Lambda' D Lambda_j u - B dbeta,   B = Lambda' Z'WX,
            H dbeta = -(SX' Lambda_j u + B' A^-1 r_j)  at the joint mode (SX = Z'WX).

        The diagonal needs ``A^-1`` only on the pattern of ``A`` (selected inversion for
        sparse systems). The REML term adds ``w'_i v_i' H^-1 v_i`` per row (``v_i = x_i -
        (Z Lambda A^-1 B)_i``) and its explicit part ``-2 tr(H^-1 F' Lambda_j Q)``,
        ``Q = A^-1 B``, ``F = SX - D Lambda Q``.
        """
        sysm = self.system
        fac = step.factor
        if self.joint.dense and self.joint.Zd is not None:
            return self._gradient_dense(phi, step, w, score, dw, X, beta_fixed, reml)
        Lam = sysm.Lambda(phi)
        J = sysm.lambda_jacobian(phi)
        Z = sysm.Z
        R = (Z @ Lam).tocsr()
        Ainv = fac.inverse_on_pattern()
        dense = isinstance(Ainv, np.ndarray)
        if not dense:
            Ainv = Ainv.tocsr()  # once: entries are looked up by (row, col) pairs below
        # rows of R have at most 16 non-zeros (has_gradient): O(n m^2) entries of A^-1,
        # never the n x q product R A^-1 (VerbAgg: 7,584 x 340, 90% of a fit's time)
        diag = _quadratic_diagonal(R, Ainv)
        c = dw * diag
        p = X.shape[1]
        u = step.u
        Zg = np.asarray(Z.T @ score).ravel()
        Dm = (Z.T @ Z.multiply(w[:, None])).tocsc()
        SX = np.asarray(Z.T @ (X * w[:, None])) if p else np.zeros((sysm.q, 0))
        B = np.asarray(Lam.T @ SX) if p else np.zeros((sysm.q, 0))
        joint = p > 0 and not beta_fixed
        if joint:
            H = step.XtVX
            Hinv = np.linalg.inv(H)
        if reml and joint:
            Q = fac.solve(B)
            V = X - np.asarray(R @ Q)
            c = c + dw * np.einsum("ij,jk,ik->i", V, Hinv, V)
            F = SX - np.asarray(Dm @ (Lam @ Q))
        cR = np.asarray(R.T @ c).ravel()  # Lambda' Z' c
        Zc = np.asarray(Z.T @ c).ravel()
        Xc = X.T @ c if p else np.zeros(0)
        tmpl = sysm.lambda_pattern
        t = _GradientTerms(fac, joint, reml and joint, Hinv if joint else None, SX, B, Xc,
                           F if reml and joint else None, Q if reml and joint else None, Zc,
                           cR)
        grads = []
        for j in range(sysm.n_phi):
            if not J[:, j].any():  # a precision block's parameter: Lambda does not move
                grads.append(0.0)
                continue
            Lj = sp.csc_matrix((J[:, j], tmpl.indices, tmpl.indptr), shape=tmpl.shape)
            Lju = np.asarray(Lj @ u).ravel()
            DLju = np.asarray(Dm @ Lju).ravel()
            Mj = (Lam.T @ (Dm @ Lj)).tocoo()
            g = -2.0 * float(Zg @ Lju) + 2.0 * float(
                Mj.data @ _entries(Ainv, Mj.row, Mj.col))
            rj = np.asarray(Lj.T @ Zg).ravel() - np.asarray(Lam.T @ DLju).ravel()
            grads.append(g + _moving_mode_term(t, Lj, Lju, rj))
        grads = _add_precision_terms(sysm, phi, u, Ainv, t, np.array(grads))
        return _with_beta_gradient(t, grads, beta_fixed, X, score)

    def _gradient_dense(self, phi: np.ndarray, step: PLSResult, w: np.ndarray,
                        score: np.ndarray, dw: np.ndarray, X: np.ndarray, beta_fixed: bool,
                        reml: bool) -> np.ndarray:
        """:meth:`gradient` with dense arrays, for small systems (the dense back-end with a
        dense copy of Z): the same formulas, without scipy.sparse's per-call overhead, which
        dominates at a few dozen columns (cbpp: 15)."""
        sysm = self.system
        fac = step.factor
        Zd = self.joint.Zd
        Lam = sysm.Lambda_dense(phi)
        J = sysm.lambda_jacobian(phi)
        R = Zd @ Lam
        Ainv = fac.inverse_on_pattern()
        c = dw * np.einsum("ij,ij->i", R @ Ainv, R)
        p = X.shape[1]
        u = step.u
        Zg = Zd.T @ score
        Dm = Zd.T @ (Zd * w[:, None])
        SX = Zd.T @ (X * w[:, None]) if p else np.zeros((sysm.q, 0))
        B = Lam.T @ SX
        joint = p > 0 and not beta_fixed
        if joint:
            Hinv = np.linalg.inv(step.XtVX)
        if reml and joint:
            Q = fac.solve(B)
            V = X - R @ Q
            c = c + dw * np.einsum("ij,jk,ik->i", V, Hinv, V)
            F = SX - Dm @ (Lam @ Q)
        cR = R.T @ c
        Zc = Zd.T @ c
        Xc = X.T @ c if p else np.zeros(0)
        LtD = Lam.T @ Dm
        t = _GradientTerms(fac, joint, reml and joint, Hinv if joint else None, SX, B, Xc,
                           F if reml and joint else None, Q if reml and joint else None, Zc,
                           cR)
        grads = []
        for j in range(sysm.n_phi):
            if not J[:, j].any():  # a precision block's parameter: Lambda does not move
                grads.append(0.0)
                continue
            Lj = np.zeros((sysm.q, sysm.q))
            Lj[sysm.lam_rows, sysm.lam_cols] = J[:, j]
            Lju = Lj @ u
            g = -2.0 * float(Zg @ Lju) + 2.0 * float(np.sum((LtD @ Lj) * Ainv))
            rj = Lj.T @ Zg - LtD @ Lju
            grads.append(g + _moving_mode_term(t, Lj, Lju, rj))
        grads = _add_precision_terms(sysm, phi, u, Ainv, t, np.array(grads))
        return _with_beta_gradient(t, grads, beta_fixed, X, score)


@dataclass
class _GradientTerms:
    """What every parameter's gradient component shares, in the sparse and the dense form:
    the factor, H^-1 and the cross-products of :meth:`USpaceSolver.gradient`."""

    fac: Any
    joint: bool
    reml: bool
    Hinv: np.ndarray | None
    SX: np.ndarray
    B: np.ndarray
    Xc: np.ndarray
    F: np.ndarray | None
    Q: np.ndarray | None
    Zc: np.ndarray
    cR: np.ndarray


def _moving_mode_term(t: _GradientTerms, Lj, Lju: np.ndarray, rj: np.ndarray) -> float:
    """The part of d/d phi_j that moves with the mode (du, and dbeta at the joint mode),
    plus the REML term: the same formula for sparse and dense Lambda_j."""
    g = 0.0
    if t.joint:
        dbeta = -t.Hinv @ (t.SX.T @ Lju + t.B.T @ t.fac.solve(rj))
        du = t.fac.solve(rj - t.B @ dbeta)
        g += float(t.Xc @ dbeta)
        if t.reml:
            g -= 2.0 * float(np.sum(t.Hinv * (t.F.T @ np.asarray(Lj @ t.Q))))
    else:
        du = t.fac.solve(rj)
    return g + float(t.Zc @ Lju) + float(t.cR @ du)


def _add_precision_terms(sysm: LatentSystem, phi: np.ndarray, u: np.ndarray, Ainv,
                         t: _GradientTerms, grads: np.ndarray) -> np.ndarray:
    """Gradient components of precision blocks (``Lambda = I``, ``P_k(phi_k)``: pencils, or
    a smooth's square-root form ``dP = -2 M'M``), as
    the Gaussian form's: the explicit ``u' dP u + tr(A^-1 dP) - d log|P|`` (``A^-1`` on
    ``dP``'s pattern, which ``A`` holds: the selected inverse), the REML term
    ``tr(H^-1 Q' dP Q)`` (``dH = Q' dP Q``, ``Q = A^-1 B``) and the moving mode,
    ``A du + B dbeta = -dP u`` (the stationarity ``Lambda'Z'g = P u`` differentiated)."""
    if not sysm.has_precision:  # (every glmer fit: nothing to add, nothing to build)
        return grads
    q = len(u)
    zero = sp.csc_matrix((q, q))
    for k, b in enumerate(sysm.blocks):
        if b.kind != "precision" or b.n_phi == 0:
            continue
        cs, ps = sysm.col_slices[k], sysm.layout.slices[k]
        uk = u[cs]
        for j, (dP, M, dlogdet) in enumerate(sysm.precision_derivatives(k, phi[ps])):
            if dP is None:  # a term's square-root form (smooths): dP = -2 M'M, small
                dP = sp.csc_matrix(-2.0 * (M.T @ M))
            coo = sp.coo_matrix(dP)
            dPu = np.asarray(dP @ uk).ravel()
            g = float(uk @ dPu) - dlogdet + float(
                coo.data @ _entries(Ainv, coo.row + cs.start, coo.col + cs.start))
            if t.reml:
                Qk = t.Q[cs]
                g += float(np.sum(t.Hinv * (Qk.T @ np.asarray(dP @ Qk))))
            rj = np.zeros(q)
            rj[cs] = -dPu
            grads[ps.start + j] += g + _moving_mode_term(t, zero, np.zeros(q), rj)
    return grads


def _with_beta_gradient(t: _GradientTerms, grads: np.ndarray, beta_fixed: bool,
                        X: np.ndarray, score: np.ndarray) -> np.ndarray:
    """glmer's second stage (beta held fixed): the gradient in beta follows phi's."""
    if beta_fixed and X.shape[1]:
        gb = -2.0 * (X.T @ score) + t.Xc - t.B.T @ t.fac.solve(t.cR)
        return np.concatenate([grads, gb])
    return grads


def _entries(Ainv, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``Ainv[rows[k], cols[k]]`` for a dense array or a CSR selected inverse."""
    if isinstance(Ainv, np.ndarray):
        return Ainv[rows, cols]
    if len(rows) == 0:  # (scipy's sparse products drop exact zeros: Lambda = 0 at a bound)
        return np.zeros(0)
    return np.asarray(Ainv[rows, cols]).ravel()


def _quadratic_diagonal(R: sp.csr_matrix, Ainv) -> np.ndarray:
    """``diag(R Ainv R')`` from the entries of ``Ainv`` on the pairs of columns each row of
    ``R`` touches (all inside the pattern of ``A = R'WR + I``)."""
    R.sort_indices()
    counts = np.diff(R.indptr)
    out = np.zeros(R.shape[0])
    for m in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == m)
        idx = R.indptr[rows][:, None] + np.arange(m)
        cols, vals = R.indices[idx], R.data[idx]
        for a in range(m):
            out[rows] += vals[:, a] * vals[:, a] * _entries(Ainv, cols[:, a], cols[:, a])
            for b in range(a):
                out[rows] += 2.0 * vals[:, a] * vals[:, b] * _entries(
                    Ainv, cols[:, a], cols[:, b])
    return out
