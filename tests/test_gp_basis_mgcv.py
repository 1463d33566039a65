"""mgcv's Lanczos and the ``bs='gp'`` basis it gives (spatialgamm.terms.smooths.lanczos, gp).

Independent references:
* closed forms: symmetric matrices built from a chosen spectrum ``A = V diag(lam) V'``
  (the eigenpairs are known by construction);
* mgcv 1.8-41 (tests/reference/smooths/make_rongelap_basis.R -> rongelap_basis.json and the
  ``rongelap_*.csv.gz`` files): the model matrices of the five Rongelap fits of
  tests/reference/make_reference.R, the Ritz vectors ``UZ`` of the default fit, the
  penalty eigenvalues, ``slanczos`` eigenvalues and iteration counts, R's
  ``as.character`` and ``uniquecombs`` (which fix mgcv's knot order) and ``slanczos`` on
  identity matrices (where the process runs on rounding noise).
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.terms.smooths import make_basis
from spatialgamm.terms.smooths.gp import (
    mgcv_knot_correlation,
    mgcv_knot_distances,
    mgcv_unique_rows,
    r_as_character,
)
from spatialgamm.terms.smooths.lanczos import _RefSymv, _seq_dot, lanczos_eigen

REF = Path(__file__).parent / "reference" / "smooths"
BASIS_REF = json.loads((REF / "rongelap_basis.json").read_text())
# the five Rongelap fits of tests/reference/make_reference.R -> gp arguments
CASES = {
    "ubre_default": dict(k=50),
    "reml_default": dict(k=50),
    "ubre_spherical_range_half": dict(k=50, m=(1, 0.5)),
    "reml_matern25_range1000": dict(k=50, m=(4, 1000)),
    "reml_powexp_range2000": dict(k=40, m=(2, 2000, 1)),
}


def known_spectrum(lam, seed=0):
    """Symmetric matrix with eigenvalues ``lam`` and a random orthogonal eigenbasis."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.normal(size=(len(lam), len(lam))))
    A = (V * lam) @ V.T
    return 0.5 * (A + A.T), V


def align_signs(U, V):
    return U * np.sign(np.sum(U * V, axis=0))


def span_residuals(B, X):
    """Per-column residual of X projected on span(B), relative to each column's own norm.

    Columns are scaled to unit length before the QR: the Rongelap bases mix columns of norm
    1e-5 and 3e4, and an unscaled least-squares fit would lose the small ones to rounding.
    """
    Q, _ = np.linalg.qr(B / np.linalg.norm(B, axis=0))
    Xs = X / np.linalg.norm(X, axis=0)
    return np.linalg.norm(Xs - Q @ (Q.T @ Xs), axis=0)


# ---- the Lanczos process against closed forms ---------------------------------------------


def test_lanczos_top_eigenpairs_of_known_spectrum():
    lam = 50.0 * 0.6 ** np.arange(80)  # well separated: ratio 0.6 between neighbours
    A, V = known_spectrum(lam)
    res = lanczos_eigen(A, 6)
    assert res.converged and res.n_largest == 6 and res.n_smallest == 0
    np.testing.assert_allclose(res.values, lam[:6], rtol=1e-8)
    np.testing.assert_allclose(align_signs(res.vectors, V[:, :6]), V[:, :6], atol=1e-8)
    np.testing.assert_allclose(res.vectors.T @ res.vectors, np.eye(6), atol=1e-12)
    # numpy's own BLAS instead of the reference-BLAS order: same pairs to rounding
    fast = lanczos_eigen(A, 6, reference_blas=False)
    np.testing.assert_allclose(fast.values, lam[:6], rtol=1e-8)
    np.testing.assert_allclose(align_signs(fast.vectors, V[:, :6]), V[:, :6], atol=1e-8)


def test_lanczos_largest_magnitude_and_both_ends():
    # indefinite: the largest magnitudes are 9, -8, 7, -6
    lam = np.concatenate([[9.0, 7.0, 3.0, 2.0], np.linspace(1.0, 0.1, 26), [-6.0, -8.0]])
    A, V = known_spectrum(lam, seed=5)
    res = lanczos_eigen(A, 4, -1)
    assert (res.n_largest, res.n_smallest) == (2, 2)
    np.testing.assert_allclose(res.values, [9.0, 7.0, -6.0, -8.0], rtol=1e-8)
    want = V[:, [0, 1, 30, 31]]
    np.testing.assert_allclose(align_signs(res.vectors, want), want, atol=1e-8)
    both = lanczos_eigen(A, 2, 1)  # two largest and one smallest (algebraically)
    np.testing.assert_allclose(both.values, [9.0, 7.0, -8.0], rtol=1e-8)


def test_reference_blas_emulation_is_a_product_in_sequential_order():
    rng = np.random.default_rng(2)
    P = rng.normal(size=(300, 40)) * 10.0 ** rng.integers(-8, 8, size=(300, 40))
    # the emulation relies on numpy reducing axis 0 row after row (sequentially per column)
    np.testing.assert_array_equal(P.sum(axis=0), np.add.accumulate(P, axis=0)[-1])
    x = rng.normal(size=300)
    assert _seq_dot(x, x) == math.fsum(x * x) or abs(_seq_dot(x, x) / math.fsum(x * x) - 1) < 1e-13
    A, _ = known_spectrum(rng.uniform(-1, 1, 120), seed=3)
    q = rng.normal(size=120)
    np.testing.assert_allclose(_RefSymv(A)(q), A @ q, rtol=0, atol=1e-13 * np.abs(A).sum(1).max())


def test_lanczos_on_identity_breaks_down_exactly_where_mgcv_does():
    # A = I: q0 is an eigenvector, so everything after the first step is rounding noise,
    # and whether beta hits an exact zero (mgcv then returns NaN) depends on every rounding
    for case in BASIS_REF["identity_lanczos"]:
        n = case["n"]
        try:
            res = lanczos_eigen(np.eye(n), 2)
        except np.linalg.LinAlgError:
            assert case["nan"], n
            continue
        assert res.invariant == case["nan"], n
        if not case["nan"]:
            assert res.iterations == case["iter"], n
            np.testing.assert_allclose(res.values, 1.0, rtol=1e-15)


def test_lanczos_bad_input():
    with pytest.raises(ValueError, match="square"):
        lanczos_eigen(np.ones((3, 4)), 1)
    with pytest.raises(ValueError, match="more eigenvalues"):
        lanczos_eigen(np.eye(3), 4)
    with pytest.raises(ValueError, match="tol"):
        lanczos_eigen(np.eye(3), 1, tol=0.5)
    with pytest.raises(ValueError, match="NaN"):
        lanczos_eigen(np.full((3, 3), np.nan), 1)
    assert lanczos_eigen(np.eye(3), 0).vectors.shape == (3, 0)


# ---- what fixes mgcv's knot order ----------------------------------------------------------


def test_r_as_character_matches_r():
    ref = BASIS_REF["as_character"]
    got = [r_as_character(float.fromhex(h)) for h in ref["hex"]]
    assert got == ref["text"]


def test_knot_order_is_mgcv_uniquecombs():
    ref = BASIS_REF["uniquecombs"]
    x = np.vectorize(float.fromhex)(np.array(ref["x_hex"]))
    want = np.vectorize(float.fromhex)(np.array(ref["unique_ordered_hex"]))
    np.testing.assert_array_equal(mgcv_unique_rows(x), want)
    raw = make_basis("gp", ("cX", "cY"), k=50).construct_raw(sg.datasets.load_rongelap())
    np.testing.assert_array_equal(raw.knots, np.array(BASIS_REF["knots_default"]))


# ---- the Rongelap bases against mgcv's -----------------------------------------------------


@pytest.fixture(scope="module")
def rongelap():
    return sg.datasets.load_rongelap()


def test_rongelap_ritz_vectors_equal_mgcv_uz(rongelap):
    raw = make_basis("gp", ("cX", "cY"), k=50).construct_raw(rongelap)
    UZ = pd.read_csv(REF / "rongelap_UZ_default.csv.gz").to_numpy()
    U = raw.state["U"]
    # same column signs as mgcv (LAPACK's tridiagonal eigenvector convention) ...
    assert np.all(np.sum(U * UZ, axis=0) > 0)
    # ... and every column to the reference's 9 significant digits, including the 11
    # columns of eigenvalues < 1e-4 that the Lanczos leaves far from exact eigenvectors
    np.testing.assert_allclose(U, UZ, rtol=0, atol=2e-9)
    exact = make_basis("gp", ("cX", "cY"), k=50, eigen="exact").construct_raw(rongelap)
    assert np.abs(align_signs(exact.state["U"], UZ) - UZ).max() > 0.1  # why 'mgcv' exists


@pytest.mark.parametrize("name", list(CASES))
def test_rongelap_gp_basis_spans_mgcv_model_matrix(rongelap, name):
    ref = BASIS_REF[name]
    sm = make_basis("gp", ("cX", "cY"), **CASES[name]).construct(rongelap)
    Xm = pd.read_csv(REF / f"rongelap_basis_{ref['basis']}.csv.gz").to_numpy()
    B = np.column_stack([np.ones(len(rongelap)), Xm])  # mgcv's model.matrix(fit)
    assert sm.X.shape == Xm.shape == (len(rongelap), ref["ncoef"])
    # each of our columns in mgcv's span and each of mgcv's in ours: the same space
    assert span_residuals(B, sm.X).max() < 1e-6
    ours = np.column_stack([np.ones(len(rongelap)), sm.X])
    assert span_residuals(ours, Xm).max() < 1e-6
    np.testing.assert_allclose(sm.gp_defn, ref["gp_defn"], rtol=1e-14)
    assert sm.S_scale == pytest.approx(ref["S_scale"], rel=1e-10)
    ev = np.sort(np.linalg.eigvalsh(sm.S))[::-1]
    evr = np.array(ref["penalty_eigenvalues"])
    np.testing.assert_allclose(ev, evr, rtol=0, atol=1e-10 * evr.max())
    # the raw penalty holds the Ritz values; the process took mgcv's number of steps
    raw = make_basis("gp", ("cX", "cY"), **CASES[name]).construct_raw(rongelap)
    lam = np.diag(raw.S)[: raw.rank]
    np.testing.assert_allclose(lam, ref["lanczos_values"], rtol=1e-10)
    dk = mgcv_knot_distances(raw.state["knots"])
    E = mgcv_knot_correlation(dk / raw.gp_defn[1], abs(raw.gp_defn[0]), raw.gp_defn[2])
    assert lanczos_eigen(E, raw.rank).iterations == ref["lanczos_iter"]


def test_exact_eigen_basis_differs_from_mgcv_but_is_exact(rongelap):
    ref = BASIS_REF["ubre_default"]
    sm = make_basis("gp", ("cX", "cY"), k=50, eigen="exact").construct(rongelap)
    B = np.column_stack([np.ones(len(rongelap)), pd.read_csv(
        REF / "rongelap_basis_default.csv.gz").to_numpy()])
    assert span_residuals(B, sm.X).max() > 1e-2  # the test above can tell the two apart
    raw = make_basis("gp", ("cX", "cY"), k=50, eigen="exact").construct_raw(rongelap)
    dk = mgcv_knot_distances(raw.state["knots"])
    E = mgcv_knot_correlation(dk / raw.gp_defn[1], 3)
    U, lam = raw.state["U"], np.diag(raw.S)[: raw.rank]
    np.testing.assert_allclose(E @ U, U * lam, rtol=0, atol=1e-12 * lam[0])
    # mgcv's Ritz values are within its stopping bound, sqrt(eps) * ||T||, of the exact ones
    # (|theta - lambda| <= residual norm for symmetric matrices); 15% off for the smallest
    np.testing.assert_allclose(lam, ref["lanczos_values"], rtol=0,
                               atol=np.sqrt(np.finfo(float).eps) * lam[0])


def test_knot_correlation_matches_kernel_module():
    # mgcv's expressions with libm exp/pow equal the kernels module's to rounding
    r = np.linspace(0, 3, 301)
    for gtype, power in [(1, 1.0), (2, 1.0), (2, 2.0), (2, 0.5), (3, 1.0), (4, 1.0), (5, 1.0)]:
        corr = sg.kernels.MgcvGPCorrelation(gtype, 2.0, power)
        np.testing.assert_allclose(mgcv_knot_correlation(r, gtype, power), corr(2.0 * r),
                                   rtol=0, atol=1e-14)


def test_gp_eigen_option_and_lanczos_breakdown_fallback():
    with pytest.raises(ValueError, match="eigen"):
        make_basis("gp", ("x", "y"), eigen="lapack")
    # 15 knots 10 apart with a spherical range of 1: E = I, on which the Lanczos of 15
    # knots hits an exact zero (mgcv returns NaN); we fall back to the exact path
    g = pd.DataFrame({"x": np.repeat(np.arange(5) * 10.0, 3), "y": np.tile(np.arange(3) * 10.0, 5)})
    with pytest.warns(UserWarning, match="eigen='exact'"):
        sm = make_basis("gp", ("x", "y"), k=10, m=(1, 1.0)).construct(g)
    assert np.isfinite(sm.X).all() and sm.X.shape == (15, 9)
