"""Profile-likelihood intervals for GP and known-covariance parameters (``fit.confint``).

A profile moves one parameter (a GP's range, SD, nugget or smoothness) and minimises the
model's own criterion over the others, with the engine's objective and optimiser:

* the criterion is the fit's objective (the form it was searched in: covariance form for
  dense fields), the exact profiled (RE)ML deviance for Gaussian models and the Laplace
  deviance with the fixed effects at the joint mode for other families (glmer's first
  stage; for ``method='REML'`` the LAML criterion itself);
* a Gaussian SD is profiled on its absolute scale: the residual variance is tied to it
  (``GaussianObjective.deviance_at_scale``, the one criterion with the scale given);
* every inner minimum is :func:`spatialgamm.engine.optimize.optimize` over the fit's
  :class:`~spatialgamm.engine.optimize.ParameterSpace` restricted to the free coordinates
  (its units and sign symmetries, exact gradients where the objective has them).

The interval is where the profile deviance crosses its minimum plus the chi-square(1)
quantile; Wald intervals are given for the fixed effects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import stats

from ..engine.optimize import ParameterSpace, optimize
from ..terms.base import Ability

#: profiled parameters: name in tables -> coordinate name in a term's phi
_PROFILED = {"range": "log_range", "sigma": "sigma", "nugget": "tau", "nu": "log_nu"}

#: value standing for a failed evaluation (finite, so line searches back off)
_FAILED = 1e300


def _coordinate_names(fit) -> list[tuple[Any, int, list[str]]]:
    """(block, its first coordinate in phi, parameter names) of every block that names its
    parameters."""
    sysl = fit.state.system
    out = []
    for k, blk in enumerate(fit.spec.blocks):
        term = blk.term
        # fields and kinship terms name their parameters for profiling (range, sigma, ...)
        if term is None or not (term.has(Ability.FIELD_REPORT) or term.has(Ability.HERITABLE)):
            continue
        names = list(term.phi_names)
        if names:
            out.append((blk, sysl.layout.slices[k].start, list(names)))
    return out


class _Deviance:
    """The criterion the profile moves along: the fit's own objective and space.

    The space is the fit's, with one more symmetry: the criterion is even in every field
    SD (``sigma``, ``tau``: Lambda's columns change sign with it), so, as lme4's relative
    factors, their bound 0 only picks a sign and the search may pass through it (a search
    started near that bound otherwise stops to probe it).
    """

    def __init__(self, fit):
        st = fit.state
        # the same criterion in the fastest form the fit searched it in (covariance form)
        self.obj = st.search_objective or st.objective
        # exact gradients where the Laplace objective has them (covariance form)
        self.has_gradient = bool(getattr(self.obj, "has_gradient", False))
        fs = st.system.parameter_space()
        self.lower, self.upper, self.units = fs.lower, fs.upper, fs.units
        sd = np.zeros(len(self.lower), bool)
        for _, start, names in _coordinate_names(fit):
            for i, name in enumerate(names):
                sd[start + i] = name in ("sigma", "tau")
        self.sd = sd & (self.lower == 0)
        self.sign_free = fs.free_sign | self.sd
        self.space = self.subspace(np.arange(len(self.lower)))

    def __call__(self, phi: np.ndarray) -> float:
        v = self.obj(np.asarray(phi, dtype=float))
        return float(v) if np.isfinite(v) else _FAILED

    def value_and_gradient(self, phi: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = self.obj.value_and_gradient(np.asarray(phi, dtype=float))
        return (float(v), g) if np.isfinite(v) else (_FAILED, np.zeros(len(phi)))

    def with_scale(self, phi: np.ndarray, s2: float) -> float:
        """Gaussian deviance at ``phi`` and residual variance ``s2`` (beta profiled)."""
        try:
            return self.obj.deviance_at_scale(np.asarray(phi, dtype=float), s2)
        except np.linalg.LinAlgError:
            return _FAILED

    def subspace(self, free: np.ndarray) -> ParameterSpace:
        """The space restricted to the coordinates ``free``, in the fit's units."""
        sd = self.sd[free]

        def canonical(x: np.ndarray) -> np.ndarray:
            return np.where(sd, np.abs(x), x)
        return ParameterSpace(self.lower[free], self.upper[free], self.units[free],
                              self.sign_free[free], canonical)


def _minimise(f: Callable, x0: np.ndarray, space: ParameterSpace,
              fg: Callable | None = None) -> tuple[np.ndarray, float]:
    """The engine's optimiser, as a plain inner minimiser: no Hessian check or polish
    (the profile only needs the minimum's value, and the warm starts are close)."""
    if len(x0) == 0:
        return x0, (fg(x0)[0] if fg is not None else f(x0))
    s = optimize(f, x0, space, fg=fg, check_hessian=False, polish=False, max_restarts=0)
    return s.x, float(s.fun)


class _Profile:
    """Profile of one coordinate (or, for Gaussian SDs, of the absolute SD) of phi."""

    def __init__(self, dev: _Deviance, j: int, absolute_sd: bool, phi_hat: np.ndarray,
                 log_coord: bool = False):
        self.dev, self.j, self.absolute, self.log_coord = dev, j, absolute_sd, log_coord
        self.free = np.array([i for i in range(len(phi_hat)) if i != j], dtype=int)
        self.phi_hat = phi_hat
        self.memo: list[tuple[float, np.ndarray]] = []
        self.seen: dict[float, float] = {}
        self.space_free = dev.subspace(self.free)

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
        if value in self.seen:  # Brent's method asks again for its bracket's ends
            return self.seen[value]
        best = None
        for start in self._starts(value):
            x, fun = self._minimise_at(value, start)
            if best is None or fun < best[1]:
                best = (x, fun)
            if best[1] < cut:
                break
        self.memo.append((value, best[0]))
        self.seen[value] = best[1]
        return best[1]

    def _minimise_at(self, value: float, start: np.ndarray) -> tuple[np.ndarray, float]:
        d, j = self.dev, self.j
        if self.absolute and value > 0:
            # residual variance tied to the absolute SD: s2 = (value / phi_j)^2 (phi_j = 0:
            # an infinite variance, which the search backs off from)
            start[j] = max(abs(start[j]), 1e-3)

            def f(x: np.ndarray) -> float:
                with np.errstate(divide="ignore"):
                    return d.with_scale(x, (value / x[j]) ** 2)
            return _minimise(f, start, d.space)
        start[j] = math.log(value) if self.log_coord else value

        def full(x: np.ndarray) -> np.ndarray:
            out = start.copy()
            out[self.free] = x
            return out

        fg = None
        if d.has_gradient:
            def fg(x):
                v, grad = d.value_and_gradient(full(x))
                return v, grad[self.free]
        xs, fun = _minimise(lambda x: d(full(x)), start[self.free], self.space_free, fg)
        return full(xs), fun


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


def _targets(fit, want: list[str] | None) -> list[tuple[str, str, int]]:
    """(row label, short name, coordinate in phi) of every profiled parameter asked for."""
    out = []
    for blk, start, names in _coordinate_names(fit):
        for short, coord in _PROFILED.items():
            if coord in names:
                label = f"{blk.name}: {short}"
                if want is None or short in want or label in want:
                    out.append((label, short, start + names.index(coord)))
    return out


def _profile_row(fit, dev: _Deviance, phi_hat: np.ndarray, dmin: float, crit: float,
                 short: str, j: int) -> list:
    """Estimate and the two profile limits of one parameter."""
    gaussian = fit.is_gaussian
    f = math.sqrt(fit.state.scale) if gaussian else 1.0
    absolute = gaussian and short in ("sigma", "nugget")
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
    return [est, lo, hi, "profile"]


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
    >>> import spatialgamm as sg
    >>> topo = sg.datasets.load_topo()
    >>> fit = sg.fit("z ~ 1 + gp(x, y, kernel='matern32')", topo, method="ML")
    >>> ci = fit.confint("range")
    >>> bool(ci["2.5 %"].iloc[0] < fit.gp_params["range"].iloc[0] < ci["97.5 %"].iloc[0])
    True
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    crit = float(stats.chi2.ppf(level, 1))
    a = (1 - level) / 2
    cols = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    want = None if parm is None else ([parm] if isinstance(parm, str) else list(parm))
    dev = _Deviance(fit)
    phi_hat = fit.state.phi.copy()
    rows, labels = [], []
    targets = _targets(fit, want)
    dmin = None
    if targets:
        # the profile's own minimum (for Laplace ML fits stage 1 sits a hair from stage 2)
        fg = dev.value_and_gradient if dev.has_gradient else None
        x, dmin = _minimise(dev, phi_hat, dev.space, fg)
        if dmin > dev(phi_hat):
            x, dmin = phi_hat, dev(phi_hat)
        phi_hat = x
    for label, short, j in targets:
        rows.append(_profile_row(fit, dev, phi_hat, dmin, crit, short, j))
        labels.append(label)
    if want is None or "beta" in want or any(w in fit.spec.x_names for w in want or []):
        zq = stats.norm.ppf(1 - a)
        for name, b, s in zip(fit.spec.x_names, fit.fixef, fit.se):
            if want is None or "beta" in want or name in want:
                rows.append([b, b - zq * s, b + zq * s, "Wald"])
                labels.append(name)
    return pd.DataFrame(rows, index=labels, columns=["estimate", *cols, "method"])
