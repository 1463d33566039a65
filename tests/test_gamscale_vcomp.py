"""gam.vcomp for families with an estimated scale (Gamma, inverse Gaussian) against mgcv 1.8-41
(tests/reference/gamscale/vcomp_reference.R -> vcomp.json): the smooths' sd's are absolute in
the u-space Laplace fit and the scale row is the criterion's own (mgcv's reml.scale), with
Wald intervals from the criterion's Hessian in (log sd's, log scale). Before, the scale row
said sd 1 with the interval (0, inf). Components mgcv leaves on a flat stretch (interval
wider than 1e10) are compared only as flat."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

HERE = Path(__file__).parent / "reference" / "gamscale"
REF = json.loads((HERE / "vcomp.json").read_text())
DATA = {"sim1": "gamsim_pois.csv", "boston": "boston.csv"}
FAMILY = {"gamma_log": "Gamma(link='log')", "invgauss_log": "inverse.gaussian(link='log')"}


@pytest.mark.parametrize("key", list(REF))
def test_vcomp_matches_mgcv(key):
    ref = REF[key]
    data = pd.read_csv(HERE / DATA[key.split("_")[0]])
    fam = FAMILY[key.split("_", 1)[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sg.gam(ref["formula"], data, family=fam, method="REML")
    v = fit.vcomp()
    assert list(v.index) == ref["names"]
    for i, name in enumerate(ref["names"]):
        if ref["upper"][i] > 1e10:  # mgcv's flat stretch: ours must say so too
            assert v.loc[name, "upper"] == np.inf or v.loc[name, "upper"] > 1e10, name
            continue
        assert v.loc[name, "std.dev"] == pytest.approx(ref["sd"][i], rel=1e-4), name
        # intervals from a central-difference Hessian (mgcv's is exact): measured <= 3.3e-5
        assert v.loc[name, "lower"] == pytest.approx(ref["lower"][i], rel=2e-4), name
        assert v.loc[name, "upper"] == pytest.approx(ref["upper"][i], rel=2e-4), name
    assert v.loc["scale", "std.dev"] ** 2 == pytest.approx(ref["reml_scale"], rel=1e-5)
