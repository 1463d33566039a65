"""predict_grid on large grids over the Rongelap coastline with the GP smooth fit: time and
peak memory per grid size (memory must stay bounded as the grid grows: chunks)."""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spatialgamm as sg  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="250,500,1000", help="grid sides n (n x n cells)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    d = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", d, family="poisson")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        tracemalloc.start()
        t0 = time.perf_counter()
        grid = sg.predict_grid(fit, coast, n=(n, n), buffer=50, progress=False)
        el = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append((n, len(grid.cells), el, peak / 2**20))
        print(f"{n} x {n}: {len(grid.cells):>8d} cells predicted in {el:6.2f} s, "
              f"peak traced memory {peak / 2**20:7.1f} MiB")
        del grid
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
