"""SPDE Matern field fits on simulated Poisson counts with exposure, against mgcv.

    python benchmarks/bench_spde.py [--no-r] [--no-record] [--sizes 10000 30000 100000]
    python benchmarks/bench_spde.py --sizes 1000000 --no-r     # issue 17's 1e6-row target

Model: ``y ~ spde(sx, sy, mesh=mesh) + offset(log(exposure))``, Poisson, alpha = 2, REML
(Laplace), on the benchmark's GP data (``gp_pois_10k.csv``, ``gp_pois_100k.csv``: a Matern
3/2 field on a 10 km square, exposure uniform on [0.5, 2]; other sizes are drawn by the same
generator). The mesh is fixed for every size: the square with max_edge 250 m inside and a
3 km extension at 1.5 km (about 4,900 nodes), so fit time against n shows the cost of the
data alone. Each fit runs in a fresh Python process, which reports its wall-clock time (mesh
built outside the timing, as mgcv's basis is inside it: a conservative comparison), the
process's peak resident memory (ru_maxrss, interpreter and libraries included) and the
numbers of numeric factorisations; a second process repeats the fit under tracemalloc for
the peak of Python-level allocations (numpy arrays included, CHOLMOD's C allocations not). The R peer (benchmarks/peers.R) fits
``y ~ s(sx, sy, bs="gp", k=100) + offset(log(exposure))`` to the same CSV: mgcv::gam REML
up to 20,000 rows, mgcv::bam (fREML) above, once. The record goes to a dated "SPDE" section
of BENCHMARKS.md. R's timing of a data file is cached (``--rerun-r`` times it again).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _datagen
from _common import run_r_peers
from _record import RESULTS_MD, machine

ROOT = Path(__file__).resolve().parents[1]
STANDARD = {10_000: "gp_pois_10k.csv", 100_000: "gp_pois_100k.csv"}
MESH = dict(max_edge=(250.0, 1500.0), offset=(0.0, 3000.0))

CHILD = r"""
import json, resource, sys, time, tracemalloc
import pandas as pd, shapely
import spatialgamm as sg
from spatialgamm.mesh import Mesh
path, mode = sys.argv[1], sys.argv[4]
max_edge, offset = tuple(json.loads(sys.argv[2])), tuple(json.loads(sys.argv[3]))
data = pd.read_csv(path)
mesh = Mesh.build(boundary=shapely.box(0, 0, 10_000, 10_000), max_edge=max_edge, offset=offset)
if mode == "memory":
    tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
fit = sg.fit("y ~ spde(sx, sy, mesh=mesh) + offset(log(exposure))", data, family="poisson")
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = tracemalloc.get_traced_memory()[1] if mode == "memory" else float("nan")
info = fit.spde_info
print(json.dumps(dict(
    n=len(data), nodes=mesh.n, seconds=seconds, cpu_seconds=cpu, peak_mb=peak / 2**20,
    maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    factorizations=info["factorizations"], prior_factorizations=info["prior_factorizations"],
    evaluations=info["evaluations"], hessian_evaluations=info["hessian_evaluations"],
    converged=bool(fit.converged), range=float(fit.range),
    sigma=float(fit.sigma_field), intercept=float(fit.fixef.iloc[0]))))
"""


def data_path(n: int, tmp: Path) -> Path:
    """The benchmark CSV with n rows (the shared 10k/100k files, or a fresh draw)."""
    if n in STANDARD:
        return _datagen.ensure(STANDARD[n])
    path = tmp / f"gp_pois_{n}.csv"
    _datagen.gp_pois(n=n, seed=20240600 + n % 997).to_csv(path, index=False,
                                                           float_format="%.10g")
    return path


def fit_in_child(path: Path) -> dict:
    """The fit in fresh interpreters: timed alone, then again under tracemalloc (whose
    bookkeeping slows allocation-heavy code, so it never runs during the timing)."""
    out = {}
    for mode in ("time", "memory"):
        cmd = [sys.executable, "-c", CHILD, str(path), json.dumps(MESH["max_edge"]),
               json.dumps(MESH["offset"]), mode]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            raise RuntimeError(f"fit failed:\n{proc.stderr[-3000:]}")
        rep = json.loads(proc.stdout.strip().splitlines()[-1])
        if mode == "time":
            out = rep
        else:
            out["peak_mb"] = rep["peak_mb"]
    return out


R_CACHE = _datagen.DATA_DIR / "spde_r_peer.json"


def r_peer(path: Path, rerun: bool = False) -> tuple[float | None, str, dict]:
    """Seconds of peers.R's gp_pois model on this CSV (gam or bam), its name, versions.

    The 100,000-row bam takes minutes, so a timing is kept in ``_data/spde_r_peer.json``
    (keyed by file name and size, with its date) and reused unless ``rerun``.
    """
    cache = json.loads(R_CACHE.read_text()) if R_CACHE.exists() else {}
    key = f"{path.name}:{path.stat().st_size}"
    if key in cache and not rerun:
        hit = cache[key]
        return hit["seconds"], f"{hit['label']} (timed {hit['date']})", hit["versions"]
    with tempfile.TemporaryDirectory(prefix="sg-spde-") as tmp:
        os.symlink(path, Path(tmp) / "gp_pois.csv")
        out = run_r_peers(tmp, 1)
    if not out:
        return None, "", {}
    versions = {k: out[k] for k in ("R", "mgcv") if k in out}
    for name, label in (("gp_pois_bam", "mgcv::bam fREML"), ("gp_pois_gam", "mgcv::gam REML")):
        if name in out:
            cache[key] = dict(seconds=float(out[name]), label=label, versions=versions,
                              date=machine()["date"])
            tmp_path = R_CACHE.with_name(f".{R_CACHE.name}.tmp")
            tmp_path.write_text(json.dumps(cache, indent=1))
            os.replace(tmp_path, R_CACHE)
            return float(out[name]), label, versions
    return None, "", versions


def section(rows: list[dict], versions: dict) -> str:
    info = machine()
    lines = [f"## SPDE · {info['date']} · {info['cpu']} · {info['nproc']} cores", "",
             f"- Machine: {info['nproc']} cores, {info['memory']} memory, {info['cpu']}; "
             f"Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
             f"scikit-sparse {info['scikit-sparse']} (CHOLMOD).",
             "- R: " + (f"{versions.get('R', '?')}, mgcv {versions.get('mgcv', '?')}."
                        if versions else "not run."),
             "- Model: `y ~ spde(sx, sy, mesh=mesh) + offset(log(exposure))`, Poisson, "
             "alpha = 2, Laplace REML; mesh: 10 km square, max_edge (250, 1500) m, 3 km "
             "extension. R: `s(sx, sy, bs=\"gp\", k=100)` with the same offset.",
             "- Factorisations: numeric Cholesky factorisations of the latent system "
             "`Z'WZ + Q` (one symbolic analysis) + of the prior operator `G + kappa^2 C` "
             "(log|Q| and its gradient; a third of the non-zeros). Evaluations: of the "
             "optimiser + 2 for the observed information (standard errors).",
             "- Each fit timed once in a fresh process (the machine is shared: expect "
             "+-30%); R's timing is cached per data file (`--rerun-r`).",
             f"- Last run: `{info['command']}`.", "",
             "| n | mesh nodes | fit s | CPU s | peak MB (tracemalloc) | max RSS MB | "
             "factorisations | evaluations | range m | sigma | R peer | R s | R / Python |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        rs = r.get("r_s")
        r_txt = "—" if rs is None else f"{rs:.1f}"
        ratio = "—" if rs is None else f"{rs / r['seconds']:.1f}"
        lines.append(
            f"| {r['n']:,} | {r['nodes']:,} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
            f"{r['peak_mb']:.0f} | "
            f"{r['maxrss_mb']:.0f} | {r['factorizations']} + {r['prior_factorizations']} | "
            f"{r['evaluations']} + {r['hessian_evaluations']} | {r['range']:.0f} | "
            f"{r['sigma']:.3f} | "
            f"{r.get('r_label') or '—'} | {r_txt} | {ratio} |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        lines += ["", f"Fit time grows by {b['seconds'] / a['seconds']:.2f}x for "
                  f"{b['n'] / a['n']:.0f}x the observations at a fixed mesh."]
    return "\n".join(lines) + "\n"


def record(text: str, path: Path = RESULTS_MD) -> None:
    """Replace today's SPDE section for this machine, or append it (atomic write)."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = text.splitlines()[0]
    parts, cur = [], []
    for line in old.splitlines():
        if line.startswith("## ") and cur:
            parts.append("\n".join(cur))
            cur = []
        cur.append(line)
    parts.append("\n".join(cur))
    kept = [p for p in parts if p.splitlines()[0] != heading]
    out = "\n".join(p.rstrip("\n") + "\n" for p in kept).rstrip("\n") + "\n\n" + text
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(out)
    os.replace(tmp, path)
    print(f"recorded in {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    p.add_argument("--no-r", action="store_true", help="do not run the R peers")
    p.add_argument("--rerun-r", action="store_true",
                   help="time R again even if a timing of the same file is cached")
    p.add_argument("--no-record", action="store_true", help="print only")
    args = p.parse_args(argv)
    rows, versions = [], {}
    with tempfile.TemporaryDirectory(prefix="sg-spde-data-") as tmp:
        for n in sorted(args.sizes):
            path = data_path(n, Path(tmp))
            print(f"[python] n = {n:,} ...", flush=True)
            row = fit_in_child(path)
            print(json.dumps(row), flush=True)
            if not args.no_r and n in STANDARD:
                print(f"[R] n = {n:,} ...", flush=True)
                row["r_s"], row["r_label"], v = r_peer(path, args.rerun_r)
                versions = v or versions
                print(f"R: {row['r_s']} s ({row['r_label']})", flush=True)
            rows.append(row)
    text = section(rows, versions)
    print(text)
    if not args.no_record:
        record(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
