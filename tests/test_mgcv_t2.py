"""mgcv's t2() tensor products against mgcv 1.8-41 (tests/reference/mgcvt2/make_t2_reference.R)
on gamSim example 2 (cr margins by REML; tp x cr margins by GCV) and R's quakes (Poisson,
a 2-D tp margin in space times a cr margin in depth, by REML): smoothing parameters with
mgcv's names, edf, score, predictions with SEs, the basis and the coefficients.

The signs of columns built from a margin's penalty null space are left to rounding by
LAPACK (the eigenvectors of a repeated zero eigenvalue, then of a 2 x 2 or 3 x 3 matrix
built from them), so the basis is compared column by column up to sign and the
coefficients after aligning those signs."""

import json

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from conftest import REFERENCE_DIR
from spatialgamm.formula.parse import FormulaError
from spatialgamm.terms.smooths.t2 import T2Smooth, natural_parameterisation

HERE = REFERENCE_DIR / "mgcvt2"
REF = json.loads((HERE / "t2_reference.json").read_text())
CASES = {
    # key: formula, data, new data, method, family, tolerances (sp, edf, prediction)
    "t2_cr": ("y ~ t2(x, z)", "gamsim2", "REML", "gaussian", (1e-4, 1e-4, 1e-6)),
    # GCV is flat here: the score agrees to 2e-10 (ours lower), the sp to 1.2%
    "t2_tpcr": ("y ~ t2(x, z, bs=c('tp','cr'), k=c(6,5))", "gamsim2", "GCV.Cp", "gaussian",
                (2e-2, 1e-2, 2e-4)),
    "t2_quakes": ("stations ~ t2(long, lat, depth, d=c(2,1), bs=c('tp','cr'), k=c(12,5))",
                  "quakes", "REML", "poisson", (1e-4, 1e-4, 1e-5)),
}


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / f"{name}.csv")


@pytest.fixture(scope="module")
def fits():
    return {k: sg.gam(f, data(d), method=m, family=fam)
            for k, (f, d, m, fam, _) in CASES.items()}


@pytest.mark.parametrize("key", CASES)
def test_sp_edf_and_score(key, fits):
    f, ref = fits[key], REF[key]
    tol_sp, tol_edf, _ = CASES[key][4]
    assert list(f.sp.index) == ref["sp_names"]
    np.testing.assert_allclose(f.sp.to_numpy(), ref["sp"], rtol=tol_sp)
    assert f.edf_total == pytest.approx(ref["edf"], abs=tol_edf)
    assert f.score == pytest.approx(ref["score"], rel=1e-7)


@pytest.mark.parametrize("key", CASES)
def test_predictions_with_se(key, fits):
    f, ref = fits[key], REF[key]
    tol = CASES[key][4][2]
    p = f.predict(data(CASES[key][1] + "_new"), se_fit=True)
    np.testing.assert_allclose(p["fit"], ref["fit"], rtol=tol, atol=tol)
    np.testing.assert_allclose(p["se_fit"], ref["se"], rtol=max(tol, 1e-5))


@pytest.mark.parametrize("key", CASES)
def test_basis_and_coefficients_up_to_null_space_signs(key, fits):
    f, ref = fits[key], REF[key]
    (_, term, _), = f._smooths()
    X = np.asarray(term.spec.X)[:8]
    L = np.asarray(ref["lp_head"])[:, 1:]  # the lpmatrix without its intercept
    sign = np.where(np.sum(X * L, axis=0) < 0, -1.0, 1.0)
    np.testing.assert_allclose(X * sign, L, rtol=0, atol=1e-10 * np.abs(L).max())
    coef = f.coef.to_numpy().copy()
    coef[1:] *= sign
    rc = np.asarray(ref["coef"])
    tol = 2e-3 if key == "t2_tpcr" else 1e-4
    np.testing.assert_allclose(coef, rc, rtol=0, atol=tol * np.abs(rc).max())


def test_natural_parameterisation_identity_penalty():
    """Closed form: the penalised columns of X P carry the identity penalty P'SP = I (before
    the unit mean-square scaling, which multiplies it by a constant)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 5))
    A = rng.normal(size=(3, 5))
    S = A.T @ A  # rank 3
    Xn, P = natural_parameterisation(X, S, 3)
    np.testing.assert_allclose(X @ P, Xn, atol=1e-12)
    PSP = P.T @ S @ P
    np.testing.assert_allclose(PSP[:3, :3], PSP[0, 0] * np.eye(3), atol=1e-10 * PSP[0, 0])
    np.testing.assert_allclose(PSP[3:, :], 0, atol=1e-10 * PSP[0, 0])
    np.testing.assert_allclose(np.mean(Xn[:, 3:] ** 2), 1.0)


def test_t2_arguments():
    d = data("gamsim2")
    with pytest.raises(FormulaError, match="margins"):
        sg.gam("y ~ t2(x, z, k=c(4, 5, 6))", d)
    with pytest.raises(NotImplementedError, match="ord"):
        T2Smooth.from_call(("x", "z"), ord=[1])
    # (full=TRUE and method='ML': tests/test_mgcvfin_t2.py)
