"""``inla()``: the front door, and :class:`InlaFit`, the result it returns.

Why a separate front door (``sg.inla``) rather than ``sg.fit(..., bayes=True)``: the answer
is a different kind of object (posterior marginals integrated over the hyperparameters, not a
point estimate with standard errors), it needs arguments ``fit`` has no use for (priors,
``control_compute``, the integration strategy), and R users know this call from R-INLA
(``inla(formula, data, family, E=, control.compute=)``). The formula is the package's own
(``spde(x, y, mesh=mesh)`` for the field, ``(1 | g)`` for iid effects), so a model is
written once and fitted either way.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..model import build_model
from ..terms.base import Ability
from .criteria import CLOSED, ObsLikelihood, cpo_pit, dic_waic, mlik
from .engine_adapter import EngineAdapter, HyperSlot, LaplacePoint
from .hyper import LogPosterior, ThetaPosterior, integrate
from .marginals import COLUMNS, GaussianMixture, SampledMarginal, hyper_inputs, hyper_z_draws
from .priors import (
    FixedEffectsPrior,
    HyperPrior,
    LogGamma,
    PCMatern,
    PCMGamma,
    Repeated,
    Wishart,
    as_sd_prior,
    prior_summary,
)
from .slots import user_scale

COMPUTE_KEYS = ("dic", "waic", "cpo", "mlik", "config")
N_HYPER_DRAWS = 100_000


def _default_matern(adapter: EngineAdapter, s: HyperSlot) -> PCMatern:
    """The weakly informative default of a field: ``r0`` a tenth of the mesh's diameter
    (spde()) or a third of the term's data-based start range (gp()/hsgp(): a ninth of the
    largest site distance), ``s0 = 1``, both with ``p = 0.05``."""
    blk = adapter.spec.blocks[s.block]
    if s.kind == "matern":
        nodes = blk.term.mesh.nodes
        r0 = float(np.hypot(*(nodes.max(axis=0) - nodes.min(axis=0)))) / 10.0
    else:
        r0 = float(np.exp(blk.phi_start[0])) / 3.0
    return PCMatern(prior_range=(r0, 0.05), prior_sigma=(1.0, 0.05), d=s.space_dim)


def _default_prior(adapter: EngineAdapter, s: HyperSlot) -> HyperPrior:
    """INLA's default prior of a slot (module doc of :mod:`.priors`)."""
    if s.kind in ("matern", "gp"):
        return _default_matern(adapter, s)
    if s.kind == "iid":
        return Wishart(len(s.labels))
    if s.kind == "size":
        return PCMGamma(7.0)
    if s.kind == "precision_y":
        return LogGamma(1.0, 0.01)
    if s.kind == "smooth":
        return Repeated(LogGamma(1.0, 5e-5), s.size)
    return LogGamma(1.0, 5e-5)


def _user_prior(s: HyperSlot, spec: Any, key: str) -> HyperPrior:
    """A prior the user gave for slot ``s``, checked against what the slot needs."""
    if s.kind in ("matern", "gp"):
        if isinstance(spec, Mapping):
            spec = PCMatern(spec["prior_range"], spec["prior_sigma"])
        if not isinstance(spec, PCMatern):
            raise ValueError(f"priors[{key!r}]: a spatial field takes PCMatern(prior_range="
                             f"(r0, p), prior_sigma=(s0, p)); got {spec!r}")
        return spec.with_dimension(s.space_dim)
    if s.kind == "iid":
        if not isinstance(spec, Wishart) or spec.p != len(s.labels):
            raise ValueError(f"priors[{key!r}]: a correlated bar of {len(s.labels)} terms "
                             f"takes Wishart({len(s.labels)}, r=..., R=...); got {spec!r}")
        return spec
    if s.kind == "smooth":
        if isinstance(spec, Repeated) and spec.dim == s.size:
            return spec
        return Repeated(as_sd_prior(spec, key), s.size)
    return as_sd_prior(spec, key)


def _resolve_priors(adapter: EngineAdapter, priors: Mapping[str, Any] | None,
                    prior_range: Any, prior_sigma: Any) -> tuple[dict[str, HyperPrior],
                                                               set[str]]:
    given = dict(priors or {})
    out: dict[str, HyperPrior] = {}
    defaults: set[str] = set()
    fields = [s for s in adapter.slots if s.kind in ("matern", "gp")]
    if (prior_range is not None or prior_sigma is not None) and len(fields) != 1:
        raise ValueError("prior_range= / prior_sigma= need exactly one spatial field (spde(), "
                         f"gp(), hsgp()) in the model; it has {len(fields)} (use "
                         "priors={term: PCMatern(...)})")
    for s in adapter.slots:
        key = s.term
        spec = given.pop(key, None)
        if s.kind == "noise" and spec is None:
            spec = given.pop("gaussian", None)
        if spec is None and s.kind in ("matern", "gp") and (
                prior_range is not None or prior_sigma is not None):
            if prior_range is None or prior_sigma is None:
                raise ValueError("give both prior_range=(r0, p) and prior_sigma=(s0, p)")
            spec = PCMatern(prior_range, prior_sigma)
        if spec is None:
            out[key] = _default_prior(adapter, s)
            defaults.add(key)
        else:
            out[key] = _user_prior(s, spec, key)
    if given:
        raise ValueError(f"priors: unknown term(s) {sorted(given)}; the model's hyperparameter "
                         f"terms are {[s.term for s in adapter.slots]}")
    return out, defaults


def _check_compute(control_compute: Mapping[str, bool] | None) -> dict[str, bool]:
    cc = {"dic": False, "waic": False, "cpo": False, "mlik": True, "config": False}
    for k, v in dict(control_compute or {}).items():
        if k not in COMPUTE_KEYS:
            raise ValueError(f"control_compute: unknown key {k!r}; known: {list(COMPUTE_KEYS)}")
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"control_compute[{k!r}] must be True or False; got {v!r}")
        cc[k] = bool(v)
    return cc


def inla(formula: str, data: pd.DataFrame, family: Any = "gaussian", *,
         priors: Mapping[str, Any] | None = None, fixed: FixedEffectsPrior | None = None,
         prior_range: tuple[float, float] | None = None,
         prior_sigma: tuple[float, float] | None = None,
         control_compute: Mapping[str, bool] | None = None, int_strategy: str = "ccd",
         E: Any = None, offset: Any = None, weights: Any = None, na_action: str = "omit",
         fixed_theta: Any = None, f0: float = 1.1, dz: float = 0.75,
         diff_logdens: float = 6.0, strategy: str = "gaussian") -> InlaFit:
    """Bayesian fit the INLA way: Laplace approximations integrated over the hyperparameters.

    Parameters
    ----------
    formula : str
        The package's formula, every term the engine fits (hyperparameters in brackets, on
        INLA's internal scale; :mod:`~spatialgamm.bayes.slots`): fixed effects; lme4 bars,
        ``(1 | g)`` and independent ``(0 + x | g)`` as INLA's ``iid`` (log precision),
        ``(1 + x | g)`` as ``iid2d`` .. ``iid5d`` (log marginal precisions, logit
        correlations; Wishart prior); mgcv smooths ``s()``, ``te()`` (a log precision per
        penalty; the null space joins the fixed effects with their prior); ``spde(x, y,
        mesh=mesh)`` fields, ``gp(x, y)`` and ``hsgp(x, y)`` terms with free range and SD
        (log range, log sigma; PC prior); ``offset(...)`` terms.
    data : DataFrame
    family : str or Family
        Every family of :func:`spatialgamm.families.get_family` with any of its links:
        Gaussian observations add their log precision, Gamma and inverse Gaussian the log of
        their precision ``1 / dispersion``, ``'nb'`` (size estimated) its log size, to the
        hyperparameters. Non-canonical links use the observed information in the Laplace
        step, as INLA (:mod:`~spatialgamm.bayes.observed`).
    priors : dict, optional
        Term name (as the model labels it, e.g. ``'g'``, ``'s(x)'``, ``'spde(cX, cY)'``,
        ``'gaussian'`` for the observations, ``'size'`` for the negative binomial, the
        family's name for Gamma / inverse Gaussian) -> prior (:class:`LogGamma`,
        :class:`PCPrec`, :class:`HalfNormal`, :class:`HalfT`, :class:`PCMatern`,
        :class:`Wishart`, :class:`PCMGamma`, or a tuple such as ``('pc.prec', 1, 0.01)``;
        a smooth's prior applies to each of its penalties). Unnamed terms get INLA's
        defaults (module :mod:`~spatialgamm.bayes.priors`).
    fixed : FixedEffectsPrior, optional
        Default: INLA's ``N(0, precision 0.001)``, flat intercept.
    prior_range, prior_sigma : (float, float), optional
        PC prior of the model's one spatial field (spde(), gp(), hsgp()):
        ``P(range < r0) = p``, ``P(sigma > s0) = p``. For gp()/hsgp() the range is the
        kernel's range parameter as ``fit.gp_params`` reports it.
    control_compute : dict, optional
        INLA's ``control.compute``: ``dic``, ``waic``, ``cpo`` (CPO and PIT), ``mlik``
        (default True).
    int_strategy : {'ccd', 'grid', 'eb', 'auto'}
        Integration over the hyperparameters (:mod:`~spatialgamm.bayes.hyper`); ``'auto'``
        is INLA's: the grid up to two hyperparameters, the CCD above.
    E : array or column name, optional
        Poisson exposure (INLA's ``E``): adds ``offset(log(E))``.
    offset, weights : optional
        As :func:`spatialgamm.fit` (binomial ``weights`` are trials).
    na_action : {'omit', 'fail'}
    fixed_theta : array, optional
        Hold the hyperparameters at these internal values (no integration).
    f0, dz, diff_logdens : float
        CCD radius factor; grid step and cut-off (INLA's defaults).
    strategy : {'gaussian', 'simplified.laplace'}
        Latent and fixed-effect marginals: mixtures of the conditional Gaussians, or of
        skew normals with the simplified-Laplace correction (INLA's default there;
        :mod:`~spatialgamm.bayes.simplified_laplace`).

        The defaults (``'ccd'``, ``'gaussian'``) are not R-INLA's (``'auto'``,
        ``'simplified.laplace'``), for speed: on Rongelap's SPDE Poisson model 1.0 s against
        69 s, with the same intercept marginal to 0.002. Where the latent field is weakly
        identified (long ranges against few data) the Gaussian strategy leaves the
        intercept's mean about 0.2 posterior SD off and latent intervals about 20% narrow;
        ``int_strategy='grid', strategy='simplified.laplace'`` matched an exact reference
        there (``tests/test_inlamarg_spde_mcmc.py``).

    Returns
    -------
    InlaFit

    Examples
    --------
    >>> import numpy as np, pandas as pd, spatialgamm as sg
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"y": rng.normal(1.0, 2.0, 40)})
    >>> m = sg.inla("y ~ 1", d)
    >>> round(float(m.summary_fixed.loc["(Intercept)", "mean"]), 2)
    0.88

    A random slope correlated with the intercept (INLA's ``iid2d``, Wishart prior) on lme4's
    sleepstudy, reaction times in units of 10 ms:

    >>> ss = sg.datasets.load_sleepstudy().assign(y=lambda d: d["Reaction"] / 10)
    >>> m = sg.inla("y ~ Days + (1 + Days | Subject)", ss)
    >>> m.summary_fixed["mean"].round(2).tolist()
    [25.14, 1.05]
    >>> m.summary_hyperpar.index[2]
    'Rho for Subject ((Intercept), Days)'
    >>> str(m.prior_summary().loc[1, "prior"])[:21]
    'wishart2d(r = 4, R = '
    """
    from ..api import _caller_env

    cc = _check_compute(control_compute)
    if strategy not in ("gaussian", "simplified.laplace"):
        raise ValueError(f"strategy must be 'gaussian' or 'simplified.laplace'; got {strategy!r}")
    if int_strategy not in ("ccd", "grid", "eb", "auto"):
        raise ValueError(f"int_strategy must be 'ccd', 'grid', 'eb' or 'auto'; got "
                         f"{int_strategy!r}")
    if E is not None:
        if offset is not None:
            raise ValueError("give E= (Poisson exposure) or offset=, not both")
        if isinstance(E, str) and E not in data.columns:
            raise ValueError(f"E={E!r} is not a column of data")
        try:
            e = (data[E].to_numpy(dtype=float) if isinstance(E, str)
                 else np.asarray(E, dtype=float).ravel())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"E must be numeric exposures (a column name or {len(data)} "
                             f"numbers); got values that are not numbers ({exc})") from None
        if e.shape != (len(data),) or not np.all(np.isfinite(e) & (e > 0)):
            raise ValueError(f"E must be {len(data)} positive finite exposures")
        offset = np.log(e)
    spec = build_model(formula, data, family, offset=offset, weights=weights,
                       na_action=na_action, env=_caller_env())
    fprior = fixed or FixedEffectsPrior()
    adapter = EngineAdapter(spec, fprior.precisions(spec.x_names), fprior.means(spec.x_names))
    hp, defaults = _resolve_priors(adapter, priors, prior_range, prior_sigma)
    if fixed is None:
        defaults.add("fixed effects")
    plist = [(s.index, hp[s.term]) for s in adapter.slots]
    ft = None
    if fixed_theta is not None:
        ft = np.asarray(fixed_theta, dtype=float).ravel()
        if ft.shape != (adapter.dim,):
            raise ValueError(f"fixed_theta must have {adapter.dim} values {adapter.names}; got "
                             f"{ft.shape[0]}")
    from ..engine.threads import blas_threads_for

    # many small factorisations: one BLAS thread below the engine's size threshold
    with blas_threads_for(adapter.system.q + spec.p):
        post, points = integrate(adapter, plist, int_strategy, f0=f0, dz=dz,
                                 diff_logdens=diff_logdens, fixed_theta=ft)
        fit = InlaFit(spec, adapter, post, points, hp, defaults, fprior, cc,
                      LogPosterior(adapter, plist), dz)
        if strategy == "simplified.laplace":
            from . import simplified_laplace
            simplified_laplace.apply(fit)
        return fit


class InlaFit:
    """The result of :func:`inla`: INLA's summaries, marginals, criteria and maps.

    Attributes
    ----------
    summary_fixed, summary_hyperpar, summary_hyperpar_internal : DataFrame
        INLA's tables (``mean, sd, 0.025quant, 0.5quant, 0.975quant, mode``); hyperparameters
        on the user's scale (precision, range, stdev) and on the internal one. The
        hyperparameter tables are computed on first use (a lattice of Laplace evaluations).
    summary_random : dict of DataFrame
        Every latent value of every term (``ID`` = level or mesh node).
    summary_linear_predictor, summary_fitted_values : DataFrame
        Per observation, on the link and the response scale.
    mlik : dict
        ``log p(y)`` by integration and by the Gaussian approximation.
    dic, waic : dict or None;  cpo : DataFrame or None (``cpo``, ``pit``, ``failure``)
    theta : ThetaPosterior
        Mode, Hessian, integration points and weights.
    hyper_sampling : dict
        How the hyperparameter marginals were drawn: ``method`` ('line', 'lattice' up to
        three hyperparameters; 'importance' from four), ``draws``, and for importance
        sampling the Pareto ``khat`` and ``ess`` of the weights.
    """

    def __init__(self, spec, adapter: EngineAdapter, post: ThetaPosterior,
                 points: list[LaplacePoint], priors: dict[str, HyperPrior], defaults: set[str],
                 fixed_prior: FixedEffectsPrior, compute: dict[str, bool], lp: LogPosterior,
                 dz: float):
        self.spec, self.adapter, self.theta, self.points = spec, adapter, post, points
        self.priors, self._defaults, self.fixed_prior = priors, defaults, fixed_prior
        self.compute = compute
        self.family = spec.family
        self.crs = None
        w = post.weights
        self.fixed_marginals = GaussianMixture(
            np.array([p.beta for p in points]),
            np.array([np.diag(p.post.vcov_beta) for p in points]), w)
        self.summary_fixed = self.fixed_marginals.summary(list(spec.x_names))
        eta = [adapter.observed(p) for p in points]
        self._eta = GaussianMixture(np.array([e[0] for e in eta]),
                                    np.array([e[1] for e in eta]), w)
        lat = [adapter.latent(p) for p in points]
        self._latent = GaussianMixture(np.array([x[0] for x in lat]),
                                       np.array([x[1] for x in lat]), w)
        self._lp = lp  # the hyperparameter marginals are computed on first use (below)
        self.summary_random = self._random_tables()
        self.summary_linear_predictor = self._eta.summary(
            [f"Predictor.{i + 1}" for i in range(spec.n)], mode=False)
        self.summary_fitted_values = self._fitted_table()
        # the family's parameter at each point: dispersion, or the negative binomial size
        scales = np.array([p.size if p.size is not None else p.scale for p in points])
        self.mlik = None
        if compute["mlik"] and adapter.dim and post.strategy != "fixed":
            from .hyper import ccd_design
            dw = (ccd_design(adapter.dim)[1] if post.strategy == "ccd"
                  else np.ones(len(points)))
            self.mlik = mlik(post.log_post, dw, post.eigval, post.log_post_mode,
                             post.strategy, dz)
        elif compute["mlik"]:  # hyperparameters fixed (or none): log p(y | theta)
            v = float(points[0].logml)
            self.mlik = {"log marginal-likelihood (integration)": v,
                         "log marginal-likelihood (Gaussian)": v}
        fam = spec.family
        lik = ObsLikelihood(fam.name if not hasattr(fam, "with_theta") else "nbinomial",
                            spec.y, spec.weights,
                            None if (fam.name, fam.link.name) in CLOSED else fam)
        self.dic = self.waic = self.cpo = None
        self.local = None
        if compute["dic"] or compute["waic"]:
            i0 = int(np.argmin(np.sum(post.z ** 2, axis=1)))
            dic, waic, local = dic_waic(lik, self._eta.means, self._eta.variances, w, scales,
                                        i0)
            self.dic = dic if compute["dic"] else None
            self.waic = waic if compute["waic"] else None
            self.local = local
        if compute["cpo"]:
            self.cpo = cpo_pit(lik, self._eta.means, self._eta.variances, w, scales)

    # -- hyperparameters ----------------------------------------------------------------------
    # Computed on first use: the lattice in z behind them (marginals.lattice_log_density) costs
    # 60-90 Laplace evaluations for two or three hyperparameters, more than the fit itself,
    # and maps, fixed effects and latent values do not need it.
    @functools.cached_property
    def _hyper(self) -> dict[str, SampledMarginal]:
        return self._hyper_marginals(self._lp)

    @property
    def hyper_sampling(self) -> dict[str, Any]:
        """How the hyperparameter marginals were drawn (class doc)."""
        if self.adapter.dim == 0 or self.theta.strategy == "fixed":
            return {"method": "none"}
        self._hyper  # noqa: B018 - computed on first use
        return self._hyper_sampling

    @functools.cached_property
    def summary_hyperpar(self) -> pd.DataFrame:
        """INLA's summary.hyperpar: hyperparameters on the user's scale (computed on first
        use)."""
        return self._hyper_table(user=True)

    @functools.cached_property
    def summary_hyperpar_internal(self) -> pd.DataFrame:
        """The hyperparameters on INLA's internal scale (computed on first use)."""
        return self._hyper_table(user=False)

    def _hyper_marginals(self, lp: LogPosterior) -> dict[str, SampledMarginal]:
        ad, post = self.adapter, self.theta
        d = ad.dim
        if d == 0 or post.strategy == "fixed":
            return {}
        hd = hyper_z_draws(lambda z: ad.logml(post.theta_of(z)[0])
                           + lp.prior(post.theta_of(z)[0])[0], d, N_HYPER_DRAWS,
                           **hyper_inputs(post))
        self._hyper_sampling = {"method": hd.method, "draws": len(hd.z), "khat": hd.khat,
                               "ess": hd.ess}
        if hd.khat > 0.7:
            warnings.warn(f"inla(): the importance weights of the hyperparameter marginals "
                          f"have Pareto k-hat {hd.khat:.2f} > 0.7 (ESS {hd.ess:.0f} of "
                          f"{len(hd.z)}): their quantiles are unreliable", RuntimeWarning,
                          stacklevel=3)
        th = post.theta_of(hd.z)
        out: dict[str, SampledMarginal] = {}
        for s in ad.slots:
            for j, nm in zip(range(s.index.start, s.index.stop), s.internal):
                out[nm] = SampledMarginal(nm, th[:, j], hd.weights)
            for nm, kind, vals in user_scale(s, th[:, s.index]):
                out[nm] = SampledMarginal(kind, vals, hd.weights)
        return out

    def _hyper_table(self, user: bool) -> pd.DataFrame:
        internal = set(self.adapter.names)
        rows = {k: m.summary() for k, m in self._hyper.items()
                if (k not in internal) == user and not (user and k.startswith("SD for"))}
        return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)

    @property
    def summary_sd(self) -> pd.DataFrame:
        """Standard deviations of the iid effects and of the Gaussian noise."""
        rows = {k: m.summary() for k, m in self._hyper.items() if k.startswith("SD for")}
        return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)

    # -- latent values -------------------------------------------------------------------------
    def _random_tables(self) -> dict[str, pd.DataFrame]:
        out = {}
        for k, blk in enumerate(self.spec.blocks):
            sl = self.adapter.system.col_slices[k]
            sub = GaussianMixture(self._latent.means[:, sl], self._latent.variances[:, sl],
                                  self._latent.weights)
            ids = getattr(blk.term, "levels", None)
            if (blk.term.has(Ability.GROUPING_FACTOR) and blk.term.nc > 1
                    and ids is not None and len(ids) * blk.term.nc == blk.q):
                ids = [f"{lev}.{c}" for lev in ids for c in blk.term.cov_names]
            ids = list(ids) if ids is not None and len(ids) == blk.q else list(range(blk.q))
            tab = sub.summary([str(i) for i in ids], mode=blk.q <= 500)
            tab.insert(0, "ID", ids)
            out[blk.name] = tab.reset_index(drop=True)
        return out

    def _fitted_table(self) -> pd.DataFrame:
        link = self.family.link
        x, lw = np.polynomial.hermite.hermgauss(20)
        x, w = np.sqrt(2.0) * x, lw / np.sqrt(np.pi)
        m1 = np.zeros(self.spec.n)
        m2 = np.zeros(self.spec.n)
        for k, wk in enumerate(self._eta.weights):
            eta = (self._eta.means[k][:, None]
                   + np.sqrt(self._eta.variances[k])[:, None] * x[None, :])
            mu = link.linkinv(eta)
            m1 += wk * (mu @ w)
            m2 += wk * ((mu * mu) @ w)
        tab = pd.DataFrame({"mean": m1, "sd": np.sqrt(np.maximum(m2 - m1 ** 2, 0.0))},
                           index=[f"fitted.Predictor.{i + 1}" for i in range(self.spec.n)])
        lp = self.summary_linear_predictor
        for p in (0.025, 0.5, 0.975):  # increasing links: quantiles map through
            tab[f"{p}quant"] = link.linkinv(lp[f"{p}quant"].to_numpy())
        return tab

    # -- the public views -----------------------------------------------------------------------
    def marginal(self, name: str, n: int = 201) -> pd.DataFrame:
        """The posterior density table ``(x, y)`` of a fixed effect, a hyperparameter (user's
        or internal name, as the summaries list them) or a latent value ``'term[ID]'``."""
        if name in self.spec.x_names:
            return self.fixed_marginals.table(list(self.spec.x_names).index(name), n)
        if name in self._hyper:
            return self._hyper[name].table(n)
        for k, blk in enumerate(self.spec.blocks):
            if name.startswith(blk.name + "[") and name.endswith("]"):
                ids = [str(i) for i in self.summary_random[blk.name]["ID"]]
                key = name[len(blk.name) + 1:-1]
                if key not in ids:
                    raise KeyError(f"{blk.name} has no ID {key!r}")
                j = self.adapter.system.col_slices[k].start + ids.index(key)
                return self._latent.table(j, n)
        raise KeyError(f"no marginal named {name!r}; fixed effects {list(self.spec.x_names)}, "
                       f"hyperparameters {list(self._hyper)}, latent values 'term[ID]' for "
                       f"terms {[b.name for b in self.spec.blocks]}")

    def prior_summary(self) -> pd.DataFrame:
        """The priors used, and which were INLA's defaults."""
        return prior_summary(self.priors, self.fixed_prior, self._defaults)

    @property
    def spatial_coords(self) -> tuple[str, str] | None:
        for b in self.spec.blocks:
            c = getattr(b.term, "spatial_coords", None)
            if c:
                return tuple(c)
        return None

    @property
    def range(self) -> float:
        """Posterior median of the range of the model's one spde() field (NaN without one)."""
        rows = [k for k in self.summary_hyperpar.index if k.startswith("Range for")]
        return float(self.summary_hyperpar.loc[rows[0], "0.5quant"]) if len(rows) == 1 \
            else float("nan")

    @property
    def has_offset(self) -> bool:
        return bool(self.spec.offset_exprs) or self.spec.offset_arg is not None or bool(
            np.any(self.spec.offset != 0))

    def predict_grid(self, polygon: Any, n: Any = None, **kwargs: Any):
        """Posterior maps over a grid (see :func:`spatialgamm.bayes.maps.posterior_grid`)."""
        from .maps import posterior_grid
        return posterior_grid(self, polygon, n, **kwargs)

    def summary(self) -> str:
        """A text summary like INLA's ``summary(result)``."""
        lines = [f"inla(): {self.spec.formula.text}   family: {self.family.name}",
                 f"integration: {self.theta.strategy}, {len(self.points)} points, "
                 f"{self.theta.evaluations} Laplace evaluations", "", "Fixed effects:",
                 self.summary_fixed.round(4).to_string()]
        if len(self.summary_hyperpar):
            lines += ["", "Model hyperparameters:", self.summary_hyperpar.round(4).to_string()]
        if self.mlik:
            lines += [""] + [f"{k}: {v:.3f}" for k, v in self.mlik.items()]
        if self.dic:
            lines.append(f"DIC: {self.dic['dic']:.2f} (effective parameters "
                         f"{self.dic['p_eff']:.2f})")
        if self.waic:
            lines.append(f"WAIC: {self.waic['waic']:.2f} (effective parameters "
                         f"{self.waic['p_eff']:.2f})")
        if self.cpo is not None:
            lines.append(f"CPO: sum log {np.sum(np.log(self.cpo['cpo'])):.2f}, "
                         f"{int(self.cpo['failure'].sum())} failure(s)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
