"""A ``gamm4``-style fit: smooths as random effects in the mixed-model engine, two views.

gamm4 (Wood and Scheipl) writes each smooth as mgcv's mixed-model form (unpenalised
null-space columns among the fixed effects, the penalised range space a random effect with
identity covariance ``sigma_s^2 I`` after reparameterisation) and fits that model with lme4:
REML for Gaussian identity-link data, glmer's Laplace maximum likelihood otherwise (not mgcv's
LAML, which integrates the fixed effects too). This package's blocks already are that form
(:class:`~spatialgamm.terms.smooth.SmoothTerm`), so the fit is the ordinary Gaussian or
glmer path of the engine on the model ``formula + random``; the result is shown twice:

* ``fit.gam``: a :class:`~spatialgamm.results.gam.GamFit` (mgcv's coefficients, ``edf``,
  ``sp = scale / sigma_s^2``, smooth tests, predictions),
* ``fit.mer``: a :class:`MerView` (lme4's ``fixef`` with gamm4's names ``X(Intercept)``,
  ``Xs(x)Fx1``; ``varcorr`` with one row per smooth, grouped as ``Xr``, ``Xr.0``, ...;
  ``loglik`` of the REML or Laplace criterion).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.smoothness import block_edf
from ..engine.threads import blas_threads_for
from ..model import ModelSpec
from ..terms.base import Ability
from .gam import GamFit
from .mixed import MixedFit
from .predict import joint_covariance


class MerView(MixedFit):
    """lme4's view of a gamm4 fit (gamm4's ``$mer``): the smooths' variance components
    appear among the random effects, their null-space coefficients among the fixed effects.
    """

    def _smooth_groups(self) -> dict[str, str]:
        """gamm4's grouping names of the smooths' random effects: Xr, Xr.0, Xr.1, ..."""
        out, j = {}, 0
        for blk in self.spec.blocks:
            if blk.term.has(Ability.SMOOTH):
                out[blk.term.name] = "Xr" if j == 0 else f"Xr.{j - 1}"
                j += 1
        return out

    @property
    def fixef(self) -> pd.Series:
        """Fixed effects as gamm4's ``fixef(fit$mer)``: ``X`` before each parametric name,
        a smooth's null-space columns named ``Xs(x)Fx1``, ``Xs(x)Fx2``, ..."""
        return pd.Series(self.state.beta, index=self._mer_names(), name="Estimate")

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.state.vcov_beta)), index=self._mer_names(),
                         name="Std. Error")

    @property
    def vcov(self) -> pd.DataFrame:
        n = self._mer_names()
        return pd.DataFrame(self.state.vcov_beta, index=n, columns=n)

    def corr_fixef(self) -> pd.DataFrame:
        c = super().corr_fixef()
        c.index = c.columns = self._mer_names()
        return c

    def _mer_names(self) -> list[str]:
        null: dict[str, str] = {}
        for blk in self.spec.blocks:
            if blk.term.has(Ability.SMOOTH):
                for j, nm in enumerate(blk.fixed_names):
                    null[nm] = f"X{blk.term.name}Fx{j + 1}"
        return [null.get(nm, f"X{nm}") for nm in self.spec.x_names]

    @property
    def varcorr(self) -> pd.DataFrame:
        """``as.data.frame(VarCorr(fit$mer))``: lme4 bars as lmer shows them, each smooth a
        group (``Xr``, ``Xr.0``, ...) whose variance is ``scale / sp``."""
        vc = super().varcorr.copy()
        groups = self._smooth_groups()
        is_smooth = vc["grp"].isin(groups)
        vc.loc[is_smooth, "var1"] = vc.loc[is_smooth, "grp"]
        vc.loc[is_smooth, "grp"] = vc.loc[is_smooth, "grp"].map(groups)
        return vc


class GamView(GamFit):
    """mgcv's view of a gamm4 fit (gamm4's ``$gam``): the lme4 bars are not part of the
    GAM, so predictions leave them out (``re_form='~0'``) unless asked for, and the
    parametric standard errors are those of ``Vp`` (every random effect integrated out)."""

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link",
                se_fit: bool = False, offset: Any = None, level: float | None = None,
                re_form: str | None = "~0", allow_new_levels: bool = False) -> Any:
        return super().predict(newdata, type=type, se_fit=se_fit, offset=offset, level=level,
                               re_form=re_form, allow_new_levels=allow_new_levels)

    def smooth_table(self) -> pd.DataFrame:
        """The smooths' tests; gamm4's gam view has no rows for the lme4 bars (they are
        integrated out of each smooth's test, as in ``sg.gam``)."""
        tab = super().smooth_table()
        return tab.loc[[t.name for _, t, _ in self._smooths()]] if len(tab) else tab

    def parametric_table(self) -> pd.DataFrame:
        tab = super().parametric_table()
        se = np.sqrt(np.diag(self.Vp.loc[tab.index, tab.index].to_numpy()))
        z = tab["Estimate"].to_numpy() / se
        tab["Std. Error"] = se
        stat = tab.columns[2]
        tab[stat] = z
        if self.family.scale_known:
            tab[tab.columns[3]] = 2 * stats.norm.sf(np.abs(z))
        else:
            tab[tab.columns[3]] = 2 * stats.t.sf(np.abs(z), self.nobs - self.edf_total)
        return tab


    def summary(self) -> str:
        """mgcv's summary layout, closed as gamm4's (``lmer.REML`` or ``glmer.ML``)."""
        from dataclasses import replace

        from .summary import format_gam_summary
        view = copy.copy(self)  # the criterion line is keyed by mgcv's method names
        view.state = replace(self.state, method="REML" if self.is_gaussian else "ML")
        lines = format_gam_summary(view).split("\n")
        how = "lmer.REML" if self.is_gaussian else "glmer.ML"
        return "\n".join(
            f"{how} = {self.state.criterion:.5g}  Scale est. = {self.scale:<8.5g}  "
            f"n = {self.nobs}" if ln.startswith(("-REML", "-ML")) else ln for ln in lines)


class Gamm4Fit:
    """The two views of a gamm4-style fit (``fit.gam`` and ``fit.mer``), as gamm4 returns.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.gam_sim(6, n=200, seed=3)
    >>> m = sg.gamm4("y ~ s(x0, bs='cr') + s(x2, bs='cr')", d, random="~(1|fac)")
    >>> list(m.mer.varcorr["grp"])
    ['fac', 'Xr', 'Xr.0', 'Residual']
    """

    def __init__(self, gam, mer: MerView):
        self.gam = gam
        self.mer = mer

    def summary(self) -> str:
        return self.gam.summary() + "\n" + self.mer.summary()

    def __repr__(self) -> str:
        return (f"<Gamm4Fit {self.gam.family.name}: {len(self.gam._smooths())} smooth(s), "
                f"logLik(mer) {self.mer.loglik:.3f}>")


def check_gamm4_spec(spec: ModelSpec) -> None:
    """gamm4's model class: single-penalty smooths and lme4 bars only."""
    for blk in spec.blocks:
        t = blk.term
        if t.has(Ability.SMOOTH):
            if blk.n_phi != 1:
                raise NotImplementedError(
                    f"gamm4: smooth {t.name} has {blk.n_phi} smoothing parameters; gamm4 "
                    "needs one penalty per smooth (use s(), or a gam() fit for te())")
        elif not t.has(Ability.GROUPING_FACTOR):
            raise ValueError(f"gamm4: term {blk.name!r} is neither a smooth nor an lme4 bar; "
                             "gamm4 fits s() smooths and (x | g) random effects only")


def fit_gamm4(spec: ModelSpec, data_name: str = "data") -> Gamm4Fit:
    """Fit by REML (Gaussian identity link) or glmer's Laplace ML; build both views."""
    from ..engine.optimize import emit_warnings
    from .assemble import gaussian_state
    from .assemble_glmm import laplace_state
    check_gamm4_spec(spec)
    fam = spec.family
    gaussian = fam.is_gaussian_identity
    with blas_threads_for(spec.p + sum(b.q for b in spec.blocks)):
        if gaussian:
            state = gaussian_state(spec, reml=True)
        else:
            # glmer's nAGQ = 1 fit: beta maximised jointly with theta, not integrated out
            state = laplace_state(spec, reml=False)
        state.score = state.criterion / 2.0
        gam = GamView(spec, state, data_name=data_name)
        if gaussian:
            state.edf_blocks = block_edf(state.system, state.pls, state.phi)
        else:
            state.edf_blocks = _edf_blocks_beta_integrated(gam)
    emit_warnings(state.optinfo)
    mer = MerView(spec, state, data_name=data_name)
    return Gamm4Fit(gam, mer)


def gamm4_formula(formula: str, random: str | None) -> str:
    """``formula + random``; ``random`` is a one-sided formula of lme4 bars."""
    if random is None:
        return formula
    if not isinstance(random, str):
        raise TypeError(f"random must be a one-sided formula string like '~ (1 | g)', got "
                        f"{type(random).__name__}")
    rhs = random.strip()
    if not rhs.startswith("~"):
        raise ValueError(f"random must be a one-sided formula starting with '~', got "
                         f"{random!r}")
    rhs = rhs[1:].strip()
    if "|" not in rhs:
        raise ValueError(f"random={random!r} has no lme4 bar (x | g): gamm4's random "
                         "effects are written as in lme4")
    return f"{formula} + {rhs}"


def _edf_blocks_beta_integrated(fit: GamFit) -> np.ndarray:
    """Each latent block's edf, ``tr`` of its block of ``F = Vp X'WX / scale`` with the fixed
    effects uncertain too (as gamm4's gam view), at glmer's working weights.

    glmer's mode holds ``beta`` fixed, so the engine's per-block edf there conditions on it;
    gamm4 computes the edf from the covariance of all coefficients given the variance
    components, which is this.
    """
    st, spec = fit.state, fit.spec
    sysl = st.system
    w = np.asarray(st.irls_weights(spec.weights), dtype=float)
    C = joint_covariance(fit)
    D = fit._design_b()
    F = C @ (D.T @ (D * w[:, None])) / st.latent_scale
    p = spec.p
    return np.array([float(np.trace(F[p + sl.start:p + sl.stop, p + sl.start:p + sl.stop]))
                     for sl in sysl.col_slices])
