"""Bundled datasets: found through importlib.resources, shaped and typed as R reads them.

Expected shapes come from the R documentation of each dataset (lme4, MASS, geoR) and
spatialgamm/data/README.md; level orders come from R's own output in tests/reference/
(the order of ``ranef`` rows and the names of treatment contrasts lme4 printed).
"""

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spatialgamm import datasets

ROOT = Path(__file__).resolve().parents[1]

# name -> (rows, {column: dtype kind}) ; kinds: "f" float64, "i" int64, "c" categorical
EXPECTED = {
    "sleepstudy": (180, {"Reaction": "f", "Days": "i", "Subject": "c"}),
    "cbpp": (56, {"herd": "c", "incidence": "i", "size": "i", "period": "c"}),
    "rongelap": (157, {"cX": "f", "cY": "f", "counts": "i", "time": "f"}),
    "rongelap_coastline": (700, {"cX": "f", "cY": "f"}),
    "topo": (52, {"x": "f", "y": "f", "z": "f"}),
    "toy_paired": (4, {"Resp": "i", "Treat": "i", "Ind": "c"}),
}


def _kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return "c"
    if dtype == np.float64:
        return "f"
    if dtype == np.int64:
        return "i"
    return str(dtype)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_columns_dtypes(name):
    df = datasets.load(name)
    rows, cols = EXPECTED[name]
    assert df.shape == (rows, len(cols))
    assert list(df.columns) == list(cols)
    assert {c: _kind(df[c].dtype) for c in df.columns} == cols
    assert not df.isna().any().any()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_by_name_equals_loader(name):
    pd.testing.assert_frame_equal(datasets.load(name), getattr(datasets, f"load_{name}")())


def test_load_cbpp_by_name():
    pd.testing.assert_frame_equal(datasets.load("cbpp"), datasets.load_cbpp())


def test_available_lists_every_loader():
    assert sorted(datasets.available()) == sorted(EXPECTED)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="unknown dataset name='nope'") as err:
        datasets.load("nope")
    for name in EXPECTED:
        assert name in str(err.value)


def test_files_found_via_importlib_resources():
    data = resources.files("spatialgamm") / "data"
    for name in EXPECTED:
        assert (data / f"{name}.csv").is_file(), name


def test_every_bundled_csv_is_packaged_and_loadable():
    # pyproject's package-data decides what a wheel ships: every CSV must match it.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(ROOT / "pyproject.toml", "rb") as fh:
        package_data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["spatialgamm"]
    assert "data/*.csv" in package_data
    on_disk = sorted(p.stem for p in (ROOT / "spatialgamm" / "data").glob("*.csv"))
    assert on_disk == sorted(EXPECTED)


def test_sleepstudy_levels_follow_lme4(reference):
    # lme4 printed ranef(m)$Subject rows in factor-level order.
    ref = reference("sleepstudy")["lmer_Reaction_Days_corr_REML"]["ranef"]["Subject"]
    levels = [row["level"] for row in ref]
    ss = datasets.load_sleepstudy()
    assert list(ss["Subject"].cat.categories) == levels
    assert levels[:3] == ["308", "309", "310"]  # numeric order, labels kept as strings
    assert (ss.groupby("Subject", observed=True).size() == 10).all()
    assert sorted(ss["Days"].unique()) == list(range(10))


def test_cbpp_levels_follow_lme4(reference):
    ref = reference("cbpp")["glmer_laplace"]
    herd_levels = [row["level"] for row in ref["ranef"]]
    cb = datasets.load_cbpp()
    assert list(cb["herd"].cat.categories) == herd_levels
    assert herd_levels[9] == "10"  # numeric, not string, order: "10" is not second
    # lme4 named the treatment contrasts period2..period4: level "1" is the reference.
    contrasts = [k for k in ref["fixef"] if k.startswith("period")]
    assert list(cb["period"].cat.categories) == ["1"] + [k.removeprefix("period") for k in contrasts]
    assert (cb["incidence"] <= cb["size"]).all()


def test_toy_paired_matches_r_paired_t_test(reference):
    # R's t.test(paired = TRUE) mean difference, from the same file read by R.
    toy = datasets.load_toy_paired()
    assert list(toy["Ind"].cat.categories) == ["1", "2"]
    wide = toy.pivot(index="Ind", columns="Treat", values="Resp")
    mean_diff = float((wide[1] - wide[0]).mean())
    assert mean_diff == pytest.approx(reference("toy_paired")["paired_t_test"]["mean_diff"])


def test_rongelap_coastline_is_a_closed_ring_around_the_data():
    cl = datasets.load_rongelap_coastline()
    assert (cl.iloc[0] == cl.iloc[-1]).all()
    rg = datasets.load_rongelap()
    assert (rg["time"] > 0).all() and (rg["counts"] >= 0).all()
    # The survey lies inside the coastline's bounding box (same coordinate system).
    assert rg["cX"].between(cl["cX"].min(), cl["cX"].max()).all()
    assert rg["cY"].between(cl["cY"].min(), cl["cY"].max()).all()


def test_as_factor_orders_like_r():
    # factor(c(10, 2, 1, 2)) has levels "1" "2" "10"; factor(c("b", "a")) has "a" "b".
    f = datasets.as_factor([10, 2, 1, 2])
    assert list(f.categories) == ["1", "2", "10"]
    assert list(f.astype(str)) == ["10", "2", "1", "2"]
    assert list(datasets.as_factor(["b", "a", "b"]).categories) == ["a", "b"]
    assert list(datasets.as_factor([1.0, 2.5]).categories) == ["1", "2.5"]


def test_as_factor_refuses_missing_values():
    with pytest.raises(ValueError, match="'herd' has missing values"):
        datasets.as_factor(pd.Series([1.0, np.nan], name="herd"))
