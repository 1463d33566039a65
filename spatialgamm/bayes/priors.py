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

- correlated lme4 bars ``(1 + x | g)`` (INLA's ``iid2d`` ... ``iid5d``): the precision matrix
  ``W ~ Wishart_p(r, R^-1)`` with INLA's defaults ``R = I`` and ``r = 4, 7, 11, 16`` for
  ``p = 2, 3, 4, 5`` (``inla.models()$latent$iid2d`` ...: ``wishart2d`` param ``(4, 1, 1, 0)``),
  written on ``theta = (log tau_1..p, rho~_12, rho~_13, ...)`` with ``tau_i`` the *marginal*
  precisions and ``rho = 2 exp(rho~) / (1 + exp(rho~)) - 1`` (INLA's ``iid123d`` document);
- negative binomial size: INLA's ``pc.mgamma`` with ``lambda = 7`` on ``theta = log size``
  (the PC prior of ``a = 1/size``, the variance of a mean-one Gamma, base ``a = 0``);
- Gamma (and inverse Gaussian) precision ``1 / dispersion``: ``log-gamma(1, 0.01)``.

Options for standard deviations: the PC prior (Simpson et al. 2017, ``P(sd > u) = alpha``),
half-normal and half-t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln, polygamma

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
    """PC prior of a Matern field in ``d`` dimensions (Fuglstad et al. 2019) on
    ``(log range, log sigma)``.

    ``P(range < r0) = p_r`` and ``P(sigma > s0) = p_s``: with ``lam_r = -log(p_r) r0^(d/2)``,
    ``lam_s = -log(p_s) / s0``,
    ``log pi = log(d/2) + log lam_r - (d/2 + 1) log range - lam_r range^(-d/2)``
    ``+ log lam_s - lam_s sigma + log range + log sigma`` (the last two: the Jacobian to the
    log scale). ``d = 2`` (the default) is R-INLA's ``inla.spde2.pcmatern`` on a 2-D mesh.

    Examples
    --------
    >>> p = PCMatern(prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.5))
    >>> round(p.logpdf(np.zeros(2)), 5)  # doctest: +NORMALIZE_WHITESPACE
    -2.11932
    """

    name = "pc.matern"
    dim = 2

    def __init__(self, prior_range: tuple[float, float], prior_sigma: tuple[float, float],
                 d: int = 2):
        try:
            r0, pr = prior_range
            s0, ps = prior_sigma
        except (TypeError, ValueError) as exc:
            raise ValueError("prior_range and prior_sigma must be pairs (r0, p) and (s0, p)"
                             ) from exc
        self.r0, self.pr = _positive(r0, "prior_range r0"), _probability(pr, "prior_range p")
        self.s0, self.ps = _positive(s0, "prior_sigma s0"), _probability(ps, "prior_sigma p")
        if int(d) != d or d < 1:
            raise ValueError(f"PCMatern: the dimension d must be a positive integer; got {d!r}")
        self.d = int(d)
        self.lam_r = -math.log(self.pr) * self.r0 ** (self.d / 2)
        self.lam_s = -math.log(self.ps) / self.s0

    def with_dimension(self, d: int) -> PCMatern:
        """The same statements ``P(range < r0)``, ``P(sigma > s0)`` in ``d`` dimensions."""
        return PCMatern((self.r0, self.pr), (self.s0, self.ps), d)

    def logpdf(self, theta: np.ndarray) -> float:
        lr, ls = float(theta[0]), float(theta[1])
        h = self.d / 2
        return (math.log(h) + math.log(self.lam_r) - (h + 1) * lr
                - self.lam_r * math.exp(-h * lr) + math.log(self.lam_s)
                - self.lam_s * math.exp(ls) + lr + ls)

    def grad(self, theta: np.ndarray) -> np.ndarray:
        h = self.d / 2
        return np.array([-h + h * self.lam_r * math.exp(-h * float(theta[0])),
                         1.0 - self.lam_s * math.exp(float(theta[1]))])

    def describe(self) -> str:
        dim = "" if self.d == 2 else f" (d = {self.d})"
        return (f"pc.matern{dim}: P(range < {self.r0:g}) = {self.pr:g}, "
                f"P(sigma > {self.s0:g}) = {self.ps:g}")


#: INLA's default Wishart degrees of freedom for iid2d ... iid5d (``R = I``)
WISHART_R = {2: 4.0, 3: 7.0, 4: 11.0, 5: 16.0}


def correlation_pairs(p: int) -> list[tuple[int, int]]:
    """INLA's order of the correlations of a p-dimensional iid effect: 12, 13, ..., 23, ..."""
    return [(i, j) for i in range(p) for j in range(i + 1, p)]


def iid_covariance(theta: np.ndarray, p: int) -> np.ndarray:
    """Covariance matrix from ``theta = (log tau_1..p, rho~_ij)`` (INLA's ``iidkd``
    parameters; ``tau`` marginal precisions, ``rho = tanh(rho~ / 2)``)."""
    theta = np.asarray(theta, dtype=float)
    s = np.exp(-0.5 * theta[:p])
    S = np.diag(s * s)
    for k, (i, j) in enumerate(correlation_pairs(p)):
        S[i, j] = S[j, i] = math.tanh(0.5 * float(theta[p + k])) * s[i] * s[j]
    return S


class Wishart(HyperPrior):
    """INLA's ``wishartpd`` prior of a p-dimensional iid effect, on its internal ``theta``.

    The precision matrix ``W = Sigma^-1 ~ Wishart_p(r, R^-1)``:
    ``pi(W) = |W|^((r-p-1)/2) exp(-tr(W R)/2) / (2^(rp/2) |R|^(-r/2) Gamma_p(r/2))``,
    and ``theta = (log tau_1..p, rho~_12, ...)`` (:func:`iid_covariance`). The density on theta
    carries the Jacobian ``|d vech W / d vech Sigma| |d vech Sigma / d theta|``
    ``= |Sigma|^-(p+1) prod_i Sigma_ii prod_(i<j) s_i s_j (1 - rho_ij^2) / 2``.

    Examples
    --------
    >>> w = Wishart(2)
    >>> w.dim, w.r, round(w.logpdf(np.zeros(3)), 6)
    (3, 4.0, -4.917319)
    """

    name = "wishart"

    def __init__(self, p: int, r: float | None = None, R: np.ndarray | None = None):
        if p not in WISHART_R and r is None:
            raise ValueError(f"Wishart: give r for dimension {p} (INLA's defaults cover 2-5)")
        self.p = int(p)
        self.dim = self.p * (self.p + 1) // 2
        self.r = float(WISHART_R[self.p] if r is None else r)
        if not self.r > self.p - 1:
            raise ValueError(f"Wishart: r must exceed p - 1 = {self.p - 1}; got {self.r}")
        self.R = np.eye(self.p) if R is None else np.asarray(R, dtype=float)
        if self.R.shape != (self.p, self.p):
            raise ValueError(f"Wishart: R must be {self.p} x {self.p}; got {self.R.shape}")
        try:
            Lr = np.linalg.cholesky(self.R)
        except np.linalg.LinAlgError:
            raise ValueError("Wishart: R must be symmetric positive definite") from None
        p_, r_ = self.p, self.r
        self._const = (0.5 * r_ * 2 * float(np.sum(np.log(np.diag(Lr))))
                       - 0.5 * r_ * p_ * math.log(2.0) - 0.25 * p_ * (p_ - 1) * math.log(math.pi)
                       - sum(float(gammaln(0.5 * (r_ + 1 - j))) for j in range(1, p_ + 1)))

    def logpdf(self, theta: np.ndarray) -> float:
        p = self.p
        theta = np.asarray(theta, dtype=float)
        S = iid_covariance(theta, p)
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return -np.inf
        logdet_S = 2.0 * float(np.sum(np.log(np.diag(L))))
        W = np.linalg.inv(S)
        dens = (0.5 * (self.r - p - 1) * -logdet_S - 0.5 * float(np.sum(W * self.R))
                + self._const)
        s = np.exp(-0.5 * theta[:p])
        jac = -(p + 1) * logdet_S + float(np.sum(np.log(s * s)))
        for k, (i, j) in enumerate(correlation_pairs(p)):
            rho = math.tanh(0.5 * float(theta[p + k]))
            jac += math.log(s[i] * s[j]) + math.log(0.5 * (1.0 - rho * rho))
        return dens + jac

    def grad(self, theta: np.ndarray) -> np.ndarray:
        # central differences: the prior is cheap and smooth; the engine's gradient dominates
        theta = np.asarray(theta, dtype=float)
        g = np.empty(self.dim)
        for k in range(self.dim):
            e = np.zeros(self.dim)
            e[k] = 1e-5
            g[k] = (self.logpdf(theta + e) - self.logpdf(theta - e)) / 2e-5
        return g

    def describe(self) -> str:
        rr = "I" if np.array_equal(self.R, np.eye(self.p)) else "R"
        return (f"wishart{self.p}d(r = {self.r:g}, R = {rr}) on the precision matrix "
                "(log marginal precisions, logit correlations)")


def _log_s_minus_digamma(s: float) -> float:
    """``log s - psi(s)``; its asymptotic series where the difference cancels."""
    if s > 1e4:
        return 0.5 / s + 1.0 / (12 * s * s) - 1.0 / (120 * s ** 4)
    return math.log(s) - float(digamma(s))


def _trigamma_minus_inv(s: float) -> float:
    """``psi'(s) - 1/s``; its asymptotic series where the difference cancels."""
    if s > 1e4:
        return 0.5 / s ** 2 + 1.0 / (6 * s ** 3) - 1.0 / (30 * s ** 5)
    return float(polygamma(1, s)) - 1.0 / s


class PCMGamma(HyperPrior):
    """INLA's ``pc.mgamma``: the PC prior (Simpson et al. 2017) of ``a`` in a mean-one
    ``Gamma(1/a, 1/a)`` with base model ``a = 0``, on ``theta = -log a``; the default prior of
    the negative binomial ``log size`` (``lambda = 7``; ``a = 1/size``).

    The distance is ``d(a) = sqrt(2 (log(1/a) - psi(1/a)))``, ``d ~ Exponential(lambda)``:
    ``log pi(theta) = log lambda - lambda d - log d + log(psi'(1/a) - a) - log a``
    (``|dd/da| = (psi'(1/a) - a) / (a^2 d)`` times ``|da/dtheta| = a``).

    Examples
    --------
    >>> round(PCMGamma(7.0).logpdf(np.array([np.log(10.0)])), 6)
    -2.106007
    """

    name = "pc.mgamma"

    def __init__(self, lam: float = 7.0):
        self.lam = _positive(lam, "PCMGamma lambda")

    def _parts(self, t: float) -> tuple[float, float, float]:
        s = math.exp(t)  # the size 1/a
        return s, math.sqrt(2.0 * _log_s_minus_digamma(s)), _trigamma_minus_inv(s)

    def logpdf(self, theta: np.ndarray) -> float:
        t = float(theta[0])
        _, d, tg = self._parts(t)
        if not (d > 0 and tg > 0):
            return -np.inf
        return math.log(self.lam) - self.lam * d - math.log(d) + math.log(tg) + t

    def grad(self, theta: np.ndarray) -> np.ndarray:
        t = float(theta[0])
        h = 1e-5 * max(1.0, abs(t))
        return np.array([(self.logpdf(np.array([t + h])) - self.logpdf(np.array([t - h])))
                         / (2 * h)])

    def describe(self) -> str:
        return f"pc.mgamma(lambda {self.lam:g}) on log size"


class Repeated(HyperPrior):
    """One prior for each of ``m`` hyperparameters (a smooth's several penalties)."""

    def __init__(self, prior: HyperPrior, m: int):
        if prior.dim != 1:
            raise ValueError("Repeated: needs a prior on one hyperparameter")
        self.prior, self.dim, self.name = prior, int(m), prior.name

    def logpdf(self, theta: np.ndarray) -> float:
        return float(sum(self.prior.logpdf(theta[k:k + 1]) for k in range(self.dim)))

    def grad(self, theta: np.ndarray) -> np.ndarray:
        return np.concatenate([self.prior.grad(theta[k:k + 1]) for k in range(self.dim)])

    def describe(self) -> str:
        return self.prior.describe() + (f", each of {self.dim} penalties" if self.dim > 1
                                        else "")


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
