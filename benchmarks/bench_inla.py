"""INLA-style Bayesian fits (issue 15): cost against the plug-in Laplace fit, and at scale.

    python benchmarks/bench_inla.py [--skip-large]

1. Rongelap (157 counts, the coastline mesh of examples/rongelap_inla.py, ~2,000 nodes):
   the plug-in Laplace fit ``sg.fit(counts ~ spde(...) + offset(log(time)), poisson)`` and
   the full Bayesian fit ``inla(..., E=time)`` (mode and Hessian of pi(theta | y), a 9-point
   CCD, marginals of every latent value, mlik), best of 2 each, same process.
2. 10^5 Poisson counts over a Matern field (benchmarks' ``gp_pois_100k.csv``) on the fixed
   ~4,900-node mesh of bench_spde.py: ``inla(y ~ spde(sx, sy, mesh=mesh), E=exposure)``,
   once (mesh built outside the timing).

R-INLA is not installed here (``requireNamespace("INLA")`` is FALSE) and cannot be: it is
not on CRAN nor packaged by Debian, only distributed from its own repository, which this
machine does not reach. So there is no same-machine R-INLA column. Published figures for orientation only (other hardware):
Rue et al. (2009, JRSS-B 71, sec. 5) report INLA fits of spatial Poisson/binomial models in
seconds where MCMC took hours; Lindgren & Rue (2015, J. Stat. Softw. 63(19)) fit SPDE models
with meshes of a few thousand nodes in seconds to a minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

import spatialgamm as sg  # noqa: E402
from spatialgamm.bayes import inla  # noqa: E402
from spatialgamm.mesh import Mesh  # noqa: E402


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _timed(fn) -> tuple[float, float, object]:
    """Wall and CPU seconds (the process's, all threads: the steadier figure on a shared
    machine) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def rongelap(repeats: int = 2) -> dict:
    data = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
    mesh = Mesh.build(data[["cX", "cY"]], boundary=boundary, max_edge=(300, 600),
                      offset=(100, 1000), cutoff=20)

    def plug_in():  # the formula's mesh= is looked up in this frame
        mesh_ = mesh  # noqa: F841
        return sg.fit("counts ~ spde(cX, cY, mesh=mesh_, alpha=1.5) + offset(log(time))",
                      data, family="poisson")

    def bayes():
        mesh_ = mesh  # noqa: F841
        return inla("counts ~ spde(cX, cY, mesh=mesh_, alpha=1.5)", data, family="poisson",
                    E="time", prior_range=(100.0, 0.5), prior_sigma=(1.0, 0.01))

    t_plug, plug = _best(plug_in, repeats)
    t_inla, fit = _best(bayes, repeats)
    return {"case": "Rongelap SPDE (n=157)", "nodes": mesh.n, "plugin_s": t_plug,
            "inla_s": t_inla, "ratio": t_inla / t_plug,
            "laplace_evaluations": fit.theta.evaluations, "points": len(fit.points),
            "range_median": fit.range, "plugin_range": float(plug.range)}


def large(n: int = 100_000) -> dict:
    import _datagen
    path = _datagen.ensure("gp_pois_100k.csv")
    data = pd.read_csv(path).iloc[:n]
    mesh = Mesh.build(boundary=shapely.box(0, 0, 10_000, 10_000), max_edge=(250.0, 1500.0),
                      offset=(0.0, 3000.0))
    def bayes():  # the formula's mesh= is looked up in the calling frame (R's environment)
        mesh_ = mesh  # noqa: F841
        return inla("y ~ spde(sx, sy, mesh=mesh_)", data, family="poisson", E="exposure",
                    prior_range=(500.0, 0.5), prior_sigma=(1.0, 0.01))

    seconds, cpu, fit = _timed(bayes)
    return {"case": f"Poisson SPDE (n={len(data)})", "nodes": mesh.n, "inla_s": seconds,
            "inla_cpu_s": cpu,
            "laplace_evaluations": fit.theta.evaluations, "points": len(fit.points),
            "range_median": fit.range,
            "sigma_median": float(fit.summary_hyperpar.iloc[1]["0.5quant"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--skip-rongelap", action="store_true")
    args = ap.parse_args(argv)
    rows = [] if args.skip_rongelap else [rongelap()]
    if not args.skip_large:
        rows.append(large(args.n))
    print("| case | mesh nodes | plug-in Laplace (s) | INLA-style (s) | INLA-style CPU (s) | "
          "ratio | Laplace evaluations | CCD points |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['nodes']} | {r.get('plugin_s', float('nan')):.1f} | "
              f"{r['inla_s']:.1f} | {r.get('inla_cpu_s', float('nan')):.1f} | "
              f"{r.get('ratio', float('nan')):.1f} | "
              f"{r['laplace_evaluations']} | {r['points']} |")
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
