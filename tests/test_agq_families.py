"""Adaptive quadrature (nAGQ > 1) beyond the binomial logit, against lme4: the per-group
closed-form modes and the deviance form of the node log-likelihoods (the logit's own kernel
is checked by test_glmer's cbpp nAGQ = 11 reference).

References: tests/reference/glmm/agq_families.R (lme4 1.1-31, bobyqa at rhoend 1e-10):
grouseticks ``TICKS ~ YEAR + (1|BROOD)`` Poisson and cbpp with a probit link, nAGQ = 9.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.datasets import as_factor, load_cbpp
from spatialgamm.families import get_family

REF = Path(__file__).parent / "reference" / "glmm"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "agq_families.json").read_text())


def _check(m, r) -> None:
    assert m.fixef.to_numpy() == pytest.approx(r["beta"], rel=1e-4, abs=1e-5)
    assert m.se.to_numpy() == pytest.approx(r["se"], rel=1e-3)
    assert abs(float(np.ravel(m.theta)[0])) == pytest.approx(r["theta"], rel=1e-4)


def test_poisson_agq_matches_lme4(ref):
    g = pd.read_csv(REF / "grouseticks.csv")
    g["YEAR"], g["BROOD"] = as_factor(g["YEAR"]), as_factor(g["BROOD"])
    m = sg.glmer("TICKS ~ YEAR + (1|BROOD)", g, family="poisson", nAGQ=9)
    _check(m, ref["poisson_agq9"])


def test_probit_agq_matches_lme4(ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1|herd)", load_cbpp(),
                     family=get_family("binomial", "probit"), nAGQ=9)
    _check(m, ref["probit_agq9"])
