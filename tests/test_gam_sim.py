"""datasets.gam_sim: mgcv's gamSim truth functions (checked on R's own draws) and layout.

Reference: tests/reference/mgcvte/gam_sim.R writes gamSim(1, 2, 4, 6) from mgcv 1.8-41; the
truth is recomputed here from R's covariates with the package's functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm import datasets as ds

REF = Path(__file__).parent / "reference" / "mgcvte"


def test_eg1_and_eg6_truth_matches_gamsim():
    r = pd.read_csv(REF / "gamsim1.csv")
    np.testing.assert_allclose(ds._gw_f0(r.x0), r.f0, rtol=1e-12)
    np.testing.assert_allclose(ds._gw_f1(r.x1), r.f1, rtol=1e-12)
    np.testing.assert_allclose(ds._gw_f2(r.x2), r.f2, rtol=1e-12, atol=1e-12)
    r6 = pd.read_csv(REF / "gamsim6.csv")
    f6 = ds._gw_f0(r6.x0) + ds._gw_f1(r6.x1) + ds._gw_f2(r6.x2) + 3.0 * r6.fac
    np.testing.assert_allclose(f6, r6.f, rtol=1e-12)
    d = ds.gam_sim(6, n=40, seed=1)
    np.testing.assert_array_equal(d.fac.astype(int), r6.fac)  # the same level pattern


def test_eg2_bump_and_eg4_factor_by_match_gamsim():
    r2 = pd.read_csv(REF / "gamsim2.csv")
    np.testing.assert_allclose(ds._bump(r2.x, r2.z), r2.f, rtol=1e-12)
    r4 = pd.read_csv(REF / "gamsim4.csv")
    d = ds.gam_sim(4, n=40, seed=2)
    assert list(d.columns) == list(r4.columns)
    np.testing.assert_allclose(2 * np.sin(np.pi * r4.x2), r4.f1, rtol=1e-12)
    np.testing.assert_allclose(np.exp(2 * r4.x2) - 3.75887, r4.f2, rtol=1e-12)
    np.testing.assert_allclose(ds._gw_f2(r4.x2), r4.f3, rtol=1e-12, atol=1e-12)


def test_noise_and_columns():
    d = ds.gam_sim(1, n=20000, seed=5, scale=2.0)
    assert list(d.columns) == ["y", "x0", "x1", "x2", "x3", "f", "f0", "f1", "f2", "f3"]
    resid = d.y - d.f
    assert abs(resid.std() - 2.0) < 0.05 and abs(resid.mean()) < 0.05  # 4 s.e. bounds
    assert ds.gam_sim(1, n=10, seed=3).equals(ds.gam_sim(1, n=10, seed=3))
    p = ds.gam_sim(1, n=2000, seed=1, dist="poisson", scale=0.2)
    np.testing.assert_allclose(p.f, 0.2 * (p.f0 + p.f1 + p.f2))
    assert abs(p.y.mean() - np.exp(p.f).mean()) < 4 * np.sqrt(np.exp(p.f).mean() / 2000)


def test_bad_arguments():
    with pytest.raises(ValueError, match="eg must be"):
        ds.gam_sim(3)
    with pytest.raises(ValueError, match="multiple of 4"):
        ds.gam_sim(6, n=10)
    with pytest.raises(ValueError, match="dist"):
        ds.gam_sim(1, dist="gamma")
    with pytest.raises(ValueError, match="normal errors only"):
        ds.gam_sim(2, dist="poisson")


def test_eg1_fit_recovers_truth():
    """A known-truth check: the additive fit tracks f within its own 2-SE bands."""
    d = ds.gam_sim(1, n=400, seed=11, scale=1.0)
    m = sg.gam("y ~ s(x0) + s(x1) + s(x2) + s(x3)", d, method="REML")
    p = m.predict(d, se_fit=True)
    cover = np.mean(np.abs(p.fit - d.f) < 2 * p.se_fit)
    assert cover > 0.85
    assert m.edf["s(x3)"] < 2.0  # the null function is (nearly) linear at most
