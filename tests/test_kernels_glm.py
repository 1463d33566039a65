"""The one GLM IRLS (spatialgamm.engine.glm) against R's glm() on public data.

References: tests/reference/kernels/glm_reference.R (lme4's cbpp, MASS's Insurance with an
offset, McCullagh & Nelder's clotting times with a Gamma log link), JSON written by R 4.2.2.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spatialgamm.engine.glm import glm_irls
from spatialgamm.families import get_family

REF = Path(__file__).parent / "reference" / "kernels"
R = json.loads((REF / "glm_reference.json").read_text())


def _check(fit, ref, y, w, fam):
    assert fit.converged
    # R stops on a relative deviance change of 1e-8 (glm.control): its estimates carry ~1e-6
    assert fit.beta == pytest.approx(ref["coef"], rel=1e-5, abs=1e-7)
    dev = float(np.sum(fam.dev_resids(y, fit.mu, w)))
    assert dev == pytest.approx(ref["deviance"], rel=1e-8)


def test_binomial_with_trials_matches_glm():
    d = pd.read_csv(REF / "cbpp.csv")
    X = np.column_stack([np.ones(len(d))] + [(d["period"] == k).to_numpy(float)
                                              for k in (2, 3, 4)])
    w = d["size"].to_numpy(float)
    y = d["incidence"].to_numpy(float) / w
    fam = get_family("binomial")
    _check(glm_irls(X, y, fam, weights=w), R["cbpp_binomial"], y, w, fam)


def test_poisson_with_offset_matches_glm():
    d = pd.read_csv(REF / "insurance.csv")
    X = pd.read_csv(REF / "insurance_X.csv").to_numpy(float)
    y = d["Claims"].to_numpy(float)
    fam = get_family("poisson")
    fit = glm_irls(X, y, fam, offset=np.log(d["Holders"].to_numpy(float)))
    _check(fit, R["insurance_poisson"], y, np.ones(len(y)), fam)


def test_gamma_log_link_matches_glm():
    u = np.array([5, 10, 15, 20, 30, 40, 60, 80, 100], float)
    y = np.array([118, 58, 42, 35, 27, 25, 21, 19, 18], float)
    fam = get_family("Gamma", link="log")
    fit = glm_irls(np.column_stack([np.ones(9), np.log(u)]), y, fam)
    _check(fit, R["clotting_gamma_log"], y, np.ones(9), fam)


def test_null_deviance_of_an_intercept_model_matches_glm():
    d = pd.read_csv(REF / "insurance.csv")
    y = d["Claims"].to_numpy(float)
    fam = get_family("poisson")
    fit = glm_irls(np.ones((len(y), 1)), y, fam, offset=np.log(d["Holders"].to_numpy(float)),
                   tol=1e-12)
    assert float(np.sum(fam.dev_resids(y, fit.mu, np.ones(len(y))))) == pytest.approx(
        R["insurance_poisson"]["null_deviance"], rel=1e-9)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="y has 3 rows"):
        glm_irls(np.ones((4, 1)), np.ones(3), get_family("poisson"))


def test_step_halving_takes_the_longest_step_that_does_not_increase_the_deviance():
    from spatialgamm.engine.glm import PIRLSError, halve_step

    # Poisson, y = 1: dev(eta) = 2 (e^eta - 1 - eta). From eta = -2 (dev 2 e^-2 + 2) towards
    # eta = 10: t = 1 (eta 10) and t = 1/2 (eta 4, dev 99.2) increase it; t = 1/4 (eta 1,
    # dev 2 (e - 2)) is the first that does not.
    fam, y, one = get_family("poisson"), np.array([1.0]), np.ones(1)
    old = 2 * (np.exp(-2.0) + 1.0)
    step = halve_step(fam, y, one, 1.0, np.array([-2.0]), np.array([10.0]), np.zeros(1),
                      np.array([4.0]), old, lambda u: 0.0)
    assert step.t == 0.25
    assert step.eta[0] == pytest.approx(1.0)
    assert step.u[0] == pytest.approx(1.0)  # u moves by the same fraction
    assert step.objective == pytest.approx(2 * (np.e - 2), rel=1e-12)
    with pytest.raises(PIRLSError, match="step halving"):
        halve_step(fam, y, one, 1.0, np.array([-2.0]), np.array([10.0]), np.zeros(1),
                   np.zeros(1), -1.0, lambda u: 0.0)
