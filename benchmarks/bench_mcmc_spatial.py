"""MCMC speed of brm() with latent fields, next to brms/rstan where that is feasible.

Cases (simulated with a fixed seed, written to a temporary CSV that brms reads too):

* ``gp400``: 400 sites in the unit square, ``y ~ Poisson(exp(0.5 + f(s)))`` with f a
  squared-exponential GP (SD 0.8, length 0.2); ``y ~ gp(x1, x2)`` (exact GP: 400 latent
  values, an O(400^3) Cholesky per gradient).
* ``gauss100`` / ``gauss400``: 100 / 400 sites, ``y ~ N(1 + f(s), 0.3^2)`` with the same
  kind of GP; ``y ~ gp(x1, x2)`` Gaussian: brm() samples the exact marginal posterior of
  (intercept, sdgp, lscale, sigma) in the covariance form (spatialgamm.mcmc.field_marginal),
  brms samples the 100 or 400 latent values non-centred (brms's exact 400-site GP only with
  ``--brms-exact``).
* ``hsgp400``: the same data, ``y ~ gp(x1, x2, k = 15, c = 5/4)`` (225 basis functions).
* ``spde1e4``: 10,000 points, Poisson counts of a Matern field (range 0.3, SD 0.7) sampled
  on a mesh; ``y ~ spde(x1, x2, mesh = mesh)`` with the PC priors P(range < 0.1) = 0.05,
  P(sigma > 1) = 0.05 (a mesh of about 1,000 nodes: one sparse factorisation per gradient).

Reported per case: wall time of the brm() call, the slowest hyperparameter's bulk and tail
ESS (fixed effects and field hyperparameters; not the thousands of latent values), bulk
ESS/s, the largest Rhat and divergences. brms (``--brms``) runs the gp cases in the same
invocation with the same settings, compile time apart (``bench_mcmc_spatial_brms.R``); its
exact 400-site GP is only run with ``--brms-exact`` (Stan's autodiff through a 400 x 400
Cholesky takes hours on this machine); brms has no SPDE.

Usage: python benchmarks/bench_mcmc_spatial.py [--chains 2] [--draws 500] [--warmup 500]
       [--cores 2] [--cases gauss100,gauss400,gp400,hsgp400,spde1e4] [--brms] [--brms-exact] [--json out.json]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import _mcmc_bench
import numpy as np
import pandas as pd

from spatialgamm.mcmc import brm
from spatialgamm.mesh import Mesh, SPDEOperator

ROOT = Path(__file__).resolve().parents[1]


def gp_data(seed: int = 1, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(size=(n, 2))
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    K = 0.8 ** 2 * np.exp(-0.5 * d2 / 0.2 ** 2) + 1e-8 * np.eye(n)
    f = np.linalg.cholesky(K) @ rng.standard_normal(n)
    return pd.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1],
                         "y": rng.poisson(np.exp(0.5 + f))})


def gauss_data(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(size=(n, 2))
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    K = 0.8 ** 2 * np.exp(-0.5 * d2 / 0.2 ** 2) + 1e-8 * np.eye(n)
    f = np.linalg.cholesky(K) @ rng.standard_normal(n)
    return pd.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1],
                         "y": 1.0 + f + 0.3 * rng.standard_normal(n)})


def spde_data(seed: int = 2, n: int = 10_000) -> tuple[pd.DataFrame, Mesh]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(size=(n, 2))
    mesh = Mesh.build(xy[rng.choice(n, 300, replace=False)], max_edge=(0.05, 0.2),
                      offset=(0.05, 0.2), cutoff=0.02)
    Q = SPDEOperator(mesh, 2.0).Q(0.3, 0.7)
    from sksparse.cholmod import cholesky

    fac = cholesky(sp_csc(Q))
    u = fac.apply_Pt(fac.solve_Lt(rng.standard_normal(mesh.n), use_LDLt_decomposition=False))
    eta = 0.3 + mesh.projector(xy) @ u
    return pd.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1], "y": rng.poisson(np.exp(eta))}), mesh


def sp_csc(Q):
    import scipy.sparse as sp

    return sp.csc_matrix(Q)


def diagnostics(fit) -> dict:
    return _mcmc_bench.diagnostics(fit, lambda v: not v.startswith(("r_", "z_", "zgp_")))


def run_python(args, gpd: pd.DataFrame) -> dict:
    out = {}
    cases = args.cases.split(",")
    for name in cases:
        kw = {}
        family = "poisson"
        if name in ("gauss100", "gauss400"):
            formula, data, family = "y ~ gp(x1, x2)", gauss_data(int(name[5:])), "gaussian"
        elif name == "gp400":
            formula, data = "y ~ gp(x1, x2)", gpd
        elif name == "hsgp400":
            formula, data = "y ~ gp(x1, x2, k = 15, c = 5/4)", gpd
        elif name == "spde1e4":
            data, mesh = spde_data()
            formula = "y ~ spde(x1, x2, mesh=mesh)"
            kw = dict(prior_range=(0.1, 0.05), prior_sigma=(1.0, 0.05), env={"mesh": mesh})
            print(f"spde1e4: {mesh.n} mesh nodes")
        else:
            raise SystemExit(f"unknown case {name!r}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fit = brm(formula, data, family=family, chains=args.chains,
                      iter=args.warmup + args.draws, warmup=args.warmup, seed=1,
                      cores=args.cores, progress=False, **kw)
            wall = time.perf_counter() - t0
        out[name] = dict(wall_s=wall, sampling_s=fit.seconds, **diagnostics(fit))
        print(name, json.dumps(out[name]))
    return out


def run_brms(args, gpd: pd.DataFrame) -> dict | None:
    if not args.brms or shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, f = os.path.join(tmp, "gp.csv"), os.path.join(tmp, "brms.json")
        gpd.to_csv(csv, index=False)
        for n in (100, 400):
            gauss_data(n).to_csv(os.path.join(tmp, f"gauss{n}.csv"), index=False)
        cases = [c for c in ("gauss100", "gauss400", "gp400", "hsgp400")
                 if c in args.cases.split(",") and (c not in ("gp400", "gauss400")
                                                     or args.brms_exact)]
        r = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "bench_mcmc_spatial_brms.R"),
                            str(args.chains), str(args.warmup + args.draws), str(args.warmup),
                            str(args.cores), csv, ",".join(cases), f],
                           capture_output=True, text=True)
        if r.returncode:
            print("brms failed:", r.stderr[-2000:])
            return None
        return json.loads(Path(f).read_text())


def table(py: dict, r: dict | None) -> str:
    rows = ["| case | tool | wall s | min bulk ESS | min tail ESS | bulk ESS/s | max Rhat "
            "| divergences | compile s |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in py.items():
        rows.append(f"| {name} | spatialgamm brm (nutpie) | {v['wall_s']:.1f} | "
                    f"{v['min_ess_bulk']:.0f} | {v['min_ess_tail']:.0f} | "
                    f"{v['min_ess_bulk'] / v['wall_s']:.2f} | {v['max_rhat']:.3f} | "
                    f"{v['divergences']} | - |")
        if r and name in r:
            b = r[name]
            rows.append(f"| {name} | brms 2.18 / rstan | {b['sampling_wall_s']:.1f} | "
                        f"{b['min_ess_bulk']:.0f} | {b['min_ess_tail']:.0f} | "
                        f"{b['min_ess_bulk'] / b['sampling_wall_s']:.2f} | "
                        f"{b['max_rhat']:.3f} | {b['divergences']} | {b['compile_s']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    ap = _mcmc_bench.mcmc_arguments(__doc__.splitlines()[0], chains=2, draws=500, warmup=500)
    ap.add_argument("--cases", type=str, default="gauss100,gauss400,gp400,hsgp400,spde1e4")
    ap.add_argument("--brms", action="store_true")
    ap.add_argument("--brms-exact", action="store_true")
    args = ap.parse_args()
    gpd = gp_data()
    py = run_python(args, gpd)
    r = run_brms(args, gpd)
    _mcmc_bench.report(args, py, r, table)


if __name__ == "__main__":
    main()
