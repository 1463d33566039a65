"""mgcv's ``anova.gam``: nested fits compared by deviance, and one fit's term tests.

Between fits (``anova(m0, m1, test=...)``) mgcv hands the fits to R's ``anova.glmlist``
with its own residual degrees of freedom

    df.residual = n - sum(edf1) - (sum(edf2) - sum(edf))     (REML/ML fits)
    df.residual = n - sum(edf1)                              (GCV/UBRE fits: no edf2)

so ``Df`` is the difference of those and ``Deviance`` the difference of the deviances.
``test="Chisq"`` refers ``Deviance / scale`` to chi-squared on ``Df``; ``test="F"`` refers
``(Deviance / Df) / scale`` to F on ``(Df, min residual df)``. The scale is that of the fit
with the fewest residual df: mgcv's ``sig2`` (``deviance / (n - sum(edf))`` for the
Gaussian), 1 for the Poisson and binomial (and the F test then uses infinite denominator
df, as R does, with R's warning).

One fit (``anova(m)``) gives ``summary.gam``'s term tests: a Wald test per parametric
*term* (all its coefficients, ``Vp``; chi-squared for a known scale, else F on
``(rank, n - sum(edf))``) and the smooth-term table of :meth:`GamFit.smooth_table`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:  # pragma: no cover
    from .gam import GamFit

TESTS = (None, "Chisq", "LRT", "F")


def mgcv_scale(fit: GamFit) -> float:
    """mgcv's ``sig2``: 1 for a known scale; ``deviance / (n - sum(edf))`` for the Gaussian
    (mgcv's ``scale.est`` whatever the criterion: for ML fits it is not the ML estimate)."""
    if fit.family.scale_known:
        return 1.0
    if fit.state.gaussian:
        return float(fit.deviance / (fit.nobs - fit.edf_total))
    return float(fit.scale)


def edf_sums(fit: GamFit) -> tuple[float, float, float | None]:
    """``sum(edf)``, ``sum(edf1)`` and ``sum(edf2)`` (None for GCV/UBRE fits) over all
    coefficients, parametric ones included."""
    from .gam_likelihood import sp_correction
    edf = float(fit.edf_total)
    if fit.state.method in ("REML", "ML"):
        c = sp_correction(fit)
        return edf, float(c.edf1.sum()), float(c.edf2.sum())
    n_param = len(fit._param_idx())
    return edf, n_param + float(fit.edf1.sum()), None


def residual_df(fit: GamFit) -> float:
    """``df.residual`` as ``anova.gam`` sets it for comparing fits."""
    edf, edf1, edf2 = edf_sums(fit)
    return float(fit.nobs - edf1 - (0.0 if edf2 is None else edf2 - edf))


def anova_fits(*fits: GamFit, test: str | None = None) -> pd.DataFrame:
    """Analysis of deviance of nested GAM fits, in the order given (mgcv/``anova.glm``).

    Parameters
    ----------
    *fits : GamFit
        Two or more fits to the same rows, usually nested.
    test : {None, "Chisq", "LRT", "F"}
        The test of each fit against the one before it.

    Returns
    -------
    DataFrame
        ``Resid. Df``, ``Resid. Dev``, ``Df``, ``Deviance`` and, with a test,
        ``Pr(>Chi)`` or ``F`` and ``Pr(>F)``; one row per fit (the first has no test).

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.gam_sim(1, n=200, seed=1)
    >>> m0 = sg.gam("y ~ s(x0) + s(x2)", d, method="ML")
    >>> m1 = sg.gam("y ~ s(x0) + s(x1) + s(x2)", d, method="ML")
    >>> a = sg.anova(m0, m1, test="F")
    >>> list(a.columns)
    ['Resid. Df', 'Resid. Dev', 'Df', 'Deviance', 'F', 'Pr(>F)']
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of 'Chisq', 'LRT', 'F' or None, got {test!r}")
    if len(fits) < 2:
        raise ValueError("anova of GAM fits needs at least two fits (one fit: pass it alone "
                         "for its term tests)")
    n = {f.nobs for f in fits}
    if len(n) > 1:
        raise ValueError(f"models were fitted to different numbers of observations: {sorted(n)}")
    fams = {(f.family.name, f.family.link.name) for f in fits}
    if len(fams) > 1:
        raise ValueError(f"models have different families: {sorted(fams)}")
    rdf = np.array([residual_df(f) for f in fits])
    dev = np.array([f.deviance for f in fits])
    df = np.r_[np.nan, -np.diff(rdf)]
    ddev = np.r_[np.nan, -np.diff(dev)]
    out = pd.DataFrame({"Resid. Df": rdf, "Resid. Dev": dev, "Df": df, "Deviance": ddev},
                       index=[str(f.spec.formula.text) for f in fits])
    if test is None:
        return out
    big = fits[int(np.argmin(rdf))]
    scale = mgcv_scale(big)
    df_scale = np.inf if scale == 1.0 else float(rdf.min())
    if test == "F" and np.isinf(df_scale):
        if big.family.name in ("binomial", "poisson"):
            warnings.warn(f"using F test with a '{big.family.name}' family is inappropriate",
                          UserWarning, stacklevel=2)
        else:
            warnings.warn("using F test with a fixed dispersion is inappropriate",
                          UserWarning, stacklevel=2)
    valid = np.isfinite(df) & (df != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if test in ("Chisq", "LRT"):
            stat = ddev / scale * np.sign(df)
            stat[~valid | (stat < 0)] = np.nan
            out["Pr(>Chi)"] = stats.chi2.sf(stat, np.abs(df))
        else:
            F = ddev / df / scale
            F[~valid | (F < 0)] = np.nan
            out["F"] = F
            out["Pr(>F)"] = stats.f.sf(F, np.abs(df), df_scale)
    return out


@dataclass(frozen=True)
class AnovaGam:
    """``anova(m)`` for one GAM: the parametric-term and smooth-term tables."""

    pTerms_table: pd.DataFrame
    s_table: pd.DataFrame
    family: str

    def __str__(self) -> str:
        parts = [f"Family: {self.family}"]
        if len(self.pTerms_table):
            parts += ["", "Parametric Terms:", self.pTerms_table.to_string()]
        if len(self.s_table):
            parts += ["", "Approximate significance of smooth terms:",
                      self.s_table.to_string()]
        return "\n".join(parts)

    __repr__ = __str__


def parametric_terms_table(fit: GamFit) -> pd.DataFrame:
    """Wald tests of each parametric term (``summary.gam``'s ``pTerms.table``)."""
    coef = fit.coef
    # (a Laplace fit with an estimated scale has its Vp at mgcv's sig2 already)
    Vp = fit.Vp.to_numpy() * (1.0 if fit.state.vp_scale is not None else
                              mgcv_scale(fit) / float(fit.state.latent_scale))
    pos = {nm: i for i, nm in enumerate(coef.index)}
    est_disp = not fit.family.scale_known
    resid = fit.nobs - fit.edf_total
    rows = []
    for label, names in _parametric_terms(fit.spec.fixed):
        idx = [pos[nm] for nm in names if nm in pos]
        if not idx:  # every column aliased
            continue
        b = coef.to_numpy()[idx]
        V = Vp[np.ix_(idx, idx)]
        if len(idx) == 1:
            nb, chi = 1, float(b[0] ** 2 / V[0, 0])
        else:
            # mgcv's pinv: eigenvalues below sqrt(eps) of the largest are dropped
            e, U = np.linalg.eigh(0.5 * (V + V.T))
            keep = e > e.max() * np.sqrt(np.finfo(float).eps)
            nb = int(keep.sum())
            z = U[:, keep].T @ b
            chi = float(np.sum(z ** 2 / e[keep]))
        if est_disp:
            rows.append((label, nb, chi / nb, float(stats.f.sf(chi / nb, nb, resid))))
        else:
            rows.append((label, nb, chi, float(stats.chi2.sf(chi, nb))))
    cols = ["df", "F" if est_disp else "Chi.sq", "p-value"]
    return pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=cols)


def _parametric_terms(fixed) -> list[tuple[str, list[str]]]:
    """Each parametric term's label and its model-matrix columns (R's ``assign``); the
    fast path for plain numeric columns has one column per term."""
    if not hasattr(fixed, "terms"):  # SimpleDesign: intercept and numeric columns
        return [(c, [c]) for c in fixed.columns]
    return [(label, [nm for nm, a in zip(fixed.names, fixed.assign) if a == t])
            for t, label in enumerate(fixed.terms.term_labels, start=1)]


def anova_one(fit: GamFit) -> AnovaGam:
    """``anova(m)`` of one GAM: mgcv's parametric and smooth term tests.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.gam_sim(1, n=200, seed=1)
    >>> a = sg.anova(sg.gam("y ~ x0 + s(x1) + s(x2)", d, method="REML"))
    >>> list(a.pTerms_table.index), list(a.s_table.index)
    (['x0'], ['s(x1)', 's(x2)'])
    """
    return AnovaGam(pTerms_table=parametric_terms_table(fit), s_table=fit.smooth_table(),
                    family=f"{fit.family.name} ({fit.family.link.name} link)")
