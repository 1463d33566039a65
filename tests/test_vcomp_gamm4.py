"""``GamFit.vcomp()`` against mgcv's ``gam.vcomp(fit, rescale = TRUE)``.

References: tests/reference/mgcvtp/make_vcomp_reference.R (gamSim(1) data and lme4's
sleepstudy). Standard deviations are compared to R's tolerance; interval ends to 2%
(ours come from a finite-difference Hessian of the REML criterion, mgcv's from its exact
one). A component on a flat stretch of the criterion (a smooth driven to its null space)
has an interval spanning (near) zero to (near) infinity in mgcv; ours is (0, inf).
The gamm4-style fit of the issue is not implemented yet (see the branch report).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

REF = Path(__file__).parent / "reference" / "mgcvtp"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "vcomp_reference.json").read_text())


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    d = pd.read_csv(REF / "sleepstudy.csv")
    d["Subject"] = d["Subject"].astype(str)  # a factor in R
    return d


def check(vc: pd.DataFrame, r: dict, rename: dict | None = None) -> None:
    rename = rename or {}
    rows = [rename.get(n, n) for n in r["rows"]]
    assert sorted(vc.index) == sorted(rows)
    vc = vc.loc[rows]
    sd, lo, up = (np.asarray(r[k], dtype=float) for k in ("sd", "lower", "upper"))
    flat = (lo < 1e-6 * sd) & (up > 1e6 * sd)
    assert not vc.isna().to_numpy().any()
    np.testing.assert_allclose(vc["std.dev"].to_numpy()[~flat], sd[~flat], rtol=1e-4)
    np.testing.assert_allclose(vc["lower"].to_numpy()[~flat], lo[~flat], rtol=0.02)
    np.testing.assert_allclose(vc["upper"].to_numpy()[~flat], up[~flat], rtol=0.02)
    # flat components: tiny sd, and the one-sided interval (0, inf)
    assert np.all(vc["std.dev"].to_numpy()[flat] < 1e-2 * sd[~flat].max())
    assert np.all(vc["lower"].to_numpy()[flat] == 0)
    assert np.all(np.isinf(vc["upper"].to_numpy()[flat]))


def test_vcomp_additive_tp_model(ref):
    d = pd.read_csv(REF / "gamsim1.csv")
    fit = sg.gam("y ~ s(x0) + s(x1) + s(x2) + s(x3)", d, method="REML")
    check(fit.vcomp(), ref["add_reml"])


def test_vcomp_random_effect_smooth(ref, sleep):
    fit = sg.gam("Reaction ~ Days + s(Subject, bs='re')", sleep, method="REML")
    check(fit.vcomp(), ref["sleep_re"])


def test_vcomp_lme4_bar_inside_gam(ref, sleep):
    """``(1|Subject)`` in a gam formula is mgcv's ``s(Subject, bs='re')``: same numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sg.gam("Reaction ~ s(Days, k=5) + (1|Subject)", sleep, method="REML")
    check(fit.vcomp(), ref["sleep_smooth_re"], rename={"s(Subject)": "(1 | Subject)"})


def test_vcomp_without_rescale_is_on_the_scaled_penalty(ref):
    d = pd.read_csv(REF / "gamsim1.csv")
    fit = sg.gam("y ~ s(x0) + s(x1) + s(x2) + s(x3)", d, method="REML")
    a, b = fit.vcomp(), fit.vcomp(rescale=False)
    s_scale = np.array([t.spec.S_scale for _, t, _ in fit._smooths()])
    np.testing.assert_allclose(a["std.dev"].to_numpy()[:4] ** 2,
                               b["std.dev"].to_numpy()[:4] ** 2 * s_scale, rtol=1e-10)


def test_vcomp_gcv_fit_gives_sd_only():
    d = pd.read_csv(REF / "gamsim1.csv")
    vc = sg.gam("y ~ s(x0) + s(x1)", d).vcomp()
    assert list(vc.columns) == ["std.dev"] and not vc.isna().to_numpy().any()
