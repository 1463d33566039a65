"""Rasters by tiles (issue 17): predict_raster -> to_cog for the Rongelap GP smooth fit,
estimate and se, 1e6 and 1e7 grid cells (1e8 with --sizes 1e6,1e7,1e8), on a dask
LocalCluster of 1 and 2 worker processes (one thread each).

Reports, per case: grid cells, cells predicted (those over the atoll), seconds end to end
(tiles predicted on the workers, written to a scratch GeoTIFF, copied into a COG with
overviews), seconds per million grid cells and per million predicted cells, peak RSS of the
main process plus the workers (psutil, sampled every 0.1 s), and the achieved share of the
machine's floating-point rate (the work estimated from the model's basis size, the rate
from a timed 2000 x 2000 matrix product). There is no R peer: R has no tiled raster
prediction for mgcv fits to compare with.

    python benchmarks/bench_raster.py                  # 1e6 and 1e7 cells, 1 and 2 workers
    python benchmarks/bench_raster.py --sizes 1e8 --workers 2
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

import spatialgamm as sg
from spatialgamm.spatial import predict_raster, to_cog


class PeakRSS:
    """Peak resident memory of this process and its children, sampled in a thread."""

    def __init__(self, every: float = 0.1) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self.main = self.worker = 0  # peaks of this process and of the largest child

    def _total(self) -> int:
        me = psutil.Process()
        total = mine = me.memory_info().rss
        largest = 0
        for child in me.children(recursive=True):
            try:
                rss = child.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            largest = max(largest, rss)
        self.main, self.worker = max(self.main, mine), max(self.worker, largest)
        return total

    def __enter__(self) -> PeakRSS:
        self.peak = self._total()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self._total())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


def matmul_gflops(n: int = 2000, repeats: int = 3) -> float:
    """The machine's dense floating-point rate here (all BLAS threads), GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((n, n))
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def flops_per_cell(p: int) -> float:
    """Work per predicted cell: the basis row (p kernel values, times the p x p
    reparameterisation), X beta, and the standard error x' V x (2p^2 + 2p)."""
    return 2 * p * p + 2 * p + 2 * p * p + 2 * p + 20 * p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1e6,1e7", help="grid cells (comma separated)")
    ap.add_argument("--workers", default="1,2", help="dask worker processes to try")
    ap.add_argument("--chunks", type=int, default=512, help="cells per tile side")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    d = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", d, family="poisson")
    p = len(fit.coef)
    peak_rate = matmul_gflops()
    probe = predict_raster(fit, coast, n=(10, 10), buffer=50)
    t = probe.rio.transform()
    area = abs(t.a * 10 * t.e * 10)  # the grid's box, m^2
    print(f"machine: {os.cpu_count()} cores, dense rate {peak_rate:.1f} GFLOP/s; "
          f"model: {p} coefficients, ~{flops_per_cell(p):.0f} flop per predicted cell")
    print("| grid cells | workers | cells predicted | s | s per 1e6 grid cells | "
          "s per 1e6 predicted | peak RSS MiB: all (main, largest worker) | "
          "achieved GFLOP/s (share) |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (float(s) for s in args.sizes.split(",")):
            res = math.sqrt(area / size)
            for workers in (int(w) for w in args.workers.split(",")):
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, Client(cluster) as client:
                    client.run(lambda: os.environ.update(OMP_NUM_THREADS="1"))
                    with PeakRSS() as mem:
                        t0 = time.perf_counter()
                        ds = predict_raster(fit, coast, resolution=res, buffer=50,
                                            chunks=args.chunks)
                        out = to_cog(ds, Path(tmp) / "bench.tif", bands=["estimate", "se"],
                                     client=client, progress=False)
                        el = time.perf_counter() - t0
                    predicted = _count_predicted(out)
                    cells = ds.estimate.size
                    rate = predicted * flops_per_cell(p) / el / 1e9
                    print(f"| {cells:,} | {workers} | {predicted:,} | {el:.1f} | "
                          f"{el / cells * 1e6:.2f} | {el / max(predicted, 1) * 1e6:.2f} | "
                          f"{mem.peak / 2**20:.0f} ({mem.main / 2**20:.0f}, "
                          f"{mem.worker / 2**20:.0f}) | {rate:.2f} ({rate / peak_rate:.1%}) |",
                          flush=True)
                    records.append({"cells": int(cells), "predicted": int(predicted),
                                    "workers": workers, "seconds": el,
                                    "peak_rss_mib": mem.peak / 2**20,
                                    "main_rss_mib": mem.main / 2**20,
                                    "worker_rss_mib": mem.worker / 2**20,
                                    "gflops": rate, "peak_gflops": peak_rate})
    _write_json(records)  # read by plot_scaling.py
    return 0


def _write_json(records: list) -> None:
    import json

    from _record import machine
    out = Path(__file__).resolve().parent / "results" / "raster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "records": records}, indent=1))


def _count_predicted(path: Path) -> int:
    import rasterio

    n = 0
    with rasterio.open(path) as src:
        for _, win in src.block_windows(1):
            n += int((src.read(1, window=win) != src.nodata).sum())
    return n


if __name__ == "__main__":
    sys.exit(main())
