"""Simulated designs for the optimiser study (tests/test_optimizer_study.py).

Each class is a family of random designs where a first-order optimiser is tempted to stop on
a boundary (variance 0, correlation +-1) that is not the optimum, or where the true optimum
is on the boundary. Run: python make_data.py (writes designs.csv.gz); then
Rscript make_reference.R (fits every design with lme4 at tight tolerances).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent

#: class -> (number of designs, lme4 call pieces: formula, REML, family)
CLASSES = {
    "small_groups": (60, "y ~ x + (1 | g)", True, "gaussian"),
    "nested": (30, "y ~ x + (1 | a/b)", True, "gaussian"),
    "slopes_only": (30, "y ~ x + (0 + x | g)", False, "gaussian"),
    "crossed": (20, "y ~ x + (1 | a) + (1 | b)", True, "gaussian"),
    "corr_slopes": (30, "y ~ x + (x | g)", True, "gaussian"),
    "poisson": (30, "count ~ x + (1 | g)", False, "poisson"),
    "binomial": (20, "cbind(s, n - s) ~ x + (1 | g)", False, "binomial"),
}


def simulate(cls: str, i: int) -> pd.DataFrame:
    rng = np.random.default_rng([20261202, list(CLASSES).index(cls), i])
    if cls == "small_groups":
        sizes = rng.integers(1, 5, 100)
        g = np.repeat(np.arange(100), sizes)
        x = rng.normal(size=len(g))
        sd_g = rng.choice([0.0, 0.05, 0.1, 0.2, 0.4])
        y = 1 + 0.5 * x + sd_g * rng.normal(size=100)[g] + rng.normal(size=len(g))
        return pd.DataFrame({"y": y, "x": x, "g": g})
    if cls == "nested":
        na, nb, m = 12, 4, 3
        a = np.repeat(np.arange(na), nb * m)
        b = np.tile(np.repeat(np.arange(nb), m), na)
        x = rng.normal(size=len(a))
        sd_b = rng.choice([0.0, 0.05, 0.1, 0.2])
        y = (2 + 0.3 * x + 0.8 * rng.normal(size=na)[a]
             + sd_b * rng.normal(size=na * nb)[a * nb + b] + rng.normal(size=len(a)))
        return pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    if cls == "slopes_only":
        ng = int(rng.integers(15, 40))
        sizes = rng.integers(2, 8, ng)
        g = np.repeat(np.arange(ng), sizes)
        x = rng.normal(size=len(g)) * rng.choice([1.0, 3.0])
        sd_s = rng.choice([0.0, 0.1, 0.3, 0.6])
        y = 0.5 + (1.0 + sd_s * rng.normal(size=ng)[g]) * x + rng.normal(size=len(g))
        return pd.DataFrame({"y": y, "x": x, "g": g})
    if cls == "crossed":
        na, nb = int(rng.integers(6, 15)), int(rng.integers(4, 10))
        a = np.repeat(np.arange(na), nb)
        b = np.tile(np.arange(nb), na)
        keep = rng.random(len(a)) < 0.8
        a, b = a[keep], b[keep]
        x = rng.normal(size=len(a))
        sd_a, sd_b = rng.choice([0.0, 0.1, 0.5]), rng.choice([0.0, 0.1, 0.5])
        y = (x + sd_a * rng.normal(size=na)[a] + sd_b * rng.normal(size=nb)[b]
             + rng.normal(size=len(a)))
        return pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    if cls == "corr_slopes":
        ng = int(rng.integers(8, 25))
        sizes = rng.integers(3, 9, ng)
        g = np.repeat(np.arange(ng), sizes)
        x = rng.uniform(0, 5, len(g))
        rho = rng.choice([-1.0, -0.5, 0.0, 0.9, 1.0])
        s0, s1 = rng.choice([0.2, 1.0]), rng.choice([0.0, 0.05, 0.3])
        z0, z1 = rng.normal(size=ng), rng.normal(size=ng)
        b0 = s0 * z0
        b1 = s1 * (rho * z0 + np.sqrt(max(1 - rho ** 2, 0)) * z1)
        y = 1 + 0.4 * x + b0[g] + b1[g] * x + rng.normal(size=len(g))
        return pd.DataFrame({"y": y, "x": x, "g": g})
    if cls == "poisson":
        ng = int(rng.integers(10, 40))
        sizes = rng.integers(1, 6, ng)
        g = np.repeat(np.arange(ng), sizes)
        x = rng.normal(size=len(g))
        sd_g = rng.choice([0.0, 0.05, 0.1, 0.3])
        eta = 0.5 + 0.3 * x + sd_g * rng.normal(size=ng)[g]
        return pd.DataFrame({"count": rng.poisson(np.exp(eta)), "x": x, "g": g})
    if cls == "binomial":
        ng = int(rng.integers(10, 30))
        sizes = rng.integers(1, 5, ng)
        g = np.repeat(np.arange(ng), sizes)
        x = rng.normal(size=len(g))
        n = rng.integers(1, 10, len(g))
        sd_g = rng.choice([0.0, 0.1, 0.3, 0.8])
        eta = -0.3 + 0.5 * x + sd_g * rng.normal(size=ng)[g]
        s = rng.binomial(n, 1 / (1 + np.exp(-eta)))
        return pd.DataFrame({"s": s, "n": n, "x": x, "g": g})
    raise KeyError(cls)


def all_designs() -> pd.DataFrame:
    frames = []
    for cls, (count, *_rest) in CLASSES.items():
        for i in range(count):
            d = simulate(cls, i)
            d.insert(0, "design", i)
            d.insert(0, "cls", cls)
            frames.append(d)
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    all_designs().to_csv(HERE / "designs.csv.gz", index=False, float_format="%.17g")
