"""Posterior maps: per grid cell, the posterior of the response integrated over theta.

At each integration point the linear predictor of a cell is Gaussian, ``N(m_k, v_k)``; its
posterior is the mixture ``sum_k w_k N(m_k, v_k)`` (the same as INLA's ``summary.fitted.values``
for a prediction location). For an increasing link ``g`` the response ``r = g^-1(eta)`` has

- quantiles ``g^-1(quantiles of eta)`` (mixture CDF inverted by bisection);
- exceedance probabilities ``P(r > c | y) = sum_k w_k (1 - Phi((g(c) - m_k) / sqrt(v_k)))``;
- mean and sd: closed form for the log link (``E r = sum_k w_k exp(m_k + v_k / 2)``,
  ``E r^2 = sum_k w_k exp(2 m_k + 2 v_k)``), Gauss-Hermite otherwise.

No sampling is needed for these per-cell quantities (functions of one cell's marginal);
joint statements over several cells (e.g. the maximum over an area) would need draws from
the joint posterior, which this module does not offer yet.

The bands, in order (GeoTIFF band descriptions):

    mean, sd          posterior mean and standard deviation of the response
    q0.025, q0.5, q0.975   posterior quantiles (the median is q0.5)
    p_exceed_<c>      P(response > c | y) for each threshold c
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..spatial.geotiff import write_geotiff
from ..spatial.gridprediction import GridPrediction
from ..spatial.guards import check_grid_cost, warn_extrapolation
from ..spatial.plan import GridOptions, plan_grid
from ..spatial.predict import _assemble
from ..spatial.scale import exceed_band
from ..spatial.tiles import kept_cells
from .marginals import GaussianMixture

BAND_DOC = {
    "mean": "posterior mean of the response",
    "sd": "posterior standard deviation of the response",
    "q0.025": "posterior 2.5% quantile of the response",
    "q0.5": "posterior median of the response",
    "q0.975": "posterior 97.5% quantile of the response",
}


@dataclass(eq=False)
class PosteriorGrid(GridPrediction):
    """A :class:`~spatialgamm.spatial.GridPrediction` whose bands are posterior summaries."""

    def provenance(self) -> dict[str, str]:
        """The file tags saying which posterior the bands summarise."""
        return {"software": "spatialgamm (inla)",
                "posterior": "integrated over the hyperparameters (INLA-style CCD/grid)"}

    def to_geotiff(self, path: str | os.PathLike, bands: list[str] | None = None,
                   nodata: float = -9999.0) -> Path:
        """Write the bands as a float32 GeoTIFF, each band described (module doc)."""
        names = list(self.bands) if bands is None else list(bands)
        unknown = [b for b in names if b not in self.raster]
        if unknown:
            raise ValueError(f"bands {unknown} not in this grid; it has {list(self.bands)}")
        tags = {"scale": self.scale_label, "link": self.link,
                "coordinates": ", ".join(self.coords), **self.provenance()}
        for b in names:
            tags[f"band_{b}"] = BAND_DOC.get(b) or (
                f"posterior probability that the response exceeds {b[len('p_exceed_'):]}")
        units = {b: u for b, u in self.band_units().items() if b in names}
        return write_geotiff(path, {b: self.raster[b] for b in names}, self.transform,
                             crs=self.crs, nodata=nodata, units=units, tags=tags)


def cell_posteriors(fit: Any, frame: pd.DataFrame, offset: float) -> GaussianMixture:
    """The mixture of the linear predictor at the rows of ``frame`` (offset ``offset``)."""
    ad = fit.adapter
    X, Z = ad.design_new(frame)
    ms, vs = [], []
    for pt in fit.points:
        m, v = ad.linear_predictor(pt, X, Z)
        ms.append(m + offset)
        vs.append(v)
    return GaussianMixture(np.array(ms), np.array(vs), fit.theta.weights)


def response_summaries(mix: GaussianMixture, link: Any, thresholds: Sequence[float],
                       quantiles: Sequence[float] = (0.025, 0.5, 0.975)) -> dict[str, np.ndarray]:
    """Bands of the module doc from the linear predictor's mixture."""
    out: dict[str, np.ndarray] = {}
    if getattr(link, "name", "") == "log":
        w = mix.weights
        m1 = w @ np.exp(mix.means + 0.5 * mix.variances)
        m2 = w @ np.exp(2 * mix.means + 2 * mix.variances)
    else:
        x, lw = np.polynomial.hermite.hermgauss(30)
        x, gw = np.sqrt(2.0) * x, lw / np.sqrt(np.pi)
        m1 = np.zeros(mix.means.shape[1])
        m2 = np.zeros_like(m1)
        for k, wk in enumerate(mix.weights):
            r = link.linkinv(mix.means[k][:, None] + np.sqrt(mix.variances[k])[:, None] * x)
            m1 += wk * (r @ gw)
            m2 += wk * ((r * r) @ gw)
    out["mean"] = m1
    out["sd"] = np.sqrt(np.maximum(m2 - m1 ** 2, 0.0))
    for p in quantiles:
        out[f"q{p:g}"] = link.linkinv(mix.quantile(p))
    for c in thresholds:
        out[exceed_band(c)] = mix.sf(np.full(mix.means.shape[1], float(link.linkfun(c))))
    return out


def posterior_grid(fit: Any, polygon: Any, n: Any = None, *, cellsize: Any = None,
                   buffer: float = 0.0, exceedance: Sequence[float] | None = None,
                   offset: float = 0.0, coords: Sequence[str] | None = None,
                   crs: Any = None, crop: bool = True, units: str | None = None,
                   chunk_size: int = 20_000, extrapolate: bool = False,
                   allow_large: bool = False) -> PosteriorGrid:
    """Posterior maps of an :class:`~spatialgamm.bayes.InlaFit` over a grid on a polygon.

    The grid, cell selection, checks and GeoTIFF writing are :func:`spatialgamm.predict_grid`'s
    (same arguments); the bands are posterior summaries integrated over the hyperparameters
    (module doc). ``offset=0`` maps the rate per unit exposure.

    Examples
    --------
    >>> grid = fit.predict_grid(coast, n=(150, 75), buffer=50,
    ...                         exceedance=[10.0])  # doctest: +SKIP
    >>> grid.to_geotiff("rongelap_inla.tif")  # doctest: +SKIP
    """
    opts = GridOptions(buffer=buffer, type="response", level=0.95, exceedance=exceedance,
                       coords=coords, covariates=None, offset=offset, crop=crop, crs=crs,
                       chunk_size=chunk_size, units=units, extrapolate=extrapolate)
    plan = plan_grid(fit, polygon, n, cellsize, opts)
    check_grid_cost(plan.spec, plan.buffered, 5 + len(plan.thresholds), bool(allow_large))
    i, j, inside = kept_cells(plan)
    if len(i) == 0:
        raise ValueError("no grid cell intersects the polygon")
    x, y = plan.spec.centroids(i, j)
    warn_extrapolation(plan.extent, x, y, plan.extrapolate)
    values: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(x), plan.chunk_size):
        sl = slice(lo, min(lo + plan.chunk_size, len(x)))
        frame = pd.DataFrame({plan.names[0]: x[sl], plan.names[1]: y[sl]})
        mix = cell_posteriors(fit, frame, plan.offset)
        for k, v in response_summaries(mix, plan.link, plan.thresholds).items():
            values.setdefault(k, []).append(v)
    cat = {k: np.concatenate(v) for k, v in values.items()}
    g = _assemble(plan.spec, i, j, x, y, inside, cat, plan.names,
                  dict(crs=plan.crs, type="response", level=0.95, offset=plan.offset,
                       exceedance=plan.thresholds, link=plan.link_name, polygon=plan.area,
                       buffer=float(buffer), crop=bool(crop), units=units,
                       grid={"n": n, "cellsize": cellsize}, has_offset=plan.has_offset))
    return PosteriorGrid(**{f: getattr(g, f) for f in g.__dataclass_fields__})
