"""Posterior maps of the INLA-style fit (issue 15, item 3).

With the hyperparameters fixed the posterior of a cell's linear predictor is one Gaussian
N(m, v), so the rate exp(eta) is lognormal: mean exp(m + v/2), sd mean * sqrt(exp(v) - 1),
quantiles exp(m + z_p sqrt(v)), P(rate > c) = 1 - Phi((log c - m) / sqrt(v)) (closed forms
computed here). m and v at a data location are the fit's linear predictor there minus the
offset (INLA's summary.linear.predictor), so a grid cell centred on a data site must carry
those numbers. With the hyperparameters integrated, the bands must be the mixture's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

from spatialgamm.bayes import inla
from spatialgamm.bayes.maps import cell_posteriors, response_summaries
from spatialgamm.mesh import Mesh


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(8)
    mesh = Mesh.build(boundary=shapely.box(0, 0, 6, 6), max_edge=(1.0, 2.5), offset=(0, 1.5))
    xy = rng.uniform(0.3, 5.7, (80, 2))
    field = 0.6 * np.sin(xy[:, 0] / 1.5) * np.cos(xy[:, 1] / 2.0)
    expo = rng.uniform(0.5, 2.0, 80)
    d = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "t": expo,
                      "c": rng.poisson(expo * np.exp(1.0 + field))})
    return mesh, d


def test_cells_at_data_sites_are_lognormal_closed_forms(counts):
    mesh, d = counts
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", E="t",
               prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.05), fixed_theta=[0.3, -0.5])
    mix = cell_posteriors(fit, d[["x", "y"]].iloc[:10], offset=0.0)
    lp = fit.summary_linear_predictor.iloc[:10]
    m = lp["mean"].to_numpy() - np.log(d["t"].to_numpy()[:10])
    v = lp["sd"].to_numpy() ** 2
    np.testing.assert_allclose(mix.means[0], m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mix.variances[0], v, rtol=1e-8)
    bands = response_summaries(mix, fit.family.link, [3.0])
    mean = np.exp(m + v / 2)
    np.testing.assert_allclose(bands["mean"], mean, rtol=1e-8)
    np.testing.assert_allclose(bands["sd"], mean * np.sqrt(np.expm1(v)), rtol=1e-7)
    for p in (0.025, 0.5, 0.975):
        np.testing.assert_allclose(bands[f"q{p:g}"], np.exp(m + stats.norm.ppf(p) * np.sqrt(v)),
                                   rtol=1e-8)
    np.testing.assert_allclose(bands["p_exceed_3"],
                               stats.norm.sf((np.log(3.0) - m) / np.sqrt(v)), rtol=1e-8,
                               atol=1e-14)


def test_posterior_grid_mixture_bands_and_geotiff(counts, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    mesh, d = counts
    fit = inla("c ~ spde(x, y, mesh=mesh)", d, family="poisson", E="t",
               prior_range=(1.0, 0.5), prior_sigma=(1.0, 0.05))
    grid = fit.predict_grid(shapely.box(0.5, 0.5, 5.5, 5.5), n=(12, 12), exceedance=[3.0],
                            units="counts per unit time")
    assert grid.bands == ("mean", "sd", "q0.025", "q0.5", "q0.975", "p_exceed_3")
    tab = grid.table
    frame = pd.DataFrame({"x": tab["x"][:5], "y": tab["y"][:5]})
    mix = cell_posteriors(fit, frame, 0.0)
    # the mixture over the design's points, by Monte Carlo from its components
    rng = np.random.default_rng(0)
    k = rng.choice(len(mix.weights), size=400_000, p=mix.weights)
    eta = mix.means[k] + np.sqrt(mix.variances[k]) * rng.normal(size=(400_000, 1))
    rate = np.exp(eta)
    np.testing.assert_allclose(tab["mean"][:5], rate.mean(axis=0), rtol=5e-3)
    np.testing.assert_allclose(tab["q0.5"][:5], np.median(rate, axis=0), rtol=5e-3)
    np.testing.assert_allclose(tab["p_exceed_3"][:5], (rate > 3).mean(axis=0), atol=4e-3)
    assert np.all(tab["q0.025"] <= tab["q0.5"]) and np.all(tab["q0.5"] <= tab["q0.975"])
    path = grid.to_geotiff(tmp_path / "post.tif")
    with rasterio.open(path) as src:
        assert src.descriptions == grid.bands
        tags = src.tags()
        assert "posterior median" in tags["band_q0.5"]
        assert "exceeds 3" in tags["band_p_exceed_3"]
