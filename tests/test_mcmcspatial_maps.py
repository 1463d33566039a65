"""Posterior maps of brm() fits with latent fields (spatialgamm.mcmc.maps): the band layout of
the INLA maps, GeoTIFF export through the safe writer (band descriptions and values read
back), the per-cell summaries against their definitions, and the new-data path of each
field against the in-sample linear predictor (basis / projector / kriging at the data
sites must reproduce it)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from spatialgamm.mcmc import brm
from spatialgamm.mcmc.api import all_priors
from spatialgamm.mcmc.engine_adapter import model_data
from spatialgamm.mcmc.gp_terms import split_gp_terms
from spatialgamm.mcmc.maps import draw_summaries
from spatialgamm.mcmc.spatial import build_fields, eta_new
from spatialgamm.mcmc.spatial_density import make_field_density
from spatialgamm.mesh import Mesh

RNG = np.random.default_rng(3)
N = 50
XY = RNG.uniform(0, 10, size=(N, 2))
DATA = pd.DataFrame({"cx": XY[:, 0], "cy": XY[:, 1], "t": RNG.uniform(1, 2, N)})
DATA["y"] = RNG.poisson(DATA["t"] * np.exp(0.5 + np.sin(DATA["cx"] / 2)))
MESH = Mesh.build(boundary=shapely.box(-1, -1, 11, 11), max_edge=2.0, offset=(0, None))
SQUARE = shapely.box(0, 0, 10, 10)


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return brm("y ~ gp(cx, cy, k = 6) + offset(log(t))", DATA, family="poisson",
                   chains=1, iter=100, seed=1, cores=1, progress=False)


def test_grid_bands_follow_the_inla_layout(fit, tmp_path):
    grid = fit.predict_grid(SQUARE, n=(12, 10), exceedance=[2.0, 5.0], ndraws=50)
    assert grid.bands == ("mean", "sd", "q0.025", "q0.5", "q0.975", "p_exceed_2",
                          "p_exceed_5")
    t = grid.table
    assert np.all(t["q0.025"] <= t["q0.5"]) and np.all(t["q0.5"] <= t["q0.975"])
    assert np.all((t["p_exceed_2"] >= t["p_exceed_5"]) & (t["p_exceed_5"] >= 0))
    path = grid.to_geotiff(tmp_path / "map.tif")
    with rasterio.open(path) as src:
        assert src.descriptions == grid.bands
        tags = src.tags()
        assert "posterior draws" in tags["posterior"]
        assert "exceeds 5" in tags["band_p_exceed_5"]
        mean = src.read(1, masked=True)
        assert np.allclose(mean.filled(np.nan), grid.raster["mean"], equal_nan=True,
                           rtol=1e-6)


def test_map_is_the_rate_per_unit_exposure(fit):
    # offset=0 (default): exp(eta) without log(t), averaged over the same thinned draws
    grid = fit.predict_grid(shapely.box(1.5, 2.5, 7.5, 8.5), n=(2, 2), ndraws=50)
    g = pd.DataFrame(grid.table)
    r = fit.posterior_epred(g[["cx", "cy"]], ndraws=50)
    assert np.allclose(g["mean"], r.mean(axis=0), rtol=1e-10)
    assert np.allclose(g["p_exceed_2"] if "p_exceed_2" in g else (r > 2).mean(axis=0),
                       (r > 2).mean(axis=0))


def test_draw_summaries_are_their_definitions():
    r = RNG.gamma(2.0, size=(400, 3))
    out = draw_summaries(r, [1.0])
    assert np.allclose(out["sd"], r.std(axis=0, ddof=1))
    assert np.allclose(out["q0.975"], np.quantile(r, 0.975, axis=0))
    assert np.allclose(out["p_exceed_1"], (r > 1.0).mean(axis=0))


@pytest.mark.parametrize("formula", ["y ~ gp(cx, cy)", "y ~ gp(cx, cy, k = 5)",
                                     "y ~ spde(cx, cy, mesh=mesh)"])
def test_new_data_path_reproduces_the_fitted_linear_predictor(formula):
    base, gps = split_gp_terms(formula)
    env = {"mesh": MESH}
    md = model_data(base, DATA, "poisson", env=env)
    fields, priors = build_fields(md, gps, env, all_priors(md, None))
    den = make_field_density(md, priors, fields)
    x = RNG.normal(size=(3, den.dim)) * 0.5
    for f in den.fields:
        x[:, f.hyper] = np.log([0.8, 0.2]) if hasattr(f, "part") else np.log([3.0, 0.8])
    ours = eta_new(den, md, DATA, x, rng=None)  # exact GP: the kriging mean at the sites
    fitted = np.stack([den.eta(xi) - md.offset for xi in x])
    assert np.allclose(ours, fitted, atol=1e-6)


def test_maps_refuse_models_without_fields_and_other_covariates(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f2 = brm("y ~ t + gp(cx, cy, k = 4)", DATA, family="poisson", chains=1, iter=40,
                 seed=1, cores=1, progress=False)
    with pytest.raises(ValueError, match="coordinates"):
        f2.predict_grid(SQUARE, n=(4, 4), ndraws=5)
    with pytest.raises(ValueError, match="ndraws"):
        fit.predict_grid(SQUARE, n=(4, 4), ndraws=0)
