"""Bundled example datasets, read as R reads them.

The CSV files live in ``spatialgamm/data/`` and are read through :mod:`importlib.resources`,
so the loaders work from an installed wheel as well as from a checkout. Grouping columns
come back as pandas Categoricals whose categories follow R's ``factor()`` level order: R's
``read.csv`` reads the quoted labels ``"1"``, ``"2"``, ... as integers, so ``factor()`` sorts
them numerically (1, 2, ..., 10, not 1, 10, 2). Level order matters: it fixes which level is
the reference of a treatment contrast (``period2`` ...) and the order of ``ranef`` rows.

Sources and licences are listed in ``spatialgamm/data/README.md``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "as_factor",
    "available",
    "csv_bytes",
    "gam_sim",
    "load",
    "load_cbpp",
    "load_rongelap",
    "load_rongelap_coastline",
    "load_sleepstudy",
    "load_topo",
    "load_toy_paired",
]


def as_factor(values: Iterable | pd.Series) -> pd.Categorical:
    """Convert values to a Categorical with R's ``factor()`` level order.

    Numeric values (as ``read.csv`` gives for labels such as ``"308"``) are sorted
    numerically and their labels kept as strings (``"1"``, ``"2"``, ..., ``"15"``), as R
    prints them; other values are sorted as strings. Integer-valued floats are labelled
    without a decimal point (``3.0`` -> ``"3"``), as R does.

    Parameters
    ----------
    values : iterable or pandas.Series
        The grouping values. Missing values are not allowed.

    Returns
    -------
    pandas.Categorical
        Unordered categorical with string categories in R's level order.

    Raises
    ------
    ValueError
        If ``values`` contains missing values.

    Examples
    --------
    >>> list(as_factor([10, 2, 1, 2]).categories)
    ['1', '2', '10']
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if s.isna().any():
        name = f" {s.name!r}" if s.name is not None else ""
        raise ValueError(f"grouping column{name} has missing values; R's factor() would drop "
                         "them, spatialgamm refuses to guess")
    if isinstance(s.dtype, pd.CategoricalDtype):
        # Already a factor: keep its level order, make the labels strings.
        return pd.Categorical(s.astype(str), categories=[str(c) for c in s.cat.categories])
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        levels = np.unique(s.to_numpy())  # sorted numerically
        labels = {v: _num_label(v) for v in levels}
        return pd.Categorical(s.map(labels).astype(str),
                              categories=[labels[v] for v in levels])
    text = s.astype(str)
    return pd.Categorical(text, categories=sorted(text.unique()))


def _num_label(v: float) -> str:
    """R's label for a numeric level: 3 -> '3', 2.5 -> '2.5'."""
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def _bundled_bytes(filename: str) -> bytes:
    """Bytes of ``spatialgamm/data/<filename>``, from a wheel, a zip or a checkout."""
    try:
        # One path segment per step: namespace-package readers accept only that.
        resource = resources.files("spatialgamm") / "data" / filename
        return resource.read_bytes()
    except (NotADirectoryError, TypeError):
        # importlib.resources cannot read a namespace package behind an editable-install
        # path hook; the file next to this module is the same file then.
        return (Path(__file__).with_name("data") / filename).read_bytes()


def csv_bytes(name: str) -> bytes:
    """The raw bytes of a bundled CSV, e.g. to hand R the very file Python reads.

    Parameters
    ----------
    name : str
        A dataset name from :func:`available`.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset.

    Examples
    --------
    >>> csv_bytes("cbpp").splitlines()[0]
    b'"herd","incidence","size","period"'
    """
    _check_name(name)
    return _bundled_bytes(f"{name}.csv")


def _read(filename: str, columns: dict[str, str]) -> pd.DataFrame:
    """Read a bundled CSV and coerce its columns.

    ``columns`` maps each expected column to ``"factor"``, ``"int"`` or ``"float"``; a file
    whose header differs is a packaging error and is reported as such.
    """
    df = pd.read_csv(io.BytesIO(_bundled_bytes(filename)))
    if list(df.columns) != list(columns):
        raise RuntimeError(f"bundled file data/{filename} has columns {list(df.columns)}, "
                           f"expected {list(columns)}: the installation is damaged")
    if df.isna().any().any():
        raise RuntimeError(f"bundled file data/{filename} has missing values: "
                           "the installation is damaged")
    out = {}
    for col, kind in columns.items():
        if kind == "factor":
            out[col] = as_factor(df[col])
        elif kind == "int":
            out[col] = df[col].astype(np.int64)
        else:
            out[col] = df[col].astype(np.float64)
    return pd.DataFrame(out)


def load_sleepstudy() -> pd.DataFrame:
    """Reaction times in a sleep-deprivation study (lme4's ``sleepstudy``).

    180 rows: 18 subjects, each measured on days 0 to 9 of sleep restricted to 3 hours a
    night.

    Columns
    -------
    Reaction : float64
        Average reaction time (milliseconds).
    Days : int64
        Days of sleep deprivation (0 = baseline).
    Subject : category
        Subject label, 18 levels ``"308"`` ... ``"372"`` in numeric order.

    Source: Belenky et al. (2003), J. Sleep Research 12:1-12; R package lme4.

    Examples
    --------
    >>> ss = load_sleepstudy()
    >>> ss.shape
    (180, 3)
    """
    return _read("sleepstudy.csv", {"Reaction": "float", "Days": "int", "Subject": "factor"})


def load_cbpp() -> pd.DataFrame:
    """Contagious bovine pleuropneumonia in zebu herds (lme4's ``cbpp``).

    56 rows: 15 herds in Ethiopia, followed over up to 4 periods.

    Columns
    -------
    herd : category
        Herd label, 15 levels ``"1"`` ... ``"15"`` in numeric order.
    incidence : int64
        Number of new serological cases in the period.
    size : int64
        Herd size at the start of the period.
    period : category
        Period label, levels ``"1"`` ... ``"4"``.

    Source: Lesnoff et al. (2004), Am. J. Epidemiology 160:48-55; R package lme4.

    Examples
    --------
    >>> cb = load_cbpp()
    >>> list(cb["period"].cat.categories)
    ['1', '2', '3', '4']
    """
    return _read("cbpp.csv", {"herd": "factor", "incidence": "int", "size": "int",
                              "period": "factor"})


def load_rongelap() -> pd.DataFrame:
    """Radionuclide survey of Rongelap Island (Marshall Islands).

    157 locations where gamma-ray counts of caesium-137 were taken.

    Columns
    -------
    cX, cY : float64
        Coordinates of the location (metres, a local planar system).
    counts : int64
        Gamma-ray count.
    time : float64
        Counting time (seconds): the exposure, used as ``offset(log(time))``.

    Source: Diggle, Tawn & Moyeed (1998), JRSS-C 47:299-350; Diggle & Ribeiro (2007),
    *Model-based Geostatistics*; R packages geoR / geoRglm.

    Examples
    --------
    >>> rg = load_rongelap()
    >>> int(rg["counts"].sum() > 0)
    1
    """
    return _read("rongelap.csv", {"cX": "float", "cY": "float", "counts": "int",
                                  "time": "float"})


def load_rongelap_coastline() -> pd.DataFrame:
    """Coastline of Rongelap Island as one closed ring.

    700 vertices; the last repeats the first, so ``shapely.Polygon(df.to_numpy())`` is the
    island.

    Columns
    -------
    cX, cY : float64
        Vertex coordinates (metres, same system as :func:`load_rongelap`).

    Source: as :func:`load_rongelap` (R package geoRglm).

    Examples
    --------
    >>> cl = load_rongelap_coastline()
    >>> bool((cl.iloc[0] == cl.iloc[-1]).all())
    True
    """
    return _read("rongelap_coastline.csv", {"cX": "float", "cY": "float"})


def load_topo() -> pd.DataFrame:
    """Spatial topographic data (MASS's ``topo``): 52 heights within a 310-foot square.

    Columns
    -------
    x, y : float64
        Coordinates (units of 50 feet).
    z : float64
        Height (feet).

    Source: Davis (1973), *Statistics and Data Analysis in Geology*, Wiley; R package MASS.

    Examples
    --------
    >>> load_topo().shape
    (52, 3)
    """
    return _read("topo.csv", {"x": "float", "y": "float", "z": "float"})


def load_toy_paired() -> pd.DataFrame:
    """The four-point paired design: two individuals, untreated and treated.

    A random-intercept model ``Resp ~ Treat + (1|Ind)`` on it reproduces the paired t-test,
    which makes it a closed-form check.

    Columns
    -------
    Resp : int64
        Response.
    Treat : int64
        0 = untreated, 1 = treated.
    Ind : category
        Individual, levels ``"1"``, ``"2"``.

    Examples
    --------
    >>> load_toy_paired()["Resp"].tolist()
    [3, 10, 6, 25]
    """
    return _read("toy_paired.csv", {"Resp": "int", "Treat": "int", "Ind": "factor"})


_LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "sleepstudy": load_sleepstudy,
    "cbpp": load_cbpp,
    "rongelap": load_rongelap,
    "rongelap_coastline": load_rongelap_coastline,
    "topo": load_topo,
    "toy_paired": load_toy_paired,
}


def available() -> list[str]:
    """Names accepted by :func:`load`.

    Examples
    --------
    >>> "cbpp" in available()
    True
    """
    return list(_LOADERS)


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"sleepstudy"``, ``"cbpp"``, ``"rongelap"``,
        ``"rongelap_coastline"``, ``"topo"``, ``"toy_paired"``.

    Returns
    -------
    pandas.DataFrame
        As the matching ``load_<name>()`` returns it.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled dataset.

    Examples
    --------
    >>> load("sleepstudy").columns.tolist()
    ['Reaction', 'Days', 'Subject']
    """
    _check_name(name)
    return _LOADERS[name]()


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in _LOADERS:
        raise ValueError(f"unknown dataset name={name!r}; available: {', '.join(_LOADERS)}")


# --------------------------------------------------------------------------------------
# simulated data as mgcv's gamSim
# --------------------------------------------------------------------------------------


def _gw_f0(x: np.ndarray) -> np.ndarray:
    return 2.0 * np.sin(np.pi * x)


def _gw_f1(x: np.ndarray) -> np.ndarray:
    return np.exp(2.0 * x)


def _gw_f2(x: np.ndarray) -> np.ndarray:
    return 0.2 * x ** 11 * (10.0 * (1.0 - x)) ** 6 + 10.0 * (10.0 * x) ** 3 * (1.0 - x) ** 10


def _bump(x: np.ndarray, z: np.ndarray, sx: float = 0.3, sz: float = 0.4) -> np.ndarray:
    return (np.pi ** sx * sz) * (1.2 * np.exp(-(x - 0.2) ** 2 / sx ** 2 - (z - 0.3) ** 2 / sz ** 2)
                                 + 0.8 * np.exp(-(x - 0.7) ** 2 / sx ** 2
                                                - (z - 0.8) ** 2 / sz ** 2))


def _respond(f: np.ndarray, dist: str, scale: float, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """(y, f on the linear-predictor scale) for gamSim's ``dist``."""
    if dist == "normal":
        return f + rng.normal(0.0, 1.0, f.size) * scale, f
    if dist == "poisson":
        g = np.exp(f * scale)
        return rng.poisson(g).astype(float), np.log(g)
    if dist == "binary":
        eta = (f - 5.0) * scale
        return rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(float), eta
    raise ValueError(f"gam_sim: dist must be 'normal', 'poisson' or 'binary', got {dist!r}")


def gam_sim(eg: int = 1, n: int = 400, seed: int | None = None, dist: str = "normal",
            scale: float = 2.0) -> pd.DataFrame:
    """Simulated data of mgcv's ``gamSim`` examples 1, 2, 4 and 6.

    The functions of the covariates are those of mgcv's documentation; the random numbers
    come from numpy (``seed``), so the draws differ from R's ``gamSim`` for the same seed.

    Parameters
    ----------
    eg : {1, 2, 4, 6}
        1: Gu & Wahba's 4-term additive model, ``y = f0(x0) + f1(x1) + f2(x2) + f3(x3) + e``
        with ``f0 = 2 sin(pi x)``, ``f1 = exp(2x)``,
        ``f2 = 0.2 x^11 (10(1-x))^6 + 10 (10x)^3 (1-x)^10``, ``f3 = 0`` and x ~ U(0, 1).
        2: a 2-D bump, ``f(x, z) = pi^0.3 * 0.4 * (1.2 exp(-(x-.2)^2/.3^2 - (z-.3)^2/.4^2)
        + 0.8 exp(-(x-.7)^2/.3^2 - (z-.8)^2/.4^2))``.
        4: a factor ``by``: ``fac`` in {1, 2, 3} picks ``2 sin(pi x2)``, ``exp(2 x2) - 3.75887``
        or ``f2(x2)`` of example 1 (x0, x1 unused).
        6: example 1 plus a 4-level effect ``3 * fac`` with ``fac = 1, 2, 3, 4, 1, ...``.
    n : int
        Number of rows (a multiple of 4 for ``eg=6``).
    seed : int, optional
        Seed of numpy's generator.
    dist : {'normal', 'poisson', 'binary'}
        Response for examples 1 and 6, as gamSim: ``normal`` adds N(0, scale^2) noise,
        ``poisson`` uses mean ``exp(f * scale)``, ``binary`` probability
        ``logit^-1((f - 5) * scale)``. Examples 2 and 4 are normal only.
    scale : float
        Noise standard deviation (or the multiplier above).

    Returns
    -------
    DataFrame
        The response ``y``, the covariates and the truth (``f`` and the component
        functions), with mgcv's column names.

    Examples
    --------
    >>> d = gam_sim(1, n=200, seed=1)
    >>> list(d.columns)
    ['y', 'x0', 'x1', 'x2', 'x3', 'f', 'f0', 'f1', 'f2', 'f3']
    >>> bool(np.allclose(d.f, d.f0 + d.f1 + d.f2))
    True
    """
    if eg not in (1, 2, 4, 6):
        raise ValueError(f"gam_sim: eg must be 1, 2, 4 or 6, got {eg!r}")
    if int(n) != n or n < 1:
        raise ValueError(f"gam_sim: n must be a positive integer, got {n!r}")
    n = int(n)
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"gam_sim: scale must be finite and non-negative, got {scale!r}")
    if eg in (2, 4) and dist != "normal":
        raise ValueError(f"gam_sim: example {eg} has normal errors only (dist={dist!r})")
    rng = np.random.default_rng(seed)
    if eg in (1, 6):
        x = rng.uniform(size=(4, n))
        f0, f1, f2 = _gw_f0(x[0]), _gw_f1(x[1]), _gw_f2(x[2])
        f = f0 + f1 + f2
        cols: dict[str, Any] = {}
        if eg == 6:
            if n % 4:
                raise ValueError(f"gam_sim: example 6 needs n a multiple of 4, got {n}")
            fac = np.tile(np.arange(1, 5), n // 4)
            f = f + 3.0 * fac
            cols["fac"] = pd.Categorical(fac.astype(str), categories=["1", "2", "3", "4"])
        y, f = _respond(f, dist, scale, rng)
        out = pd.DataFrame({"y": y, "x0": x[0], "x1": x[1], "x2": x[2], "x3": x[3], "f": f,
                            "f0": f0, "f1": f1, "f2": f2, "f3": np.zeros(n)})
        for k, v in cols.items():
            out[k] = v
        return out
    if eg == 2:
        x, z = rng.uniform(size=n), rng.uniform(size=n)
        f = _bump(x, z)
        return pd.DataFrame({"y": f + rng.normal(size=n) * scale, "x": x, "z": z, "f": f})
    x0, x1, x2 = rng.uniform(size=n), rng.uniform(size=n), rng.uniform(size=n)
    g1, g2, g3 = 2 * np.sin(np.pi * x2), np.exp(2 * x2) - 3.75887, _gw_f2(x2)
    fac = rng.integers(1, 4, size=n)
    f = np.choose(fac - 1, [g1, g2, g3])
    return pd.DataFrame({"y": f + rng.normal(0.0, scale, n), "x0": x0, "x1": x1, "x2": x2,
                         "fac": pd.Categorical(fac.astype(str), categories=["1", "2", "3"]),
                         "f1": g1, "f2": g2, "f3": g3})
