"""From link-scale predictions (eta, se of eta) to the numbers a map shows.

Everything rests on the link-scale normal approximation eta_hat ~ N(eta, se_eta^2):

- response estimate ``linkinv(eta)``; its standard error by the delta method,
  ``|mu_eta(eta)| * se_eta``;
- interval ``linkinv(eta -+ z se_eta)``, the link-scale Wald interval transformed (exact
  coverage under the approximation for any monotone link; ordered lower <= upper, so
  decreasing links work too);
- exceedance ``P(mu > c) = 1 - Phi((g(c) - eta) / se_eta)`` for an increasing link
  (``Phi(...)`` for a decreasing one), thresholds ``c`` on the response scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm


def z_value(level: float) -> float:
    """Two-sided normal quantile for a ``level`` interval (0.95 -> 1.959964).

    Examples
    --------
    >>> round(z_value(0.95), 6)
    1.959964
    """
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(norm.ppf(0.5 + level / 2.0))


def exceed_band(c: float) -> str:
    """Band/column name of the exceedance probability for threshold ``c``: ``p_exceed_<c>``.

    Examples
    --------
    >>> exceed_band(0.5), exceed_band(10.0)
    ('p_exceed_0.5', 'p_exceed_10')
    """
    return f"p_exceed_{float(c):g}"


def check_thresholds(exceedance: Any, link: Any) -> tuple[float, ...]:
    """Validate thresholds: finite, distinct band names, inside the link's range."""
    if exceedance is None:
        return ()
    values = np.atleast_1d(np.asarray(exceedance, dtype=float))
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError(f"exceedance must be finite numbers, got {exceedance!r}")
    names = [exceed_band(c) for c in values]
    if len(set(names)) != len(names):
        raise ValueError(f"exceedance thresholds repeat (as band names {names})")
    with np.errstate(all="ignore"):
        g = np.asarray(link.linkfun(values), dtype=float)
    bad = values[np.isnan(g)]
    if bad.size:
        raise ValueError(
            f"exceedance threshold(s) {bad.tolist()} outside the range of the response under "
            f"the {getattr(link, 'name', '')} link"
        )
    return tuple(float(c) for c in values)


def link_scale_columns(
    eta: np.ndarray, se_eta: np.ndarray, link: Any, type: str, z: float
) -> dict[str, np.ndarray]:
    """Columns estimate, se, lower, upper on the requested scale ('response' or 'link').

    Examples
    --------
    >>> import numpy as np
    >>> class Log:
    ...     linkinv = staticmethod(np.exp); mu_eta = staticmethod(np.exp)
    >>> out = link_scale_columns(np.array([0.0]), np.array([0.1]), Log, "response", 1.96)
    >>> float(out["estimate"][0]), float(out["se"][0])
    (1.0, 0.1)
    """
    lo_eta, hi_eta = eta - z * se_eta, eta + z * se_eta
    if type == "link":
        return {"estimate": eta, "se": se_eta, "lower": lo_eta, "upper": hi_eta}
    mu = np.asarray(link.linkinv(eta), dtype=float)
    se = np.abs(np.asarray(link.mu_eta(eta), dtype=float)) * se_eta
    a = np.asarray(link.linkinv(lo_eta), dtype=float)
    b = np.asarray(link.linkinv(hi_eta), dtype=float)
    return {"estimate": mu, "se": se, "lower": np.fmin(a, b), "upper": np.fmax(a, b)}


def exceedance_probability(eta: np.ndarray, se_eta: np.ndarray, link: Any, c: float) -> np.ndarray:
    """P(response > c) under eta_hat ~ N(eta, se_eta^2); a zero se gives 0 or 1.

    The direction of the link is read from the sign of ``mu_eta`` at each cell.

    Examples
    --------
    >>> import numpy as np
    >>> class Log:
    ...     linkfun = staticmethod(np.log); mu_eta = staticmethod(np.exp)
    >>> float(exceedance_probability(np.array([0.0]), np.array([1.0]), Log, 1.0)[0])
    0.5
    """
    g = float(np.asarray(link.linkfun(c), dtype=float))
    increasing = np.asarray(link.mu_eta(eta), dtype=float) >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (g - eta) / se_eta
    above = norm.sf(t)  # P(eta_hat > g(c)), accurate in the upper tail
    below = norm.cdf(t)
    p = np.where(increasing, above, below)
    zero = se_eta == 0
    if zero.any():  # no uncertainty: the event is certain or impossible
        p = np.where(zero & increasing, (eta > g).astype(float), p)
        p = np.where(zero & ~increasing, (eta < g).astype(float), p)
    return p
