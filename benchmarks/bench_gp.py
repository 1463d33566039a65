"""Gaussian-process random effects: exact GP GLMMs against glmmTMB's exp(), and HSGP at scale.

    python benchmarks/bench_gp.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases (simulated with fixed seeds into benchmarks/_data/, parameters in the .json beside each
CSV; fields are exact draws of exponential-covariance GPs, range 2 and SD 0.7 on a 10 x 10
square, counts Poisson with a covariate):

    gp_pois_400      y ~ x + gp(sx, sy, kernel='exponential'), 400 sites, Laplace ML;
                     R peer glmmTMB y ~ x + exp(pos + 0 | group), same CSV, same run
    gp_pois_2000     the same with 2,000 sites (glmmTMB: hours; not run)
    hsgp_gauss_100k  z ~ x + hsgp(sx, sy, m=20, c=1.25, kernel='matern32'), Gaussian REML,
                     100,000 points (skipped by --quick): the cross-products strategy
    hsgp_m50_topo    z ~ 1 + hsgp(x, y, m=50, c=1.25), Gaussian REML, MASS's topo (52 points,
                     2,500 basis functions): the n x n form; its warning says c= is short

Each Python fit is checked against the peer when both ran (log-likelihoods must agree to
1e-3), so the ratio compares the same model. Times: Python the median of --repeats fits for
the 400-site case (the first fit, untimed, is the warm-up), one fit for the large ones;
glmmTMB one fit. Python runs with one BLAS thread, as R here (reference BLAS): on a shared
2-core machine threaded BLAS on these small dense matrices is also much slower.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import Result, parse_args, time_call
from _record import record
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "_data"
RESULTS_MD = ROOT / "BENCHMARKS.md"

R_PEER = r"""
suppressMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$pos <- numFactor(d$sx, d$sy)
d$group <- factor(1)
t <- system.time(m <- glmmTMB(y ~ x + exp(pos + 0 | group), data = d, family = poisson))
cat(toJSON(list(seconds = unname(t["elapsed"]), logLik = as.numeric(logLik(m)),
                range = exp(getME(m, "theta")[2]),
                glmmTMB = as.character(packageVersion("glmmTMB"))), auto_unbox = TRUE,
           digits = NA), "\n")
"""


def _exp_field(rng: np.random.Generator, xy: np.ndarray, range_: float, sd: float
               ) -> np.ndarray:
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    K = np.exp(-d / range_)
    K[np.diag_indices(len(xy))] += 1e-10
    return sd * np.linalg.cholesky(K) @ rng.standard_normal(len(xy))


def gp_poisson_csv(n_sites: int) -> Path:
    """Poisson counts on ``n_sites`` sites with an exponential GP field (cached CSV)."""
    path = DATA / f"gp_pois_{n_sites}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6000 + n_sites)
    xy = rng.uniform(0, 10, (n_sites, 2))
    x = rng.normal(size=n_sites)
    f = _exp_field(rng, xy, 2.0, 0.7)
    y = rng.poisson(np.exp(1.0 + 0.3 * x + f))
    tmp = path.with_suffix(".tmp")
    pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x, "y": y}).to_csv(
        tmp, index=False, float_format="%.17g")
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(
        {"n_sites": n_sites, "kernel": "exponential", "range": 2.0, "sd": 0.7,
         "beta": [1.0, 0.3], "seed": 6000 + n_sites}))
    return path


def hsgp_gauss_csv(n: int = 100_000) -> Path:
    """Gaussian data on ``n`` points: a smooth field (random Fourier features of a Matern
    3/2 with length-scale 1.5 in the sqrt(2 nu) d / l convention, i.e. range 1.5 / sqrt(3) =
    0.866 in ours, on a 10 x 10 square), a covariate and noise SD 0.5 (cached CSV)."""
    path = DATA / f"hsgp_gauss_{n}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7000)
    xy = rng.uniform(0, 10, (n, 2))
    # Matern 3/2 spectral draw: omega = g / sqrt(chi2_3 / 3) / range, g ~ N(0, I_2)
    J = 500
    omega = rng.standard_normal((J, 2)) / np.sqrt(rng.chisquare(3, (J, 1)) / 3) / 1.5
    phase = rng.uniform(0, 2 * np.pi, J)
    f = np.sqrt(2.0 / J) * np.cos(xy @ omega.T + phase) @ rng.standard_normal(J)
    x = rng.normal(size=n)
    z = 2.0 + 0.5 * x + f + rng.normal(0, 0.5, n)
    tmp = path.with_suffix(".tmp")
    pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x": x, "z": z}).to_csv(
        tmp, index=False, float_format="%.10g")
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(
        {"n": n, "field": "Matern 3/2 random Fourier features, 500 features",
         "lengthscale_sqrt2nu": 1.5, "range": 1.5 / np.sqrt(3.0),
         "sd": 1.0, "noise_sd": 0.5, "beta": [2.0, 0.5], "seed": 7000}))
    return path


def run_glmmtmb(csv: Path) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("glmmTMB skipped: Rscript is not on PATH")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_PEER)
        script = fh.name
    try:
        proc = subprocess.run([rscript, script, str(csv)], capture_output=True, text=True,
                              check=False)
    finally:
        Path(script).unlink(missing_ok=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.lstrip().startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"glmmTMB failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
        return None
    return json.loads(lines[-1])


def _fit_gp(sg, d: pd.DataFrame):
    return sg.fit("y ~ x + gp(sx, sy, kernel='exponential')", d, family="poisson",
                  method="ML")


def _fit_hsgp(sg, d: pd.DataFrame):
    return sg.fit("z ~ x + hsgp(sx, sy, m=20, c=1.25, kernel='matern32')", d)


def _fit_hsgp_m50(sg, d: pd.DataFrame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sg.fit("z ~ 1 + hsgp(x, y, m=50, c=1.25)", d)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    with threadpool_limits(1):
        return _run(args)


def _run(args) -> int:
    import spatialgamm as sg

    results: list[Result] = []
    # -- 400 sites: same run as glmmTMB --------------------------------------------------
    csv = gp_poisson_csv(400)
    d = pd.read_csv(csv)
    print("[python] gp_pois_400 ...", flush=True)
    fit = _fit_gp(sg, d)
    t = time_call(lambda: _fit_gp(sg, d), repeats=args.repeats, warmup=0)
    res = Result("gp_pois_400", t.median, None,
                 f"exact GP, exponential, 400 sites; range {fit.range:.3f}")
    if not args.no_r:
        print("[R] glmmTMB exp() on 400 sites ...", flush=True)
        peer = run_glmmtmb(csv)
        if peer is not None:
            res.r_s = float(peer["seconds"])
            agree = abs(peer["logLik"] - fit.loglik) < 1e-3
            res.note += (f"; glmmTMB {peer['glmmTMB']} exp(): logLik "
                         f"{'agrees' if agree else 'DIFFERS'} ({peer['logLik']:.4f} vs "
                         f"{fit.loglik:.4f}), range {peer['range']:.3f}")
    results.append(res)
    if not args.quick:
        # -- 2,000 sites: glmmTMB's dense AD takes hours; Python only ----------------------
        d = pd.read_csv(gp_poisson_csv(2000))
        print("[python] gp_pois_2000 ...", flush=True)
        t0 = time.perf_counter()
        fit = _fit_gp(sg, d)
        results.append(Result("gp_pois_2000", time.perf_counter() - t0, None,
                              f"exact GP, exponential, 2,000 sites; range {fit.range:.3f}; "
                              "glmmTMB not run (hours)"))
        # -- HSGP on 100,000 points --------------------------------------------------------
        d = pd.read_csv(hsgp_gauss_csv())
        print("[python] hsgp_gauss_100k ...", flush=True)
        t0 = time.perf_counter()
        fit = _fit_hsgp(sg, d)
        p = fit.gp_params.iloc[0]
        results.append(Result("hsgp_gauss_100k", time.perf_counter() - t0, None,
                              f"HSGP m=20x20, c=1.25, Matern 3/2, Gaussian REML, 100,000 "
                              f"points; range {p['range']:.3f}, captured "
                              f"{p['variance_captured']:.3f}; no R peer"))
    # -- HSGP with 2,500 basis functions on 52 points (issue 17) -----------------------------
    d = sg.datasets.load_topo()
    print("[python] hsgp_m50_topo ...", flush=True)
    fit = _fit_hsgp_m50(sg, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captured 63%: the warning advises c >= 3.11
        p = fit.gp_params.iloc[0]
    t = time_call(lambda: _fit_hsgp_m50(sg, d), repeats=args.repeats, warmup=0)
    results.append(Result("hsgp_m50_topo", t.median, None,
                          f"HSGP m=50x50 (2,500 functions), c=1.25, Matern 3/2, Gaussian REML, "
                          f"topo's 52 points (n x n form); range {p['range']:.3f}, captured "
                          f"{p['variance_captured']:.3f}; no R peer"))
    record(results, None, repeats=args.repeats, quick=args.quick,
           path=None if args.no_record else RESULTS_MD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
