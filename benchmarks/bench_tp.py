"""Thin-plate regression splines (bs='tp', mgcv's default): spatialgamm.gam against mgcv::gam.

    python benchmarks/bench_tp.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases, by REML (and the 400-row additive model also by GCV): the gamSim(1) additive model
``y ~ s(x0) + s(x1) + s(x2) + s(x3)`` on 400 rows and on 10,000 rows (mgcv then subsamples
2,000 knots per smooth), and a 2-D ``y ~ s(x, z)`` on 10,000 rows (k = 30, 2,000 knots). Also
the space-time Poisson tensor product of examples/spacetime_te.py, ``cases ~ te(x, y, t,
d=c(2,1), bs=c('tp','cr'), k=c(25,5)) + offset(log(pop))`` on 3,000 rows by UBRE (mgcv's
default). The large cases are fitted once, as peers_tp.R does (skipped by --quick). R times
come from peers_tp.R (peers.R's interface).
"""

import dataclasses
import sys
from pathlib import Path

import _common
import _datagen
import numpy as np
import pandas as pd
from _common import Case, main

_common.PEERS_R = Path(__file__).resolve().parent / "peers_tp.R"


def gam_sim1(n: int = 400, scale: float = 2.0, seed: int = 20261202) -> pd.DataFrame:
    """gamSim's example 1: x0..x3 uniform, ``y = f0 + f1 + f2 + N(0, scale^2)`` with
    ``f0 = 2 sin(pi x0)``, ``f1 = exp(2 x1)``, ``f2 = 0.2 x2^11 (10 (1 - x2))^6 +
    10 (10 x2)^3 (1 - x2)^10`` and no effect of x3 (Gu and Wahba's functions)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 4))
    f = (2 * np.sin(np.pi * x[:, 0]) + np.exp(2 * x[:, 1])
         + 0.2 * x[:, 2] ** 11 * (10 * (1 - x[:, 2])) ** 6
         + 10 * (10 * x[:, 2]) ** 3 * (1 - x[:, 2]) ** 10)
    y = f + scale * rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "x3": x[:, 3]})


def tp_xz(n: int = 10_000, sd: float = 0.3, seed: int = 20261203) -> pd.DataFrame:
    """A 2-D surface ``sin(2 pi x) cos(2 pi z)`` at uniform points plus N(0, sd^2) noise."""
    rng = np.random.default_rng(seed)
    x, z = rng.uniform(size=(2, n))
    y = np.sin(2 * np.pi * x) * np.cos(2 * np.pi * z) + sd * rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "z": z})


def spacetime(n: int = 3000, seed: int = 20261204) -> pd.DataFrame:
    """Counts at points in a 100 x 80 region over ten years with a population at risk: a
    hotspot moving east on a rising trend (the truth of examples/spacetime_te.py)."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 80, n)
    t = rng.integers(0, 10, n)
    pop = np.round(np.exp(rng.normal(np.log(5000), 0.8, n)))
    eta = -7 + 1.5 * np.exp(-((x - 20 - 5 * t) ** 2 + (y - 40) ** 2) / (2 * 12.0 ** 2)) + 0.06 * t
    return pd.DataFrame({"x": x, "y": y, "t": t, "pop": pop,
                         "cases": rng.poisson(pop * np.exp(eta))})


_datagen.SIMULATED.update({
    "tp_add_400.csv": (gam_sim1, {"n": 400}),
    "tp_add_10k.csv": (gam_sim1, {"n": 10_000}),
    "tp_xz_10k.csv": (tp_xz, {"n": 10_000}),
    "te_st_3k.csv": (spacetime, {"n": 3000}),
})

ADD = "y ~ s(x0) + s(x1) + s(x2) + s(x3)"
TE_ST = "cases ~ te(x, y, t, d=c(2,1), bs=c('tp','cr'), k=c(25,5)) + offset(log(pop))"

CASES = [
    Case(name="tp_add_400_reml", csv="tp_add_400.csv", r_name="tp_add.csv",
         r_key="tp_add_reml", fit=lambda sg, d: sg.gam(ADD, d, method="REML")),
    Case(name="tp_add_400_gcv", csv="tp_add_400.csv", r_name="tp_add.csv",
         r_key="tp_add_gcv", fit=lambda sg, d: sg.gam(ADD, d, method="GCV")),
    Case(name="tp_add_10k_reml", csv="tp_add_10k.csv", r_name="tp_add.csv",
         r_key="tp_add_reml", large=True, repeats=lambda r: 1, warmup=0,
         fit=lambda sg, d: sg.gam(ADD, d, method="REML")),
    Case(name="tp_xz_10k_reml", csv="tp_xz_10k.csv", r_name="tp_xz.csv",
         r_key="tp_xz_reml", large=True, repeats=lambda r: 1, warmup=0,
         fit=lambda sg, d: sg.gam("y ~ s(x, z)", d, method="REML")),
    Case(name="te_st_3k_ubre", csv="te_st_3k.csv", r_name="te_st.csv", r_key="te_st_ubre",
         large=True, repeats=lambda r: 1, warmup=0,
         fit=lambda sg, d: sg.gam(TE_ST, d, family="poisson")),
]
# Case's r_script default was bound to peers.R when _common was imported: point the
# cases at peers_tp.R explicitly, or R times the wrong script and reports nothing
CASES = [dataclasses.replace(c, r_script=_common.PEERS_R) for c in CASES]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
