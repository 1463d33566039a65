"""Parametric bootstrap: 100 sleepstudy refits, spatialgamm against lme4's bootMer.

    python benchmarks/bench_bootstrap.py [--repeats N] [--no-r] [--quick] [--no-record]

Case:

    sleepstudy_boot100   fit.bootstrap(n=100, kind="parametric") of
                         Reaction ~ Days + (Days | Subject) (REML), recording fixed effects
                         and the sdcor column of VarCorr; R peer
                         bootMer(m, FUN, nsim = 100, type = "parametric") with the same FUN

Both sides time the bootstrap only (the original fit is made before the clock starts): the
median of --repeats runs (Python after one untimed warm-up run; R after loading lme4 and
one untimed run of its own). R is run from here, in the same run, on the same CSV; it uses
the reference BLAS (one thread), Python limits BLAS to one thread inside the bootstrap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from _common import Result, parse_args, time_call
from _record import record

ROOT = Path(__file__).resolve().parents[1]
SLEEPSTUDY = ROOT / "spatialgamm" / "data" / "sleepstudy.csv"
RESULTS_MD = ROOT / "BENCHMARKS.md"
NSIM = 100

R_PEER = r"""
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); d$Subject <- factor(d$Subject)
repeats <- as.integer(args[2]); nsim <- as.integer(args[3])
m <- lmer(Reaction ~ Days + (Days | Subject), d)
FUN <- function(x) c(fixef(x), as.data.frame(VarCorr(x))$sdcor)
invisible(bootMer(m, FUN, nsim = nsim, seed = 1))  # warm-up
times <- sapply(seq_len(repeats), function(i)
  system.time(b <<- bootMer(m, FUN, nsim = nsim, seed = i, type = "parametric"))["elapsed"])
cat(toJSON(list(seconds = median(times), sd_days = sd(b$t[, 2]),
                lme4 = as.character(packageVersion("lme4")), R = R.version.string),
           auto_unbox = TRUE, digits = NA), "\n")
"""


def run_bootmer(repeats: int) -> dict | None:
    """Time bootMer in R; ``None`` (and why) when Rscript is missing or fails."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("R peer skipped: Rscript is not on PATH")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_PEER)
    try:
        proc = subprocess.run([rscript, fh.name, str(SLEEPSTUDY), str(repeats), str(NSIM)],
                              capture_output=True, text=True, check=False)
    finally:
        Path(fh.name).unlink()
    if proc.returncode != 0:
        print(f"R peer failed:\n{proc.stderr[-2000:]}")
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.lstrip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    import spatialgamm as sg
    d = pd.read_csv(SLEEPSTUDY)
    d["Subject"] = sg.datasets.as_factor(d["Subject"])
    m = sg.lmer("Reaction ~ Days + (Days | Subject)", d)
    print(f"[python] sleepstudy_boot100 ({NSIM} parametric refits) ...", flush=True)
    seeds = iter(range(1, 1000))
    last: dict = {}

    def run() -> None:
        last["bt"] = m.bootstrap(n=NSIM, seed=next(seeds))

    t = time_call(run, repeats=args.repeats, warmup=1)
    bt = last["bt"]
    res = Result("sleepstudy_boot100", t.median, None,
                 f"{NSIM} parametric refits; bootstrap SD of Days {bt.se['Days']:.3f}")
    peer = None
    if not args.no_r:
        print("[R] bootMer ...", flush=True)
        peer = run_bootmer(args.repeats)
        if peer is not None:
            res.r_s = float(peer["seconds"])
            res.note += f" (bootMer {peer['sd_days']:.3f}, lme4 {peer['lme4']})"
    res.note += f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    versions = ({"R": peer["R"], "lme4": peer["lme4"], "mgcv": "(not used)"}
                if not args.no_r and peer is not None else None)
    record([res], versions, repeats=args.repeats, quick=args.quick,
           path=None if args.no_record else RESULTS_MD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
