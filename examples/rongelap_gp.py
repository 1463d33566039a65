"""Rongelap as Diggle, Tawn & Moyeed (1998) modelled it: a Poisson GLMM with an exponential
Gaussian-process field, a nugget and the counting time as exposure, fitted by Laplace:

    counts ~ 1 + gp(cX, cY, kernel='exponential', nugget=True) + offset(log(time))

Prints the range (metres, exponential convention exp(-d/range)) with its effective range,
sigma, nugget and profile-likelihood intervals; maps the rate (counts per second) on the
150 x 75 grid over the coastline buffered by 50 m; compares the map with mgcv's GP smooth
(`s(cX, cY, bs='gp', k=50)`, mgcv's own predictions on the same grid, from
tests/reference/); and uses conditional simulation for the island-wide mean rate, which
pointwise standard errors cannot give. Writes

    outputs/rongelap_gp.png   rate and standard error
    outputs/rongelap_gp.tif   GeoTIFF: estimate, se, lower, upper, P(rate > 10)
"""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import spatialgamm as sg  # noqa: E402

out = Path("outputs")
ref = Path(__file__).resolve().parents[1] / "tests" / "reference"
rongelap = sg.datasets.load_rongelap()
coast = sg.datasets.load_rongelap_coastline()

t0 = time.perf_counter()
fit = sg.fit("counts ~ 1 + gp(cX, cY, kernel='exponential', nugget=True) + offset(log(time))",
             rongelap, family="poisson", method="ML")
seconds = time.perf_counter() - t0
p = fit.gp_params.iloc[0]
print(f"Laplace ML fit in {seconds:.2f} s; log-likelihood {fit.loglik:.3f}")
print(f"intercept (log counts/s): {fit.fixef.iloc[0]:.4f} (SE {fit.se.iloc[0]:.4f})")
print(f"range  {p['range']:.1f} m   [{p['range_convention']}]")
print(f"effective range (correlation 0.05) {p['effective_range']:.0f} m, "
      f"(0.14) {p['effective_range_014']:.0f} m")
print(f"sigma  {p['sigma']:.4f}   nugget SD {p['nugget']:.4f}")
t0 = time.perf_counter()
print(fit.confint(["range", "sigma", "nugget"]).round(4))
print(f"(profile intervals in {time.perf_counter() - t0:.1f} s)")

grid = sg.predict_grid(fit, coast, n=(150, 75), buffer=50, exceedance=[10.0],
                       units="counts/s")
tif = grid.to_geotiff(out / "rongelap_gp.tif")
fig = sg.plot_estimate_se(grid, polygon=coast, data=rongelap[["cX", "cY"]])
png = sg.save_figure(fig, out / "rongelap_gp.png")

# mgcv's GP smooth on the same 1612 cells (R's own predictions; tests/reference/README.md)
mgcv = pd.read_csv(ref / "rongelap_grid_mgcv_ubre_default.csv")
cells = grid.cells
assert np.allclose(cells["cX"], mgcv["cX"]) and np.allclose(cells["cY"], mgcv["cY"])
gp_rate, mg_rate = cells["estimate"].to_numpy(), mgcv["response"].to_numpy()
corr = np.corrcoef(gp_rate, mg_rate)[0, 1]
print(f"\nmap vs mgcv s(cX, cY, bs='gp', k=50): correlation {corr:.3f}, median |log ratio| "
      f"{np.median(np.abs(np.log(gp_rate / mg_rate))):.3f}; the full-rank field with a "
      "nugget is rougher than the 49-function smooth")

# island-wide mean rate with its uncertainty: joint draws over a coarse grid of the island
coarse = sg.predict_grid(fit, coast, n=(60, 30), buffer=0)
pts = coarse.cells.loc[coarse.cells["inside"], ["cX", "cY"]]
sims = fit.simulate_field(pts, n=500, seed=1, type="response", offset=0.0)
mean_rate = sims.mean(axis=0)
print(f"island mean rate {mean_rate.mean():.2f} counts/s, 95% interval "
      f"{np.quantile(mean_rate, 0.025):.2f} to {np.quantile(mean_rate, 0.975):.2f} "
      f"({len(pts)} points, 500 conditional draws)")
print(f"files: {tif}\n       {png}")
