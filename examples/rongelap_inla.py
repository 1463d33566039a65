"""Rongelap the INLA way: the Poisson SPDE model integrated over its hyperparameters.

The INLA chapter's model (Moraga 2019, "Geospatial health data", ch. 8 uses the same recipe):

    counts ~ Poisson(time * exp(b0 + u(s))),   u an SPDE Matern field, alpha = 3/2,

``inla(counts ~ f(s, model = spde), E = time, family = "poisson")`` with PC priors on the
field, ``P(range < 100 m) = 0.5`` and ``P(sigma > 1) = 0.01``. The mesh follows the
coastline buffered by 50 m with ``max.edge = c(300, 600)`` and a 1 km outer extension, as
examples/rongelap_spde.py. The three maps of the chapter, integrated over (range, sigma):
the posterior mean rate (counts per second: offset 0), its 2.5% and 97.5% quantiles, and
the exceedance probability P(rate > 10 | y), written as

    outputs/rongelap_inla.tif   float32 GeoTIFF, bands mean, sd, q0.025, q0.5, q0.975,
                                p_exceed_10 (described in the file's tags)
    outputs/rongelap_inla.png   the four maps

and compared with the plug-in Laplace fit (range and sigma fixed at their estimates).
"""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import shapely  # noqa: E402

import spatialgamm as sg  # noqa: E402
from spatialgamm.bayes import inla  # noqa: E402
from spatialgamm.mesh import Mesh  # noqa: E402

out = Path("outputs")
rongelap = sg.datasets.load_rongelap()
coast = sg.datasets.load_rongelap_coastline()

boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
mesh = Mesh.build(rongelap[["cX", "cY"]], boundary=boundary, max_edge=(300, 600),
                  offset=(100, 1000), cutoff=20)

t0 = time.perf_counter()
plug = sg.fit("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5) + offset(log(time))", rongelap,
              family="poisson")
t_plug = time.perf_counter() - t0
t0 = time.perf_counter()
fit = inla("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5)", rongelap, family="poisson",
           E="time", prior_range=(100.0, 0.5), prior_sigma=(1.0, 0.01),
           control_compute={"dic": True, "waic": True, "cpo": True})
t_inla = time.perf_counter() - t0
print(fit.summary())
print()
print(fit.prior_summary().to_string(index=False))

grid = fit.predict_grid(coast, n=(150, 75), buffer=50, exceedance=[10.0], units="counts/s")
tif = grid.to_geotiff(out / "rongelap_inla.tif")

fig, axes = plt.subplots(4, 1, figsize=(9, 14), layout="compressed")
for ax, band, title in zip(axes, ["mean", "q0.025", "q0.975", "p_exceed_10"],
                           ["Rate, posterior mean (counts/s)", "2.5% posterior quantile",
                            "97.5% posterior quantile", "P(rate > 10 counts/s | y)"]):
    sg.plot_map(grid, band, ax=ax, polygon=coast, data=rongelap[["cX", "cY"]], title=title)
png = sg.save_figure(fig, out / "rongelap_inla.png")

cells = grid.cells[grid.cells["inside"]]
print()
print(f"plug-in:   range {float(plug.range):.1f} m, sigma {float(plug.sigma_field):.3f}, "
      f"{t_plug:.1f} s")
print(f"inla:      {len(fit.points)} integration points, {fit.theta.evaluations} Laplace "
      f"evaluations, {t_inla:.1f} s ({t_inla / t_plug:.1f} x the plug-in fit)")
print(f"grid:      {len(grid.cells)} cells; posterior mean rate {cells['mean'].min():.2f} to "
      f"{cells['mean'].max():.2f} counts/s inside the coastline")
print(f"           P(rate > 10) > 0.5 in {int((cells['p_exceed_10'] > 0.5).sum())} cells, "
      f"> 0.95 in {int((cells['p_exceed_10'] > 0.95).sum())}")
print(f"files:     {tif}\n           {png}")
