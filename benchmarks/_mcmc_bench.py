"""What the MCMC benchmarks share (bench_mcmc.py, bench_mcmc_smooth.py,
bench_mcmc_spatial.py): the sampler settings on the command line, the diagnostics of a fit
through ArviZ, and the printed / JSON report of one run next to brms."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import arviz as az


def mcmc_arguments(description: str, chains: int = 4, draws: int = 1000,
                   warmup: int = 1000, cores: int = 2) -> argparse.ArgumentParser:
    """The options every MCMC benchmark takes; a script adds its own before parsing."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--chains", type=int, default=chains)
    ap.add_argument("--draws", type=int, default=draws)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--cores", type=int, default=min(cores, os.cpu_count() or 1))
    ap.add_argument("--json", type=str, default=None)
    return ap


def diagnostics(fit, keep: Callable[[str], bool]) -> dict:
    """Largest Rhat, smallest bulk / tail ESS over the variables ``keep`` admits, the
    divergences and the mean tree depth (ArviZ on the fit's InferenceData)."""
    post = fit.idata.posterior
    ds = post[[v for v in post.data_vars if keep(v)]]
    st = fit.idata.sample_stats
    return dict(max_rhat=float(az.rhat(ds).to_array().max()),
                min_ess_bulk=float(az.ess(ds, method="bulk").to_array().min()),
                min_ess_tail=float(az.ess(ds, method="tail").to_array().min()),
                divergences=int(st["diverging"].values.sum()) if "diverging" in st else 0,
                mean_tree_depth=float(st["tree_depth"].values.mean())
                if "tree_depth" in st else float("nan"))


def report(args: argparse.Namespace, py: dict, r: dict | None,
           table: Callable[[dict, dict | None], str]) -> None:
    """Print the run's settings and load with the table; write the JSON when asked."""
    print(f"{args.chains} chains x {args.draws} draws after {args.warmup} warm-up, "
          f"{args.cores} cores; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    print(table(py, r))
    if args.json:
        Path(args.json).write_text(json.dumps({"python": py, "brms": r,
                                               "settings": vars(args)}, indent=2))


def run_brms_script(script: Path, args: argparse.Namespace, *extra: str) -> dict | None:
    """Run an R script that fits the brms peers and writes their JSON (its arguments:
    chains, iterations, warm-up, cores, then ``extra``, then the output path); None when R
    or brms is missing, the user said ``--no-r``, or the script failed (its error printed)."""
    if getattr(args, "no_r", False) or shutil.which("Rscript") is None:
        return None
    ok = subprocess.run(["Rscript", "-e", "quit(status = !requireNamespace('brms', "
                         "quietly = TRUE))"], capture_output=True)
    if ok.returncode:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "brms.json")
        r = subprocess.run(["Rscript", str(script), str(args.chains),
                            str(args.warmup + args.draws), str(args.warmup), str(args.cores),
                            *extra, f], capture_output=True, text=True)
        if r.returncode:
            print("brms failed:", r.stderr[-2000:])
            return None
        return json.loads(Path(f).read_text())
