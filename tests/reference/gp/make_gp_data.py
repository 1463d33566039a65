"""Simulate the data sets the glmmTMB reference fits (glmmtmb_exp.R) are run on.

Run from the repository root: ``python tests/reference/gp/make_gp_data.py``. Fixed seeds;
the fields are exact draws of exponential-covariance Gaussian processes (Cholesky of the
covariance matrix), written with full precision so R and Python read the same numbers.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def exp_field(rng, xy, range_, sd):
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    K = sd ** 2 * np.exp(-d / range_)
    return np.linalg.cholesky(K + 1e-12 * np.eye(len(xy))) @ rng.standard_normal(len(xy))


def main():
    rng = np.random.default_rng(20240601)
    # Poisson, one observation per site: range 2, sd 0.7 on a 10 x 10 square
    n = 150
    xy = rng.uniform(0, 10, (n, 2))
    x = rng.normal(size=n)
    f = exp_field(rng, xy, 2.0, 0.7)
    y = rng.poisson(np.exp(1.0 + 0.3 * x + f))
    pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x, "y": y}).to_csv(
        HERE / "gp_pois.csv", index=False, float_format="%.17g")
    # Poisson with exposure and a nugget (site-level iid effect, sd 0.3)
    n = 120
    xy = rng.uniform(0, 10, (n, 2))
    time = rng.uniform(1, 5, n)
    f = exp_field(rng, xy, 1.5, 0.6) + rng.normal(0, 0.3, n)
    y = rng.poisson(time * np.exp(0.5 + f))
    pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "time": time, "site": np.arange(1, n + 1),
                  "y": y}).to_csv(HERE / "gp_pois_nugget.csv", index=False, float_format="%.17g")
    # Gaussian, two observations per site: range 1.5, sd 1, residual sd 0.5
    n = 100
    xy = rng.uniform(0, 10, (n, 2))
    f = exp_field(rng, xy, 1.5, 1.0)
    rows = np.repeat(np.arange(n), 2)
    x = rng.normal(size=2 * n)
    z = 2.0 + 0.5 * x + f[rows] + rng.normal(0, 0.5, 2 * n)
    pd.DataFrame({"sx": xy[rows, 0], "sy": xy[rows, 1], "x": x, "z": z}).to_csv(
        HERE / "gp_gauss.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
