"""MCMC speed: spatialgamm.brm (nutpie NUTS) and the Gibbs sampler next to brms/rstan.

Cases: sleepstudy ``Reaction ~ Days + (Days | Subject)`` and cbpp
``incidence | trials(size) ~ period + (1 | herd)`` (binomial), 4 chains x 1,000 draws after
1,000 warm-up by default. Reported per case: wall time of the whole call (model build,
sampling in parallel processes, draws and log-likelihood assembly), the slowest parameter's
bulk and tail ESS, ESS per second, the largest Rhat and divergences. brms (when installed)
runs in the same invocation with the same settings; its compile time is reported apart from
sampling (``Rscript benchmarks/bench_mcmc_brms.R``).

Usage: python benchmarks/bench_mcmc.py [--chains 4] [--draws 1000] [--warmup 1000]
       [--cores 2] [--no-r] [--json out.json]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import _mcmc_bench

from spatialgamm.datasets import load_cbpp, load_sleepstudy
from spatialgamm.mcmc import brm
from spatialgamm.mcmc.gibbs import gibbs_lmm

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", load_sleepstudy, "gaussian"),
    "cbpp": ("incidence | trials(size) ~ period + (1 | herd)", load_cbpp, "binomial"),
}


def diagnostics(fit) -> dict:
    return _mcmc_bench.diagnostics(fit, lambda v: not v.startswith("r_"))


def run_python(args) -> dict:
    out = {}
    for name, (formula, load, family) in CASES.items():
        data = load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fit = brm(formula, data, family=family, chains=args.chains,
                      iter=args.warmup + args.draws, warmup=args.warmup, seed=1,
                      cores=args.cores, progress=False)
            wall = time.perf_counter() - t0
        out[name] = dict(wall_s=wall, sampling_s=fit.seconds, **diagnostics(fit))
    formula, load, _ = CASES["sleepstudy"]
    t0 = time.perf_counter()
    g = gibbs_lmm(formula, load(), wishart=(3, [0.001, 0.01]), chains=args.chains,
                  iter=args.warmup + args.draws, warmup=args.warmup, seed=1,
                  cores=args.cores, progress=False)
    out["sleepstudy_gibbs"] = dict(wall_s=time.perf_counter() - t0, sampling_s=g.seconds,
                                   **diagnostics(g))
    return out


def run_brms(args) -> dict | None:
    return _mcmc_bench.run_brms_script(ROOT / "benchmarks" / "bench_mcmc_brms.R", args)


def table(py: dict, r: dict | None) -> str:
    rows = ["| case | tool | wall s | min bulk ESS | min tail ESS | bulk ESS/s | max Rhat "
            "| divergences | compile s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in py.items():
        tool = "spatialgamm Gibbs" if name.endswith("gibbs") else "spatialgamm brm (nutpie)"
        rows.append(f"| {name.replace('_gibbs', '')} | {tool} | {v['wall_s']:.1f} | "
                    f"{v['min_ess_bulk']:.0f} | {v['min_ess_tail']:.0f} | "
                    f"{v['min_ess_bulk'] / v['wall_s']:.0f} | {v['max_rhat']:.3f} | "
                    f"{v['divergences']} | - |")
        if r and name in r:
            b = r[name]
            rows.append(f"| {name} | brms 2.18 / rstan | {b['sampling_wall_s']:.1f} | "
                        f"{b['min_ess_bulk']:.0f} | {b['min_ess_tail']:.0f} | "
                        f"{b['min_ess_bulk'] / b['sampling_wall_s']:.0f} | "
                        f"{b['max_rhat']:.3f} | - | {b['compile_s']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    ap = _mcmc_bench.mcmc_arguments(__doc__.splitlines()[0], cores=4)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()
    py = run_python(args)
    r = run_brms(args)
    _mcmc_bench.report(args, py, r, table)


if __name__ == "__main__":
    main()
