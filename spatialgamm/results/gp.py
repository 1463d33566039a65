"""What users read from Gaussian-process and known-covariance terms of a fitted model.

* :func:`gp_params` - one row per GP / HSGP term: kernel, range (with its convention), sigma,
  nu, nugget and the effective ranges at correlation 0.05 and 0.14, on the data's scale.
* :func:`confint` - profile-likelihood intervals for the range, sigma, nugget and nu
  (Wald intervals for the fixed effects).
* :func:`simulate_field` - joint conditional simulation of the linear predictor at new
  points (regional totals, exceedance of a region).
* :func:`heritability` - ``h^2`` of a ``kinship()`` term with its delta-method SE.
* :func:`gaussian_joint_vcov` - fixed-effect covariance of a Gaussian fit that carries the
  uncertainty of the covariance parameters (glmmTMB's convention; see below).

Standard-error conventions (``fit.vcov_fixef(se=...)``). The default, ``"conditional"``,
is lme4's: ``sigma^2 (X'V^-1 X)^-1`` with the covariance parameters (GP range and SD,
variances) held at their estimates. ``"joint"`` is glmmTMB's: the inverse Hessian of the
likelihood in ``(beta, theta)`` (ML), or for REML the generalised delta method over the
REML Hessian (TMB's ``sdreport`` with beta among the random effects); both equal

    Var(beta) = C + J Sigma J',   J = d beta_hat(theta) / d theta,  Sigma = 2 H_theta^-1

with ``C`` the conditional covariance, ``beta_hat(theta)`` the GLS estimate and ``H_theta`` the
Hessian of the profiled (RE)ML deviance. For GP fits the two differ by ~1%.

Profiles use the model's own objective: the exact profiled (RE)ML deviance for Gaussian
models (the residual variance profiled out, or tied to the absolute GP SD being profiled),
and for other families the Laplace deviance with the fixed effects at the joint mode
(glmer's first stage; for ``method='REML'`` the LAML criterion itself).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import stats

LOG2PI = math.log(2 * math.pi)

#: profiled parameters: name in tables -> coordinate name in a term's phi
_PROFILED = {"range": "log_range", "sigma": "sigma", "nugget": "tau", "nu": "log_nu"}


def _system(fit):
    return fit.state.extra["system"]


def gp_blocks(fit) -> list[tuple[int, Any]]:
    """(index, block) of every term that reports GP parameters."""
    return [(k, b) for k, b in enumerate(fit.spec.blocks) if hasattr(b.term, "report")]


def gp_params(fit) -> pd.DataFrame:
    """Estimates of each GP term (see module docstring); SDs on the data's scale.

    Examples
    --------
    >>> fit.gp_params[["term", "kernel", "range", "sigma"]]  # doctest: +SKIP
    """
    sysl = _system(fit)
    rows = [b.term.report(sysl.block_phi(fit.state.phi, k), fit.state.scale)
            for k, b in gp_blocks(fit)]
    if not rows:
        raise ValueError("the model has no gp() or hsgp() term")
    return pd.DataFrame(rows)


def _single(fit, column: str) -> float:
    tab = gp_params(fit)
    if len(tab) != 1:
        raise ValueError(f"the model has {len(tab)} GP terms; read fit.gp_params['{column}']")
    return float(tab[column].iloc[0])


def gp_range(fit) -> float:
    """The range of the model's only GP term (kernel convention: ``fit.gp_params``)."""
    return _single(fit, "range")


def gp_sigma(fit) -> float:
    """The standard deviation of the model's only GP term (on the data's scale)."""
    return _single(fit, "sigma")


# ---- the deviance as a function of phi (and, for Gaussian models, the scale) ---------------
class _Deviance:
    """The criterion the profile moves along, from the fit's own objective."""

    def __init__(self, fit):
        self.fit = fit
        # the same criterion in the fastest form the fit searched it in (covariance form)
        ex = fit.state.extra
        self.obj = ex.get("search_objective", ex["objective"])
        # exact gradients where the Laplace objective has them (covariance form)
        self.has_gradient = bool(getattr(self.obj, "has_gradient", False))
        self.gaussian = fit.is_gaussian
        lay = _system(fit).layout
        self.lower, self.upper = lay.lower, lay.upper

    def __call__(self, phi: np.ndarray) -> float:
        v = self.obj(np.asarray(phi, dtype=float))
        return float(v) if np.isfinite(v) else 1e300

    def value_and_gradient(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = self.obj.value_and_gradient(np.asarray(phi, dtype=float))
        return (float(v), g) if np.isfinite(v) else (1e300, np.zeros(len(phi)))

    def with_scale(self, phi: np.ndarray, s2: float) -> float:
        """Gaussian deviance at ``phi`` and residual variance ``s2`` (beta profiled)."""
        obj = self.obj
        try:
            r = obj.solve(np.asarray(phi, dtype=float))
        except np.linalg.LinAlgError:
            return 1e300
        dof = obj.n - obj.p if obj.reml else obj.n
        d = r.logdet_A - r.logdet_P + dof * (LOG2PI + math.log(s2)) + r.pwrss / s2
        if obj.reml:
            d += r.logdet_XtVX
        return float(d - obj.sum_log_w)


def _minimise(f, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, jac: bool = False
              ) -> tuple[np.ndarray, float]:
    """L-BFGS-B over a box; ``jac=True``: ``f`` returns the value and its gradient."""
    if len(x0) == 0:
        return x0, (f(x0)[0] if jac else f(x0))
    x0 = np.clip(x0, lower, upper)
    bounds = list(zip(np.where(np.isfinite(lower), lower, None),
                      np.where(np.isfinite(upper), upper, None)))
    res = sopt.minimize(f, x0, jac=jac, method="L-BFGS-B", bounds=bounds,
                        options={"ftol": 1e-11, "gtol": 1e-6, "maxiter": 500})
    return res.x, float(res.fun)


class _Profile:
    """Profile of one coordinate (or, for Gaussian SDs, of the absolute SD) of phi."""

    def __init__(self, dev: _Deviance, j: int, absolute_sd: bool, phi_hat: np.ndarray,
                 log_coord: bool = False):
        self.dev, self.j, self.absolute, self.log_coord = dev, j, absolute_sd, log_coord
        self.free = np.array([i for i in range(len(phi_hat)) if i != j], dtype=int)
        self.phi_hat = phi_hat
        self.memo: list[tuple[float, np.ndarray]] = []

    def _starts(self, t: float) -> list[np.ndarray]:
        """Warm start from the nearest profiled point, then the estimate itself."""
        out = [min(self.memo, key=lambda m: abs(m[0] - t))[1].copy()] if self.memo else []
        return out + [self.phi_hat.copy()]

    def __call__(self, value: float, cut: float = np.inf) -> float:
        """Minimum deviance with the parameter at ``value`` (its natural scale).

        A value above ``cut`` is re-minimised from the other start: along ridges (a short
        range trading off against a large sigma) one start can stall, and a stalled inner
        optimum would put a false crossing into the interval.
        """
        best = None
        for start in self._starts(value):
            x, fun = self._minimise_at(value, start)
            if best is None or fun < best[1]:
                best = (x, fun)
            if best[1] < cut:
                break
        self.memo.append((value, best[0]))
        return best[1]

    def _minimise_at(self, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        d = self.dev
        if self.absolute and value > 0:
            # residual variance tied to the absolute SD: s2 = (value / phi_j)^2
            lo, hi = d.lower.copy(), d.upper.copy()
            lo[self.j] = max(lo[self.j], 1e-8)
            start[self.j] = max(start[self.j], 1e-3)

            def f(x):
                return d.with_scale(x, (value / x[self.j]) ** 2)
            return _minimise(f, start, lo, hi)
        start[self.j] = math.log(value) if self.log_coord else value

        def g(x):
            full = start.copy()
            full[self.free] = x
            if d.has_gradient:
                v, grad = d.value_and_gradient(full)
                return v, grad[self.free]
            return d(full)
        xs, fun = _minimise(g, start[self.free], d.lower[self.free], d.upper[self.free],
                            jac=d.has_gradient)
        x = start.copy()
        x[self.free] = xs
        return x, fun


def _interval_side(prof: _Profile, est: float, dmin: float, crit: float, direction: int,
                   bound: float) -> float:
    """Where the profile deviance crosses ``dmin + crit`` between ``est`` and ``bound``.

    Moves on the log scale (every profiled parameter is positive): a short probe fixes the
    curvature, a quadratic guess jumps near the crossing, widening steps bracket it and
    Brent's method finds it. Returns ``bound`` when the profile stays below the cut-off all
    the way to it (an infinite ``bound``: the data do not bound the parameter on that side).
    """
    cut = dmin + crit
    t0 = math.log(est)
    t_bound = math.log(bound) if 0 < bound < np.inf else direction * np.inf

    def at(t: float) -> float:
        return prof(math.exp(t), cut)

    probe = 0.1
    prev, t = t0, t0 + direction * probe
    if direction * (t - t_bound) >= 0:
        return bound if at(t_bound) < cut else math.exp(
            sopt.brentq(lambda tt: at(tt) - cut, *sorted((t0, t_bound)), xtol=2e-4))
    v = at(t)
    if v < cut:
        curv = max((v - dmin) / probe ** 2, crit / 4.0)  # no further than 2 log units a jump
        prev, t = t, t0 + direction * max(math.sqrt(crit / curv), 2 * probe)
        for _ in range(30):
            if direction * (t - t_bound) >= 0:
                if at(t_bound) < cut:
                    return bound
                t = t_bound
                break
            if at(t) >= cut:
                break
            prev, t = t, t0 + (t - t0) * 1.6
        else:
            return bound
    lo, hi = sorted((prev, t))
    return math.exp(sopt.brentq(lambda tt: at(tt) - cut, lo, hi, xtol=2e-4, rtol=1e-6))


def confint(fit, parm: str | list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Profile-likelihood intervals for GP (and kinship) parameters; Wald for fixed effects.

    Parameters
    ----------
    parm : str or list of str, optional
        Rows to compute: ``'range'``, ``'sigma'``, ``'nugget'``, ``'nu'``, ``'beta'``
        (all fixed effects) or full row labels such as ``'gp(cX,cY): range'``. Default: all
        GP parameters and the fixed effects.
    level : float

    Returns
    -------
    DataFrame with ``estimate``, the two limits (R's ``'2.5 %'``, ``'97.5 %'`` names) and
    ``method`` ('profile' or 'Wald'). A limit at a parameter bound is the bound (0 for a
    standard deviation); an upper limit that the data do not bound is ``inf``.

    Examples
    --------
    >>> fit.confint("range")  # doctest: +SKIP
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    crit = float(stats.chi2.ppf(level, 1))
    a = (1 - level) / 2
    cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    want = None if parm is None else ([parm] if isinstance(parm, str) else list(parm))
    sysl = _system(fit)
    dev = _Deviance(fit)
    phi_hat = fit.state.phi.copy()
    rows, labels = [], []
    targets = []
    for k, blk in enumerate(fit.spec.blocks):
        names = getattr(blk.term, "phi_names", None)
        if names is None and hasattr(blk.term, "sigma") and blk.n_phi == 1:
            names = ["sigma"]  # kinship / known_cov
        if not names:
            continue
        for short, coord in _PROFILED.items():
            if coord in names:
                label = f"{blk.name}: {short}"
                if want is None or short in want or label in want:
                    targets.append((label, short, sysl.layout.slices[k].start +
                                    names.index(coord)))
    dmin = None
    if targets:
        # the profile's own minimum (for Laplace ML fits stage 1 sits a hair from stage 2)
        x, dmin = _minimise(dev, phi_hat, dev.lower, dev.upper)
        if dmin > dev(phi_hat):
            x, dmin = phi_hat, dev(phi_hat)
        phi_hat = x
    f = math.sqrt(fit.state.scale) if fit.is_gaussian else 1.0
    for label, short, j in targets:
        absolute = fit.is_gaussian and short in ("sigma", "nugget")
        prof = _Profile(dev, j, absolute, phi_hat, log_coord=short in ("range", "nu"))
        if short in ("range", "nu"):
            est = math.exp(phi_hat[j])
            lo = _interval_side(prof, est, dmin, crit, -1, math.exp(dev.lower[j]))
            hi = _interval_side(prof, est, dmin, crit, +1, math.exp(dev.upper[j]))
            if hi >= math.exp(dev.upper[j]) * (1 - 1e-9):
                hi = np.inf  # not bounded by the data below the optimiser's limit
        else:
            est = abs(phi_hat[j]) * (f if absolute else 1.0)
            lo = 0.0 if est <= 1e-8 else _interval_side(prof, est, dmin, crit, -1, 0.0)
            hi = _interval_side(prof, max(est, 1e-6 * f), dmin, crit, +1, np.inf)
        rows.append([est, lo, hi, "profile"])
        labels.append(label)
    if want is None or "beta" in want or any(w in fit.spec.x_names for w in want or []):
        zq = stats.norm.ppf(1 - a)
        for name, b, s in zip(fit.spec.x_names, fit.fixef, fit.se):
            if want is None or "beta" in want or name in want:
                rows.append([b, b - zq * s, b + zq * s, "Wald"])
                labels.append(name)
    return pd.DataFrame(rows, index=labels, columns=["estimate", *cols, "method"])


# ---- conditional simulation --------------------------------------------------------------
def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    d, U = np.linalg.eigh(0.5 * (C + C.T))
    return U * np.sqrt(np.clip(d, 0, None))


def simulate_field(fit, newdata: pd.DataFrame, n: int = 100, seed: int | None = None,
                   type: str = "link", offset: Any = None, max_points: int = 8000
                   ) -> np.ndarray:
    """Joint draws of the linear predictor (or mean) at new points, given the data.

    Draws ``(beta, b)`` from their joint posterior (the covariance behind ``se_fit``) and,
    for each GP term, the field at the new points given the site effects (kriging
    covariance), so the draws carry the joint uncertainty a map's pointwise standard
    errors do not: sum a draw over a region for a regional total, or count the draws that
    exceed a threshold everywhere in a region.

    Parameters
    ----------
    newdata : DataFrame
        Points (with the coordinate columns, covariates and offset variables).
    n : int
        Number of draws.
    type : {'link', 'response'}
    offset : optional
        As in ``predict`` (``offset=0.0`` simulates per unit exposure).
    max_points : int
        The draws need a dense covariance over the points: refuse more than this.

    Returns
    -------
    ndarray, shape (len(newdata), n)

    Examples
    --------
    >>> sims = fit.simulate_field(grid_points, n=500, seed=1)  # doctest: +SKIP
    >>> totals = sims.sum(axis=0)                               # doctest: +SKIP
    """
    from .predict import _offset_for, design_rows, joint_covariance

    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if len(newdata) > max_points:
        raise ValueError(f"{len(newdata)} points exceed max_points={max_points}: joint draws "
                         "need a dense covariance over the points; use fewer points or raise "
                         "max_points")
    rng = np.random.default_rng(seed)
    st = fit.state
    X, Z = design_rows(fit, newdata, population=False)
    off = _offset_for(fit, newdata, offset)
    cov = st.joint_cov
    if cov is None:
        cov = joint_covariance(fit)
        st.joint_cov = cov
    mean = np.concatenate([st.beta, st.b])
    R = _psd_sqrt(cov)
    theta = mean[:, None] + R @ rng.standard_normal((len(mean), n))
    Zd = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    eta = off[:, None] + X @ theta[:X.shape[1]] + Zd @ theta[X.shape[1]:]
    sysl = _system(fit)
    for k, blk in enumerate(fit.spec.blocks):
        term = blk.term
        phi = sysl.block_phi(st.phi, k)
        if hasattr(term, "field_covariance"):
            Xc, rows = term.new_coords(newdata)
            C = term.field_covariance(Xc, phi, st.scale)
            eta[rows] += _psd_sqrt(C) @ rng.standard_normal((len(rows), n))
        elif hasattr(term, "extra_variance"):
            v = term.extra_variance(newdata, phi, st.scale)
            eta += np.sqrt(v)[:, None] * rng.standard_normal((len(newdata), n))
    return eta if type == "link" else fit.family.link.linkinv(eta)


# ---- heritability ------------------------------------------------------------------------
def _relative_variances(fit, phi: np.ndarray) -> list[float]:
    sysl = _system(fit)
    out = []
    for k, blk in enumerate(fit.spec.blocks):
        fn = getattr(blk.term, "varcorr_rows", None)
        rows = fn(sysl.block_phi(phi, k), 1.0) if fn else []
        out.append(sum(r["vcov"] for r in rows if r["var2"] is None))
    return out


def heritability(fit, term: str | None = None) -> pd.Series:
    """``h^2 = s_g^2 / (sum of variance components + s_e^2)`` of a kinship term, with SE.

    The SE is the delta method on the inverse Hessian of the profiled (RE)ML deviance in
    the relative parameters (the residual variance cancels from ``h^2``), as GCTA's.

    Examples
    --------
    >>> fit.heritability()[["h2", "se"]]  # doctest: +SKIP
    """
    from ..engine.optimize import numerical_hessian
    from ..terms.known_cov import KnownCovTerm

    if not fit.is_gaussian:
        raise ValueError("heritability() needs a Gaussian (identity-link) model: for other "
                         "families the residual variance is not a model parameter")
    cands = [(k, b) for k, b in enumerate(fit.spec.blocks)
             if (term is None and isinstance(b.term, KnownCovTerm)) or b.name == term]
    if len(cands) != 1:
        names = [b.name for b in fit.spec.blocks]
        raise ValueError(f"name the genetic term with term= (terms: {names})" if cands or term
                         is None else f"no term {term!r}; terms: {names}")
    k = cands[0][0]
    phi = fit.state.phi.copy()

    def h2(p):
        v = _relative_variances(fit, p)
        return v[k] / (sum(v) + 1.0)

    est = h2(phi)
    se = np.nan
    obj = fit.state.extra.get("search_objective", fit.state.extra["objective"])
    try:
        H = numerical_hessian(lambda p: float(obj(p)), phi)
        V = 2.0 * np.linalg.inv(H)
        step = 1e-5 * np.maximum(1.0, np.abs(phi))
        g = np.array([(h2(phi + step * e) - h2(phi - step * e)) / (2 * step[i])
                      for i, e in enumerate(np.eye(len(phi)))])
        var = float(g @ V @ g)
        se = math.sqrt(var) if var > 0 and np.all(np.linalg.eigvalsh(H) > 0) else np.nan
    except np.linalg.LinAlgError:
        pass
    if not np.isfinite(se):
        warnings.warn("the deviance is not curved at the estimate (a variance on its boundary?):"
                      " no standard error for h2", UserWarning, stacklevel=2)
    v = _relative_variances(fit, phi)
    s2 = fit.state.scale
    return pd.Series({"h2": est, "se": se, "var_g": v[k] * s2, "var_e": s2,
                      "var_p": (sum(v) + 1.0) * s2}, name=cands[0][1].name)


# ---- the joint standard-error convention (glmmTMB's) ----------------------------------------
def gaussian_joint_vcov(fit) -> np.ndarray:
    """``C + J Sigma J'`` for a Gaussian identity-link fit (module docstring).

    ``J`` by central differences of the GLS estimate, ``H_theta`` of the profiled (RE)ML
    deviance (the exact objective: differences of its analytic gradient where it has one).
    Parameters on a bound (a zero variance) are held fixed: the Hessian is inverted on the
    others.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    >>> # balanced design: the GLS estimate is OLS for every theta, so J = 0
    >>> bool(np.allclose(m.vcov_fixef(se="joint"), m.vcov, rtol=1e-6))
    True
    """
    from ..engine.gaussian import GaussianObjective
    from ..engine.optimize import hessian_and_gradient, hessian_from_gradient
    if not fit.is_gaussian:
        raise ValueError("gaussian_joint_vcov needs a Gaussian identity-link fit")
    spec, st = fit.spec, fit.state
    sysl = _system(fit)
    # an objective of its own: the fit's keeps its factor at the estimates
    obj = GaussianObjective(sysl, spec.X, spec.y, spec.offset, spec.weights, fit.REML)
    phi = st.phi.astype(float)
    k, p = len(phi), spec.p
    C = np.asarray(st.vcov_beta, dtype=float)
    if k == 0 or p == 0:
        return C
    lay = sysl.layout
    steps = 1e-4 * np.maximum(1.0, np.abs(phi))
    if obj.solver.dense and not sysl.has_precision:
        _, g = obj.value_and_grad(phi)
        H = hessian_from_gradient(obj.value_and_grad, phi, g, lay.lower, lay.upper, steps)
    else:
        H = hessian_and_gradient(obj, phi, steps)[0]
    J = np.zeros((p, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = steps[j]
        J[:, j] = (obj.solve(phi + e).beta - obj.solve(phi - e).beta) / (2 * steps[j])
    free = np.array([not (phi[j] - steps[j] < lay.lower[j] or phi[j] + steps[j] > lay.upper[j])
                     for j in range(k)])
    if not free.any():
        return C
    Hf = H[np.ix_(free, free)]
    try:
        Sigma = 2.0 * np.linalg.inv(Hf)
        np.linalg.cholesky(Hf)
    except np.linalg.LinAlgError:
        warnings.warn("the deviance's Hessian in the covariance parameters is not positive "
                      "definite: joint standard errors use its pseudo-inverse", UserWarning,
                      stacklevel=2)
        Sigma = 2.0 * np.linalg.pinv(Hf)
    Jf = J[:, free]
    return C + Jf @ Sigma @ Jf.T


def vcov_fixef(fit, se: str = "conditional") -> pd.DataFrame:
    """Fixed-effect covariance under the ``se`` convention (module docstring).

    Gaussian identity-link fits: conditional (lme4's ``vcov``) or :func:`gaussian_joint_vcov`.
    Negative binomial fits: conditional on theta (glmer.nb's) or with theta's uncertainty
    (kept by the fit). Other Laplace fits invert glmer's Hessian in ``(theta, beta)``, which
    is joint already: both conventions give it.
    """
    if se not in ("conditional", "joint"):
        raise ValueError(f"se must be 'conditional' or 'joint', got {se!r}")
    V = fit.state.vcov_beta
    if se == "joint":
        if fit.is_gaussian:
            V = gaussian_joint_vcov(fit)
        elif fit.state.extra.get("vcov_beta_joint") is not None:
            V = fit.state.extra["vcov_beta_joint"]
        # otherwise (Laplace / AGQ fits) glmer's Hessian is already joint in the covariance
        # parameters (and an estimated scale) and beta: the two conventions agree
    names = fit.spec.x_names
    return pd.DataFrame(np.asarray(V), index=names, columns=names)
