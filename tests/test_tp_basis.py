"""mgcv's thin-plate regression spline (bs='tp'): basis, penalty and coefficients.

References come from tests/reference/mgcvtp/make_tp_reference.R (gamSim(1, n = 400) data
and MASS::mcycle, which has tied covariate values) and make_tp_knots_reference.R (10,000
rows, so mgcv subsamples 2,000 knots with R's generator). mgcv builds the basis from its
own Lanczos iteration, whose Ritz vectors (and their signs) fix the coefficients; the
package reproduces that process, so ``smoothCon(...)$X`` and ``coef(gam(...))`` compare
directly, not only up to column signs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.terms.smooths import make_basis
from spatialgamm.terms.smooths.r_sample import r_double_string, r_sample, r_uniquecombs_ordered

REF = Path(__file__).parent / "reference" / "mgcvtp"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "tp_reference.json").read_text())


@pytest.fixture(scope="module")
def gamsim() -> pd.DataFrame:
    return pd.read_csv(REF / "gamsim1.csv")


@pytest.fixture(scope="module")
def mcycle() -> pd.DataFrame:
    return pd.read_csv(REF / "mcycle.csv")


def knots_data() -> pd.DataFrame:
    """The deterministic 10,000-row design of make_tp_knots_reference.R (exact in R too)."""
    i = np.arange(1, 10_001, dtype=float)
    d = pd.DataFrame({"x": np.mod(i * 0.6180339887498949, 1.0),
                      "z": np.mod(i * 1.4142135623730951, 1.0)})
    d["y"] = np.sin(6 * d.x) + np.cos(4 * d.z)
    return d


BASES = {
    "basis_x0": ("x0", None, "gamsim"),
    "basis_x2_k5": ("x2", 5, "gamsim"),
    "basis_x1x2": (("x1", "x2"), None, "gamsim"),
    "basis_mcycle": ("times", 12, "mcycle"),
}


@pytest.mark.parametrize("name", sorted(BASES))
def test_basis_equals_mgcv_smoothcon(name, ref, gamsim, mcycle):
    var, k, which = BASES[name]
    d = gamsim if which == "gamsim" else mcycle
    sm = make_basis("tp", var, k=k).construct(d)
    r = ref[name]
    rows = np.asarray(r["rows"]) - 1
    X = np.asarray(r["X"])
    # the same columns with the same signs: mgcv's Lanczos vectors, not just their span
    np.testing.assert_allclose(sm.X[rows], X, rtol=0, atol=1e-9 * np.abs(X).max())
    np.testing.assert_allclose(sm.S, np.asarray(r["S"]), rtol=0,
                               atol=1e-9 * np.abs(np.asarray(r["S"])).max())
    assert sm.S_scale == pytest.approx(r["S_scale"], rel=1e-9)
    assert len(sm.knots) == r["Xu_n"]


FITS = {
    "add_reml": ("y ~ s(x0) + s(x1) + s(x2) + s(x3)", "REML", "gamsim"),
    "add_gcv": ("y ~ s(x0) + s(x1) + s(x2) + s(x3)", None, "gamsim"),
    "xz_reml": ("y ~ s(x1, x2)", "REML", "gamsim"),
    "mcycle_reml": ("accel ~ s(times, k=12)", "REML", "mcycle"),
}


@pytest.mark.parametrize("name", sorted(FITS))
def test_gam_coefficients_equal_mgcv(name, ref, gamsim, mcycle):
    formula, method, which = FITS[name]
    d = gamsim if which == "gamsim" else mcycle
    fit = sg.gam(formula, d, method=method)
    r = ref[name]
    coef = fit.coef
    assert list(coef.index) == r["names"]
    b, rb = coef.to_numpy(), np.asarray(r["coef"])
    # 1e-4 relative to the coefficient vector's size (near-zero entries of a heavily
    # smoothed term are compared on that scale, not relative to themselves)
    np.testing.assert_allclose(b, rb, rtol=1e-4, atol=1e-4 * np.abs(rb).max())
    edf_by_term = [sum(e for e, nm in zip(r["edf"], r["names"], strict=True)
                       if nm.startswith(t + ".")) for t in fit.edf.index]
    assert fit.score == pytest.approx(r["score"], rel=1e-5)
    # a smooth driven towards linearity (sp > 1e3: s(x3) by REML) sits on a flat stretch
    # of the criterion where mgcv's Newton steps stop early; its sp and edf are compared
    # loosely, every other one to R's tolerance
    sp = np.concatenate([np.atleast_1d(v).ravel() for v in fit.sp])
    rsp = np.atleast_1d(np.asarray(r["sp"], dtype=float))
    ok = rsp < 1e3
    np.testing.assert_allclose(sp[ok], rsp[ok], rtol=1e-3)
    assert np.all(sp[~ok] > 1e3)
    edf = fit.edf.to_numpy()
    np.testing.assert_allclose(edf[ok], np.asarray(edf_by_term)[ok], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(edf[~ok], np.asarray(edf_by_term)[~ok], atol=5e-3)
    nd = d.iloc[: len(r["fit"])]
    p = fit.predict(nd, se_fit=True)
    np.testing.assert_allclose(p["fit"], r["fit"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p["se_fit"], r["se"], rtol=1e-3)


def test_knot_subsample_is_mgcvs():
    """n = 10,000 > max.knots: R's set.seed(1); sample() from uniquecombs' order."""
    kref = json.loads((REF / "tp_knots_reference.json").read_text())
    d = knots_data()
    for key, var in [("x", "x"), ("xz", ("x", "z"))]:
        sm = make_basis("tp", var).construct(d)
        r = kref[key]
        assert len(sm.knots) == r["Xu_n"] == 2000
        shift = d[list(np.atleast_1d(var))].mean().to_numpy()
        knots = np.asarray(sm.knots).reshape(2000, -1) - shift
        np.testing.assert_allclose(knots[:20], np.asarray(r["Xu_head"]).reshape(20, -1),
                                   atol=1e-12)
        np.testing.assert_allclose(sm.X[:20], np.asarray(r["X_head"]), atol=1e-9)
        np.testing.assert_allclose(sm.X[-5:], np.asarray(r["X_tail"]), atol=1e-9)
        assert sm.S_scale == pytest.approx(r["S_scale"], rel=1e-9)


@pytest.mark.slow
def test_knot_subsample_fit_coefficients_equal_mgcv():
    kref = json.loads((REF / "tp_knots_reference.json").read_text())
    fit = sg.gam("y ~ s(x, z)", knots_data(), method="REML")
    rb = np.asarray(kref["fit_xz"]["coef"])
    np.testing.assert_allclose(fit.coef.to_numpy(), rb, rtol=1e-4, atol=1e-4 * np.abs(rb).max())
    assert fit.edf.sum() + 1 == pytest.approx(kref["fit_xz"]["edf"], rel=1e-4)


# ---- R's generator and text keys (values printed by R 4.2.2) -------------------------------
def test_r_sample_matches_r():
    # set.seed(1); sample(10, 3) / sample(1:10000, 5); set.seed(3); sample(70000, 4)
    assert (r_sample(10, 3, 1) + 1).tolist() == [9, 4, 7]
    assert (r_sample(10_000, 5, 1) + 1).tolist() == [1017, 8004, 4775, 9725, 8462]
    assert (r_sample(70_000, 4, 3) + 1).tolist() == [52922, 41352, 36520, 66541]
    with pytest.raises(ValueError, match="size"):
        r_sample(3, 4, 1)


def test_r_double_string_matches_as_character():
    vals = [0.5, 1e-4, 0.1 + 0.2, 1 / 3, -4.72789851868781e-05, 123456.0, 1e15, 1e16,
            123456789012345678.0, 2.5e-7, 100.0, 0.0001234, 1e5, 1e-5]
    # R: as.character(c(...)) of the same values
    expect = ("0.5 1e-04 0.3 0.333333333333333 -4.72789851868781e-05 123456 1e+15 1e+16 "
              "123456789012345680 2.5e-07 100 0.0001234 1e+05 1e-05").split()
    assert [r_double_string(v) for v in vals] == expect


def test_uniquecombs_text_order():
    # R: uniquecombs(cbind(c(-4.7e-05, -0.000113, 2, -4.7e-05), c(1, 2, 3, 1)), TRUE)
    # keys "-4.7e-05*1", "-0.000113*2", "2*3": bytewise order puts "-0.000113*2" first
    x = np.array([[-4.7e-05, 1.0], [-0.000113, 2.0], [2.0, 3.0], [-4.7e-05, 1.0]])
    assert r_uniquecombs_ordered(x).tolist() == [[-0.000113, 2.0], [-4.7e-05, 1.0], [2.0, 3.0]]
