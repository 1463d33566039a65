"""Standard errors, coefficient tables and predictions with standard errors of out-of-core
fits, against mgcv (tests/reference/ooc/make_ooc.R: gam and bam on the same rows) and the
in-memory fits.

Everything comes from the cross-products at the optimum's weights (the last pass's reduced
statistics). Gaussian REML fits equal mgcv to 1e-8 (a sharp optimum: both converge
tightly); the Poisson fit's smoothing parameters are flat at mgcv's own convergence
tolerance (the criteria agree to 1e-10, ``sp`` to 3e-4), so its standard errors match mgcv
to 1e-4 and the in-memory fit to 1e-7.
"""

from __future__ import annotations

import json
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

HERE = Path(__file__).parent / "reference" / "ooc"
REF = json.loads((HERE / "ooc_reference.json").read_text())
FORMS = {"gauss": ("y ~ x1 + s(x2, bs='ps', k=10) + s(x3, bs='ps', k=8)", "gaussian", 1e-8),
         "pois": ("cnt ~ x1 + s(x2, bs='ps', k=10) + s(x3, bs='ps', k=8)", "poisson", 1e-4),
         "binom": ("hit ~ x1 + s(x2, bs='ps', k=8)", "binomial", 1e-7),
         # tensor products (constraints and penalty scaling from sums over every
         # partition). mgcv stops its search earlier: te's sp are 3.7e-5 from ours (score
         # equal to 1.4e-11), its predictions 5e-7; in ti the main effects s(x2), s(x3) are
         # penalised to lines, on a plateau of the score where mgcv stops at sp 1.5e7 (ours
         # 4e13, in memory 1.1e13), its score 3.2e-5 above ours: predictions 1.6e-6, se 1e-5,
         # those smooths' edf 1.00008 (ours 1 + 1e-11)
         "te": ("yt ~ te(x2, x3, bs=c('ps','ps'), k=c(5,5))", "gaussian", 1e-6),
         "ti": ("yt ~ s(x2, bs='ps', k=6) + s(x3, bs='ps', k=6) + "
                "ti(x2, x3, bs=c('ps','ps'), k=c(5,5))", "gaussian", 1e-4)}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(HERE / "ooc_data.csv"), pd.read_csv(HERE / "ooc_new.csv")


def _parquet(d: pd.DataFrame, path: Path, k: int = 3) -> str:
    path.mkdir()
    for i, idx in enumerate(np.array_split(np.arange(len(d)), k)):
        d.iloc[idx].to_parquet(path / f"part-{i}.parquet", index=False)
    return str(path)


@pytest.mark.parametrize("case", ["gauss", "pois", "binom", "te", "ti"])
def test_standard_errors_match_mgcv_and_in_memory(data, case, tmp_path):
    d, nd = data
    form, fam, tol_r = FORMS[case]
    r = REF[case]
    m1 = sg.gam(form, _parquet(d, tmp_path / "pq"), family=fam, method="REML")
    m0 = sg.gam(form, d, family=fam, method="REML")
    if case == "ti":  # mgcv stopped on the plateau: our score is lower, never higher
        assert -1e-4 < m1.criterion / 2 - r["score"] <= 1e-9 * abs(r["score"])
    else:
        assert m1.criterion / 2 == pytest.approx(r["score"], rel=1e-9)
    if case in ("te", "ti"):  # the tensor's smoothing parameters (off the plateau)
        tens = [k for k in r["sp"] if k.startswith(case)]
        np.testing.assert_allclose(m1.sp[tens], [r["sp"][k] for k in tens],
                                   rtol=1e-4 if case == "te" else 1e-8)
    pt = m1.parametric_table()
    np.testing.assert_allclose(pt["Estimate"], r["p_table"]["estimate"], rtol=tol_r,
                               atol=tol_r)
    np.testing.assert_allclose(pt["Std. Error"], r["p_table"]["se"], rtol=tol_r)
    pr = m1.predict(nd, se_fit=True)
    np.testing.assert_allclose(pr["fit"], r["pred"], rtol=0,
                               atol=tol_r * np.abs(r["pred"]).max())
    np.testing.assert_allclose(pr["se_fit"], r["pred_se"], rtol=tol_r)
    np.testing.assert_allclose(m1.predict(nd, type="response", se_fit=True)["se_fit"],
                               r["pred_resp_se"], rtol=tol_r)
    assert m1.scale == pytest.approx(r["scale"], rel=tol_r)
    # edf move with the smoothing parameters, which mgcv leaves at 1.4e-8 (Gaussian)
    assert m1.edf_total == pytest.approx(r["edf"], rel=max(tol_r, 1e-7))
    np.testing.assert_allclose(m1.edf.to_numpy(), r["s_table"]["edf"], rtol=max(tol_r, 1e-7))
    # the in-memory fit: the same estimates, covariances and edf
    tol_m = 1e-8 if fam == "gaussian" else 1e-6
    pt0 = m0.parametric_table()
    np.testing.assert_allclose(pt["Std. Error"], pt0["Std. Error"], rtol=tol_m)
    np.testing.assert_allclose(pt.iloc[:, 2:], pt0.iloc[:, 2:], rtol=tol_m * 10)
    np.testing.assert_allclose(pr["se_fit"], m0.predict(nd, se_fit=True)["se_fit"],
                               rtol=tol_m)
    assert m1.scale == pytest.approx(m0.scale, rel=tol_m)
    np.testing.assert_allclose(m1.edf.to_numpy(), m0.edf.to_numpy(), rtol=tol_m)
    names = list(m1.beta.index)
    V0 = m0.state.vcov_beta
    if case in ("te", "ti"):  # a tensor's null-space basis (eigenvectors of a repeated zero
        # eigenvalue) rotates with rounding: its covariance is compared through the
        # prediction standard errors above; here the parametric columns'
        keep = [i for i, nm in enumerate(names) if nm in pt.index]
        names, V0 = [names[i] for i in keep], V0[np.ix_(keep, keep)]
    np.testing.assert_allclose(m1.vcov.loc[names, names].to_numpy(), V0, rtol=tol_m,
                               atol=tol_m * np.abs(V0).max())
    s = m1.summary()
    assert "Parametric coefficients" in s and "out of core" in s
    assert all(blk.name in s for blk in m1.template.blocks)


def test_bam_on_the_same_rows(data):
    """mgcv's bam (fREML) on the rows the out-of-core fit reads from 5 dask partitions."""
    d, nd = data
    r = REF["gauss_bam"]
    m1 = sg.gam(FORMS["gauss"][0], dd.from_pandas(d, npartitions=5), method="REML")
    np.testing.assert_allclose(m1.parametric_table()["Std. Error"], r["p_table"]["se"],
                               rtol=1e-7)
    pr = m1.predict(nd, se_fit=True)
    np.testing.assert_allclose(pr["fit"], r["pred"], atol=1e-7)
    np.testing.assert_allclose(pr["se_fit"], r["pred_se"], rtol=1e-7)
    np.testing.assert_allclose(m1.sp.to_numpy(), list(r["sp"].values()), rtol=1e-5)
    assert m1.scale == pytest.approx(r["scale"], rel=1e-8)


def test_spatial_terms_standard_errors_equal_in_memory():
    """hsgp() and spde() terms (the random designs of test_ooc_designs): the prediction
    standard errors equal the in-memory fit's."""
    import dask
    from test_ooc_designs import design

    from spatialgamm.chunked import fit_chunked
    d, form, fam, mesh, parts, chunk, _ = design(3)
    m0 = sg.gam(form, d, family=fam, method="REML")
    with dask.config.set(scheduler="sync"):
        m1 = fit_chunked(form, dd.from_pandas(d, npartitions=parts), env={"mesh": mesh})
    p0, p1 = m0.predict(d.iloc[:40], se_fit=True), m1.predict(d.iloc[:40], se_fit=True)
    np.testing.assert_allclose(p1["se_fit"], p0["se_fit"], rtol=1e-7)
    np.testing.assert_allclose(m1.parametric_table()["Std. Error"],
                               m0.parametric_table()["Std. Error"], rtol=1e-7)
