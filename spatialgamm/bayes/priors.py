"""Priors for the INLA-style fit: INLA's defaults, PC priors, half-normal / half-t.

Every hyperparameter prior works on the internal scale the integration uses (INLA's):

- precisions (random-effect variances, the Gaussian noise): ``theta = log(precision)``;
- Matern (SPDE) fields: ``theta = (log range, log sigma)``.

Each prior returns ``log pi(theta)`` and its gradient in ``theta``, the Jacobian of the
transformation included (so the densities integrate to one on the internal scale).

Defaults, as R-INLA (``inla.set.control.fixed.default``, ``inla.models()$latent$iid``):

- fixed effects: ``N(0, precision 0.001)``, the intercept flat (precision 0);
- precisions: ``log-gamma(1, 5e-5)``, i.e. ``precision ~ Gamma(shape 1, rate 5e-5)``;
- Matern fields: the PC prior of Fuglstad et al. (2019), ``P(range < r0) = p_r``,
  ``P(sigma > s0) = p_s``; R-INLA asks the user for ``(r0, p_r)`` and ``(s0, p_s)``; here a
  field without them gets ``r0`` = a tenth of the mesh's diameter and ``s0 = 1`` with
  ``p = 0.05`` (weakly informative; :func:`prior_summary` says which were used).

Options for standard deviations: the PC prior (Simpson et al. 2017, ``P(sd > u) = alpha``),
half-normal and half-t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

#: INLA's default prior precision of fixed effects other than the intercept
FIXED_PREC = 0.001


@dataclass(frozen=True)
class FixedEffectsPrior:
    """Independent Gaussian priors on the fixed effects, as INLA's ``control.fixed``.

    Parameters
    ----------
    mean, prec : float
        Prior mean and precision of every fixed effect except the intercept.
    mean_intercept, prec_intercept : float
        The intercept's; ``prec_intercept = 0`` (INLA's default) is a flat prior.

    Examples
    --------
    >>> FixedEffectsPrior().precisions(["(Intercept)", "x"]).tolist()
    [0.0, 0.001]
    """

    mean: float = 0.0
    prec: float = FIXED_PREC
    mean_intercept: float = 0.0
    prec_intercept: float = 0.0

    def __post_init__(self) -> None:
        for name in ("prec", "prec_intercept"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"FixedEffectsPrior: {name} must be finite and >= 0; got {v}")

    def precisions(self, names: list[str]) -> np.ndarray:
        return np.array([self.prec_intercept if n == "(Intercept)" else self.prec
                         for n in names], dtype=float)

    def means(self, names: list[str]) -> np.ndarray:
        return np.array([self.mean_intercept if n == "(Intercept)" else self.mean
                         for n in names], dtype=float)

    def describe(self) -> str:
        return (f"N({self.mean:g}, prec {self.prec:g}); intercept "
                + ("flat" if self.prec_intercept == 0 else
                   f"N({self.mean_intercept:g}, prec {self.prec_intercept:g})"))


class HyperPrior:
    """A prior on one or two internal hyperparameters (see the module doc)."""

    dim: int = 1
    name: str = "prior"

    def logpdf(self, theta: np.ndarray) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def grad(self, theta: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def _positive(value: float, what: str) -> float:
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{what} must be a positive number; got {value!r}")
    return v


def _probability(value: float, what: str) -> float:
    v = float(value)
    if not 0 < v < 1:
        raise ValueError(f"{what} must lie strictly between 0 and 1; got {value!r}")
    return v


class LogGamma(HyperPrior):
    """``precision ~ Gamma(shape a, rate b)`` on ``theta = log precision`` (INLA's
    ``loggamma``; the default is ``a = 1, b = 5e-5``).

    ``log pi(theta) = a log b - log Gamma(a) + a theta - b exp(theta)``.

    Examples
    --------
    >>> p = LogGamma(1.0, 5e-5)
    >>> round(p.logpdf(np.array([0.0])), 6), round(float(p.grad(np.array([0.0]))[0]), 6)
    (-9.903538, 0.99995)
    """

    name = "loggamma"

    def __init__(self, a: float = 1.0, b: float = 5e-5):
        self.a = _positive(a, "LogGamma shape a")
        self.b = _positive(b, "LogGamma rate b")

    def logpdf(self, theta: np.ndarray) -> float:
        t = float(theta[0])
        return (self.a * math.log(self.b) - float(gammaln(self.a)) + self.a * t
                - self.b * math.exp(t))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return np.array([self.a - self.b * math.exp(float(theta[0]))])

    def describe(self) -> str:
        return f"loggamma(shape {self.a:g}, rate {self.b:g}) on log precision"


class _SDPrior(HyperPrior):
    """A prior written for ``sd = exp(-theta / 2)``; the Jacobian is ``|d sd/d theta| = sd/2``."""

    def _log_sd(self, s: float) -> tuple[float, float]:  # (log pi(sd), d log pi / d sd)
        raise NotImplementedError

    def logpdf(self, theta: np.ndarray) -> float:
        s = math.exp(-0.5 * float(theta[0]))
        lp, _ = self._log_sd(s)
        return lp + math.log(0.5 * s)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        s = math.exp(-0.5 * float(theta[0]))
        _, d = self._log_sd(s)
        return np.array([d * (-0.5 * s) - 0.5])


class PCPrec(_SDPrior):
    """The PC prior of a standard deviation (Simpson et al. 2017): ``P(sd > u) = alpha``,
    ``sd ~ Exponential(rate -log(alpha) / u)`` (INLA's ``pc.prec``).

    Examples
    --------
    >>> round(PCPrec(1.0, 0.01).logpdf(np.array([0.0])), 6)
    -3.771138
    """

    name = "pc.prec"

    def __init__(self, u: float = 1.0, alpha: float = 0.01):
        self.u = _positive(u, "PCPrec u")
        self.alpha = _probability(alpha, "PCPrec alpha")
        self.lam = -math.log(self.alpha) / self.u

    def _log_sd(self, s: float) -> tuple[float, float]:
        return math.log(self.lam) - self.lam * s, -self.lam

    def describe(self) -> str:
        return f"pc.prec: P(sd > {self.u:g}) = {self.alpha:g}"


class HalfNormal(_SDPrior):
    """``sd ~ half-normal(scale s)``.

    Examples
    --------
    >>> round(HalfNormal(1.0).logpdf(np.array([0.0])), 6)
    -1.418939
    """

    name = "half-normal"

    def __init__(self, scale: float = 1.0):
        self.scale = _positive(scale, "HalfNormal scale")

    def _log_sd(self, s: float) -> tuple[float, float]:
        c = self.scale
        return (math.log(2.0) - 0.5 * math.log(2 * math.pi) - math.log(c) - 0.5 * (s / c) ** 2,
                -s / c ** 2)

    def describe(self) -> str:
        return f"half-normal(scale {self.scale:g}) on sd"


class HalfT(_SDPrior):
    """``sd ~ half-t(df nu, scale s)`` (Gelman 2006).

    Examples
    --------
    >>> round(HalfT(3.0, 1.0).logpdf(np.array([0.0])), 6)
    -1.576253
    """

    name = "half-t"

    def __init__(self, df: float = 3.0, scale: float = 1.0):
        self.df = _positive(df, "HalfT df")
        self.scale = _positive(scale, "HalfT scale")

    def _log_sd(self, s: float) -> tuple[float, float]:
        nu, c = self.df, self.scale
        const = (math.log(2.0) + float(gammaln((nu + 1) / 2) - gammaln(nu / 2))
                 - 0.5 * math.log(nu * math.pi) - math.log(c))
        r = (s / c) ** 2 / nu
        return const - 0.5 * (nu + 1) * math.log1p(r), -(nu + 1) * s / (nu * c * c * (1 + r))

    def describe(self) -> str:
        return f"half-t(df {self.df:g}, scale {self.scale:g}) on sd"


class PCMatern(HyperPrior):
    """PC prior of a 2-D Matern field (Fuglstad et al. 2019) on ``(log range, log sigma)``.

    ``P(range < r0) = p_r`` and ``P(sigma > s0) = p_s``: with ``d = 2``,
    ``lam_r = -log(p_r) r0``, ``lam_s = -log(p_s) / s0``,
    ``log pi = log lam_r - 2 log range - lam_r / range + log lam_s - lam_s sigma``
    ``+ log range + log sigma`` (the last two: the Jacobian to the log scale).

    Examples
    --------
    >>> p = PCMatern(prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.5))
    >>> round(p.logpdf(np.zeros(2)), 5)  # doctest: +NORMALIZE_WHITESPACE
    -2.11932
    """

    name = "pc.matern"
    dim = 2

    def __init__(self, prior_range: tuple[float, float], prior_sigma: tuple[float, float]):
        try:
            r0, pr = prior_range
            s0, ps = prior_sigma
        except (TypeError, ValueError) as exc:
            raise ValueError("prior_range and prior_sigma must be pairs (r0, p) and (s0, p)"
                             ) from exc
        self.r0, self.pr = _positive(r0, "prior_range r0"), _probability(pr, "prior_range p")
        self.s0, self.ps = _positive(s0, "prior_sigma s0"), _probability(ps, "prior_sigma p")
        self.lam_r = -math.log(self.pr) * self.r0
        self.lam_s = -math.log(self.ps) / self.s0

    def logpdf(self, theta: np.ndarray) -> float:
        lr, ls = float(theta[0]), float(theta[1])
        r, s = math.exp(lr), math.exp(ls)
        return (math.log(self.lam_r) - 2 * lr - self.lam_r / r + math.log(self.lam_s)
                - self.lam_s * s + lr + ls)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        r, s = math.exp(float(theta[0])), math.exp(float(theta[1]))
        return np.array([-1.0 + self.lam_r / r, 1.0 - self.lam_s * s])

    def describe(self) -> str:
        return (f"pc.matern: P(range < {self.r0:g}) = {self.pr:g}, "
                f"P(sigma > {self.s0:g}) = {self.ps:g}")


def as_sd_prior(spec: object, where: str) -> HyperPrior:
    """A prior for a precision / SD from what the user wrote.

    ``HyperPrior`` instances pass through; tuples ``("loggamma", a, b)``,
    ``("pc.prec", u, alpha)``, ``("half-normal", s)``, ``("half-t", df, s)`` are built.
    """
    if isinstance(spec, HyperPrior):
        if spec.dim != 1:
            raise ValueError(f"priors[{where!r}]: needs a prior on one precision; got "
                             f"{spec.describe()}")
        return spec
    kinds = {"loggamma": LogGamma, "pc.prec": PCPrec, "half-normal": HalfNormal,
             "half-t": HalfT}
    if isinstance(spec, tuple) and spec and spec[0] in kinds:
        return kinds[spec[0]](*spec[1:])
    raise ValueError(f"priors[{where!r}]: expected a prior object (LogGamma, PCPrec, HalfNormal, "
                     f"HalfT) or a tuple like ('pc.prec', 1, 0.01); got {spec!r}")


def prior_summary(priors: dict[str, HyperPrior], fixed: FixedEffectsPrior,
                  defaults: set[str]) -> pd.DataFrame:
    """A table of the priors used, one row per term, saying which were defaults."""
    rows = [{"term": "fixed effects", "prior": fixed.describe(),
             "default": "fixed effects" in defaults}]
    for name, p in priors.items():
        rows.append({"term": name, "prior": p.describe(), "default": name in defaults})
    return pd.DataFrame(rows)
