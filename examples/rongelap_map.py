"""The main job: map gamma-ray count rates on Rongelap Island and export them for GIS.

Fits mgcv's Gaussian-process smooth to the 157 counts with exposure (counting time):

    counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time)),  Poisson

predicts the rate (counts per second, i.e. offset 0) on the 150 x 75 grid over the coastline
buffered by 50 m (1612 cells, as sf's st_make_grid), and writes

    outputs/rongelap_rate.tif   float32 GeoTIFF: estimate, se, lower, upper, P(rate > 10)
    outputs/rongelap_rate.png   the map of the rate and its standard error, coastline drawn
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import spatialgamm as sg  # noqa: E402

out = Path("outputs")
rongelap = sg.datasets.load_rongelap()
coast = sg.datasets.load_rongelap_coastline()

fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", rongelap,
             family="poisson")
print(fit.summary())

grid = sg.predict_grid(fit, coast, n=(150, 75), buffer=50, exceedance=[10.0],
                       units="counts/s")
tif = grid.to_geotiff(out / "rongelap_rate.tif")
fig = sg.plot_estimate_se(grid, polygon=coast, data=rongelap[["cX", "cY"]])
png = sg.save_figure(fig, out / "rongelap_rate.png")

est = grid.cells.loc[grid.cells["inside"], "estimate"]
print()
print("model:     Poisson GP smooth (mgcv bs='gp', k=50, Matern 3/2), offset log(time), "
      f"{fit.state.method}")
print(f"grid:      {grid.shape[1]} x {grid.shape[0]} cells, {len(grid.cells)} predicted "
      "(intersecting the coastline buffered by 50 m)")
print(f"rate:      {est.min():.2f} to {est.max():.2f} counts/s inside the coastline "
      "(per unit exposure: offset 0)")
print(f"files:     {tif}\n           {png}")
