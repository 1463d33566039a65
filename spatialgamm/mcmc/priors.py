"""Priors as brms writes them: ``prior("student_t(3, 0, 2.5)", class_="sd")``, brms's defaults
scaled to the data, ``prior_summary()``, and each scalar prior's log density with its derivative.

Classes (as brms): ``b`` (fixed effects), ``Intercept`` (the intercept of the centred design),
``sd`` (random-effect standard deviations, optionally per ``group``), ``sds`` (the SDs of
smooths' penalised parts, optionally per smooth: ``coef="s(x)"``), ``cor`` (correlation
matrices: ``lkj(eta)``), ``sigma`` (Gaussian residual SD), ``shape`` (negative binomial and
Gamma shape; brms's default ``gamma(0.01, 0.01)``). Two conjugate priors of the lecture
notes, for the Gibbs comparison, extend brms's list: ``gamma_precision(a, b)`` on ``sigma``
puts Gamma(a, rate b) on the residual precision ``1 / sigma^2``, and
``wishart_precision(nu, s)`` on class ``cov`` puts a Wishart(nu, s I) (or ``diag(s_1, ...)``)
on a group's random-effect precision matrix (replacing its ``sd`` and ``cor`` priors).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$")
#: number of arguments of each distribution
_ARITY = {"normal": 2, "student_t": 3, "cauchy": 2, "exponential": 1, "gamma": 2,
          "lkj": 1, "gamma_precision": 2, "inv_gamma": 2}
CLASSES = ("b", "Intercept", "sd", "cor", "sigma", "cov", "shape", "sdgp", "lscale", "sds")


@dataclass(frozen=True)
class Prior:
    """One prior statement, as brms's ``set_prior``.

    Parameters
    ----------
    dist : str
        ``"normal(0, 10)"``, ``"student_t(3, 0, 2.5)"``, ``"cauchy(0, 1)"``,
        ``"exponential(1)"``, ``"gamma(2, 0.1)"``, ``"lkj(2)"``, ``""`` (flat) or the conjugate
        ``"gamma_precision(a, b)"`` / ``"wishart_precision(nu, s)"``.
    class_ : str
        One of ``b``, ``Intercept``, ``sd``, ``cor``, ``sigma``, ``cov``, ``shape``.
    coef : str
        A coefficient name (``"Days"``), or ``""`` for the whole class.
    group : str
        A grouping factor (``"Subject"``) for ``sd``/``cor``/``cov``, or ``""``.
    source : str
        ``"user"`` or ``"default"``.

    Examples
    --------
    >>> p = Prior("student_t(3, 0, 2.5)", "sd")
    >>> p.name, p.args
    ('student_t', (3.0, 0.0, 2.5))
    >>> round(float(p.logpdf(1.0)[0]), 4)
    -2.0211
    """

    dist: str
    class_: str = "b"
    coef: str = ""
    group: str = ""
    source: str = "user"

    def __post_init__(self) -> None:
        if self.class_ not in CLASSES:
            raise ValueError(f"prior class {self.class_!r} is not one of {CLASSES}")
        # parse once (raising on a bad distribution before any sampling); logpdf runs in
        # every gradient evaluation
        object.__setattr__(self, "_parsed", self._parse())

    def parse(self) -> tuple[str, tuple[float, ...]]:
        return self._parsed  # type: ignore[attr-defined]

    def _parse(self) -> tuple[str, tuple[float, ...]]:
        text = self.dist.strip()
        if text in ("", "flat"):
            return "flat", ()
        m = _CALL.match(text)
        if not m:
            raise ValueError(f"prior {self.dist!r}: write a distribution call such as "
                             "'normal(0, 10)'")
        name = m.group(1)
        try:
            args = tuple(float(a) for a in m.group(2).split(",")) if m.group(2).strip() else ()
        except ValueError:
            raise ValueError(f"prior {self.dist!r}: arguments must be numbers") from None
        if name == "wishart_precision":
            if len(args) < 2 or args[0] <= 0 or any(a <= 0 for a in args[1:]):
                raise ValueError(f"prior {self.dist!r}: wishart_precision(nu, s, ...) needs "
                                 "nu > 0 and positive scale(s)")
            return name, args
        if name not in _ARITY:
            raise ValueError(f"prior {self.dist!r}: unknown distribution {name!r}; known: "
                             f"{sorted(_ARITY) + ['wishart_precision', 'flat']}")
        if len(args) != _ARITY[name]:
            raise ValueError(f"prior {self.dist!r}: {name} takes {_ARITY[name]} argument(s)")
        scale_pos = {"normal": 1, "student_t": 2, "cauchy": 1, "exponential": 0, "gamma": 1,
                     "lkj": 0, "gamma_precision": 1, "inv_gamma": 1}[name]
        if args[scale_pos] <= 0 or (name in ("student_t", "gamma", "gamma_precision",
                                             "inv_gamma")
                                    and args[0] <= 0):
            raise ValueError(f"prior {self.dist!r}: scale/shape parameters must be positive")
        return name, args

    @property
    def name(self) -> str:
        return self.parse()[0]

    @property
    def args(self) -> tuple[float, ...]:
        return self.parse()[1]

    def logpdf(self, x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Log density (up to a constant) of a scalar prior at ``x`` and its derivative.

        Half distributions for ``sd``/``sigma`` differ from these by a constant only.
        """
        x = np.asarray(x, dtype=float)
        name, a = self.parse()
        if name == "flat":
            return np.zeros_like(x), np.zeros_like(x)
        if name == "normal":
            z = (x - a[0]) / a[1]
            return -0.5 * z * z - math.log(a[1]), -z / a[1]
        if name in ("student_t", "cauchy"):
            nu, mu, s = (a if name == "student_t" else (1.0, *a))
            d = x - mu
            c = (math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)
                 - 0.5 * math.log(nu * math.pi) - math.log(s))
            lp = c - (nu + 1) / 2 * np.log1p(d * d / (nu * s * s))
            return lp, -(nu + 1) * d / (nu * s * s + d * d)
        if name == "exponential":
            return math.log(a[0]) - a[0] * x, np.full_like(x, -a[0])
        if name == "gamma":
            return (a[0] - 1) * np.log(x) - a[1] * x, (a[0] - 1) / x - a[1]
        if name == "inv_gamma":  # brms's default on GP length scales (mcmc/gp_terms.py)
            return -(a[0] + 1) * np.log(x) - a[1] / x, -(a[0] + 1) / x + a[1] / (x * x)
        raise ValueError(f"prior {self.dist!r} is not a scalar prior for class {self.class_!r}")


def prior(dist: str, class_: str = "b", coef: str = "", group: str = "") -> Prior:
    """A user prior, as brms's ``prior()`` / ``set_prior()``.

    Examples
    --------
    >>> prior("normal(0, 10)", class_="b", coef="Days").coef
    'Days'
    """
    return Prior(dist, class_, coef, group, "user")


def _fmt(v: float) -> str:
    return f"{v:g}"


def default_scale(y: np.ndarray, link: str) -> tuple[float, float]:
    """brms's data-scaled location and scale: for identity and log links ``round(median(
    link(y)), 1)`` and ``max(2.5, round(mad(link(y)), 1))``, otherwise 0 and 2.5.

    Examples
    --------
    >>> default_scale(np.array([1.0, 2.0, 3.0, 10.0]), "identity")
    (2.5, 2.5)
    """
    if link not in ("identity", "log"):
        return 0.0, 2.5
    y = np.asarray(y, dtype=float)
    if link == "log":
        y = np.log(np.where(y == 0, y + 0.1, y))
    med = float(np.median(y))
    mad = 1.4826 * float(np.median(np.abs(y - med)))
    return round(med, 1), max(2.5, round(mad, 1))


def default_priors(y: np.ndarray, link: str, gaussian: bool, has_intercept: bool,
                   groups: list[str]) -> list[Prior]:
    """brms's default priors: flat on ``b``, student_t(3, location, scale) on the centred
    intercept, half student_t(3, 0, scale) on every SD and on sigma, LKJ(1) on correlations,
    gamma(0.01, 0.01) on the negative binomial / Gamma shape (listed always; used only by
    the families that have a shape)."""
    loc, scale = default_scale(y, link)
    out = [Prior("", "b", source="default")]
    if has_intercept:
        out.append(Prior(f"student_t(3, {_fmt(loc)}, {_fmt(scale)})", "Intercept",
                         source="default"))
    out.append(Prior("lkj(1)", "cor", source="default"))
    out.append(Prior(f"student_t(3, 0, {_fmt(scale)})", "sd", source="default"))
    out.append(Prior(f"student_t(3, 0, {_fmt(scale)})", "sds", source="default"))
    if gaussian:
        out.append(Prior(f"student_t(3, 0, {_fmt(scale)})", "sigma", source="default"))
    out.append(Prior("gamma(0.01, 0.01)", "shape", source="default"))
    return out


def resolve(priors: list[Prior], class_: str, coef: str = "", group: str = "") -> Prior:
    """The prior that applies to one parameter: the most specific user statement first
    (class + group + coef, then class + group, then class + coef, then class), then the default.
    """
    def match(p: Prior, g: str, c: str) -> bool:
        return p.class_ == class_ and p.group == g and p.coef == c
    for src in ("user", "default"):
        for g, c in ((group, coef), (group, ""), ("", coef), ("", "")):
            for p in priors:
                if p.source == src and match(p, g, c):
                    return p
    return Prior("", class_, source="default")


def check_user_priors(priors: list[Prior], coefs: list[str], groups: dict[str, list[str]],
                      gaussian: bool, smooths: list[str] | None = None) -> None:
    """Refuse user priors that name a coefficient, group or class the model lacks
    (``smooths``: the smooth terms' texts, brms's coefficients of class ``sds``)."""
    for p in priors:
        if p.source != "user":
            continue
        if p.class_ == "sds" and p.coef and p.coef not in (smooths or []):
            raise ValueError(f"prior {p.dist!r} names smooth {p.coef!r}, not in the model "
                             f"(smooths, written as R deparses them: {smooths or []})")
        if p.class_ == "b" and p.coef and p.coef not in coefs:
            raise ValueError(f"prior {p.dist!r} names coefficient {p.coef!r}, not in the "
                             f"model (coefficients: {coefs})")
        if p.class_ in ("sd", "cor", "cov") and p.group and p.group not in groups:
            raise ValueError(f"prior {p.dist!r} names group {p.group!r}, not a grouping "
                             f"factor of the model ({list(groups)})")
        if p.class_ == "sigma" and not gaussian:
            raise ValueError(f"prior {p.dist!r} is on sigma, which only Gaussian models have")
        if p.class_ == "cor" and p.name not in ("lkj", "flat"):
            raise ValueError(f"prior {p.dist!r} on class 'cor' must be lkj(eta)")
        if p.class_ == "cov" and p.name != "wishart_precision":
            raise ValueError(f"prior {p.dist!r} on class 'cov' must be wishart_precision()")
        if p.class_ == "shape" and p.name in ("normal", "student_t", "cauchy") \
                and p.args[-2] != 0:
            raise ValueError(f"prior {p.dist!r} on class 'shape': a half distribution "
                             "needs location 0")
        if p.class_ in ("sd", "sds", "sigma") and p.name in ("normal", "student_t", "cauchy") \
                and p.args[-2] != 0:
            raise ValueError(f"prior {p.dist!r} on class {p.class_!r}: a half distribution "
                             "needs location 0")


def prior_summary(priors: list[Prior], coefs: list[str], groups: dict[str, list[str]],
                  gaussian: bool, has_intercept: bool,
                  cor_groups: set[str] | None = None, shape: bool = False,
                  smooths: list[str] | None = None) -> pd.DataFrame:
    """brms's ``prior_summary()`` table: one row per class, coefficient and group
    (``cor_groups``: groups with a correlation matrix; default those with several SDs;
    ``shape``: the family has a shape parameter; ``smooths``: the smooth terms' texts)."""
    rows = []

    def add(class_: str, coef: str = "", group: str = "") -> None:
        p = resolve(priors, class_, coef, group)
        rows.append(dict(prior=p.dist if p.name != "flat" else "(flat)", class_=class_,
                         coef=coef, group=group, source=p.source))

    add("b")
    for c in coefs:
        if c not in ("(Intercept)", "Intercept") or not has_intercept:
            add("b", c)
    if has_intercept:
        add("Intercept")
    for g, names in groups.items():
        if resolve(priors, "cov", "", g).source == "user":
            add("cov", "", g)
            continue
        if (g in cor_groups) if cor_groups is not None else len(names) > 1:
            add("cor", "", g)
        add("sd", "", g)
        for c in names:
            add("sd", c, g)
    if smooths:
        add("sds")
        for c in smooths:
            add("sds", c)
    if gaussian:
        add("sigma")
    if shape:
        add("shape")
    return pd.DataFrame(rows).rename(columns={"class_": "class"})
