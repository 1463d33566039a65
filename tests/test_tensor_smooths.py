"""te() / ti() tensor-product smooths against mgcv 1.8-41.

References: tests/reference/mgcvte/make_mgcvte.R (data written to CSV by R, so both sides fit
the same numbers) -> mgcvte.json: edf per smooth, sp, score (gcv.ubre), fitted values and
predictions with standard errors on new data.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.formula.parse import FormulaError
from spatialgamm.terms.smooths.tensor import TensorSmooth, row_kronecker, tensor_penalties

REF = Path(__file__).parent / "reference" / "mgcvte"
R = json.loads((REF / "mgcvte.json").read_text())


def fit_case(name: str, factors: tuple[str, ...] = (), **kw):
    """The package's fit of a reference case (cached: several tests read one fit)."""
    return _fit_case(name, tuple(factors), tuple(sorted(kw.items())))


@functools.cache
def _fit_case(name: str, factors: tuple[str, ...], kw_items: tuple):
    kw = dict(kw_items)
    r = R[name]
    d = pd.read_csv(REF / f"{r['file']}_data.csv")
    nd = pd.read_csv(REF / f"{r['file']}_new.csv")
    for v in factors:
        d[v] = pd.Categorical(d[v].astype(str))
        nd[v] = pd.Categorical(nd[v].astype(str), categories=d[v].cat.categories)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = sg.gam(r["formula"].replace('"', "'"), d, family=r["family"], method=r["method"],
                   **kw)
    return m, nd, r


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    # relative, with values near zero measured against 1% of the largest (fits cross zero)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 0.01 * np.max(np.abs(b)))))


# sp on a plateau (one margin's penalty -> infinity): mgcv and we stop at different large
# values where the criterion is flat to 1e-4; edf and predictions still agree
CASES = {  # name: (edf tol, prediction tol, se tol, score abs tol)
    "te_xz": (1e-4, 1e-4, 1e-4, 1e-6),
    "te_xz_gcv": (1e-4, 1e-4, 1e-4, 1e-8),
    "te_ps_tp": (1e-4, 1e-4, 1e-4, 1e-6),
    "te_xzt": (1e-4, 1e-3, 1e-3, 1e-4),
    "te_gp": (1e-4, 1e-4, 1e-4, 1e-5),
    "ti_main": (1e-3, 1e-3, 1e-3, 1e-4),
    "te_pois": (1e-3, 1e-3, 1e-3, 1e-3),
    "te_pois_ubre": (1e-3, 1e-3, 1e-3, 1e-6),
    "airquality_te": (1e-4, 1e-4, 1e-4, 1e-6),
    "airquality_ti": (1e-3, 1e-3, 1e-3, 1e-4),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tensor_against_mgcv(name):
    tol_edf, tol_pred, tol_se, tol_score = CASES[name]
    m, nd, r = fit_case(name)
    for lab, e in r["edf"].items():
        assert m.edf[lab] == pytest.approx(e, rel=tol_edf), lab
    assert m.score == pytest.approx(r["score"], abs=tol_score * max(1.0, abs(r["score"])))
    assert rel(m.fitted_values if hasattr(m, "fitted_values") else m.state.mu,
               r["fitted"]) < tol_pred
    p = m.predict(nd, se_fit=True)
    assert rel(p["fit"], r["pred"]) < tol_pred
    assert rel(p["se_fit"], r["pred_se"]) < tol_se
    assert list(m.sp.index) == list(r["sp"])


@pytest.mark.parametrize("name", ["te_xz", "te_ps_tp", "airquality_te", "te_xz_gcv"])
def test_tensor_sp_against_mgcv(name):
    """Where no sp sits on a plateau, the smoothing parameters themselves agree."""
    m, _, r = fit_case(name)
    np.testing.assert_allclose(m.sp.to_numpy(), list(r["sp"].values()), rtol=1e-4)


def test_tensor_coefficients_against_mgcv():
    """te(x1,x2) with cr margins has no sign ambiguity: coefficients agree directly."""
    m, _, r = fit_case("te_xz")
    c = m.coef
    names = [k for k in r["coef"] if k.startswith("te(")]
    np.testing.assert_allclose(c[names].to_numpy(), [r["coef"][k] for k in names],
                               rtol=1e-3, atol=1e-5)


def test_row_kronecker_and_penalties_closed_form():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    B = np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])
    T = row_kronecker([A, B])
    for i in range(2):
        np.testing.assert_array_equal(T[i], np.kron(A[i], B[i]))
    S1, S2 = tensor_penalties([np.diag([1.0, 2.0]), np.diag([3.0, 4.0, 5.0])])
    np.testing.assert_array_equal(S1, np.kron(np.diag([1.0, 2.0]), np.eye(3)))
    np.testing.assert_array_equal(S2, np.kron(np.eye(2), np.diag([3.0, 4.0, 5.0])))


def test_te_arguments_and_errors():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.uniform(size=60), "z": rng.uniform(size=60),
                      "t": rng.uniform(size=60)})
    s = TensorSmooth.from_call(("x", "z", "t"), d=[2, 1], bs=["tp", "cr"], k=[10, 4])
    assert [len(mg.variables) for mg in s.margins] == [2, 1]
    sm = s.construct_all(d)[0]
    assert sm.X.shape == (60, 39) and len(sm.S) == 2
    # predict-safe: rows rebuilt from the stored margins equal the fitted basis
    np.testing.assert_allclose(sm.predict_matrix(d), sm.X, atol=1e-10)
    with pytest.raises(ValueError, match="d="):
        TensorSmooth.from_call(("x", "z"), d=(2, 1))
    with pytest.raises(ValueError, match="k= has 3 entries"):
        TensorSmooth.from_call(("x", "z"), k=(4, 5, 6))
    d["y"] = rng.normal(size=60)
    with pytest.raises(FormulaError, match="unknown argument"):
        sg.gam("y ~ te(x, z, kk=5)", d)


def test_te_factor_by_gives_one_term_per_level():
    rng = np.random.default_rng(2)
    n = 200
    d = pd.DataFrame({"x": rng.uniform(size=n), "z": rng.uniform(size=n),
                      "g": pd.Categorical(rng.choice(["a", "b"], n))})
    d["y"] = np.where(d.g == "a", np.sin(3 * d.x), d.z ** 2) + rng.normal(0, 0.1, n)
    m = sg.gam("y ~ g + te(x, z, by=g, k=4)", d, method="REML")
    assert list(m.edf.index) == ["te(x,z):ga", "te(x,z):gb"]
    assert len(m.sp) == 4
    p = m.predict(d.head(5))
    np.testing.assert_allclose(p["fit"], m.state.eta[:5], atol=1e-8)


@pytest.mark.parametrize("name", ["te_xz", "te_xzt", "airquality_te", "airquality_ti",
                                  "ti_main"])
def test_tensor_summary_table_against_mgcv(name):
    """summary.gam's Ref.df and F for te/ti terms (Wood's 2013a test)."""
    m, _, r = fit_case(name)
    tab = m.smooth_table()
    labels = list(r["edf"])
    ref = r["ref_df"] if isinstance(r["ref_df"], dict) else dict(zip(labels, r["ref_df"]))
    stat = r["stat"] if isinstance(r["stat"], dict) else dict(zip(labels, r["stat"]))
    for lab in labels:
        assert tab.loc[lab, "Ref.df"] == pytest.approx(ref[lab], rel=1e-3), lab
        assert tab.loc[lab, "F"] == pytest.approx(stat[lab], rel=1e-3), lab
