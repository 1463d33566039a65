"""The block protocol: what every random / penalised term hands to the engine.

The engine sees only :class:`Block` objects. A block owns columns ``Z`` of the latent part of
the linear predictor and the prior of its coefficients, in one of two forms:

* ``kind="factor"``: ``b = Lambda(phi) u`` with ``u ~ N(0, s I)``. ``Lambda`` has a fixed
  sparsity pattern (``template``) whose stored values are refilled from ``phi`` by
  :meth:`Block.lambda_values`; it may be singular, so variances can reach zero (lme4's
  relative covariance factor, mgcv smooths after reparameterisation, dense GPs).
* ``kind="precision"``: ``b = u ~ N(0, s P(phi)^-1)`` with a sparse precision
  (SPDE fields), :meth:`Block.precision` returns ``(P, log|P|)``.

``s`` is the residual variance for the Gaussian family (so the block is *relative* to it, as in
lme4) and 1 for families with a known scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass
class Block:
    """One latent term as the engine sees it.

    Attributes
    ----------
    name : str
        Label used in tables (``"Subject"``, ``"s(cX,cY)"``).
    Z : scipy.sparse.csc_matrix or ndarray, shape (n, q)
        Design of the term's coefficients.
    kind : {"factor", "precision"}
    phi_start, phi_lower, phi_upper : ndarray
        The block's parameters on the optimiser scale, their start and bounds.
    template : scipy.sparse.csc_matrix, shape (q, q)
        Sparsity pattern of ``Lambda`` (``kind="factor"``), with canonical (sorted) indices.
    fixed : ndarray, shape (n, m), optional
        Unpenalised columns the term adds to the fixed-effects matrix (a penalty null space).
    fixed_names : list of str
    term : object
        The term object that built the block (used to report and to predict).
    """

    name: str
    Z: Any
    kind: str
    phi_start: np.ndarray
    phi_lower: np.ndarray
    phi_upper: np.ndarray
    template: sp.csc_matrix | None = None
    fixed: np.ndarray | None = None
    fixed_names: list[str] = field(default_factory=list)
    term: Any = None

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_phi(self) -> int:
        return len(self.phi_start)

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        """Stored values of ``Lambda(phi)`` in the order of ``template.data``."""
        return self.term.lambda_values(phi)

    def precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        """``(P(phi), log|P(phi)|)`` for ``kind="precision"``."""
        return self.term.precision(phi)

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        """Human-readable descriptions of parameters on their boundary (singular fit)."""
        fn = getattr(self.term, "at_boundary", None)
        return fn(phi) if fn else []
