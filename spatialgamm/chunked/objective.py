"""The engine's objectives on summed cross-products instead of rows.

Gaussian identity link: one pass gives ``[Z X y]' W [Z X y]``; the profiled (RE)ML deviance
and its gradient are then those of :class:`~spatialgamm.engine.gaussian.GaussianObjective`
(the same code, on the reduced sums; ``Z'We = Z'Wy - Z'WX beta - Z'WZ b``).

Other families: penalised IRLS as :meth:`~spatialgamm.engine.laplace.LaplaceObjective.pirls`
(same start, step halving, convergence tests and warm start), each iteration one pass over
the partitions that returns the candidate's deviance and the cross-products of the working
response at it (mgcv's ``bam``: Wood, Goude & Shaw 2015); the Laplace (restricted) deviance
as :meth:`~spatialgamm.engine.laplace.LaplaceObjective.laplace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..engine.gaussian import GaussianObjective
from ..engine.glm import PIRLSError
from ..engine.linalg import NotPositiveDefinite
from ..engine.pls import CrossProducts, PLSResult, PLSSolver
from ..engine.system import LatentSystem
from .passes import State, Stats

LOG2PI = float(np.log(2 * np.pi))

#: systems up to this many latent columns keep Z'WZ dense (reduced sums are q x q)
DENSE_Q = 4000


def full_ztz(st: Stats) -> Any:
    """``Z'WZ`` of all blocks from the per-block sums (dense for moderate q)."""
    K = len(st.ZtZ)
    if K == 0:
        return np.zeros((0, 0))
    grid = [[st.ZtZ[i][j] if j >= i else st.ZtZ[j][i].T for j in range(K)] for i in range(K)]
    q = sum(g.shape[0] for g in (row[0] for row in grid))
    if q <= DENSE_Q:
        return np.block([[g.toarray() if sp.issparse(g) else np.asarray(g) for g in row]
                         for row in grid])
    return sp.bmat([[sp.csc_matrix(g) for g in row] for row in grid], format="csc")


def cross_products(st: Stats, dense: bool, p: int) -> CrossProducts:
    """The solver's :class:`~spatialgamm.engine.pls.CrossProducts` from reduced sums."""
    M = full_ztz(st)
    if dense:
        M = M.toarray() if sp.issparse(M) else M
    else:
        M = sp.csc_matrix(M)
        M.sort_indices()
    q = M.shape[0]
    ZtX = np.vstack(st.ZtX) if st.ZtX else np.zeros((0, p))
    Zty = np.concatenate(st.Zty) if st.Zty else np.zeros(0)
    return CrossProducts(ZtZ=M, ZtX=ZtX.reshape(q, p), XtX=st.XtX, Zty=Zty, Xty=st.Xty,
                         yty=st.yty)


def make_solver(system: LatentSystem, st: Stats, p: int) -> PLSSolver:
    """A solver whose storage is chosen from the summed ``Z'WZ``'s pattern."""
    M = full_ztz(st)
    pattern = sp.csc_matrix(M != 0) if not sp.issparse(M) else (M != 0).tocsc()
    return PLSSolver(system, np.zeros((0, p)), blocks=False, ztz_pattern=pattern)


def data_start(system: LatentSystem, st: Stats) -> np.ndarray:
    """:meth:`LatentSystem.data_start` from the summed ``Z'WZ`` (its diagonal is
    ``diag(Z_k' W Z_k)``)."""
    start = system.layout.start.copy()
    M = full_ztz(st)
    dg_all = M.diagonal() if sp.issparse(M) else np.diag(M)
    for k, b in enumerate(system.blocks):
        if b.n_phi != 1 or not b.term.log_scale_start:
            continue
        dg = dg_all[system.col_slices[k]]
        m = float(np.mean(dg)) if dg.size else 0.0
        if m > 0 and np.isfinite(m):
            s = system.layout.slices[k]
            start[s] = np.clip(-0.5 * np.log(m), system.layout.lower[s], system.layout.upper[s])
    return start


class ChunkedGaussianObjective(GaussianObjective):
    """:class:`GaussianObjective` on cross-products summed over partitions."""

    def __init__(self, system: LatentSystem, st: Stats, p: int, reml: bool):
        # (GaussianObjective's fields that hold rows are not set: nothing here reads them)
        self.system, self.reml = system, reml
        self.n, self.p = st.n, p
        # mgcv's gamma is not offered out of core: the profiled scale's dof as at gamma = 1
        self.gamma, self.log_gamma = 1.0, 0.0
        self.dof = self.n - (p if reml else 0)
        self.solver = make_solver(system, st, p)
        self.cp = cross_products(st, self.solver.dense, p)
        self.sum_log_w = st.sum_log_w
        self.n_evals = 0

    def _ztwe(self, r: PLSResult, b: np.ndarray) -> np.ndarray:
        return self.cp.Zty - self.cp.ZtX @ r.beta - np.asarray(self.cp.ZtZ @ b).ravel()


@dataclass
class ChunkedMode:
    """PIRLS's solution at ``phi`` (no per-row arrays)."""

    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    pls: PLSResult
    minus2ll: float
    deviance: float
    penalty: float
    iterations: int
    converged: bool


class ChunkedLaplaceObjective:
    """The Laplace (restricted) deviance of a non-Gaussian model, PIRLS by passes.

    Parameters
    ----------
    system : LatentSystem
    run : callable
        ``run(current, candidate, want_cp) -> Stats``: one pass over the data
        (:func:`~.passes.pirls_pass` mapped over the partitions and reduced).
    p : int
    family : Family
    reml : bool
        Integrate the fixed effects out too (mgcv's LAML).
    """

    def __init__(self, system: LatentSystem, run: Callable[[State, State, bool], Stats],
                 p: int, family: Any, reml: bool, tol: float = 1e-9, maxit: int = 60):
        self.system, self.run, self.p, self.family, self.reml = system, run, p, family, reml
        self.tol, self.maxit = tol, maxit
        q = system.q
        self.init = State(np.zeros(p), np.zeros(q), 1.0)
        self.init_stats = run(self.init, self.init, True)
        self.n = self.init_stats.n
        self.solver = make_solver(system, self.init_stats, p)
        self._start: tuple[State, Stats] | None = None
        self.n_evals = 0
        self.n_passes = 1

    def _pass(self, cur: State, cand: State, want_cp: bool) -> Stats:
        self.n_passes += 1
        return self.run(cur, cand, want_cp)

    def _solve(self, phi: np.ndarray, st: Stats) -> PLSResult:
        try:
            return self.solver.solve(phi, cross_products(st, self.solver.dense, self.p))
        except NotPositiveDefinite as exc:
            raise PIRLSError("PIRLS: system not positive definite") from exc

    @property
    def mode_stats(self) -> Stats:
        """The statistics at the last mode's weights (its cross-products give the
        posterior's Hessian)."""
        if self._start is None:
            raise PIRLSError("no mode has been computed")
        return self._start[1]

    def penalty(self, u: np.ndarray, phi: np.ndarray) -> float:
        P, _ = self.system.precision(phi)
        return float(u @ u) if P is None else float(u @ (P @ u))

    def pirls(self, phi: np.ndarray) -> ChunkedMode:
        """The joint mode of ``(beta, u)`` at ``phi``, as ``LaplaceObjective.pirls``."""
        cur, st = self._start if self._start is not None else (self.init, self.init_stats)
        old_obj = np.inf
        u_c: np.ndarray | None = None
        converged, it = False, 0
        for it in range(1, self.maxit + 1):
            res = self._solve(phi, st)
            u_n = res.u
            if u_c is None:
                u_c = np.zeros_like(u_n)
            cand = State(res.beta, res.b(), 0.0)
            t = 1.0
            for _ in range(30):  # step halving (engine.glm.halve_step's rule)
                st_t = cand if t == 1.0 else State(cur.beta + t * (cand.beta - cur.beta),
                                                   cur.b + t * (cand.b - cur.b),
                                                   cur.c0 + t * (cand.c0 - cur.c0))
                s_new = self._pass(cur, st_t, True)
                if s_new.valid:
                    u_t = u_n if t == 1.0 else u_c + t * (u_n - u_c)
                    obj = s_new.dev + self.penalty(u_t, phi)
                    if np.isfinite(obj) and obj <= old_obj * (1 + 1e-12) + 1e-12:
                        break
                t /= 2
            else:
                raise PIRLSError("PIRLS step halving failed to reduce the penalised deviance")
            u_c = u_t
            change = s_new.change if it > 1 else np.inf
            cur, st = st_t, s_new
            if change < self.tol * (1.0 + s_new.eta_max) or (
                    it > 2 and abs(old_obj - obj) <= 1e-13 * (abs(obj) + 0.1)):
                converged = True
                break
            old_obj = obj
        res = self._solve(phi, st)
        final = State(res.beta, res.b(), 0.0)
        s_fin = self._pass(cur, final, True)
        if not s_fin.valid or not np.isfinite(s_fin.m2ll):
            raise PIRLSError("PIRLS produced non-finite fitted values")
        self._start = (final, s_fin)
        return ChunkedMode(beta=res.beta, u=res.u, b=final.b, pls=res, minus2ll=s_fin.m2ll,
                           deviance=s_fin.dev, penalty=self.penalty(res.u, phi),
                           iterations=it, converged=converged)

    def laplace(self, mode: ChunkedMode) -> float:
        r = mode.pls
        d = mode.minus2ll + mode.penalty + r.logdet_A - r.logdet_P
        if self.reml:
            d += r.logdet_XtVX - self.p * LOG2PI
        return float(d)

    def __call__(self, phi: np.ndarray) -> float:
        self.n_evals += 1
        try:
            return self.laplace(self.pirls(phi))
        except (PIRLSError, np.linalg.LinAlgError, FloatingPointError):
            self._start = None
            return np.inf
