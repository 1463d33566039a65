"""Matern precision matrices from the SPDE (Lindgren, Rue & Lindstrom 2011) and PC priors.

On a 2-D mesh with FEM matrices C (lumped: Ct) and G, the field x solving
``(kappa^2 - Laplacian)^(alpha/2) (tau x) = W`` has precision

    alpha = 2:        Q = tau^2 (kappa^4 Ct + 2 kappa^2 G + G Ct^-1 G)
    alpha = 1:        Q = tau^2 (kappa^2 Ct + G)
    1 < alpha < 2:    Q = tau^2 kappa^(2 alpha - 4) (b0 kappa^4 Ct + b1 kappa^2 G + b2 G Ct^-1 G)

(the last is INLA's "parsimonious" approximation, Lindgren et al. 2011, authors' response).
With nu = alpha - 1 (d = 2) the Matern range and marginal standard deviation are
``range = sqrt(8 nu) / kappa`` (correlation about 0.14 there) and
``sigma^2 = Gamma(nu) / (Gamma(alpha) 4 pi kappa^(2 nu) tau^2)``.

Every Q above is ``c0 Ct + c1 G + c2 G Ct^-1 G``: :class:`SPDEOperator` stores the three
matrices once on one fixed sparsity pattern, so a new Q is three scaled vector additions
and the engine can reuse one symbolic Cholesky analysis for all parameter values.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

#: Spatial dimension of the meshes here.
D = 2


def parsimonious_coefficients(alpha: float) -> np.ndarray:
    """The (b0, b1, b2) of INLA's parsimonious approximation for ``1 < alpha < 2``.

    With lam = alpha - floor(alpha), ``H_jk = 1 / (4 + lam - j - k)``,
    ``v_j = 1 / (4 + lam - alpha - j)`` (j, k = 0, 1, 2), ``c = H^-1 v`` and
    ``b = [[1, 1, 1], [0, 1, 2], [0, 0, 1]] c``.

    Examples
    --------
    >>> parsimonious_coefficients(1.5).round(4).tolist()
    [0.9375, 1.875, 0.1172]
    """
    alpha = float(alpha)
    if not 1 < alpha < 2:
        raise ValueError(f"the parsimonious approximation is for 1 < alpha < 2; got {alpha}")
    lam = alpha - np.floor(alpha)
    j = np.arange(3)
    H = 1.0 / (4 + lam - j[:, None] - j[None, :])
    v = 1.0 / (4 + lam - alpha - j)
    c = np.linalg.solve(H, v)
    return np.array([[1, 1, 1], [0, 1, 2], [0, 0, 1]], dtype=float) @ c


def pencil_shifts(alpha: float) -> tuple[np.ndarray, float]:
    """``(r, b2)`` with ``b0 + b1 t + b2 t^2 = b2 (t + r_1)(t + r_2)``; alpha = 2: r = (1,).

    The shifts of the pencil factors ``K_j = G + r_j kappa^2 Ct`` of the SPDE precision.

    Examples
    --------
    >>> pencil_shifts(2.0)[0].tolist()
    [1.0]
    """
    if alpha == 2:
        return np.array([1.0]), 1.0
    b0, b1, b2 = parsimonious_coefficients(alpha)
    disc = max(b1 * b1 - 4 * b0 * b2, 0.0)
    # the numerically stable pair of roots (both negative): r = -t
    qv = -0.5 * (b1 + math.sqrt(disc))
    t1, t2 = qv / b2, b0 / qv
    return np.array([-t1, -t2]), float(b2)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 1 <= alpha <= 2:
        raise ValueError(f"alpha must lie in [1, 2] on a 2-D mesh (nu = alpha - 1); got {alpha}")
    return alpha


def matern_scales(range_: float, sigma: float, alpha: float = 2.0) -> tuple[float, float]:
    """``(kappa, tau)`` of the SPDE for a Matern ``range`` and marginal SD ``sigma`` (2-D).

    Examples
    --------
    >>> k, t = matern_scales(1.0, 1.0)
    >>> round(k, 6), round(t, 6)  # sqrt(8), 1 / (sqrt(4 pi) kappa)
    (2.828427, 0.099736)
    """
    alpha = _check_alpha(alpha)
    nu = alpha - D / 2
    if nu <= 0:
        raise ValueError("alpha = 1 in 2-D is nu = 0: the field has no finite variance, so "
                         "range and sigma are undefined; use SPDEOperator.Q_kappa_tau")
    if not (np.isfinite(range_) and range_ > 0):
        raise ValueError(f"range must be positive; got {range_}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive; got {sigma}")
    kappa = np.sqrt(8 * nu) / range_
    log_tau2 = (gammaln(nu) - gammaln(alpha) - (D / 2) * np.log(4 * np.pi)
                - 2 * nu * np.log(kappa) - 2 * np.log(sigma))
    return float(kappa), float(np.exp(0.5 * log_tau2))


def _powers(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights beta and kappa-exponents p so that ``c_j = tau^2 beta_j kappa^p_j``."""
    if alpha == 2:
        beta = np.array([1.0, 2.0, 1.0])
    elif alpha == 1:
        beta = np.array([1.0, 1.0, 0.0])
    else:
        beta = parsimonious_coefficients(alpha)
    p = np.array([2 * alpha, 2 * alpha - 2, 2 * alpha - 4])
    return beta, p


class SPDEOperator:
    """The Matern SPDE precision on a mesh, with a fixed sparsity pattern.

    Precomputes Ct, G and G Ct^-1 G once. ``Q(range, sigma)`` (or ``Q_kappa_tau``) is then
    ``c0 Ct + c1 G + c2 G Ct^-1 G`` on one CSC pattern (the union of the three), stored as
    three aligned data vectors: the pattern never changes, so one symbolic factorisation
    serves every parameter value.

    Parameters
    ----------
    mesh : Mesh, or a tuple (C, Ct, G) of FEM matrices
    alpha : float
        SPDE order, 1 <= alpha <= 2 (nu = alpha - 1 in 2-D).
    constr : bool
        The field sums to zero over the mesh nodes (INLA's ``constr = TRUE``): the prior is
        ``N(0, Q^-1)`` conditioned on ``1'u = 0``. The operator only carries the constraint's
        rows (:attr:`constraint`); the engine conditions on them by kriging.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from spatialgamm.mesh import Mesh
    >>> mesh = Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=0.5, offset=(0, None))
    >>> op = SPDEOperator(mesh, alpha=2)
    >>> op.constraint is None, SPDEOperator(mesh, 2, constr=True).constraint.shape == (1, op.n)
    (True, True)
    >>> Q1, Q2 = op.Q(1.0, 1.0), op.Q(2.0, 0.5)
    >>> bool((Q1.indices == Q2.indices).all())
    True
    """

    def __init__(self, mesh, alpha: float = 2.0, constr: bool = False):
        self.alpha = _check_alpha(alpha)
        C, Ct, G = mesh.fem() if hasattr(mesh, "fem") else mesh
        ct = np.asarray(Ct.diagonal(), dtype=float)
        if np.any(ct <= 0):
            raise ValueError("the lumped mass matrix has non-positive entries (unused nodes?)")
        G = sp.csc_matrix(G)
        self.n = G.shape[0]
        self.C = sp.csc_matrix(C)
        self.Ct = sp.diags(ct, format="csc")
        self.G = G
        self.G2 = sp.csc_matrix(G @ sp.diags(1.0 / ct) @ G)
        self.beta, self.powers = _powers(self.alpha)
        parts = [self.Ct, self.G] + ([self.G2] if self.beta[2] != 0 else [])
        pattern = sp.csc_matrix(sum(abs(m) for m in parts))
        pattern.sort_indices()
        self.indptr = pattern.indptr.copy()
        self.indices = pattern.indices.copy()
        cols = np.repeat(np.arange(self.n), np.diff(self.indptr))
        keys = cols.astype(np.int64) * self.n + self.indices
        self._data = np.vstack([self._align(m, keys) for m in (self.Ct, self.G, self.G2)])
        #: rows ``A`` of hard constraints ``A u = 0`` on the field (None: unconstrained)
        self.constraint = np.ones((1, self.n)) if constr else None

    def _align(self, M: sp.spmatrix, keys: np.ndarray) -> np.ndarray:
        """Values of M on the stored pattern (zeros where M has no entry)."""
        coo = sp.coo_matrix(M)
        out = np.zeros(len(keys))
        k = coo.col.astype(np.int64) * self.n + coo.row
        pos = np.searchsorted(keys, k)
        hit = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == k)
        np.add.at(out, pos[hit], coo.data[hit])
        return out

    # ---- coefficients ----------------------------------------------------------------------
    def coefficients_kappa_tau(self, kappa: float, tau: float) -> np.ndarray:
        """(c0, c1, c2) of Q = c0 Ct + c1 G + c2 G Ct^-1 G."""
        return tau**2 * self.beta * kappa ** self.powers

    def coefficients(self, range_: float, sigma: float) -> np.ndarray:
        """(c0, c1, c2) for a Matern range and marginal SD."""
        kappa, tau = matern_scales(range_, sigma, self.alpha)
        return self.coefficients_kappa_tau(kappa, tau)

    def _matrix(self, coef: np.ndarray) -> sp.csc_matrix:
        data = coef @ self._data
        return sp.csc_matrix((data, self.indices.copy(), self.indptr.copy()),
                             shape=(self.n, self.n))

    # ---- precision and derivatives ---------------------------------------------------------
    def Q(self, range_: float, sigma: float) -> sp.csc_matrix:
        """Precision for Matern ``range`` and marginal SD ``sigma`` (fixed pattern, CSC)."""
        return self._matrix(self.coefficients(range_, sigma))

    def Q_data(self, range_: float, sigma: float) -> np.ndarray:
        """Just the CSC data vector of :meth:`Q` (pattern in ``indptr``/``indices``)."""
        return self.coefficients(range_, sigma) @ self._data

    def Q_kappa_tau(self, kappa: float, tau: float) -> sp.csc_matrix:
        """Precision in the SPDE's own parameters (any 1 <= alpha <= 2, also alpha = 1)."""
        if not (kappa > 0 and tau > 0):
            raise ValueError(f"kappa and tau must be positive; got {kappa}, {tau}")
        return self._matrix(self.coefficients_kappa_tau(kappa, tau))

    def dQ(self, range_: float, sigma: float) -> tuple[sp.csc_matrix, sp.csc_matrix]:
        """``(dQ / d log range, dQ / d log sigma)`` on the same pattern.

        In 2-D each coefficient is ``c_j ~ kappa^(p_j - 2 nu) / sigma^2`` with
        ``kappa ~ 1 / range``, so ``d c_j / d log range = -(p_j - 2 nu) c_j`` and
        ``d c_j / d log sigma = -2 c_j``.
        """
        coef = self.coefficients(range_, sigma)
        nu = self.alpha - D / 2
        d_range = -(self.powers - 2 * nu) * coef
        return self._matrix(d_range), self._matrix(-2.0 * coef)

    @property
    def pattern(self) -> sp.csc_matrix:
        """The fixed sparsity pattern (ones), as CSC."""
        return sp.csc_matrix((np.ones(len(self.indices)), self.indices.copy(),
                              self.indptr.copy()), shape=(self.n, self.n))


def matern_precision(mesh, range_: float, sigma: float, alpha: float = 2.0) -> sp.csc_matrix:
    """SPDE precision of a Matern field on ``mesh`` (nu = alpha - 1 in 2-D).

    For repeated evaluation build an :class:`SPDEOperator` once instead.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from spatialgamm.mesh import Mesh
    >>> mesh = Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=0.5, offset=(0, None))
    >>> Q = matern_precision(mesh, 1.0, 1.0)
    >>> Q.shape == (mesh.n, mesh.n)
    True
    """
    return SPDEOperator(mesh, alpha).Q(range_, sigma)


def pc_prior_logdensity(range_, sigma, r0: float, p_r: float, s0: float, p_s: float,
                        log_scale: bool = False):
    """Log density of the PC prior for (range, sigma) of Fuglstad et al. (2019), d = 2.

    ``P(range < r0) = p_r`` and ``P(sigma > s0) = p_s``:
    ``pi(range, sigma) = (d/2) l_r range^(-1-d/2) exp(-l_r range^(-d/2)) l_s exp(-l_s sigma)``
    with ``l_r = -log(p_r) r0^(d/2)`` and ``l_s = -log(p_s) / s0``.

    Parameters
    ----------
    range_, sigma : float or ndarray
    r0, p_r, s0, p_s : float
        The prior statements; 0 < p < 1, r0, s0 > 0.
    log_scale : bool
        Density of (log range, log sigma) instead (adds the Jacobian log range + log sigma).

    Examples
    --------
    >>> round(float(pc_prior_logdensity(1.0, 1.0, 1.0, 0.5, 1.0, 0.5)), 6)
    -2.11932
    """
    for name, p in (("p_r", p_r), ("p_s", p_s)):
        if not 0 < p < 1:
            raise ValueError(f"{name} must lie in (0, 1); got {p}")
    for name, v in (("r0", r0), ("s0", s0)):
        if not v > 0:
            raise ValueError(f"{name} must be positive; got {v}")
    rng = np.asarray(range_, dtype=float)
    sig = np.asarray(sigma, dtype=float)
    lam_r = -np.log(p_r) * r0 ** (D / 2)
    lam_s = -np.log(p_s) / s0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.log(D / 2) + np.log(lam_r) - (1 + D / 2) * np.log(rng)
               - lam_r * rng ** (-D / 2) + np.log(lam_s) - lam_s * sig)
        if log_scale:
            out = out + np.log(rng) + np.log(sig)
    out = np.where((rng > 0) & (sig > 0), out, -np.inf)
    return out if out.ndim else float(out)
