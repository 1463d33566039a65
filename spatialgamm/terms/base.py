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
import pandas as pd
import scipy.sparse as sp

from ..formula.parse import FormulaError, SpecialTerm


@dataclass(frozen=True)
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
    pencil : SPDEOperator, optional
        A precision given as an SPDE pencil (``kind="precision"``): the engine computes
        ``P``, ``log|P|`` and their derivatives from it (:mod:`spatialgamm.engine.prior`).
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
    pencil: Any = None

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


def check_arguments(special: SpecialTerm, allowed, where: str | None = None) -> dict[str, Any]:
    """The term's keyword arguments, refusing unknown ones with the list of known ones."""
    where = where or special.text or f"{special.func}()"
    kw = dict(special.kwargs)
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise FormulaError(f"{where}: unknown argument(s) {unknown}; {special.func}() takes "
                           f"{sorted(allowed)}")
    return kw


def coordinate_matrix(data: pd.DataFrame, variables: tuple[str, ...], where: str) -> np.ndarray:
    """The n x D matrix of coordinate columns, checked numeric and finite.

    Examples
    --------
    >>> coordinate_matrix(pd.DataFrame({"x": [0, 1], "y": [2, 3]}), ("x", "y"), "gp(x, y)")
    array([[0., 2.],
           [1., 3.]])
    """
    if not variables:
        raise FormulaError(f"{where}: give at least one coordinate column, e.g. gp(x, y)")
    cols = []
    for v in variables:
        if v not in data.columns:
            raise FormulaError(f"{where}: coordinate {v!r} is not a column of the data "
                               f"(columns: {list(data.columns)})")
        col = data[v]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise FormulaError(f"{where}: coordinate column {v!r} is not numeric "
                               f"(dtype {col.dtype})")
        x = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            i = int(np.argmax(~np.isfinite(x)))
            raise FormulaError(f"{where}: coordinate {v!r} is not finite at row {i} ({x[i]})")
        cols.append(x)
    return np.column_stack(cols)


def column_rms(X: np.ndarray) -> np.ndarray:
    """Root mean square of each column (1 for an all-zero or empty column): the natural
    units of a coefficient of that column, used to make optimisers unit-invariant.

    Examples
    --------
    >>> column_rms(np.array([[1.0, 3e6], [1.0, -4e6]]))
    array([1.00000000e+00, 3.53553391e+06])
    """
    X = np.asarray(X, dtype=float)
    if X.shape[0] == 0:
        return np.ones(X.shape[1])
    rms = np.sqrt(np.mean(X ** 2, axis=0))
    return np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
