"""What users read from Gaussian-process and known-covariance terms of a fitted model.

* :func:`gp_params` - one row per GP / HSGP term: kernel, range (with its convention), sigma,
  nu, nugget and the effective ranges at correlation 0.05 and 0.14, on the data's scale.
* :func:`heritability` - ``h^2`` of a ``kinship()`` term with its delta-method SE.
* :func:`gaussian_joint_vcov` - fixed-effect covariance of a Gaussian fit that carries the
  uncertainty of the covariance parameters (glmmTMB's convention; see below).

Standard-error conventions (``fit.vcov_fixef(se=...)``). The default, ``"conditional"``,
is lme4's: ``sigma^2 (X'V^-1 X)^-1`` with the covariance parameters (GP range and SD,
variances) held at their estimates. ``"joint"`` is glmmTMB's: the inverse Hessian of the
likelihood in ``(beta, theta)`` (ML), or for REML the generalised delta method over the
REML Hessian (TMB's ``sdreport`` with beta among the random effects); both equal

    Var(beta) = C + J Sigma J',   J = d beta_hat(theta) / d theta,  Sigma = 2 H_theta^-1

with ``C`` the conditional covariance, ``beta_hat(theta)`` the GLS estimate and ``H_theta`` the
Hessian of the profiled (RE)ML deviance. For GP fits the two differ by ~1%.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..engine.derivatives import hessian, hessian_and_gradient, hessian_from_gradient, jacobian
from ..terms.base import Ability


def _system(fit):
    return fit.state.system


def gp_blocks(fit) -> list[tuple[int, Any]]:
    """(index, block) of every term that reports GP parameters."""
    return [(k, b) for k, b in enumerate(fit.spec.blocks)
            if b.term is not None and b.term.has(Ability.FIELD_REPORT)]


def gp_params(fit) -> pd.DataFrame:
    """Estimates of each GP term (see module docstring); SDs on the data's scale.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> topo = sg.datasets.load_topo()
    >>> fit = sg.fit("z ~ 1 + gp(x, y, kernel='matern32')", topo, method="ML")
    >>> fit.gp_params[["term", "kernel"]].to_dict("records")
    [{'term': 'gp(x,y)', 'kernel': 'matern32'}]
    """
    sysl = _system(fit)
    rows = [b.term.report(sysl.block_phi(fit.state.phi, k), fit.state.scale)
            for k, b in gp_blocks(fit)]
    if not rows:
        raise ValueError("the model has no gp() or hsgp() term")
    return pd.DataFrame(rows)


def _single(fit, column: str) -> float:
    tab = gp_params(fit)
    if len(tab) != 1:
        raise ValueError(f"the model has {len(tab)} GP terms; read fit.gp_params['{column}']")
    return float(tab[column].iloc[0])


def gp_range(fit) -> float:
    """The range of the model's only GP term (kernel convention: ``fit.gp_params``)."""
    return _single(fit, "range")


def gp_sigma(fit) -> float:
    """The standard deviation of the model's only GP term (on the data's scale)."""
    return _single(fit, "sigma")


# ---- heritability ------------------------------------------------------------------------
def _relative_variances(fit, phi: np.ndarray) -> list[float]:
    """Each term's variance relative to the residual variance (its VarCorr rows' sum)."""
    sysl = _system(fit)
    out = []
    for k, blk in enumerate(fit.spec.blocks):
        # a block without parameters (an unpenalised smooth, fx=TRUE) has no variance
        rows = blk.term.varcorr_rows(sysl.block_phi(phi, k), 1.0) if blk.n_phi else []
        out.append(sum(r["vcov"] for r in rows if r["var2"] is None))
    return out


def _genetic_term(fit, term: str | None) -> tuple[int, Any]:
    """(index, block) of the kinship term: the one named, or the model's only one."""
    cands = [(k, b) for k, b in enumerate(fit.spec.blocks)
             if (term is None and b.term is not None and b.term.has(Ability.HERITABLE))
             or b.name == term]
    if len(cands) != 1:
        names = [b.name for b in fit.spec.blocks]
        raise ValueError(f"name the genetic term with term= (terms: {names})" if cands or term
                         is None else f"no term {term!r}; terms: {names}")
    return cands[0]


def heritability(fit, term: str | None = None) -> pd.Series:
    """``h^2 = s_g^2 / (sum of variance components + s_e^2)`` of a kinship term, with SE.

    The SE is the delta method on the inverse Hessian of the profiled (RE)ML deviance in
    the relative parameters (the residual variance cancels from ``h^2``), as GCTA's.

    Examples
    --------
    >>> import numpy as np, pandas as pd, spatialgamm as sg
    >>> rng = np.random.default_rng(1)
    >>> geno = rng.binomial(2, 0.4, size=(80, 200)).astype(float)
    >>> pheno = pd.DataFrame({"id": [f"p{i}" for i in range(80)],
    ...                       "y": (geno - geno.mean(0)) @ rng.normal(0, 0.1, 200)
    ...                       + rng.normal(0, 1, 80)})
    >>> geno = pd.DataFrame(geno, index=pheno["id"])  # genotypes by id
    >>> h = sg.fit("y ~ 1 + kinship(id, Z=geno)", pheno).heritability()
    >>> sorted(h.index)[:2]
    ['h2', 'se']
    """
    if not fit.is_gaussian:
        raise ValueError("heritability() needs a Gaussian (identity-link) model: for other "
                         "families the residual variance is not a model parameter")
    k, blk = _genetic_term(fit, term)
    phi = fit.state.phi.copy()

    def h2(p):
        v = _relative_variances(fit, p)
        return v[k] / (sum(v) + 1.0)

    est = h2(phi)
    se = np.nan
    obj = (fit.state.search_objective or fit.state.objective)
    try:
        H = hessian(lambda p: float(obj(p)), phi)
        V = 2.0 * np.linalg.inv(H)
        g = jacobian(h2, phi, rel=1e-5)
        var = float(g @ V @ g)
        se = math.sqrt(var) if var > 0 and np.all(np.linalg.eigvalsh(H) > 0) else np.nan
    except np.linalg.LinAlgError:
        pass
    if not np.isfinite(se):
        warnings.warn("the deviance is not curved at the estimate (a variance on its boundary?):"
                      " no standard error for h2", UserWarning, stacklevel=2)
    v = _relative_variances(fit, phi)
    s2 = fit.state.scale
    return pd.Series({"h2": est, "se": se, "var_g": v[k] * s2, "var_e": s2,
                      "var_p": (sum(v) + 1.0) * s2}, name=blk.name)


# ---- the joint standard-error convention (glmmTMB's) ----------------------------------------
def _free_inverse(H: np.ndarray, free: np.ndarray) -> np.ndarray:
    """``2 H^-1`` on the free parameters (the pseudo-inverse, with a warning, when H is not
    positive definite there)."""
    Hf = H[np.ix_(free, free)]
    try:
        Sigma = 2.0 * np.linalg.inv(Hf)
        np.linalg.cholesky(Hf)
    except np.linalg.LinAlgError:
        warnings.warn("the deviance's Hessian in the covariance parameters is not positive "
                      "definite: joint standard errors use its pseudo-inverse", UserWarning,
                      stacklevel=3)
        Sigma = 2.0 * np.linalg.pinv(Hf)
    return Sigma


def gaussian_joint_vcov(fit) -> np.ndarray:
    """``C + J Sigma J'`` for a Gaussian identity-link fit (module docstring).

    ``J`` by central differences of the GLS estimate, ``H_theta`` of the profiled (RE)ML
    deviance (the exact objective: differences of its analytic gradient where it has one).
    Parameters on a bound (a zero variance) are held fixed: the Hessian is inverted on the
    others.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    >>> # balanced design: the GLS estimate is OLS for every theta, so J = 0
    >>> bool(np.allclose(m.vcov_fixef(se="joint"), m.vcov, rtol=1e-6))
    True
    """
    from ..engine.gaussian import GaussianObjective
    if not fit.is_gaussian:
        raise ValueError("gaussian_joint_vcov needs a Gaussian identity-link fit")
    spec, st = fit.spec, fit.state
    sysl = _system(fit)
    # an objective of its own: the fit's keeps its factor at the estimates
    obj = GaussianObjective(sysl, spec.X, spec.y, spec.offset, spec.weights, fit.REML)
    phi = st.phi.astype(float)
    k, p = len(phi), spec.p
    C = np.asarray(st.vcov_beta, dtype=float)
    if k == 0 or p == 0:
        return C
    lay = sysl.layout
    steps = 1e-4 * np.maximum(1.0, np.abs(phi))
    if obj.solver.dense and not sysl.has_precision:
        _, g = obj.value_and_grad(phi)
        H = hessian_from_gradient(obj.value_and_grad, phi, g, lay.lower, lay.upper, steps)
    else:
        H = hessian_and_gradient(obj, phi, steps)[0]
    J = jacobian(lambda x: obj.solve(x).beta, phi, steps=steps)
    free = np.array([not (phi[j] - steps[j] < lay.lower[j] or phi[j] + steps[j] > lay.upper[j])
                     for j in range(k)])
    if not free.any():
        return C
    Jf = J[:, free]
    return C + Jf @ _free_inverse(H, free) @ Jf.T


def vcov_fixef(fit, se: str = "conditional") -> pd.DataFrame:
    """Fixed-effect covariance under the ``se`` convention (module docstring).

    Gaussian identity-link fits: conditional (lme4's ``vcov``) or :func:`gaussian_joint_vcov`.
    Negative binomial fits: conditional on theta (glmer.nb's) or with theta's uncertainty
    (kept by the fit). Other Laplace fits invert glmer's Hessian in ``(theta, beta)``, which
    is joint already: both conventions give it.
    """
    if se not in ("conditional", "joint"):
        raise ValueError(f"se must be 'conditional' or 'joint', got {se!r}")
    V = fit.state.vcov_beta
    if se == "joint":
        if fit.is_gaussian:
            V = gaussian_joint_vcov(fit)
        elif fit.state.vcov_beta_joint is not None:
            V = fit.state.vcov_beta_joint
        # otherwise (Laplace / AGQ fits) glmer's Hessian is already joint in the covariance
        # parameters (and an estimated scale) and beta: the two conventions agree
    names = fit.spec.x_names
    return pd.DataFrame(np.asarray(V), index=names, columns=names)
