"""Selected inversion (Takahashi recursions): against the dense inverse, on every back-end.

Expected values: numpy's dense inverse of the same matrix, restricted to the computed
pattern (an independent LAPACK computation).
"""

import numpy as np
import pytest
import scipy.sparse as sp

from spatialgamm.engine import selinv
from spatialgamm.engine.selinv import (
    marginal_variances,
    selected_inverse,
    selected_inverse_from_factor,
    takahashi,
)

BACKENDS = ["superlu", "dense"] + (["cholmod"] if selinv.HAVE_CHOLMOD else [])


def _random_spd(n, density, seed):
    A = sp.random(n, n, density=density, random_state=seed, format="csc")
    return (A @ A.T + 0.3 * sp.eye(n)).tocsc()


def _arrow(n):
    # a dense last row/column: the fill-reducing ordering must permute it last
    Q = sp.lil_matrix((n, n))
    Q.setdiag(4.0 + np.arange(n) % 3)
    Q[0, 1:] = 0.5
    Q[1:, 0] = 0.5
    Q[0, 0] = n
    return Q.tocsc()


def _check(Q, S):
    Qi = np.linalg.inv(Q.toarray())
    S = S.tocoo()
    assert np.abs(S.data - Qi[S.row, S.col]).max() < 1e-8 * np.abs(Qi).max()
    # the pattern contains Q's, and is symmetric
    Qp = (abs(Q) > 0).astype(float)
    covered = sp.csc_matrix((np.ones(S.nnz), (S.row, S.col)), shape=Q.shape)
    assert (Qp - Qp.multiply(covered)).nnz == 0
    assert abs(S.tocsc() - S.tocsc().T).max() == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [lambda: _random_spd(300, 0.01, 1),
                                  lambda: _random_spd(120, 0.05, 2),
                                  lambda: _arrow(80)])
def test_selected_inverse_equals_dense_inverse(backend, make):
    Q = make()
    _check(Q, selected_inverse(Q, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_marginal_variances(backend):
    Q = _random_spd(200, 0.02, 3)
    np.testing.assert_allclose(marginal_variances(Q, backend=backend),
                               np.diag(np.linalg.inv(Q.toarray())), rtol=1e-9)


def test_takahashi_on_a_given_factor_and_permutation():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(60, 60))
    Q = B @ B.T + 60 * np.eye(60)  # dense: its factor's pattern is the whole triangle
    perm = rng.permutation(60)
    L = np.linalg.cholesky(Q[np.ix_(perm, perm)])
    S = selected_inverse_from_factor(sp.csc_matrix(L), perm)
    # a full factor: its pattern is everything, so S is the whole inverse
    np.testing.assert_allclose(S.toarray(), np.linalg.inv(Q), atol=1e-10)
    v = takahashi(sp.csc_matrix(L))
    assert v.shape == (sp.csc_matrix(L).nnz,)


def test_spde_precision_diagonal_matches_solves():
    shapely = pytest.importorskip("shapely")
    from spatialgamm.mesh import Mesh, SPDEOperator

    mesh = Mesh.build(boundary=shapely.box(0, 0, 4, 4), max_edge=0.15, offset=(0, None))
    Q = SPDEOperator(mesh, 2).Q(1.0, 1.0)
    S = selected_inverse(Q)
    lu = sp.linalg.splu(Q.tocsc())
    idx = np.random.default_rng(5).choice(mesh.n, 5, replace=False)
    for i in idx:
        e = np.zeros(mesh.n)
        e[i] = 1.0
        col = lu.solve(e)
        got = S[:, [i]].tocoo()
        np.testing.assert_allclose(got.data, col[got.row], rtol=1e-9)


def test_fallback_warns_without_cholmod(monkeypatch):
    monkeypatch.setattr(selinv, "HAVE_CHOLMOD", False)
    Q = _random_spd(100, 0.03, 6)
    with pytest.warns(RuntimeWarning, match="CHOLMOD"):
        S = selected_inverse(Q)
    _check(Q, S)


def test_errors():
    with pytest.raises(ValueError, match="square"):
        selected_inverse(sp.csc_matrix(np.ones((2, 3))))
    bad = sp.csc_matrix(np.array([[1.0, 2.0], [2.0, 1.0]]))
    for backend in BACKENDS:
        with pytest.raises(np.linalg.LinAlgError):
            selected_inverse(bad, backend=backend)


def test_dense_fallback_refuses_large(monkeypatch):
    monkeypatch.setattr(selinv, "DENSE_MAX", 10)
    with pytest.raises(RuntimeError, match="scikit-sparse"):
        selected_inverse(_random_spd(20, 0.2, 7), backend="dense")
