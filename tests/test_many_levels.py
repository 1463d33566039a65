"""Grouping factors with 2 to 9,000 levels and 1-4 columns per term (issue 11, item 2).

pandas keeps a factor's codes as int8 below 128 levels and int16 below 32,768: the column
index ``code * nc + j`` of a random-slope term wrapped around (``(Days | Subject)`` with 100
subjects raised "negative axis 1 index: -128"). The designs are checked against an
independent construction; the fits against lme4 1.1-31 on data simulated in R
(tests/reference/lme4conv/make_lme4conv.R -> many_levels.json and the CSVs beside it; glmer
with PIRLS to 1e-10, ``tolPwrss``, so that lme4's own Laplace value is exact to 1e-7).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference" / "lme4conv"


def _ref() -> dict:
    return json.loads((REF / "many_levels.json").read_text())


@pytest.mark.parametrize("nlev", [2, 64, 65, 100, 126, 127, 128, 129, 300, 5000, 9000])
@pytest.mark.parametrize("nc", [1, 2, 3, 4])
def test_design_columns_for_any_number_of_levels(nlev, nc):
    # 9,000 levels x 4 columns passes int16's 32,767 as well as int8's 127
    rng = np.random.default_rng(nlev + nc)
    m = nc + 1  # lmer needs more rows than random effects (check_nobs_vs_nRE)
    g = np.repeat(np.arange(nlev), m)
    rng.shuffle(g)
    d = pd.DataFrame({"y": rng.normal(size=g.size), "g": [f"L{i:05d}" for i in g]})
    cov = ["1"]
    for j in range(1, nc):
        d[f"x{j}"] = rng.normal(size=g.size)
        cov.append(f"x{j}")
    spec = sg.build_model(f"y ~ 1 + ({' + '.join(cov)} | g)", d)
    Z = spec.blocks[0].Z.tocsr()
    assert Z.shape == (g.size, nlev * nc)
    # independent construction: level-major columns, lme4's Zt transposed
    X = np.column_stack([np.ones(g.size)] + [d[f"x{j}"].to_numpy() for j in range(1, nc)])
    rows = np.repeat(np.arange(g.size), nc)
    cols = (g.astype(np.int64)[:, None] * nc + np.arange(nc)).ravel()
    np.testing.assert_array_equal(Z.indices, cols)
    np.testing.assert_array_equal(np.repeat(np.arange(g.size), np.diff(Z.indptr)), rows)
    np.testing.assert_allclose(Z.data, X.ravel())
    assert spec.blocks[0].term.levels[-1] == f"L{nlev - 1:05d}"


def _check_against_lme4(m, r, rel=1e-4):
    for k, v in r["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=rel, abs=1e-6), k
    for k, v in r["se"].items():
        assert m.se[k] == pytest.approx(v, rel=1e-3), k
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-3)
    assert m.aic == pytest.approx(r["AIC"], abs=1e-3)
    assert m.df_resid == r["df_resid"]
    vc = m.varcorr
    for row, rr in zip(vc.itertuples(), r["varcorr"]):
        assert row.grp == rr["grp"]
        if rr.get("var2") is None:  # a variance (or the residual)
            assert row.vcov == pytest.approx(rr["vcov"], rel=2e-3, abs=1e-5)
        else:  # a correlation
            assert row.sdcor == pytest.approx(rr["sdcor"], abs=2e-3)
    for grp, k in r["ngrps"].items():
        assert len(m.ranef[grp]) == k


@pytest.mark.parametrize("key", ["lmer_G2_nc1", "lmer_G100_nc2", "lmer_G120_nc4",
                                 "lmer_G300_nc3", "lmer_G5000_nc1"])
def test_lmer_many_levels_matches_lme4(key):
    r = _ref()[key]
    d = pd.read_csv(REF / r["csv"])
    m = sg.lmer(r["formula"], d)
    _check_against_lme4(m, r)
    assert m.reml_criterion == pytest.approx(-2 * r["loglik"], abs=1e-3)


def test_fit_front_door_with_100_levels():
    r = _ref()["lmer_G100_nc2"]
    m = sg.fit(r["formula"], pd.read_csv(REF / r["csv"]), method="REML")
    _check_against_lme4(m, r)


@pytest.mark.parametrize("key", ["glmer_pois_G90_nc2", "glmer_pois_G150_nc3",
                                 pytest.param("glmer_binom_G200_nc2", marks=pytest.mark.slow),
                                 pytest.param("glmer_pois_G5000_nc1", marks=pytest.mark.slow)])
def test_glmer_many_levels_matches_lme4(key):
    r = _ref()[key]
    d = pd.read_csv(REF / r["csv"])
    m = sg.glmer(r["formula"], d, family=r["family"])
    _check_against_lme4(m, r)
    # the same model through the general front door (Laplace ML, as glmer)
    if key.startswith("glmer_pois"):
        m2 = sg.fit(r["formula"], d, family=r["family"], method="ML")
        assert m2.loglik == pytest.approx(r["loglik"], abs=1e-3)


def test_predict_on_new_rows_of_a_100_level_slope_term():
    r = _ref()["lmer_G100_nc2"]
    d = pd.read_csv(REF / r["csv"])
    m = sg.lmer(r["formula"], d)
    # rows of levels beyond int8's range predict with their own random effects
    new = d.iloc[[0, 300, 499]].reset_index(drop=True)
    out = m.predict(new)
    p = np.asarray(out["fit"] if isinstance(out, pd.DataFrame) else out)
    re = m.ranef["g"]
    exp = [m.fixef["(Intercept)"] + re.loc[str(g), "(Intercept)"]
           + (m.fixef["x1"] + re.loc[str(g), "x1"]) * x for g, x in zip(new["g"], new["x1"])]
    assert int(new["g"].iloc[-1]) > 64  # a level whose int8 code times 2 wrapped
    np.testing.assert_allclose(p, exp, rtol=1e-10)
