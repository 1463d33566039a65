"""Hard linear constraints ``A x = e`` on a Gaussian latent vector: conditioning by kriging.

For ``x ~ N(mu, Q^-1)`` (a prior, or the Gaussian approximation of a posterior) and a few
constraints ``A x = e`` (``A`` k x n, k small, full row rank), Rue & Held (2005, sec. 2.3.3)
correct the unconstrained answer with ``k`` extra solves instead of a new factorisation.
With

    W = Q^-1 A'            (n x k, k solves with the factor of Q)
    S = A W = A Q^-1 A'    (k x k)

the constrained distribution ``x | A x = e`` has

    mean        mu* = mu - W S^-1 (A mu - e)          (also the map of a sample x -> x*)
    covariance  Q^-1 - W S^-1 W'                      (rank n - k)
    variances   var_i - sum_jl W_ij (S^-1)_jl W_il

and, on the (n - k)-dimensional plane ``A x = e`` (Lebesgue measure on the plane),

    log pi(x | A x = e) = -(n - k)/2 log(2 pi) + 1/2 log|Q|_A - 1/2 (x - mu*)' Q (x - mu*)
    log|Q|_A = log|Q| + log|S| - log|A A'|

(the density of ``x`` divided by that of ``A x ~ N(A mu, S)`` at ``e``, times the co-area
factor ``|A A'|^-1/2``). ``log|Q|_A`` is the determinant of ``Q`` compressed to the plane,
``|N' Q N|`` for an orthonormal basis ``N`` of the null space of ``A``.

In a Laplace approximation (or REML with the fixed effects in the latent vector) prior and
posterior live on the same plane, so ``log|A A'|`` cancels and the criterion in deviance
units (-2 log L) gains ``log|S_posterior| - log|S_prior|``; its derivative needs only the
``W`` already computed: ``d log|S| / d theta = -tr(S^-1 W' (dQ/d theta) W)``.

This module is pure algebra on a solve function (a CHOLMOD factor, a dense Cholesky, ...);
it knows nothing about terms or the optimiser.

References: Rue, H. and Held, L. (2005) *Gaussian Markov Random Fields*, sec. 2.3.3;
Rue, Martino and Chopin (2009) JRSS-B 71, sec. 3 (INLA's ``constr = TRUE``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

Solve = Callable[[np.ndarray], np.ndarray]


def _dense_rows(A) -> np.ndarray:
    A = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=float)
    return np.atleast_2d(A).astype(float)


@dataclass(frozen=True)
class LinearConstraint:
    """Constraints ``A x = e`` on a latent vector of length ``n``.

    Parameters
    ----------
    A : (k, n) array_like or sparse
        Constraint rows (k small: each costs one solve).
    e : (k,) array_like, optional
        Right-hand side; zeros by default.

    Examples
    --------
    >>> c = LinearConstraint.sum_to_zero(5, block=slice(1, 5))
    >>> c.A.tolist(), c.e.tolist()
    ([[0.0, 1.0, 1.0, 1.0, 1.0]], [0.0])
    """

    A: np.ndarray
    e: np.ndarray

    def __init__(self, A, e=None):
        A = _dense_rows(A)
        if A.ndim != 2 or A.shape[0] == 0 or not np.isfinite(A).all():
            raise ValueError(f"constraint A must be a finite (k, n) matrix with k >= 1; got "
                             f"shape {A.shape}")
        e = np.zeros(A.shape[0]) if e is None else np.atleast_1d(np.asarray(e, dtype=float))
        if e.shape != (A.shape[0],) or not np.isfinite(e).all():
            raise ValueError(f"constraint e must be {A.shape[0]} finite numbers (one per row "
                             f"of A); got shape {e.shape}")
        if np.linalg.matrix_rank(A) < A.shape[0]:
            raise ValueError(f"the {A.shape[0]} constraint rows of A are linearly dependent: "
                             f"drop the redundant ones")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "e", e)

    @classmethod
    def sum_to_zero(cls, n: int, block: slice | None = None) -> LinearConstraint:
        """``sum(x[block]) = 0`` (INLA's ``constr = TRUE``) on a vector of length ``n``."""
        a = np.zeros((1, int(n)))
        a[0, block if block is not None else slice(None)] = 1.0
        if not a.any():
            raise ValueError(f"block {block} selects no entry of a vector of length {n}")
        return cls(a)

    @property
    def k(self) -> int:
        """Number of constraints."""
        return self.A.shape[0]

    @property
    def n(self) -> int:
        """Length of the constrained vector."""
        return self.A.shape[1]

    def condition(self, solve: Solve, name: str = "Q") -> Conditioning:
        """The kriging correction for the Gaussian whose precision ``solve`` inverts.

        Parameters
        ----------
        solve : callable
            ``solve(B)`` returns ``Q^-1 B`` for an (n, k) array ``B``.
        name : str
            What ``Q`` is, for the error message when ``A Q^-1 A'`` is singular.
        """
        W = np.asarray(solve(self.A.T.copy()), dtype=float).reshape(self.n, self.k)
        S = self.A @ W
        S = 0.5 * (S + S.T)
        try:
            chol = sla.cho_factor(S, lower=True, check_finite=True)
        except (np.linalg.LinAlgError, ValueError):
            raise ValueError(f"A {name}^-1 A' is not positive definite: the constraints "
                             f"leave no variance to condition on") from None
        logdet_S = 2.0 * float(np.log(np.diag(chol[0])).sum())
        return Conditioning(self, W, S, chol, logdet_S)


@dataclass(frozen=True)
class Conditioning:
    """``W = Q^-1 A'``, ``S = A W`` and the corrections they give (see the module notes)."""

    constraint: LinearConstraint
    W: np.ndarray
    S: np.ndarray
    _chol: tuple
    logdet_S: float

    def _S_inv(self, B: np.ndarray) -> np.ndarray:
        return sla.cho_solve(self._chol, B, check_finite=False)

    def mode(self, x: np.ndarray) -> np.ndarray:
        """``x - W S^-1 (A x - e)``: the constrained mean from the unconstrained one (also
        the map of an unconstrained sample to a constrained one)."""
        x = np.asarray(x, dtype=float)
        r = self.constraint.A @ x - (self.constraint.e if x.ndim == 1 else
                                     self.constraint.e[:, None])
        return x - self.W @ self._S_inv(r)

    def project(self, y: np.ndarray) -> np.ndarray:
        """``y - W S^-1 A y``: given ``y = Q^-1 v`` this is ``(Q^-1 - W S^-1 W') v``, the
        constrained covariance times ``v`` (what implicit mode derivatives and Newton steps
        need under the constraint: ``dx*/dtheta = -Cov* dg/dtheta``)."""
        y = np.asarray(y, dtype=float)
        return y - self.W @ self._S_inv(self.constraint.A @ y)

    def variances(self, var: np.ndarray) -> np.ndarray:
        """Marginal variances under the constraint from the unconstrained ``diag(Q^-1)``."""
        return np.asarray(var, dtype=float) - np.einsum("ij,ij->i", self.W,
                                                        self._S_inv(self.W.T).T)

    def combination_variances(self, L, var: np.ndarray) -> np.ndarray:
        """Variances of ``L x`` under the constraint from the unconstrained ones.

        ``L`` is (m, n) (dense or sparse, e.g. a projector to prediction points); ``var``
        holds the unconstrained ``diag(L Q^-1 L')``.
        """
        LW = np.asarray(L @ self.W).reshape(-1, self.constraint.k)
        return np.asarray(var, dtype=float) - np.einsum("ij,ij->i", LW, self._S_inv(LW.T).T)

    def covariance(self, cov: np.ndarray) -> np.ndarray:
        """The constrained covariance from a dense unconstrained ``Q^-1`` (small n only)."""
        return np.asarray(cov, dtype=float) - self.W @ self._S_inv(self.W.T)

    def logdet(self, logdet_Q: float) -> float:
        """``log|Q|_A = log|Q| + log|S| - log|A A'|``: the log-determinant of ``Q``
        compressed to the constraint plane (the normalising term of the density on it)."""
        A = self.constraint.A
        return float(logdet_Q) + self.logdet_S - float(np.linalg.slogdet(A @ A.T)[1])

    def dlogdet_S(self, dQ: Sequence) -> np.ndarray:
        """``d log|S| / d theta_j = -tr(S^-1 W' dQ_j W)`` for each derivative ``dQ_j`` of Q."""
        SW = self._S_inv(self.W.T).T  # W S^-1, (n, k)
        return np.array([-float(np.einsum("ij,ij->", SW, np.asarray(dq @ self.W)))
                         for dq in dQ])


def laplace_correction(prior: Conditioning, posterior: Conditioning) -> float:
    """What the constraint adds to a Laplace / REML criterion in deviance units (-2 log L).

    The criterion ``... + log|Q_post| - log|Q_prior|`` becomes
    ``... + log|Q_post|_A - log|Q_prior|_A``, i.e. gains ``log|S_post| - log|S_prior|``
    (``log|A A'|`` cancels). The constraints are the same rows, on the same vector or, when
    the posterior vector also holds effects the prior leaves flat (REML's fixed effects),
    padded with zeros for them. The mode must be the constrained one
    (:meth:`Conditioning.mode` of the posterior).
    """
    if prior.constraint.k != posterior.constraint.k:
        raise ValueError(f"prior and posterior must be conditioned on the same constraints; "
                         f"got {prior.constraint.k} and {posterior.constraint.k} rows")
    return posterior.logdet_S - prior.logdet_S
