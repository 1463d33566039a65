"""MCMC speed of brm() with smooths next to brms/rstan in the same run ("brm smooths").

Cases (the reference data of tests/reference/brms_smooth/): ``y ~ s(x)`` (Gaussian, 200
points), MASS::mcycle ``accel ~ s(times)`` and ``y ~ s(x) + (1 | g)`` (Poisson, 300 points,
20 groups); 4 chains x 1,000 draws after 1,000 warm-up by default. Reported per case: wall
time of the whole call, the slowest parameter's bulk / tail ESS (fixed effects, sds, sd,
sigma), bulk ESS per second, the largest Rhat and divergences; brms's compile time apart
from its sampling (``Rscript benchmarks/bench_mcmc_smooth_brms.R``).

Usage: python benchmarks/bench_mcmc_smooth.py [--chains 4] [--draws 1000] [--warmup 1000]
       [--cores 2] [--no-r] [--json out.json]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import _mcmc_bench
import pandas as pd

from spatialgamm.mcmc import brm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "brms_smooth"
CASES = {"gauss_s": ("y ~ s(x)", "gauss.csv", "gaussian"),
         "mcycle_s": ("accel ~ s(times)", "mcycle.csv", "gaussian"),
         "pois_s_re": ("y ~ s(x) + (1 | g)", "pois.csv", "poisson")}


def diagnostics(fit) -> dict:
    return _mcmc_bench.diagnostics(fit, lambda v: v.startswith(("b_", "bs_", "sds_", "sd_")) or v == "sigma")


def run_python(args) -> dict:
    out = {}
    for name, (formula, csv, family) in CASES.items():
        data = pd.read_csv(DATA / csv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fit = brm(formula, data, family=family, chains=args.chains,
                      iter=args.warmup + args.draws, warmup=args.warmup, seed=1,
                      cores=args.cores, progress=False)
            wall = time.perf_counter() - t0
        out[name] = dict(wall_s=wall, sampling_s=fit.seconds, **diagnostics(fit))
    return out


def run_brms(args) -> dict | None:
    return _mcmc_bench.run_brms_script(ROOT / "benchmarks" / "bench_mcmc_smooth_brms.R", args, str(DATA))


def table(py: dict, r: dict | None) -> str:
    rows = ["| case | tool | wall s | min bulk ESS | min tail ESS | bulk ESS/s | max Rhat "
            "| divergences | compile s | ESS/s ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in py.items():
        ours = v["min_ess_bulk"] / v["wall_s"]
        b = (r or {}).get(name)
        ratio = f"{ours / (b['min_ess_bulk'] / b['sampling_wall_s']):.1f}" if b else "-"
        rows.append(f"| {name} | spatialgamm brm (nutpie) | {v['wall_s']:.1f} | "
                    f"{v['min_ess_bulk']:.0f} | {v['min_ess_tail']:.0f} | {ours:.0f} | "
                    f"{v['max_rhat']:.3f} | {v['divergences']} | - | {ratio} |")
        if b:
            rows.append(f"| {name} | brms 2.18 / rstan | {b['sampling_wall_s']:.1f} | "
                        f"{b['min_ess_bulk']:.0f} | {b['min_ess_tail']:.0f} | "
                        f"{b['min_ess_bulk'] / b['sampling_wall_s']:.0f} | "
                        f"{b['max_rhat']:.3f} | {b['divergences']} | {b['compile_s']:.0f} "
                        "| 1 |")
    return "\n".join(rows)


def main() -> None:
    ap = _mcmc_bench.mcmc_arguments(__doc__.splitlines()[0])
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    py = run_python(args)
    r = run_brms(args)
    _mcmc_bench.report(args, py, r, table)


if __name__ == "__main__":
    main()
