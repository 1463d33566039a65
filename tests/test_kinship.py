"""kinship() / known_cov(): GREML against an independent REML written here, heritability and
its delta-method SE, genomic prediction for ids without data, and bad input.

Independent references: the REML log-likelihood of ``y ~ N(X b, s_g^2 K + s_e^2 I)`` coded
from its formula and maximised with scipy; the SE of h^2 from that likelihood's numerical
Hessian in (s_g^2, s_e^2); the BLUP ``K_ns K_ss^-1 g_hat``; for the large simulation the
true h^2 and Visscher et al.'s (2014, PLoS Genet 10:e1004269) SE approximation
``sqrt(2 / (n^2 var(K_ij)))``.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import optimize

import spatialgamm as sg
from spatialgamm.formula.parse import FormulaError
from spatialgamm.terms.known_cov import genotype_grm

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _simulate(n, p, h2, seed):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, p)
    G = rng.binomial(2, freq, size=(n, p)).astype(float)
    Zs = (G - G.mean(0)) / G.std(0)
    g = Zs @ rng.normal(0, np.sqrt(h2 / p), p)
    y = 10 + g + rng.normal(0, np.sqrt(1 - h2), n)
    ids = [f"i{i}" for i in range(n)]
    K = Zs @ Zs.T / p
    return G, pd.DataFrame(K, index=ids, columns=ids), pd.DataFrame({"id": ids, "y": y})


def _reml(K, y, X):
    """-2 log restricted likelihood in (s_g^2, s_e^2), written out."""
    n, p = X.shape

    def m2l(v):
        V = v[0] * K + v[1] * np.eye(n)
        Vi = np.linalg.inv(V)
        A = X.T @ Vi @ X
        b = np.linalg.solve(A, X.T @ Vi @ y)
        r = y - X @ b
        return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + r @ Vi @ r
                + (n - p) * np.log(2 * np.pi))
    return m2l


@pytest.fixture(scope="module")
def small():
    G, K, d = _simulate(200, 400, 0.6, seed=1)
    fit = sg.fit("y ~ 1 + kinship(id, K)", d)
    return G, K, d, fit


def test_greml_matches_independent_reml(small):
    _, K, d, fit = small
    m2l = _reml(K.to_numpy(), d["y"].to_numpy(), np.ones((len(d), 1)))
    res = optimize.minimize(lambda t: m2l(np.exp(t)), np.log([0.5, 0.5]), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000})
    vg, ve = np.exp(res.x)
    vc = fit.varcorr.set_index("grp")
    assert vc.loc["kinship(id)", "vcov"] == pytest.approx(vg, rel=1e-4)
    assert vc.loc["Residual", "vcov"] == pytest.approx(ve, rel=1e-4)
    assert fit.reml_criterion == pytest.approx(res.fun, abs=1e-5)
    # h2 and its SE: delta method on the inverse Hessian in (s_g^2, s_e^2)
    v = np.array([vg, ve])
    H = np.zeros((2, 2))
    e = 1e-4 * v
    for i in range(2):
        for j in range(2):
            def f(a, b, i=i, j=j):
                w = v.copy()
                w[i] += a
                w[j] += b
                return m2l(w)
            H[i, j] = (f(e[i], e[j]) - f(e[i], -e[j]) - f(-e[i], e[j]) + f(-e[i], -e[j])) / (
                4 * e[i] * e[j]) if i != j else (f(e[i], 0) - 2 * m2l(v) + f(-e[i], 0)) / e[i] ** 2
    cov = 2 * np.linalg.inv(H)
    grad = np.array([ve, -vg]) / (vg + ve) ** 2
    h = fit.heritability()
    assert h["h2"] == pytest.approx(vg / (vg + ve), rel=1e-4)
    assert h["se"] == pytest.approx(np.sqrt(grad @ cov @ grad), rel=5e-3)
    assert h["var_g"] == pytest.approx(vg, rel=1e-4)


# Names such as K, geno, arr and ids below are used inside formulas: sg.fit reads them from
# the caller's namespace, as R's formula environment does.


def test_genotypes_give_the_same_fit_as_their_grm(small):
    G, K, d, fit = small
    geno = pd.DataFrame(G, index=K.index)  # noqa: F841 - used by name in the formula
    via_z = sg.fit("y ~ 1 + kinship(id, Z=geno)", d)
    np.testing.assert_allclose(via_z.varcorr["vcov"], fit.varcorr["vcov"], rtol=1e-6)
    np.testing.assert_allclose(genotype_grm(G), K.to_numpy(), atol=1e-12)


def test_array_and_sparse_k_with_ids(small):
    _, K, d, fit = small
    arr, ids = K.to_numpy(), list(K.index)  # noqa: F841 - used by name in the formula
    a = sg.fit("y ~ 1 + known_cov(id, K=arr, ids=ids)", d)
    spk = sp.csr_matrix(arr)  # noqa: F841 - used by name in the formula
    s = sg.fit("y ~ 1 + known_cov(id, K=spk, ids=ids)", d)
    for other in (a, s):
        np.testing.assert_allclose(other.varcorr["vcov"], fit.varcorr["vcov"], rtol=1e-6)
    # a permuted K (rows and columns in another order) is the same model
    perm = K.index[::-1]
    Kp = K.loc[perm, perm]  # noqa: F841 - used by name in the formula
    b = sg.fit("y ~ 1 + kinship(id, Kp)", d)
    np.testing.assert_allclose(b.varcorr["vcov"], fit.varcorr["vcov"], rtol=1e-6)


def test_prediction_for_ids_without_data(small):
    _, K, d, _ = small
    train = d.iloc[:150]
    fit = sg.fit("y ~ 1 + kinship(id, K)", train)  # K also holds the 50 unseen ids
    new = d.iloc[150:155]
    pr = fit.predict(new, se_fit=True)
    g = fit.ranef["kinship(id)"]["effect"].to_numpy()
    seen, unseen = list(train["id"]), list(new["id"])
    Kss = K.loc[seen, seen].to_numpy()
    Kns = K.loc[unseen, seen].to_numpy()
    blup = Kns @ np.linalg.solve(Kss, g)
    np.testing.assert_allclose(pr["fit"], fit.fixef["(Intercept)"] + blup, rtol=1e-8)
    # an id seen in the data predicts its own effect; unknown ids the population mean
    both = fit.predict(pd.DataFrame({"id": [seen[0], "nobody"]}))
    np.testing.assert_allclose(both["fit"], [fit.fixef["(Intercept)"] + g[0],
                                             fit.fixef["(Intercept)"]])
    assert np.all(pr["se_fit"] > fit.predict(train.iloc[:5], se_fit=True)["se_fit"].min())


def test_bad_kinship_input(small):
    _, K, d, _ = small
    with pytest.raises(ValueError, match="not ids of K"):
        sg.fit("y ~ 1 + kinship(id, K)", d.assign(id=d["id"].str.replace("i", "x")))
    bad = K.copy()
    bad.iloc[0, 0] = -5.0
    with pytest.raises(ValueError, match="not positive semi-definite"):
        sg.fit("y ~ 1 + kinship(id, bad)", d)
    asym = K.copy()
    asym.iloc[0, 1] += 0.5
    with pytest.raises(ValueError, match="not symmetric"):
        sg.fit("y ~ 1 + kinship(id, asym)", d)
    arr = K.to_numpy()  # noqa: F841 - used by name in the formula
    with pytest.raises(FormulaError, match="ids="):
        sg.fit("y ~ 1 + kinship(id, arr)", d)
    short_ids = list(K.index[:10])  # noqa: F841 - used by name in the formula
    with pytest.raises(FormulaError, match="10 ids"):
        sg.fit("y ~ 1 + known_cov(id, K=arr, ids=short_ids)", d)
    with pytest.raises(FormulaError, match="not both"):
        sg.fit("y ~ 1 + known_cov(id, K=arr, Z=arr, ids=short_ids)", d)
    with pytest.raises(FormulaError, match="nothing_here"):
        sg.fit("y ~ 1 + kinship(id, nothing_here)", d)


@pytest.mark.slow
def test_heritability_recovered_n2000_p5000():
    # the benchmark simulation: 2,000 individuals, 5,000 markers, h2 = 0.5
    G, K, d = _simulate(2000, 5000, 0.5, seed=5)
    fit = sg.fit("y ~ 1 + kinship(id, K)", d)
    h = fit.heritability()
    assert abs(h["h2"] - 0.5) < 3 * h["se"]
    off = K.to_numpy()[np.triu_indices(2000, 1)]
    visscher = np.sqrt(2 / (2000 ** 2 * off.var()))
    assert h["se"] == pytest.approx(visscher, rel=0.25)
