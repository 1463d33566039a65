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

from ..terms.smooth import SmoothTerm
from .mixed import MixedFit
from .predict import joint_covariance


class GamFit(MixedFit):
    """A fitted generalised additive (mixed) model.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> d = sg.datasets.load_rongelap()
    >>> m = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", d,
    ...            family="poisson")
    >>> round(m.coef["(Intercept)"], 4)
    1.9768
    """

    # ---- structure ---------------------------------------------------------------------
    def _smooths(self) -> list[tuple[int, SmoothTerm, list[int]]]:
        out = []
        names = self.spec.x_names
        for k, blk in enumerate(self.spec.blocks):
            if isinstance(blk.term, SmoothTerm):
                null_idx = [names.index(n) for n in blk.fixed_names if n in names]
                out.append((k, blk.term, null_idx))
        return out

    def _param_idx(self) -> list[int]:
        null = {i for _, _, idx in self._smooths() for i in idx}
        return [i for i in range(self.spec.p) if i not in null]

    def _coef_map(self) -> tuple[np.ndarray, list[str]]:
        """Matrix M with coef = M @ [beta, b] and the coefficient names (mgcv's order)."""
        p, q = self.spec.p, self.state.extra["system"].q
        rows, names = [], []
        sysl = self.state.extra["system"]
        for i in self._param_idx():
            r = np.zeros(p + q)
            r[i] = 1.0
            rows.append(r)
            names.append(self.spec.x_names[i])
        for k, term, null_idx in self._smooths():
            s = sysl.col_slices[k]
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
        M, names = self._coef_map()
        C = joint_covariance(self)
        return pd.DataFrame(M @ C @ M.T, index=names, columns=names)

    @property
    def Ve(self) -> pd.DataFrame:
        """Frequentist covariance of ``coef`` (mgcv's ``Ve`` = Vp X'WX Vp / scale)."""
        M, names = self._coef_map()
        C = joint_covariance(self)
        D = self._design_b()
        w = self.state.extra.get("working_weights", self.spec.weights)
        G = D.T @ (D * w[:, None])
        V = C @ G @ C / self.state.latent_scale
        return pd.DataFrame(M @ V @ M.T, index=names, columns=names)

    def _design_b(self) -> np.ndarray:
        sysl = self.state.extra["system"]
        Z = sysl.Z.toarray() if sp.issparse(sysl.Z) else sysl.Z
        return np.column_stack([self.spec.X, Z])

    def vcov_coef(self, type: str = "Vp") -> pd.DataFrame:
        return self.Vp if type == "Vp" else self.Ve

    @property
    def sp(self) -> pd.Series:
        """Smoothing parameters (mgcv's ``sp``)."""
        sysl = self.state.extra["system"]
        out: dict[str, float] = {}
        for k, t, _ in self._smooths():
            v = t.sp(sysl.block_phi(self.state.phi, k))
            labels = getattr(t, "sp_labels", None)
            if labels is None:  # one penalty
                out[t.name] = float(v)
            else:  # te(x,z)1, te(x,z)2, ... as mgcv names them
                out.update({lab: float(x) for lab, x in zip(labels, np.atleast_1d(v))})
        return pd.Series(out)

    @property
    def edf(self) -> pd.Series:
        """Effective degrees of freedom of each smooth (null space included)."""
        eb = self.state.extra["edf_blocks"]
        return pd.Series({t.name: float(eb[k]) + len(idx) for k, t, idx in self._smooths()})

    @property
    def edf_total(self) -> float:
        """Total edf: parametric coefficients plus smooths (mgcv's ``sum(edf)``)."""
        return len(self._param_idx()) + float(self.edf.sum()) + float(
            sum(self.state.extra["edf_blocks"][k] for k, blk in enumerate(self.spec.blocks)
                if not isinstance(blk.term, SmoothTerm)))

    @property
    def score(self) -> float:
        """The criterion as mgcv reports it (``gcv.ubre``): UBRE, GCV, or -REML/-ML."""
        return float(self.state.extra["score"])

    @property
    def scale(self) -> float:
        return float(self.state.scale)

    @property
    def deviance(self) -> float:
        return float(np.sum(self.family.dev_resids(self.spec.y, self.state.mu,
                                                   self.spec.weights)))

    @property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model with the same offset (mgcv/glm)."""
        y, w, off = self.spec.y, self.spec.weights, self.spec.offset
        link = self.family.link
        if "(Intercept)" not in self.spec.x_names:
            return float(np.sum(self.family.dev_resids(y, link.linkinv(off), w)))
        # IRLS for the one intercept (closed form only for the canonical log/identity cases)
        c = float(link.linkfun(np.atleast_1d(np.sum(w * y) / np.sum(w)))[0]) - float(
            np.mean(off))
        for _ in range(50):
            z, ww = self.family.working(y, off + c, w)
            c_new = float(np.sum(ww * (z - off)) / np.sum(ww))
            if abs(c_new - c) < 1e-12 * (1 + abs(c)):
                c = c_new
                break
            c = c_new
        return float(np.sum(self.family.dev_resids(y, link.linkinv(off + c), w)))

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
    def loglik(self) -> float:
        return float(self.family.loglik(self.spec.y, self.state.mu, self.spec.weights,
                                        scale=self.state.scale))

    @property
    def aic(self) -> float:
        k = self.edf_total + (0 if self.family.scale_known else 1)
        return -2 * self.loglik + 2 * k

    # ---- tests of smooth terms (Wood 2013a, 2013b) -------------------------------------
    def smooth_table(self) -> pd.DataFrame:
        """edf, Ref.df, Chi.sq (or F) and p-value per smooth, as mgcv's ``summary.gam``.

        Ordinary smooths use Wood's (2013a) test with a rank-``edf1`` pseudo-inverse,
        ``bs='re'`` terms his (2013b) random-effect test; see
        :mod:`spatialgamm.results.smooth_tests`.
        """
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
    def vcomp(self, level: float = 0.95) -> pd.DataFrame:
        """Standard deviations of the smooths' random-effect form with confidence intervals.

        Intervals are Wald intervals on log(sd) from the Hessian of the REML/ML criterion
        (as ``gam.vcomp``); only available for REML/ML fits.
        """
        from ..engine.optimize import numerical_hessian
        sysl = self.state.extra["system"]
        sds, names, pos = [], [], []
        for k, t, _ in self._smooths():
            # one row per smoothing parameter (te(x,z)1, te(x,z)2, ... as gam.vcomp)
            labels = getattr(t, "sp_labels", None) or [t.name]
            phi_k = sysl.block_phi(self.state.phi, k)
            for j, lab in enumerate(labels):
                sds.append(np.sqrt(self.state.latent_scale) * np.exp(phi_k[j]))
                names.append(lab)
                pos.append(sysl.layout.slices[k].start + j)
        out = pd.DataFrame({"std.dev": sds}, index=names)
        if self.state.method not in ("REML", "ML"):
            return out
        obj = self.state.extra["objective"]
        H = numerical_hessian(lambda x: 0.5 * obj(x), self.state.phi)
        try:
            V = np.linalg.inv(H)
            se = np.sqrt(np.clip(np.diag(V), 0, None))
        except np.linalg.LinAlgError:
            se = np.full(len(self.state.phi), np.nan)
        zq = stats.norm.ppf(0.5 + level / 2)
        out["lower"] = out["std.dev"] * np.exp(-zq * se[pos])
        out["upper"] = out["std.dev"] * np.exp(zq * se[pos])
        if not self.family.scale_known:
            out.loc["scale"] = [self.sigma, np.nan, np.nan]
        return out

    # ---- prediction --------------------------------------------------------------------
    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link",
                se_fit: bool = False, offset: Any = None, level: float | None = None,
                re_form: str | None = None) -> Any:
        """Predictions as a DataFrame (``fit``, ``se_fit``); ``type='terms'`` gives each
        smooth's contribution (centred, as mgcv) with its standard error."""
        if type != "terms":
            out = super().predict(newdata, re_form=re_form, type=type, se_fit=True,
                                  offset=offset, level=level)
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
        return format_gam_summary(self)

    def plot(self, select: int | None = None, ax=None, **kw: Any):
        """Plot each smooth: 1-D with a 2-SE band, 2-D as a filled contour with data points."""
        from .plot_gam import plot_smooths
        return plot_smooths(self, select=select, ax=ax, **kw)
