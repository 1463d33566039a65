"""Families and link functions, numerically as R's ``family`` objects.

The engine (penalised IRLS + Laplace approximation, adaptive quadrature) sees a response only
through a :class:`Family`: its variance function, deviance residuals, log-likelihood with all
constants, starting values, IRLS working quantities and input checks. Every formula follows R's
``stats`` families (and MASS's ``negative.binomial``) so that deviances and log-likelihoods equal
what ``glm``/``glmer``/``gam`` report; where a guard against rounding differs from R it is said.

Conventions (as R's ``glm``):

- ``y`` is the response; for the binomial it is the *proportion* of successes and ``wt`` the
  number of trials (R's ``cbind(successes, failures)`` becomes ``y = s / (s + f)``,
  ``wt = s + f``);
- ``wt`` are prior weights, ``None`` meaning all ones;
- ``scale`` is the dispersion: sigma^2 for the Gaussian, the squared coefficient of variation
  ``1 / shape`` for the Gamma, 1 for families whose scale is known.

References: McCullagh & Nelder (1989), *Generalized Linear Models*, 2nd ed.; R's ``?family``,
``?make.link``; Venables & Ripley (2002), *MASS*, sec. 7.4 (negative binomial).
"""

from __future__ import annotations

import math
import re
import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = [
    "Link", "IdentityLink", "LogLink", "LogitLink", "ProbitLink", "CloglogLink",
    "InverseLink", "SqrtLink", "get_link",
    "Family", "Gaussian", "Binomial", "Poisson", "GammaFamily", "NegativeBinomial",
    "gaussian", "binomial", "poisson", "Gamma", "negative_binomial", "get_family",
]

# links live in links.py; re-exported here so families and links share one namespace
from .links import (  # noqa: E402,F401
    Array,
    CloglogLink,
    IdentityLink,
    InverseLink,
    Link,
    LogitLink,
    LogLink,
    ProbitLink,
    SqrtLink,
    _arr,
    get_link,
)


# ---------------------------------------------------------------------------------------------
# Helpers for checks
# ---------------------------------------------------------------------------------------------
def _first(mask: NDArray[np.bool_]) -> tuple[int, int]:
    """(count, index of the first True) of a boolean mask."""
    idx = np.flatnonzero(mask)
    return idx.size, int(idx[0])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _not_whole(x: Array, tol: float) -> NDArray[np.bool_]:
    return np.abs(x - np.round(x)) > tol * np.maximum(1.0, np.abs(x))


def _r_format(x: float) -> str:
    """``format(x)`` as R prints a number with 7 significant digits (scipen = 0): fixed
    notation unless scientific is shorter."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    target = float(f"{x:.6e}")
    d = next(d for d in range(1, 8) if float(f"{x:.{d - 1}e}") == target)
    mant, exp = f"{x:.{d - 1}e}".split("e")
    sci = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    fixed = f"{x:.{max(0, d - 1 - int(exp))}f}"
    return fixed if len(fixed) <= len(sci) else sci


# ---------------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------------
class Family(ABC):
    """An exponential-family response distribution with its link, as R's ``family`` object.

    Subclasses give R's ``variance``, ``dev.resids``, ``aic`` (as :meth:`loglik_obs`) and
    ``initialize``; this base adds sums, the IRLS working quantities and input checks.

    Examples
    --------
    >>> fam = get_family("poisson")
    >>> y, mu = np.array([0.0, 2.0, 5.0]), np.array([0.5, 2.5, 4.0])
    >>> round(fam.deviance(y, mu), 6), round(fam.loglik(y, mu), 6)
    (1.338861, -3.716586)
    """

    name: ClassVar[str]
    default_link: ClassVar[str]
    canonical_link: ClassVar[str]
    allowed_links: ClassVar[tuple[str, ...]]
    scale_known: ClassVar[bool]
    mu_positive: ClassVar[bool] = False  # whether R's validmu requires mu > 0

    def __init__(self, link: str | Link | None = None) -> None:
        link = get_link(self.default_link if link is None else link)
        if link.name not in self.allowed_links:
            raise ValueError(f"link {link.name!r} is not available for the {self.name} family; "
                             f"allowed: {', '.join(self.allowed_links)}")
        self.link: Link = link

    # --- identity -----------------------------------------------------------------------------
    @property
    def canonical(self) -> bool:
        """Whether the link is the canonical one (then observed = expected information)."""
        return self.link.name == self.canonical_link

    @property
    def is_gaussian_identity(self) -> bool:
        """Gaussian with the identity link: the linear mixed model, whose residual variance
        is a model parameter and whose (RE)ML criterion is exact (no PIRLS, no Laplace).

        Examples
        --------
        >>> get_family("gaussian").is_gaussian_identity
        True
        >>> get_family("gaussian", link="log").is_gaussian_identity
        False
        """
        return self.name == "gaussian" and self.link.name == "identity"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.link == other.link  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.link))

    def __repr__(self) -> str:
        return f"{self.name}(link={self.link.name!r})"

    # --- what each family defines -------------------------------------------------------------
    @abstractmethod
    def variance(self, mu: ArrayLike) -> Array:
        """Variance function V(mu): Var(y_i) = scale * V(mu_i) / wt_i."""

    @abstractmethod
    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        """Per-observation deviance contributions, R's ``family()$dev.resids``."""

    @abstractmethod
    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """Per-observation log-likelihood with all constants (R's ``aic`` terms / -2)."""

    @abstractmethod
    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        """Starting means, R's ``mustart`` from ``family()$initialize``."""

    def _check_response(self, y: Array, wt: Array) -> None:
        """Family-specific checks of a finite response with valid weights."""
        return None

    def _plugin_scale(self, y: Array, mu: Array, wt: Array) -> float:
        """The scale R's ``aic`` plugs in when the scale is unknown; 1 when it is known."""
        return 1.0

    # --- shared --------------------------------------------------------------------------------
    def valid_mu(self, mu: ArrayLike) -> bool:
        """Whether every mean lies in the family's range (R's ``validmu``; also rejects NaN)."""
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and (not self.mu_positive or np.all(mu > 0)))

    def deviance(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> float:
        """Sum of :meth:`dev_resids`."""
        return float(np.sum(self.dev_resids(y, mu, wt)))

    def loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
               scale: float | None = 1.0) -> float:
        """Log-likelihood with all constants: what R's ``logLik()`` of a glm reports at ``mu``.

        ``scale`` is ignored when the scale is known. For the Gaussian (sigma^2) and the Gamma
        (1 / shape) ``scale=None`` plugs in R's estimate (see :meth:`loglik_obs`), which
        reproduces ``logLik(glm(...))`` exactly.
        """
        return float(np.sum(self.loglik_obs(y, mu, wt, scale)))

    def aic_loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None,
                   disp: float) -> float:
        """The log-likelihood R's ``family()$aic`` gives when its deviance argument is
        ``sum(wt) * disp`` (so its plug-in dispersion is ``disp``): mgcv's ``logLik`` of a
        REML/ML fit passes ``reml.scale`` so. Most families' ``aic`` is the exact density
        there (:meth:`loglik`); the inverse Gaussian's is not (its override)."""
        return self.loglik(y, mu, wt, scale=disp)

    def _scale(self, y: Array, mu: Array, wt: Array, scale: float | None) -> float:
        if self.scale_known:
            return 1.0
        if scale is None:
            scale = self._plugin_scale(y, mu, wt)
            if not scale > 0:
                raise ValueError(f"the {self.name} deviance is zero (a perfect fit), so the "
                                 "plug-in scale is 0 and the log-likelihood is not finite")
            return scale
        scale = float(scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        return scale

    def working(self, y: ArrayLike, eta: ArrayLike,
                wt: ArrayLike | None = None) -> tuple[Array, Array]:
        """IRLS working response and weights at linear predictor ``eta``.

        ``z = eta + (y - mu) / mu_eta`` and ``w = wt * mu_eta^2 / V(mu)`` (McCullagh & Nelder
        sec. 2.5). ``eta`` includes any offset, so ``z`` does too. Where ``wt``, ``mu_eta`` or
        ``V(mu)`` is 0 or not finite the observation carries no information: ``w = 0`` and
        ``z = eta`` (R's glm.fit drops such rows the same way), never a division by zero.

        Examples
        --------
        >>> z, w = get_family("poisson").working([2.0], [0.0])
        >>> float(z[0]), float(w[0])
        (1.0, 1.0)
        """
        y, eta = np.broadcast_arrays(_arr(y), _arr(eta))
        wt = self._weights(wt, y.shape)
        mu = self.link.linkinv(eta)
        d = self.link.mu_eta(eta)
        v = self.variance(mu)
        ok = (wt > 0) & (d != 0) & (v > 0) & np.isfinite(d) & np.isfinite(v) & np.isfinite(mu)
        d1 = np.where(ok, d, 1.0)
        z = np.where(ok, eta + (y - mu) / d1, eta)
        w = np.where(ok, wt * d1 * d1 / np.where(ok, v, 1.0), 0.0)
        return z, w

    @staticmethod
    def _weights(wt: ArrayLike | None, shape: tuple[int, ...]) -> Array:
        if wt is None:
            return np.ones(shape)
        return np.broadcast_to(_arr(wt), shape)

    def _prep(self, y: ArrayLike, mu: ArrayLike,
              wt: ArrayLike | None) -> tuple[Array, Array, Array]:
        y, mu = np.broadcast_arrays(_arr(y), _arr(mu))
        return y, mu, self._weights(wt, y.shape)

    def validate(self, y: ArrayLike, wt: ArrayLike | None = None) -> None:
        """Check a response (and prior weights) for this family.

        Raises ``ValueError`` naming the problem, how many rows have it and the first
        (0-based) row: non-numeric or non-finite values, negative weights, and per family
        negative or non-integer counts (Poisson, negative binomial), proportions outside
        [0, 1], "successes exceed trials" or non-integer successes/trials (binomial),
        non-positive values (Gamma). Warns (``UserWarning``) when a Poisson or binomial
        response is all zero (or a binomial all successes): the model is then degenerate.

        Examples
        --------
        >>> get_family("Gamma").validate([0.5, 2.0, 0.0])
        Traceback (most recent call last):
        ...
        ValueError: Gamma response must be positive: 1 value <= 0, first at row 2 (y = 0)
        """
        try:
            ya = _arr(y)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{self.name} response y must be numeric ({err})") from None
        if ya.ndim != 1:
            hint = (" For counts of successes and failures pass y = successes / trials and "
                    "wt = trials." if isinstance(self, Binomial) else "")
            raise ValueError(f"response y must be one-dimensional, got shape {ya.shape}.{hint}")
        if ya.size == 0:
            raise ValueError("response y is empty")
        bad = ~np.isfinite(ya)
        if bad.any():
            n, i = _first(bad)
            raise ValueError(f"response y has {_plural(n, 'non-finite value')} (NaN or inf), "
                             f"first at row {i}")
        if wt is None:
            wa = np.ones_like(ya)
        else:
            try:
                wa = _arr(wt)
            except (TypeError, ValueError) as err:
                raise ValueError(f"weights wt must be numeric ({err})") from None
            if wa.shape != ya.shape:
                raise ValueError(f"weights wt have shape {wa.shape} but y has {ya.shape}")
            bad = ~np.isfinite(wa) | (wa < 0)
            if bad.any():
                n, i = _first(bad)
                raise ValueError(f"weights wt must be finite and non-negative: "
                                 f"{_plural(n, 'bad value')}, first at row {i} (wt = {wa[i]:g})")
            if not np.any(wa > 0):
                raise ValueError("weights wt are all zero: no observation left to fit")
        self._check_response(ya, wa)


def _check_counts(fam: Family, y: Array) -> None:
    """Poisson / negative binomial: non-negative whole numbers (R's dpois tolerance)."""
    bad = y < 0
    if bad.any():
        n, i = _first(bad)
        raise ValueError(f"{fam.name} response must be non-negative counts: "
                         f"{_plural(n, 'negative value')}, first at row {i} (y = {y[i]:g})")
    bad = _not_whole(y, 1e-7)
    if bad.any():
        n, i = _first(bad)
        raise ValueError(f"{fam.name} response must be integer counts: "
                         f"{_plural(n, 'non-integer value')}, first at row {i} (y = {y[i]:g})")


class Gaussian(Family):
    """Normal response, R's ``gaussian()``: V(mu) = 1, scale sigma^2 unknown."""

    name = "gaussian"
    default_link = canonical_link = "identity"
    allowed_links = ("identity", "log", "inverse")
    scale_known = False

    def variance(self, mu: ArrayLike) -> Array:
        return np.ones_like(_arr(mu))

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        return wt * (y - mu) ** 2

    def _plugin_scale(self, y: Array, mu: Array, wt: Array) -> float:
        # R's gaussian()$aic uses dev / nobs (MLE of sigma^2); zero-weight rows are not counted
        return float(np.sum(self.dev_resids(y, mu, wt)) / np.count_nonzero(wt > 0))

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """log N(y; mu, scale / wt): ``scale`` is sigma^2 (``None``: R's dev / n).

        With the plug-in scale the sum is R's ``logLik(glm(..., weights = wt))``, whose
        ``gaussian()$aic`` includes ``-sum(log(wt))``. Zero-weight rows contribute 0.
        """
        y, mu, wt = self._prep(y, mu, wt)
        s = self._scale(y, mu, wt, scale)
        pos = wt > 0
        w1 = np.where(pos, wt, 1.0)
        ll = 0.5 * (np.log(w1) - math.log(2.0 * math.pi * s)) - w1 * (y - mu) ** 2 / (2.0 * s)
        return np.where(pos, ll, 0.0)

    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        """``mustart = y`` as R. R stops for a log link with y <= 0 or an inverse link with
        y == 0; we instead start those rows at the mean of the usable values so a fit can
        proceed (the mean of a log-link Gaussian may be positive while some y are not)."""
        y = _arr(y).copy()
        bad = {"log": y <= 0, "inverse": y == 0}.get(self.link.name)
        if bad is not None and bad.any():
            if bad.all():
                raise ValueError(f"cannot find valid starting values for a gaussian model with "
                                 f"{self.link.name} link: no usable response value")
            # log: the mean of the positive values; inverse: the mean size of the non-zero ones
            y[bad] = np.mean(y[~bad]) if self.link.name == "log" else np.mean(np.abs(y[~bad]))
        return y


class Binomial(Family):
    """Binomial response, R's ``binomial()``: y the proportion of successes, wt the trials."""

    name = "binomial"
    default_link = canonical_link = "logit"
    allowed_links = ("logit", "probit", "cloglog", "log")
    scale_known = True

    def variance(self, mu: ArrayLike) -> Array:
        mu = _arr(mu)
        return mu * (1.0 - mu)

    def valid_mu(self, mu: ArrayLike) -> bool:
        mu = _arr(mu)
        return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)

        def ylogy(a: Array, b: Array) -> Array:  # a * log(a / b), 0 at a = 0 as R's C code
            nz = a != 0
            return np.where(nz, a * np.log(np.where(nz, a, 1.0) / np.where(nz, b, 1.0)), 0.0)

        # rows of zero weight count 0 whatever their y (R zeroes such y in initialize)
        use = wt > 0
        yy = np.where(use, y, 0.0)
        return np.where(use, 2.0 * wt * (ylogy(yy, mu) + ylogy(1.0 - yy, 1.0 - mu)), 0.0)

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """log dbinom(round(wt * y), round(wt), mu) as R's ``binomial()$aic``; ``scale`` is
        ignored. Zero-trial rows contribute 0."""
        y, mu, wt = self._prep(y, mu, wt)
        n = np.round(wt)  # numpy rounds half to even, as R's round()
        k = np.round(wt * y)
        with np.errstate(invalid="ignore"):
            ll = (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                  + special.xlogy(k, mu) + special.xlog1py(n - k, -mu))
        return np.where(wt > 0, ll, 0.0)

    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, _, wt = self._prep(y, 0.0, wt)
        return (wt * y + 0.5) / (wt + 1.0)

    def _check_response(self, y: Array, wt: Array) -> None:
        use = wt > 0  # R sets y to 0 where the weight is 0 before checking
        bad = use & (y < 0)
        if bad.any():
            n, i = _first(bad)
            raise ValueError(f"binomial response y must be a proportion of successes in [0, 1]: "
                             f"{_plural(n, 'negative value')}, first at row {i} (y = {y[i]:g})")
        bad = use & (y > 1)
        if bad.any():
            n, i = _first(bad)
            raise ValueError(
                f"binomial successes exceed trials: {_plural(n, 'row')} with y > 1, first at "
                f"row {i} (y = {y[i]:g}, trials wt = {wt[i]:g}). Give y as the proportion "
                "successes / trials and wt as the number of trials.")
        # R warns beyond 0.001; a likelihood needs whole numbers, so we refuse instead
        bad = use & _not_whole(wt, 1e-3)
        if bad.any():
            n, i = _first(bad)
            raise ValueError(f"binomial trials (weights wt) must be whole numbers: "
                             f"{_plural(n, 'row')} not, first at row {i} (wt = {wt[i]:g})")
        bad = use & (np.abs(wt * y - np.round(wt * y)) > 1e-3)
        if bad.any():
            n, i = _first(bad)
            raise ValueError(
                f"binomial successes y * wt must be whole numbers: {_plural(n, 'row')} not, "
                f"first at row {i} (y = {y[i]:g}, trials wt = {wt[i]:g}, successes = "
                f"{wt[i] * y[i]:g})")
        if np.all(y[use] == 0) or np.all(y[use] == 1):
            what = "no successes" if np.all(y[use] == 0) else "only successes"
            warnings.warn(f"binomial response has {what}: the model is degenerate (the fitted "
                          "probabilities go to 0 or 1 and the linear predictor diverges)",
                          UserWarning, stacklevel=3)


class Poisson(Family):
    """Poisson counts, R's ``poisson()``: V(mu) = mu, scale 1."""

    name = "poisson"
    default_link = canonical_link = "log"
    allowed_links = ("log", "identity", "sqrt")
    scale_known = True
    mu_positive = True

    def variance(self, mu: ArrayLike) -> Array:
        return _arr(mu).copy()

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        pos = y > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            r = wt * (y * np.log(np.where(pos, y, 1.0) / np.where(pos, mu, 1.0)) - (y - mu))
        return 2.0 * np.where(pos, r, wt * mu)

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """wt * log dpois(y, mu), as R's ``poisson()$aic``; ``scale`` is ignored."""
        y, mu, wt = self._prep(y, mu, wt)
        return wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0))

    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        return _arr(y) + 0.1

    def _check_response(self, y: Array, wt: Array) -> None:
        _check_counts(self, y)
        if np.all(y[wt > 0] == 0):
            warnings.warn("poisson response is all zero: the model is degenerate (the fitted "
                          "means go to 0 and the linear predictor diverges)",
                          UserWarning, stacklevel=3)


class PositiveResponse:
    """Mixin of the families of a positive continuous response (Gamma, inverse Gaussian):
    R's ``mustart <- y`` and the check that every response is positive."""

    name: str

    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        return _arr(y).copy()

    def _check_response(self, y: Array, wt: Array) -> None:
        bad = y <= 0
        if bad.any():
            n, i = _first(bad)
            raise ValueError(f"{self.name} response must be positive: {_plural(n, 'value')} "
                             f"<= 0, first at row {i} (y = {y[i]:g})")


class GammaFamily(PositiveResponse, Family):
    """Gamma response, R's ``Gamma()``: V(mu) = mu^2, scale = 1 / shape unknown.

    The default link is the inverse, as in R (it is canonical, though the log link is the
    usual choice in practice).
    """

    name = "Gamma"
    default_link = canonical_link = "inverse"
    allowed_links = ("inverse", "log", "identity")
    scale_known = False
    mu_positive = True

    def variance(self, mu: ArrayLike) -> Array:
        return _arr(mu) ** 2

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        ratio = np.where(y == 0, 1.0, y / mu)
        return -2.0 * wt * (np.log(ratio) - (y - mu) / mu)

    def _plugin_scale(self, y: Array, mu: Array, wt: Array) -> float:
        # R's Gamma()$aic uses disp = dev / sum(wt) (not the Pearson estimate of summary.glm)
        return float(np.sum(self.dev_resids(y, mu, wt)) / np.sum(wt))

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """wt * log dgamma(y, shape = 1/scale, scale = mu * scale), as R's ``Gamma()$aic``.

        ``scale`` is the dispersion (1 / shape, the squared coefficient of variation);
        ``None`` plugs in R's dev / sum(wt), giving R's ``logLik(glm(..., Gamma))``. As in R the
        weights multiply the log-density (they are not a per-row change of the shape).
        """
        y, mu, wt = self._prep(y, mu, wt)
        k = 1.0 / self._scale(y, mu, wt, scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = (k * np.log(k * y / mu) - k * y / mu - np.log(y) - special.gammaln(k))
        return np.where(wt > 0, wt * ll, 0.0)



class InverseGaussian(PositiveResponse, Family):
    """Inverse Gaussian response, R's ``inverse.gaussian()``: V(mu) = mu^3, scale unknown; R's
    default link ``1/mu^2`` (canonical).

    The density is f(y) = (2 pi phi y^3)^(-1/2) exp(-(y - mu)^2 / (2 phi mu^2 y)) (McCullagh
    & Nelder 1989, sec. 2.2.2); the unit deviance (y - mu)^2 / (y mu^2); R's ``aic`` plugs in
    phi = deviance / sum(wt).

    Examples
    --------
    >>> fam = InverseGaussian()
    >>> fam.link.name, float(fam.variance(2.0))
    ('1/mu^2', 8.0)
    >>> round(float(fam.dev_resids([2.0], [1.0])[0]), 6)
    0.5
    """

    name = "inverse.gaussian"
    default_link = canonical_link = "1/mu^2"
    allowed_links = ("1/mu^2", "inverse", "log", "identity")
    scale_known = False
    mu_positive = True

    def variance(self, mu: ArrayLike) -> Array:
        return _arr(mu) ** 3

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        return wt * (y - mu) ** 2 / (y * mu ** 2)

    def _plugin_scale(self, y: Array, mu: Array, wt: Array) -> float:
        # R's inverse.gaussian()$aic uses disp = dev / sum(wt)
        return float(np.sum(self.dev_resids(y, mu, wt)) / np.sum(wt))

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """wt * log f(y; mu, phi) with phi the dispersion (``None``: R's dev / sum(wt)), so that
        the sum is R's ``logLik(glm(..., inverse.gaussian))``."""
        y, mu, wt = self._prep(y, mu, wt)
        phi = self._scale(y, mu, wt, scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * np.log(2 * np.pi * phi * y ** 3) - (y - mu) ** 2 / (2 * phi * mu ** 2 * y)
        return np.where(wt > 0, wt * ll, 0.0)


    def aic_loglik(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None,
                   disp: float) -> float:
        """R's ``inverse.gaussian()$aic`` assumes ``dev / disp = sum(wt)``:
        ``-sum(wt) (log(2 pi disp) + 1) / 2 - 3/2 sum(wt log y)``, whatever ``mu``.

        Examples
        --------
        >>> fam = get_family("inverse.gaussian")
        >>> y = np.array([1.0, 2.0]); mu = np.array([1.5, 1.5])
        >>> d = fam.deviance(y, mu) / 2  # at R's own plug-in the two agree
        >>> bool(np.isclose(fam.aic_loglik(y, mu, None, d), fam.loglik(y, mu, None, d)))
        True
        """
        y, mu, wt = self._prep(y, mu, wt)
        n = float(np.sum(wt))
        return float(-0.5 * n * (np.log(2 * np.pi * disp) + 1)
                     - 1.5 * np.sum(np.where(wt > 0, wt * np.log(y), 0.0)))


class NegativeBinomial(Family):
    """Negative binomial (NB2) counts with size ``theta``: V(mu) = mu + mu^2 / theta.

    A theta given here is held fixed, as MASS's ``negative.binomial(theta)`` in ``glm`` or
    ``glmer`` (so the scale is known). ``estimate=True`` (what ``negative_binomial()``
    without theta and the names "negbin" / "nb" give) asks the fit to estimate theta, as
    ``glmer.nb``; theta is then only the start, and the fit names the family with its
    estimate (copies made by :meth:`with_theta` keep the flag).

    Examples
    --------
    >>> fam = negative_binomial(2.5)
    >>> fam.name, float(fam.variance(2.0)[()]), fam.estimate
    ('Negative Binomial(2.5)', 3.6, False)
    >>> fam.with_theta(10).name
    'Negative Binomial(10)'
    >>> negative_binomial().estimate
    True
    """

    default_link = canonical_link = "log"  # log is not canonical for fixed theta, but is R's
    allowed_links = ("log", "sqrt", "identity")
    scale_known = True
    mu_positive = True

    def __init__(self, theta: float, link: str | Link | None = None,
                 estimate: bool = False) -> None:
        theta = float(theta)
        if not (math.isfinite(theta) and theta > 0):
            raise ValueError(f"negative binomial theta must be a positive finite number, "
                             f"got {theta!r}")
        self.theta = theta
        self.estimate = bool(estimate)
        super().__init__(link)

    @property  # type: ignore[override]
    def name(self) -> str:  # R: paste0("Negative Binomial(", format(round(theta, 4)), ")")
        return f"Negative Binomial({_r_format(round(self.theta, 4))})"

    @property
    def canonical(self) -> bool:
        # the canonical link of NB2 with fixed theta is log(mu / (mu + theta)), not offered
        return False

    def with_theta(self, theta: float) -> NegativeBinomial:
        """A copy with another theta (same link, same ``estimate`` flag)."""
        return NegativeBinomial(theta, self.link, estimate=self.estimate)

    def __eq__(self, other: object) -> bool:
        return (super().__eq__(other) and self.theta == other.theta  # type: ignore[attr-defined]
                and self.estimate == other.estimate)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.link, self.theta, self.estimate))

    def __repr__(self) -> str:
        if self.estimate:
            return f"negative_binomial(theta=None, link={self.link.name!r})  # theta estimated"
        return f"negative_binomial(theta={self.theta!r}, link={self.link.name!r})"

    def variance(self, mu: ArrayLike) -> Array:
        mu = _arr(mu)
        return mu + mu * mu / self.theta

    def dev_resids(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None) -> Array:
        y, mu, wt = self._prep(y, mu, wt)
        th = self.theta
        # MASS: y log(max(1, y) / mu) - (y + th) log((y + th) / (mu + th)); the second log is
        # written as -log1p((mu - y) / (y + th)) so that neither a large theta (cancellation
        # to rounding noise) nor mu >> theta (log1p(-1) in the other form) loses it. A mu
        # that underflowed to 0 under a positive count gives an infinite deviance, silently:
        # PIRLS and the optimiser treat it as a rejected step.
        with np.errstate(divide="ignore"):
            t1 = np.where(y > 0, y * np.log(np.maximum(1.0, y) / np.where(y > 0, mu, 1.0)),
                          0.0)
        t2 = -(y + th) * np.log1p((mu - y) / (y + th))
        return 2.0 * wt * (t1 - t2)

    def loglik_obs(self, y: ArrayLike, mu: ArrayLike, wt: ArrayLike | None = None,
                   scale: float | None = 1.0) -> Array:
        """wt * log dnbinom(y, size = theta, mu = mu), as MASS's ``negative.binomial()$aic``;
        ``scale`` is ignored."""
        y, mu, wt = self._prep(y, mu, wt)
        th = self.theta
        # log C(y + th - 1, y) = lgamma(y + th) - lgamma(th) - lgamma(y + 1), written with
        # betaln: R's difference of lgammas loses ~1e-5 to cancellation when theta is ~1e10
        lchoose = -np.log(y + th) - special.betaln(th, y + 1.0)
        ll = lchoose - th * np.log1p(mu / th) + special.xlogy(y, mu / (mu + th))
        return wt * ll

    def initialize(self, y: ArrayLike, wt: ArrayLike | None = None) -> Array:
        """MASS's ``mustart <- y + (y == 0) / 6``: zeros start at 1/6, other counts at y."""
        y = _arr(y)
        return y + (y == 0) / 6.0

    def _check_response(self, y: Array, wt: Array) -> None:
        _check_counts(self, y)


# ---------------------------------------------------------------------------------------------
# Constructors with R's names, and lookup by name
# ---------------------------------------------------------------------------------------------
def gaussian(link: str | Link = "identity") -> Gaussian:
    """R's ``gaussian(link)``.

    Examples
    --------
    >>> gaussian("log").link.name
    'log'
    """
    return Gaussian(link)


def binomial(link: str | Link = "logit") -> Binomial:
    """R's ``binomial(link)``; y is the proportion of successes and wt the trials.

    Examples
    --------
    >>> binomial("probit").canonical
    False
    """
    return Binomial(link)


def poisson(link: str | Link = "log") -> Poisson:
    """R's ``poisson(link)``.

    Examples
    --------
    >>> poisson().scale_known
    True
    """
    return Poisson(link)


def Gamma(link: str | Link = "inverse") -> GammaFamily:  # noqa: N802 - R's name
    """R's ``Gamma(link)`` (default inverse link, as R).

    Examples
    --------
    >>> Gamma("log").name
    'Gamma'
    """
    return GammaFamily(link)


def negative_binomial(theta: float | None = None, link: str | Link = "log") -> NegativeBinomial:
    """MASS's ``negative.binomial(theta, link)``: NB2 with size theta, held fixed in a fit.

    Without ``theta`` the fit estimates it, as ``glmer.nb`` / ``glm.nb``.

    Examples
    --------
    >>> negative_binomial(2.123456).name
    'Negative Binomial(2.1235)'
    >>> negative_binomial(theta=5).estimate, negative_binomial().estimate
    (False, True)
    """
    if theta is None:
        return NegativeBinomial(1.0, link, estimate=True)
    return NegativeBinomial(theta, link)


_ALIASES: dict[str, str] = {
    "gaussian": "gaussian", "normal": "gaussian", "binomial": "binomial",
    "poisson": "poisson", "gamma": "Gamma",
    "negbin": "negbin", "nb": "negbin", "negative_binomial": "negbin",
    "negative.binomial": "negbin", "negative binomial": "negbin", "negbinomial": "negbin",
    "inverse.gaussian": "inverse.gaussian", "inverse_gaussian": "inverse.gaussian",
}
_CLASSES: dict[str, type[Family]] = {
    "gaussian": Gaussian, "binomial": Binomial, "poisson": Poisson, "Gamma": GammaFamily,
}
_R_CALL = re.compile(r"^\s*(?P<fam>[A-Za-z_.]+)\s*\((?P<args>.*)\)\s*$", re.S)


def _r_family_call(spec: str) -> tuple[str, str | None] | None:
    """``'binomial(link="probit")'``, ``'poisson(link = sqrt)'``, ``'Gamma("log")'`` ->
    (family key, link); None when ``spec`` is not such a call of a family other than the
    negative binomial (whose theta argument is read below)."""
    m = _R_CALL.match(spec)
    if m is None or _ALIASES.get(m["fam"].lower()) in (None, "negbin"):
        return None
    link = None
    for arg in (a.strip() for a in m["args"].split(",") if a.strip()):
        key, eq, val = arg.partition("=")
        if not eq:
            key, val = "link", arg
        if key.strip() != "link":
            raise ValueError(f"family {spec!r}: unknown argument {key.strip()!r} (only link= "
                             "is read)")
        link = val.strip().strip("'\"").replace(" ", "")
    return m["fam"].lower(), link


_NB_THETA = re.compile(r"^(?P<fam>[a-z_. ]+?)\s*\(\s*(?:theta\s*=\s*)?(?P<theta>[^)]+)\)$")


def get_family(spec: str | Family, link: str | Link | None = None, *,
               theta: float | None = None) -> Family:
    """Resolve a family from an instance or a name, optionally with a link.

    Parameters
    ----------
    spec
        A :class:`Family` (returned as is, or with ``link``/``theta`` swapped in), or a name:
        "gaussian", "binomial", "poisson", "gamma"/"Gamma", "negbin"/"nb"/
        "negative_binomial". A negative binomial name may carry theta as R prints it,
        e.g. "Negative Binomial(2.5)".
    link
        A link name or :class:`Link`; ``None`` keeps the family's (default) link.
    theta
        Negative binomial size, held fixed by the fit. Without it a named negative binomial
        ("negbin", "nb") is estimated by the fit (``estimate=True``, start theta = 1); one
        named with its theta ("Negative Binomial(2.5)") keeps it fixed.

    Examples
    --------
    >>> get_family("binomial", link="probit")
    binomial(link='probit')
    >>> get_family("nb", theta=3).name
    'Negative Binomial(3)'
    """
    if isinstance(spec, Family):
        if theta is not None and not isinstance(spec, NegativeBinomial):
            raise ValueError(f"theta applies to the negative binomial family only, not "
                             f"{spec.name}")
        if isinstance(spec, NegativeBinomial):
            if link is None and theta is None:
                return spec
            # a theta given here is fixed; otherwise the family's own (and its flag) stays
            return NegativeBinomial(spec.theta if theta is None else theta,
                                    spec.link if link is None else link,
                                    estimate=spec.estimate and theta is None)
        return spec if link is None else type(spec)(link)
    if not isinstance(spec, str):
        raise TypeError(f"family must be a name or a Family, got {type(spec).__name__}")
    key = spec.strip().lower()
    call = _r_family_call(spec)
    if call is not None:
        key, given_link = call
        if given_link is not None:
            if link is not None and get_link(link) != get_link(given_link):
                raise ValueError(f"family {spec!r} and link={link!r} disagree")
            link = given_link
    m = _NB_THETA.match(key)
    if m and _ALIASES.get(m["fam"].strip()) == "negbin":
        try:
            given = float(m["theta"])
        except ValueError:
            raise ValueError(f"cannot read theta from family {spec!r}") from None
        if theta is not None and theta != given:
            raise ValueError(f"family {spec!r} and theta={theta!r} disagree")
        key, theta = "negbin", given
    name = _ALIASES.get(key)
    if name is None:
        raise ValueError(f"unknown family {spec!r}; allowed: gaussian, binomial, poisson, "
                         "Gamma (or gamma), inverse.gaussian, negbin (or nb, "
                         "negative_binomial), with a link as in R: 'binomial(link=\"probit\")'")
    if name == "negbin":  # no theta: estimated by the fit (glmer.nb); a given one is fixed
        return NegativeBinomial(1.0 if theta is None else theta, link, estimate=theta is None)
    if theta is not None:
        raise ValueError(f"theta applies to the negative binomial family only, not {name}")
    if name == "inverse.gaussian":
        return InverseGaussian(link)
    return _CLASSES[name](link)
