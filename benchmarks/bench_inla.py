"""INLA-style Bayesian fits (issue 15): cost against the plug-in Laplace fit, and at scale.

    python benchmarks/bench_inla.py [--skip-large] [--skip-rongelap] [--general [--skip-before]]

1. Rongelap (157 counts, the coastline mesh of examples/rongelap_inla.py, ~2,000 nodes):
   the plug-in Laplace fit ``sg.fit(counts ~ spde(...) + offset(log(time)), poisson)`` and
   the full Bayesian fit ``inla(..., E=time)`` (mode and Hessian of pi(theta | y), a 9-point
   CCD, marginals of every latent value, mlik), best of 2 each, same process.
2. 10^5 Poisson counts over a Matern field (benchmarks' ``gp_pois_100k.csv``) on the fixed
   ~4,900-node mesh of bench_spde.py: ``inla(y ~ spde(sx, sy, mesh=mesh), E=exposure)``,
   once (mesh built outside the timing).

3. ``summary_hyperpar`` of the Rongelap fit (the lattice of ``log pi(theta | y)``, 77
   points): value-only Laplace evaluations against full ones (as before session 6, by
   routing ``FieldObjective.value`` to ``evaluate``), same process.
4. ``--general``: three models of the general (u-space) path whose links are not canonical
   (NB + spde() + a 4,000-level ``(1|g)``; Gamma(log) likewise; binomial(probit) + the
   factor; 20,000 rows): the mode search of ``pi(theta | y)`` and its Hessian with the
   engine's exact gradient (observed-information weights) against central differences
   (before session 6, forced by switching ``ObservedInformation.newton_weights`` off),
   PIRLS runs counted.

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


def _best_cpu(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and best CPU seconds of ``repeats`` calls (CPU: the steadier figure on a
    shared machine)."""
    wall, cpu, out = np.inf, np.inf, None
    for _ in range(repeats):
        w, c, out = _timed(fn)
        wall, cpu = min(wall, w), min(cpu, c)
    return wall, cpu, out


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

    t_plug, c_plug, plug = _best_cpu(plug_in, repeats)
    t_inla, c_inla, fit = _best_cpu(bayes, repeats)
    return {"case": "Rongelap SPDE (n=157)", "nodes": mesh.n, "plugin_s": t_plug,
            "inla_s": t_inla, "ratio": t_inla / t_plug, "plugin_cpu_s": c_plug,
            "inla_cpu_s": c_inla, "cpu_ratio": c_inla / c_plug,
            "laplace_evaluations": fit.theta.evaluations, "points": len(fit.points),
            "range_median": fit.range, "plugin_range": float(plug.range)}


def hyper_rongelap() -> dict:
    """``summary_hyperpar`` of the Rongelap fit (the lattice of ``log pi(theta | y)``): the
    value-only evaluations against the full ones (selected inverse and gradient at every
    point, as before session 6), same process."""
    data = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    boundary = shapely.Polygon(coast[["cX", "cY"]].to_numpy()).buffer(50)
    mesh_ = Mesh.build(data[["cX", "cY"]], boundary=boundary, max_edge=(300, 600),  # noqa: F841
                       offset=(100, 1000), cutoff=20)
    out = {}
    for label in ("full", "value_only"):
        fit = inla("counts ~ spde(cX, cY, mesh=mesh_, alpha=1.5)", data, family="poisson",
                   E="time", prior_range=(100.0, 0.5), prior_sigma=(1.0, 0.01))
        field = fit.adapter.field
        if label == "full":  # the old path: every lattice point a full evaluation
            field.value = lambda phi, start=None, f=field: f.evaluate(phi, start, keep=False)
        n0 = fit.adapter.n_evaluations
        wall, cpu, tab = _timed(lambda fit=fit: fit.summary_hyperpar)
        out[label], out[label + "_cpu"] = wall, cpu
        out[label + "_evals"] = fit.adapter.n_evaluations - n0
        out[label + "_range_median"] = float(tab.iloc[0]["0.5quant"])
    return out


def _general_path_models() -> list[tuple[str, str, pd.DataFrame, object, dict]]:
    """Three general-path models whose links are not canonical (the Laplace step on the
    observed information): their mode search ran on difference gradients before session 6."""
    rng = np.random.default_rng(2026)
    n, levels = 20_000, 4_000
    g = rng.integers(0, levels, n)
    sx, sy = rng.uniform(0, 10_000, n), rng.uniform(0, 10_000, n)
    x = rng.normal(size=n)
    field = 0.5 * np.sin(sx / 2000) * np.cos(sy / 2500)
    eta = 0.3 + 0.3 * x + field + rng.normal(0, 0.4, levels)[g]
    mu = np.exp(eta)
    d = pd.DataFrame({"sx": sx, "sy": sy, "x": x, "g": [f"g{k}" for k in g],
                      "nb": rng.negative_binomial(3.0, 3.0 / (3.0 + mu)),
                      "gam": rng.gamma(4.0, mu / 4.0),
                      "bin": rng.binomial(1, sg.families.get_family("binomial", link="probit")
                                          .link.linkinv(eta - 0.3))})
    mesh = Mesh.build(boundary=shapely.box(0, 0, 10_000, 10_000), max_edge=(800.0, 2500.0),
                      offset=(0.0, 2500.0))
    pri = {"prior_range": (2000.0, 0.5), "prior_sigma": (1.0, 0.01)}
    return [("NB + spde() + (1|g) 4000 levels", "nb ~ x + spde(sx, sy, mesh=mesh_) + (1 | g)",
             d, "nb", {**pri, "mesh": mesh}),
            ("Gamma(log) + spde() + (1|g) 4000 levels",
             "gam ~ x + spde(sx, sy, mesh=mesh_) + (1 | g)", d,
             sg.families.get_family("Gamma", link="log"), {**pri, "mesh": mesh}),
            ("binomial(probit) + (1|g) 4000 levels", "bin ~ x + (1 | g)", d,
             sg.families.get_family("binomial", link="probit"), {})]


def general_path(skip_before: bool = False) -> list[dict]:
    """The mode search of ``pi(theta | y)`` and its Hessian (what ``inla()`` differentiates;
    the integration points need no gradient) with exact gradients (after) against central
    differences (before, forced by switching ``ObservedInformation.newton_weights`` off),
    INLA's default priors, from the adapter's start; PIRLS runs counted."""
    from spatialgamm.bayes.engine_adapter import EngineAdapter
    from spatialgamm.bayes.fit import _resolve_priors
    from spatialgamm.bayes.hyper import LogPosterior, find_mode, hessian_at
    from spatialgamm.bayes.observed import ObservedInformation
    from spatialgamm.model import build_model
    rows = []
    for case, formula, d, fam, kw in _general_path_models():
        row = {"case": case, "n": len(d)}
        env = {"mesh_": kw["mesh"]} if "mesh" in kw else None
        spec = build_model(formula, d, fam, env=env)
        for label, exact in (("after", True), ("before", False)):
            if label == "before" and skip_before:
                continue
            ObservedInformation.newton_weights = exact
            ad = EngineAdapter(spec, np.zeros(spec.p), np.zeros(spec.p))
            hp, _ = _resolve_priors(ad, None, kw.get("prior_range"), kw.get("prior_sigma"))
            lp = LogPosterior(ad, [(s.index, hp[s.term]) for s in ad.slots])

            def search(lp=lp, ad=ad):
                mode = find_mode(lp, ad.theta_start())
                return mode, hessian_at(lp, mode)

            wall, cpu, (mode, H) = _timed(search)
            print(case, label, f"{wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            row[f"{label}_s"], row[f"{label}_cpu_s"] = wall, cpu
            row[f"{label}_pirls"] = ad.lap.n_evals
            row[f"{label}_exact"] = ad.lap.has_gradient
            row[f"{label}_mode"] = np.round(mode, 4).tolist()
        ObservedInformation.newton_weights = True
        print(row, flush=True)
        rows.append(row)
    return rows


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
    ap.add_argument("--general", action="store_true",
                    help="the three general-path models (exact vs difference gradients)")
    ap.add_argument("--skip-before", action="store_true")
    args = ap.parse_args(argv)
    if args.general:
        general_path(args.skip_before)
    if not args.skip_rongelap:
        print(hyper_rongelap())
    rows = [] if args.skip_rongelap else [rongelap(4)]
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
