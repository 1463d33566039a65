"""Out-of-core fits (issue 17): a Gaussian additive model with an hsgp() field fitted from
Parquet files by passes over row groups on a dask LocalCluster of 1 and 2 worker processes
(one thread each), at 1e6 and 1e7 rows (and any --sizes), with mgcv's
``bam(discrete=TRUE, nthreads=2)`` on the same 1e6 rows in the same run.

    y ~ x1 + s(x2, bs='ps', k=10) + hsgp(cx, cy, m=15)      (p = 10, q = 9 + 225)

Reported per case: rows, workers, seconds (set-up passes, statistics pass, search; end to
end), passes over the data, peak RSS of the main process plus the workers (psutil, sampled
every 0.1 s) and of the largest worker. Memory is bounded when the worker's peak does not
grow with the rows: a worker holds one row group (``--row-group`` rows) and one chunk of
design rows (``chunk_rows x (p + q)`` doubles) at a time.

mgcv has no hsgp(); its peer is the same fixed part and P-spline with a tensor-product
smooth of the coordinates of the same basis size (te(cx, cy, k = c(15, 15))), fitted by
fREML with discretised covariates: the timing compares like-sized models, not estimates.

    python benchmarks/bench_outofcore.py                      # 1e6, 1e7 rows; 1, 2 workers
    python benchmarks/bench_outofcore.py --sizes 1e6 --workers 2 --no-r
    python benchmarks/bench_outofcore.py --sizes 1e6 --workers 2 --tensor   # bam's model

``--tensor`` fits bam's own model out of core (``te(cx, cy, k=c(15, 15))`` in place of
the hsgp() term: constraints and penalty scaling from sums over every partition, the cr
margins' knots from the set-up rows as bam's from its subsample), the records going to
benchmarks/results/outofcore_te.json.

The records go to benchmarks/results/outofcore.json (read by plot_scaling.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spatialgamm.chunked.passes import CHUNK_ROWS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "outofcore.json"
FORMULA = "y ~ x1 + s(x2, bs='ps', k=10) + hsgp(cx, cy, m=15)"
TE_FORMULA = "y ~ x1 + s(x2, bs='ps', k=10) + te(cx, cy, k=c(15,15))"


#: the simulated field: a draw from the fitted model's own prior (the hsgp() basis of the
#: formula on the box of [0, 100]^2, Matern range 25 and sigma 1), so that the model is right
#: and its optimum well inside the parameter space (a deterministic surface let sigma run up
#: a ridge: every fit warned)
TRUE_RANGE, TRUE_SIGMA, NOISE_SD = 25.0, 1.0, 0.5


def true_field(seed: int = 11):
    """The field as a function of (cx, cy): ``f = Phi(x) diag(sigma sqrt(S(omega))) u``."""
    import pandas as pd

    from spatialgamm.model import build_model
    corners = pd.DataFrame({"y": [0.0, 1, 2, 3], "cx": [0.0, 100, 0, 100],
                            "cy": [0.0, 0, 100, 100]})
    term = build_model("y ~ hsgp(cx, cy, m=15)", corners, "gaussian").blocks[0].term
    coef = TRUE_SIGMA * term.weights(TRUE_RANGE) * np.random.default_rng(seed).normal(
        size=term.M)
    return lambda cx, cy: term.box.basis(np.column_stack([cx, cy])) @ coef


def simulate(path: Path, n: int, row_group: int, per_file: int = 2_000_000,
             seed: int = 1) -> None:
    """``n`` rows in Parquet files of ``per_file`` rows and row groups of ``row_group``,
    written a block at a time (this process never holds them all)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    field_at = true_field()
    for k, start in enumerate(range(0, n, per_file)):
        m = min(per_file, n - start)
        writer = None
        for s in range(0, m, row_group):
            b = min(row_group, m - s)
            cx, cy = rng.uniform(0, 100, b), rng.uniform(0, 100, b)
            x1, x2 = rng.normal(size=b), rng.uniform(size=b)
            y = (1 + 0.5 * x1 + np.sin(6 * x2) + field_at(cx, cy)
                 + rng.normal(scale=NOISE_SD, size=b))
            tab = pa.table({"y": y, "x1": x1, "x2": x2, "cx": cx, "cy": cy})
            if writer is None:
                writer = pq.ParquetWriter(path / f"part-{k:03d}.parquet", tab.schema)
            writer.write_table(tab, row_group_size=row_group)
        writer.close()


def first_rows_csv(src: Path, n: int, out: Path) -> None:
    """The first ``n`` rows (mgcv's data), as CSV."""
    import pyarrow.dataset as ds
    tab = ds.dataset(str(src)).head(n)
    tab.to_pandas().to_csv(out, index=False)


def run_case(path: Path, workers: int, chunk_rows: int, formula: str = FORMULA) -> dict:
    from bench_raster import PeakRSS
    from distributed import Client, LocalCluster

    from spatialgamm.chunked import fit_chunked
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            fit = fit_chunked(formula, str(path), chunk_rows=chunk_rows)
            el = time.perf_counter() - t0
    return {"rows": fit.n, "workers": workers, "seconds": el,
            "load_avg_1min": os.getloadavg()[0],  # the machine is shared: read times with it
            "setup_s": fit.timing["setup"], "statistics_s": fit.timing["statistics"],
            "search_s": fit.timing["optimise"], "passes": fit.n_passes,
            "partitions": fit.n_partitions, "peak_rss_mib": mem.peak / 2**20,
            "main_rss_mib": mem.main / 2**20, "worker_rss_mib": mem.worker / 2**20,
            "sigma": fit.sigma, "beta": fit.beta.round(6).to_dict(),
            "criterion": fit.criterion, "converged": bool(fit.optinfo.converged),
            "message": str(fit.optinfo.message), "timing": fit.timing}


def run_bam(csv: Path) -> dict | None:
    out = csv.with_suffix(".json")
    r = subprocess.run(["Rscript", str(HERE / "bench_outofcore_bam.R"), str(csv), str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("R failed:", r.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1e6,1e7", help="rows (comma separated)")
    ap.add_argument("--workers", default="1,2", help="dask worker processes to try")
    ap.add_argument("--row-group", type=int, default=250_000)
    ap.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS)
    ap.add_argument("--no-r", action="store_true", help="skip mgcv's bam")
    ap.add_argument("--scratch", default=None, help="directory for the Parquet files")
    ap.add_argument("--tensor", action="store_true", help="fit bam's te() model")
    args = ap.parse_args()
    formula = TE_FORMULA if args.tensor else FORMULA
    results = RESULTS.with_name("outofcore_te.json") if args.tensor else RESULTS
    records = []
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        for size in (int(float(s)) for s in args.sizes.split(",")):
            path = Path(tmp) / f"n{size}"
            t0 = time.perf_counter()
            simulate(path, size, args.row_group)
            print(f"{size:,} rows written in {time.perf_counter() - t0:.1f} s", flush=True)
            for workers in (int(w) for w in args.workers.split(",")):
                rec = run_case(path, workers, args.chunk_rows, formula)
                rec.update(kind="spatialgamm", formula=formula, row_group=args.row_group,
                           chunk_rows=args.chunk_rows)
                records.append(rec)
                print(json.dumps({k: v for k, v in rec.items() if k != "beta"}), flush=True)
            if size == 1_000_000 and not args.no_r:
                csv = Path(tmp) / "bam.csv"
                first_rows_csv(path, size, csv)
                bam = run_bam(csv)
                if bam is not None:
                    bam.update(kind="mgcv bam(discrete=TRUE, nthreads=2)", rows=size)
                    records.append(bam)
                    print(json.dumps(bam), flush=True)
            import shutil
            shutil.rmtree(path)
    from _record import machine
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps({"machine": machine(), "records": records}, indent=1))
    print(f"written {results}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
