"""The fitted Bayesian model: draws as ArviZ InferenceData and brms's workflow on top.

Everything diagnostic or predictive-comparison is ArviZ's (``az.rhat``, ``az.ess``,
``az.loo`` with the Pareto k table, ``az.waic``, ``az.compare``, ``az.plot_trace``,
``az.plot_ppc``), not re-implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .draws import coef_label, stack_chains
from .effects import ConditionalEffects, conditional_effects, effect_grid
from .engine_adapter import ModelData
from .hypothesis import fixed_prior_draws
from .hypothesis import hypothesis as _hypothesis
from .priors import Prior, prior_summary
from .smooth_terms import fixed_var, smooth_linpred, smooth_texts
from .summary import BrmsSummary, summary_rows


@dataclass
class BrmsFit:
    """A model sampled by :func:`spatialgamm.brm` (or the Gibbs sampler).

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior`` (brms's names), ``log_likelihood``, ``posterior_predictive``,
        ``observed_data``, ``sample_stats``.
    model : ModelData
    priors : list of Prior
    sampler : str
        ``"nuts"`` or ``"gibbs"``.
    seconds : float
        Wall time of the sampling (all chains, with warm-up).
    """

    idata: Any
    model: ModelData
    priors: list[Prior]
    sampler: str = "nuts"
    settings: dict = field(default_factory=dict)
    seconds: float = float("nan")
    density: Any = field(default=None, repr=False)

    # ---- spatial attributes predict_grid reads -------------------------------------------
    @property
    def fields(self) -> list:
        """The latent fields (gp(), hsgp(), spde()) of the model; empty for bars only."""
        return list(getattr(self.density, "fields", []) or [])

    @property
    def family(self):
        return self.model.family

    @property
    def data(self) -> pd.DataFrame:
        return self.model.data

    @property
    def spatial_coords(self) -> tuple[str, str] | None:
        """Coordinate columns of the first two-dimensional field (None without one)."""
        for f in self.fields:
            cov = getattr(f, "variables", None) or f.part.covars
            if len(cov) == 2:
                return tuple(cov)
        return None

    crs = None

    # ---- what brms prints --------------------------------------------------------------
    @property
    def fixed_names(self) -> list[str]:
        return [coef_label(n) for n in self.model.x_names]

    def summary(self, prob: float = 0.95) -> BrmsSummary:
        """brms's ``summary()``: group-level, population-level and family rows."""
        post = self.idata.posterior
        md = self.model
        random = {}
        for t in md.terms:
            if t.smooth is not None:
                continue
            labels = [coef_label(c) for c in t.cov_names]
            names = [f"sd_{t.group}__{c}" for c in labels]
            lab = [f"sd({c})" for c in labels]
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    names.append(f"cor_{t.group}__{labels[i]}__{labels[j]}")
                    lab.append(f"cor({labels[i]},{labels[j]})")
            df = summary_rows(post, names, lab, prob)
            if t.group in random:  # (1 | g) + (0 + x | g): one group, brms's one table
                df = pd.concat([random[t.group], df])
            df.attrs["levels"] = t.n_levels
            random[t.group] = df
        fixed = summary_rows(post, [fixed_var(n, md.smooth_fixed) for n in self.fixed_names],
                             self.fixed_names, prob)
        sm = [t.smooth.name for t in md.smooth_terms]
        smooths = summary_rows(post, [f"sds_{n}" for n in sm], [f"sds({n})" for n in sm],
                               prob) if sm else pd.DataFrame()
        fam_pars = [v for v in ("sigma", "shape") if v in post]
        spec = summary_rows(post, fam_pars, fam_pars, prob) if fam_pars else pd.DataFrame()
        fnames = [nm for f in self.fields for nm in f.hyper_names]
        flabels = [f"{nm.split('_', 1)[0]}({nm.split('_', 1)[1]})" for nm in fnames]
        gp_rows = summary_rows(post, fnames, flabels, prob) if fnames else pd.DataFrame()
        st = self.idata.sample_stats
        div = int(st["diverging"].values.sum()) if "diverging" in st else 0
        C, S = post.sizes["chain"], post.sizes["draw"]
        fam = f"{md.family.name} \n  Links: mu = {md.family.link.name}"
        for v in fam_pars:
            fam += f"; {v} = identity"
        s = self.settings
        draws = (f"{C} chains, each with iter = {s.get('warmup', 0) + S * s.get('thin', 1)}; "
                 f"warmup = {s.get('warmup', 0)}; thin = {s.get('thin', 1)};\n         "
                 f"total post-warmup draws = {C * S}")
        return BrmsSummary(formula=md.formula, family=fam, draws=draws, random=random,
                           fixed=fixed, spec_pars=spec, divergences=div, fields=gp_rows,
                           smooths=smooths,
                           sampler="NUTS (nutpie)" if self.sampler == "nuts" else
                           "the Gibbs sampler (conjugate updates)")

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """Population-level effects: Estimate, Est.Error and the interval (brms's fixef)."""
        return self.summary(prob).fixed.iloc[:, :4]

    def prior_summary(self) -> pd.DataFrame:
        """brms's ``prior_summary()``: the prior of every class, coefficient and group."""
        md = self.model
        out = prior_summary(self.priors, self.fixed_names,
                            self._groups(),
                            md.is_gaussian_identity, "(Intercept)" in md.x_names,
                            {t.group for t in md.terms if t.nc > 1},
                            shape="shape" in self.idata.posterior,
                            smooths=smooth_texts(md))
        return pd.concat([out, field_prior_rows(self.priors, self.fields)],
                         ignore_index=True)

    def _groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.model.terms:
            if t.smooth is None:
                out.setdefault(t.group, []).extend(coef_label(c) for c in t.cov_names)
        return out

    def draws(self, var: str) -> np.ndarray:
        """All draws of a posterior variable, chains stacked."""
        if var not in self.idata.posterior:
            raise KeyError(f"no posterior variable {var!r}; known: "
                           f"{list(self.idata.posterior.data_vars)}")
        return stack_chains(self.idata, var)

    # ---- predictive comparison ---------------------------------------------------------
    def loo(self, pointwise: bool = True):
        """PSIS-LOO (ArviZ): elpd_loo, p_loo, its SE and the Pareto k diagnostics; ``looic``
        is ``-2 * elpd_loo``."""
        import arviz as az

        return az.loo(self.idata, pointwise=pointwise)

    def waic(self, pointwise: bool = True):
        import arviz as az

        return az.waic(self.idata, pointwise=pointwise)

    # ---- hypotheses and effects --------------------------------------------------------
    def hypothesis(self, text: str | list[str], alpha: float = 0.05) -> pd.DataFrame:
        """brms's ``hypothesis()`` on population-level effects, e.g. ``"Days > 10"``; point
        hypotheses (``"Days = 10"``) get the Savage-Dickey evidence ratio from draws of the
        priors (NaN with a note where a prior is flat)."""
        d = {n: self.draws(fixed_var(n, self.model.smooth_fixed)) for n in self.fixed_names}
        pri = fixed_prior_draws(self.priors, self.fixed_names, len(next(iter(d.values()))),
                                self.settings.get("seed", 0))
        return _hypothesis(d, text, alpha, priors=pri)

    def fitted_population(self, newdata: pd.DataFrame) -> np.ndarray:
        """Draws (S x rows) of the expected response at ``newdata`` without group effects
        (smooths included, latent fields not)."""
        return self.model.family.link.linkinv(smooth_linpred(self.model, self.idata,
                                                             newdata))

    def conditional_effects(self, effect: str, prob: float = 0.95, spaghetti: bool = False,
                            ndraws: int = 100, resolution: int = 100,
                            seed: int = 0) -> ConditionalEffects:
        """brms's ``conditional_effects()`` for one predictor (group effects left out).

        Binomial models give the success probability (brms gives expected counts at
        ``trials = 1``, the same number).
        """
        md = self.model
        grid = effect_grid(md.data, md.fixed_columns(), effect, resolution)
        return conditional_effects(self.fitted_population(grid), grid, effect, prob,
                                   spaghetti, ndraws, seed)

    # ---- fields: predictions and posterior maps -------------------------------------------
    def posterior_linpred(self, newdata: pd.DataFrame, ndraws: int | None = None,
                          seed: int = 0, offset: float = 0.0) -> np.ndarray:
        """Draws (S x rows) of the linear predictor at ``newdata`` without group-level effects
        (brms's ``re_formula = NA``); exact GPs are drawn from their conditional at the new
        points given each draw's site values (per point). ``ndraws`` thins evenly."""
        from .spatial import eta_new, raw_draws

        if self.density is None or not self.fields:
            out = smooth_linpred(self.model, self.idata, newdata) + offset
            return out if ndraws is None else out[thin_index(len(out), ndraws)]
        x = raw_draws(self.idata, self.density)
        if ndraws is not None:
            x = x[thin_index(len(x), ndraws)]
        return eta_new(self.density, self.model, newdata, x, np.random.default_rng(seed),
                       offset)

    def posterior_epred(self, newdata: pd.DataFrame, ndraws: int | None = None,
                        seed: int = 0, offset: float = 0.0) -> np.ndarray:
        """Draws of the expected response at ``newdata`` (brms's ``posterior_epred`` with
        ``re_formula = NA``; binomial: the success probability)."""
        eta = self.posterior_linpred(newdata, ndraws, seed, offset)
        return self.model.family.link.linkinv(eta)

    def predict_grid(self, polygon: Any, n: Any = None, **kw: Any):
        """Posterior maps over a grid on ``polygon``: per cell the posterior mean, sd, median,
        2.5% / 97.5% quantiles of the response and exceedance probabilities, from the draws
        (:func:`spatialgamm.mcmc.maps.posterior_grid`, which documents the arguments)."""
        from .maps import posterior_grid

        return posterior_grid(self, polygon, n, **kw)

    # ---- plots (ArviZ) -----------------------------------------------------------------
    def plot_trace(self, var_names: list[str] | None = None, **kw):
        """Posterior densities and traces per chain (``az.plot_trace``)."""
        import arviz as az

        names = var_names or [v for v in self.idata.posterior.data_vars
                              if not v.startswith(("r_", "zgp_", "z_"))]
        return az.plot_trace(self.idata, var_names=names, **kw)

    def pp_check(self, num_pp_samples: int = 50, **kw):
        """Posterior predictive check (``az.plot_ppc``)."""
        import arviz as az

        return az.plot_ppc(self.idata, num_pp_samples=num_pp_samples, **kw)

    def __repr__(self) -> str:
        return str(self.summary())


def thin_index(total: int, ndraws: int) -> np.ndarray:
    """``ndraws`` evenly spaced indices of ``total`` draws (all when ``ndraws >= total``)."""
    if not (isinstance(ndraws, (int, np.integer)) and ndraws >= 1):
        raise ValueError(f"ndraws must be a positive integer, got {ndraws!r}")
    return np.unique(np.linspace(0, total - 1, min(ndraws, total)).round().astype(int))


def field_prior_rows(priors: list[Prior], fields: list) -> pd.DataFrame:
    """prior_summary rows of the latent fields: sdgp / lscale per GP (brms), the PC prior of
    each spde() field."""
    rows = []
    for f in fields:
        if hasattr(f, "part"):
            for cls, pr in (("sdgp", f.sdgp_prior), ("lscale", f.lscale_prior)):
                rows.append(dict(prior=pr.dist, **{"class": cls}, coef=f.label, group="",
                                 source=pr.source))
        else:
            (r0, pr), (s0, ps) = f.prior_range, f.prior_sigma
            rows.append(dict(prior=f"pc_matern(P(range < {r0:g}) = {pr:g}, "
                             f"P(sigma > {s0:g}) = {ps:g})", **{"class": "spde"},
                             coef=f.label, group="", source=f.prior_source))
    return pd.DataFrame(rows, columns=["prior", "class", "coef", "group", "source"])


def loo_compare(*fits: BrmsFit, names: list[str] | None = None) -> pd.DataFrame:
    """Compare fits by PSIS-LOO (``az.compare``): ranked, with elpd differences and their SE.

    ``elpd_diff`` and ``se_diff`` are brms's columns (0 for the best model).
    """
    import arviz as az

    if len(fits) < 2:
        raise ValueError("loo_compare needs at least two fits")
    names = names or [f"fit{i + 1}" for i in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError(f"names has {len(names)} entries for {len(fits)} fits")
    n = {f.model.n for f in fits}
    if len(n) > 1:
        raise ValueError(f"loo_compare: the fits have different numbers of observations {n}")
    cmp = az.compare({nm: f.idata for nm, f in zip(names, fits)}, ic="loo")
    cmp["elpd_diff"] = -cmp["elpd_diff"]
    return cmp.rename(columns={"dse": "se_diff"})
