"""Denominator degrees of freedom for t tests of fixed effects in linear mixed models.

``nlme_ddf``: the between/within rule of Pinheiro & Bates (2000, sec. 2.4.2). Grouping
factors are ordered from the coarsest (fewest levels) to the finest; level ``Q + 1`` is the
observation. A fixed-effect column belongs to the coarsest level within whose groups it is
constant (or to the observation level if it varies within the finest groups); the intercept
belongs to the observation level. With ``m_0 = 1``, ``m_i`` the number of groups at level
``i`` and ``m_{Q+1} = n``, the df of level ``i`` is ``m_i - (m_{i-1} + p_i)`` where ``p_i``
counts the non-intercept columns at level ``i``.

``satterthwaite_ddf``: Satterthwaite's approximation (as lmerTest) from the numerical
Hessian of the REML/ML deviance in (covariance parameters, residual variance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..terms.base import Ability
from ..terms.ranef import grouping_factor

if TYPE_CHECKING:  # pragma: no cover
    from ..model import ModelSpec


def nlme_ddf(spec: ModelSpec) -> np.ndarray:
    """Per-column denominator df by the between/within rule."""
    X, names, n = spec.X, spec.x_names, spec.n
    groups = []
    seen = set()
    for blk in spec.blocks:
        term = blk.term
        if term.has(Ability.GROUPING_FACTOR) and term.grouping_factor not in seen:
            seen.add(term.grouping_factor)
            groups.append(np.asarray(grouping_factor(spec.data, term.grouping_factor).codes))
    groups.sort(key=lambda g: len(np.unique(g)))
    m = [1] + [len(np.unique(g)) for g in groups] + [n]
    Q = len(groups)
    level = np.full(X.shape[1], Q + 1)
    for j in range(X.shape[1]):
        if names[j] == "(Intercept)":
            continue
        for i, g in enumerate(groups, start=1):
            # constant within every group of g?
            order = np.argsort(g, kind="stable")
            gs, xs = g[order], X[order, j]
            same = gs[1:] == gs[:-1]
            if np.all(np.abs(xs[1:][same] - xs[:-1][same]) <= 1e-12 * (1 + np.abs(xs[1:][same]))):
                level[j] = i
                break
    p = np.zeros(Q + 2, int)
    for j in range(X.shape[1]):
        if names[j] != "(Intercept)":
            p[level[j]] += 1
    df_level = np.array([m[i] - (m[i - 1] + p[i]) if i > 0 else np.nan for i in range(Q + 2)])
    return np.array([df_level[level[j]] for j in range(X.shape[1])], dtype=float)


def satterthwaite_ddf(fit) -> np.ndarray:
    """Satterthwaite df for each fixed effect of a Gaussian mixed model."""
    from ..engine.derivatives import hessian as numerical_hessian
    from ..engine.derivatives import jacobian

    obj = fit.state.objective
    phi = fit.state.phi
    p = len(fit.state.beta)

    def full_dev(psi: np.ndarray) -> float:
        # deviance with sigma^2 not profiled out: psi = (phi, log sigma^2)
        return obj.deviance_at_scale(psi[:-1], np.exp(psi[-1]))

    def vbeta(psi: np.ndarray) -> np.ndarray:
        r = obj.solve(psi[:-1])
        return np.exp(psi[-1]) * np.linalg.inv(r.XtVX)

    psi = np.append(phi, np.log(fit.state.scale))
    H = numerical_hessian(full_dev, psi)
    A = 2.0 * np.linalg.pinv(H)
    V0 = vbeta(psi)
    grads = np.moveaxis(jacobian(vbeta, psi, rel=1e-5), -1, 0)  # (k, p, p)
    df = np.empty(p)
    for j in range(p):
        g = grads[:, j, j]
        df[j] = 2 * V0[j, j] ** 2 / float(g @ A @ g)
    return df
