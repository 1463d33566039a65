"""The kernels behind the SPDE speed-ups, each against a dense or brute-force computation.

- ``RowPairs``: ``Z'WZ`` and ``z_i' S z_i`` against dense products, for rows of different
  lengths, explicit zeros and empty rows;
- the planned Takahashi recursions: the selected inverse against ``np.linalg.inv`` for
  several matrices sharing one pattern (the plan reused) and for a second pattern;
- ``FixedPatternPLS``: the refilled ``Z'WZ`` and the PLS solution against the dense normal
  equations;
- point location: the triangle and barycentric weights against testing every triangle;
- ``SparsePosterior.variance``: against the dense covariance, also when a design with the
  same pattern but other values comes back (the cached pairs must not be reused wrongly).
"""

import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from spatialgamm.engine import selinv
from spatialgamm.engine.pls import FixedPatternPLS
from spatialgamm.engine.posterior import SparsePosterior
from spatialgamm.engine.rowpairs import RowPairs
from spatialgamm.mesh import Mesh, SPDEOperator


@pytest.fixture(scope="module")
def mesh():
    return Mesh.build(boundary=shapely.box(0, 0, 5, 3), max_edge=0.6, offset=(0, 1.0))


def _projector(mesh, n, seed):
    rng = np.random.default_rng(seed)
    xy = np.column_stack([rng.uniform(0, 5, n), rng.uniform(0, 3, n)])
    xy[:5] = mesh.nodes[:5]  # on vertices: explicit zeros in the row
    return mesh.projector(xy)


def test_row_pairs_against_dense_products():
    rng = np.random.default_rng(0)
    n, q = 60, 12
    # rows of 1 to 4 entries, one empty row, one explicit zero
    counts = rng.integers(1, 5, n)
    counts[3] = 0
    cols = np.concatenate([rng.choice(q, c, replace=False) for c in counts])
    vals = rng.uniform(0.1, 1.0, len(cols))
    vals[5] = 0.0
    Z = sp.csr_matrix((vals, cols, np.r_[0, np.cumsum(counts)]), shape=(n, q))
    assert Z.nnz == counts.sum()  # the zero is stored
    rp = RowPairs(Z)
    w = rng.uniform(0.1, 2.0, n)
    Zd = Z.toarray()
    np.testing.assert_allclose(rp.lower_to_dense(rp.weighted(w)), Zd.T @ (w[:, None] * Zd),
                               atol=1e-12)
    B = rng.normal(size=(q, q))
    S = B @ B.T
    np.testing.assert_allclose(rp.quadratic(S[rp.hi, rp.lo]),
                               np.einsum("ij,jk,ik->i", Zd, S, Zd), atol=1e-12)
    assert np.all(rp.hi >= rp.lo)


def _spd_on_pattern(pattern, seed):
    rng = np.random.default_rng(seed)
    A = sp.csc_matrix(pattern, dtype=float, copy=True)
    A.data = rng.uniform(-1, 1, A.nnz)
    A = A + A.T
    return sp.csc_matrix(A + sp.diags(np.asarray(abs(A).sum(axis=1)).ravel() + 1.0))


@pytest.mark.skipif(not selinv.HAVE_CHOLMOD, reason="needs CHOLMOD")
def test_planned_selected_inverse_equals_the_dense_inverse(mesh):
    op = SPDEOperator(mesh, 2)
    patterns = [op.pattern, sp.csc_matrix(abs(op.G) + op.Ct)]
    for k, pat in enumerate(patterns * 2):  # each pattern twice: plans reused and switched
        A = _spd_on_pattern(pat, seed=k)
        S = selinv.selected_inverse(A)
        dense = np.linalg.inv(A.toarray())
        coo = S.tocoo()
        np.testing.assert_allclose(coo.data, dense[coo.row, coo.col], rtol=1e-9, atol=1e-12)
        assert np.allclose(S.diagonal(), np.diag(dense))


def test_fixed_pattern_solve_against_the_normal_equations(mesh):
    Z = _projector(mesh, 400, seed=2)
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(400), rng.normal(size=400)])
    Q = SPDEOperator(mesh, 2).Q(1.0, 1.0)
    pls = FixedPatternPLS(X, Z, Q)
    w, z = rng.uniform(0.2, 3.0, 400), rng.normal(size=400)
    Zd = Z.toarray()
    np.testing.assert_allclose(pls.weighted_ztz(w).toarray(), Zd.T @ (w[:, None] * Zd),
                               atol=1e-12)
    s = pls.solve(Q, w, z)
    M = np.hstack([X, Zd])
    H = M.T @ (w[:, None] * M)
    H[2:, 2:] += Q.toarray()
    x = np.linalg.solve(H, M.T @ (w * z))
    np.testing.assert_allclose(np.r_[s.beta, s.u], x, rtol=1e-8, atol=1e-10)


def test_point_location_against_every_triangle(mesh):
    rng = np.random.default_rng(4)
    xy = np.column_stack([rng.uniform(-0.5, 5.5, 3000), rng.uniform(-0.5, 3.5, 3000)])
    xy[:20] = mesh.nodes[rng.choice(mesh.n, 20)]  # vertices
    t = mesh.triangles[:20]
    xy[20:40] = 0.5 * (mesh.nodes[t[:, 0]] + mesh.nodes[t[:, 1]])  # edge midpoints
    from spatialgamm.mesh.projector import TOL, TriangleLocator

    tri, w = TriangleLocator(mesh.nodes, mesh.triangles).locate(xy)
    p = mesh.nodes[mesh.triangles]  # (T, 3, 2)
    for i in range(len(xy)):
        a, b, c = p[:, 0], p[:, 1], p[:, 2]
        det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
        l1 = ((xy[i, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
              - (c[:, 0] - a[:, 0]) * (xy[i, 1] - a[:, 1])) / det
        l2 = ((b[:, 0] - a[:, 0]) * (xy[i, 1] - a[:, 1])
              - (xy[i, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
        inside = np.minimum(np.minimum(1 - l1 - l2, l1), l2) >= -TOL
        if not inside.any():
            assert tri[i] == -1
            continue
        assert inside[tri[i]]
        bary = np.array([1 - l1[tri[i]] - l2[tri[i]], l1[tri[i]], l2[tri[i]]])
        bary = np.clip(bary, 0, None)
        np.testing.assert_allclose(w[i], bary / bary.sum(), atol=1e-9)
        np.testing.assert_allclose(w[i] @ p[tri[i]], xy[i], atol=1e-9)


def test_sparse_posterior_variances_against_the_dense_covariance(mesh):
    Q = SPDEOperator(mesh, 2).Q(1.5, 1.0)
    Z = _projector(mesh, 300, seed=5)
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(300), rng.normal(size=300)])
    w = rng.uniform(0.5, 2.0, 300)
    pls = FixedPatternPLS(X, Z, Q)
    s = pls.solve(Q, w, rng.normal(size=300))
    post = SparsePosterior(s.factor.selected_inverse(), s.C, s.R, 1.7)
    M = np.hstack([X, Z.toarray()])
    H = M.T @ (w[:, None] * M)
    H[2:, 2:] += Q.toarray()
    cov = 1.7 * np.linalg.inv(H)
    for seed in (7, 7, 8):  # the same rows twice (cached pairs), then other rows
        Zn = _projector(mesh, 50, seed)
        Xn = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
        G = np.hstack([Xn, Zn.toarray()])
        np.testing.assert_allclose(post.variance(Xn, Zn), np.einsum("ij,jk,ik->i", G, cov, G),
                                   rtol=1e-8)
    # same pattern, other values: the cached pairs must not answer for it
    Zs = sp.csr_matrix(_projector(mesh, 50, 7))
    Zs.data = Zs.data[::-1].copy()
    G = np.hstack([Xn, Zs.toarray()])
    np.testing.assert_allclose(post.variance(Xn, Zs), np.einsum("ij,jk,ik->i", G, cov, G),
                               rtol=1e-8)
