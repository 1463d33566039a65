"""Bootstrap of a fitted mixed model: parametric (lme4's ``bootMer``) and case (cluster).

``kind="parametric"``
    Each replicate draws new random effects from their fitted distribution and a new
    response from the family, and refits the same model (same blocks and design; only ``y``
    changes, starting from the fitted parameters), as ``bootMer(type="parametric")``.
``kind="case"``
    Each replicate draws the groups of one grouping factor with replacement, relabels each
    copy of a group as a level of its own (and the levels of factors nested within it), and
    refits the model to those rows (Davison & Hinkley 1997, sec. 3.8; Field & Welsh 2007).

Recorded per replicate: fixed effects, the ``sdcor`` entries of ``varcorr`` (SDs and
correlations), the residual SD (families with an estimated scale), the negative binomial
theta (when estimated) and, with ``newdata``, population-level predictions (``re_form='~0'``).
Intervals: percentile, or BCa with the acceleration from a jackknife over the groups.

Refits follow the engine's BLAS rule (``engine/threads.py``): one thread below 1,500 latent +
fixed columns, where a refit is hundreds of calls on small matrices that threads only slow
down (100 sleepstudy refits on a busy 2-core machine: 38-53 s with threaded BLAS, 2.9 s
with one thread). Replicate ``i`` draws from its own stream
``SeedSequence(seed).spawn(n)[i]``, so the numbers depend on the seed alone, not on the
order or the threads the replicates run in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine.threads import blas_threads_for
from . import bootstrap_ci
from .bootstrap_refit import (
    CaseRefitter,
    ParametricRefitter,
    PredictionRows,
    Replicate,
    default_group,
    from_fit,
    statistics,
)

#: what a failed refit may raise (the replicate is then dropped and counted)
_REFIT_ERRORS = (np.linalg.LinAlgError, RuntimeError, ValueError, FloatingPointError)


def simulate_response(fit, rng: np.random.Generator) -> np.ndarray:
    """One draw of the response from the fitted model (new random effects, new noise).

    Binomial responses are proportions of the prior weights (trials), as the fit's ``y``.
    """
    st, spec = fit.state, fit.spec
    sysl = st.system
    eta = spec.offset + spec.X @ st.beta
    if sysl.q:
        P, _ = sysl.precision(st.phi)
        if P is None:
            u = rng.standard_normal(sysl.q) * np.sqrt(st.latent_scale)
        else:  # precision blocks: u ~ N(0, s P^-1) via P = L L'
            from ..engine.linalg import make_factor
            f = make_factor(P)
            u = f.solve_Lt(rng.standard_normal(sysl.q)) * np.sqrt(st.latent_scale)
        b = np.asarray(sysl.Lambda(st.phi) @ u).ravel()
        eta = eta + np.asarray(sysl.Z @ b).ravel()
    mu = spec.family.link.linkinv(eta)
    fam = spec.family.name
    w = spec.weights
    if fam == "gaussian":
        return mu + rng.standard_normal(len(mu)) * np.sqrt(st.scale / w)
    if fam == "poisson":
        return rng.poisson(mu).astype(float)
    if fam == "binomial":
        n = np.round(w).astype(int)
        return np.where(n > 0, rng.binomial(np.maximum(n, 1), mu) / np.maximum(n, 1), 0.0)
    if fam.startswith("Negative Binomial"):
        th = spec.family.theta
        return rng.negative_binomial(th, th / (th + mu)).astype(float)
    if fam == "Gamma":  # shape 1/scale, mean mu (prior weights scale the shape)
        shape = w / st.scale
        return rng.gamma(shape, mu / shape)
    raise NotImplementedError(f"bootstrap is not implemented for family {fam!r}")


def _seed_sequence(seed: int | np.random.Generator | np.random.SeedSequence | None
                   ) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        # one draw from the caller's generator seeds every replicate's stream
        return np.random.SeedSequence(int(seed.integers(2 ** 63)))
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(f"seed must be an int, a numpy Generator or None, got "
                    f"{type(seed).__name__}")


@dataclass
class BootstrapResult:
    """Replicates of a bootstrap and the intervals they give.

    Attributes
    ----------
    samples : DataFrame
        One row per successful replicate, one column per statistic.
    estimate : Series
        The statistics of the original fit.
    kind, group : str
        ``"parametric"`` or ``"case"``; the resampled (or jackknifed) grouping factor.
    n, n_failed, n_nonconverged, n_singular : int
        Replicates asked for, refits that failed (dropped), refits that did not converge
        or ended on a boundary (kept, as bootMer does).
    level, ci : float, str
        Defaults of :meth:`confint` and :attr:`table`.
    """

    samples: pd.DataFrame
    estimate: pd.Series
    kind: str
    group: str | None
    n: int
    n_failed: int
    n_nonconverged: int
    n_singular: int
    level: float = 0.95
    ci: str = "percentile"
    seed_entropy: int | None = None
    _jack: Any = field(default=None, repr=False)  # DataFrame, or a callable making it

    @property
    def se(self) -> pd.Series:
        """Bootstrap standard errors (SD of the replicates)."""
        return self.samples.std(ddof=1).rename("boot_sd")

    @property
    def bias(self) -> pd.Series:
        """Mean of the replicates minus the estimate."""
        return (self.samples.mean() - self.estimate).rename("bias")

    @property
    def jackknife(self) -> pd.DataFrame:
        """Leave-one-group-out statistics (one row per group), computed on first use."""
        if callable(self._jack):
            self._jack = self._jack()
        if self._jack is None:
            raise ValueError("no jackknife: the bootstrap has no group to leave out")
        return self._jack

    @property
    def acceleration(self) -> pd.Series:
        """BCa acceleration of each statistic (jackknife over the groups)."""
        return bootstrap_ci.acceleration(self.jackknife)

    def confint(self, level: float | None = None, method: str | None = None) -> pd.DataFrame:
        """Intervals: ``method='percentile'`` or ``'bca'`` (default: the bootstrap's ``ci``).

        Returns a DataFrame indexed by statistic with columns estimate, lower, upper.
        """
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        method = (self.ci if method is None else method).lower()
        if method == "percentile":
            iv = bootstrap_ci.percentile(self.samples, level)
        elif method == "bca":
            iv = bootstrap_ci.bca(self.samples, self.estimate, self.acceleration, level)
        else:
            raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
        return pd.concat([self.estimate.rename("estimate"), iv], axis=1)

    @property
    def table(self) -> pd.DataFrame:
        """estimate, boot_mean, boot_sd, bias, lower, upper, n_ok per statistic."""
        iv = self.confint()
        return pd.DataFrame({"estimate": self.estimate, "boot_mean": self.samples.mean(),
                             "boot_sd": self.se, "bias": self.bias, "lower": iv["lower"],
                             "upper": iv["upper"],
                             "n_ok": self.samples.notna().sum()}).loc[self.estimate.index]

    # the table's view, as the DataFrame ``fit.bootstrap()`` used to return
    def __getitem__(self, key: Any) -> Any:
        return self.table[key]

    @property
    def loc(self) -> Any:
        return self.table.loc

    @property
    def index(self) -> pd.Index:
        return self.estimate.index

    def __repr__(self) -> str:
        head = (f"{self.kind} bootstrap: {len(self.samples)} of {self.n} refits"
                f"{f' (groups of {self.group})' if self.kind == 'case' else ''}; "
                f"{self.n_failed} failed, {self.n_nonconverged} not converged, "
                f"{self.n_singular} singular; {self.ci} {self.level:.0%} intervals")
        return head + "\n" + self.table.to_string()


def _width(fit) -> int:
    """Latent + fixed columns: what the engine's BLAS-thread rule looks at."""
    return fit.spec.p + sum(b.q for b in fit.spec.blocks)


def _run(fn, draws: list, progress: bool, desc: str, pred: PredictionRows | None
         ) -> tuple[list[dict], int, int, int]:
    rows, failed, noconv, sing = [], 0, 0, 0
    for d in tqdm(draws, disable=not progress, desc=desc, leave=False):
        try:
            rep: Replicate = fn(d)
        except _REFIT_ERRORS:
            failed += 1
            continue
        noconv += not rep.converged
        sing += rep.singular
        rows.append(statistics(rep, pred))
    return rows, failed, noconv, sing


def jackknife(fit, group: str, pred: PredictionRows | None = None,
              progress: bool = False) -> pd.DataFrame:
    """Statistics of the fit with each group of ``group`` left out in turn."""
    refit = CaseRefitter(fit, group)
    G = refit.design.n_groups
    draws = [np.delete(np.arange(G), j) for j in range(G)]
    with warnings.catch_warnings(), blas_threads_for(_width(fit)):
        warnings.simplefilter("ignore")
        rows, failed, _, _ = _run(refit, draws, progress, "jackknife", pred)
    if not rows:
        raise RuntimeError("every jackknife refit failed")
    return pd.DataFrame(rows)


def bootstrap(fit, n: int = 1000, kind: str = "parametric", group: str | None = None,
              seed: int | np.random.Generator | None = None, ci: str = "percentile",
              level: float = 0.95, newdata: pd.DataFrame | None = None,
              type: str = "link", offset: Any = None,
              progress: bool = False) -> BootstrapResult:
    """Bootstrap a fitted mixed model (see the module docstring).

    Parameters
    ----------
    fit : MixedFit
    n : int
        Number of replicates.
    kind : {"parametric", "case"}
    group : str, optional
        Grouping column whose groups are resampled (case) or left out in the BCa jackknife;
        default the model's grouping factor that all others are nested in.
    seed : int, numpy Generator or None
        Same seed, same replicates.
    ci : {"percentile", "bca"}
        Default interval of :meth:`BootstrapResult.confint`; ``"bca"`` runs the jackknife
        (one refit per group) now, otherwise it runs when BCa intervals are first asked for.
    level : float
        Default confidence level.
    newdata : DataFrame, optional
        Rows at which population-level predictions (``re_form='~0'``) are recorded, as
        ``pred[<index>]`` on the ``type`` scale (``'link'`` or ``'response'``); ``offset``
        as in ``predict``.
    progress : bool
        A tqdm progress bar.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.lmer("Reaction ~ Days + (1 | Subject)", sg.datasets.load_sleepstudy())
    >>> bt = m.bootstrap(n=20, kind="case", seed=1)
    >>> bt.samples.shape
    (20, 4)
    >>> list(bt.confint(method="percentile").columns)
    ['estimate', 'lower', 'upper']
    """
    kind = str(kind).lower()
    if kind not in ("parametric", "case"):
        raise ValueError(f"kind must be 'parametric' or 'case', got {kind!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of replicates, got {n!r}")
    ci = str(ci).lower()
    if ci not in ("percentile", "bca"):
        raise ValueError(f"ci must be 'percentile' or 'bca', got {ci!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    jgroup = group
    if jgroup is None:
        try:
            jgroup = default_group(fit)
        except ValueError:
            if ci == "bca":
                raise ValueError("BCa intervals jackknife over the groups of a grouping "
                                 "factor: pass group=") from None
            jgroup = None
    pred = PredictionRows.build(fit, newdata, type, offset) if newdata is not None else None
    ss = _seed_sequence(seed)
    streams = [np.random.default_rng(s) for s in ss.spawn(int(n))]
    estimate = pd.Series(statistics(from_fit(fit), pred), dtype=float)
    with warnings.catch_warnings(), blas_threads_for(_width(fit)):
        warnings.simplefilter("ignore")
        if kind == "parametric":
            para = ParametricRefitter(fit)

            def refit(rng: np.random.Generator) -> Replicate:
                return para(simulate_response(fit, rng))
            draws: list = streams
        else:
            case = CaseRefitter(fit, group)
            refit = case  # type: ignore[assignment]
            group = case.design.group
            G = case.design.n_groups
            draws = [r.integers(0, G, G) for r in streams]
        rows, failed, noconv, sing = _run(refit, draws, progress, f"{kind} bootstrap", pred)
    if not rows:
        raise RuntimeError(f"every one of the {n} bootstrap refits failed")
    samples = pd.DataFrame(rows).reindex(columns=estimate.index)
    jack: Any = None
    if jgroup is not None:
        def jack() -> pd.DataFrame:
            return jackknife(fit, jgroup, pred, progress).reindex(columns=estimate.index)
    res = BootstrapResult(samples, estimate, kind, group if kind == "case" else jgroup,
                          int(n), failed, noconv, sing, level=level, ci=ci,
                          seed_entropy=ss.entropy, _jack=jack)
    if ci == "bca":
        _ = res.jackknife
    return res
