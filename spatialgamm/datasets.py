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

import numpy as np
import pandas as pd

__all__ = [
    "as_factor",
    "available",
    "csv_bytes",
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
