"""Benchmark data: simulated with fixed seeds and known truth, written once to benchmarks/_data/.

Each file has a sidecar ``<name>.json`` with the generator's parameters (and so the truth);
a file is rewritten only when it is missing or its parameters changed. The bundled datasets
are copied byte for byte, so R and Python read the very same file.

    python benchmarks/_datagen.py          # writes every file, prints where
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from spatialgamm import datasets

DATA_DIR = Path(__file__).resolve().parent / "_data"
GENERATOR_VERSION = 1  # bump when a generator's algorithm changes


def lmm_crossed(n: int = 100_000, n1: int = 2_000, n2: int = 200, beta=(2.0, 0.5),
                sd1: float = 0.8, sd2: float = 0.4, sigma: float = 1.0,
                seed: int = 20240601) -> pd.DataFrame:
    """Gaussian ``y ~ x + (1|g1) + (1|g2)`` with crossed, unbalanced-in-cells factors.

    Every level of g1 gets n/n1 rows and every level of g2 n/n2 rows (so no level is
    empty), paired at random. Truth: ``beta``, sd(g1) = ``sd1``, sd(g2) = ``sd2``,
    residual sd = ``sigma``.
    """
    rng = np.random.default_rng(seed)
    g1 = rng.permutation(np.resize(np.arange(1, n1 + 1), n))
    g2 = rng.permutation(np.resize(np.arange(1, n2 + 1), n))
    x = rng.standard_normal(n)
    b1 = sd1 * rng.standard_normal(n1)
    b2 = sd2 * rng.standard_normal(n2)
    y = beta[0] + beta[1] * x + b1[g1 - 1] + b2[g2 - 1] + sigma * rng.standard_normal(n)
    return pd.DataFrame({"y": y, "x": x, "g1": g1, "g2": g2})


def glmm_pois(n: int = 100_000, n1: int = 2_000, beta=(0.5, 0.3), sd1: float = 0.5,
              seed: int = 20240602) -> pd.DataFrame:
    """Poisson ``y ~ x + (1|g1)``, log link, n/n1 rows per group.

    Truth: ``beta`` and sd(g1) = ``sd1``.
    """
    rng = np.random.default_rng(seed)
    g1 = rng.permutation(np.resize(np.arange(1, n1 + 1), n))
    x = rng.standard_normal(n)
    b1 = sd1 * rng.standard_normal(n1)
    y = rng.poisson(np.exp(beta[0] + beta[1] * x + b1[g1 - 1]))
    return pd.DataFrame({"y": y, "x": x, "g1": g1})


def gp_pois(n: int = 10_000, side: float = 10_000.0, length: float = 1_500.0,
            sd_field: float = 0.6, intercept: float = 1.0, n_features: int = 400,
            seed: int = 20240603) -> pd.DataFrame:
    """Poisson counts over a smooth spatial field, with an exposure.

    Points are uniform on a ``side`` x ``side`` square (metres). The field is a random
    Fourier-feature draw (Rahimi & Recht 2007) whose covariance is, in expectation over
    the features, ``sd_field**2`` times the Matern 3/2 correlation with length-scale
    ``length``, ``(1 + sqrt(3) r / length) exp(-sqrt(3) r / length)``: its spectral density
    is a bivariate Student-t with 3 degrees of freedom and scale ``1 / length``.
    ``y ~ Poisson(exposure * exp(intercept + field))``, exposure uniform on [0.5, 2].
    Cost O(n * n_features), no n x n matrix.
    """
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, side, size=(n, 2))
    dof = 3.0  # 2 * nu for nu = 3/2
    omega = rng.standard_normal((n_features, 2)) / length
    omega /= np.sqrt(rng.chisquare(dof, size=n_features) / dof)[:, None]
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n_features)
    field = np.empty(n)
    for start in range(0, n, 20_000):  # chunks keep the n x features block small
        block = s[start:start + 20_000] @ omega.T + phase
        field[start:start + 20_000] = np.cos(block).sum(axis=1)
    field *= sd_field * np.sqrt(2.0 / n_features)
    exposure = rng.uniform(0.5, 2.0, size=n)
    y = rng.poisson(exposure * np.exp(intercept + field))
    return pd.DataFrame({"sx": s[:, 0], "sy": s[:, 1], "y": y, "exposure": exposure})


def lmm_two_terms(n_groups: int = 100, per_group: int = 10, beta=(2.0, 0.5),
                  sd_int: float = 1.0, sd_slope: float = 0.3, sigma: float = 1.0,
                  seed: int = 20240605) -> pd.DataFrame:
    """Gaussian ``y ~ x + (1|g) + (0 + x|g)``: two uncorrelated terms on one factor.

    ``per_group`` rows per level at x near 0, 1, ..., per_group - 1 (jittered by 0.1).
    Truth: ``beta``, sd of the intercepts ``sd_int``, of the slopes ``sd_slope``, residual
    sd ``sigma``.
    """
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(1, n_groups + 1), per_group)
    x = np.tile(np.arange(per_group, dtype=float), n_groups) + rng.normal(0.0, 0.1, g.size)
    b0 = sd_int * rng.standard_normal(n_groups)
    b1 = sd_slope * rng.standard_normal(n_groups)
    y = (beta[0] + beta[1] * x + b0[g - 1] + b1[g - 1] * x
         + sigma * rng.standard_normal(g.size))
    return pd.DataFrame({"y": y, "x": x, "g": g})


def glmm_binary(n_groups: int = 500, per_group: int = 10, beta=(-0.5, 0.8), sd: float = 1.0,
                seed: int = 20240606) -> pd.DataFrame:
    """Binary ``y ~ x + (1|g)``, logit link, ``per_group`` rows per level.

    Truth: ``beta`` and sd(g) = ``sd``.
    """
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(1, n_groups + 1), per_group)
    x = rng.standard_normal(g.size)
    b = sd * rng.standard_normal(n_groups)
    eta = beta[0] + beta[1] * x + b[g - 1]
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "g": g})


# file name -> (generator, keyword arguments). The bundled ones are copied, not generated.
SIMULATED: dict[str, tuple[Callable[..., pd.DataFrame], dict]] = {
    "lmm_crossed.csv": (lmm_crossed, {}),
    "glmm_pois.csv": (glmm_pois, {}),
    "gp_pois_10k.csv": (gp_pois, {"n": 10_000}),
    "gp_pois_100k.csv": (gp_pois, {"n": 100_000, "seed": 20240604}),
    "lmm_2terms_100.csv": (lmm_two_terms, {"n_groups": 100}),
    "lmm_2terms_1000.csv": (lmm_two_terms, {"n_groups": 1000, "seed": 20240607}),
    "glmm_bin_500.csv": (glmm_binary, {}),
}
BUNDLED = ("sleepstudy.csv", "cbpp.csv", "rongelap.csv")
# Datasets of R packages that the package does not bundle: written by Rscript when missing
# (R is needed for their peer anyway). VerbAgg's binary response r2 is written as 0/1.
FROM_R = {
    "boston.csv": "write.csv(MASS::Boston[c('medv', 'lstat', 'rm', 'dis')], OUT, "
                  "row.names = FALSE)",
    "verbagg.csv": "d <- lme4::VerbAgg; d$r2 <- as.integer(d$r2 == 'Y'); "
                   "write.csv(d[c('r2', 'Anger', 'Gender', 'btype', 'situ', 'id', 'item')], "
                   "OUT, row.names = FALSE)",
    # tests/reference/gamscale/make_reference.R's second design (Gamma, a te() term)
    "gamma_te.csv": "set.seed(20261202); n <- 400; x0 <- runif(n); x1 <- runif(n); "
                    "x2 <- runif(n); f <- 0.6 * sin(2 * pi * x0) + "
                    "0.8 * exp(-((x1 - 0.5)^2 + (x2 - 0.4)^2) / 0.08); "
                    "d <- data.frame(x0 = x0, x1 = x1, x2 = x2, "
                    "y = rgamma(n, shape = 4, scale = exp(0.5 + f) / 4)); "
                    "write.csv(d, OUT, row.names = FALSE)",
}


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def ensure(name: str, data_dir: Path = DATA_DIR) -> Path:
    """Return the path of benchmark file ``name``, writing it first if needed.

    Parameters
    ----------
    name : str
        One of ``SIMULATED`` or ``BUNDLED`` (e.g. ``"lmm_crossed.csv"``).
    data_dir : Path
        Where the files live (git-ignored ``benchmarks/_data`` by default).

    Examples
    --------
    >>> ensure("cbpp.csv").name
    'cbpp.csv'
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / name
    if name in BUNDLED:
        data = datasets.csv_bytes(name.removesuffix(".csv"))
        if not path.exists() or path.read_bytes() != data:
            _write_atomic(path, lambda p: p.write_bytes(data))
        return path
    if name in FROM_R:
        if not path.exists():
            _write_atomic(path, lambda p: _write_from_r(FROM_R[name], p))
        return path
    if name not in SIMULATED:
        raise ValueError(f"unknown benchmark file name={name!r}; known: "
                         f"{', '.join([*SIMULATED, *BUNDLED, *FROM_R])}")
    gen, kwargs = SIMULATED[name]
    # Record every parameter, defaults included, so that a changed default regenerates.
    bound = inspect.signature(gen).bind(**kwargs)
    bound.apply_defaults()
    meta = json.loads(json.dumps({"generator": gen.__name__, "version": GENERATOR_VERSION,
                                  "parameters": dict(bound.arguments)}))
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        if json.loads(meta_path.read_text()) == meta:
            return path
    df = gen(**kwargs)
    _write_atomic(path, lambda p: df.to_csv(p, index=False, float_format="%.10g"))
    _write_atomic(meta_path, lambda p: p.write_text(json.dumps(meta, indent=1)))
    return path


def _write_from_r(code: str, path: Path) -> None:
    """Run ``code`` in Rscript with ``OUT`` set to ``path`` (a dataset of an R package)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise FileNotFoundError(f"{path.name} is written from an R package and Rscript is not "
                                "on PATH (`make setup-r` installs R and lme4)")
    proc = subprocess.run([rscript, "-e", f"OUT <- {str(path)!r}; {code}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(f"Rscript could not write {path.name}: {proc.stderr.strip()[-500:]}")


def ensure_all(data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Write every benchmark file that is missing or stale; return name -> path."""
    return {name: ensure(name, data_dir) for name in [*BUNDLED, *SIMULATED, *FROM_R]}


if __name__ == "__main__":
    for name, p in ensure_all().items():
        print(f"{name:20s} {p}")
    sys.exit(0)
