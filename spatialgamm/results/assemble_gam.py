"""Fitting GAMs: smoothing parameters by REML/ML (marginal likelihood) or UBRE/GCV.

REML and ML reuse the mixed-model objectives (exact for Gaussian data, Laplace otherwise:
mgcv's LAML). UBRE and GCV minimise the prediction-error criteria of
:mod:`spatialgamm.engine.smoothness` over the log smoothing parameters, with the penalised
fit recomputed at each value ("outer iteration", as mgcv's default).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..engine.gaussian import GaussianObjective
from ..engine.laplace import LaplaceObjective, PIRLSError
from ..engine.optimize import emit_warnings, optimize
from ..engine.prediction_error import MAX_DENSE, PredictionErrorGradient
from ..engine.smoothness import block_edf, gcv, ubre
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from .assemble import gaussian_state
from .assemble_glmm import laplace_state
from .gam import GamFit
from .mixed import FitState


class PredictionErrorCriterion:
    """UBRE or GCV of the penalised fit as a function of ``phi``."""

    def __init__(self, spec: ModelSpec, system: LatentSystem, method: str, gamma: float = 1.0):
        self.spec, self.system, self.method, self.gamma = spec, system, method, gamma
        self.gaussian = spec.family.name == "gaussian" and spec.family.link.name == "identity"
        if self.gaussian:
            self.obj = GaussianObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                         reml=False)
        else:
            self.obj = LaplaceObjective(system, spec.X, spec.y, spec.offset, spec.weights,
                                        spec.family)
        self.last = None
        self.gradient = (PredictionErrorGradient(
            system, spec.X, spec.y, spec.offset, spec.weights,
            None if self.gaussian else spec.family)
            if PredictionErrorGradient.applicable(system, spec.n, spec.p) else None)

    def fit_at(self, phi: np.ndarray):
        sysm = self.system
        if self.gaussian:
            r = self.obj.solve(phi)
            b = r.b() if sysm.q else np.zeros(0)
            eta = self.spec.offset + (self.spec.X @ r.beta) + (
                np.asarray(sysm.Z @ b).ravel() if sysm.q else 0.0)
            mu = eta
            w = self.spec.weights
            dev = float(np.sum(w * (self.spec.y - mu) ** 2))
            beta, u = r.beta, r.u
        else:
            mode = self.obj.pirls(phi)
            r, eta, mu, w = mode.pls, mode.eta, mode.mu, mode.weights
            dev = float(np.sum(self.spec.family.dev_resids(self.spec.y, mu, self.spec.weights)))
            beta, u = mode.beta, mode.u
        edf_blocks = block_edf(sysm, r, phi)
        tau = self.spec.p + float(np.sum(edf_blocks))
        return dict(r=r, eta=eta, mu=mu, w=w, dev=dev, beta=beta, u=u, edf_blocks=edf_blocks,
                    tau=tau)

    def score(self, f: dict) -> float:
        n = self.spec.n
        if self.method == "UBRE":
            return ubre(f["dev"], n, f["tau"], 1.0, self.gamma)
        return gcv(f["dev"], n, f["tau"], self.gamma)

    def __call__(self, phi: np.ndarray) -> float:
        if self.gaussian and self.gradient is not None:
            # the value of the same dense solve as value_and_grad: probes and line searches
            # then compare numbers computed one way
            return self.value_and_grad(phi)[0]
        try:
            f = self.fit_at(phi)
        except (PIRLSError, np.linalg.LinAlgError):
            return np.inf
        self.last = f
        return self.score(f)

    def value_and_grad(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        """The criterion and its exact gradient in ``phi`` (:mod:`..engine.prediction_error`):
        ``dGCV = n dD / (n - g tau)^2 + 2 g n D dtau / (n - g tau)^3`` and
        ``dUBRE = (dD + 2 g dtau) / n`` (scale 1)."""
        if self.gradient is None:
            raise NotImplementedError(
                "the exact GCV/UBRE gradient needs a dense design of at most "
                f"{MAX_DENSE} values and precision derivatives for every multi-penalty "
                "block; this model is searched by finite differences")
        try:
            if self.gaussian:
                D, tau, dD, dtau = self.gradient.gaussian(phi)
                f = dict(dev=D, tau=tau)
            else:
                # the mode by PIRLS; its edf comes with the gradient (the dense inverse
                # is in hand there), so block_edf's solves are not repeated
                mode = self.obj.pirls(phi)
                dD, dtau, tau = self.gradient(phi, mode.beta, mode.u, mode.eta)
                dev = self.spec.family.dev_resids(self.spec.y, mode.mu, self.spec.weights)
                f = dict(dev=float(np.sum(dev)), tau=tau)
        except (PIRLSError, np.linalg.LinAlgError):
            return np.inf, np.zeros(len(phi))
        n, g, D, tau = self.spec.n, self.gamma, f["dev"], f["tau"]
        if self.method == "UBRE":
            grad = (dD + 2.0 * g * dtau) / n
        else:
            grad = n * dD / (n - g * tau) ** 2 + 2.0 * g * n * D * dtau / (n - g * tau) ** 3
        return self.score(f), grad


def fit_gam(spec: ModelSpec, method: str | None = None, gamma: float = 1.0,
            data_name: str = "data") -> GamFit:
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        return _fit_gam(spec, method, gamma, data_name)


def _fit_gam(spec: ModelSpec, method: str | None, gamma: float, data_name: str) -> GamFit:
    fam = spec.family
    gaussian = fam.name == "gaussian" and fam.link.name == "identity"
    # spde() fields (precisions the engine factors from their pencil) are fitted by their
    # marginal likelihood: REML by default, or ML
    pencil = any(b.pencil is not None for b in spec.blocks)
    if method is None:
        method = "REML" if pencil else "UBRE" if fam.scale_known else "GCV"
    method = method.upper()
    if method in ("CP",):
        method = "UBRE"
    if method == "GCV.CP":  # mgcv's name: UBRE (Mallows' Cp) for a known scale, else GCV
        method = "UBRE" if fam.scale_known else "GCV"
    if method in ("REML", "ML") and gamma != 1.0:
        raise NotImplementedError(f"gamma={gamma} is used by the GCV and UBRE criteria only; "
                                  f"method={method!r} needs gamma=1")
    if method not in ("REML", "ML", "UBRE", "GCV"):
        raise ValueError(f"method must be 'REML', 'ML', 'UBRE', 'GCV' or 'GCV.Cp', got "
                         f"{method!r}")
    if pencil and method not in ("REML", "ML"):
        raise ValueError(f"models with spde() fields are fitted by 'REML' or 'ML' (Laplace); "
                         f"got method={method!r}")
    if method in ("REML", "ML"):
        if gaussian:
            state = gaussian_state(spec, reml=(method == "REML"))
        else:
            state = laplace_state(spec, reml=(method == "REML"), glmer_stage2=False)
        state.method = method
        system = state.extra["system"]
        if "edf_blocks" not in state.extra:  # (the precision form brings its own)
            state.extra["edf_blocks"] = block_edf(system, state.pls, state.phi)
        score = state.criterion / 2.0
    else:
        if method == "UBRE" and not fam.scale_known:
            raise ValueError("UBRE needs a known scale (Poisson, binomial); use GCV or REML")
        system = LatentSystem(spec.blocks, spec.n)
        crit = PredictionErrorCriterion(spec, system, method, gamma)
        # a Newton step below 0.05 in log(sp) changes nothing a user sees: UBRE/GCV are flat
        # near their optimum, often with sp on its boundary (mgcv does not warn there either)
        if crit.gaussian:
            w0 = spec.weights
        else:
            eta0 = fam.link.linkfun(fam.initialize(spec.y, spec.weights))
            w0 = fam.working(spec.y, eta0, spec.weights)[1]
        # UBRE and GCV are often multimodal in log(sp) (Wood 2008, sec. 2): a plateau where
        # one smooth is unpenalised can hold a search started at the balanced point, so two
        # more starts (all smooths stiffer, all wigglier) are searched and the best kept
        start = system.data_start(w0)
        others = (start + 2.0, start - 2.0) if system.n_phi > 1 else ()
        # one parameter: a bounded Brent search over the whole range, which a gradient
        # search can miss (its first step may land on the plateau at a bound, where the
        # gradient vanishes: a GP smooth's UBRE on Rongelap)
        fg = crit.value_and_grad if crit.gradient is not None and system.n_phi > 1 else None
        info = optimize(crit, start, system.parameter_space(), check_hessian=False,
                        scaled_tol=0.05 if fg is None else 2e-3, extra_starts=others, fg=fg)
        f = crit.fit_at(info.x)
        score = crit.score(f)
        if gaussian or not fam.scale_known:
            scale = f["dev"] / (spec.n - f["tau"])
        else:
            scale = 1.0
        r = f["r"]
        vcov = scale * sla.cho_solve((sla.cholesky(r.XtVX), False), np.eye(spec.p)) \
            if spec.p else np.zeros((0, 0))
        b = r.b() if system.q else np.zeros(0)
        state = FitState(phi=info.x, beta=f["beta"], u=f["u"], b=b, pls=r, scale=scale,
                         criterion=score, vcov_beta=vcov, eta=f["eta"], mu=f["mu"],
                         optinfo=info, method=method,
                         extra={"system": system, "objective": crit, "gaussian": gaussian,
                                "working_weights": f["w"], "edf_blocks": f["edf_blocks"]})
    state.extra["score"] = score
    fit = GamFit(spec, state, data_name=data_name)
    emit_warnings(state.optinfo)
    return fit
