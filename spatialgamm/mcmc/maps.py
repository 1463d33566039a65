"""Posterior maps of a :func:`~spatialgamm.mcmc.brm` fit: per grid cell, summaries of the
posterior draws of the response.

For each kept (thinned) posterior draw the linear predictor is computed at every cell centre
(:func:`spatialgamm.mcmc.spatial.eta_new`): the fixed part, plus each field at the cell
(Hilbert-space GPs: the basis at the cell times the draw's weights; spde() fields: the mesh
projector times the draw's node values; exact GPs: a draw from the GP's conditional at the
cell given the draw's site values, so the cell's posterior includes the kriging
uncertainty). Group-level effects are left out (brms's ``re_formula = NA``). The response
draws ``g^-1(eta)`` then give, per cell, the bands of :mod:`spatialgamm.bayes.maps` (the
INLA maps), in the same order and with the same names:

    mean, sd               posterior mean and standard deviation of the response
    q0.025, q0.5, q0.975   posterior quantiles (the median is q0.5)
    p_exceed_<c>           P(response > c | y) for each threshold c (share of draws above c)

These are per-cell (marginal) summaries: the exact-GP draws at different cells are not
joint, so statements about several cells at once (the maximum over an area) need joint
draws, which this module does not make. Monte Carlo error: the bands are averages over
``ndraws`` draws (default 400), e.g. an exceedance probability near 0.5 carries an MCSE of
about 0.025 with 400 independent draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..bayes.maps import PosteriorGrid
from ..spatial.guards import check_grid_cost, warn_extrapolation
from ..spatial.plan import GridOptions, plan_grid
from ..spatial.predict import _assemble
from ..spatial.scale import exceed_band
from ..spatial.tiles import kept_cells

QUANTILES = (0.025, 0.5, 0.975)


@dataclass(eq=False)
class DrawsGrid(PosteriorGrid):
    """A :class:`~spatialgamm.spatial.GridPrediction` whose bands summarise posterior draws
    (module doc); ``ndraws`` draws were used."""

    ndraws: int = 0

    def provenance(self) -> dict[str, str]:
        """The file tags saying which posterior the bands summarise."""
        return {"software": "spatialgamm (brm, NUTS)",
                "posterior": f"summaries of {self.ndraws} posterior draws (MCMC)"}


def draw_summaries(r: np.ndarray, thresholds: Sequence[float]) -> dict[str, np.ndarray]:
    """The bands of the module doc from response draws ``r`` (draws x cells).

    Examples
    --------
    >>> r = np.array([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0], [4.0, 8.0]])
    >>> out = draw_summaries(r, [2.5])
    >>> out["mean"].tolist(), out["p_exceed_2.5"].tolist()
    ([2.5, 6.5], [0.5, 1.0])
    """
    out = {"mean": r.mean(axis=0), "sd": r.std(axis=0, ddof=1)}
    qs = np.quantile(r, QUANTILES, axis=0)
    for p, q in zip(QUANTILES, qs):
        out[f"q{p:g}"] = q
    for c in thresholds:
        out[exceed_band(c)] = np.mean(r > c, axis=0)
    return out


def _check_map_model(fit: Any, names: tuple[str, str]) -> None:
    """Maps need every column the model's fixed part and fields use to be a coordinate."""
    needed = set(fit.model.fixed_columns())
    for f in fit.fields:
        if hasattr(f, "part"):
            needed |= set(f.part.covars)
            if f.part.by is not None:
                needed.add(f.part.by)
        else:
            needed |= set(f.variables)
    extra = sorted(needed - set(names))
    if extra:
        raise ValueError(f"predict_grid: the model uses columns {extra} besides the "
                         f"coordinates {names}; a grid only has the coordinates")


def posterior_grid(fit: Any, polygon: Any, n: Any = None, *, cellsize: Any = None,
                   buffer: float = 0.0, exceedance: Sequence[float] | None = None,
                   offset: float = 0.0, coords: Sequence[str] | None = None,
                   crs: Any = None, crop: bool = True, units: str | None = None,
                   chunk_size: int = 5_000, ndraws: int = 400, seed: int = 0,
                   extrapolate: bool = False, allow_large: bool = False) -> DrawsGrid:
    """Posterior maps of a brm() fit over a grid on a polygon, from its draws.

    The grid, cell selection, checks and GeoTIFF writing are
    :func:`spatialgamm.predict_grid`'s (same arguments); the bands are the module doc's.
    ``offset=0`` maps the rate per unit exposure (log link: ``exp(eta)`` without the
    offset). ``ndraws`` evenly thinned posterior draws are used (all when fewer).

    Examples
    --------
    >>> grid = fit.predict_grid(coast, n=(150, 75), buffer=50,
    ...                         exceedance=[10.0])  # doctest: +SKIP
    >>> grid.to_geotiff("rongelap_brm.tif")  # doctest: +SKIP
    """
    from .fit import thin_index
    from .spatial import eta_new, raw_draws

    if not fit.fields:
        raise ValueError("predict_grid needs a model with a gp() / hsgp() / spde() field")
    if not (isinstance(ndraws, (int, np.integer)) and ndraws >= 1):
        raise ValueError(f"ndraws must be a positive integer, got {ndraws!r}")
    opts = GridOptions(buffer=buffer, type="response", level=0.95, exceedance=exceedance,
                       coords=coords, covariates=None, offset=offset, crop=crop, crs=crs,
                       chunk_size=chunk_size, units=units, extrapolate=extrapolate)
    plan = plan_grid(fit, polygon, n, cellsize, opts)
    _check_map_model(fit, plan.names)
    check_grid_cost(plan.spec, plan.buffered, 5 + len(plan.thresholds), bool(allow_large))
    i, j, inside = kept_cells(plan)
    if len(i) == 0:
        raise ValueError("no grid cell intersects the polygon")
    x, y = plan.spec.centroids(i, j)
    warn_extrapolation(plan.extent, x, y, plan.extrapolate)
    draws = raw_draws(fit.idata, fit.density)
    draws = draws[thin_index(len(draws), ndraws)]
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {}
    for lo in range(0, len(x), plan.chunk_size):
        sl = slice(lo, min(lo + plan.chunk_size, len(x)))
        frame = pd.DataFrame({plan.names[0]: x[sl], plan.names[1]: y[sl]})
        eta = eta_new(fit.density, fit.model, frame, draws, rng, plan.offset)
        r = plan.link.linkinv(eta)
        for k, v in draw_summaries(r, plan.thresholds).items():
            values.setdefault(k, []).append(v)
    cat = {k: np.concatenate(v) for k, v in values.items()}
    has_offset = bool(np.any(fit.model.offset != 0))
    g = _assemble(plan.spec, i, j, x, y, inside, cat, plan.names,
                  dict(crs=plan.crs, type="response", level=0.95, offset=plan.offset,
                       exceedance=plan.thresholds, link=plan.link_name, polygon=plan.area,
                       buffer=float(buffer), crop=bool(crop), units=units,
                       grid={"n": n, "cellsize": cellsize}, has_offset=has_offset))
    return DrawsGrid(**{f: getattr(g, f) for f in g.__dataclass_fields__}, ndraws=len(draws))
