"""Tests for the mgcv-style smooth bases (spatialgamm.terms.smooths).

Independent references:
* mgcv 1.8-41 itself (tests/reference/smooths/make_smooth_reference.R): for each basis,
  ``gam(y ~ s(...), sp = <fixed>)`` fitted values and predictions on new data, mgcv's
  S.scale/ncoef/null space/rank/gp.defn, and the raw constructor output
  (``smoothCon(absorb.cons=FALSE, scale.penalty=FALSE)``). The test solves the penalised
  least-squares problem ``min ||y - [1, X] b||^2 + sum sp_j b_j' S_j b_j`` itself with
  numpy: equal fits prove that basis and penalty match mgcv's up to reparameterisation.
* closed forms: interpolation, null spaces, integrated squared second derivatives
  computed numerically by finite differences of the basis on a fine grid.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sps

from spatialgamm.kernels import pairwise_distance
from spatialgamm.terms.smooths import construct_by, make_basis
from spatialgamm.terms.smooths.gp import _top_eigen

REF = Path(__file__).parent / "reference" / "smooths"


def dense(A):
    return A.toarray() if sps.issparse(A) else np.asarray(A)


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "smooth_reference.json").read_text())


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "smooth_data.csv")
    nd = pd.read_csv(REF / "smooth_newdata.csv")
    for c in ("fac", "g"):
        d[c] = pd.Categorical(d[c])
        nd[c] = pd.Categorical(nd[c])
    return d, nd


# formula name in the R script -> (bs, variables, kwargs) per smooth term
CASES = {
    "cr": [("cr", "x", dict(k=10))],
    "cr_stiff": [("cr", "x", dict(k=10))],
    "ps": [("ps", "x", dict(k=10))],
    "ps_m31": [("ps", "x", dict(k=12, m=(3, 1)))],
    "tp": [("tp", "x", dict(k=10))],
    "tp_default": [(None, "x", {})],
    "tp2": [("tp", ("x", "z"), dict(k=20))],
    "gp_m3": [("gp", ("x", "z"), dict(k=20, m=(3, 0.5)))],
    "gp_m_neg2": [("gp", ("x", "z"), dict(k=20, m=(-2, 0.3, 1)))],
    "gp_default": [("gp", ("x", "z"), dict(k=15))],
    "gp_m1": [("gp", ("x", "z"), dict(k=20, m=(1, 0.8)))],
    "gp_m5": [("gp", ("x", "z"), dict(k=20, m=(5, 0.4)))],
    "gp_1d": [("gp", "x", dict(k=10, m=(4, 0.3)))],
    "re": [("re", "g", {})],
    "re_slope": [("re", ("x", "g"), {})],
    "re_inter": [("re", ("fac", "g"), {})],
    "by_factor": [("cr", "x", dict(k=6, by="fac"))],
    "by_numeric": [("cr", "x", dict(k=8, by="w"))],
    "cr_plus_gp": [("cr", "x", dict(k=8)), ("gp", ("x", "z"), dict(k=12, m=(3, 0.5)))],
}


def pls_fit(X, P, y):
    """Penalised least squares via an augmented least-squares problem (min-norm)."""
    w, V = np.linalg.eigh(P)
    root = (V * np.sqrt(np.clip(w, 0, None))).T
    A = np.vstack([X, root])
    b = np.linalg.lstsq(A, np.concatenate([y, np.zeros(root.shape[0])]), rcond=None)[0]
    return b


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_sp_fit_matches_mgcv(name, ref, data):
    d, nd = data
    fit = ref["fits"][name]
    specs = []
    for bs, v, kw in CASES[name]:
        specs += make_basis(bs, v, **kw).construct_all(d)
    X, Xn = [np.ones((len(d), 1))], [np.ones((len(nd), 1))]
    if name == "by_factor":  # y ~ fac + s(x, by = fac): treatment-coded fac columns
        X.append(pd.get_dummies(d.fac).to_numpy(float)[:, 1:])
        Xn.append(pd.get_dummies(nd.fac).to_numpy(float)[:, 1:])
    p0 = sum(a.shape[1] for a in X)
    blocks = [np.zeros((p0, p0))]
    for s, sp in zip(specs, np.atleast_1d(fit["sp"]), strict=True):
        X.append(dense(s.X))
        Xn.append(dense(s.predict_matrix(nd)))
        blocks.append(sp * s.S)
    X, Xn = np.hstack(X), np.hstack(Xn)
    P = np.zeros((X.shape[1],) * 2)
    i = 0
    for B in blocks:
        P[i : i + len(B), i : i + len(B)] = B
        i += len(B)
    b = pls_fit(X, P, d["y"].to_numpy())
    ref_fit = np.array(fit["fitted"])
    ref_pred = np.array(fit["predict"])
    scale = np.abs(ref_fit).max()
    np.testing.assert_allclose(X @ b, ref_fit, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(Xn @ b, ref_pred, rtol=0, atol=1e-6 * scale)
    # the smooths' bookkeeping as mgcv reports it
    for s, r in zip(specs, fit["smooths"], strict=True):
        assert s.label == r["label"]
        assert s.S_scale == pytest.approx(r["S_scale"], rel=1e-8)
        assert s.k == r["bs_dim"] or s.bs == "re"
        assert s.rank == r["rank"]
        if name != "cr_plus_gp":  # there gam.side removes a column shared with s(x)
            assert s.n_coef == r["ncoef"]
            assert s.null_dim == r["null_space_dim"]
        if r["gp_defn"] is not None:
            np.testing.assert_allclose(s.gp_defn, r["gp_defn"], rtol=1e-12)


def test_raw_cr_equals_mgcv(ref, data):
    d, nd = data
    b = make_basis("cr", "x", k=10)
    raw = b.construct_raw(d)
    r = ref["raw"]["cr"]
    np.testing.assert_allclose(raw.knots, r["knots"], rtol=1e-13)
    np.testing.assert_allclose(raw.X, r["X"], atol=1e-12)
    np.testing.assert_allclose(raw.S, r["S"], rtol=1e-10, atol=1e-8 * np.abs(r["S"]).max())
    # PredictMat on new data, including linear extrapolation beyond both end knots
    np.testing.assert_allclose(b.predict_raw(raw, nd), r["predict_X"], atol=1e-12)


def test_raw_ps_equals_mgcv(ref, data):
    d, nd = data
    b = make_basis("ps", "x", k=10)
    raw = b.construct_raw(d)
    r = ref["raw"]["ps"]
    np.testing.assert_allclose(raw.knots, r["knots"], rtol=1e-13)
    np.testing.assert_allclose(raw.X, r["X"], atol=1e-12)
    np.testing.assert_allclose(raw.S, r["S"], atol=1e-12)
    np.testing.assert_allclose(b.predict_raw(raw, nd), r["predict_X"], atol=1e-10)


@pytest.mark.parametrize("name, args", [("gp_m3", (("x", "z"), dict(k=20, m=(3, 0.5)))),
                                        ("tp", ("x", dict(k=10)))])
def test_raw_gp_tp_equal_mgcv_up_to_column_signs(ref, data, name, args):
    d, _ = data
    bs = "gp" if name.startswith("gp") else "tp"
    raw = make_basis(bs, args[0], **args[1]).construct_raw(d)
    Xr = np.array(ref["raw"][name]["X"])
    Sr = np.array(ref["raw"][name]["S"])
    signs = np.sign(np.sum(raw.X * Xr, axis=0))
    np.testing.assert_allclose(raw.X * signs, Xr, atol=1e-9 * np.abs(Xr).max())
    np.testing.assert_allclose(signs[:, None] * raw.S * signs, Sr, atol=1e-9 * np.abs(Sr).max())


# ---- independent checks: GP ----------------------------------------------------------


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(42)
    return pd.DataFrame({"x": rng.uniform(0, 10, 60), "y": rng.uniform(0, 5, 60)})


def test_gp_full_rank_basis_is_kriging_basis(xy):
    kn = pd.DataFrame({"x": np.linspace(0, 10, 9), "y": np.tile([1.0, 4.0, 2.5], 3)})
    b = make_basis("gp", ("x", "y"), k=9 + 3, m=(3, 2.0), knots=kn)
    raw = b.construct_raw(xy)
    pts, kp = xy.to_numpy(), kn.to_numpy()
    r = pairwise_distance(pts, kp) / 2.0
    C = (1 + r) * np.exp(-r)  # Matern 3/2 of DESIGN.md section 6
    np.testing.assert_allclose(raw.X[:, :9], C, rtol=1e-13)
    # null space columns: 1, x - mean(x), y - mean(y)
    np.testing.assert_allclose(raw.X[:, 9:], np.column_stack([np.ones(60), pts - pts.mean(0)]),
                               atol=1e-13)
    rk = pairwise_distance(kp) / 2.0
    E = (1 + rk) * np.exp(-rk)
    np.testing.assert_allclose(raw.S[:9, :9], E, rtol=1e-13)
    assert np.all(raw.S[9:] == 0) and np.all(raw.S[:, 9:] == 0)
    assert raw.null_dim == 3 and raw.rank == 9


def test_gp_truncation_keeps_largest_eigenvalues(xy):
    raw = make_basis("gp", ("x", "y"), k=15, m=(4, 3.0)).construct_raw(xy)
    r = pairwise_distance(xy.to_numpy()) / 3.0
    E = np.exp(-r) * (1 + r + r**2 / 3)
    lam = np.sort(np.linalg.eigvalsh(E))[::-1][:12]
    np.testing.assert_allclose(np.diag(raw.S)[:12], lam, rtol=1e-10)
    assert np.all(np.diag(raw.S)[12:] == 0)
    # at the knots (here every data point) the basis is C U = E U = U diag(lam)
    row = np.argmin(pairwise_distance(xy.to_numpy(), raw.knots), axis=1)
    np.testing.assert_allclose(raw.X[:, :12] / lam, raw.state["U"][row], atol=1e-8)


def test_gp_default_rho_is_max_knot_distance_and_negative_type(xy):
    sm = make_basis("gp", ("x", "y"), k=10, m=-3).construct(xy)
    pts = xy.to_numpy()
    assert sm.gp_defn[1] == pytest.approx(pairwise_distance(pts).max(), rel=1e-14)
    assert sm.gp_defn[0] == -3
    # negative type: constant-only null space, which the centring constraint removes
    assert sm.null_dim == 0 and sm.rank == 9


def test_gp_eigen_paths_agree():
    rng = np.random.default_rng(3)
    pts = rng.uniform(size=(450, 2))
    r = pairwise_distance(pts) / 0.3
    E = (1 + r) * np.exp(-r)
    lam, U = _top_eigen(E, 25)  # > 400 knots: partial eigensolver
    full = np.linalg.eigvalsh(E)[::-1][:25]
    np.testing.assert_allclose(lam, full, rtol=1e-10)
    np.testing.assert_allclose(E @ U, U * lam, atol=1e-9)


def test_gp_knot_subsample(xy):
    b = make_basis("gp", ("x", "y"), k=12, max_knots=40, seed=7)
    sm = b.construct(xy)
    assert sm.knots.shape == (40, 2)
    assert len(np.unique(sm.knots, axis=0)) == 40
    sm2 = make_basis("gp", ("x", "y"), k=12, max_knots=40, seed=7).construct(xy)
    np.testing.assert_array_equal(sm.knots, sm2.knots)


def test_gp_errors(xy):
    with pytest.raises(ValueError, match=r"k=61.*\(60\)"):
        make_basis("gp", ("x", "y"), k=61).construct(xy)
    bad = xy.copy()
    bad.loc[3, "y"] = np.nan
    with pytest.raises(ValueError, match="'y'"):
        make_basis("gp", ("x", "y"), k=10).construct(bad)
    for m in [(0, 1.0), (6, 1.0), (-7,)]:
        with pytest.raises(ValueError, match="type"):
            make_basis("gp", ("x", "y"), m=m)
    for m in [(2, 1.0, 0.0), (2, 1.0, 2.5)]:
        with pytest.raises(ValueError, match="power"):
            make_basis("gp", ("x", "y"), m=m)


# ---- independent checks: constraint and prediction ---------------------------------


@pytest.mark.parametrize(
    "bs, v, kw",
    [
        ("cr", "x", dict(k=8)),
        ("ps", "x", dict(k=8)),
        ("tp", "x", dict(k=8)),
        ("tp", ("x", "y"), dict(k=15)),
        ("gp", ("x", "y"), dict(k=15, m=(2, 3.0, 1.5))),
        ("gp", "x", dict(k=8, m=(1, 4.0))),
    ],
)
def test_centring_and_predict_reproduces_X(xy, bs, v, kw):
    b = make_basis(bs, v, **kw)
    sm = b.construct(xy)
    raw = b.construct_raw(xy)
    assert sm.X.shape == (60, raw.k - 1)
    np.testing.assert_allclose(sm.X.sum(axis=0), 0, atol=1e-10 * np.abs(sm.X).max() * 60)
    np.testing.assert_allclose(sm.predict_matrix(xy), sm.X, atol=1e-10 * np.abs(sm.X).max())
    # the constrained basis spans exactly the zero-sum part of the raw basis
    Z = sm.Z
    np.testing.assert_allclose(Z.T @ Z, np.eye(raw.k - 1), atol=1e-12)
    np.testing.assert_allclose(raw.X @ Z, sm.X, atol=1e-12 * np.abs(sm.X).max())
    # constrained penalty is Z' S Z of the scaled penalty
    np.testing.assert_allclose(sm.S * sm.S_scale, Z.T @ raw.S @ Z,
                               atol=1e-10 * np.abs(raw.S).max())


# ---- independent checks: cr ---------------------------------------------------------


def second_derivative_integral(f, a, b, n=200001):
    """integral_a^b f''(x)^2 dx by central differences on a fine grid (trapezoid)."""
    x = np.linspace(a, b, n)
    h = x[1] - x[0]
    y = f(x)
    d2 = (y[2:] - 2 * y[1:-1] + y[:-2]) / h**2
    return np.trapezoid(d2**2, dx=h) if hasattr(np, "trapezoid") else np.trapz(d2**2, dx=h)


def test_cr_interpolates_at_knots_and_penalty_null_space():
    x = np.array([0.0, 0.3, 0.5, 1.2, 1.9, 2.0, 3.1])
    d = pd.DataFrame({"x": x})
    b = make_basis("cr", "x", k=7)
    raw = b.construct_raw(d)
    np.testing.assert_allclose(raw.knots, x)
    # parameterised by values at the knots: the basis at the knots is the identity,
    # so the unpenalised fit interpolates any data observed at the knots
    np.testing.assert_allclose(raw.X, np.eye(7), atol=1e-14)
    y = np.sin(3 * x) + x**2
    sm = b.construct(d)
    A = np.column_stack([np.ones(7), sm.X])
    coef = np.linalg.solve(A, y)
    np.testing.assert_allclose(A @ coef, y, atol=1e-12)
    # the penalty annihilates linear functions and nothing else
    np.testing.assert_allclose(raw.S @ np.ones(7), 0, atol=1e-10)
    np.testing.assert_allclose(raw.S @ x, 0, atol=1e-10)
    ev = np.linalg.eigvalsh(raw.S)
    assert np.sum(np.abs(ev) < 1e-10 * ev.max()) == 2


def test_cr_penalty_is_integrated_squared_second_derivative():
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"x": np.sort(rng.uniform(0, 2, 50))})
    b = make_basis("cr", "x", k=9)
    raw = b.construct_raw(d)
    beta = rng.normal(size=9)
    kn = raw.knots
    f = lambda t: b.predict_raw(raw, pd.DataFrame({"x": t})) @ beta
    J = second_derivative_integral(f, kn[0], kn[-1])
    assert beta @ raw.S @ beta == pytest.approx(J, rel=1e-6)
    # the mgcv-scaled, constrained penalty carries S_scale
    sm = b.construct(d)
    g = rng.normal(size=8)
    fz = lambda t: sm.predict_matrix(pd.DataFrame({"x": t})) @ g
    assert g @ sm.S @ g * sm.S_scale == pytest.approx(
        second_derivative_integral(fz, kn[0], kn[-1]), rel=1e-6)
    # outside the knots the spline is linear
    t = np.array([-1.0, -0.5, 2.5, 3.0])
    out = b.predict_raw(raw, pd.DataFrame({"x": t})) @ beta
    lo = (out[1] - out[0]) / 0.5
    assert (f(np.array([kn[0]]))[0] - out[1]) / (kn[0] + 0.5) == pytest.approx(lo, rel=1e-10)


# ---- independent checks: ps ---------------------------------------------------------


@pytest.mark.parametrize("m", [(2, 1), (2, 2), (2, 3), (1, 2), (3, 2)])
def test_ps_penalty_null_space_is_polynomials(m):
    d = pd.DataFrame({"x": np.linspace(-1, 2, 40)})
    k = 11
    raw = make_basis("ps", "x", k=k, m=m).construct_raw(d)
    j = np.arange(k, dtype=float)
    for p in range(m[1]):  # coefficient sequences polynomial of degree < m[1]
        np.testing.assert_allclose(raw.S @ j**p, 0, atol=1e-8 * (k**p))
    ev = np.linalg.eigvalsh(raw.S)
    assert np.sum(np.abs(ev) < 1e-9 * ev.max()) == m[1]
    assert raw.rank == k - m[1] and raw.null_dim == m[1]
    # B-splines of order m[0]+2 on 1 + k - m[0] - 1 ... : partition of unity in range
    np.testing.assert_allclose(raw.X.sum(axis=1), 1.0, atol=1e-12)
    assert len(raw.knots) == k + m[0] + 2


def test_ps_knots_evenly_spaced_beyond_range():
    d = pd.DataFrame({"x": np.linspace(0, 1, 30)})
    raw = make_basis("ps", "x", k=10).construct_raw(d)
    kn = raw.knots
    np.testing.assert_allclose(np.diff(kn), np.diff(kn)[0], rtol=1e-12)
    # inner knots span the range widened by 0.1% each side, 3 spacings beyond
    assert kn[3] == pytest.approx(-0.001) and kn[-4] == pytest.approx(1.001)


# ---- independent checks: tp ---------------------------------------------------------


@pytest.mark.parametrize("k", [25, 8])
def test_tp_1d_penalty_is_integrated_squared_second_derivative(k):
    # In 1-D with m = 2, eta(r) = r^3 / 12 and the thin-plate penalty of any function in
    # the (full or eigen-truncated) basis is the integral of f''^2 over the real line;
    # the function is linear outside the knots, so the integral over the knots suffices.
    rng = np.random.default_rng(11)
    d = pd.DataFrame({"x": np.sort(rng.uniform(0, 1, 25))})
    b = make_basis("tp", "x", k=k)
    sm = b.construct(d)
    g = rng.normal(size=k - 1)
    f = lambda t: sm.predict_matrix(pd.DataFrame({"x": t})) @ g
    J = second_derivative_integral(f, d.x.min(), d.x.max(), n=400001)
    assert g @ sm.S @ g * sm.S_scale == pytest.approx(J, rel=1e-5)


def test_tp_eta_constants():
    # 1-D m=2: r^3/12; 2-D m=2: r^2 log(r) / (8 pi); 3-D m=2: -r / (8 pi)
    from spatialgamm.terms.smooths.tp import tps_eta

    r = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(tps_eta(r, 2, 1), r**3 / 12)
    np.testing.assert_allclose(tps_eta(r, 2, 2), [0, 0.25 * math.log(0.5) / (8 * math.pi),
                                                  4 * math.log(2) / (8 * math.pi)])
    np.testing.assert_allclose(tps_eta(r, 2, 3), -r / (8 * math.pi))


def test_tp_default_k_and_null_space(xy):
    sm = make_basis(None, ("x", "y")).construct(xy)
    assert sm.bs == "tp" and sm.k == 30 and sm.null_dim == 2 and sm.rank == 27
    sm = make_basis("tp", "x").construct(xy)
    assert sm.k == 10 and sm.X.shape == (60, 9)


# ---- independent checks: re and by ----------------------------------------------------


def test_re_indicator_slopes_interaction_and_unseen_levels():
    d = pd.DataFrame({
        "herd": pd.Categorical(["b", "a", "c", "a"], categories=["c", "b", "a"]),
        "x": [1.0, 2.0, 3.0, 4.0],
        "f2": ["u", "u", "v", "v"],
    })
    sm = make_basis("re", "herd").construct(d)
    assert sps.issparse(sm.X) and sm.label == "s(herd)"
    # R level order = the Categorical's categories (c, b, a)
    np.testing.assert_array_equal(dense(sm.X), [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(sm.S, np.eye(3))
    assert sm.null_dim == 0 and sm.rank == 3 and not sm.centred
    new = pd.DataFrame({"herd": ["a", "zz", "c"], "x": [1.0, 1.0, 2.0], "f2": ["v", "u", "w"]})
    np.testing.assert_array_equal(dense(sm.predict_matrix(new)), [[0, 0, 1], [0, 0, 0], [1, 0, 0]])
    sl = make_basis("re", ("x", "herd")).construct(d)
    np.testing.assert_array_equal(dense(sl.X), [[0, 1, 0], [0, 0, 2], [3, 0, 0], [0, 0, 4]])
    assert sl.S_scale == pytest.approx(1 / 16)  # ||I||_1 / max|x|^2, as mgcv
    it = make_basis("re", ("herd", "f2")).construct(d)
    assert it.X.shape == (4, 6)  # all 3 x 2 combinations, first factor fastest
    np.testing.assert_array_equal(np.argmax(dense(it.X), axis=1), [1, 2, 3, 5])
    np.testing.assert_array_equal(dense(it.predict_matrix(new)).sum(axis=1), [1, 0, 0])


def test_re_integer_group_warns():
    d = pd.DataFrame({"herd": [1, 2, 3, 1]})
    with pytest.warns(UserWarning, match="integer column"):
        sm = make_basis("re", "herd").construct(d)
    assert sm.X.shape == (4, 1)  # a numeric covariate, as in mgcv


def test_smooth_spec_pickles(xy):
    import pickle

    sm = make_basis("gp", ("x", "y"), k=10, m=(3, 2.0)).construct(xy)
    sm2 = pickle.loads(pickle.dumps(sm))
    np.testing.assert_array_equal(sm2.predict_matrix(xy), sm.predict_matrix(xy))


def test_factor_with_other_bs_is_an_error():
    d = pd.DataFrame({"herd": ["a", "b", "c"] * 5, "x": np.arange(15.0)})
    with pytest.raises(ValueError, match=r"s\(herd\) is a factor: use bs='re'"):
        make_basis("tp", "herd").construct(d)
    with pytest.raises(ValueError, match="'herd' is a factor"):
        make_basis("gp", ("x", "herd"), k=5).construct(d)


def test_factor_by_labels_constraint_and_zero_rows():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"x2": rng.uniform(size=60), "fac": np.repeat(["1", "2", "3"], 20)})
    specs = construct_by(make_basis("cr", "x2", k=6), d, "fac")
    assert [s.label for s in specs] == ["s(x2):fac1", "s(x2):fac2", "s(x2):fac3"]
    for s, lev in zip(specs, ["1", "2", "3"], strict=True):
        other = (d.fac != lev).to_numpy()
        assert np.all(s.X[other] == 0)
        assert s.X.shape == (60, 5) and s.null_dim == 1  # centred, as mgcv does
        np.testing.assert_allclose(s.predict_matrix(d), s.X, atol=1e-13)
    # an ordered factor has no smooth for its first level
    d["ofac"] = pd.Categorical(d.fac, ordered=True)
    assert [s.label for s in construct_by(make_basis("cr", "x2", k=6), d, "ofac")] == [
        "s(x2):ofac2", "s(x2):ofac3"]
    with pytest.raises(ValueError, match="construct_all"):
        make_basis("cr", "x2", k=6, by="fac").construct(d)


def test_numeric_by_multiplies_and_drops_constraint():
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"x": rng.uniform(size=40), "w": rng.uniform(1, 2, 40), "one": 1.0})
    b = make_basis("cr", "x", k=7, by="w")
    sm = b.construct(d)
    raw = b.construct_raw(d)
    assert sm.label == "s(x):w" and not sm.centred and sm.null_dim == 2
    np.testing.assert_allclose(sm.X, raw.X * d.w.to_numpy()[:, None])
    # a constant numeric by keeps the centring constraint (mgcv)
    assert make_basis("cr", "x", k=7, by="one").construct(d).centred


def test_make_basis_errors():
    with pytest.raises(ValueError) as err:
        make_basis("xx", "x")
    for bs in ("tp", "cr", "ps", "gp", "re"):
        assert bs in str(err.value)
    with pytest.raises(TypeError, match="bogus"):
        make_basis("cr", "x", bogus=1)
    d = pd.DataFrame({"x": np.repeat([1.0, 2.0, 3.0], 4)})
    with pytest.raises(ValueError, match="3 unique values.*k=10"):
        make_basis("cr", "x").construct(d)
    with pytest.raises(KeyError, match="'nope'"):
        make_basis("cr", "nope").construct(d)
