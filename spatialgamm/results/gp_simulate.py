"""Joint conditional simulation of a fit's linear predictor at new points
(``fit.simulate_field``): regional totals and exceedance of a region."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..terms.base import Ability


def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    """A square root ``R`` with ``R R' = C`` of a covariance that may be singular."""
    d, U = np.linalg.eigh(0.5 * (C + C.T))
    return U * np.sqrt(np.clip(d, 0, None))


def _check(newdata: pd.DataFrame, n: int, type: str, max_points: int) -> None:
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if len(newdata) > max_points:
        raise ValueError(f"{len(newdata)} points exceed max_points={max_points}: joint draws "
                         "need a dense covariance over the points; use fewer points or raise "
                         "max_points")


def _field_draws(fit, newdata: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """Each field's variation at the new points given the fitted coefficients (kriging
    covariance, or its variance where the term gives only that), summed over terms."""
    st = fit.state
    sysl = st.system
    out = np.zeros((len(newdata), n))
    for k, blk in enumerate(fit.spec.blocks):
        term = blk.term
        phi = sysl.block_phi(st.phi, k)
        if term is None:
            continue
        if term.has(Ability.FIELD_COVARIANCE):
            Xc, rows = term.new_coords(newdata)
            C = term.field_covariance(Xc, phi, st.scale)
            out[rows] += _psd_sqrt(C) @ rng.standard_normal((len(rows), n))
        elif term.has(Ability.KRIGING_VARIANCE):
            v = term.extra_variance(newdata, phi, st.scale)
            out += np.sqrt(v)[:, None] * rng.standard_normal((len(newdata), n))
    return out


def simulate_field(fit, newdata: pd.DataFrame, n: int = 100, seed: int | None = None,
                   type: str = "link", offset: Any = None, max_points: int = 8000
                   ) -> np.ndarray:
    """Joint draws of the linear predictor (or mean) at new points, given the data.

    Draws ``(beta, b)`` from their joint posterior (the covariance behind ``se_fit``) and,
    for each GP term, the field at the new points given the site effects (kriging
    covariance), so the draws carry the joint uncertainty a map's pointwise standard
    errors do not: sum a draw over a region for a regional total, or count the draws that
    exceed a threshold everywhere in a region.

    Parameters
    ----------
    newdata : DataFrame
        Points (with the coordinate columns, covariates and offset variables).
    n : int
        Number of draws.
    type : {'link', 'response'}
    offset : optional
        As in ``predict`` (``offset=0.0`` simulates per unit exposure).
    max_points : int
        The draws need a dense covariance over the points: refuse more than this.

    Returns
    -------
    ndarray, shape (len(newdata), n)

    Examples
    --------
    >>> import spatialgamm as sg
    >>> topo = sg.datasets.load_topo()
    >>> fit = sg.fit("z ~ 1 + gp(x, y, kernel='matern32')", topo, method="ML")
    >>> grid_points = topo[["x", "y"]].iloc[:10]
    >>> sims = fit.simulate_field(grid_points, n=500, seed=1)
    >>> sims.shape
    (10, 500)
    >>> totals = sims.sum(axis=0)
    """
    from .predict import _offset_for, design_rows, joint_covariance

    _check(newdata, n, type, max_points)
    rng = np.random.default_rng(seed)
    st = fit.state
    X, Z = design_rows(fit, newdata, population=False)
    off = _offset_for(fit, newdata, offset)
    cov = st.joint_cov
    if cov is None:
        cov = joint_covariance(fit)
        st.joint_cov = cov
    mean = np.concatenate([st.beta, st.b])
    R = _psd_sqrt(cov)
    theta = mean[:, None] + R @ rng.standard_normal((len(mean), n))
    Zd = Z.toarray() if hasattr(Z, "toarray") else np.asarray(Z)
    eta = off[:, None] + X @ theta[:X.shape[1]] + Zd @ theta[X.shape[1]:]
    eta += _field_draws(fit, newdata, n, rng)
    return eta if type == "link" else fit.family.link.linkinv(eta)
