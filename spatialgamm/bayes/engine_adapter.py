"""Every call the Bayesian layer makes into the engine, in one place.

The INLA-style fit needs, at any hyperparameter value ``theta`` (INLA's internal scale:
log precisions, logit correlations, log range / log sigma of fields, the family's log
precision or log size; :mod:`.slots`), three things from the engine:

- ``log p(y | theta)``, the Laplace approximation of the marginal likelihood with the latent
  field *and the fixed effects* integrated out, with its gradient;
- the Gaussian approximation of ``(beta, u) | y, theta`` (its mean and a way to compute
  variances of linear combinations);
- design rows for new data (maps).

:func:`laplace_at` / :class:`EngineAdapter` provide them on today's engine: models whose only
latent term is one ``spde()`` field with a canonical non-Gaussian link use the sparse field
objective (``engine/precform.FieldObjective``, exact gradient by selected inversion); every
other model (any blocks, any family and link) uses the general
``engine/laplace.LaplaceObjective`` in u-space (exact gradients for grouping factors and
pencil fields, with canonical links or, for the others, the observed information's weights
and their derivative, :mod:`.observed`; central differences for smooth bases), whose
least-squares storage (dense, CHOLMOD, blocks) the engine chooses per model. Each slot maps
its theta to the engine's ``phi`` with the Jacobian ``d phi / d theta`` (the correlated
bars' Cholesky factor of ``Sigma(theta)``, :func:`.slots.slot_phi`), so the gradient
carries over; the family's parameter (Gaussian or Gamma precision, negative binomial size)
is the engine's scale or family, its derivative by central differences. Non-canonical links
run PIRLS on the observed information (:mod:`.observed`), as INLA's Laplace step.

Both objectives are called with ``reml=True``: the fixed effects integrated out under a flat
prior. INLA's fixed-effect prior ``N(mu0, 1/tau)`` is then exact for Gaussian models and
Laplace-accurate otherwise:

    log p_tau(y | theta) = log p_flat(y | theta) + log N(beta_hat_S; mu0_S, T_S^-1 + V_SS)

(``S`` the fixed effects with a proper prior, ``beta_hat, V`` the flat-prior conditional
mean and covariance), and the conditional posterior of ``beta`` gets precision ``V^-1 + T``;
``u | beta`` is unchanged. The optimiser searches ``log p_flat + log prior``; the
integration weights use the full value (the two modes differ by O(tau)).

Conditional covariances: up to ``MAX_DENSE_Q`` latent columns the whole ``A^-1`` (any new-data
row can be predicted); above it the selected inverse on the pattern of the factor
(``engine/posterior.SparsePosterior``: CHOLMOD's Takahashi recursions), which answers every
observed row, every latent value and projector rows of a mesh.

Values alone (the hyperparameter lattices: ``EngineAdapter.value``, ``EngineAdapter.logml``)
skip the selected inverse and the gradient; the integration points (``laplace_at``) keep the
selected inverse and skip the gradient.

When the engine is restructured (one objective with ``value_and_grad(theta)`` and the
conditional mode / posterior at theta), only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ..engine.laplace import LaplaceObjective, PIRLSError
from ..engine.linalg import NotPositiveDefinite
from ..engine.objective import field_start
from ..engine.posterior import SparsePosterior, pls_posterior
from ..engine.precform import FieldObjective
from ..engine.system import LatentSystem
from ..errors import ModelError
from ..model import ModelSpec
from .observed import ObservedInformation
from .slots import HyperSlot, build_slots, slot_phi

#: models up to this many latent columns keep dense conditional covariances (any new-data
#: row can be predicted); larger ones keep the selected inverse on the factor's pattern
MAX_DENSE_Q = 6000

__all__ = ["EngineAdapter", "HyperSlot", "LaplacePoint", "gam_coefficients", "gam_criterion",
           "laplace_at"]


@dataclass
class LaplacePoint:
    """The engine's answers at one ``theta``.

    Attributes
    ----------
    logml : float
        ``log p(y | theta)`` (Laplace) with the fixed-effects prior.
    logml_flat, grad_flat : float, ndarray
        The same with a flat prior on the fixed effects, and its exact gradient in theta.
    beta : ndarray (p,)
        Conditional posterior mean of the fixed effects.
    u : ndarray (q,)
        Conditional mean of the latent coefficients (engine's u-space).
    post : SparsePosterior
        Conditional covariances of ``(beta, u)`` (with the fixed-effects prior).
    Lam : csr_matrix (q, q)
        Lambda: latent values on the user's scale are ``b = Lambda u``.
    scale : float
        Gaussian noise variance or the family's dispersion (1 for Poisson, binomial, NB).
    weights : ndarray (n,)
        Working weights at the mode (observed information per observation).
    size : float or None
        The negative binomial size at this point.
    """

    theta: np.ndarray
    logml: float
    logml_flat: float
    grad_flat: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    post: SparsePosterior
    Lam: sp.csr_matrix
    scale: float
    weights: np.ndarray
    size: float | None = None

    @property
    def lam(self) -> np.ndarray:
        """Diagonal of Lambda."""
        return np.asarray(self.Lam.diagonal()).ravel()


def _is_diagonal(M: sp.spmatrix) -> bool:
    coo = M.tocoo()
    return bool(np.all(coo.row == coo.col))


class EngineAdapter:
    """The engine seen as functions of INLA's internal hyperparameters.

    Parameters
    ----------
    spec : ModelSpec
    fixed_prec, fixed_mean : ndarray (p,)
        Prior precision (0 = flat) and mean of each fixed effect.
    """

    def __init__(self, spec: ModelSpec, fixed_prec: np.ndarray, fixed_mean: np.ndarray):
        fam = spec.family
        self.spec = spec
        self.family = fam
        self.gaussian = fam.name == "gaussian"
        self.fixed_prec = np.asarray(fixed_prec, dtype=float)
        self.fixed_mean = np.asarray(fixed_mean, dtype=float)
        self.slots: list[HyperSlot] = build_slots(spec)
        self.dim = self.slots[-1].index.stop if self.slots else 0
        self.extra = [s for s in self.slots if s.block is None]  # the family's parameter
        self.system = LatentSystem(spec.blocks, spec.n)
        self.n_phi = self.system.n_phi
        # INLA's Laplace step uses the observed information (module doc of .observed)
        self._engine_family = fam if fam.canonical else ObservedInformation(fam)
        self.field_path = (not self.extra and fam.canonical and len(spec.blocks) == 1
                           and spec.blocks[0].pencil is not None)
        if self.field_path:
            blk = spec.blocks[0]
            system = self.system
            self.field = FieldObjective(spec.X, blk.Z, spec.y, spec.offset, spec.weights, fam,
                                        lambda phi: system.prior_state(0, phi),
                                        blk.pencil.pattern, reml=True, system=system)
            self._start: tuple[np.ndarray, np.ndarray] | None = None
            self._last: Any = None
        else:
            self.lap = LaplaceObjective(self.system, spec.X, spec.y, spec.offset, spec.weights,
                                        self._engine_family, reml=True)
        self.n_evaluations = 0

    # -- theta <-> the engine's parameters ----------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [n for s in self.slots for n in s.internal]

    def theta_start(self) -> np.ndarray:
        """A start for the mode search: the blocks' starts, unit precisions, the data's
        noise or dispersion, INLA's initial negative binomial size (10)."""
        th = np.zeros(self.dim)
        y = np.asarray(self.spec.y, dtype=float)
        for s in self.slots:
            blk = self.spec.blocks[s.block] if s.block is not None else None
            if s.kind == "matern":
                th[s.index] = blk.phi_start
                if self.field_path:  # the plug-in fit's start: the residual variogram
                    th[s.index] = field_start(self.field, self.spec)
            elif s.kind == "smooth":
                th[s.index] = -2.0 * blk.phi_start
            elif s.kind == "gp":
                th[s.index] = [blk.phi_start[0], np.log(max(float(blk.phi_start[1]), 1e-3))]
            elif s.kind == "noise":
                th[s.index] = -np.log(max(float(np.var(y)), 1e-12)) + np.log(2.0)
            elif s.kind == "size":
                th[s.index] = np.log(10.0)
            elif s.kind == "precision_y":  # V(mean) / var(y): the dispersion of the margin
                v = float(np.asarray(self.family.variance(np.mean(y))).ravel()[0])
                th[s.index] = np.log(max(v, 1e-12) / max(float(np.var(y)), 1e-12))
        return th

    def _state(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, Any]:
        """Engine phi, ``d phi / d theta`` (n_phi x dim), the scale and the family."""
        phi = np.zeros(self.n_phi)
        J = np.zeros((self.n_phi, self.dim))
        scale, fam = 1.0, self._engine_family
        for s in self.slots:
            t = theta[s.index]
            if s.block is not None:
                v, Js = slot_phi(s, t)
                phi[s.phi] = v
                J[s.phi, s.index] = Js
            elif s.kind == "size":
                base = self.family.with_theta(float(np.exp(np.clip(t[0], -30, 30))))
                fam = ObservedInformation(base)
            else:  # noise / precision_y: the engine's scale is the inverse precision
                scale = float(np.exp(-t[0]))
        return phi, J, scale, fam

    def _phi(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        phi, J, scale, fam = self._state(theta)
        if not self.field_path:
            self.lap.scale, self.lap.family = scale, fam
        return phi, J, scale

    # -- the marginal likelihood ---------------------------------------------------------------
    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``log p_flat(y | theta)`` and its gradient (see the module doc); ``-inf`` where the
        engine fails (PIRLS diverges, a matrix is not positive definite, correlations that
        make no covariance matrix)."""
        theta = np.asarray(theta, dtype=float)
        try:
            phi, J, _ = self._phi(theta)
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros(self.dim)
        if self.field_path and self._last is not None and np.array_equal(self._last.phi, phi):
            return -0.5 * self._last.f, -0.5 * self._last.grad @ J  # just evaluated here
        self.n_evaluations += 1
        try:
            if self.field_path:
                ev = self.field.evaluate(phi, self._start)
                self._start = (ev.beta.copy(), ev.u.copy())
                self._last = ev
                return -0.5 * ev.f, -0.5 * ev.grad @ J
            if self.lap.has_gradient:
                f, g = self.lap.value_and_gradient(phi)
            else:
                f, g = self._fd(phi)
            if not np.isfinite(f):
                return -np.inf, np.zeros(self.dim)
            grad = -0.5 * g @ J if self.n_phi else np.zeros(self.dim)
            for s in self.extra:  # the family's parameter: central differences
                h = 1e-4
                k = s.index.start
                tp, tm = theta.copy(), theta.copy()
                tp[k] += h
                tm[k] -= h
                fp, fm = self._flat_at(phi, tp), self._flat_at(phi, tm)
                self._phi(theta)
                grad[k] = (fp - fm) / (2 * h)
            return -0.5 * f, grad
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf, np.zeros(self.dim)

    def information(self) -> np.ndarray | None:
        """The engine's Newton matrix at the last evaluation, on theta's scale (Hessian of
        ``-log p_flat``): the average-information matrix of the sparse field path; None on
        the general path (the search then runs on gradients alone)."""
        if not self.field_path or self._last is None:
            return None
        th = self._last_theta()
        _, J, _ = self._phi(th)
        return 0.5 * J.T @ self._last.ai @ J

    def _last_theta(self) -> np.ndarray:
        # on the field path theta = phi (log range, log sigma)
        return np.asarray(self._last.phi, dtype=float)

    def _flat_at(self, phi: np.ndarray, theta: np.ndarray) -> float:
        self._phi(theta)
        return -0.5 * self.lap(phi)

    def _fd(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """Deviance and its central-difference gradient (blocks without an exact one)."""
        f = self.lap(phi)
        g = np.empty(len(phi))
        for i in range(len(phi)):
            h = 1e-4 * max(1.0, abs(phi[i]))
            e = np.zeros(len(phi))
            e[i] = h
            g[i] = (self.lap(phi + e) - self.lap(phi - e)) / (2 * h)
        return f, g

    def value(self, theta: np.ndarray) -> float:
        """``log p_flat(y | theta)`` without gradient or covariances (log-determinants and
        the mode: the sparse field path's :meth:`FieldObjective.value`, the general path's
        PIRLS and Laplace value); ``-inf`` where the engine fails. For lattices of values."""
        theta = np.asarray(theta, dtype=float)
        self.n_evaluations += 1
        try:
            phi, _, _ = self._phi(theta)
            if self.field_path:
                return -0.5 * self.field.value(phi, self._start).f
            f = self.lap(phi)
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf
        return -0.5 * f if np.isfinite(f) else -np.inf

    def logml(self, theta: np.ndarray) -> float:
        """``log p(y | theta)`` with the fixed-effects prior, without gradient or covariances
        (for tabulating the marginal of a single hyperparameter); ``-inf`` on failure."""
        theta = np.asarray(theta, dtype=float)
        self.n_evaluations += 1
        try:
            phi, _, _ = self._phi(theta)
            if self.field_path:  # log-determinants and the mode: no selected inverse
                mv = self.field.value(phi, self._start)
                value, beta, R, C, u = -0.5 * mv.f, mv.beta, mv.solve.R, mv.solve.C, mv.u
            else:
                mode = self.lap.pirls(phi)
                value = -0.5 * self.lap.laplace(mode, fixed_beta=False)
                beta, u = mode.beta, mode.u
                R = sla.cholesky(np.asarray(mode.pls.XtVX), lower=False)
                C = np.zeros((len(u), len(beta)))
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf
        return value + self._fixed_prior(beta, u, C, R)[3]

    # -- the conditional Gaussian -------------------------------------------------------------
    def laplace_at(self, theta: np.ndarray, gradient: bool = False) -> LaplacePoint:
        """Everything at one ``theta``: marginal likelihood, conditional posterior, and the
        gradient where it is exact and cheap (the field path) or asked for (``gradient``:
        central differences cost 2 PIRLS runs per parameter; the integration points need
        none; ``grad_flat`` is NaN otherwise).

        Raises
        ------
        ModelError
            Where the engine cannot evaluate the model (the point has no posterior mass).
        """
        theta = np.asarray(theta, dtype=float)
        spec = self.spec
        size = None
        mode = ev = None
        if self.field_path and not gradient:  # the posterior without the gradient's work
            grad = np.full(self.dim, np.nan)
            ev, value = self._field_point(theta)
        elif self.field_path or gradient:
            value, grad = self.value_and_grad(theta)
            ev = self._last if self.field_path else None
        else:
            grad = np.full(self.dim, np.nan)
            try:
                phi, _, _ = self._phi(theta)
                self.n_evaluations += 1
                mode = self.lap.pirls(phi)
                value = -0.5 * self.lap.laplace(mode, fixed_beta=False)
            except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError,
                    FloatingPointError):
                value = -np.inf
        if not np.isfinite(value):
            raise ModelError(f"inla(): the Laplace approximation failed at theta = {theta}")
        phi, _, scale = self._phi(theta)
        if self.field_path:
            sel, C, R = ev.sel, ev.solve.C, ev.solve.R
            beta_hat, u_hat, w = ev.beta, ev.u, ev.w
            Lam = sp.identity(len(u_hat), format="csr")
        else:
            if mode is None:
                mode = self.lap.pirls(phi)
            pls = mode.pls
            q = self.system.q
            if hasattr(self.lap.family, "with_theta"):
                size = float(self.lap.family.theta)
            if q > MAX_DENSE_Q:  # the selected inverse on the factor's pattern (CHOLMOD)
                sp_post = pls_posterior(pls, 1.0)
                sel, C = sp_post.sel, sp_post.C
            elif q:
                Ainv = np.asarray(pls.factor.solve(np.eye(q)))
                Ainv = 0.5 * (Ainv + Ainv.T)
                C = Ainv @ np.asarray(pls.B)
                sel = sp.csc_matrix(Ainv)
            else:
                C, sel = np.zeros((0, spec.p)), sp.csc_matrix((0, 0))
            Lam = sp.csr_matrix(pls.Lam) if q else sp.csr_matrix((0, 0))
            R = sla.cholesky(np.asarray(pls.XtVX), lower=False)
            beta_hat, u_hat, w = mode.beta, mode.u, mode.weights
        beta, u, R_post, corr = self._fixed_prior(beta_hat, u_hat, C, R)
        post = SparsePosterior(sel, C, R_post, 1.0,  # spde(constr=True): kriged covariances
                               constraint=ev.kriging if self.field_path else None)
        beta, u = post.constrain(beta, u)  # back on the constraint plane after the prior
        return LaplacePoint(theta=theta, logml=value + corr, logml_flat=value, grad_flat=grad,
                            beta=beta, u=u, post=post, Lam=Lam, scale=scale,
                            weights=np.asarray(w, dtype=float), size=size)

    def _field_point(self, theta: np.ndarray) -> tuple[Any, float]:
        """The sparse field path's evaluation at ``theta`` with the selected inverse but no
        gradient (the last full evaluation when it was at ``theta``) and its value."""
        try:
            phi, _, _ = self._phi(theta)
            if self._last is not None and np.array_equal(self._last.phi, phi):
                return self._last, -0.5 * self._last.f
            self.n_evaluations += 1
            ev = self.field.evaluate(phi, self._start, keep=False, gradient=False)
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return None, -np.inf
        return ev, -0.5 * ev.f

    def _fixed_prior(self, beta_hat: np.ndarray, u_hat: np.ndarray, C: np.ndarray,
                     R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Combine the flat-prior conditional of beta with its Gaussian prior (module doc)."""
        T = self.fixed_prec
        if not np.any(T > 0):
            return beta_hat, u_hat, R, 0.0
        RtR = R.T @ R
        Hb = RtR + np.diag(T)
        R_post = sla.cholesky(Hb, lower=False)
        beta = sla.cho_solve((R_post, False), RtR @ beta_hat + T * self.fixed_mean)
        u = u_hat - C @ (beta - beta_hat)
        S = T > 0
        V = sla.cho_solve((R, False), np.eye(len(T)))
        M = V[np.ix_(S, S)] + np.diag(1.0 / T[S])
        d = beta_hat[S] - self.fixed_mean[S]
        Lm = sla.cholesky(M, lower=True)
        a = sla.solve_triangular(Lm, d, lower=True)
        corr = (-0.5 * float(a @ a) - float(np.sum(np.log(np.diag(Lm))))
                - 0.5 * S.sum() * np.log(2 * np.pi))
        return beta, u, R_post, corr

    # -- linear predictors ----------------------------------------------------------------------
    def linear_predictor(self, pt: LaplacePoint, X: np.ndarray, Zb: Any
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Conditional mean and variance of ``X beta + Zb b`` (``Zb`` in the user's b-space)."""
        X = np.asarray(X, dtype=float)
        if Zb is None or Zb.shape[1] == 0:
            G = sp.csr_matrix((X.shape[0], len(pt.u)))
        else:
            G = sp.csr_matrix(Zb) @ pt.Lam
        mean = X @ pt.beta + np.asarray(G @ pt.u).ravel()
        var = pt.post.variance(X, G if G.shape[1] else None)
        return mean, np.maximum(var, 0.0)

    def observed(self, pt: LaplacePoint) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the linear predictor at the data (offset included)."""
        m, v = self.linear_predictor(pt, self.spec.X, self.system.Z)
        return self.spec.offset + m, v

    def latent(self, pt: LaplacePoint) -> tuple[np.ndarray, np.ndarray]:
        """Conditional means and variances of every latent value ``b = Lambda u`` (user's
        scale; a correlated bar's or a GP's Lambda mixes the u of one group or field)."""
        q = len(pt.u)
        if q == 0:
            return np.zeros(0), np.zeros(0)
        if _is_diagonal(pt.Lam):
            lam = pt.lam
            return lam * pt.u, lam ** 2 * pt.post.latent_variances()
        mean = np.asarray(pt.Lam @ pt.u).ravel()
        var = pt.post.variance(np.zeros((q, pt.post.p)), pt.Lam)
        return mean, np.maximum(var, 0.0)

    def design_new(self, newdata: pd.DataFrame) -> tuple[np.ndarray, Any]:
        """Fixed and latent design rows for new data (the package's prediction rows)."""
        from ..results.predict import design_rows

        class _Shim:  # design_rows reads only fit.spec
            spec = self.spec
        return design_rows(_Shim(), newdata, population=False)

    def offset_new(self, newdata: pd.DataFrame, offset: Any) -> np.ndarray:
        from ..results.predict import _offset_for

        class _Shim:
            spec = self.spec
        return _offset_for(_Shim(), newdata, offset)


def laplace_at(spec: ModelSpec, theta: np.ndarray, fixed_prec: np.ndarray | None = None,
               fixed_mean: np.ndarray | None = None) -> LaplacePoint:
    """One-off evaluation: ``(log p(y | theta), gradient, conditional mode and covariance)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from spatialgamm.model import build_model
    >>> d = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0]})
    >>> pt = laplace_at(build_model("y ~ 1", d, "gaussian"), np.array([0.0]))
    >>> round(pt.logml, 4), round(float(pt.beta[0]), 3)
    (-5.95, 2.5)
    """
    p = spec.p
    ad = EngineAdapter(spec, np.zeros(p) if fixed_prec is None else fixed_prec,
                       np.zeros(p) if fixed_mean is None else fixed_mean)
    return ad.laplace_at(theta)


# -- fitted gams in mgcv's coefficients (for :mod:`.ginla`) ---------------------------------------
def gam_coefficients(fit: Any) -> Any:
    """A fitted gam's model matrix, working weights and penalties in mgcv's coefficient basis
    (:func:`spatialgamm.results.gam_vc.coef_system`; ``NotImplementedError`` for latent
    terms mgcv has no coefficients for)."""
    from ..results.gam_vc import coef_system
    return coef_system(fit)


def gam_criterion(fit: Any) -> tuple[Any, np.ndarray, bool, np.ndarray]:
    """mgcv's REML score as a function of ``(log sp, [log scale])``, its minimiser, whether
    the scale is an argument, and the score's Hessian there (central differences)."""
    from ..results.gam_vc import criterion_hessian, criterion_in_rho
    f, x0, scaled = criterion_in_rho(fit)
    return f, x0, scaled, criterion_hessian(fit)
