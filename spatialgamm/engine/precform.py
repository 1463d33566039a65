"""The marginal likelihood of a model with one sparse-precision field, with its gradient.

The model: ``eta = offset + X beta + Z u``, ``u ~ N(0, s Q(phi)^-1)``, observations from an
exponential family (``s`` = residual variance for the Gaussian identity model, else 1).
With ``H = M' W M + blockdiag(0, Q)``, ``M = [X, Z]``, and at the mode ``(beta, u)``:

    Gaussian (exact, beta and s profiled; as lme4):
        d = log|A| - log|Q| + dof (1 + log(2 pi r2 / dof)) [+ log|X'VX|] - sum log w
    other families (Laplace; canonical links, where W is the exact Hessian):
        d = -2 log p(y | mu) + u'Q u + log|A| - log|Q| [+ log|X'VX| - p log 2 pi]

where ``A = Z'WZ + Q`` and the bracket is REML (beta integrated with a flat prior:
``log|A| + log|X'VX| = log|H|``). The gradient in ``phi`` (Rue, Martino & Chopin 2009,
sec. 6; the implicit-function argument of TMB) is exact and needs one selected inversion of
the factor already at hand (Takahashi recursions):

    Gaussian:  g_k = tr(S dQ_k) - dlog|Q|_k + dof u'dQ_k u / r2
    Laplace:   g_k = u'dQ_k u + tr(S dQ_k) - dlog|Q|_k + sum_i W'_i (M dx_k)_i d_i,
               dx_k = -H^-1 [0; dQ_k u]  (how the mode moves),

with ``S`` the latent block of ``H^-1`` (REML) or ``A^-1`` (ML), ``d_i = m_i' S_J m_i`` the
matching variance of observation i's linear predictor and ``W'`` = dW / d eta. The Newton
matrix is the average-information matrix (Gilmour, Thompson & Cullis 1995) of the working
model, ``AI_kl = t_k' P t_l`` with ``t_k = dV_k P y = -Z Q^-1 dQ_k u`` (and ``t_s = y - X beta``
for the Gaussian scale, then profiled out): solves only, no traces.

Each evaluation refactors ``A`` on one symbolic analysis. PIRLS starts from the mode of the
last accepted point moved by ``dx`` (first order in ``phi``), so one or two Newton steps find
the new mode; the Laplace log-determinant then gets the first-order correction
``sum_i W'_i (M Delta)_i d_i`` for the last, tiny, step. :meth:`FieldObjective.value` (for
tabulating the criterion) has no selected inverse, hence no ``d_i``: it refactors ``H`` at
the mode instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..families import Family
from .glm import PIRLSError, glm_irls, halve_step
from .linalg import NotPositiveDefinite
from .pls import FixedPatternPLS, LatentSolve
from .posterior import SparsePosterior

LOG2PI = float(np.log(2 * np.pi))


@dataclass
class Evaluation:
    """The criterion at one ``phi`` and what the optimiser and the fit need from it."""

    phi: np.ndarray
    f: float
    grad: np.ndarray
    ai: np.ndarray  # Newton matrix for phi (scale profiled out)
    ai_full: np.ndarray  # with the Gaussian log-scale as last coordinate
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    w: np.ndarray  # working weights at the mode (prior weights for Gaussian)
    scale: float
    solve: LatentSolve
    sel: sp.csc_matrix  # A^-1 on the factor's pattern
    prior: Any  # PriorState
    dx: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    minus2ll: float = 0.0
    inner: int = 1
    quad: np.ndarray | None = None  # u' dQ_k u
    dof: int = 0  # Gaussian: n - p (REML) or n (ML)
    #: a constrained field's (rows A, A^-1 A') for the posterior's kriging, else None
    kriging: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class ModeValue:
    """The criterion and the conditional mode at one ``phi``, without gradient (what
    :meth:`FieldObjective.value` returns)."""

    phi: np.ndarray
    f: float
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    w: np.ndarray
    scale: float
    solve: LatentSolve
    minus2ll: float = 0.0
    inner: int = 1


@dataclass
class Kriging:
    """``h = H^-1 [0; A']`` (``hb``: fixed-effects rows, ``hu``: field rows), ``S = A hu``
    and its inverse: the correction of one solve for the field's constraints ``A u = 0``."""

    hb: np.ndarray
    hu: np.ndarray
    S_inv: np.ndarray
    logdet_S: float

    @classmethod
    def of(cls, hb: np.ndarray, hu: np.ndarray, A: np.ndarray) -> Kriging:
        S = A @ hu
        S = 0.5 * (S + S.T)
        c = sla.cho_factor(S, lower=True)
        return cls(hb, hu, sla.cho_solve(c, np.eye(len(S))),
                   2.0 * float(np.sum(np.log(np.diag(c[0])))))


class FieldObjective:
    """(Restricted) marginal likelihood of a model with one sparse-precision field.

    Parameters
    ----------
    X : ndarray (n, p)
    Z : sparse (n, q)
        Design of the field (a projector: few non-zeros per row).
    y, offset, weights : ndarray (n,)
    family : Family
        Gaussian with identity link, or a canonical link (the Laplace gradient uses W as
        the Hessian of the log-likelihood).
    prior : callable
        ``phi -> PriorState`` (``Q``, ``log|Q|``, its gradient, ``dQ``, ``Q^-1``).
    q_pattern : csc_matrix
        Sparsity pattern of every ``Q`` the prior returns.
    reml : bool
    system : LatentSystem, optional
        The model's latent system (its bounds and pencil prior), kept for the later stages.
    """

    def __init__(self, X: np.ndarray, Z: sp.spmatrix, y: np.ndarray, offset: np.ndarray,
                 weights: np.ndarray, family: Family, prior, q_pattern: sp.csc_matrix,
                 reml: bool = True, inner_tol: float = 1e-3, max_inner: int = 40,
                 system: Any = None):
        # the PLS solve's fixed-pattern storage: one symbolic analysis for the model
        self.pls = FixedPatternPLS(X, Z, q_pattern)
        self.X, self.Zr, self.Zt = self.pls.X, self.pls.Zr, self.pls.Zt
        self.n, self.p, self.q = self.pls.n, self.pls.p, self.pls.q
        self.y, self.offset, self.wt = y, offset, weights
        self.family, self.prior, self.reml, self.system = family, prior, reml, system
        self.gaussian = family.is_gaussian_identity
        if not self.gaussian and not family.canonical:
            raise ValueError(f"the sparse field fit needs a canonical link; {family.name} with "
                             f"link {family.link.name!r} is not")
        self.inner_tol, self.max_inner = inner_tol, max_inner
        self.n_evals = 0
        self._sel_keys = None
        self._glm_beta: np.ndarray | None = None
        # spde(constr=True): the field's constraints A u = 0 (conditioning by kriging on
        # every solve; the prior's log-determinant is then the one on the constraint plane)
        field_prior = system.priors.get(0) if system is not None else None
        self.constraint = getattr(field_prior, "constraint", None)
        if self.constraint is not None:
            if self.constraint.n != self.q:
                raise ValueError(f"the field's constraint has {self.constraint.n} columns; "
                                 f"the field has {self.q}")
            self.prior = lambda phi: field_prior.state(phi, constrained=True)
            A = self.constraint.A
            self._logdet_AAt = float(np.linalg.slogdet(A @ A.T)[1])
        # the optimiser's optimum and the last evaluation (each holds a selected inverse:
        # no more are kept, so the fit's peak memory is the search's)
        self._optimum: Evaluation | None = None
        self._last: Evaluation | None = None
        self._anchor: tuple[np.ndarray, np.ndarray] | None = None
        #: the observed Hessian at the optimum (:func:`.newton.observed_hessian`)
        self.observed: Any = None

    #: what an evaluation raises where the model cannot be evaluated (the optimiser then
    #: steps back; the first is raised when even the start fails)
    failures = (PIRLSError, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError)

    @property
    def n_factorizations(self) -> int:
        """Numeric factorisations of the latent system so far."""
        return self.pls.n_factorizations

    def solve(self, Q: sp.csc_matrix, w: np.ndarray, z: np.ndarray) -> LatentSolve:
        """One PLS solve at fixed weights (:meth:`FixedPatternPLS.solve`)."""
        return self.pls.solve(Q, w, z)

    def solve_H(self, s: LatentSolve, rb: np.ndarray, ru: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        return self.pls.solve_H(s, rb, ru)

    def _krige_H(self, s: LatentSolve) -> Kriging:
        """The constraint's kriging through the joint ``H`` of the solve ``s``."""
        A = self.constraint.A
        hb, hu = self.solve_H(s, np.zeros((self.p, A.shape[0])), A.T.copy())
        return Kriging.of(hb, hu, A)

    def _constrain(self, s: LatentSolve, kr: Kriging) -> LatentSolve:
        """The solve's minimiser on the plane ``A u = 0``: ``x - h S^-1 A u`` (the exact
        constrained minimiser of the same penalised least-squares problem)."""
        t = kr.S_inv @ (self.constraint.A @ s.u)
        return replace(s, beta=s.beta - kr.hb @ t, u=s.u - kr.hu @ t)

    # -- public stages at one phi (issue 15 calls these at many phi) ----------------------
    def at(self, phi: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None
           ) -> Evaluation:
        """The evaluation at ``phi``: the optimiser's optimum or the last evaluation when
        either is at ``phi``, else a new one (warm-started at ``start``)."""
        phi = np.asarray(phi, dtype=float)
        for ev in (self._optimum, self._last):
            if ev is not None and np.array_equal(ev.phi, phi):
                return ev
        return self.evaluate(phi, start)

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The criterion (deviance scale) and its exact gradient at ``phi``."""
        ev = self.at(phi)
        return ev.f, ev.grad

    def __call__(self, phi: np.ndarray) -> float:
        """The criterion at ``phi``, PIRLS warm-started at the optimiser's mode (so that
        differences of values, for profiles and Hessians, are smooth); inf where it cannot
        be evaluated."""
        try:
            return self.evaluate(np.asarray(phi, dtype=float), self._anchor, keep=False).f
        except self.failures:
            return np.inf

    def mode(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The conditional mode ``(beta, u)`` at ``phi``."""
        ev = self.at(phi)
        return ev.beta, ev.u

    def posterior(self, phi: np.ndarray) -> SparsePosterior:
        """The Gaussian approximation of ``(beta, u)`` at ``phi``: its covariance kept as a
        selected inverse (:class:`~spatialgamm.engine.posterior.SparsePosterior`)."""
        ev = self.at(phi)
        return SparsePosterior(ev.sel, ev.solve.C, ev.solve.R, ev.scale,
                               constraint=ev.kriging)

    # -- the mode --------------------------------------------------------------------------
    def _penalised(self, eta: np.ndarray, u: np.ndarray, Q) -> float:
        mu = self.family.link.linkinv(eta)
        return float(np.sum(self.family.dev_resids(self.y, mu, self.wt))) + float(u @ (Q @ u))

    def glm_start(self) -> tuple[np.ndarray, np.ndarray]:
        """Fixed effects of the model without the field (the engine's GLM IRLS on p
        columns: no sparse work)."""
        if self._glm_beta is None:  # the same for every phi: fitted once per model
            self._glm_beta = glm_irls(self.X, self.y, self.family, self.wt, self.offset).beta
        return self._glm_beta.copy(), np.zeros(self.q)

    def _mode(self, prior, beta: np.ndarray, u: np.ndarray):
        """Penalised IRLS (Newton for canonical links) from ``(beta, u)``.

        Stops when the Newton decrement ``Delta' H Delta`` (deviance units) is below
        ``inner_tol``; returns the Newton point, the factorisation one tiny step behind it
        and the linear-predictor step ``M Delta`` (for the first-order correction).
        """
        fam, Q = self.family, prior.Q
        eta = self.offset + self.X @ beta + self.Zr @ u
        if not fam.link.valid_eta(eta) or not np.all(np.isfinite(eta)):
            beta, u = self.glm_start()
            eta = self.offset + self.X @ beta
        pen = self._penalised(eta, u, Q)
        for it in range(1, self.max_inner + 1):
            z, w = fam.working(self.y, eta, self.wt)
            s = self.solve(Q, w, z - self.offset)
            if self.constraint is not None:
                s = self._constrain(s, self._krige_H(s))
            db, du = s.beta - beta, s.u - u
            dM = self.X @ db + self.Zr @ du
            dec = float(np.sum(w * dM * dM) + du @ (Q @ du))
            if dec < self.inner_tol:
                return s, w, eta, dM, it
            # the engine's step halving (lme4's rule), shared with the Laplace form's PIRLS
            st = halve_step(fam, self.y, self.wt, 1.0, eta, eta + dM, u, s.u, pen,
                            lambda v: float(v @ (Q @ v)), max_halvings=34)
            beta, u, eta, pen = beta + st.t * db, st.u, st.eta, st.objective
        raise PIRLSError(f"penalised IRLS did not converge in {self.max_inner} iterations")

    # -- evaluation ------------------------------------------------------------------------
    def _at_mode(self, phi: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None,
                 refactor: bool) -> tuple[Any, LatentSolve, np.ndarray, np.ndarray, int,
                                          tuple[np.ndarray, np.ndarray] | None]:
        """The prior at ``phi``, the conditional mode with a factorisation of ``H``, the
        working weights of that factorisation, the linear predictor at the mode, the PIRLS
        iterations, and ``(eta0, M Delta)`` when the factorisation is one step behind the
        mode (else None).

        Non-Gaussian families: PIRLS returns the Newton point with the factorisation one
        tiny step behind it; :meth:`evaluate` corrects ``log|H|`` to first order through the
        observation variances of its selected inverse. ``refactor=True`` (:meth:`value`,
        which has no selected inverse) refactors ``H`` at the Newton point instead: one more
        numeric factorisation, and ``log|H|`` is the Laplace one at the mode itself. The two
        differ by the second order of the last Newton step (below 1e-10 once the mode is
        converged to rounding; tests/test_inlaspeed.py)."""
        prior = self.prior(phi)
        Q = prior.Q
        if self.gaussian:
            s = self.solve(Q, self.wt, self.y - self.offset)
            if self.constraint is not None:
                s = self._constrain(s, self._krige_H(s))
            eta = self.offset + self.X @ s.beta + self.Zr @ s.u
            return prior, s, self.wt, eta, 1, None
        beta0, u0 = start if start is not None else self.glm_start()
        s, w, eta0, dM, inner = self._mode(prior, beta0, u0)
        eta = eta0 + dM
        if not refactor:
            return prior, s, w, eta, inner, (eta0, dM)
        z, w = self.family.working(self.y, eta, self.wt)
        s = replace(self.solve(Q, w, z - self.offset), beta=s.beta, u=s.u)
        return prior, s, w, eta, inner, None

    def _constraint_terms(self, s: LatentSolve
                          ) -> tuple[Kriging, Kriging, np.ndarray, float]:
        """A constrained field's kriging through ``H`` (the mode's), the one of the posterior
        (``H^-1`` for REML, ``A^-1`` for ML), ``A^-1 A'`` and the log-determinant on the
        plane: ``log|H|_A = log|H| + log|S| - log|AA'|`` (solves only)."""
        A = self.constraint.A
        kr_mode = self._krige_H(s)
        AinvAt = np.asarray(s.factor.solve(A.T.copy())).reshape(self.q, -1)
        kr = kr_mode if self.reml else Kriging.of(np.zeros((self.p, A.shape[0])), AinvAt, A)
        return kr_mode, kr, AinvAt, kr.logdet_S - self._logdet_AAt

    def _criterion(self, prior, s: LatentSolve, w: np.ndarray, eta: np.ndarray,
                   ld_extra: float) -> tuple[float, float, int, float, float]:
        """``(f, scale, dof, -2 log p(y | mu), r2)`` at the mode (module doc's formulas);
        ``ld_extra``: the constraint's and the first-order corrections of ``log|H|``."""
        u, Q = s.u, prior.Q
        if self.gaussian:
            dof = self.n - self.p if self.reml else self.n
            resid = self.y - eta
            r2 = float(np.sum(w * resid * resid) + u @ (Q @ u))
            if r2 <= 0:
                raise NotPositiveDefinite("zero penalised residual sum of squares")
            f = s.logdet_A + ld_extra - prior.logdet + dof * (1 + LOG2PI + np.log(r2 / dof)) \
                - float(np.sum(np.log(w[w > 0])))
            if self.reml:
                f += s.logdet_XtVX
            return float(f), r2 / dof, dof, float("nan"), r2
        mu = self.family.link.linkinv(eta)
        ld = s.logdet_A + (s.logdet_XtVX if self.reml else 0.0) + ld_extra
        m2ll = -2.0 * float(np.sum(self.family.loglik_obs(self.y, mu, self.wt)))
        f = m2ll + float(u @ (Q @ u)) + ld - prior.logdet
        if self.reml:
            f -= self.p * LOG2PI
        return float(f), 1.0, 0, m2ll, float("nan")

    def value(self, phi: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None
              ) -> ModeValue:
        """The criterion and the conditional mode at ``phi`` without gradient, Newton matrix
        or selected inverse (log-determinants and solves only): what tabulating ``log p(y |
        theta)`` on a lattice needs. :meth:`evaluate`'s ``f`` up to the second order of
        the last Newton step (:meth:`_at_mode`)."""
        self.n_evals += 1
        phi = np.asarray(phi, dtype=float)
        prior, s, w, eta, inner, _ = self._at_mode(phi, start, refactor=True)
        ld_constr = self._constraint_terms(s)[3] if self.constraint is not None else 0.0
        f, scale, _, m2ll, _ = self._criterion(prior, s, w, eta, ld_constr)
        return ModeValue(phi=phi, f=f, beta=s.beta, u=s.u, eta=eta, w=w, scale=scale,
                         solve=s, minus2ll=m2ll, inner=inner)

    def evaluate(self, phi: np.ndarray, start: tuple[np.ndarray, np.ndarray] | None = None,
                 keep: bool = True, gradient: bool = True) -> Evaluation:
        """Criterion, gradient and Newton matrix at ``phi`` (kept for :meth:`at` unless
        ``keep=False``: differences for Hessians and profiles need not hold on to a
        selected inverse).

        ``gradient=False``: the criterion (the same number) and the selected inverse for the
        posterior, without the gradient, ``dx`` or the Newton matrix (NaN there; such an
        evaluation is never kept for :meth:`at`): the integration points of ``inla()``."""
        self.n_evals += 1
        phi = np.asarray(phi, dtype=float)
        prior, s, w, eta, inner, behind = self._at_mode(phi, start, refactor=False)
        sel = s.factor.selected_inverse()
        d = self._obs_variances(s, sel)
        kr_mode = kr = kriging = None
        ld = 0.0
        if self.constraint is not None:
            # the posterior on the plane: H^-1 (REML) or A^-1 (ML) minus h S^-1 h', so
            # d_i, tr(S dQ) and the log-determinant take the rank-k correction; the prior's
            # share is in prior.logdet / dlogdet
            kr_mode, kr, AinvAt, ld = self._constraint_terms(s)
            G = self.X @ kr.hb + self.Zr @ kr.hu  # (n, k)
            d = d - np.einsum("ij,jk,ik->i", G, kr.S_inv, G)
            kriging = (self.constraint.A, AinvAt)
        wprime = None
        if not self.gaussian:
            eta0, dM = behind
            wprime = self._dw_deta(eta0)
            ld += float(np.sum(wprime * dM * d))  # the factor is one tiny step behind
        f, scale, dof, m2ll, r2 = self._criterion(prior, s, w, eta, ld)
        k = len(phi)
        grad, dx, quad = np.full(k, np.nan), [], None
        ai = np.full((k, k), np.nan)
        ai_full = np.full((k + self.gaussian,) * 2, np.nan)
        if gradient:
            traces = self._traces(prior, s, sel, kr)
            quad = np.array([float(s.u @ (dq @ s.u)) for dq in prior.dQ])
            if self.gaussian:
                grad = traces - prior.dlogdet + dof * quad / r2
            else:
                grad, dx = self._laplace_gradient(prior, s, wprime, d, quad, traces, kr_mode)
            ai = ai_full = self._average_information(prior, s, w, s.u, eta, scale)
            if self.gaussian:  # profile the log-scale out (Schur complement)
                ai = ai_full[:k, :k] - np.outer(ai_full[:k, k], ai_full[k, :k]) / ai_full[k, k]
        ev = Evaluation(phi=phi, f=f, grad=grad, ai=ai, ai_full=ai_full, beta=s.beta,
                        u=s.u, eta=eta, mu=self.family.link.linkinv(eta), w=w, scale=scale,
                        solve=s, sel=sel, prior=prior, dx=dx, minus2ll=m2ll, inner=inner,
                        quad=quad, dof=dof, kriging=kriging)
        if keep and gradient:
            self._last = ev
        return ev

    def _traces(self, prior, s: LatentSolve, sel: sp.csc_matrix, kr: Kriging | None
                ) -> np.ndarray:
        """``tr(S dQ_k)`` with ``S`` the latent block of ``H^-1`` (REML) or ``A^-1`` (ML),
        on the constraint plane when the field is constrained (``kr``)."""
        qs = self._sel_at_q(sel)
        traces = np.array([float(qs @ dq.data) for dq in prior.dQ])
        if self.reml:  # + tr(R^-T C' dQ C R^-1): the fixed effects' share of H^-1
            CR = sla.solve_triangular(s.R, s.C.T, trans="T", lower=False).T  # C R^-1
            traces += np.array([float(np.sum(CR * (dq @ CR))) for dq in prior.dQ])
        if kr is not None:
            traces -= np.array([float(np.sum(kr.S_inv * (kr.hu.T @ (dq @ kr.hu))))
                                for dq in prior.dQ])
        return traces

    def _laplace_gradient(self, prior, s: LatentSolve, wprime: np.ndarray, d: np.ndarray,
                          quad: np.ndarray, traces: np.ndarray, kr_mode: Kriging | None
                          ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """The Laplace gradient (module doc) and how the mode moves, ``dx_k``."""
        dx, implicit = [], []
        for dq in prior.dQ:
            xb, xu = self.solve_H(s, np.zeros(self.p), -(dq @ s.u))
            if kr_mode is not None:  # the mode moves within the plane
                t = kr_mode.S_inv @ (self.constraint.A @ xu)
                xb, xu = xb - kr_mode.hb @ t, xu - kr_mode.hu @ t
            dx.append((xb, xu))
            implicit.append(float(np.sum(wprime * (self.X @ xb + self.Zr @ xu) * d)))
        return quad + traces - prior.dlogdet + np.array(implicit), dx

    def remember(self, ev: Evaluation) -> None:
        """Keep ``ev`` as the optimum :meth:`at` answers from (the optimiser hands it back,
        so the fit's mode and posterior cost nothing) and warm-start later calls there."""
        self._optimum, self._last = ev, None
        self._anchor = (ev.beta.copy(), ev.u.copy())

    # -- pieces ----------------------------------------------------------------------------
    def _sel_maps(self, sel: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Where the design's node pairs and Q's stored entries sit in the selected
        inverse's data (its pattern is the factor's, fixed with the analysis: found once)."""
        c = self._sel_keys
        if c is not None and ((c[0] is sel.indices and c[1] is sel.indptr) or (
                np.array_equal(c[0], sel.indices) and np.array_equal(c[1], sel.indptr))):
            return c[2], c[3]
        keys = np.repeat(np.arange(self.q), np.diff(sel.indptr)).astype(np.int64) * self.q \
            + sel.indices
        pos_pairs = self.pls.pairs.positions(keys, self.q)[0]
        qk = self.pls._q_cols * self.q + self.pls._q_indices
        pos_q = np.searchsorted(keys, qk)
        if np.any(keys[np.minimum(pos_q, len(keys) - 1)] != qk):
            raise RuntimeError("the selected inverse misses an entry of the pattern")
        self._sel_keys = (sel.indices, sel.indptr, pos_pairs, pos_q)
        return pos_pairs, pos_q

    def _sel_at_q(self, sel: sp.csc_matrix) -> np.ndarray:
        """Selected-inverse values at the stored entries of Q (for tr(S dQ))."""
        return sel.data[self._sel_maps(sel)[1]]

    def _obs_variances(self, s: LatentSolve, sel: sp.csc_matrix) -> np.ndarray:
        """``d_i``: variance of observation i's linear predictor under ``H_J^-1``."""
        d = self.pls.pairs.quadratic(sel.data[self._sel_maps(sel)[0]])
        if self.reml:  # joint H^-1: + (x_i - C'z_i)' (X'VX)^-1 (x_i - C'z_i)
            G = self.X - self.Zr @ s.C
            T = sla.solve_triangular(s.R, G.T, trans="T", lower=False)
            d += np.sum(T * T, axis=0)
        return d

    def _dw_deta(self, eta: np.ndarray) -> np.ndarray:
        """dW/d eta of the working weights (central differences; exact enough: O(h^2))."""
        h = 1e-5 * np.maximum(1.0, np.abs(eta))
        _, wp = self.family.working(self.y, eta + h, self.wt)
        _, wm = self.family.working(self.y, eta - h, self.wt)
        return (wp - wm) / (2 * h)

    def _apply_P(self, s: LatentSolve, w: np.ndarray, T: np.ndarray, scale: float
                 ) -> np.ndarray:
        """``P T`` (REML) or ``V^-1 T`` (ML) through the factor: Woodbury, solves only."""
        WT = w[:, None] * T
        ru = np.asarray(self.Zt @ WT)
        if self.reml:
            xb, xu = self.solve_H(s, self.X.T @ WT, ru)
            fitted = self.X @ xb + self.Zr @ xu
        else:
            fitted = self.Zr @ np.asarray(s.factor.solve(ru)).reshape(ru.shape)
        return (WT - w[:, None] * fitted) / scale

    def _average_information(self, prior, s: LatentSolve, w: np.ndarray, u: np.ndarray,
                             eta: np.ndarray, scale: float) -> np.ndarray:
        """Deviance-scale AI matrix (plus the Gaussian log-scale as last coordinate).

        Formed in observation space, ``T' P T`` with ``T_k = Z v_k``: the same products in
        node space (``V' Z'WZ V - ...``) agree to rounding, but where range and sigma are
        nearly confounded (a range beyond the domain: condition numbers of 1e4 and more)
        that rounding moves the Newton path, and with it the stopping point, by 1e-7.
        """
        cols = [-(self.Zr @ prior.solve(dq @ u)) for dq in prior.dQ]
        if self.gaussian:  # t_s = V P y = y - offset - X beta (d V / d log s = V)
            cols.append(self.y - self.offset - self.X @ s.beta)
        T = np.column_stack(cols)
        PT = self._apply_P(s, w, T, scale)
        ai = T.T @ PT
        return 0.5 * (ai + ai.T)


def field_form_applies(system: Any, family: Family) -> bool:
    """Whether a model is solved in this form: its only latent block is a precision given
    as an SPDE pencil (``Block.pencil``) without unpenalised columns, and the family is the
    Gaussian identity or has a canonical link and a known scale (where the working weights
    are the exact Hessian). Chosen once per model, as the storage of the PLS solve."""
    gaussian = family.is_gaussian_identity
    blocks = system.blocks
    return (len(blocks) == 1 and 0 in system.priors and blocks[0].fixed is None
            and (gaussian or (family.canonical and family.scale_known)))
