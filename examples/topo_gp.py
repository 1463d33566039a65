"""Gaussian geostatistics on MASS's `topo` (52 elevations): a GP with estimated range.

Fits, by maximum likelihood (so the AICs compare covariance models),

    z ~ 1 + gp(x, y, kernel='exp_quad')     squared exponential
    z ~ 1 + gp(x, y, kernel='matern', nu=1.5)
    z ~ 1 + gp(x, y, kernel='matern', nu='estimate')

prints each fit's range (with its convention and the effective ranges), sigma and AIC,
profile-likelihood intervals for the best one, and maps its kriging surface and standard
error over the 6.5 x 6.5 survey square (units of 50 feet; elevation in feet):

    outputs/topo_gp.png
"""

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
from shapely.geometry import box  # noqa: E402

import spatialgamm as sg  # noqa: E402

out = Path("outputs")
topo = sg.datasets.load_topo()

models = {
    "exp_quad": "z ~ 1 + gp(x, y, kernel='exp_quad')",
    "matern 3/2": "z ~ 1 + gp(x, y, kernel='matern', nu=1.5)",
    "matern nu estimated": "z ~ 1 + gp(x, y, kernel='matern', nu='estimate')",
}
fits, rows = {}, []
for label, formula in models.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sg.fit(formula, topo, method="ML")
    fits[label] = fit
    p = fit.gp_params.iloc[0]
    rows.append({"model": label, "range": p["range"], "nu": p["nu"], "sigma": p["sigma"],
                 "residual_sd": fit.sigma, "effective_range_0.05": p["effective_range"],
                 "logLik": fit.loglik, "df": fit.n_params, "AIC": fit.aic})
table = pd.DataFrame(rows).set_index("model").sort_values("AIC")
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
print(table.round(3))
best_label = table.index[0]
best = fits[best_label]
print(f"\nbest by AIC: {best_label}; range convention: "
      f"{best.gp_params['range_convention'].iloc[0]}")
print(best.confint(["range", "sigma"]).round(3))

square = box(0, 0, 6.5, 6.5)
grid = sg.predict_grid(best, square, n=(65, 65), type="link", units="feet")
fig = sg.plot_estimate_se(grid, polygon=square, data=topo[["x", "y"]])
png = sg.save_figure(fig, out / "topo_gp.png")
est = grid.cells["estimate"]
print(f"\nkriged elevation {est.min():.0f} to {est.max():.0f} ft; map: {png}")
