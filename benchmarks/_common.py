"""What every benchmark script shares: cases, timing, the R peers, the run.

A *case* is one model fitted by spatialgamm and by its R peer (benchmarks/peers.R) on the
same CSV in the same run. Python times are the median of repeated fits after a warm-up fit;
R times are peers.R's median. Reading the CSV is outside both timings. The printed table and
BENCHMARKS.md come from _record.py (``record``, ``machine`` are re-exported here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import _datagen
import pandas as pd
from _record import RESULTS_MD, machine, record
from threadpoolctl import threadpool_limits

from spatialgamm.datasets import as_factor

ROOT = Path(__file__).resolve().parents[1]
PEERS_R = ROOT / "benchmarks" / "peers.R"
PEERS_EXTRA_R = ROOT / "benchmarks" / "peers_extra.R"
DEFAULT_REPEATS = 5
QUICK_REPEATS = 3

__all__ = ["Case", "Result", "Timing", "machine", "main", "parse_args", "r_times", "record",
           "run_cases", "run_r_peers", "time_call"]


# ---- timing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds per call: ``median`` of ``times`` (warm-up calls excluded)."""

    median: float
    times: tuple[float, ...]


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
              clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then the median of ``repeats`` timed ones.

    ``clock`` is wall-clock time by default; ``time.process_time`` (CPU seconds) is steadier
    on a machine shared with other work.

    The warm-up absorbs one-off costs (imports, caches) that R's timing also leaves out,
    since peers.R loads its libraries before timing.

    Examples
    --------
    >>> t = time_call(lambda: sum(range(1000)), repeats=3)
    >>> len(t.times), t.median >= 0
    (3, True)
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be at least 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return Timing(statistics.median(times), tuple(times))


# ---- cases ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One benchmark problem.

    ``csv`` is the file in benchmarks/_data; ``r_name`` the name peers.R expects it under and
    ``r_key`` the key of peers.R's JSON that times the same model; ``factors`` are the columns
    R turns into factors (Python makes them Categoricals with R's level order).
    ``repeats`` maps the requested repeats to this case's, mirroring peers.R (it times
    sleepstudy at least 20 times, cbpp at least 10, the large GP fits once).
    ``r_script`` is the R file that times the peer (peers.R or peers_extra.R). With
    ``criterion`` (the fit's -2 log-likelihood on lme4's scale) the fit is checked against
    the peer's ``<r_key>_loglik`` and the difference goes in the note: speed is only worth
    comparing between fits that agree.
    """

    name: str
    csv: str
    r_name: str
    r_key: str
    fit: Callable[[object, pd.DataFrame], object]
    factors: tuple[str, ...] = ()
    large: bool = False
    repeats: Callable[[int], int] = lambda r: r
    warmup: int = 1
    r_script: Path = PEERS_R
    criterion: Callable[[object], float] | None = None


@dataclass
class Result:
    """Seconds for one case; ``None`` when a side was not run (``note`` says why)."""

    case: str
    python_s: float | None
    r_s: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """R seconds / Python seconds: above 1 means spatialgamm is faster."""
        if self.python_s and self.r_s:
            return self.r_s / self.python_s
        return None


def read_case_data(case: Case, path: Path) -> pd.DataFrame:
    """Read a case's CSV as peers.R does: ``read.csv`` then ``factor()`` on ``case.factors``."""
    df = pd.read_csv(path)
    for col in case.factors:
        df[col] = as_factor(df[col])
    return df


def import_spatialgamm():
    """The package, or ``None`` with the reason printed (every case is then skipped)."""
    try:
        import spatialgamm as sg
    except Exception as err:  # noqa: BLE001 - any import failure means: nothing to time
        print(f"spatialgamm does not import ({type(err).__name__}: {err}); Python side skipped")
        return None
    return sg


def time_python(case: Case, sg, data: pd.DataFrame, repeats: int, cpu: bool = False
                ) -> tuple[float | None, str, object]:
    """Median seconds of ``case.fit(sg, data)`` and the last fit, or ``None`` and why it was
    skipped."""
    if sg is None:
        return None, "spatialgamm does not import", None
    last: list[object] = [None]

    def call():
        last[0] = case.fit(sg, data)

    try:
        # one BLAS thread, as R's reference BLAS (and the package's own rule for small
        # systems): on a shared 2-core machine threads only add noise
        with threadpool_limits(1):
            t = time_call(call, case.repeats(repeats), case.warmup,
                          time.process_time if cpu else time.perf_counter)
    except (AttributeError, NotImplementedError) as err:
        # The planned API is written against before it exists: skip cleanly.
        return None, f"not implemented yet ({type(err).__name__}: {err})", None
    except Exception as err:  # noqa: BLE001 - a benchmark reports a failing fit and goes on
        return None, f"ERROR {type(err).__name__}: {err}", None
    return t.median, "", last[0]


# ---- R peers --------------------------------------------------------------------------------
def run_r_peers(data_dir: Path | str, repeats: int, script: Path = PEERS_R) -> dict | None:
    """Run ``Rscript benchmarks/peers.R DIR REPEATS`` and return its JSON as a dict.

    peers.R (or ``script``, with the same interface) fits every known CSV present in
    ``data_dir``. Returns ``None`` (and says why) when Rscript is not on PATH or the script
    fails.
    """
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("R peers skipped: Rscript is not on PATH (`make setup-r` installs R, lme4, mgcv)")
        return None
    cmd = [rscript, str(script), str(data_dir), str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"R peers failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.lstrip().startswith("{")]
    if not lines:
        print(f"R peers printed no JSON:\n{proc.stdout[-2000:]}")
        return None
    return json.loads(lines[-1])


def r_times(cases: Sequence[Case], paths: dict[str, Path], repeats: int) -> tuple[dict, dict]:
    """Time the R peers of ``cases``; return ({case name: seconds}, R versions).

    peers.R finds files by fixed names, so each run gets a scratch folder of symbolic links;
    cases whose files share a name (the 10k and 100k GP data) go to separate runs, and so do
    cases timed by different R scripts. The peers' log-likelihoods come back under
    ``<case name>_loglik``.
    """
    groups: list[list[Case]] = []
    for case in cases:
        group = next((g for g in groups
                      if g[0].r_script == case.r_script
                      and all(c.r_name != case.r_name or c.csv == case.csv for c in g)), None)
        if group is None:
            groups.append([case])
        else:
            group.append(case)
    times: dict[str, float] = {}
    versions: dict[str, str] = {}
    for group in groups:
        with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
            for r_name, csv in {c.r_name: c.csv for c in group}.items():
                os.symlink(paths[csv], Path(tmp) / r_name)
            out = run_r_peers(tmp, repeats, group[0].r_script)
        if out is None:
            continue
        versions = {k: out[k] for k in ("R", "lme4", "mgcv") if k in out}
        for case in group:
            if case.r_key in out:
                times[case.name] = float(out[case.r_key])
            for extra in ("loglik", "cpu"):
                if f"{case.r_key}_{extra}" in out:
                    times[f"{case.name}_{extra}"] = float(out[f"{case.r_key}_{extra}"])
    return times, versions


# ---- the command line and the run -----------------------------------------------------------
def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags every script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed repeats per case (default {DEFAULT_REPEATS}, "
                        f"{QUICK_REPEATS} with --quick)")
    p.add_argument("--no-r", action="store_true", help="do not run the R peers")
    p.add_argument("--quick", action="store_true",
                   help="only the small bundled-data cases (skip the 10k-100k row ones)")
    p.add_argument("--cpu", action="store_true",
                   help="CPU seconds instead of wall-clock on both sides (steadier on a "
                        "shared machine; only peers that report them, peers_extra.R)")
    p.add_argument("--no-record", action="store_true",
                   help=f"print the table only, do not update {RESULTS_MD.name}")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else DEFAULT_REPEATS
    if args.repeats < 1:
        p.error(f"--repeats {args.repeats}: must be at least 1")
    return args


def run_cases(cases: Sequence[Case], args: argparse.Namespace) -> tuple[list[Result], dict]:
    """Time each case's Python fit and then, right after it, its R peer; return results and
    R versions.

    Each case's two timings are taken back to back, so that a shared machine whose load
    drifts during the run changes both sides of a ratio alike.
    """
    cases = [c for c in cases if not (args.quick and c.large)]
    paths: dict[str, Path] = {}
    results = []
    for case in cases:
        try:
            paths[case.csv] = _datagen.ensure(case.csv)
        except (FileNotFoundError, RuntimeError) as err:  # a dataset written by R, no R
            results.append(Result(case.name, None, None, f"no data: {err}"))
    cases = [c for c in cases if c.csv in paths]
    sg = import_spatialgamm()
    versions: dict = {}
    for case in cases:
        data = read_case_data(case, paths[case.csv])
        print(f"[python] {case.name} ...", flush=True)
        seconds, note, fit = time_python(case, sg, data, args.repeats, args.cpu)
        res = Result(case.name, seconds, None, note)
        if args.cpu:
            res.note = (f"{res.note}; " if res.note else "") + "CPU seconds"
        results.append(res)
        if args.no_r:
            continue
        print(f"[R] {case.name} ...", flush=True)
        times, v = r_times([case], paths, args.repeats)
        versions = v or versions
        res.r_s = times.get(f"{case.name}_cpu" if args.cpu else case.name)
        ll = times.get(f"{case.name}_loglik")
        if case.criterion and ll is not None and fit is not None:
            diff = case.criterion(fit) - (-2.0 * ll)
            res.note = (f"{res.note}; " if res.note else "") + \
                f"-2 logLik minus lme4's: {diff:+.1e}"
    return results, versions


def main(cases: Sequence[Case], description: str, argv: Sequence[str] | None = None) -> int:
    """Parse flags, run ``cases``, print and record; exit status 1 if a fit failed."""
    args = parse_args(description, argv)
    results, versions = run_cases(cases, args)
    record(results, versions, repeats=args.repeats, quick=args.quick,
           path=None if args.no_record else RESULTS_MD)
    return 1 if any(r.note.startswith("ERROR") for r in results) else 0
