"""A random-design study against mgcv 1.8-41: 24 gamSim-like designs (tests/reference/
mgcvstudy/make_study_reference.R, fixed seeds; the data as mgcv saw them in study_data.csv)
with different n (150-500), basis dimensions (6-12), bases (tp, cr, ps), families
(Gaussian, Poisson, binomial), criteria (REML, GCV/UBRE, ML) and gamma (1, 1.4, 0.7).
Compared on what does not depend on how far a flat criterion was followed in sp: the edf
per smooth and in total, the score and the fitted values, at 1e-4.

What the study found (and what was fixed):

* design 15 (binomial, UBRE, gamma = 0.7): the search left s(x2) unpenalised on a plateau
  (UBRE 0.141155 against mgcv's 0.140918); fixed by the plateau scan of
  ``results/assemble_gam.py`` (now 0.1409175318, below mgcv's 0.1409175369).
* design 24 (binomial, UBRE): mgcv stops in a local minimum (UBRE 0.193813, its
  s(x2) sp 1.52); the package's search finds 0.190448 (sp 0.025): the same criterion
  0.0034 lower, so edf and fitted values differ there, by design. Checked as such.
* designs 18 (binomial, ML), 20 (Poisson, REML, gamma = 1.4) and 15: a near-linear (or
  nearly unpenalised) smooth on a criterion flat to 1e-7 (the package's value the lower):
  its edf agrees to 9e-4, not 1e-4.
"""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR

HERE = REFERENCE_DIR / "mgcvstudy"
REF = json.loads((HERE / "study_reference.json").read_text())
DATA = pd.read_csv(HERE / "study_data.csv")

pytestmark = pytest.mark.slow
#: mgcv stopped in a worse local minimum of the same criterion (see the module docstring)
MGCV_LOCAL = {24}
#: a smooth's edf on a criterion flat to 1e-7 (see the module docstring)
FLAT = {15, 18, 20}


@pytest.mark.parametrize("ref", REF, ids=[f"design{r['design']}" for r in REF])
def test_design_matches_mgcv(ref):
    d = DATA[DATA["design"] == ref["design"]].reset_index(drop=True)
    method = "GCV.Cp" if ref["method"] == "GCV.Cp" else ref["method"]
    f = sg.gam(ref["formula"], d, family=ref["family"], method=method, gamma=ref["gamma"])
    if ref["design"] in MGCV_LOCAL:
        assert f.score < ref["score"] - 1e-3
        return
    if ref["design"] in FLAT:
        assert f.score <= ref["score"] + 1e-9 * abs(ref["score"])
    tol = 1e-3 if ref["design"] in FLAT else 1e-4
    np.testing.assert_allclose(f.edf.to_numpy(), ref["edf"], rtol=tol, atol=tol)
    assert f.edf_total == pytest.approx(ref["edf_total"], rel=tol)
    assert f.score == pytest.approx(ref["score"], rel=1e-4)
    np.testing.assert_allclose(f.fitted, ref["fitted"], rtol=1e-4,
                               atol=1e-4 * np.abs(ref["fitted"]).max())
