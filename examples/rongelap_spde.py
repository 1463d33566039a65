"""Rongelap with an SPDE Matern field, set up as INLA's example, mapped with its uncertainty.

The 157 gamma-ray counts with their counting times (the exposure, INLA's ``E``):

    counts ~ Poisson(time * exp(b0 + u(s))),   u an SPDE Matern field, alpha = 3/2

(nu = 1/2, the exponential correlation, through INLA's parsimonious approximation). The mesh
follows the coastline, buffered by 50 m so that the two survey sites just off the digitised
coast are inside, with INLA's ``max.edge = c(300, 600)`` and an outer extension of 1 km
(``offset[1]``; ``offset[0] = 100`` is unused with a boundary, as in INLA). Range and field SD
are estimated by Laplace-approximate REML on the sparse system; the rate (counts per second:
offset 0) is mapped on the 150 x 75 grid over the coastline buffered by 50 m (1612 cells, as
sf's st_make_grid), with standard errors from selected inversion, and written as

    outputs/rongelap_spde.tif   float32 GeoTIFF: estimate, se, lower (2.5%), upper (97.5%),
                                P(rate > 10 counts/s)
    outputs/rongelap_spde.png   the mesh, the rate with its 2.5% and 97.5% bands, P(rate > 10)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import shapely  # noqa: E402

import spatialgamm as sg  # noqa: E402
from spatialgamm.mesh import Mesh  # noqa: E402

out = Path("outputs")
rongelap = sg.datasets.load_rongelap()
coast = sg.datasets.load_rongelap_coastline()

boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
mesh = Mesh.build(rongelap[["cX", "cY"]], boundary=boundary, max_edge=(300, 600),
                  offset=(100, 1000), cutoff=20)
print(mesh.summary())

fit = sg.fit("counts ~ spde(cX, cY, mesh=mesh, alpha=1.5) + offset(log(time))", rongelap,
             family="poisson")
print(fit.summary())

grid = sg.predict_grid(fit, coast, n=(150, 75), buffer=50, exceedance=[10.0],
                       units="counts/s")
tif = grid.to_geotiff(out / "rongelap_spde.tif")

fig, axes = plt.subplots(5, 1, figsize=(9, 17), layout="compressed")
mesh.plot(ax=axes[0], data=rongelap[["cX", "cY"]].to_numpy())
axes[0].set_title(f"Mesh: {mesh.n} nodes (max_edge 300 m inside, 600 m outside)",
                  fontsize="medium")
for ax, band, title in zip(axes[1:], ["estimate", "lower", "upper", "p_exceed_10"],
                           ["Rate (posterior median)", "2.5% band", "97.5% band",
                            "P(rate > 10 counts/s)"]):
    sg.plot_map(grid, band, ax=ax, polygon=coast, data=rongelap[["cX", "cY"]],
                title=title)
png = sg.save_figure(fig, out / "rongelap_spde.png")

cells = grid.cells[grid.cells["inside"]]
west = cells[cells["cX"] < -5000]
print()
print(f"field:     range {fit.range!r}")
print(f"           sigma {fit.sigma_field!r}")
info = fit.spde_info
print(f"fit:       {info['evaluations']} evaluations, {info['factorizations']} numeric "
      f"factorisations of the latent system, {info['prior_factorizations']} of the prior "
      "operator, one symbolic analysis")
print(f"grid:      {grid.shape[1]} x {grid.shape[0]} cells, {len(grid.cells)} predicted")
print(f"rate:      {cells['estimate'].min():.2f} to {cells['estimate'].max():.2f} counts/s "
      f"inside the coastline; west of cX = -5000 m: mean {west['estimate'].mean():.2f}, "
      f"max {west['estimate'].max():.2f}")
print(f"files:     {tif}\n           {png}")
