"""Shrinkage smooths (ts, cs), select=TRUE, fs smooths and gamma/GCV.Cp against mgcv 1.8-41.

References: tests/reference/mgcvte/make_mgcvte.R -> mgcvte.json (see test_tensor_smooths.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_tensor_smooths import R, fit_case, rel

from spatialgamm.terms.smooths.shrinkage import shrink_null_space


def check(name, tol_edf=1e-3, tol_pred=1e-3, tol_se=1e-3, tol_score=1e-5):
    m, nd, r = fit_case(name)
    for lab, e in r["edf"].items():
        # an edf shrunk to ~0 (sp on its plateau) is compared absolutely
        assert m.edf[lab] == pytest.approx(e, rel=tol_edf, abs=2e-3), lab
    assert m.score == pytest.approx(r["score"], abs=tol_score * max(1.0, abs(r["score"])))
    p = m.predict(nd, se_fit=True)
    assert rel(p["fit"], r["pred"]) < tol_pred
    assert rel(p["se_fit"], r["pred_se"]) < tol_se
    assert rel(m.state.mu, r["fitted"]) < tol_pred
    return m, r


def test_ts_cs_against_mgcv():
    m, r = check("ts_cs")
    # no null space left: every coefficient penalised, nothing added to the fixed effects
    assert m.spec.x_names == ["(Intercept)"]
    for lab in ("s(x0)", "s(x1)", "s(x2)"):
        assert m.sp[lab] == pytest.approx(r["sp"][lab], rel=1e-3)


def test_shrink_null_space_closed_form():
    S = np.diag([4.0, 2.0, 0.0])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(shrink_null_space(S, 1, False))),
                               [0.2, 2.0, 4.0], atol=1e-12)
    S = np.diag([5.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(shrink_null_space(S, 2, False))),
                               [0.3, 0.3, 3.0, 5.0], atol=1e-12)
    assert set(R) >= {"ts_cs"}


@pytest.mark.parametrize("name", ["select", "select_gcv"])
def test_select_against_mgcv(name):
    """select=TRUE: two smoothing parameters per smooth, null space penalised."""
    m, nd, r = fit_case(name, select=True)
    for lab, e in r["edf"].items():
        assert m.edf[lab] == pytest.approx(e, rel=1e-3, abs=2e-3), lab
    assert m.score == pytest.approx(r["score"], rel=1e-6)
    p = m.predict(nd, se_fit=True)
    assert rel(p["fit"], r["pred"]) < 1e-3 and rel(p["se_fit"], r["pred_se"]) < 1e-3
    assert list(m.sp.index) == list(r["sp"])
    assert m.spec.x_names == ["(Intercept)"]  # null spaces moved into the penalised blocks
    # smoothing parameters away from the sp -> infinity plateau agree
    for lab in ("s(x0)1", "s(x1)1", "s(x2)1"):
        assert m.sp[lab] == pytest.approx(r["sp"][lab], rel=1e-3)


def test_gamma_and_gcv_cp_name():
    m, nd, r = fit_case("gamma_gcv", gamma=1.4)  # method='GCV.Cp' with gamma = 1.4
    assert m.state.method == "GCV"
    for lab, e in r["edf"].items():
        assert m.edf[lab] == pytest.approx(e, rel=1e-4), lab
    assert m.score == pytest.approx(r["score"], rel=1e-6)
    assert rel(m.predict(nd)["fit"], r["pred"]) < 1e-4
    # (gamma with REML / ML: tests/test_mgcvfin_gamma.py)


def test_fs_against_mgcv_one_dim_null_space():
    """s(Days, Subject, bs='fs', m=1) on lme4's sleepstudy: random curves per subject."""
    m, nd, r = fit_case("fs_sleep", factors=("Subject",))
    lab = "s(Days,Subject)"
    assert m.edf[lab] == pytest.approx(r["edf"][lab], rel=1e-5)
    np.testing.assert_allclose(m.sp.to_numpy(), list(r["sp"].values()), rtol=1e-4)
    assert m.score == pytest.approx(r["score"], rel=1e-8)
    p = m.predict(nd, se_fit=True)
    assert rel(p["fit"], r["pred"]) < 1e-5 and rel(p["se_fit"], r["pred_se"]) < 1e-5
    assert m.spec.x_names == ["(Intercept)"]  # fully penalised: no fixed null space


@pytest.mark.parametrize("name,fac", [("fs_sleep_m2", "Subject"), ("fs_cr", "fac")])
def test_fs_two_dim_null_space_close_to_mgcv(name, fac):
    """With a 2-D null space mgcv gives each null column its own sp, in the basis and order
    its eigen() returns for two numerically-zero eigenvalues (fixed by rounding, see
    spatialgamm/terms/smooths/fs.py); ours is a different valid choice, so fits differ
    slightly: edf within 1e-3, predictions within 3e-3, REML/GCV at most 5e-5 relative above
    mgcv's (the optimiser may find a lower criterion on this slightly different model: on
    fs_sleep_m2 it reaches 881.096 against mgcv's 881.184)."""
    m, nd, r = fit_case(name, factors=(fac,))
    for lab, e in r["edf"].items():
        assert m.edf[lab] == pytest.approx(e, rel=1e-3), lab
    assert m.score <= r["score"] + 5e-5 * abs(r["score"])
    assert m.score == pytest.approx(r["score"], rel=2e-4)
    p = m.predict(nd, se_fit=True)
    assert rel(p["fit"], r["pred"]) < 3e-3 and rel(p["se_fit"], r["pred_se"]) < 3e-3
    assert len(m.sp) == len(r["sp"])


@pytest.mark.parametrize("name,kw", [("ts_cs", {}), ("select", {"select": True}),
                                     ("fs_sleep", {"factors": ("Subject",)})])
def test_summary_random_effect_test_against_mgcv(name, kw):
    """Smooths with no unpenalised null space use mgcv's reTest (Wood 2013b) with the
    multi-penalty block's own penalty in the information; Ref.df and F as summary.gam."""
    m, _, r = fit_case(name, **kw)
    tab = m.smooth_table()
    labels = list(r["edf"])
    ref = r["ref_df"] if isinstance(r["ref_df"], dict) else dict(zip(labels, r["ref_df"]))
    stat = r["stat"] if isinstance(r["stat"], dict) else dict(zip(labels, r["stat"]))
    for lab in labels:
        assert tab.loc[lab, "Ref.df"] == pytest.approx(ref[lab], rel=1e-6), lab
        # a term shrunk out (edf ~ 0, sp on its plateau) has F ~ 0 on both sides
        assert tab.loc[lab, "F"] == pytest.approx(stat[lab], rel=1e-4, abs=1e-4), lab


def test_fs_factor_of_numbers_stored_as_text_is_a_factor():
    """The factor of bs='fs' may be text of numbers (site ids): it is the factor mgcv
    expects, not the data-import slip the check for numbers-as-text reports elsewhere."""
    import spatialgamm as sg
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"t": rng.uniform(size=120), "site": rng.integers(0, 4, 120)})
    d["y"] = np.sin(4 * d["t"]) + 0.3 * d["site"] + rng.normal(0, 0.2, 120)
    as_text = sg.gam("y ~ s(t, site, bs='fs', k=5)", d.assign(site=d["site"].astype(str)),
                     method="REML")
    as_cat = sg.gam("y ~ s(t, site, bs='fs', k=5)", d.assign(site=pd.Categorical(d["site"])),
                    method="REML")
    assert as_text.score == pytest.approx(as_cat.score, rel=1e-10)
