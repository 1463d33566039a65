"""Non-Gaussian models: penalised IRLS for the mode, the Laplace approximation for the
marginal likelihood.

For parameters ``phi`` (and, in glmer's second stage, fixed ``beta``), :meth:`pirls` finds
the joint mode of ``(beta, u)`` (or of ``u`` alone) of

    -2 log p(y | eta) + u' P u,     eta = offset + X beta + Z Lambda u

by iteratively reweighted penalised least squares with step halving, and

    -2 log L(phi) ~= -2 log p(y | mu_hat) + u' P u + log|A| - log|P|

(Laplace; glmer's nAGQ = 1). With ``reml=True`` the fixed effects are integrated out as
well (flat prior), adding ``log|X'VX| - p log(2 pi)``: mgcv's Laplace approximate REML.
The working weights of ``A`` are the expected information (``hessian="expected"``, as lme4:
for canonical links, logit or log-Poisson, it is the exact Hessian), or the observed one
(``hessian="observed"``, mgcv's LAML: Wood 2011 sec. 3 and Wood, Pya & Saefken 2016 sec.
3 use the full Newton Hessian of the penalised log-likelihood). They differ for
non-canonical links (Gamma log, negative binomial log): the observed weight is the expected
one times ``alpha = 1 + (y - mu) (V'(mu) / V(mu) + g''(mu) / g'(mu))`` (Gamma log link:
``alpha = y / mu``). The mode is the same either way, and so is the posterior :meth:`pirls`
returns (the expected information, as mgcv's ``Vp`` and edf); only the determinant differs.
With ``hessian="observed"`` PIRLS takes Newton steps where the observed information is
positive (:func:`newton_steps`), and the criterion has its exact gradient
(:meth:`LaplaceObjective._observed_gradient`: ``A`` at the observed information, the
third-derivative term through ``d w_obs / d eta``).

With an estimated scale ``phi`` (Gamma, inverse Gaussian) ``-2 log p(y | mu)`` is the exact
density's, ``D / phi - 2 ls(y, phi)`` with ``ls`` the saturated log-likelihood (mgcv's
``fix.family.ls``), and ``u ~ N(0, P^-1)`` unscaled: mgcv's sp is ``phi / sd^2``, the same
model (``log|A| - log|P|`` and ``log|X'VX|`` carry the ``- Mp log phi`` of mgcv's score).

``gamma`` (mgcv's ``gam(gamma=)`` with REML/ML, ``n / gamma`` the effective sample size)
raises the likelihood to the power ``1 / gamma``. At the same ``phi`` as the ``gamma = 1``
model (the mode and ``A`` unchanged; the smoothing parameters read ``gamma`` times larger):

    (-2 log p(y | mu_hat) + u' P u) / gamma + log|A| - log|P| [+ log|X'VX| - p log gamma]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..families import Family
from .covform import CovarianceSolver
from .derivatives import elementwise_derivative, jacobian
from .glm import PIRLSError, halve_step
from .linalg import NotPositiveDefinite
from .pls import PLSResult
from .posterior import SparsePosterior, pls_posterior
from .system import LatentSystem
from .uspace import USpaceSolver

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class Mode:
    """The PIRLS solution at given parameters."""

    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    pls: PLSResult
    weights: np.ndarray  # working weights at the mode
    minus2ll: float  # -2 log p(y | mu) with all constants
    penalty: float  # u' P u
    iterations: int
    converged: bool
    #: (log|A|, log|X'VX|) at the observed information when it is not ``pls``'s (mgcv's
    #: LAML with a non-canonical link: ``hessian="observed"``)
    logdets: tuple[float, float] | None = None


class LaplaceObjective:
    """Laplace-approximate (restricted) deviance of a non-Gaussian model.

    Parameters
    ----------
    system : LatentSystem
    X : ndarray (n, p)
    y, offset, weights : ndarray (n,)
        Response (proportions for the binomial), offset and prior weights (trials).
    family : Family
    reml : bool
        Integrate the fixed effects out (mgcv's LAML) instead of maximising over them.
    form : {"u", "covariance"}
        The latent form PIRLS solves in: u-space (any model), or covariance form
        (:mod:`.covform`: dense fields observed pointwise; gives exact gradients for
        canonical links, :meth:`value_and_gradient`).
    """

    def __init__(self, system: LatentSystem, X: np.ndarray, y: np.ndarray,
                 offset: np.ndarray, weights: np.ndarray, family: Family, reml: bool = False,
                 scale: float = 1.0, form: str = "u", gamma: float = 1.0,
                 hessian: str = "expected"):
        if hessian not in ("expected", "observed"):
            raise ValueError(f"hessian must be 'expected' or 'observed', got {hessian!r}")
        self.hessian = hessian
        self.system, self.X, self.y = system, X, y
        self.gamma = float(gamma)
        self.offset, self.wt, self.family, self.reml = offset, weights, family, reml
        self.scale = scale
        self.n, self.p = X.shape
        if form == "u":
            self.solver: USpaceSolver | CovarianceSolver = USpaceSolver(system, X)
            self.joint, self.uonly = self.solver.joint, self.solver.uonly
        elif form == "covariance":
            self.solver = CovarianceSolver(system, X)
        else:
            raise ValueError(f"form must be 'u' or 'covariance', got {form!r}")
        self.form = form
        self._eta_start: np.ndarray | None = None
        self.n_evals = 0

    # -- the mode ------------------------------------------------------------------------
    def pirls(self, phi: np.ndarray, beta: np.ndarray | None = None, tol: float = 1e-9,
              maxit: int = 60, eta0: np.ndarray | None = None) -> Mode:
        """The mode of ``(beta, u)`` (``beta=None``) or of ``u`` with ``beta`` fixed."""
        fam, y, wt = self.family, self.y, self.wt
        fixed = beta is not None
        solver = self.solver
        base = self.offset + (self.X @ beta if fixed and self.p else 0.0)
        if eta0 is not None:
            eta = eta0.copy()
        elif self._eta_start is not None:
            eta = self._eta_start.copy()
        else:
            eta = fam.link.linkfun(fam.initialize(y, wt))
        mu = fam.link.linkinv(eta)
        # the starting point carries no u: its penalised deviance is the plain deviance
        old_obj = np.inf
        beta_c = beta if fixed else np.zeros(self.p)
        u_c = None
        converged = consistent = False
        last_change = np.inf
        it = 0
        for it in range(1, maxit + 1):
            z, w = self._step_working(eta)
            w = w / self.scale
            try:
                res = solver.solve(phi, z - base, w, fixed)
            except NotPositiveDefinite as exc:
                raise PIRLSError(f"PIRLS: system not positive definite at iteration {it}") from exc
            beta_n = beta if fixed else res.beta
            u_n = solver.coef(res)
            if u_c is None:
                u_c = np.zeros_like(u_n)
            eta_n = base + (0.0 if fixed or not self.p else self.X @ beta_n) + (
                solver.latent_eta(res) if self.system.q else 0.0)
            # step halving on the penalised deviance (guards against divergence)
            t, eta_t, mu_t, u_t, obj = halve_step(fam, y, wt, self.scale, eta, eta_n, u_c, u_n,
                                                  old_obj, lambda u: solver.penalty(u, phi))
            beta_c = beta_n if fixed else beta_c + t * (beta_n - beta_c)
            u_c = u_t
            # converge on the linear predictor, not on the penalised deviance: the deviance
            # is flat at the mode (its error is the square of the mode's), but the Laplace
            # determinant is not, and a loose mode makes the objective noisy
            change = float(np.max(np.abs(eta_t - eta))) if it > 1 else np.inf
            eta, mu = eta_t, mu_t
            # ... but in ill-conditioned problems (a smooth with sp near 0) eta cannot be
            # resolved that finely: there a deviance change at rounding level also ends it,
            # once eta's changes stop shrinking (Fisher scoring converges linearly where the
            # link is not canonical: the Gamma identity link's eta moves by half as much each
            # step, and its deviance change reached rounding with eta still 6e-7 off)
            if change < tol * (1.0 + float(np.max(np.abs(eta)))) or (
                    it > 2 and abs(old_obj - obj) <= 1e-13 * (abs(obj) + 0.1)
                    and change >= 0.9 * last_change):
                converged = True
                break
            last_change = change
            # a halved step from the start (which carries no coefficients: eta from the
            # data, u = 0) lands on an eta no (beta, u) gives, whose penalised deviance can lie
            # below every attainable one (Gamma identity link: mu < 0 on the full step);
            # the reference starts with the first full step, from which steps are consistent
            consistent = consistent or t == 1.0
            old_obj = obj if consistent else np.inf
        # final factorisation at the mode's weights: the Laplace determinant is evaluated here
        z, w = fam.working(y, eta, wt)
        logdets = None
        if self.hessian == "observed" and not fam.canonical:
            # mgcv: the determinant at the observed information, the posterior and the edf
            # at the expected one (its Vp and edf: checked in tests/test_gamscale.py); the
            # expected-weight solve comes last, so the solver's state is that one
            zn, wn = newton_working(fam, y, eta, z, w)
            if np.all(wn >= 0) and np.all(np.isfinite(zn)):
                rn = solver.solve(phi, zn - base, wn / self.scale, fixed)
                logdets = (rn.logdet_A, rn.logdet_XtVX)
            elif self.form == "u":
                # negative observed weights (Gamma identity link, y < mu / 2): the PLS
                # backends take square roots of the weights; mgcv's Hessian may still be
                # positive definite, so the determinants are formed from the cross-products
                logdets = indefinite_logdets(self.system, self.X, phi, wn / self.scale,
                                             self.p if self.reml and not fixed else 0)
            else:
                raise PIRLSError(f"the observed information is negative at "
                                 f"{int(np.sum(wn < 0))} observations ({fam!r}): the "
                                 "covariance form cannot take it; use form='u'")
        w = w / self.scale
        res = solver.solve(phi, z - base, w, fixed)
        if not fixed:
            beta_c = res.beta
        u_c = solver.coef(res)
        eta = base + (0.0 if fixed or not self.p else self.X @ beta_c) + (
            solver.latent_eta(res) if self.system.q else 0.0)
        mu = fam.link.linkinv(eta)
        if not np.all(np.isfinite(mu)):
            raise PIRLSError("PIRLS produced non-finite fitted values")
        self._eta_start = eta
        m2ll = -2.0 * float(np.sum(fam.loglik_obs(y, mu, wt, scale=self.scale)))
        return Mode(beta=np.asarray(beta_c, dtype=float), u=u_c, eta=eta, mu=mu, pls=res,
                    weights=w, minus2ll=m2ll, penalty=solver.penalty(u_c, phi),
                    iterations=it, converged=converged, logdets=logdets)

    def _step_working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A PIRLS iteration's working response and weights: Fisher scoring, or for mgcv's
        LAML with a non-canonical link Newton steps where they can be taken
        (:func:`newton_steps`)."""
        fam = self.family
        z, w = fam.working(self.y, eta, self.wt)
        if self.hessian == "observed" and not fam.canonical:
            return newton_steps(fam, self.y, eta, z, w)
        return z, w

    # -- the objective -------------------------------------------------------------------
    def laplace(self, mode: Mode, fixed_beta: bool) -> float:
        r = mode.pls
        ld_a, ld_x = (r.logdet_A, r.logdet_XtVX) if mode.logdets is None else mode.logdets
        d = (mode.minus2ll + mode.penalty) / self.gamma + ld_a - r.logdet_P
        if self.reml and not fixed_beta:
            d += ld_x - self.p * (LOG2PI + np.log(self.gamma))
        return float(d)

    def profile_scale(self, psi: np.ndarray) -> tuple[float, float]:
        """The Laplace deviance minimised over an estimated scale at mgcv's smoothing
        parameters ``psi`` (``phi`` at scale 1: mgcv's sp is ``exp(-2 psi)``), and that
        scale. With the prior ``u ~ N(0, phi P^-1)`` the mode does not depend on the scale,
        and the deviance at ``phi = psi + log(scale) / 2`` is

            (D + u'P u) / scale - 2 ls(scale) + log|A| - log|P| [+ log|X'VX| - p log scale]

        with the determinants at scale 1 and ``ls`` the saturated log-likelihood: one PIRLS
        and a one-dimensional search in the log scale (the objective's scale is restored).
        """
        from scipy.optimize import minimize_scalar

        fam, y, wt = self.family, self.y, self.wt
        keep, self.scale = self.scale, 1.0
        try:
            mode = self.pirls(np.asarray(psi, dtype=float))
        finally:
            self.scale = keep
        r = mode.pls
        ld_a, ld_x = (r.logdet_A, r.logdet_XtVX) if mode.logdets is None else mode.logdets
        dp = float(np.sum(fam.dev_resids(y, mode.mu, wt))) + mode.penalty
        const = ld_a - r.logdet_P + ((ld_x - self.p * LOG2PI) if self.reml else 0.0)
        ysat = np.where(wt > 0, y, 1.0)

        def dev(tau: float) -> float:
            sc = float(np.exp(tau))
            ls = float(np.sum(fam.loglik_obs(ysat, ysat, wt, scale=sc)))
            return dp / sc - 2.0 * ls - (self.p * tau if self.reml else 0.0)

        t0 = float(np.log(max(dp, 1e-300) / max(float(np.sum(wt > 0)), 1.0)))
        res = minimize_scalar(dev, bounds=(t0 - 10.0, t0 + 10.0), method="bounded",
                              options=dict(xatol=1e-10))
        return float(res.fun + const), float(np.exp(res.x))

    def __call__(self, phi: np.ndarray) -> float:
        """Laplace deviance with ``beta`` at the joint mode (glmer's first stage / mgcv)."""
        self.n_evals += 1
        try:
            return self.laplace(self.pirls(phi), fixed_beta=False)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            self._eta_start = None
            return np.inf

    def mode(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The conditional mode ``(beta, u)`` at ``phi`` (PIRLS)."""
        m = self.pirls(phi)
        return m.beta, m.u

    def posterior(self, phi: np.ndarray) -> SparsePosterior:
        """The Gaussian approximation of ``(beta, u)`` at the mode at ``phi`` (u-space form:
        ``b = Lambda u``; the Laplace approximation's curvature)."""
        if self.form != "u":
            raise NotImplementedError("the posterior is given in u-space; use the u-space "
                                      "objective (form='u')")
        return pls_posterior(self.pirls(phi).pls, 1.0)

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The Laplace deviance and its exact gradient at ``phi`` (the same as
        :meth:`value_and_gradient`: the name every objective shares)."""
        return self.value_and_gradient(phi)

    def with_beta(self, par: np.ndarray) -> float:
        """Laplace deviance at ``par = (phi, beta)`` (glmer's second stage)."""
        k = self.system.n_phi
        self.n_evals += 1
        try:
            return self.laplace(self.pirls(par[:k], beta=par[k:]), fixed_beta=True)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            self._eta_start = None
            return np.inf

    # -- exact gradients (covariance form, canonical links) ------------------------------
    @property
    def has_gradient(self) -> bool:
        """Exact gradients: canonical links (the IRLS weights are then the observed
        information) or families whose weights are the observed information
        (``newton_weights``, with ``dw_deta``) in covariance form, or in u-space for
        covariance-factor blocks (not written for ``gamma != 1``: finite differences there)."""
        newton = self.family.canonical or getattr(self.family, "newton_weights", False)
        return self.gamma == 1.0 and (self.observed_gradient or newton and (
            self.form == "covariance" or self.solver.has_gradient))

    @property
    def observed_gradient(self) -> bool:
        """mgcv's LAML (``hessian="observed"``, a non-canonical link) has its exact gradient
        in u-space (:meth:`_observed_gradient`; smooths' dense rows included: their
        systems are small), for ``gamma = 1``."""
        return (self.hessian == "observed" and not self.family.canonical
                and self.form == "u" and self.gamma == 1.0
                and self.system.precision_gradients)

    @property
    def positive_observed(self) -> bool:
        """:attr:`observed_gradient`, for a family whose observed information stays
        positive (Gamma log link: ``alpha = y / mu``; negative binomial log link), probed
        at fitted values 10 times the data's. Where it can turn negative (Gamma identity,
        inverse Gaussian log: ``alpha = 2 y / mu - 1``) the gradient would often be central
        differences (:meth:`_observed_gradient`), which cost more than a search's own."""
        if not self.observed_gradient:
            return False
        fam, y, wt = self.family, self.y, self.wt
        with np.errstate(all="ignore"):
            eta = fam.link.linkfun(10.0 * fam.initialize(y, wt))
            wn = newton_working(fam, y, eta, *fam.working(y, eta, wt))[1]
        return bool(np.all(wn[wt > 0] > 0))

    def profile_scale_and_gradient(self, psi: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`profile_scale`'s criterion and its exact gradient in ``psi``: at the
        profiled scale the criterion is stationary in it, so the gradient is the one in
        ``phi = psi + log(scale) / 2`` at that scale (:meth:`_gradient`; the mode there is
        the scale-1 mode at ``psi``, so PIRLS starts on it)."""
        psi = np.asarray(psi, dtype=float)
        val, sc = self.profile_scale(psi)
        phi = psi + 0.5 * np.log(sc)
        keep, self.scale = self.scale, sc
        try:
            mode = self.pirls(phi)
            return val, self._gradient(phi, mode, False)
        finally:
            self.scale = keep

    def _gradient(self, phi: np.ndarray, mode: Mode, fixed_beta: bool) -> np.ndarray:
        fam, eta = self.family, mode.eta
        z, w = fam.working(self.y, eta, self.wt)
        score = w * (z - eta) / self.scale  # wt (y - mu) mu_eta / V: exact for any link
        if self.hessian == "observed" and not fam.canonical:
            return self._observed_gradient(phi, mode, fixed_beta, score)
        # d w / d eta: for canonical links w = wt mu_eta, so its derivative is wt mu_eta';
        # central differences of mu_eta are accurate to ~1e-10 and serve every link
        if fam.canonical:
            dmu = elementwise_derivative(fam.link.mu_eta, eta, rel=1e-5)
            dw = np.where(w > 0, self.wt * dmu, 0.0) / self.scale
        else:  # a family whose weights are the observed information (``newton_weights``)
            dw = fam.dw_deta(self.y, eta, self.wt) / self.scale
        reml = self.reml and not fixed_beta
        if self.form == "covariance":
            return self.solver.gradient(phi, mode.pls, score, dw, beta_fixed=fixed_beta,
                                        reml=reml)
        return self.solver.gradient(phi, mode.pls, w / self.scale, score, dw, self.X,
                                    beta_fixed=fixed_beta, reml=reml)

    def _observed_gradient(self, phi: np.ndarray, mode: Mode, fixed_beta: bool,
                           score: np.ndarray) -> np.ndarray:
        """The gradient of mgcv's LAML (``hessian="observed"``, a non-canonical link): the
        same u-space formulas as for ``newton_weights`` families, with ``A`` factored at the
        observed information (the Newton Hessian, which is how the mode moves with ``phi``
        and whose determinant the criterion holds) and the third-derivative term through
        ``d w_obs / d eta`` (Wood 2011 sec. 3). Needs positive observed weights (the PLS
        factorisation takes their square roots): otherwise PIRLSError."""
        fam, eta, y, wt = self.family, mode.eta, self.y, self.wt
        zn, wn = newton_working(fam, y, eta, *fam.working(y, eta, wt))
        if not (np.all(wn > 0) and np.all(np.isfinite(zn))):
            # (Gamma identity link, y < mu / 2) the PLS factorisation cannot take the
            # weights: central differences of the criterion, as the search would take
            f = self.with_beta if fixed_beta else self.__call__
            x = np.concatenate([phi, mode.beta]) if fixed_beta else np.asarray(phi)
            # (steps of 1e-4: PIRLS's ~1e-10 relative noise spoils smaller ones)
            g = jacobian(lambda v: np.atleast_1d(f(v)), x,
                         steps=np.full(len(x), 1e-4)).ravel()
            self._eta_start = mode.eta
            return g
        base = self.offset + (self.X @ mode.beta if fixed_beta and self.p else 0.0)
        rn = self.solver.solve(phi, zn - base, wn / self.scale, fixed_beta)
        dw = observed_weight_derivative(fam, y, eta, wt) / self.scale
        return self.solver.gradient(phi, rn, wn / self.scale, score, dw, self.X,
                                    beta_fixed=fixed_beta, reml=self.reml and not fixed_beta)

    def value_and_gradient(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The deviance of :meth:`__call__` and its exact gradient in ``phi``."""
        self.n_evals += 1
        try:
            mode = self.pirls(phi)
            return self.laplace(mode, fixed_beta=False), self._gradient(phi, mode, False)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            self._eta_start = None
            return np.inf, np.zeros(len(phi))

    def with_beta_and_gradient(self, par: np.ndarray) -> tuple[float, np.ndarray]:
        """The deviance of :meth:`with_beta` and its exact gradient in ``(phi, beta)``."""
        k = self.system.n_phi
        self.n_evals += 1
        try:
            mode = self.pirls(par[:k], beta=par[k:])
            return (self.laplace(mode, fixed_beta=True),
                    self._gradient(par[:k], mode, True))
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            self._eta_start = None
            return np.inf, np.zeros(len(par))


def newton_working(fam: Family, y: np.ndarray, eta: np.ndarray, z: np.ndarray,
                   w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The working response and weights of a full Newton step (observed information) from
    the Fisher ones ``(z, w)``: ``w alpha`` and ``eta + (z - eta) / alpha``, with
    ``alpha = 1 + (y - mu) (V'(mu) / V(mu) - h''(eta) / h'(eta)^2)`` (``h`` the inverse link;
    ``g''/g' = -h''/h'^2``). At the mode the Newton step is zero, so the mode is unchanged and
    only the curvature (the Laplace determinant, the posterior) is the observed one.

    Examples
    --------
    >>> from spatialgamm.families import Gamma
    >>> fam = Gamma("log")
    >>> y, eta = np.array([2.0]), np.array([0.0])
    >>> z, w = fam.working(y, eta)
    >>> zn, wn = newton_working(fam, y, eta, z, w)
    >>> round(float(wn[0]), 8), round(float(zn[0]), 8)  # alpha = y / mu = 2
    (2.0, 0.5)
    """
    mu = fam.link.linkinv(eta)
    d1 = fam.link.mu_eta(eta)
    d2 = elementwise_derivative(fam.link.mu_eta, eta, rel=1e-5)
    dv = elementwise_derivative(fam.variance, mu, rel=1e-5)
    ok = w > 0
    v = np.where(ok, fam.variance(mu), 1.0)
    d1s = np.where(ok, d1, 1.0)
    alpha = np.where(ok, 1.0 + (y - mu) * (dv / v - d2 / (d1s * d1s)), 1.0)
    # alpha <= 0 at rows where the observed information is not positive (Gamma identity
    # link with y < mu / 2): no Newton working response there (inf), weights negative
    with np.errstate(divide="ignore", invalid="ignore"):
        zn = np.where(alpha > 0, eta + (z - eta) / alpha, np.inf)
    return zn, w * alpha


def newton_steps(fam: Family, y: np.ndarray, eta: np.ndarray, z: np.ndarray,
                 w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PIRLS's working response and weights with the observed information where it is
    positive (Newton steps: quadratic convergence where Fisher scoring's is linear, as for
    a non-canonical link) and the expected one elsewhere (Gamma identity link, y < mu / 2:
    the PLS factorisation needs positive weights). Any positive weights with the working
    response ``eta + score / w`` have the same fixed point, the mode.

    Examples
    --------
    >>> from spatialgamm.families import Gamma
    >>> fam = Gamma("identity")
    >>> y, eta = np.array([3.0, 1.0]), np.array([2.0, 4.0])  # alpha = 2 y / mu - 1
    >>> z, w = fam.working(y, eta)
    >>> zs, ws = newton_steps(fam, y, eta, z, w)
    >>> np.round(ws / w, 8).tolist()  # observed at row 1, expected at row 2 (alpha < 0)
    [2.0, 1.0]
    """
    zn, wn = newton_working(fam, y, eta, z, w)
    ok = (w > 0) & np.isfinite(zn) & (wn > 1e-8 * np.maximum(w, 1e-300))
    return np.where(ok, zn, z), np.where(ok, wn, w)


def observed_weight_derivative(fam: Family, y: np.ndarray, eta: np.ndarray,
                               wt: np.ndarray) -> np.ndarray:
    """``d w_obs / d eta`` per observation, ``w_obs`` :func:`newton_working`'s weights (the
    observed information): central differences, step ``1e-4 max(1, |eta|)`` (O(h^2) = 1e-8,
    above the ~1e-11 noise of the weights' own inner differences divided by h).

    Examples
    --------
    >>> from spatialgamm.families import Gamma
    >>> # Gamma log link: w_obs = y / mu = y exp(-eta), so d w_obs / d eta = -y exp(-eta)
    >>> d = observed_weight_derivative(Gamma("log"), np.array([2.0]), np.array([0.5]),
    ...                                np.ones(1))
    >>> bool(abs(d[0] + 2.0 * np.exp(-0.5)) < 1e-7)
    True
    """
    return eta_derivative(lambda e: newton_working(fam, y, e, *fam.working(y, e, wt))[1], eta)


def eta_derivative(f: Callable[[np.ndarray], np.ndarray], eta: np.ndarray) -> np.ndarray:
    """Elementwise ``d f / d eta`` of a function of the linear predictor by central
    differences with step ``1e-4 max(1, |eta|)`` (O(h^2) = 1e-8, above the ~1e-11 noise of
    weights that carry inner differences themselves, divided by h)."""
    eta = np.asarray(eta, dtype=float)
    h = 1e-4 * np.maximum(1.0, np.abs(eta))
    return (f(eta + h) - f(eta - h)) / (2 * h)


def indefinite_logdets(system: LatentSystem, X: np.ndarray, phi: np.ndarray, w: np.ndarray,
                       p: int) -> tuple[float, float]:
    """``(log|A|, log|X'VX|)`` of the u-space Laplace Hessian at weights ``w`` some of which
    are negative (the observed information of a non-canonical link), formed from the
    weighted cross-products without square roots of the weights:
    ``A = Lambda'Z'WZ Lambda + P`` and ``X'VX = X'WX - X'WZ Lambda A^-1 Lambda'Z'WX`` (its
    Schur complement in the joint Hessian; ``p = 0``: none). Dense, ``O(n (p + q)^2)``.
    A Hessian that is not positive definite has no Laplace determinant: PIRLSError.

    Examples
    --------
    >>> from spatialgamm.engine.system import LatentSystem
    >>> sysm = LatentSystem([], 3)
    >>> X = np.ones((3, 1))
    >>> ld = indefinite_logdets(sysm, X, np.zeros(0), np.array([2.0, -0.5, 1.0]), 1)
    >>> round(ld[1], 10) == round(float(np.log(2.5)), 10)
    True
    >>> w = np.array([1.0, -2.0, 0.5])  # X'WX = -0.5
    >>> indefinite_logdets(sysm, X, np.zeros(0), w, 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spatialgamm.engine.glm.PIRLSError: the Laplace Hessian ... is not positive definite ...
    """
    q = system.q
    nneg = int(np.sum(w < 0))

    def chol_logdet(M: np.ndarray) -> tuple[np.ndarray, float]:
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise PIRLSError(f"the Laplace Hessian at the observed information is not "
                             f"positive definite ({nneg} observations have negative "
                             f"information): the Laplace approximation is not defined "
                             f"there") from None
        return L, 2.0 * float(np.sum(np.log(np.diag(L))))

    Xp = X[:, :p]
    ld_a, ld_x = 0.0, 0.0
    if q:
        Lam = system.Lambda(phi)
        ZL = system.Z_dense @ Lam.toarray() if system.Z_dense is not None else \
            np.asarray((system.Z @ Lam).toarray())
        P, _ = system.precision(phi)
        A = ZL.T @ (ZL * w[:, None]) + (np.eye(q) if P is None else P.toarray())
        La, ld_a = chol_logdet(A)
        G = np.linalg.solve(La, ZL.T @ (Xp * w[:, None]))  # L_A^-1 Lambda'Z'WX
        S = Xp.T @ (Xp * w[:, None]) - G.T @ G
    else:
        S = Xp.T @ (Xp * w[:, None])
    if p:
        ld_x = chol_logdet(S)[1]
    return ld_a, ld_x


class DispersionLaplace:
    """A Laplace objective whose family dispersion is estimated too.

    The last covariance-parameter slot carries ``log theta`` (negative binomial, as
    glmer.nb) or ``log scale`` (Gamma, Gaussian with a non-identity link); the objective
    refreshes the family or the scale before each PIRLS.
    """

    def __init__(self, lap: LaplaceObjective, kind: str):
        if kind not in ("theta", "scale"):
            raise ValueError(kind)
        self.lap, self.kind = lap, kind
        self.base = lap.family
        self.k = lap.system.n_phi

    def set(self, v: float) -> None:
        v = float(np.clip(v, -30, 30))
        if self.kind == "theta":
            self.lap.family = self.base.with_theta(float(np.exp(v)))
        else:
            self.lap.scale = float(np.exp(v))

    def __call__(self, par: np.ndarray) -> float:
        self.set(par[self.k])
        return self.lap(par[:self.k])

    def with_beta(self, par: np.ndarray) -> float:
        self.set(par[self.k])
        return self.lap.with_beta(np.concatenate([par[:self.k], par[self.k + 1:]]))

    @property
    def has_gradient(self) -> bool:
        """An estimated scale of mgcv's LAML (:meth:`value_and_gradient`) whose observed
        information stays positive (:attr:`LaplaceObjective.positive_observed`)."""
        return self.kind == "scale" and self.lap.positive_observed

    def value_and_gradient(self, par: np.ndarray) -> tuple[float, np.ndarray]:
        """The criterion at ``par = (phi, log scale)`` and its gradient: exact in ``phi``,
        and in the log scale ``tau`` from mgcv's coordinates ``psi = phi - tau / 2``, in
        which the mode does not move with the scale (:meth:`LaplaceObjective.profile_scale`):
        there the criterion is ``(D + pen) / scale - 2 ls(scale) + const(psi) [- p tau]``,
        so ``d/d tau`` at fixed ``phi`` is ``-(D + pen) / scale - 2 ls'(tau) [- p]`` minus
        half the sum of the ``phi`` gradient (``(D + pen) / scale`` is the objective's
        ``-2 log p + 2 ls + u'P u`` at ``phi``; ``ls'`` by central differences)."""
        lap, k = self.lap, self.k
        tau = float(np.clip(par[k], -30, 30))
        self.set(tau)
        lap.n_evals += 1
        try:
            mode = lap.pirls(par[:k])
            val = lap.laplace(mode, fixed_beta=False)
            g = lap._gradient(par[:k], mode, False)
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            lap._eta_start = None
            return np.inf, np.zeros(len(par))
        fam, wt = lap.family, lap.wt
        ysat = np.where(wt > 0, lap.y, 1.0)

        def ls(t: float) -> float:
            return float(np.sum(fam.loglik_obs(ysat, ysat, wt, scale=float(np.exp(t)))))

        h = 1e-5
        dls = (ls(tau + h) - ls(tau - h)) / (2 * h)
        dtau = -(mode.minus2ll + 2.0 * ls(tau) + mode.penalty) - 2.0 * dls - 0.5 * float(
            np.sum(g)) - (lap.p if lap.reml else 0.0)
        return val, np.append(g, dtau)
