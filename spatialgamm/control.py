"""lme4's ``control=`` argument: the grouping-factor checks and the optimiser settings.

``lmer_control()`` and ``glmer_control()`` return a :class:`Control` (frozen), accepted by
``lmer``, ``glmer`` and ``fit`` as ``control=`` (a plain dict of the same fields works too).
The checks are lme4's (``lmerControl`` / ``glmerControl``), with the same defaults and
messages; each is ``"stop"`` (raise), ``"warning"`` or ``"ignore"``:

- ``check_nlev_gtr_1``: every grouping factor has at least 2 levels;
- ``check_nobs_vs_nlev``: a grouping factor has fewer levels than there are observations
  (lmer; glmer allows as many, the observation-level random effect of overdispersed
  Poisson and binomial models);
- ``check_nobs_vs_nRE``: a term has fewer random effects than there are observations
  (lmer; glmer: at most as many);
- ``check_nlev_gtreq_5``: at least 5 levels (off by default, as lme4).

Which rule applies depends on the model, not the function called: a Gaussian identity-link
model gets lmer's (as glmer hands such models to lmer), every other family glmer's.

The optimiser settings (``maxiter``, ``gtol``, ``check_conv_grad_tol``) apply to the
mixed-model fits of ``lmer``, ``glmer`` and ``fit`` (profiled Gaussian, Laplace, quadrature);
models with ``spde()`` fields use their own optimiser and ignore them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ModelError
from .formula.parse import FormulaError

_ACTIONS = ("stop", "warning", "ignore")


@dataclass(frozen=True)
class Control:
    """Checks and optimiser settings of a mixed-model fit (lme4's ``lmerControl``).

    Parameters
    ----------
    check_nobs_vs_nlev, check_nlev_gtr_1, check_nobs_vs_nRE, check_nlev_gtreq_5 : str
        ``"stop"``, ``"warning"`` or ``"ignore"`` (lme4's checks of the same names).
    maxiter : int
        Maximum number of optimiser iterations (lme4's ``optCtrl = list(maxfun = ...)``).
    gtol : float
        Projected-gradient tolerance at which the optimiser stops.
    check_conv_grad_tol : float
        lme4's ``check.conv.grad`` tolerance: a fit whose Hessian-scaled gradient exceeds it
        is reported as not converged (default 0.002, as lme4).

    Examples
    --------
    >>> ctl = lmer_control(check_nobs_vs_nlev="warning", maxiter=500)
    >>> ctl.check_nobs_vs_nlev, ctl.maxiter
    ('warning', 500)
    """

    check_nobs_vs_nlev: str = "stop"
    check_nlev_gtr_1: str = "stop"
    check_nobs_vs_nRE: str = "stop"
    check_nlev_gtreq_5: str = "ignore"
    maxiter: int = 1000
    gtol: float = 1e-5
    check_conv_grad_tol: float = 2e-3

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("check_nobs") or f.name.startswith("check_nlev"):
                if v not in _ACTIONS:
                    raise ValueError(f"control {f.name}={v!r}: must be one of {_ACTIONS}")
        if not (isinstance(self.maxiter, int) and self.maxiter > 0):
            raise ValueError(f"control maxiter={self.maxiter!r}: must be a positive integer")
        for name in ("gtol", "check_conv_grad_tol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ValueError(f"control {name}={v!r}: must be a positive number")

    def optimizer_kwargs(self) -> dict[str, Any]:
        """The settings handed to :func:`spatialgamm.engine.optimize.optimize`."""
        return {"maxiter": self.maxiter, "gtol": float(self.gtol),
                "scaled_tol": float(self.check_conv_grad_tol)}


def lmer_control(**kwargs: Any) -> Control:
    """lme4's ``lmerControl()``: see :class:`Control` for the fields.

    Examples
    --------
    >>> lmer_control().check_nobs_vs_nlev
    'stop'
    """
    return as_control(kwargs)


def glmer_control(**kwargs: Any) -> Control:
    """lme4's ``glmerControl()``: the same fields and defaults as :func:`lmer_control`
    (glmer's looser limits on levels follow from the family, see the module notes).

    Examples
    --------
    >>> glmer_control(maxiter=200).maxiter
    200
    """
    return as_control(kwargs)


def as_control(control: Control | dict[str, Any] | None) -> Control:
    """A :class:`Control` from ``None`` (the defaults), a dict of its fields, or itself;
    lme4's dotted names (``check.nobs.vs.nlev``) are accepted in a dict."""
    if control is None:
        return Control()
    if isinstance(control, Control):
        return control
    if not isinstance(control, dict):
        raise TypeError(f"control must be sg.lmer_control(...), a dict or None, got "
                        f"{type(control).__name__}")
    known = {f.name for f in fields(Control)}
    kw = {k.replace(".", "_"): v for k, v in control.items()}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise ValueError(f"unknown control setting(s) {unknown}; known: {sorted(known)}")
    return replace(Control(), **kw)


def _act(action: str, message: str, identifiability: bool = False) -> None:
    # levels too few: the formula's grouping term is at fault (FormulaError); observations
    # too few for the levels or effects: the data cannot identify the model (ModelError)
    if action == "stop":
        raise (ModelError if identifiability else FormulaError)(message)
    if action == "warning":
        warnings.warn(message, UserWarning, stacklevel=4)


def check_grouping(terms: list[tuple[str, str, int, int]], n: int, control: Control,
                   allow_n: bool) -> None:
    """lme4's checks of grouping factors and random-effect counts, before any fitting.

    Parameters
    ----------
    terms : list of (label, group, n_levels, n_random_effects)
        One entry per random-effects term (``"1 | obs"``, ``"obs"``, levels, levels * nc).
    n : int
        Number of observations.
    control : Control
    allow_n : bool
        glmer's rules (a factor may have as many levels as observations) rather than lmer's.

    Examples
    --------
    >>> check_grouping([("1 | g", "g", 10, 10)], 50, Control(), allow_n=False)
    >>> check_grouping([("1 | obs", "obs", 50, 50)], 50, Control(), allow_n=True)
    """
    nlev: dict[str, int] = {}
    for _, group, k, _ in terms:
        nlev.setdefault(group, k)
    one = [g for g, k in nlev.items() if k < 2]
    if control.check_nlev_gtr_1 != "ignore" and one:
        _act(control.check_nlev_gtr_1, "grouping factors must have > 1 sampled level "
             f"(problems: {', '.join(one)})")
    bad = [g for g, k in nlev.items() if (k > n if allow_n else k >= n)]
    if control.check_nobs_vs_nlev != "ignore" and bad:
        _act(control.check_nobs_vs_nlev,
             f"number of levels of each grouping factor must be {'<=' if allow_n else '<'} "
             f"number of observations (problems: {', '.join(bad)}); "
             "control=sg.lmer_control(check_nobs_vs_nlev='ignore') skips this check",
             identifiability=True)
    few = [g for g, k in nlev.items() if k < 5]
    if control.check_nlev_gtreq_5 != "ignore" and few:
        _act(control.check_nlev_gtreq_5, "grouping factors with < 5 sampled levels may give "
             f"unreliable estimates (problems: {', '.join(few)})")
    if control.check_nobs_vs_nRE != "ignore":
        for label, _, _, q in terms:
            if (n < q) if allow_n else (n <= q):
                rest = "" if allow_n else " and the residual variance (or scale parameter)"
                _act(control.check_nobs_vs_nRE,
                     f"number of observations (={n}) {'<' if allow_n else '<='} number of "
                     f"random effects (={q}) for term ({label}); the random-effects "
                     f"parameters{rest} are probably unidentifiable", identifiability=True)
