"""The fitted mixed model: what lme4/glmer users look for, with R's names.

A :class:`MixedFit` is assembled once from the model spec and the engine's state at the
optimum; it never refits itself. Tables are built on demand from those numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from ..engine.optimize import OptSummary
from ..engine.pls import PLSResult
from ..model import ModelSpec
from ..terms.base import Ability
from . import ddf
from .predict import predict_frame
from .spde import FieldReport, field_range, spde_blocks, spde_summary_lines
from .summary import format_lmm_summary


@dataclass
class FitState:
    """The engine's numbers at the optimum, and what the results layer caches from them.

    The first fields are every fit's; the optional ones are set by the assembly that has
    them (None otherwise). ``joint_cov``, ``latent_posterior`` and ``spde_logcov`` are
    caches the results layer fills on first use.
    """

    phi: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    pls: PLSResult | None
    scale: float
    criterion: float  # deviance (ML/Laplace/AGQ) or REML criterion, on R's scale
    vcov_beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    optinfo: OptSummary
    method: str  # 'REML', 'ML', 'Laplace', 'AGQ(k)'
    nAGQ: int = 1
    #: the family with what the fit estimated in it (glmer.nb's theta), when it differs
    #: from the model's: the fit's spec carries it
    family: Any = None
    #: the model's LatentSystem
    system: Any = None
    #: the objective the results are built from (profiles, Hessians, refits call it)
    objective: Any = None
    #: the objective the search ran on when it differs (covariance form)
    search_objective: Any = None
    #: Gaussian identity link: latent blocks are relative to the residual variance
    gaussian: bool = False
    #: IRLS weights at the mode (prior weights for the Gaussian family when None)
    working_weights: np.ndarray | None = None
    #: glmer's deviance(): the conditional deviance at the modes
    deviance: float | None = None
    #: effective degrees of freedom of each block (GAM views)
    edf_blocks: np.ndarray | None = None
    #: the criterion as mgcv reports it (UBRE, GCV, or -REML / -ML)
    score: float | None = None
    #: negative binomial theta estimated with the fit (glmer.nb)
    theta: float | None = None
    #: parameters counted beyond beta and phi (the dispersion of a GLMM)
    n_extra_params: int = 0
    #: glmer.nb: the covariance of beta jointly with theta (the reported one is conditional)
    vcov_beta_joint: np.ndarray | None = None
    #: a log-likelihood that replaces the one derived from ``criterion``
    loglik: float | None = None
    #: glmer's own nAGQ > 1 log-likelihood (without the saturated constant)
    loglik_lme4: float | None = None
    #: the PIRLS mode at the estimates (Laplace fits)
    mode: Any = None
    #: glmer's second-stage objective in (theta, beta)
    stage2: Any = None
    #: how a precision-form fit went (evaluations, factorisations, Hessians): spde_info
    spde: dict | None = None
    #: the posterior of (beta, u) as a selected inverse (large sparse fits): SEs use it
    sparse_posterior: Any = None
    #: cache: the dense posterior covariance of (beta, b)
    joint_cov: np.ndarray | None = None
    #: cache: a sparse posterior in u-space built for a generic fit's field report
    latent_posterior: Any = None
    #: cache: the covariance of the spde() fields' log parameters
    spde_logcov: np.ndarray | None = None
    #: cache: mgcv's smoothing-parameter corrected covariance (Vc, edf2) of a GAM
    sp_correction: Any = None
    #: a Laplace GAM with an estimated scale (Gamma, inverse Gaussian): mgcv's Pearson
    #: ``sig2`` over the criterion's scale ``scale`` (mgcv's ``reml.scale``); its ``Vp`` is
    #: the posterior at the criterion's scale times this (results/assemble_gam.py)
    vp_scale: float | None = None

    @property
    def latent_scale(self) -> float:
        """Scale the latent blocks are relative to: the residual variance for Gaussian
        identity-link fits (profiled, as lme4), 1 otherwise (absolute, as glmer); a Laplace
        GAM with an estimated scale: ``vp_scale`` (mgcv's Vp at its Pearson scale)."""
        if self.vp_scale is not None:
            return self.vp_scale
        return self.scale if self.gaussian else 1.0

    def irls_weights(self, prior: np.ndarray) -> np.ndarray:
        """The IRLS weights at the mode, or the prior weights where the fit keeps none
        (Gaussian identity link: they are the same)."""
        return self.working_weights if self.working_weights is not None else prior


class MixedFit(FieldReport):
    """A fitted (generalised) linear mixed model.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    >>> round(m.reml_criterion, 2)
    1743.63
    """

    def __init__(self, spec: ModelSpec, state: FitState, data_name: str = "data"):
        if state.family is not None:  # the fitted theta names the family, as glmer.nb
            spec = replace(spec, family=state.family)
        self.spec = spec
        self.state = state
        self.family = spec.family
        self.optinfo = state.optinfo
        self.data_name = data_name
        self.crs = None
        self.spatial_coords: tuple[str, ...] | None = None
        for blk in spec.blocks:
            coords = blk.term.spatial_coords
            if coords:
                self.spatial_coords = tuple(coords)
                self.crs = blk.term.crs  # a GP term's projected CRS
                break

    # ---- basic quantities --------------------------------------------------------------
    @property
    def is_gaussian(self) -> bool:
        return self.family.is_gaussian_identity

    @property
    def REML(self) -> bool:
        return self.state.method == "REML"

    @property
    def has_offset(self) -> bool:
        """Was the model fitted with an offset (an exposure)?"""
        return bool(self.spec.offset_exprs) or self.spec.offset_arg is not None

    @property
    def nobs(self) -> int:
        return self.spec.n

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates with R's names."""
        return pd.Series(self.state.beta, index=self.spec.x_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects."""
        n = self.spec.x_names
        return pd.DataFrame(self.state.vcov_beta, index=n, columns=n)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.state.vcov_beta)), index=self.spec.x_names,
                         name="Std. Error")

    @property
    def sigma(self) -> float:
        """Residual standard deviation (1 for families with a known scale)."""
        return float(np.sqrt(self.state.scale))

    @property
    def theta(self) -> np.ndarray:
        """Parameters on the optimiser scale (lme4's theta for bar terms)."""
        return self.state.phi.copy()

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC: fixed effects, covariance parameters, scale."""
        k = len(self.state.beta) + len(self.state.phi)
        if not self.family.scale_known:
            k += 1
        return k + int(self.state.n_extra_params)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted for REML fits, as lme4's ``logLik``).

        Always the full log-likelihood, every constant of the family's density included, so
        that fits by the Laplace approximation and by quadrature (any ``nAGQ``) compare: for
        ``nAGQ > 1`` this is GLMMadaptive's number, not lme4's (see :attr:`loglik_lme4`).
        """
        if self.state.loglik is not None:
            return float(self.state.loglik)
        return -0.5 * self.state.criterion

    @property
    def loglik_lme4(self) -> float:
        """The log-likelihood lme4's ``logLik`` reports.

        The same as :attr:`loglik` except for glmer fits with ``nAGQ > 1``, where lme4
        leaves out the saturated model's log-likelihood ``sum log p(y_i | mu_i = y_i)``
        (its quadrature sums deviance residuals; lme4 issue #567): on cbpp with nAGQ = 11,
        lme4's -50.005 = the full -91.983 + 41.978. Compare such numbers only with each other.
        """
        return float(self.state.loglik_lme4 if self.state.loglik_lme4 is not None else self.loglik)

    @property
    def reml_criterion(self) -> float | None:
        return self.state.criterion if self.REML else None

    @property
    def deviance(self) -> float | None:
        """ML deviance (-2 log L) for Gaussian ML fits; glmer's deviance for GLMMs."""
        if self.REML:
            return None
        if self.state.deviance is not None:
            return float(self.state.deviance)
        return self.state.criterion

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self.n_params

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_params

    def information_criteria(self, view: str = "lme4") -> pd.Series:
        """AIC, BIC, log-likelihood and parameter count, as lme4 or as nlme reports them.

        ``view='nlme'``: nlme's ``BIC`` of a REML fit counts ``N - p`` observations (the
        restricted likelihood is that of ``N - p`` error contrasts); otherwise the numbers
        agree with lme4's.

        Examples
        --------
        >>> import spatialgamm as sg
        >>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
        >>> round(float(m.information_criteria("nlme")["BIC"]), 3)
        1774.719
        """
        if view not in ("lme4", "nlme"):
            raise ValueError(f"view must be 'lme4' or 'nlme', got {view!r}")
        n = self.nobs - (len(self.state.beta) if view == "nlme" and self.REML else 0)
        ll = self.loglik
        return pd.Series({"AIC": -2 * ll + 2 * self.n_params,
                          "BIC": -2 * ll + np.log(n) * self.n_params, "logLik": ll,
                          "df": self.n_params})

    # ---- random effects -----------------------------------------------------------------
    def _bar_blocks(self):
        for k, blk in enumerate(self.spec.blocks):
            if blk.term.has(Ability.GROUPING_FACTOR):
                yield k, blk

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        rows: list[dict] = []
        sysl = self.state.system
        for k, blk in enumerate(self.spec.blocks):
            rows.extend(blk.term.varcorr_rows(sysl.block_phi(self.state.phi, k),
                                              self.state.latent_scale))
        if not self.family.scale_known:
            rows.append(dict(grp="Residual", var1=None, var2=None, vcov=self.state.scale,
                             sdcor=self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, per grouping term."""
        sysl = self.state.system
        out: dict[str, pd.DataFrame] = {}
        for k, blk in enumerate(self.spec.blocks):
            term = blk.term
            if not term.has(Ability.RANEF_FRAME):
                continue
            frame = term.ranef_frame(self.state.b[sysl.col_slices[k]])
            key = term.grouping_factor if term.has(Ability.GROUPING_FACTOR) else blk.name
            # (x || g) splits one grouping factor into several terms: join their columns
            out[key] = out[key].join(frame, how="left") if key in out else frame
        return out

    def ranef_condvar(self) -> dict[str, np.ndarray]:
        """Conditional covariance matrices of each level's effects (lme4's ``condVar``).

        ``scale * T S_jj T'`` per level j, with ``S`` the inverse of the system matrix at the
        estimates (selected inversion for large sparse systems: only diagonal blocks needed).
        """
        sysl = self.state.system
        obj = self.state.objective
        # refactor at the estimates: the shared factor may since have been used elsewhere
        if hasattr(obj, "solve") and not hasattr(obj, "pirls"):
            pls = obj.solve(self.state.phi)
        elif hasattr(obj, "pirls"):
            pls = obj.pirls(self.state.phi, beta=self.state.beta).pls
        else:
            return {}
        S = pls.factor.inverse_on_pattern()
        out: dict[str, np.ndarray] = {}
        for k, blk in self._bar_blocks():
            term, s0 = blk.term, sysl.col_slices[k].start
            nc = term.nc
            T = term.T(sysl.block_phi(self.state.phi, k))
            blocks = []
            for j in range(len(term.levels)):
                i0 = s0 + j * nc
                Sj = S[i0:i0 + nc, i0:i0 + nc]
                Sj = Sj.toarray() if sp.issparse(Sj) else np.asarray(Sj)
                blocks.append(self.state.latent_scale * T @ Sj @ T.T)
            out[blk.name] = np.stack(blocks)
        return out

    # ---- fitted values and residuals ----------------------------------------------------
    @property
    def fitted(self) -> np.ndarray:
        """Conditional fitted values on the response scale."""
        return self.state.mu.copy()

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals: ``'response'``, ``'pearson'``, ``'deviance'``, ``'working'`` or
        ``'scaled'`` (Pearson residuals divided by sigma, lme4's ``scaled=TRUE``)."""
        y, mu, w = self.spec.y, self.state.mu, self.spec.weights
        if type == "response":
            r = y - mu
        elif type in ("pearson", "scaled"):
            r = (y - mu) * np.sqrt(w / self.family.variance(mu))
            if type == "scaled" or scaled:
                r = r / self.sigma
                scaled = False
        elif type == "deviance":
            d = self.family.dev_resids(y, mu, w)
            r = np.sign(y - mu) * np.sqrt(np.clip(d, 0, None))
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(self.state.eta)
        else:
            raise ValueError(f"type must be 'response', 'pearson', 'deviance', 'working' or "
                             f"'scaled', got {type!r}")
        return r / self.sigma if scaled else r

    def overdispersion(self) -> dict[str, float]:
        """Pearson chi-square / residual df, with the p-value of the chi-square test."""
        chi2 = float(np.sum(self.residuals("pearson") ** 2))
        df = self.df_resid
        return {"chisq": chi2, "ratio": chi2 / df, "df": df,
                "p": float(stats.chi2.sf(chi2, df))}

    # ---- inference ----------------------------------------------------------------------
    def coef_table(self, ddf_method: str = "nlme", view: str | None = None,
                   se: str = "conditional") -> pd.DataFrame:
        """Estimate, Std. Error, t (or z) value, df and p-value.

        Gaussian fits use t statistics with denominator degrees of freedom by nlme's
        between/within rule (``ddf_method='nlme'``, Pinheiro & Bates 2000, sec. 2.4.2) or
        Satterthwaite (``'satterthwaite'``, as lmerTest); other families use z statistics
        (as glmer).

        ``view`` says whose standard errors: ``'nlme'`` (the default with
        ``ddf_method='nlme'``: every number is ``summary(lme(...))$tTable``'s) or ``'lme4'``
        (the default with Satterthwaite). They differ for ML fits only: nlme scales the ML
        standard errors by ``sqrt(N / (N - p))`` (``summary.lme``'s ``adjustSigma``).

        ``se`` says which uncertainty they carry: ``'conditional'`` on the estimated
        covariance parameters (lme4's and nlme's, the default) or ``'joint'`` (glmmTMB's:
        with the covariance parameters' uncertainty, from the joint Hessian); see
        :meth:`vcov_fixef`.
        """
        view = view or ("nlme" if ddf_method == "nlme" else "lme4")
        if view not in ("lme4", "nlme"):
            raise ValueError(f"view must be 'lme4' or 'nlme', got {view!r}")
        if se not in ("conditional", "joint"):
            raise ValueError(f"se must be 'conditional' or 'joint', got {se!r}")
        est = self.fixef
        se = self.se if se == "conditional" else pd.Series(
            np.sqrt(np.diag(self.vcov_fixef("joint").to_numpy())), index=est.index)
        if view == "nlme" and self.is_gaussian and not self.REML:
            n, p = self.nobs, len(self.state.beta)
            se = se * np.sqrt(n / (n - p)) if n > p else se * np.nan
        tab = pd.DataFrame({"Estimate": est, "Std. Error": se})
        stat = est / se
        if self.family.scale_known:
            tab["z value"] = stat
            tab["Pr(>|z|)"] = 2 * stats.norm.sf(np.abs(stat))
            return tab
        if ddf_method == "nlme":
            df = ddf.nlme_ddf(self.spec)
        elif ddf_method == "satterthwaite":
            df = ddf.satterthwaite_ddf(self)
        else:
            raise ValueError(f"ddf_method must be 'nlme' or 'satterthwaite', got {ddf_method!r}")
        tab["t value"] = stat
        tab["df"] = df
        tab["Pr(>|t|)"] = 2 * stats.t.sf(np.abs(stat), df)
        return tab

    def vcov_fixef(self, se: str = "conditional") -> pd.DataFrame:
        """Fixed-effect covariance: ``se="conditional"`` on the covariance parameters (lme4's,
        = ``vcov``) or ``"joint"`` (glmmTMB's; NB: with theta's uncertainty); results/gp.py."""
        from .gp import vcov_fixef
        return vcov_fixef(self, se)

    def corr_fixef(self) -> pd.DataFrame:
        v = self.state.vcov_beta
        d = np.sqrt(np.diag(v))
        return pd.DataFrame(v / np.outer(d, d), index=self.spec.x_names,
                            columns=self.spec.x_names)

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, newdata: pd.DataFrame | None = None, re_form: str | None = None,
                type: str = "link", se_fit: bool = False, offset: Any = None,
                level: float | None = None, allow_new_levels: bool = False) -> Any:
        """Predictions; ``re_form='~0'`` (or ``'NA'``) gives population-level values.

        Returns an array when ``se_fit`` is False and ``newdata`` is None (the fitted
        linear predictor or response); otherwise a DataFrame with ``fit`` (and ``se_fit``).
        Unseen levels of a grouping factor are an error unless ``allow_new_levels=True``
        (then they predict at the population level), as lme4; rows with missing covariates
        predict NaN with a warning.
        """
        return predict_frame(self, newdata=newdata, re_form=re_form, type=type,
                             se_fit=se_fit, offset=offset, level=level,
                             allow_new_levels=allow_new_levels)

    # ---- summaries ----------------------------------------------------------------------
    def summary(self, view: str = "lme4") -> str:
        """A text summary in lme4's layout (``view='nlme'``: nlme's layout and numbers)."""
        if view == "nlme":
            from .summary import format_nlme_summary
            return format_nlme_summary(self)
        if view != "lme4":
            raise ValueError(f"view must be 'lme4' or 'nlme', got {view!r}")
        return "\n".join([format_lmm_summary(self), *spde_summary_lines(self)])

    def __repr__(self) -> str:
        return self.summary()

    @property
    def converged(self) -> bool:
        return self.optinfo.converged

    @property
    def singular(self) -> bool:
        return bool(self.optinfo.boundary)

    def refit_ml(self) -> MixedFit:
        """The same model refitted by maximum likelihood (for likelihood-ratio tests); see
        :func:`spatialgamm.results.refit.refit_ml`."""
        return _refits("refit_ml")(self)

    # ---- Gaussian-process and known-covariance terms (see results/gp.py) -----------------
    @property
    def gp_params(self) -> pd.DataFrame:
        """Each GP term's kernel, range (and its convention), sigma, nu, nugget and
        effective ranges (correlation 0.05 and 0.14), standard deviations on the data scale."""
        from .gp import gp_params
        return gp_params(self)

    @property
    def range(self) -> float:
        """Range of the model's only GP term (``gp_params`` names the convention), or of its
        spde() field (with its log-scale SE and interval)."""
        if spde_blocks(self):
            return field_range(self)
        from .gp import gp_range
        return gp_range(self)

    @property
    def gp_sigma(self) -> float:
        """Standard deviation of the model's only GP term."""
        from .gp import gp_sigma
        return gp_sigma(self)

    def confint(self, parm: Any = None, level: float = 0.95) -> pd.DataFrame:
        """Profile-likelihood intervals of GP / kinship parameters; Wald for fixed effects."""
        from .gp import confint
        return confint(self, parm=parm, level=level)

    def simulate_field(self, newdata: pd.DataFrame, n: int = 100, seed: int | None = None,
                       type: str = "link", offset: Any = None) -> np.ndarray:
        """Joint conditional draws of the linear predictor at new points (n columns)."""
        from .gp import simulate_field
        return simulate_field(self, newdata, n=n, seed=seed, type=type, offset=offset)

    def heritability(self, term: str | None = None) -> pd.Series:
        """h2 of a kinship() term with its delta-method standard error."""
        from .gp import heritability
        return heritability(self, term=term)

    # ---- bootstrap ----------------------------------------------------------------------
    def bootstrap(self, n: int = 1000, kind: str = "parametric", **kwargs: Any) -> Any:
        """Parametric (bootMer's) or case (cluster) bootstrap: a ``BootstrapResult`` with
        ``.samples`` and ``.confint(level, method='percentile'|'bca')``; arguments in
        :func:`spatialgamm.results.bootstrap.bootstrap`."""
        return _refits("bootstrap")(self, n=n, kind=kind, **kwargs)


#: The refits a fit hands itself to (``refit_ml``, ``bootstrap``), filled by
#: :mod:`.refit` when it is imported: a fit does not refit itself, so this module imports
#: no assembler (the assemblers import it).
REFITS: dict[str, Callable[..., Any]] = {}


def _refits(name: str) -> Callable[..., Any]:
    fn = REFITS.get(name)
    if fn is None:  # only when this module is used without the package's __init__
        raise RuntimeError(f"{name}: import spatialgamm.results.refit first (it provides "
                           "the refits)")
    return fn
