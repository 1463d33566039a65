"""The barycentric projector A: partition of unity, exact linear interpolation, errors.

Expected values: linear functions evaluated at the points (P1 interpolation reproduces
them exactly) and the hand-computed barycentric weights of a point in a known triangle.
"""

import numpy as np
import pandas as pd
import pytest
import shapely

from spatialgamm.mesh import Mesh


@pytest.fixture(scope="module")
def mesh():
    rng = np.random.default_rng(11)
    return Mesh.build(rng.uniform(0, 5, (40, 2)), max_edge=(0.6, 1.5), offset=(0.3, 2.0))


def test_rows_sum_to_one_with_three_entries(mesh):
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 5, (500, 2))
    A = mesh.projector(pts)
    assert A.shape == (500, mesh.n)
    R = A.tocsr()
    assert np.all(np.diff(R.indptr) == 3)
    np.testing.assert_allclose(np.asarray(A.sum(axis=1)).ravel(), 1.0, rtol=1e-12)
    assert A.data.min() >= 0


def test_linear_functions_are_reproduced(mesh):
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 5, (300, 2))
    pts = np.vstack([pts, mesh.nodes[:10], 0.5 * (mesh.nodes[mesh.edges[:10, 0]]
                                                  + mesh.nodes[mesh.edges[:10, 1]])])
    A = mesh.projector(pts)
    f = lambda xy: 1.5 - 2.0 * xy[:, 0] + 0.25 * xy[:, 1]
    np.testing.assert_allclose(A @ f(mesh.nodes), f(pts), rtol=1e-12, atol=1e-12)


def test_barycentric_weights_by_hand():
    m = Mesh(np.array([[0, 0], [2, 0], [0, 2]], float), np.array([[0, 1, 2]]))
    A = m.projector(np.array([[0.5, 0.5]])).toarray()
    # area coordinates: (1 - x/2 - y/2, x/2, y/2)
    np.testing.assert_allclose(A, [[0.5, 0.25, 0.25]])


def test_data_sites_project_onto_their_nodes():
    pts = np.random.default_rng(3).uniform(0, 3, (25, 2))
    mesh = Mesh.build(pts, max_edge=(0.5, 1.0), offset=(0.2, 1.0))
    A = mesh.projector(pts).toarray()
    np.testing.assert_allclose(A[np.arange(25), mesh.loc_to_node], 1.0, atol=1e-12)


def test_outside_point_names_row_and_coordinates(mesh):
    pts = np.array([[1.0, 1.0], [100.0, -3.0], [2.0, 2.0]])
    with pytest.raises(ValueError, match=r"row 1 at \(100, -3\)"):
        mesh.projector(pts)
    with pytest.raises(ValueError, match="row 0"):
        mesh.projector(np.array([[np.nan, 1.0]]))


def test_accepts_dataframes_and_geoseries(mesh):
    import geopandas as gpd

    pts = np.array([[1.0, 1.0], [2.5, 3.0]])
    A = mesh.projector(pts)
    B = mesh.projector(pd.DataFrame(pts, columns=["x", "y"]))
    C = mesh.projector(gpd.GeoSeries(shapely.points(pts)))
    assert abs(A - B).max() == 0 and abs(A - C).max() == 0


def test_non_delaunay_user_mesh():
    # a valid but non-Delaunay triangulation of the unit square (the long diagonal of a
    # flattened quad); the locator must not rely on the Delaunay property
    nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.05]], float)
    tris = np.array([[0, 4, 3], [4, 1, 2], [4, 2, 3], [0, 1, 4]])
    m = Mesh(nodes, tris)
    pts = np.random.default_rng(4).uniform(0, 1, (200, 2))
    A = m.projector(pts)
    np.testing.assert_allclose(A @ (3 * nodes[:, 0] - nodes[:, 1]), 3 * pts[:, 0] - pts[:, 1],
                               atol=1e-12)
