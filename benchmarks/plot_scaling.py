"""Scaling curves (issue 17) from the recorded benchmark JSON: time and peak memory against
grid cells (bench_raster.py: predict_raster -> to_cog) and against rows (bench_outofcore.py:
out-of-core fits from Parquet), one line per number of dask workers, mgcv's bam as a point.

    python benchmarks/plot_scaling.py            # writes docs/img/scaling.png

A record that is missing (a benchmark not yet run) leaves its panel with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
RASTER = HERE / "results" / "raster.json"
OUTOFCORE = HERE / "results" / "outofcore.json"
OUT = HERE.parent / "docs" / "img" / "scaling.png"


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text())["records"] if path.exists() else []


def _lines(ax_t, ax_m, records: list[dict], size_key: str, label: str, marker: str) -> None:
    ours = [r for r in records if r.get("kind", "spatialgamm") == "spatialgamm"]
    for w in sorted({r["workers"] for r in ours}):
        rs = sorted((r for r in ours if r["workers"] == w), key=lambda r: r[size_key])
        x = [r[size_key] for r in rs]
        name, colour = f"{w} worker" + ("s" if w > 1 else ""), f"C{w - 1}"
        ax_t.plot(x, [r["seconds"] for r in rs], marker=marker, color=colour, label=name)
        ax_m.plot(x, [r["peak_rss_mib"] for r in rs], marker=marker, color=colour,
                  label=f"{name}: all processes")
        ax_m.plot(x, [r["worker_rss_mib"] for r in rs], marker=marker, color=colour,
                  linestyle=":", label=f"{name}: largest worker")


def main() -> int:
    raster, ooc = _load(RASTER), _load(OUTOFCORE)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    panels = [(raster, "cells", "grid cells", "predict_raster -> COG", "o"),
              (ooc, "rows", "rows (Parquet)", "out-of-core gam fit", "s")]
    for col, (recs, key, xlabel, label, marker) in enumerate(panels):
        ax_t, ax_m = axes[0, col], axes[1, col]
        if not recs:
            for ax in (ax_t, ax_m):
                ax.text(0.5, 0.5, f"no record yet:\nrun benchmarks/bench_"
                        f"{'raster' if col == 0 else 'outofcore'}.py", ha="center",
                        va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            continue
        _lines(ax_t, ax_m, recs, key, label, marker)
        for r in recs:
            if r.get("kind", "").startswith("mgcv"):
                ax_t.plot([r["rows"]], [r["seconds"]], "k*", markersize=12,
                          label="mgcv bam(discrete=TRUE, nthreads=2)")
                ax_m.plot([r["rows"]], [r["peak_rss_mib"]], "k*", markersize=12,
                          label="mgcv bam (R process peak)")
        for ax, ylabel in ((ax_t, "seconds (end to end)"), (ax_m, "peak RSS, MiB")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        ax_t.set_title(label)
    machine = (json.loads(OUTOFCORE.read_text())["machine"] if OUTOFCORE.exists() else
               json.loads(RASTER.read_text())["machine"] if RASTER.exists() else {})
    fig.suptitle(f"spatialgamm at scale: {machine.get('nproc', '?')} cores, "
                 f"{machine.get('cpu', '')} ({machine.get('date', '')})", fontsize=10)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"written {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
