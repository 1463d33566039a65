"""P1 finite-element matrices: hand-computed element matrices and exact integrals.

Expected values: the textbook element matrices of the unit right triangle, polygon areas
and centroids from shapely, and closed-form integrals of linear functions (P1 elements
represent them exactly, so mass and stiffness integrals must be exact).
"""

import numpy as np
import pytest
import scipy.sparse as sp
import shapely

from spatialgamm.mesh import Mesh, fem_matrices


@pytest.fixture(scope="module")
def rect_mesh():
    # a 3 x 2 rectangle with a hole, no extension: mesh area = polygon area
    poly = shapely.Polygon([(0, 0), (3, 0), (3, 2), (0, 2)],
                           [[(1, 0.5), (2, 0.5), (2, 1.5), (1, 1.5)]])
    return Mesh.build(boundary=poly, max_edge=0.25, offset=(0, None)), poly


def test_unit_triangle_element_matrices():
    # unit right triangle, area 1/2: the standard P1 element matrices
    nodes = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    C, Ct, G = fem_matrices(nodes, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(C.toarray(), np.array([[2, 1, 1], [1, 2, 1], [1, 1, 2]]) / 24)
    np.testing.assert_allclose(Ct.toarray(), np.eye(3) / 6)
    np.testing.assert_allclose(G.toarray(), 0.5 * np.array([[2, -1, -1], [-1, 1, 0], [-1, 0, 1]]))
    # orientation does not matter
    C2, _, G2 = fem_matrices(nodes, np.array([[0, 2, 1]]))
    np.testing.assert_allclose(C2.toarray(), C.toarray())
    np.testing.assert_allclose(G2.toarray(), G.toarray())


def test_fem_identities(rect_mesh):
    mesh, poly = rect_mesh
    C, Ct, G = mesh.fem()
    for M in (C, Ct, G):
        assert sp.isspmatrix_csc(M) or isinstance(M, sp.csc_array)
        assert abs(M - M.T).max() < 1e-14
    assert C.sum() == pytest.approx(poly.area, rel=1e-12)
    assert Ct.sum() == pytest.approx(poly.area, rel=1e-12)
    assert mesh.area == pytest.approx(poly.area, rel=1e-12)
    np.testing.assert_allclose(G @ np.ones(mesh.n), 0, atol=1e-12)
    # G is PSD with a one-dimensional null space (connected mesh); C is PD
    eg = np.linalg.eigvalsh(G.toarray())
    assert eg[0] > -1e-10 and eg[1] > 1e-8
    assert np.linalg.eigvalsh(C.toarray())[0] > 0
    # Ct is the row sums of C (lumping)
    np.testing.assert_allclose(Ct.diagonal(), np.asarray(C.sum(axis=1)).ravel(), rtol=1e-12)


def test_linear_functions_integrate_exactly(rect_mesh):
    mesh, poly = rect_mesh
    C, _, G = mesh.fem()
    a, b, c = 0.7, -1.3, 2.0
    f = a + b * mesh.nodes[:, 0] + c * mesh.nodes[:, 1]
    # int f = area * f(centroid)
    cx, cy = poly.centroid.x, poly.centroid.y
    assert np.ones(mesh.n) @ C @ f == pytest.approx(poly.area * (a + b * cx + c * cy), rel=1e-10)
    # int |grad f|^2 = (b^2 + c^2) * area
    assert f @ G @ f == pytest.approx((b**2 + c**2) * poly.area, rel=1e-10)


def test_mass_matrix_integrates_squares_exactly():
    # on the square [0, 2]^2: int x^2 = 2 * 2^3 / 3, int x y = (2^2 / 2)^2
    mesh = Mesh.build(boundary=shapely.box(0, 0, 2, 2), max_edge=0.3, offset=(0, None))
    C, _, _ = mesh.fem()
    x, y = mesh.nodes[:, 0], mesh.nodes[:, 1]
    assert x @ C @ x == pytest.approx(2 * 8 / 3, rel=1e-10)
    assert x @ C @ y == pytest.approx(4.0, rel=1e-10)


def test_fem_returns_copies(rect_mesh):
    mesh, _ = rect_mesh
    C, _, _ = mesh.fem()
    C.data[:] = 0
    assert mesh.fem()[0].sum() > 0
