"""INLA's ``boundary = list(inner, outer)`` in ``Mesh.build``.

The semantics are those documented for ``inla.mesh.2d`` / fmesher's ``fm_mesh_2d_inla``
(Lindgren & Rue 2015; Krainski et al., *Advanced Spatial Modeling with SPDE*, sec. 2.6):
the first boundary is the inner domain, meshed with ``max.edge[1]``; the second is the outer
boundary, and the region between them is meshed with ``max.edge[2]``; ``offset`` is only used
for boundaries that are not given. Expected values are the arguments themselves and exact
geometry from shapely (areas, ring lengths, point-in-polygon tests).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from spatialgamm.mesh import Mesh, nonconvex_hull

DATA = Path(__file__).resolve().parents[1] / "spatialgamm" / "data"


def _rongelap():
    sites = pd.read_csv(DATA / "rongelap.csv")[["cX", "cY"]].to_numpy()
    coast = pd.read_csv(DATA / "rongelap_coastline.csv")
    return sites, coast


def _longest_edges(mesh):
    p = mesh.nodes[mesh.triangles]
    return np.max([np.hypot(*(p[:, (i + 1) % 3] - p[:, i]).T) for i in range(3)], axis=0)


def _ring_length_on_edges(mesh, poly):
    """Length of mesh edges lying on the rings of ``poly``, and the rings' length."""
    rings = shapely.MultiLineString(
        [r for g in getattr(poly, "geoms", [poly]) for r in [g.exterior, *g.interiors]])
    e = mesh.edges
    a, b = mesh.nodes[e[:, 0]], mesh.nodes[e[:, 1]]
    scale = np.ptp(mesh.nodes, axis=0).max()
    on = np.ones(len(e), dtype=bool)
    for t in (0.0, 0.5, 1.0):
        on &= shapely.distance(rings, shapely.points(a + t * (b - a))) < 1e-9 * scale
    return np.hypot(*(b - a)[on].T).sum(), rings.length


def _check_two_regions(mesh, inner, outer, h0, h1):
    c = mesh.nodes[mesh.triangles].mean(axis=1)
    in_inner = shapely.contains_xy(inner, c[:, 0], c[:, 1])
    in_outer = shapely.contains_xy(outer, c[:, 0], c[:, 1])
    assert in_outer.all()  # nothing outside the outer boundary
    np.testing.assert_array_equal(mesh.triangle_region, np.where(in_inner, 0, 1))
    # conformity: the inner triangles tile the inner domain, all of them the outer one
    assert mesh.triangle_areas[in_inner].sum() == pytest.approx(inner.area, rel=1e-9)
    assert mesh.area == pytest.approx(outer.area, rel=1e-9)
    for poly in (inner, outer):
        on, length = _ring_length_on_edges(mesh, poly)
        assert on == pytest.approx(length, rel=1e-9)
    longest = _longest_edges(mesh)
    assert longest[in_inner].max() <= h0 * (1 + 1e-6)
    assert longest[~in_inner].max() <= h1 * (1 + 1e-6)
    assert mesh.info["converged"] and mesh.info["outer_given"]


def test_two_given_polygons_make_the_two_regions():
    inner = shapely.Polygon([(0, 0), (6, 0), (6, 2), (2, 2), (2, 6), (0, 6)])  # an L
    outer = shapely.Polygon([(-4, -3), (11, -4), (9, 4), (4, 10), (-3, 9)])
    mesh = Mesh.build(boundary=[inner, outer], max_edge=(0.5, 1.5))
    _check_two_regions(mesh, inner, outer, 0.5, 1.5)
    assert mesh.boundary is inner and mesh.outer is outer
    assert mesh.triangle_angles().min() >= 20.0
    # offset plays no part when both boundaries are given
    other = Mesh.build(boundary=[inner, outer], max_edge=(0.5, 1.5), offset=(3.0, 50.0))
    np.testing.assert_array_equal(other.nodes, mesh.nodes)
    np.testing.assert_array_equal(other.triangles, mesh.triangles)


def test_inla_recipe_on_rongelap():
    # the issue-15 recipe: inner and outer non-convex hulls of the coastline
    sites, coast = _rongelap()
    inner = nonconvex_hull(coast, convex=100, concave=150)
    outer = nonconvex_hull(coast, convex=1000, concave=1500)
    mesh = Mesh.build(sites, boundary=[inner, outer], max_edge=(300, 600), cutoff=20)
    # cutoff 20 m thins the hull rings slightly: check against the rings actually honoured
    assert mesh.boundary.symmetric_difference(inner).area < 1e-3 * inner.area
    assert mesh.outer.symmetric_difference(outer).area < 1e-3 * outer.area
    _check_two_regions(mesh, mesh.boundary, mesh.outer, 300, 600)
    # every site is a node of its own, unmoved (the survey grid is 40 m > cutoff), inside
    assert len(np.unique(mesh.loc_to_node)) == 157
    np.testing.assert_array_equal(mesh.nodes[mesh.loc_to_node], sites)
    assert shapely.covers(mesh.boundary, shapely.points(sites)).all()
    assert mesh.summary()["min_angle"] >= 20.0


def test_sites_in_the_extension_become_nodes_there():
    inner = shapely.box(0, 0, 4, 4)
    outer = shapely.box(-5, -5, 9, 9)
    sites = np.array([[1.0, 1.0], [3.0, 2.5], [6.5, 6.0], [-3.0, 0.5]])
    mesh = Mesh.build(sites, boundary=[inner, outer], max_edge=(0.8, 2.0))
    _check_two_regions(mesh, inner, outer, 0.8, 2.0)
    np.testing.assert_array_equal(mesh.nodes[mesh.loc_to_node], sites)
    # the projector puts each site on its own node
    A = mesh.projector(sites).toarray()
    np.testing.assert_allclose(A[np.arange(4), mesh.loc_to_node], 1.0)


def test_one_boundary_in_a_list_is_the_boundary():
    poly = shapely.Polygon([(0, 0), (5, 0), (5, 3), (0, 3)])
    kw = dict(max_edge=(0.7, 1.5), offset=(0, 2.0))
    ref = Mesh.build(boundary=poly, **kw)
    for given in ([poly], (poly,), [poly, None]):
        mesh = Mesh.build(boundary=given, **kw)
        np.testing.assert_array_equal(mesh.nodes, ref.nodes)
        np.testing.assert_array_equal(mesh.triangles, ref.triangles)
    # a ring written as a list of (x, y) pairs is one boundary, not a list of boundaries
    ring = [[0, 0], [5, 0], [5, 3], [0, 3]]
    np.testing.assert_array_equal(Mesh.build(boundary=ring, **kw).triangles, ref.triangles)
    # ... and two (k, 2) rings are [inner, outer]
    outer = [[-2, -2], [7, -2], [7, 5], [-2, 5]]
    mesh = Mesh.build(boundary=[ring, outer], max_edge=(0.7, 1.5))
    _check_two_regions(mesh, poly, shapely.Polygon(outer), 0.7, 1.5)


@pytest.mark.parametrize("boundary, match", [
    ([shapely.box(0, 0, 4, 4), shapely.box(1, 1, 3, 3)], r"boundary\[1\].*enclose"),
    ([shapely.box(0, 0, 4, 4), shapely.box(0, -1, 5, 5)], r"boundary\[1\].*touch"),
    ([shapely.box(0, 0, 4, 4), shapely.box(2, 2, 9, 9)], r"boundary\[1\].*enclose"),
    ([None, shapely.box(0, 0, 4, 4)], r"boundary\[0\]"),
    ([shapely.box(0, 0, 1, 1), shapely.Polygon([(0, 0), (9, 9), (9, 0), (0, 9)])],
     r"boundary\[1\] is not a valid polygon"),
    ([shapely.box(0, 0, 1, 1), shapely.box(-1, -1, 2, 2), shapely.box(-2, -2, 3, 3)],
     r"boundary.*\[inner, outer\].*3"),
])
def test_bad_boundary_lists_are_named(boundary, match):
    with pytest.raises(ValueError, match=match):
        Mesh.build(boundary=boundary, max_edge=1.0)


def test_sites_outside_the_outer_boundary_are_refused():
    with pytest.raises(ValueError, match=r"boundary\[1\] \(the outer boundary\) does not "
                                         r"contain the data: 1 of 2 .*row 1"):
        Mesh.build(np.array([[1.0, 1.0], [20.0, 1.0]]),
                   boundary=[shapely.box(0, 0, 4, 4), shapely.box(-5, -5, 9, 9)],
                   max_edge=(1.0, 2.0))
