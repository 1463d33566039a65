"""Every call the Bayesian layer makes into the engine, in one place.

The INLA-style fit needs, at any hyperparameter value ``theta`` (INLA's internal scale:
log precisions, log range / log sigma of fields), three things from the engine:

- ``log p(y | theta)``, the Laplace approximation of the marginal likelihood with the latent
  field *and the fixed effects* integrated out, with its exact gradient;
- the Gaussian approximation of ``(beta, u) | y, theta`` (its mean and a way to compute
  variances of linear combinations);
- design rows for new data (maps).

:func:`laplace_at` / :class:`EngineAdapter` provide them on today's engine: models whose only
latent term is one ``spde()`` field with a canonical non-Gaussian link use the sparse field
objective (``engine/precform.FieldObjective``, exact gradient by selected inversion); every
other supported model uses the general ``engine/laplace.LaplaceObjective`` (exact u-space
gradients for grouping factors, central differences otherwise). Both are called with
``reml=True``: the fixed effects integrated out under a flat prior. INLA's fixed-effect
prior ``N(mu0, 1/tau)`` is then exact for Gaussian models and Laplace-accurate otherwise:

    log p_tau(y | theta) = log p_flat(y | theta) + log N(beta_hat_S; mu0_S, T_S^-1 + V_SS)

(``S`` the fixed effects with a proper prior, ``beta_hat, V`` the flat-prior conditional
mean and covariance), and the conditional posterior of ``beta`` gets precision ``V^-1 + T``;
``u | beta`` is unchanged. The optimiser searches ``log p_flat + log prior`` (whose gradient
is exact); the integration weights use the full value (the two modes differ by O(tau)).

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
from ..engine.posterior import SparsePosterior
from ..engine.precform import FieldObjective
from ..engine.system import LatentSystem
from ..errors import ModelError
from ..model import ModelSpec
from ..terms.base import Ability

#: families whose Laplace objective the adapter can use (canonical links)
SUPPORTED = {("gaussian", "identity"), ("poisson", "log"), ("binomial", "logit")}

#: general-path models up to this many latent columns keep dense conditional covariances
MAX_DENSE_Q = 6000


@dataclass(frozen=True)
class HyperSlot:
    """One group of hyperparameters: where it sits in ``theta`` and what it means.

    ``kind``: ``"precision"`` (a scalar random effect, ``theta = log precision``),
    ``"matern"`` (an spde() field, ``theta = (log range, log sigma)``) or ``"noise"`` (the
    Gaussian observations' precision).
    """

    term: str
    kind: str
    index: slice
    block: int | None
    internal: tuple[str, ...]


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
    lam : ndarray (q,)
        Diagonal of Lambda: latent values on the user's scale are ``b = lam * u``.
    scale : float
        Gaussian noise variance (1 for other families).
    weights : ndarray (n,)
        Working weights at the mode (observed information per observation).
    """

    theta: np.ndarray
    logml: float
    logml_flat: float
    grad_flat: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    post: SparsePosterior
    lam: np.ndarray
    scale: float
    weights: np.ndarray


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
        if (fam.name, fam.link.name) not in SUPPORTED:
            raise ModelError(f"inla(): family {fam.name!r} with link {fam.link.name!r} is not "
                             "supported yet; use gaussian (identity), poisson (log) or "
                             "binomial (logit)")
        self.spec = spec
        self.family = fam
        self.gaussian = fam.name == "gaussian"
        self.fixed_prec = np.asarray(fixed_prec, dtype=float)
        self.fixed_mean = np.asarray(fixed_mean, dtype=float)
        self.slots: list[HyperSlot] = []
        k = 0
        for j, blk in enumerate(spec.blocks):
            term = blk.term
            if term.has(Ability.GROUPING_FACTOR) and term.nc == 1:
                self.slots.append(HyperSlot(blk.name, "precision", slice(k, k + 1), j,
                                            (f"log precision for {blk.name}",)))
                k += 1
            elif blk.pencil is not None:  # an spde() field
                self.slots.append(HyperSlot(blk.name, "matern", slice(k, k + 2), j,
                                            (f"log range for {blk.name}",
                                             f"log sigma for {blk.name}")))
                k += 2
            else:
                raise ModelError(f"inla(): the term {blk.name!r} is not supported yet; inla() "
                                 "takes scalar random intercepts (1 | g) and spde() fields")
            if blk.fixed is not None:
                raise ModelError(f"inla(): the term {blk.name!r} adds fixed columns; not "
                                 "supported yet")
        if self.gaussian:
            self.slots.append(HyperSlot("Gaussian observations", "noise", slice(k, k + 1),
                                        None, ("log precision for the Gaussian observations",)))
            k += 1
        self.dim = k
        self.system = LatentSystem(spec.blocks, spec.n)
        self.field_path = (not self.gaussian and len(spec.blocks) == 1
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
            if self.system.q > MAX_DENSE_Q:
                raise ModelError(f"inla(): {self.system.q} latent columns exceed the general "
                                 f"path's dense limit ({MAX_DENSE_Q}); a single spde() field "
                                 "with a non-Gaussian family takes the sparse path")
            self.lap = LaplaceObjective(self.system, spec.X, spec.y, spec.offset, spec.weights,
                                        fam, reml=True)
        self.n_evaluations = 0

    # -- theta <-> the engine's parameters ----------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [n for s in self.slots for n in s.internal]

    def theta_start(self) -> np.ndarray:
        """A start for the mode search: the blocks' starts, unit precisions, the data's noise."""
        th = np.zeros(self.dim)
        for s in self.slots:
            if s.kind == "matern":
                blk = self.spec.blocks[s.block]
                th[s.index] = blk.phi_start
                if self.field_path:  # the plug-in fit's start: the residual variogram
                    th[s.index] = field_start(self.field, self.spec)
            elif s.kind == "noise":
                th[s.index] = -np.log(max(float(np.var(self.spec.y)), 1e-12)) + np.log(2.0)
        return th

    def _phi(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Engine phi, d phi / d theta (diagonal; phi has no noise slot), the noise variance."""
        phi, dphi, scale = [], [], 1.0
        for s in self.slots:
            t = theta[s.index]
            if s.kind == "precision":
                v = np.exp(-0.5 * t)
                phi.append(v)
                dphi.append(-0.5 * v)
            elif s.kind == "matern":
                phi.append(t)
                dphi.append(np.ones(2))
            else:
                scale = float(np.exp(-t[0]))
        if not phi:
            return np.zeros(0), np.zeros(0), scale
        return np.concatenate(phi), np.concatenate(dphi), scale

    # -- the marginal likelihood ---------------------------------------------------------------
    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``log p_flat(y | theta)`` and its gradient (see the module doc); ``-inf`` where the
        engine fails (PIRLS diverges, a matrix is not positive definite)."""
        theta = np.asarray(theta, dtype=float)
        phi, dphi, scale = self._phi(theta)
        if self.field_path and self._last is not None and np.array_equal(self._last.phi, phi):
            return -0.5 * self._last.f, -0.5 * self._last.grad * dphi  # just evaluated here
        self.n_evaluations += 1
        try:
            if self.field_path:
                ev = self.field.evaluate(phi, self._start)
                self._start = (ev.beta.copy(), ev.u.copy())
                self._last = ev
                return -0.5 * ev.f, -0.5 * ev.grad * dphi
            self.lap.scale = scale
            if self.lap.has_gradient:
                f, g = self.lap.value_and_gradient(phi)
            else:
                f, g = self._fd(phi)
            grad = np.empty(self.dim)
            grad[:len(phi)] = -0.5 * g * dphi
            if self.gaussian:
                h = 1e-4
                fp = self._flat_at(phi, theta[-1] + h)
                fm = self._flat_at(phi, theta[-1] - h)
                self.lap.scale = scale
                grad[-1] = (fp - fm) / (2 * h)
            return -0.5 * f, grad
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf, np.zeros(self.dim)

    def information(self) -> np.ndarray | None:
        """The engine's Newton matrix at the last evaluation, on theta's scale (Hessian of
        ``-log p_flat``): the average-information matrix of the sparse field path; None on
        the general path (the search then runs on gradients alone)."""
        if not self.field_path or self._last is None:
            return None
        _, dphi, _ = self._phi(self._last.phi)
        return 0.5 * self._last.ai * np.outer(dphi, dphi)

    def _flat_at(self, phi: np.ndarray, log_prec: float) -> float:
        self.lap.scale = float(np.exp(-log_prec))
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

    def logml(self, theta: np.ndarray) -> float:
        """``log p(y | theta)`` with the fixed-effects prior, without gradient or covariances
        (for tabulating the marginal of a single hyperparameter); ``-inf`` on failure."""
        theta = np.asarray(theta, dtype=float)
        phi, _, scale = self._phi(theta)
        self.n_evaluations += 1
        try:
            if self.field_path:
                ev = self.field.evaluate(phi, self._start)
                value, beta, R, C, u = -0.5 * ev.f, ev.beta, ev.solve.R, ev.solve.C, ev.u
            else:
                self.lap.scale = scale
                mode = self.lap.pirls(phi)
                value = -0.5 * self.lap.laplace(mode, fixed_beta=False)
                beta, u = mode.beta, mode.u
                R = sla.cholesky(np.asarray(mode.pls.XtVX), lower=False)
                C = np.zeros((len(u), len(beta)))
        except (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return -np.inf
        return value + self._fixed_prior(beta, u, C, R)[3]

    # -- the conditional Gaussian -------------------------------------------------------------
    def laplace_at(self, theta: np.ndarray) -> LaplacePoint:
        """Everything at one ``theta``: marginal likelihood, gradient, conditional posterior.

        Raises
        ------
        ModelError
            Where the engine cannot evaluate the model (the point has no posterior mass).
        """
        theta = np.asarray(theta, dtype=float)
        value, grad = self.value_and_grad(theta)
        if not np.isfinite(value):
            raise ModelError(f"inla(): the Laplace approximation failed at theta = {theta}")
        phi, _, scale = self._phi(theta)
        spec = self.spec
        if self.field_path:
            ev = self._last  # the evaluation value_and_grad just made at this theta
            sel, C, R = ev.sel, ev.solve.C, ev.solve.R
            beta_hat, u_hat, w = ev.beta, ev.u, ev.w
            lam = np.ones(len(u_hat))
        else:
            self.lap.scale = scale
            mode = self.lap.pirls(phi)
            pls = mode.pls
            q = self.system.q
            if q:
                Ainv = np.asarray(pls.factor.solve(np.eye(q)))
                Ainv = 0.5 * (Ainv + Ainv.T)
                C = Ainv @ np.asarray(pls.B)
                sel = sp.csc_matrix(Ainv)
                lam = np.asarray(sp.csc_matrix(pls.Lam).diagonal()).ravel()
            else:
                C, sel, lam = np.zeros((0, spec.p)), sp.csc_matrix((0, 0)), np.zeros(0)
            R = sla.cholesky(np.asarray(pls.XtVX), lower=False)
            beta_hat, u_hat, w = mode.beta, mode.u, mode.weights
        beta, u, R_post, corr = self._fixed_prior(beta_hat, u_hat, C, R)
        post = SparsePosterior(sel, C, R_post, 1.0,  # spde(constr=True): kriged covariances
                               constraint=self._last.kriging if self.field_path else None)
        beta, u = post.constrain(beta, u)  # back on the constraint plane after the prior
        return LaplacePoint(theta=theta, logml=value + corr, logml_flat=value, grad_flat=grad,
                            beta=beta, u=u, post=post, lam=lam, scale=scale,
                            weights=np.asarray(w, dtype=float))

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
            G = sp.csr_matrix(Zb) @ sp.diags(pt.lam)
        mean = X @ pt.beta + np.asarray(G @ pt.u).ravel()
        var = pt.post.variance(X, G if G.shape[1] else None)
        return mean, np.maximum(var, 0.0)

    def observed(self, pt: LaplacePoint) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the linear predictor at the data (offset included)."""
        m, v = self.linear_predictor(pt, self.spec.X, self.system.Z)
        return self.spec.offset + m, v

    def latent(self, pt: LaplacePoint) -> tuple[np.ndarray, np.ndarray]:
        """Conditional means and variances of every latent value ``b`` (user's scale)."""
        q = len(pt.u)
        if q == 0:
            return np.zeros(0), np.zeros(0)
        return pt.lam * pt.u, pt.lam ** 2 * pt.post.latent_variances()

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
