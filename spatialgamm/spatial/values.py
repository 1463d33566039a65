"""The bands at cell centres: the fit's link-scale predictions, chunk by chunk, turned into
estimate, standard error, interval and exceedance probabilities (shared by the whole-grid
path, :mod:`.predict`, and the per-tile one, :mod:`.tiles`).

The fit is used only through the prediction protocol (docs/ARCHITECTURE.md, "Predictions").
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .covariates import Covariate
from .plan import GridPlan
from .scale import exceed_band, exceedance_probability, link_scale_columns

#: Show a progress bar (progress=None) when prediction takes more chunks than this.
AUTO_PROGRESS_CHUNKS = 10


def predict_values(
    plan: GridPlan, x: np.ndarray, y: np.ndarray, progress: bool | None
) -> dict[str, np.ndarray]:
    """The bands (estimate, se, lower, upper, p_exceed_<c>) at cell centres ``(x, y)``."""
    eta, se_eta = _predict_chunks(
        plan.fit, x, y, plan.names, plan.sources, plan.offset, plan.chunk_size, progress
    )
    values = link_scale_columns(eta, se_eta, plan.link, plan.type, plan.z)
    _warn_overflow(values, np.isfinite(eta))
    for c in plan.thresholds:
        values[exceed_band(c)] = exceedance_probability(eta, se_eta, plan.link, c)
    return values


def _warn_overflow(values: dict[str, np.ndarray], finite_eta: np.ndarray) -> None:
    """Say so when the inverse link overflows (e.g. exp of a large eta): never silent inf/NaN."""
    bad = np.zeros(len(finite_eta), dtype=bool)
    for v in values.values():
        bad |= finite_eta & ~np.isfinite(v)
    if bad.any():
        warnings.warn(
            f"the inverse link gives non-finite values at {int(bad.sum())} grid cells (link "
            "scale predictions too large?); check the model and its coordinates' units",
            UserWarning,
            stacklevel=3,
        )


def _predict_chunks(
    fit: Any,
    x: np.ndarray,
    y: np.ndarray,
    xy_names: tuple[str, str],
    sources: list[Covariate],
    offset: float,
    chunk_size: int,
    progress: bool | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Link-scale predictions and standard errors, ``chunk_size`` cells at a time."""
    n = len(x)
    eta, se = np.full(n, np.nan), np.full(n, np.nan)
    starts = range(0, n, chunk_size)
    show = len(starts) > AUTO_PROGRESS_CHUNKS if progress is None else bool(progress)
    if show:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), desc="predicting grid", unit="chunk")
    missing: dict[str, int] = {}
    for s in starts:
        sl = slice(s, min(s + chunk_size, n))
        frame = pd.DataFrame({xy_names[0]: x[sl], xy_names[1]: y[sl]})
        for src in sources:
            frame[src.name] = src.sample(x[sl], y[sl])
        ok = np.ones(len(frame), dtype=bool)
        for src in sources:
            bad = frame[src.name].isna().to_numpy()
            if bad.any():
                missing[src.name] = missing.get(src.name, 0) + int(bad.sum())
                ok &= ~bad
        if not ok.any():
            continue
        part = frame if ok.all() else frame[ok].reset_index(drop=True)
        e, s_e = _call_predict(fit, part, offset)
        idx = np.arange(sl.start, sl.stop)[ok]
        eta[idx], se[idx] = e, s_e
    for name, count in missing.items():
        warnings.warn(
            f"covariate {name!r}: {count} of {n} cells fall outside its raster or on nodata; "
            "their predictions are NaN (nodata on the map)",
            UserWarning,
            stacklevel=3,
        )
    return eta, se


def _call_predict(fit: Any, frame: pd.DataFrame, offset: float) -> tuple[np.ndarray, np.ndarray]:
    out = fit.predict(frame, type="link", se_fit=True, offset=offset)
    if not isinstance(out, pd.DataFrame) or not {"fit", "se_fit"} <= set(out.columns):
        raise TypeError(
            "fit.predict(..., se_fit=True) must return a DataFrame with columns 'fit' and 'se_fit'"
        )
    if len(out) != len(frame):
        raise ValueError(f"fit.predict returned {len(out)} rows for {len(frame)} grid cells")
    eta = out["fit"].to_numpy(dtype=float)
    se = out["se_fit"].to_numpy(dtype=float)
    if not (np.isfinite(eta).all() and np.isfinite(se).all()):
        raise ValueError(
            "fit.predict returned non-finite fit/se_fit at "
            f"{int((~np.isfinite(eta) | ~np.isfinite(se)).sum())} grid cells"
        )
    if (se < 0).any():
        raise ValueError("fit.predict returned negative standard errors")
    return eta, se


