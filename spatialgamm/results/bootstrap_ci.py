"""Bootstrap confidence intervals: percentile and BCa (Efron & Tibshirani 1993, ch. 13-14).

BCa corrects the percentile interval for the median bias of the replicates
(``z0 = Phi^-1(#{t* < t} / B)``, ties counted half) and for the skewness of the estimator
(the acceleration ``a``, from a jackknife: ``a = sum d_i^3 / (6 (sum d_i^2)^1.5)``,
``d_i = mean(t_(.)) - t_(i)``). The interval's ends are the replicates' quantiles at

    alpha' = Phi(z0 + (z0 + z_alpha) / (1 - a (z0 + z_alpha))).

Here the jackknife leaves out one group of the resampled grouping factor at a time, as the
case bootstrap resamples groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def percentile(samples: pd.DataFrame, level: float) -> pd.DataFrame:
    """Quantiles ``(1 - level) / 2`` and ``(1 + level) / 2`` of each column (NaNs ignored)."""
    a = (1 - level) / 2
    S = samples.to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        lo = np.nanquantile(S, a, axis=0) if len(S) else np.full(S.shape[1], np.nan)
        hi = np.nanquantile(S, 1 - a, axis=0) if len(S) else np.full(S.shape[1], np.nan)
    return pd.DataFrame({"lower": lo, "upper": hi}, index=samples.columns)


def acceleration(jack: pd.DataFrame) -> pd.Series:
    """The BCa acceleration of each statistic from its jackknife values (rows: left-out
    groups); 0 where the jackknife values do not vary."""
    J = jack.to_numpy(dtype=float)
    out = np.zeros(J.shape[1])
    for j in range(J.shape[1]):
        v = J[:, j]
        v = v[np.isfinite(v)]
        if len(v) < 2:
            out[j] = np.nan
            continue
        d = v.mean() - v
        s2 = float(np.sum(d * d))
        out[j] = float(np.sum(d ** 3)) / (6.0 * s2 ** 1.5) if s2 > 0 else 0.0
    return pd.Series(out, index=jack.columns)


def bias_correction(samples: pd.DataFrame, estimate: pd.Series) -> pd.Series:
    """``z0 = Phi^-1(p)``, ``p`` the share of replicates below the estimate (ties half),
    kept within ``[1 / (2B), 1 - 1 / (2B)]`` so a one-sided distribution stays finite."""
    S = samples.to_numpy(dtype=float)
    t = estimate.reindex(samples.columns).to_numpy(dtype=float)
    out = np.full(S.shape[1], np.nan)
    for j in range(S.shape[1]):
        v = S[:, j]
        v = v[np.isfinite(v)]
        if len(v) == 0 or not np.isfinite(t[j]):
            continue
        p = (np.sum(v < t[j]) + 0.5 * np.sum(v == t[j])) / len(v)
        p = min(max(p, 0.5 / len(v)), 1 - 0.5 / len(v))
        out[j] = stats.norm.ppf(p)
    return pd.Series(out, index=samples.columns)


def bca(samples: pd.DataFrame, estimate: pd.Series, accel: pd.Series, level: float
        ) -> pd.DataFrame:
    """BCa intervals from the replicates, the estimates and the accelerations."""
    z0 = bias_correction(samples, estimate).to_numpy()
    a = accel.reindex(samples.columns).to_numpy(dtype=float)
    S = samples.to_numpy(dtype=float)
    lo = np.full(S.shape[1], np.nan)
    hi = np.full(S.shape[1], np.nan)
    za = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    for j in range(S.shape[1]):
        v = S[:, j]
        v = v[np.isfinite(v)]
        if len(v) == 0 or not (np.isfinite(z0[j]) and np.isfinite(a[j])):
            continue
        zz = z0[j] + za
        with np.errstate(divide="ignore", invalid="ignore"):
            q = stats.norm.cdf(z0[j] + zz / (1 - a[j] * zz))
        q = np.clip(np.nan_to_num(q, nan=0.5), 0.0, 1.0)
        lo[j], hi[j] = np.quantile(v, q[0]), np.quantile(v, q[1])
    return pd.DataFrame({"lower": lo, "upper": hi}, index=samples.columns)
