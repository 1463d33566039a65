"""The latent system of a model: all blocks stacked, with a fixed structure.

``LatentSystem`` is built once per model. It stacks the blocks' designs into ``Z``, fixes the
sparsity pattern of the global covariance factor ``Lambda`` and of the prior precision ``P``,
and maps the optimiser vector ``phi`` to each block's slice. Evaluations only refill values:

    Lambda(phi)   block-diagonal; factor blocks refill ``template.data``; precision blocks = I
    P(phi)        block-diagonal; identity for factor blocks, the block precision otherwise
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..terms.base import Ability, Block
from .derivatives import jacobian
from .optimize import ParameterSpace
from .prior import PriorOperator, PriorState


@dataclass
class PhiLayout:
    """Where each block's parameters live in the optimiser vector."""

    slices: list[slice]
    start: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


#: n * q from which a design that is dense by nature is kept dense (the cross-products and
#: n x n strategies, engine/pls.py), besides every design with more columns than rows; below
#: it the sparse path is as fast
DENSE_DESIGN_MIN_SIZE = 5_000_000


class LatentSystem:
    """Stacked blocks with fixed structure.

    Parameters
    ----------
    blocks : list of Block
    n : int
        Number of observations.
    """

    def __init__(self, blocks: list[Block], n: int):
        self.blocks = blocks
        self.n = n
        # designs dense by nature (Hilbert-space GP bases) stay dense: the sparse copy of a
        # 1e5 x 400 basis costs seconds and its sparse products tens of seconds
        q = int(sum(b.Z.shape[1] for b in blocks))
        # (only where the dense strategies pay off: many rows, or more columns than rows;
        # smaller models keep the sparse path they were validated on)
        dense = (bool(blocks) and all(isinstance(b.Z, np.ndarray) for b in blocks)
                 and (q > n or n * q >= DENSE_DESIGN_MIN_SIZE))
        self.Z_dense: np.ndarray | None = None
        if dense:
            self.Z_dense = (np.asarray(blocks[0].Z, dtype=float) if len(blocks) == 1
                            else np.hstack([np.asarray(b.Z, dtype=float) for b in blocks]))
        self._Z: sp.csc_matrix | None = None
        self.q = int(sum(b.Z.shape[1] for b in blocks))
        self.col_slices: list[slice] = []
        off = 0
        for b in blocks:
            self.col_slices.append(slice(off, off + b.q))
            off += b.q
        starts, lowers, uppers, slices = [], [], [], []
        k = 0
        for b in blocks:
            slices.append(slice(k, k + b.n_phi))
            k += b.n_phi
            starts.append(b.phi_start)
            lowers.append(b.phi_lower)
            uppers.append(b.phi_upper)
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))
        self.layout = PhiLayout(slices, cat(starts), cat(lowers), cat(uppers))
        templates = []
        for b in blocks:
            if b.kind == "factor":
                t = b.template.tocsc()
                t.sort_indices()
                templates.append(t)
            else:
                templates.append(sp.identity(b.q, format="csc"))
        self._lam = sp.block_diag(templates, format="csc") if templates else sp.csc_matrix((0, 0))
        self._lam.sort_indices()
        self._lam_slices = []
        off = 0
        for t in templates:
            self._lam_slices.append(slice(off, off + t.nnz))
            off += t.nnz
        self.has_precision = any(b.kind == "precision" for b in blocks)
        # precision blocks given as an SPDE pencil: the engine factors their operator for
        # log|P| and its gradient (one symbolic analysis per system)
        self.priors: dict[int, PriorOperator] = {
            k: PriorOperator(b.pencil) for k, b in enumerate(blocks)
            if b.kind == "precision" and b.pencil is not None}
        self._lam_cache: tuple[bytes, np.ndarray] | None = None
        self._dense_cache: tuple[np.ndarray, np.ndarray] | None = None
        # (row, col) of every stored Lambda value, for the dense path
        coo = self._lam.tocoo()
        self.lam_rows, self.lam_cols = coo.row, coo.col
        self._lam_order = np.lexsort((coo.row, coo.col))

    @property
    def Z(self) -> sp.csc_matrix:
        """The stacked design as a sparse matrix (built on first use when every block's
        design is dense: :attr:`Z_dense` holds it then)."""
        if self._Z is None:
            zs = [b.Z if sp.issparse(b.Z) else sp.csc_matrix(b.Z) for b in self.blocks]
            self._Z = sp.hstack(zs, format="csc") if zs else sp.csc_matrix((self.n, 0))
        return self._Z

    def Z_times(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` (a vector of length n), by the dense design when there is one."""
        if self.Z_dense is not None:
            return self.Z_dense @ np.asarray(b, dtype=float)
        return np.asarray(self.Z @ b).ravel()

    @property
    def lambda_pattern(self) -> sp.csc_matrix:
        """The fixed sparsity pattern of the global Lambda (its stored values are those of
        the start, not of any phi): solvers decide their storage and form from it."""
        return self._lam

    @property
    def n_phi(self) -> int:
        return len(self.layout.start)

    def data_start(self, w: np.ndarray) -> np.ndarray:
        """Starting values balancing each log-scale block's data and prior information.

        For blocks whose single parameter is ``log theta`` (smooths), ``theta^2`` times the
        mean diagonal of ``Z_k' W Z_k`` is set to 1, so the first penalised fit is neither
        interpolating nor flat (the role of mgcv's ``initial.sp``). A start far from that
        can land a line search on a plateau where every smooth is flat and the gradient
        vanishes."""
        start = self.layout.start.copy()
        for k, b in enumerate(self.blocks):
            if b.n_phi != 1 or not b.term.log_scale_start:
                continue
            if self.Z_dense is not None:
                Zk = self.Z_dense[:, self.col_slices[k]]
                dg = (Zk * Zk).T @ w
            else:
                Zk = self.Z[:, self.col_slices[k]]
                dg = np.asarray(Zk.multiply(Zk).T @ w).ravel()
            m = float(np.mean(dg)) if dg.size else 0.0
            if m > 0 and np.isfinite(m):
                s = self.layout.slices[k]
                start[s] = np.clip(-0.5 * np.log(m), self.layout.lower[s], self.layout.upper[s])
        return start

    def block_phi(self, phi: np.ndarray, k: int) -> np.ndarray:
        return phi[self.layout.slices[k]]

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        """Stored values of the global Lambda in CSC order.

        The last result is kept: PIRLS refills the system several times at one ``phi``, and
        a dense GP block's values cost a kernel evaluation and a Cholesky each time."""
        key = np.asarray(phi, dtype=float).tobytes()
        if self._lam_cache is not None and self._lam_cache[0] == key:
            return self._lam_cache[1]
        vals = self._lambda_values(phi)
        vals.setflags(write=False)  # shared by the cache: callers must not write into it
        self._lam_cache = (key, vals)
        self._dense_cache = None
        return vals

    def _lambda_values(self, phi: np.ndarray) -> np.ndarray:
        vals = np.empty(self._lam.nnz)
        for k, b in enumerate(self.blocks):
            s = self._lam_slices[k]
            if b.kind == "factor":
                vals[s] = b.lambda_values(self.block_phi(phi, k))
            else:
                vals[s] = 1.0
        return vals

    def lambda_jacobian(self, phi: np.ndarray) -> np.ndarray:
        """d(stored Lambda values)/d phi, shape (nnz, n_phi); block-diagonal in blocks.

        Blocks may provide ``term.lambda_jacobian``; otherwise central differences of
        their stored values (1e-10 accurate for smooth maps such as exp)."""
        J = np.zeros((self._lam.nnz, self.n_phi))
        for k, b in enumerate(self.blocks):
            if b.kind != "factor" or b.n_phi == 0:
                continue
            s, ps = self._lam_slices[k], self.layout.slices[k]
            p = phi[ps]
            if b.term.has(Ability.LAMBDA_JACOBIAN):
                J[s, ps] = b.term.lambda_jacobian(p)
                continue
            J[s, ps] = jacobian(b.lambda_values, p, rel=1e-6)
        return J

    @property
    def lambda_is_linear(self) -> bool:
        return all(b.term.lambda_is_linear for b in self.blocks
                   if b.kind == "factor" and b.n_phi)

    def Lambda(self, phi: np.ndarray) -> sp.csc_matrix:
        L = self._lam.copy()
        L.data = self.lambda_values(phi)
        return L

    def Lambda_dense(self, phi: np.ndarray) -> np.ndarray:
        vals = self.lambda_values(phi)
        if self._dense_cache is not None and self._dense_cache[0] is vals:
            return self._dense_cache[1]
        L = np.zeros((self.q, self.q))
        L[self.lam_rows, self.lam_cols] = vals[self._csc_to_coo()]
        L.setflags(write=False)
        self._dense_cache = (vals, L)
        return L

    def _csc_to_coo(self) -> np.ndarray:
        # tocoo() of a canonical CSC keeps data order, so the map is the identity
        return slice(None)  # type: ignore[return-value]

    def prior_state(self, k: int, phi: np.ndarray) -> PriorState:
        """Block ``k``'s pencil prior at its parameters ``phi`` (``Q``, ``log|Q|``, their
        derivatives, ``Q^-1 v``)."""
        return self.priors[k].state(phi)

    @property
    def prior_factorizations(self) -> int:
        """Numeric factorisations of the pencil blocks' operators so far."""
        return sum(p.n_factorizations for p in self.priors.values())

    @property
    def precision_gradients(self) -> bool:
        """Whether every precision block has derivatives the engine can use: its pencil
        (``Block.pencil``) or the term's ``precision_derivatives``."""
        return all(k in self.priors or b.term.has(Ability.PRECISION_DERIVATIVES)
                   for k, b in enumerate(self.blocks) if b.kind == "precision")

    def precision_derivatives(self, k: int, phi: np.ndarray) -> list[tuple[Any, Any, float]]:
        """For each parameter of precision block ``k`` (at its parameters ``phi``):
        ``(dP, M, d log|P|)`` with either ``dP`` (sparse, a pencil block's) or ``M`` (dense,
        ``dP = -2 M'M``, a term's square-root form) given and the other None."""
        if k in self.priors:
            st = self.priors[k].state(phi)
            return [(dq, None, float(dl)) for dq, dl in zip(st.dQ, st.dlogdet)]
        return [(None, M, float(tr)) for M, tr in self.blocks[k].term.precision_derivatives(phi)]

    def block_precision(self, k: int, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        """``(P_k, log|P_k|)`` of precision block ``k`` at its parameters ``phi``."""
        if k in self.priors:
            st = self.priors[k].state(phi)
            return st.Q, st.logdet
        return self.blocks[k].precision(phi)

    def precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix | None, float]:
        """Global prior precision P and log|P| (None when every block is a factor block)."""
        if not self.has_precision:
            return None, 0.0
        # PIRLS asks for P at one phi at each of its iterations, and rebuilding it from
        # the terms was most of a Gamma gam fit's time: the last one is kept (a copy is
        # handed out, so no caller can change the kept one)
        key = np.asarray(phi, dtype=float).tobytes()
        last = getattr(self, "_last_precision", None)
        if last is not None and last[0] == key:
            return last[1].copy(), last[2]
        P, logdet = self._build_precision(phi)
        self._last_precision = (key, P, logdet)
        return P.copy(), logdet

    def _build_precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        mats, logdet = [], 0.0
        for k, b in enumerate(self.blocks):
            if b.kind == "factor":
                mats.append(sp.identity(b.q, format="csc"))
            else:
                Q, ld = self.block_precision(k, self.block_phi(phi, k))
                mats.append(sp.csc_matrix(Q))
                logdet += ld
        return sp.block_diag(mats, format="csc"), logdet

    def parameter_space(self) -> ParameterSpace:
        """Bounds, optimiser units and sign symmetries of ``phi`` (see ParameterSpace).

        A term may give ``phi_scale(phi_len)`` (the data's units of its parameters),
        ``sign_free()`` (parameters the objective is even in, with the bound 0 only picking
        a sign) and ``canonical_phi(phi)`` (the representative with that sign)."""
        lay = self.layout
        scale = np.ones(self.n_phi)
        free = np.zeros(self.n_phi, bool)
        canon = []
        for k, b in enumerate(self.blocks):
            s = lay.slices[k]
            if b.term.has(Ability.OPTIMISER_UNITS):
                scale[s] = b.term.phi_scale()
                free[s] = b.term.sign_free()
                canon.append((s, b.term.canonical_phi))

        def canonical(phi: np.ndarray) -> np.ndarray:
            out = np.array(phi, dtype=float)
            for s, fn in canon:
                out[s] = fn(out[s])
            return out

        return ParameterSpace(lay.lower, lay.upper, scale, free, canonical if canon else None)

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        out: list[str] = []
        for k, b in enumerate(self.blocks):
            out.extend(b.at_boundary(self.block_phi(phi, k)))
        return out
