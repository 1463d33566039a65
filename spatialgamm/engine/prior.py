"""The prior of a precision block given as an SPDE pencil: log|Q|, its gradient, Q^-1 v.

Every SPDE precision is a polynomial in the pencil ``(G, Ct)`` (:mod:`spatialgamm.mesh.
precision`): ``Q = c K1 Ct^-1 K2`` with ``K_j = G + a_j Ct`` (alpha = 2: ``a_1 = a_2 =
kappa^2``, c = tau^2; 1 < alpha < 2: ``a_j = r_j kappa^2`` with ``-r_j`` the roots of
``b0 + b1 t + b2 t^2``, which are real and negative for every such alpha, and
``c = tau^2 kappa^(2 alpha - 4) b2``). So

    log|Q| = n log c + log|K1| + log|K2| - sum(log diag Ct)
    d log|Q| / d log kappa = -2 n + sum_j 2 a_j tr(K_j^-1 Ct)

and ``Q^-1 v = K2^-1 Ct K1^-1 v / c``. ``K_j`` has the sparsity of ``G`` (a third of the
non-zeros of ``Q``): its Cholesky factor is cheap, and selected inversion of it gives the
diagonal the trace needs. The engine owns these factorisations (one symbolic analysis per
shift and system) and counts them (:attr:`PriorOperator.n_factorizations`); the term only
hands over its operator (``Block.pencil``), which knows ``Q`` and ``dQ`` but factors nothing.
Parameters: ``phi = (log range, log sigma)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ModelError
from ..mesh.precision import matern_scales, pencil_shifts
from .constraints import LinearConstraint
from .linalg import NotPositiveDefinite, make_factor


@dataclass
class PriorState:
    """The field's prior at one parameter value, with what the gradient needs.

    Attributes
    ----------
    phi : ndarray
        ``(log range, log sigma)``.
    Q : scipy.sparse.csc_matrix
        Precision on the operator's fixed pattern.
    logdet : float
        ``log|Q|``.
    dlogdet : ndarray (2,)
        ``d log|Q| / d phi``.
    dQ : list of csc_matrix
        ``dQ / d phi_k`` on the same pattern.
    solve : callable
        ``v -> Q^-1 v`` (1-D or 2-D ``v``).
    cond : Conditioning, optional
        A constrained field's kriging (``W = Q^-1 A'``, ``S = A W``); ``logdet`` and
        ``dlogdet`` are then those of ``Q`` on the constraint plane, ``log|Q|_A = log|Q| +
        log|S| - log|A A'|`` (:mod:`.constraints`).
    """

    phi: np.ndarray
    Q: sp.csc_matrix
    logdet: float
    dlogdet_of: Callable[[], np.ndarray]
    dQ: list[sp.csc_matrix]
    solve: Callable[[np.ndarray], np.ndarray]
    cond: Any = None

    @property
    def dlogdet(self) -> np.ndarray:
        """``d log|Q| / d phi``, computed on first use: its trace needs a selected inversion
        of each ``K_j``, which value-only evaluations (tabulating ``log p(y | theta)``) skip."""
        v = self.__dict__.get("_dlogdet")
        if v is None:
            v = self.__dict__["_dlogdet"] = np.asarray(self.dlogdet_of(), dtype=float)
        return v


class PriorOperator:
    """``log|Q|``, its gradient and ``Q^-1 v`` through factorisations of ``G + a Ct``.

    Parameters
    ----------
    operator : spatialgamm.mesh.SPDEOperator
        The block's pencil (``Block.pencil``).
    """

    def __init__(self, operator: Any):
        self.op = operator
        self.n = operator.n
        self.ct = np.asarray(operator.Ct.diagonal(), dtype=float)
        self.sum_log_ct = float(np.sum(np.log(self.ct)))
        self.r, self.b2 = pencil_shifts(operator.alpha)
        self.nu = operator.alpha - 1.0
        G = sp.csc_matrix(operator.G)
        pattern = sp.csc_matrix(abs(G) + operator.Ct)
        pattern.sort_indices()
        self._G = G
        self._pattern = pattern
        self._factors: list[Any] = []
        self._last: tuple | None = None  # (kappa, log|K1 K2|, factors, shifts, trace)
        self.n_factorizations = 0
        self._state: PriorState | None = None
        self._constrained: PriorState | None = None
        rows = getattr(operator, "constraint", None)
        #: the field's hard constraints (spde(constr=True)), or None
        self.constraint = LinearConstraint(rows) if rows is not None else None

    def _K(self, a: float) -> sp.csc_matrix:
        K = sp.csc_matrix(self._G + a * self.op.Ct)
        K.sort_indices()
        return K

    def _factor(self, j: int, K: sp.csc_matrix):
        if len(self._factors) <= j:
            # one symbolic analysis per shift for the whole fit; this call also factors
            self._factors.append(make_factor(K))
        else:
            self._factors[j].refactor(K)
        self.n_factorizations += 1
        return self._factors[j]

    def state(self, phi: np.ndarray, constrained: bool = False) -> PriorState:
        """Everything about ``Q`` at ``phi = (log range, log sigma)`` (the last one is kept:
        PIRLS steps and the evaluations of one Newton step share it).

        A constrained field (``spde(constr=True)``) is only solved in the precision form,
        which asks for ``constrained=True`` (the log-determinant on the constraint plane and
        the prior's kriging); any other latent form would ignore the constraint, so it is
        refused here.
        """
        phi = np.asarray(phi, dtype=float)
        if self.constraint is not None and not constrained:
            raise ModelError("spde(constr=True) is supported when the field is the model's only "
                             "latent term (the precision form); drop constr=True or the other "
                             "random terms")
        if self._state is None or not np.array_equal(self._state.phi, phi):
            self._state = self._compute(phi)
        if self.constraint is None:
            return self._state
        if self._constrained is None or self._constrained.phi is not self._state.phi:
            st = self._state
            cond = self.constraint.condition(st.solve, "Q")
            self._constrained = replace(
                st, logdet=cond.logdet(st.logdet), cond=cond,
                dlogdet_of=lambda: st.dlogdet + cond.dlogdet_S(st.dQ))
        return self._constrained

    def _compute(self, phi: np.ndarray) -> PriorState:
        rng, sig = math.exp(phi[0]), math.exp(phi[1])
        kappa, tau = matern_scales(rng, sig, self.op.alpha)
        a = self.r * kappa * kappa
        if len(a) == 1:
            c = tau * tau
            shifts = [a[0], a[0]]
        else:
            c = tau * tau * kappa ** (2 * self.op.alpha - 4) * self.b2
            shifts = list(a)
        if self._last is not None and self._last[0] == kappa:
            # K depends on kappa only: a step in sigma alone needs no new factorisation
            _, ld_k, factors, _, _ = self._last
        else:
            factors, ld_k, pairs = [], 0.0, []
            for j, aj in enumerate(dict.fromkeys(shifts)):  # alpha = 2 factors K once
                try:
                    f = self._factor(j, self._K(aj))
                except NotPositiveDefinite as exc:
                    raise NotPositiveDefinite(f"the SPDE operator G + {aj:.3g} Ct is not "
                                              "positive definite") from exc
                mult = shifts.count(aj)
                ld_k += mult * f.logdet()
                pairs.append((f, aj, mult))
                factors.extend([f] * mult)
            self._last = (kappa, ld_k, factors, pairs, {})  # {} keeps the trace
        last = self._last
        logdet = self.n * math.log(c) - self.sum_log_ct + ld_k
        f1, f2 = factors

        def solve(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v, dtype=float)
            w = f1.solve(v)
            w = (self.ct[:, None] * w) if w.ndim == 2 else self.ct * w
            return f2.solve(w) / c

        Q = self.op.Q(rng, sig)
        dQ = list(self.op.dQ(rng, sig))
        phi = np.asarray(phi, dtype=float).copy()
        return PriorState(phi, Q, float(logdet), lambda: self._dlogdet(last, phi), dQ, solve)

    def _dlogdet(self, last: tuple, phi: np.ndarray) -> np.ndarray:
        """``d log|Q| / d phi`` from the factors of ``last`` (a :meth:`_compute` cache entry):
        ``d log|Q| / d log kappa = -2 n + sum_j 2 a_j tr(K_j^-1 Ct)``, and with ``kappa =
        sqrt(8 nu) / range``, ``d / d log range = -d / d log kappa``."""
        if self._last is not last:  # the factors were refilled for another kappa since:
            self._state = self._compute(phi)  # refill them for this one (and say so)
            last = self._last
        if "tr" not in last[4]:  # once per kappa: a step in sigma alone shares it
            tr_k = 0.0
            for f, aj, mult in last[3]:
                diag = np.asarray(f.selected_inverse().diagonal()).ravel()
                tr_k += mult * 2.0 * aj * float(np.sum(diag * self.ct))
            last[4]["tr"] = tr_k
        tr_k = last[4]["tr"]
        return np.array([-(-2.0 * self.n + tr_k), -2.0 * self.n])
