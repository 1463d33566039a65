"""Out-of-core fits (spatialgamm.chunked) against the in-memory fits of the same model.

The reference is the package's own in-memory path, which the rest of the suite holds to
mgcv / lme4 / INLA: the claim here is that summing sufficient statistics over partitions
changes nothing but rounding. At fixed parameters the criterion equals the in-memory one to
1e-9 relative; the fitted estimates agree to 1e-8 (both searches end with the engine's
Newton polish; tests/test_ooc_designs.py holds this on random designs).
"""

from __future__ import annotations

import functools

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.chunked.fit import _pirls_run, fit_chunked, set_up
from spatialgamm.chunked.objective import ChunkedGaussianObjective, ChunkedLaplaceObjective
from spatialgamm.chunked.passes import gaussian_pass, run_pass
from spatialgamm.chunked.source import open_source
from spatialgamm.engine.objective import make_objective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.errors import DataError
from spatialgamm.families import get_family
from spatialgamm.model import build_model

FORM = "{y} ~ x1 + s(x2, bs='ps', k=8) + hsgp(x3, m=8) + spde(cx, cy, mesh=mesh)"


@pytest.fixture(scope="module")
def sim():
    """A simulated design with known structure: a P-spline, a 1-D HSGP and an SPDE field."""
    rng = np.random.default_rng(7)
    n = 700
    d = pd.DataFrame({"cx": rng.uniform(0, 10, n), "cy": rng.uniform(0, 10, n),
                      "x1": rng.normal(size=n), "x2": rng.uniform(size=n),
                      "x3": rng.uniform(-2, 2, n)})
    f = np.sin(d.cx / 1.5) * np.cos(d.cy / 1.5)
    d["y"] = (1 + 0.5 * d.x1 + np.sin(6 * d.x2) + np.cos(2 * d.x3) + f
              + rng.normal(scale=0.3, size=n))
    d["cnt"] = rng.poisson(np.exp(0.3 + 0.3 * d.x1 + 0.5 * np.sin(6 * d.x2) + 0.7 * f
                                  + 0.4 * np.cos(2 * d.x3)))
    mesh = sg.Mesh.build(d[["cx", "cy"]].iloc[:60], max_edge=(3, 6))
    return d, mesh


def _objectives(d, mesh, fam):
    form = FORM.format(y="y" if fam == "gaussian" else "cnt")
    env = {"mesh": mesh}
    obj0 = make_objective(build_model(form, d, fam, env=env), "REML")
    src = open_source(dd.from_pandas(d, npartitions=7))
    tm = set_up(form, src, get_family(fam), None, None, "omit", env, None)
    system = LatentSystem(tm.blocks, len(tm.spec.y))
    if fam == "gaussian":
        st = run_pass(src, tm.columns, gaussian_pass, tm, 100)  # chunks inside partitions
        obj1 = ChunkedGaussianObjective(system, st, tm.p, True)
    else:
        run = functools.partial(_pirls_run, src, tm, 100, get_family(fam))
        obj1 = ChunkedLaplaceObjective(system, run, tm.p, get_family(fam), True)
    return obj0, obj1, system


@pytest.mark.parametrize("fam", ["gaussian", "poisson"])
def test_partitioned_criterion_equals_in_memory(sim, fam):
    """hsgp + s() + spde(): REML (Gaussian) and Laplace REML (Poisson, PIRLS by passes)
    over 7 partitions equal the in-memory objective at several parameter values."""
    d, mesh = sim
    obj0, obj1, system = _objectives(d, mesh, fam)
    phi0 = system.layout.start.copy()
    for step in (0.0, 0.3, -0.4):
        phi = phi0 + step
        v0, v1 = obj0(phi), obj1(phi)
        assert np.isfinite(v0)
        assert v1 == pytest.approx(v0, rel=1e-9, abs=1e-9)
        if fam == "gaussian":
            g0, g1 = obj0.value_and_grad(phi)[1], obj1.value_and_grad(phi)[1]
            np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8)
            r0, r1 = obj0.solve(phi), obj1.solve(phi)
            np.testing.assert_allclose(r1.beta, r0.beta, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(r1.u, r0.u, rtol=1e-9, atol=1e-11)


def test_gaussian_fit_equals_in_memory(sim):
    """The whole fit through the front door (sg.gam on a dask DataFrame, 7 partitions)."""
    d, mesh = sim
    form = FORM.format(y="y")
    m0 = sg.gam(form, d, method="REML")
    m1 = sg.gam(form, dd.from_pandas(d, npartitions=7), method="REML")
    assert m1.n == len(d) and m1.n_partitions == 7
    # both searches end with the engine's Newton polish on the analytic gradient (before it
    # one parameter differed by 1.1e-6 on this flat optimum)
    assert m1.criterion == pytest.approx(m0.state.criterion, abs=1e-9)
    assert "Newton polish" in m1.optinfo.log[-1]
    np.testing.assert_allclose(m1.phi, m0.state.phi, atol=1e-8)
    np.testing.assert_allclose(m1.beta.to_numpy(), m0.state.beta, rtol=1e-8)
    np.testing.assert_allclose(m1.b, m0.state.b, atol=1e-8 * np.abs(m0.state.b).max())
    np.testing.assert_allclose(m1.predict(d.iloc[:50]), m0.predict(d.iloc[:50])["fit"],
                               atol=1e-8)
    assert m1.sigma == pytest.approx(m0._criterion_scale() ** 0.5, rel=1e-8)


@pytest.mark.slow
def test_poisson_fit_equals_in_memory(sim):
    d, mesh = sim
    form = FORM.format(y="cnt")
    m0 = sg.gam(form, d, family="poisson", method="REML")
    m1 = sg.gam(form, dd.from_pandas(d, npartitions=7), family="poisson", method="REML")
    # observed: every parameter within 2.5e-9, beta within 1e-9 (PIRLS by passes follows
    # the in-memory search's path: same start, warm starts and step halving)
    assert m1.criterion == pytest.approx(m0.state.criterion, abs=1e-8)
    np.testing.assert_allclose(m1.phi, m0.state.phi, atol=1e-7)
    np.testing.assert_allclose(m1.beta.to_numpy(), m0.state.beta, rtol=1e-7)


def test_sleepstudy_from_parquet_matches_lme4(tmp_path):
    """lme4's numbers (tests/reference/sleepstudy.json) from a Parquet directory: REML
    through sg.fit, ML through sg.glmer's Gaussian path."""
    import json
    from pathlib import Path
    ref = json.loads((Path(__file__).parent / "reference" / "sleepstudy.json").read_text())
    d = sg.datasets.load_sleepstudy()
    d = d.assign(Subject=d.Subject.astype(str))
    _write_parquet(d, tmp_path / "sleep", k=4)
    form = "Reaction ~ Days + (Days | Subject)"
    reml = sg.fit(form, str(tmp_path / "sleep"))
    r = ref["lmer_Reaction_Days_corr_REML"]
    assert reml.criterion == pytest.approx(r["reml_criterion"], abs=1e-3)
    np.testing.assert_allclose(reml.beta.to_numpy(), list(r["fixef"].values()), rtol=1e-4)
    assert reml.sigma == pytest.approx(r["sigma"], rel=1e-4)
    ml = sg.glmer(form, str(tmp_path / "sleep"), family="gaussian")
    r = ref["lmer_Reaction_Days_corr_ML"]
    assert ml.criterion == pytest.approx(r["deviance"], abs=1e-3)
    assert ml.sigma == pytest.approx(r["sigma"], rel=1e-4)


def _write_parquet(d: pd.DataFrame, path, k: int = 3) -> list:
    path.mkdir()
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(d)), k)):
        f = path / f"part-{i}.parquet"
        d.iloc[part].to_parquet(f, index=False)
        files.append(f)
    return files


def test_parquet_directory_and_dataset(sim, tmp_path):
    """A directory of Parquet files, and the same as a pyarrow dataset, give the fit of
    the data in memory (binomial, s() only: P-spline knots and constraint from passes)."""
    import pyarrow.dataset as ds
    d, _ = sim
    d = d.assign(hit=(d.cnt > 1).astype(float))
    _write_parquet(d, tmp_path / "pq")
    m0 = sg.gam("hit ~ x1 + s(x2, bs='ps', k=8)", d, family="binomial", method="REML")
    m1 = sg.gam("hit ~ x1 + s(x2, bs='ps', k=8)", str(tmp_path / "pq"), family="binomial",
                method="REML")
    assert m1.criterion == pytest.approx(m0.state.criterion, abs=1e-6)
    np.testing.assert_allclose(m1.beta.to_numpy(), m0.state.beta, rtol=1e-5)
    m2 = fit_chunked("y ~ x1 + s(x2, bs='ps', k=8)", ds.dataset(str(tmp_path / "pq")))
    m3 = sg.gam("y ~ x1 + s(x2, bs='ps', k=8)", d, method="REML")
    assert m2.criterion == pytest.approx(m3.state.criterion, abs=1e-8)


def test_bad_parquet_input_named(sim, tmp_path):
    d, _ = sim
    with pytest.raises(DataError, match="does not exist"):
        sg.gam("y ~ s(x2, bs='ps')", str(tmp_path / "nowhere"), method="REML")
    files = _write_parquet(d, tmp_path / "a")
    d.drop(columns="x2").to_parquet(files[1], index=False)  # one file lacks x2
    with pytest.raises(DataError, match=r"'x2'.*part-1\.parquet"):
        sg.gam("y ~ s(x2, bs='ps')", str(tmp_path / "a"), method="REML")
    files = _write_parquet(d, tmp_path / "b")
    d.assign(x2=d.x2.astype(str)).to_parquet(files[2], index=False)  # text in one file
    with pytest.raises(DataError, match=r"'x2' has type \w*string in .*part-2\.parquet.*double"):
        sg.gam("y ~ s(x2, bs='ps')", str(tmp_path / "b"), method="REML")


def test_dask_partition_dtype_and_method_refusals(sim):
    d, _ = sim
    good = d.iloc[:300]
    bad = d.iloc[300:].assign(x2=d.x2.iloc[300:].astype(str))
    ddf = dd.from_delayed([dd.from_pandas(good, npartitions=1).to_delayed()[0],
                           dd.from_pandas(bad, npartitions=1).to_delayed()[0]],
                          meta=good, verify_meta=False)
    with pytest.raises(DataError, match=r"'x2' has dtype .* in partition 1"):
        sg.gam("y ~ s(x2, bs='ps')", ddf, method="REML")
    with pytest.raises(ValueError, match="method='REML'"):
        sg.gam("y ~ s(x2, bs='ps')", dd.from_pandas(d, npartitions=2))
    with pytest.raises(NotImplementedError, match="glmer's second stage"):
        sg.glmer("cnt ~ x1 + (1 | x3)", dd.from_pandas(d, npartitions=2), family="poisson")


def test_gamma_other_than_one_is_refused_out_of_core(tmp_path):
    """mgcv's gamma is not offered by the passes: refused by name before any work."""
    path = tmp_path / "d.parquet"
    pd.DataFrame({"x": np.linspace(0, 1, 50), "y": np.sin(np.linspace(0, 3, 50))}).to_parquet(path)
    with pytest.raises(ValueError, match="gamma=1.4"):
        sg.gam("y ~ s(x, bs='ps')", str(path), method="REML", gamma=1.4)


@pytest.mark.parametrize("form, what", [
    ("y ~ g + te(x2, x3, bs=c('ps','ps'), k=c(5,5), by=g)", r"te\(x2,x3\):g\w*: a tensor"),
    ("y ~ ti(x2, x3, bs=c('ps','ps'), k=c(5,5), by=x1)", r"ti\(x2,x3\):x1: a tensor"),
    ("y ~ t2(x2, x3, bs='ps', k=5)", r"t2\(x2,x3\)"),
    ("y ~ g + s(x2, bs='ps', by=g)", r"s\(x2\):g\w*: a smooth by a factor"),
])
def test_smooths_not_fitted_out_of_core_are_refused_by_name(sim, form, what):
    """Before this check these fits ran and differed from the in-memory ones (te, ti
    then: the criterion by 0.02, coefficients by 3.6) because their constraints came from
    the set-up rows only; te() and ti() without by= now take them from every row."""
    d, _ = sim
    d = d.assign(x3=(d.x3 + 2) / 4, g=np.where(d.x1 > 0, "a", "b"))
    with pytest.raises(NotImplementedError, match=what):
        sg.gam(form, dd.from_pandas(d, npartitions=3), method="REML")


def test_dispersion_families_and_gcv_are_refused_by_name(sim):
    d, _ = sim
    d = d.assign(pos=np.exp(d.y / 4))
    with pytest.raises(NotImplementedError, match="family 'Gamma'.*dispersion"):
        sg.gam("pos ~ s(x2, bs='ps')", dd.from_pandas(d, npartitions=2), family="Gamma",
               method="REML")
    with pytest.raises(ValueError, match="'GCV.CP'"):
        fit_chunked("y ~ s(x2, bs='ps')", dd.from_pandas(d, npartitions=2), method="GCV.Cp")
