"""Link functions g with mu = g^-1(eta), numerically as R's ``make.link``.

Split from :mod:`spatialgamm.families` (which re-exports everything here) so each module owns
one concept: links here, response distributions there.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = [
    "Link", "IdentityLink", "LogLink", "LogitLink", "ProbitLink", "CloglogLink",
    "InverseLink", "SqrtLink", "InverseSquareLink", "get_link",
]

Array = NDArray[np.float64]
_EPS = float(np.finfo(float).eps)  # R's .Machine$double.eps (DBL_EPSILON)
_LOGIT_THRESH = 30.0  # R's C logit code: beyond |eta| > 30 it uses fixed end values
_PROBIT_THRESH = float(-special.ndtri(_EPS))  # R: -qnorm(.Machine$double.eps), about 8.13


def _arr(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=float)


# ---------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------
class Link(ABC):
    """A link function g with mu = g^-1(eta), as R's ``make.link``.

    Links hold no state: two links of the same class are equal.

    Examples
    --------
    >>> link = get_link("logit")
    >>> float(link.linkinv(0.0)), float(link.mu_eta(0.0))
    (0.5, 0.25)
    """

    name: ClassVar[str]

    @abstractmethod
    def linkfun(self, mu: ArrayLike) -> Array:
        """eta = g(mu)."""

    @abstractmethod
    def linkinv(self, eta: ArrayLike) -> Array:
        """mu = g^-1(eta), clamped inside the mean's range where R clamps."""

    @abstractmethod
    def mu_eta(self, eta: ArrayLike) -> Array:
        """d mu / d eta."""

    def valid_eta(self, eta: ArrayLike) -> bool:
        """Whether every eta is usable. R returns TRUE for most links; we also reject NaN/inf
        so that a failed IRLS step is caught rather than propagated."""
        return bool(np.all(np.isfinite(_arr(eta))))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"get_link({self.name!r})"


class IdentityLink(Link):
    name = "identity"

    def linkfun(self, mu: ArrayLike) -> Array:
        return _arr(mu).copy()

    def linkinv(self, eta: ArrayLike) -> Array:
        return _arr(eta).copy()

    def mu_eta(self, eta: ArrayLike) -> Array:
        return np.ones_like(_arr(eta))


class LogLink(Link):
    name = "log"

    def linkfun(self, mu: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):  # log(0) = -inf as in R
            return np.log(_arr(mu))

    def linkinv(self, eta: ArrayLike) -> Array:
        # R: pmax(exp(eta), DBL_EPSILON), so mu never reaches 0 (log(mu) stays finite)
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_arr(eta)), _EPS)

    def mu_eta(self, eta: ArrayLike) -> Array:
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_arr(eta)), _EPS)


class LogitLink(Link):
    name = "logit"

    def linkfun(self, mu: ArrayLike) -> Array:
        mu = _arr(mu)
        bad = (mu < 0) | (mu > 1)
        if np.any(bad):
            raise ValueError(f"logit link: mu value {mu[bad].flat[0]:g} out of range [0, 1]")
        with np.errstate(divide="ignore"):
            return np.log(mu) - np.log1p(-mu)

    def linkinv(self, eta: ArrayLike) -> Array:
        # As R's C code: exp(eta) is replaced by DBL_EPSILON below -30 and 1/DBL_EPSILON above
        # 30, so mu stays within [eps/(1+eps), 1/(1+eps)] and never rounds to 0 or 1.
        eta = _arr(eta)
        t = np.where(eta < -_LOGIT_THRESH, _EPS,
                     np.where(eta > _LOGIT_THRESH, 1.0 / _EPS,
                              np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))))
        return t / (1.0 + t)

    def mu_eta(self, eta: ArrayLike) -> Array:
        eta = _arr(eta)
        e = np.exp(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
        return np.where(np.abs(eta) > _LOGIT_THRESH, _EPS, e / (1.0 + e) ** 2)


class ProbitLink(Link):
    name = "probit"

    def linkfun(self, mu: ArrayLike) -> Array:
        return special.ndtri(_arr(mu))

    def linkinv(self, eta: ArrayLike) -> Array:
        # R clamps eta to +-(-qnorm(eps)), so mu lies in [eps, 1 - eps]
        return special.ndtr(np.clip(_arr(eta), -_PROBIT_THRESH, _PROBIT_THRESH))

    def mu_eta(self, eta: ArrayLike) -> Array:
        eta = _arr(eta)
        return np.maximum(np.exp(-0.5 * eta * eta) / math.sqrt(2.0 * math.pi), _EPS)


class CloglogLink(Link):
    name = "cloglog"

    def linkfun(self, mu: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return np.log(-np.log1p(-_arr(mu)))

    def linkinv(self, eta: ArrayLike) -> Array:
        with np.errstate(over="ignore"):
            mu = -np.expm1(-np.exp(_arr(eta)))
        return np.clip(mu, _EPS, 1.0 - _EPS)

    def mu_eta(self, eta: ArrayLike) -> Array:
        eta = np.minimum(_arr(eta), 700.0)  # R caps eta at 700 before exp
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), _EPS)


class InverseLink(Link):
    name = "inverse"

    def linkfun(self, mu: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(mu)

    def linkinv(self, eta: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(eta)

    def mu_eta(self, eta: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return -1.0 / _arr(eta) ** 2

    def valid_eta(self, eta: ArrayLike) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))


class SqrtLink(Link):
    name = "sqrt"

    def linkfun(self, mu: ArrayLike) -> Array:
        return np.sqrt(_arr(mu))

    def linkinv(self, eta: ArrayLike) -> Array:
        return _arr(eta) ** 2

    def mu_eta(self, eta: ArrayLike) -> Array:
        return 2.0 * _arr(eta)

    def valid_eta(self, eta: ArrayLike) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


class InverseSquareLink(Link):
    """R's ``1/mu^2`` link, canonical for the inverse Gaussian: mu = eta^(-1/2)."""

    name = "1/mu^2"

    def linkfun(self, mu: ArrayLike) -> Array:
        with np.errstate(divide="ignore"):
            return 1.0 / _arr(mu) ** 2

    def linkinv(self, eta: ArrayLike) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / np.sqrt(_arr(eta))

    def mu_eta(self, eta: ArrayLike) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -1.0 / (2.0 * _arr(eta) ** 1.5)

    def valid_eta(self, eta: ArrayLike) -> bool:
        eta = _arr(eta)
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))


_LINKS: dict[str, type[Link]] = {
    c.name: c for c in (IdentityLink, LogLink, LogitLink, ProbitLink, CloglogLink,
                        InverseLink, SqrtLink, InverseSquareLink)
}


def get_link(spec: str | Link) -> Link:
    """Return a link from its R name or pass a :class:`Link` through.

    Examples
    --------
    >>> get_link("probit").name
    'probit'
    """
    if isinstance(spec, Link):
        return spec
    if isinstance(spec, str) and spec.strip().strip("'\"").replace(" ", "") in _LINKS:
        return _LINKS[spec.strip().strip("'\"").replace(" ", "")]()
    raise ValueError(f"unknown link {spec!r}; allowed: {', '.join(_LINKS)}")
