"""A space-time disease map: a te() field with an exposure offset, mapped at two times.

Simulated data with a known truth (the design of tests/reference/mgcvst, where the same
model is checked against mgcv): 3,000 case counts at points in a 100 x 80 km region over ten
years, each with its population at risk. The log rate per 1,000 people is a hotspot that
moves east by 5 km a year on a trend rising 6% a year:

    log rate = log(1000) - 7 + 1.5 exp(-((x - 20 - 5 t)^2 + (y - 40)^2) / (2 * 12^2)) + 0.06 t

The model is mgcv's space-time tensor product, a 2-D thin-plate margin in (x, y) and a cubic
regression margin in t, with one smoothing parameter each, chosen by UBRE:

    cases ~ te(x, y, t, d=c(2,1), bs=c('tp','cr'), k=c(25,5)) + offset(log(pop / 1000))

``predict_grid`` maps the rate per 1,000 people (offset 0) over the region at t = 2 and
t = 7; the script writes

    outputs/spacetime_rate.tif  float32 GeoTIFF, 6 bands: estimate, se and P(rate > 2 per
                                1,000) at t = 2, then at t = 7 (band descriptions say which)
    outputs/spacetime_rate.png  the two estimate maps and their standard errors

and reports how well the map recovers the truth (correlation on the log scale, and the
coverage of the 95% intervals at the cell centres).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from shapely.geometry import Polygon  # noqa: E402

import spatialgamm as sg  # noqa: E402
from spatialgamm.spatial import write_geotiff  # noqa: E402

TIMES = (2, 7)
THRESHOLD = 2.0  # cases per 1,000 people


def log_rate(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The true log rate per 1,000 people."""
    hot = np.exp(-((x - 20 - 5 * t) ** 2 + (y - 40) ** 2) / (2 * 12.0 ** 2))
    return np.log(1000.0) - 7 + 1.5 * hot + 0.06 * t


def simulate(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 80, n)
    t = rng.integers(0, 10, n)
    pop = np.round(np.exp(rng.normal(np.log(5000), 0.8, n)))
    cases = rng.poisson(pop / 1000 * np.exp(log_rate(x, y, t)))
    return pd.DataFrame({"x": x, "y": y, "t": t, "pop": pop, "cases": cases})


def main(out: Path = Path("outputs")) -> dict:
    d = simulate()
    region = Polygon([(0, 0), (100, 0), (100, 80), (0, 80)])
    fit = sg.gam("cases ~ te(x, y, t, d=c(2,1), bs=c('tp','cr'), k=c(25,5)) "
                 "+ offset(log(pop / 1000))", d, family="poisson")
    print(fit.summary())

    grids = {t: sg.predict_grid(fit, region, cellsize=2.0, coords=("x", "y"),
                                covariates={"t": t}, exceedance=[THRESHOLD],
                                units="cases per 1,000") for t in TIMES}
    bands, units = {}, {}
    for t, g in grids.items():
        for b in ("estimate", "se", f"p_exceed_{THRESHOLD:g}"):
            bands[f"{b}_t{t}"] = g.raster[b]
            units[f"{b}_t{t}"] = "probability" if b.startswith("p_") else "cases per 1,000"
    g0 = grids[TIMES[0]]
    tif = write_geotiff(out / "spacetime_rate.tif", bands, g0.transform, crs=g0.crs,
                        units=units, tags={"model": fit.spec.formula.text,
                                           "times": ",".join(map(str, TIMES))})

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for row, (t, g) in enumerate(grids.items()):
        sg.plot_map(g, "estimate", ax=axes[row, 0], title=f"rate per 1,000, t = {t}")
        sg.plot_map(g, "se", ax=axes[row, 1], cmap="magma", title=f"standard error, t = {t}")
    png = sg.save_figure(fig, out / "spacetime_rate.png")

    # recovery of the truth at the cell centres
    stats = {}
    for t, g in grids.items():
        c = g.table
        truth = np.exp(log_rate(c["x"], c["y"], np.full(len(c["x"]), t)))
        ok = np.isfinite(c["estimate"])
        cover = np.mean((c["lower"][ok] <= truth[ok]) & (truth[ok] <= c["upper"][ok]))
        r = np.corrcoef(np.log(c["estimate"][ok]), np.log(truth[ok]))[0, 1]
        stats[t] = (r, cover)
    print()
    print(f"fit:    {fit.state.method}, edf {fit.edf_total:.1f}, sp {np.round(fit.sp.values, 4)}")
    for t, (r, cover) in stats.items():
        print(f"t = {t}:  correlation of log rate with the truth {r:.3f}; "
              f"95% intervals cover the truth at {100 * cover:.0f}% of cells")
    print(f"files:  {tif}\n        {png}")
    return stats


if __name__ == "__main__":
    main()
