"""Negative binomial GLMMs: glmer.nb's estimates and SEs (conditional on theta), a theta given
in the family held fixed, joint SEs as an option, and SEs that do not move with the step.

References: tests/reference/bootnb/negbin.json, written by negbin.R (lme4 1.1-31
``glmer.nb`` and ``glmer(family = negative.binomial(5))``, glmmTMB 1.1.5 ``nbinom2``) on lme4's
grouseticks (Elston et al. 2001) and on nb_sim.csv (simulated there: theta 2.5, SD 0.5,
beta = (1, 0.5), 60 groups of 8).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.datasets import as_factor
from spatialgamm.families import get_family, negative_binomial
from spatialgamm.results import negbin

REF = Path(__file__).parent / "reference" / "bootnb"
pytestmark = pytest.mark.usefixtures("one_blas_thread")
FORMULA = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD)"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "negbin.json").read_text())


@pytest.fixture(scope="module")
def grouse():
    d = pd.read_csv(REF / "grouseticks.csv")
    d["YEAR"], d["BROOD"] = as_factor(d["YEAR"]), as_factor(d["BROOD"])
    return d


@pytest.fixture(scope="module")
def grouse_nb(grouse):
    return sg.glmer(FORMULA, grouse, family="negbin")


def _check_glmer_nb(m, r, est_rtol=1e-4):
    np.testing.assert_allclose(m.fixef.to_numpy(), list(r["fixef"].values()), rtol=est_rtol,
                               atol=1e-6)
    # glmer.nb: SEs of its final glmer fit, theta held at the estimate
    np.testing.assert_allclose(m.se.to_numpy(), list(r["se"].values()), rtol=1e-3)
    assert m.loglik == pytest.approx(r["logLik"], abs=1e-3)
    assert m.state.theta == pytest.approx(r["theta"], rel=1e-3)
    assert m.varcorr["sdcor"].iloc[0] == pytest.approx(r["sd"], rel=1e-3)
    assert m.n_params == r["df"]  # theta counted, as glmer.nb


def test_grouseticks_matches_glmer_nb(grouse_nb, ref):
    _check_glmer_nb(grouse_nb, ref["grouse_nb"])
    assert grouse_nb.family.name == f"Negative Binomial({round(ref['grouse_nb']['theta'], 4)})"


def test_simulation_matches_glmer_nb_and_truth(ref):
    d = pd.read_csv(REF / "nb_sim.csv")
    d["g"] = as_factor(d["g"])
    m = sg.glmer("y ~ x + (1 | g)", d, family=negative_binomial())
    _check_glmer_nb(m, ref["sim_nb"])
    truth = ref["sim_truth"]
    for b, t, s in zip(m.fixef, truth["beta"], m.se):
        assert abs(b - t) < 3 * s
    assert m.state.theta == pytest.approx(truth["theta"], rel=0.3)


def test_joint_se_option(grouse_nb, ref):
    cond = grouse_nb.vcov_fixef(se="conditional")
    joint = grouse_nb.vcov_fixef(se="joint")
    pd.testing.assert_frame_equal(cond, grouse_nb.vcov)
    d_c, d_j = np.diag(cond), np.diag(joint)
    assert np.all(d_j > d_c)  # theta's uncertainty adds variance
    # glmmTMB's nbinom2 SEs are joint too, but its Laplace uses the observed information
    # (lme4's and ours the expected): its estimates differ by ~1e-2, its SEs by ~0.3%
    np.testing.assert_allclose(np.sqrt(d_j), list(ref["grouse_tmb"]["se"].values()), rtol=1e-2)
    with pytest.raises(ValueError, match="se must be"):
        grouse_nb.vcov_fixef(se="robust")


def test_se_does_not_move_with_the_step(grouse_nb, monkeypatch):
    st = grouse_nb.state
    lap = st.objective
    x = np.concatenate([st.phi, [np.log(st.theta)], st.beta])
    out = []
    for step in (0.004, 0.01, 0.025):
        monkeypatch.setattr(negbin, "STEP", step)
        cond, joint = negbin.negbin_vcov(lap, x, len(st.phi), True, st.eta, grouse_nb.se.values)
        out.append(np.sqrt(np.r_[np.diag(cond), np.diag(joint)]))
    np.testing.assert_allclose(out[0], out[1], rtol=2e-4)
    np.testing.assert_allclose(out[2], out[1], rtol=2e-4)
    np.testing.assert_allclose(out[1][:4], grouse_nb.se.to_numpy(), rtol=1e-6)


def test_theta_given_in_the_family_is_held_fixed(grouse, ref):
    r = ref["grouse_nb5"]
    # every way of naming a theta gives the same fixed family (what the fit resolves)
    for fam in ("negative_binomial(5)", "Negative Binomial(5)", get_family("nb", theta=5)):
        assert get_family(fam) == negative_binomial(theta=5)
    m = sg.glmer(FORMULA, grouse, family=sg.negative_binomial(theta=5))
    assert m.family.theta == 5 and m.state.theta is None
    # lme4's default stopping leaves it ~1e-3 below the optimum: ours is at least as high
    assert r["logLik"] - 1e-6 <= m.loglik <= r["logLik"] + 5e-3
    np.testing.assert_allclose(m.fixef.to_numpy(), list(r["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(m.se.to_numpy(), list(r["se"].values()), rtol=1e-3)
    assert m.varcorr["sdcor"].iloc[0] == pytest.approx(r["sd"], rel=1e-3)
    np.testing.assert_allclose(m.vcov_fixef(se="joint"), m.vcov)  # no theta to add
    # lme4 counts theta among the parameters of any "Negative Binomial" family, given or
    # not (df 6 here); a given theta is not estimated, so AIC counts 5, as MASS's glm does
    assert m.n_params == r["df"] - 1


def test_family_flags():
    assert negative_binomial().estimate and not negative_binomial(2).estimate
    assert get_family("negbin").estimate and not get_family("Negative Binomial(2.5)").estimate
    assert not get_family("nb", theta=3).estimate
    assert negative_binomial().with_theta(4).estimate
    assert not get_family(negative_binomial(), theta=3).estimate
    assert negative_binomial(2) != negative_binomial(2).with_theta(2.0000001)
    # mu far above theta: the deviance stays finite (it was log1p(-1) = -inf)
    d = negative_binomial(0.5).dev_resids([0.0, 3.0], [1e18, 1e18])
    assert np.all(np.isfinite(d)) and np.all(d > 0)


@pytest.mark.slow
def test_bootstrap_reestimates_theta(grouse_nb):
    bt = grouse_nb.bootstrap(n=2, seed=1)
    assert "theta" in bt.samples and bt.samples["theta"].nunique() == 2
