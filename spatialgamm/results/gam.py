"""The fitted GAM: what mgcv users look for (``coef``, ``Vp``, ``edf``, ``sp``, summaries).

A :class:`GamFit` is a :class:`~spatialgamm.results.mixed.MixedFit` whose latent blocks are
mostly smooths; it adds mgcv's view: coefficients in each smooth's own basis, the Bayesian
posterior covariance ``Vp`` and the frequentist ``Ve``, effective degrees of freedom, the
smoothing parameters, the criterion value (``score``), ``r2_adj``, ``dev_expl`` and a summary
in mgcv's layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from ..terms.base import Ability, LatentTerm
from .gam_likelihood import edf1, loglik_edf, mgcv_df, mgcv_loglik, sp_correction
from .mixed import MixedFit
from .predict import joint_covariance
from .spde import posterior_of, spde_blocks, spde_summary_lines


class GamFit(MixedFit):
    """A fitted generalised additive (mixed) model.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.load_rongelap()
    >>> m = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", d,
    ...            family="poisson")
    >>> round(float(m.coef["(Intercept)"]), 4)
    1.9768
    """

    # ---- structure ---------------------------------------------------------------------
    def _smooths(self) -> list[tuple[int, LatentTerm, list[int]]]:
        out = []
        names = self.spec.x_names
        for k, blk in enumerate(self.spec.blocks):
            if blk.term.has(Ability.SMOOTH):
                null_idx = [names.index(n) for n in blk.fixed_names if n in names]
                out.append((k, blk.term, null_idx))
        return out

    def _param_idx(self) -> list[int]:
        null = {i for _, _, idx in self._smooths() for i in idx}
        return [i for i in range(self.spec.p) if i not in null]

    def _coef_map(self) -> tuple[np.ndarray, list[str]]:
        """Matrix M with coef = M @ [beta, b] and the coefficient names (mgcv's order)."""
        p, q = self.spec.p, self.state.system.q
        rows, names = [], []
        sysl = self.state.system
        for i in self._param_idx():
            r = np.zeros(p + q)
            r[i] = 1.0
            rows.append(r)
            names.append(self.spec.x_names[i])
        icpt = self.spec.x_names.index("(Intercept)") \
            if "(Intercept)" in self.spec.x_names else None
        for k, term, null_idx in self._smooths():
            s = sysl.col_slices[k]
            shift = getattr(term, "intercept_shift", None)
            if shift is not None and icpt is not None:
                # a block in mgcv's fitting basis (t2): the reported intercept absorbs the
                # means of its penalised columns
                rows[self._param_idx().index(icpt)][p + s.start:p + s.stop] += shift
            kdim = term.U_range.shape[0]
            block = np.zeros((kdim, p + q))
            block[:, p + s.start:p + s.stop] = term.U_range
            for j, i in enumerate(null_idx):
                block[:, i] += term.U_null[:, j]
            rows.extend(block)
            names.extend(f"{term.name}.{j + 1}" for j in range(kdim))
        return np.array(rows), names

    # ---- mgcv quantities ---------------------------------------------------------------
    @property
    def coef(self) -> pd.Series:
        """All coefficients: parametric, then each smooth in its own (constrained) basis."""
        M, names = self._coef_map()
        x = np.concatenate([self.state.beta, self.state.b])
        return pd.Series(M @ x, index=names)

    @property
    def Vp(self) -> pd.DataFrame:
        """Bayesian posterior covariance of ``coef`` (mgcv's ``Vp``)."""
        if spde_blocks(self) and not self._smooths():  # no dense posterior of the mesh nodes
            names = self.spec.x_names
            return pd.DataFrame(posterior_of(self).vcov_beta, index=names, columns=names)
        M, names = self._coef_map()
        C = joint_covariance(self)
        return pd.DataFrame(M @ C @ M.T, index=names, columns=names)

    @property
    def Ve(self) -> pd.DataFrame:
        """Frequentist covariance of ``coef`` (mgcv's ``Ve`` = Vp X'WX Vp / scale)."""
        M, names = self._coef_map()
        C = joint_covariance(self)
        D = self._design_b()
        w = self.state.irls_weights(self.spec.weights)
        G = D.T @ (D * w[:, None])
        V = C @ G @ C / self.state.latent_scale
        return pd.DataFrame(M @ V @ M.T, index=names, columns=names)

    def _design_b(self) -> np.ndarray:
        sysl = self.state.system
        Z = sysl.Z.toarray() if sp.issparse(sysl.Z) else sysl.Z
        return np.column_stack([self.spec.X, Z])

    def vcov_coef(self, type: str = "Vp") -> pd.DataFrame:
        return self.Vp if type == "Vp" else self.Ve

    @property
    def sp(self) -> pd.Series:
        """Smoothing parameters (mgcv's ``sp``)."""
        sysl = self.state.system
        out: dict[str, float] = {}
        # a Laplace fit with an estimated scale keeps u ~ N(0, sd^2) unscaled; mgcv's
        # penalty divides the deviance by the scale, so its sp is reml.scale / sd^2
        mult = self.state.scale if self.state.vp_scale is not None else 1.0
        for k, t, _ in self._smooths():
            v = mult * t.sp(sysl.block_phi(self.state.phi, k))
            labels = t.sp_labels
            if labels is None:  # one penalty
                out[t.name] = float(v)
            else:  # te(x,z)1, te(x,z)2, ... as mgcv names them
                out.update({lab: float(x) for lab, x in zip(labels, np.atleast_1d(v))})
        return pd.Series(out)

    @property
    def edf(self) -> pd.Series:
        """Effective degrees of freedom of each smooth (null space included)."""
        eb = self.state.edf_blocks
        return pd.Series({t.name: float(eb[k]) + len(idx) for k, t, idx in self._smooths()})

    @property
    def edf_total(self) -> float:
        """Total edf: parametric coefficients plus smooths (mgcv's ``sum(edf)``)."""
        return len(self._param_idx()) + float(self.edf.sum()) + float(
            sum(self.state.edf_blocks[k] for k, blk in enumerate(self.spec.blocks)
                if not blk.term.has(Ability.SMOOTH)))

    @property
    def score(self) -> float:
        """The criterion as mgcv reports it (``gcv.ubre``): UBRE, GCV, or -REML/-ML."""
        return float(self.state.score)

    @property
    def scale(self) -> float:
        if self.state.vp_scale is not None:  # mgcv's sig2 (Pearson), not its reml.scale
            return float(self.state.scale * self.state.vp_scale)
        return float(self.state.scale)

    @property
    def deviance(self) -> float:
        return float(np.sum(self.family.dev_resids(self.spec.y, self.state.mu,
                                                   self.spec.weights)))

    @property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model with the same offset (mgcv/glm)."""
        from ..engine.glm import glm_irls
        y, w, off = self.spec.y, self.spec.weights, self.spec.offset
        link = self.family.link
        if "(Intercept)" not in self.spec.x_names:
            return float(np.sum(self.family.dev_resids(y, link.linkinv(off), w)))
        # IRLS for the one intercept (closed form only for the canonical log/identity cases)
        c = float(link.linkfun(np.atleast_1d(np.sum(w * y) / np.sum(w)))[0]) - float(
            np.mean(off))
        null = glm_irls(np.ones((len(y), 1)), y, self.family, w, off, eta0=off + c, tol=1e-12)
        return float(np.sum(self.family.dev_resids(y, null.mu, w)))

    @property
    def dev_expl(self) -> float:
        return (self.null_deviance - self.deviance) / self.null_deviance

    @property
    def r2_adj(self) -> float:
        y, mu, w = self.spec.y, self.state.mu, self.spec.weights
        n = len(y)
        my = np.sum(w * y) / np.sum(w)
        sw = np.sqrt(w)
        rdf = n - self.edf_total
        return float(1 - np.var(sw * (y - mu), ddof=1) * (n - 1) /
                     (np.var(sw * (y - my), ddof=1) * rdf))

    @property
    def edf1(self) -> pd.Series:
        """mgcv's ``edf1`` per smooth (``tr(2F - FF)``): the edf used by tests, and the
        upper bound of the smoothing-parameter-corrected edf."""
        return pd.Series(edf1(self))

    @property
    def loglik(self) -> float:
        """mgcv's ``logLik.gam``: the family's log-likelihood at the fitted means, with the
        scale ``deviance / n`` plugged in for the Gaussian and Gamma families (as the
        family's ``aic``), not the fit's REML/GCV scale estimate."""
        return mgcv_loglik(self)

    @property
    def loglik_df(self) -> float:
        """Degrees of freedom of :attr:`loglik` (``attr(logLik(m), "df")``): summed edf plus
        an estimated scale, capped at the number of coefficients plus one; for REML/ML fits
        the smoothing-parameter-corrected :attr:`edf2` as mgcv."""
        return mgcv_df(self, loglik_edf(self))

    @property
    def Vc(self) -> pd.DataFrame:
        """mgcv's ``Vc``: :attr:`Vp` corrected for smoothing-parameter uncertainty (REML/ML
        fits; :mod:`spatialgamm.results.gam_vc`)."""
        return sp_correction(self).Vc

    @property
    def edf2(self) -> pd.Series:
        """mgcv's ``edf2`` per coefficient (REML/ML fits): ``diag(Vc X'WX) / scale``."""
        return sp_correction(self).edf2

    @property
    def aic(self) -> float:
        """``-2 logLik + 2 df`` with :attr:`loglik_df` (mgcv's ``AIC``)."""
        return -2 * self.loglik + 2 * self.loglik_df

    @property
    def bic(self) -> float:
        """``-2 logLik + log(n) df`` with :attr:`loglik_df`, as R's ``BIC`` of a gam."""
        return -2 * self.loglik + np.log(self.nobs) * self.loglik_df

    # ---- tests of smooth terms (Wood 2013a, 2013b) -------------------------------------
    def smooth_table(self) -> pd.DataFrame:
        """edf, Ref.df, Chi.sq (or F) and p-value per smooth, as mgcv's ``summary.gam``.

        Ordinary smooths use Wood's (2013a) test with a rank-``edf1`` pseudo-inverse,
        ``bs='re'`` terms his (2013b) random-effect test; see
        :mod:`spatialgamm.results.smooth_tests`. Scalar lme4 bars in the formula
        (``(1 | fac)``, ``(0 + x | fac)``) follow the smooths with that label: the same model,
        edf and test as mgcv's ``s(fac, bs='re')``. A variance estimated as exactly zero
        (lme4's boundary; mgcv stops at its sp bound instead) is tested in the limit of a
        vanishing variance, the p-value and Ref.df mgcv's bound approximates.
        """
        if spde_blocks(self) and not self._smooths():
            return pd.DataFrame()  # (it would only build the dense posterior of the nodes)
        from .smooth_tests import smooth_table
        return smooth_table(self)

    def parametric_table(self) -> pd.DataFrame:
        idx = self._param_idx()
        est = self.state.beta[idx]
        se = np.sqrt(np.diag(self.state.vcov_beta))[idx]
        names = [self.spec.x_names[i] for i in idx]
        tab = pd.DataFrame({"Estimate": est, "Std. Error": se}, index=names)
        z = est / se
        if self.family.scale_known:
            tab["z value"] = z
            tab["Pr(>|z|)"] = 2 * stats.norm.sf(np.abs(z))
        else:
            tab["t value"] = z
            tab["Pr(>|t|)"] = 2 * stats.t.sf(np.abs(z), self.nobs - self.edf_total)
        return tab

    # ---- variance components (gam.vcomp) -----------------------------------------------
    def vcomp(self, level: float = 0.95, rescale: bool = True) -> pd.DataFrame:
        """Standard deviations of the random-effect form of each smooth and lme4 bar, with
        confidence intervals: mgcv's ``gam.vcomp(fit, rescale = TRUE)``.

        A smooth's variance is ``scale / sp`` for its penalty; ``rescale=True`` (mgcv's
        default) undoes the penalty scaling (``S.scale``), so the sd is that of the
        penalty as the basis defines it. lme4 bars in the formula (``(1|g)``) get a row
        with their label. Intervals are Wald intervals on the log sd from the Hessian of
        the REML/ML criterion in (log sd's, log scale), as mgcv's. A component on the
        boundary (sd zero) or on a flat stretch of the criterion (a smooth driven to its
        null space) gets the one-sided interval (0, inf) that mgcv's numbers amount to;
        never NaN. GCV/UBRE fits give the sd column only.
        """
        from ..engine.optimize import numerical_hessian
        sysl = self.state.system
        phi = np.asarray(self.state.phi, dtype=float)
        scale = self._criterion_scale()
        rows: list[tuple[str, float, np.ndarray]] = []  # name, sd, d log sd / d phi
        for k, blk in enumerate(self.spec.blocks):
            sl = sysl.layout.slices[k]
            g = np.zeros(phi.size)
            if blk.term.has(Ability.SMOOTH):
                if sl.stop - sl.start != 1:
                    continue  # several penalties per term: not a single variance
                mult = blk.term.spec.S_scale if rescale else 1.0
                g[sl.start] = 1.0
                rows.append((blk.term.name, np.sqrt(scale * mult) * np.exp(phi[sl.start]), g))
            elif blk.term.has(Ability.GROUPING_FACTOR) and blk.term.nc == 1:
                theta = abs(phi[sl.start])
                if theta > 0:
                    g[sl.start] = 1.0 / phi[sl.start]
                rows.append((blk.term.label, np.sqrt(scale) * theta, g))
        names = [r[0] for r in rows]
        out = pd.DataFrame({"std.dev": [r[1] for r in rows]}, index=names, dtype=float)
        scale_free = not self.family.scale_known
        # Gamma / inverse Gaussian / NB fits (u-space Laplace): the latent sd's are absolute
        # and the scale is the criterion's own (mgcv's reml.scale), not a multiplier
        absolute = self.state.vp_scale is not None
        if scale_free:
            out.loc["scale"] = [np.sqrt(self.state.scale if absolute else scale)]
        if self.state.method not in ("REML", "ML"):
            return out
        obj = self.state.objective
        full = None
        if scale_free:
            full = _laplace_criterion_at_scale(obj) if absolute else _full_criterion(obj)
        if full is not None:
            x0 = np.append(phi, np.log(self.state.scale if absolute else scale))
            # the Laplace criterion carries PIRLS's rounding (~1e-9): a step of 1e-4 turns
            # it into 0.5% of the curvature (inverse Gaussian); 1e-3 gives mgcv's exact
            # Hessian to 1e-5
            H = numerical_hessian(full, x0, h=1e-3 if absolute else 1e-4)
        else:
            x0 = phi
            H = numerical_hessian(lambda x: 0.5 * obj(x), phi)
        G = np.zeros((len(out), x0.size))
        for i, r in enumerate(rows):
            G[i, : phi.size] = r[2]
            if full is not None and not absolute:
                G[i, -1] = 0.5  # sd = sqrt(scale) x relative sd
        if scale_free and full is not None:
            G[-1, -1] = 0.5
        # flat or boundary directions carry no information: drop them before inverting
        d = np.diag(H)
        keep = d > 1e-8 * max(1.0, float(np.abs(d).max()))
        flat = np.array([not np.any(keep & (G[i] != 0)) or np.any(~keep & (G[i] != 0))
                         for i in range(len(out))])
        V = np.zeros_like(H)
        try:
            V[np.ix_(keep, keep)] = np.linalg.inv(H[np.ix_(keep, keep)])
        except np.linalg.LinAlgError:
            V[np.ix_(keep, keep)] = np.linalg.pinv(H[np.ix_(keep, keep)])
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", G, V, G), 0, None))
        zq = stats.norm.ppf(0.5 + level / 2)
        sd = out["std.dev"].to_numpy()
        with np.errstate(over="ignore"):  # a huge se means (0, inf), set just below
            lower, upper = sd * np.exp(-zq * se), sd * np.exp(zq * se)
        bad = flat | (sd <= 0) | ~np.isfinite(se)
        lower[bad], upper[bad] = 0.0, np.inf
        out["lower"], out["upper"] = lower, upper
        return out

    def _criterion_scale(self) -> float:
        """The scale the smoothing-parameter criterion profiles (mgcv's ``reml.scale``,
        which ``gam.vcomp`` uses): for Gaussian REML/ML fits the profiled residual variance,
        which differs from the reported ``deviance / (n - edf)`` under ML or ``gamma``."""
        obj = self.state.objective
        if self.state.gaussian and self.state.method in ("REML", "ML") and hasattr(
                obj, "sigma2") and hasattr(obj, "solve"):
            return float(obj.sigma2(obj.solve(np.asarray(self.state.phi, dtype=float))))
        if self.state.vp_scale is not None:  # latent blocks are absolute (u-space Laplace)
            return 1.0
        return float(self.state.latent_scale)

    # ---- prediction --------------------------------------------------------------------
    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link",
                se_fit: bool = False, offset: Any = None, level: float | None = None,
                re_form: str | None = None, allow_new_levels: bool = False) -> Any:
        """Predictions as a DataFrame (``fit``, ``se_fit``); ``type='terms'`` gives each
        smooth's contribution (centred, as mgcv) with its standard error."""
        if type != "terms":
            out = super().predict(newdata, re_form=re_form, type=type, se_fit=True,
                                  offset=offset, level=level,
                                  allow_new_levels=allow_new_levels)
            if isinstance(out, pd.DataFrame) and not se_fit:
                out = out.drop(columns=["se_fit"])
            return out
        data = self.spec.data if newdata is None else newdata
        M, names = self._coef_map()
        coef = self.coef.to_numpy()
        Vp = self.Vp.to_numpy()
        res = {}
        for _k, t, _ in self._smooths():
            sel = [i for i, nm in enumerate(names) if nm.startswith(t.name + ".")]
            Xn = t.spec.predict_matrix(data)
            Xn = Xn.toarray() if sp.issparse(Xn) else np.asarray(Xn)
            f = Xn @ coef[sel]
            res[t.name] = f
            if se_fit:
                res[f"se({t.name})"] = np.sqrt(np.einsum("ij,jk,ik->i", Xn,
                                                         Vp[np.ix_(sel, sel)], Xn))
        return pd.DataFrame(res, index=data.index)

    # ---- summary -----------------------------------------------------------------------
    def summary(self) -> str:
        from .summary import format_gam_summary
        return "\n".join([format_gam_summary(self), *spde_summary_lines(self)])

    def plot(self, select: int | None = None, ax=None, **kw: Any):
        """Plot each smooth: 1-D with a 2-SE band, 2-D as a filled contour with data points."""
        from .plot_gam import plot_smooths
        return plot_smooths(self, select=select, ax=ax, **kw)


def _laplace_criterion_at_scale(obj: Any):
    """Half the Laplace REML/ML deviance in (phi, log scale) for a family with an estimated
    scale (the objective's ``scale`` set, then restored); None for other objectives."""
    if not hasattr(obj, "profile_scale"):
        return None

    def f(x: np.ndarray) -> float:
        keep, obj.scale = obj.scale, float(np.exp(x[-1]))
        try:
            return 0.5 * obj(x[:-1])
        finally:
            obj.scale = keep

    return f


def _full_criterion(obj: Any):
    """Half the Gaussian REML/ML deviance in (phi, log scale), the scale not profiled out
    (:meth:`~spatialgamm.engine.gaussian.GaussianObjective.deviance_at_scale`); at the
    profiled scale it is the criterion the fit minimised. None when the objective is not
    the Gaussian profiled one."""
    if not hasattr(obj, "deviance_at_scale"):
        return None

    def f(x: np.ndarray) -> float:
        return 0.5 * obj.deviance_at_scale(x[:-1], float(np.exp(x[-1])))

    return f
