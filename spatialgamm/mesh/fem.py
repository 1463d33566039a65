"""P1 finite-element matrices on a triangle mesh: mass C, lumped mass Ct, stiffness G.

For a triangle T of area |T| with e_i the edge vector opposite vertex i (Lindgren, Rue &
Lindstrom 2011, appendix):

    C_ij  += |T| / 12 * (1 + [i == j])      (exact mass matrix of the hat functions)
    Ct_ii += |T| / 3                         (lumped mass: row sums of C)
    G_ij  += (e_i . e_j) / (4 |T|)           (stiffness: integral of grad phi_i . grad phi_j)

Assembly is vectorised: 9 local entries per triangle go to a COO matrix, which sums
duplicates when converted to CSC.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def triangle_areas(nodes: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed areas of the triangles (positive when counter-clockwise)."""
    p0, p1, p2 = (nodes[triangles[:, i]] for i in range(3))
    return 0.5 * ((p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1])
                  - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0]))


def fem_matrices(nodes: np.ndarray, triangles: np.ndarray
                 ) -> tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix]:
    """Mass, lumped mass and stiffness matrices of P1 elements.

    Parameters
    ----------
    nodes : (n, 2) ndarray
    triangles : (m, 3) ndarray of int

    Returns
    -------
    C, Ct, G : scipy.sparse.csc_matrix, each n x n
        ``sum(C) == sum(Ct) ==`` mesh area and ``G @ 1 == 0``.

    Examples
    --------
    >>> import numpy as np
    >>> nodes = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    >>> C, Ct, G = fem_matrices(nodes, np.array([[0, 1, 2]]))
    >>> round(float(C.sum()), 12), round(float(Ct.sum()), 12)
    (0.5, 0.5)
    """
    nodes = np.asarray(nodes, dtype=float)
    tri = np.asarray(triangles, dtype=np.int64)
    n = len(nodes)
    p = nodes[tri]  # (m, 3, 2)
    e = np.stack([p[:, 2] - p[:, 1], p[:, 0] - p[:, 2], p[:, 1] - p[:, 0]], axis=1)
    area = np.abs(triangle_areas(nodes, tri))
    if np.any(area <= 0):
        raise ValueError(f"{int(np.sum(area <= 0))} mesh triangles have zero area")
    rows = np.repeat(tri, 3, axis=1).ravel()  # (i, j) pairs: i repeated over j
    cols = np.tile(tri, (1, 3)).ravel()
    eye = np.eye(3)
    c_loc = (area[:, None, None] / 12.0) * (1.0 + eye)
    g_loc = np.einsum("mik,mjk->mij", e, e) / (4.0 * area[:, None, None])
    C = sp.coo_matrix((c_loc.ravel(), (rows, cols)), shape=(n, n)).tocsc()
    G = sp.coo_matrix((g_loc.ravel(), (rows, cols)), shape=(n, n)).tocsc()
    ct = np.bincount(tri.ravel(), weights=np.repeat(area / 3.0, 3), minlength=n)
    Ct = sp.diags(ct, format="csc")
    C.sum_duplicates()
    G.sum_duplicates()
    return C, Ct, G
