"""mgcv's ginla() and sg.ginla in the same run: simplified INLA marginals of gam coefficients.

    python benchmarks/bench_ginla.py

Cases (all coefficients, nk=16, nb=100, approx=0):

1. Poisson gam on the reference gamSim data (n=300, ``s(x0)+s(x1)+s(x2)+x3``, 29 coefs);
2. binomial gam on MASS's Pima.tr (n=200, ``s(age)+s(bmi)+glu+ped``, 21 coefs);
3. ``int=1``: Poisson ``s(x0)+s(x2)`` (19 coefs) over the 9-point CCD in log sp;
4. Poisson gam, n=5000, four smooths (37 coefs), data simulated here and shared with R.

mgcv's ``ginla(G)`` takes a pre-fit object and fits the REML model itself, so its time
includes the fit; ours is shown both for ``sg.ginla`` alone and with the ``sg.gam`` fit.
Best of two calls each, wall seconds; the R process is started once for all cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spatialgamm as sg  # noqa: E402

REF = Path(__file__).resolve().parent.parent / "tests" / "reference" / "ginla"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(mgcv); library(jsonlite)})
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
out <- list()
for (cs in cases) {
  d <- read.csv(cs$csv)
  fam <- get(cs$family)()
  G <- gam(as.formula(cs$formula), data = d, family = fam, method = "REML", fit = FALSE)
  best <- Inf
  for (r in 1:2) {
    t0 <- proc.time()[["elapsed"]]
    res <- ginla(G, int = cs$int)
    best <- min(best, proc.time()[["elapsed"]] - t0)
  }
  out[[cs$label]] <- list(seconds = best, n_marginals = nrow(res$beta))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def _best(fn, repeats: int = 2) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _large_data(path: Path, n: int = 5000, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4))
    eta = (0.2 * x[:, 0] ** 11 * (10 * (1 - x[:, 0])) ** 6 + np.sin(2 * np.pi * x[:, 1])
           + 0.5 * np.cos(3 * x[:, 2]) - 0.3 * x[:, 3]) / 2 + 0.5
    pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x0": x[:, 0], "x1": x[:, 1],
                  "x2": x[:, 2], "x3": x[:, 3]}).to_csv(path, index=False)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_ginla_"))
    large = tmp / "large.csv"
    _large_data(large)
    cases = [
        {"label": "gamSim Poisson, n=300, 29 coefs", "csv": str(REF / "gamsim_pois.csv"),
         "formula": "y ~ s(x0) + s(x1) + s(x2) + x3", "family": "poisson", "int": 0},
        {"label": "Pima.tr binomial, n=200, 21 coefs", "csv": str(REF / "pima_tr.csv"),
         "formula": "diabetic ~ s(age) + s(bmi) + glu + ped", "family": "binomial", "int": 0},
        {"label": "int=1 CCD (9 points), n=300, 19 coefs", "csv": str(REF / "gamsim_pois.csv"),
         "formula": "y ~ s(x0) + s(x2)", "family": "poisson", "int": 1},
        {"label": "Poisson, n=5000, 37 coefs", "csv": str(large),
         "formula": "y ~ s(x0) + s(x1) + s(x2) + s(x3)", "family": "poisson", "int": 0},
    ]
    spec = tmp / "cases.json"
    spec.write_text(json.dumps(cases))
    rscript = tmp / "bench.R"
    rscript.write_text(R_SCRIPT)
    r_out = json.loads(subprocess.run(["Rscript", str(rscript), str(spec)], check=True,
                                      capture_output=True, text=True).stdout)
    rows = []
    for cs in cases:
        d = pd.read_csv(cs["csv"])
        t_fit, fit = _best(lambda cs=cs, d=d: sg.gam(cs["formula"], d, family=cs["family"],
                                                     method="REML"))
        t_g, g = _best(lambda cs=cs, fit=fit: sg.ginla(fit, int=cs["int"]))
        r = r_out[cs["label"]]
        assert r["n_marginals"] == len(g.names)
        rows.append({"case": cs["label"], "ours_ginla_s": t_g, "ours_fit_s": t_fit,
                     "ours_total_s": t_g + t_fit, "mgcv_ginla_s": r["seconds"],
                     "ratio_total": (t_g + t_fit) / r["seconds"]})
    tab = pd.DataFrame(rows)
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out = Path(__file__).resolve().parent / "results" / "ginla.csv"
    tab.to_csv(out, index=False)


if __name__ == "__main__":
    main()
