"""The result of an out-of-core fit: estimates, standard errors, predictions, a summary.

Everything here works from the fit's reduced statistics (the cross-products at the
optimum's weights, :mod:`~spatialgamm.chunked.posterior`), never from the data's rows; new
data to predict at are taken ``CHUNK_ROWS`` rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..engine.system import LatentSystem
from ..terms.base import Ability
from ..terms.smooth import SmoothTerm
from .design import ModelTemplate
from .passes import CHUNK_ROWS
from .posterior import ReducedPosterior, predict_se, reduced_posterior


@dataclass
class ChunkedFit:
    """A model fitted out of core: estimates, criterion and how the search went.

    ``beta`` (fixed effects, named), ``b`` (latent coefficients, b-space), ``phi`` (the
    engine's parameters), ``sp`` (smoothing parameters of smooths), ``sigma`` (Gaussian),
    ``criterion`` (-2 x (restricted) log-likelihood), ``n``, ``optinfo``, ``timing``
    (seconds per stage), ``n_passes`` over the data; ``predict(newdata)`` gives the linear
    predictor (``type='link'``) or the mean (``'response'``) on a pandas DataFrame, with
    standard errors (``se_fit=True``). ``vcov``, :meth:`parametric_table`, ``edf``,
    ``scale`` and :meth:`summary` come from the reduced statistics at the optimum
    (``cross``: the cross-products at its weights, ``pls``: its PLS solution).
    """

    formula: str
    family: Any
    method: str
    phi: np.ndarray
    beta: pd.Series
    b: np.ndarray
    u: np.ndarray
    sigma: float | None
    criterion: float
    n: int
    optinfo: Any
    template: ModelTemplate
    n_partitions: int
    n_passes: int
    timing: dict = field(default_factory=dict)
    cross: Any = None  # engine.pls.CrossProducts at the optimum's weights
    pls: Any = None  # engine.pls.PLSResult at the optimum
    latent_scale: float = 1.0  # the scale of the latent prior (Gaussian: sigma^2)

    @property
    def fixef(self) -> pd.Series:
        return self.beta

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def sp(self) -> pd.Series:
        """Smoothing parameters of the smooths (mgcv's ``sp``: ``exp(-2 phi)``)."""
        sysm = LatentSystem(self.template.blocks, 1)
        out = {}
        for k, blk in enumerate(self.template.blocks):
            ph = self.phi[sysm.layout.slices[k]]
            if isinstance(blk.term, SmoothTerm):  # te/ti: one per margin, mgcv's labels
                labels = blk.term.sp_labels or [blk.name]
                out.update(zip(labels, np.atleast_1d(blk.term.sp(ph)).tolist()))
        return pd.Series(out, dtype=float)

    def predict(self, newdata: pd.DataFrame, type: str = "link", se_fit: bool = False
                ) -> Any:
        """The linear predictor (``'link'``, offsets included) or the mean (``'response'``)
        at the rows of ``newdata`` (a pandas DataFrame), ``CHUNK_ROWS`` rows at a time; with
        ``se_fit=True`` a DataFrame with ``fit`` and ``se_fit`` (the response scale's by the
        delta method, as mgcv's ``predict.gam``)."""
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        t = self.template
        cov = self.posterior.cov if se_fit else None
        out, ses = [], []
        for i in range(0, len(newdata), CHUNK_ROWS):
            r = t.rows(newdata.iloc[i:i + CHUNK_ROWS], response=False)
            eta = r.X @ self.beta.to_numpy()
            off = 0
            for Zk in r.Z:
                eta = eta + np.asarray(Zk @ self.b[off:off + Zk.shape[1]]).ravel()
                off += Zk.shape[1]
            out.append(eta + r.offset)
            if cov is not None:
                ses.append(predict_se(r.X, r.Z, cov))
        eta = np.concatenate(out) if out else np.zeros(0)
        fit = self.family.link.linkinv(eta) if type == "response" else eta
        if not se_fit:
            return fit
        se = np.concatenate(ses) if ses else np.zeros(0)
        if type == "response":
            se = se * np.abs(self.family.link.mu_eta(eta))
        return pd.DataFrame({"fit": fit, "se_fit": se}, index=newdata.index)

    # ---- standard errors from the reduced statistics ---------------------------------
    @cached_property
    def posterior(self) -> ReducedPosterior:
        """Covariance of ``(beta, b)``, block edf and the residual sum of squares."""
        if self.cross is None or self.pls is None:
            raise ValueError("this fit kept no statistics at its optimum")
        system = LatentSystem(self.template.blocks, self.n)
        return reduced_posterior(system, self.cross, self.pls, self.phi, self.latent_scale)

    def _smooth_null(self) -> dict[int, list[int]]:
        """Block index -> the columns of ``beta`` that are that smooth's null space."""
        names = list(self.beta.index)
        return {k: [names.index(n) for n in blk.fixed_names if n in names]
                for k, blk in enumerate(self.template.blocks) if blk.term.has(Ability.SMOOTH)}

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects ``beta`` (the Bayesian posterior's, mgcv's ``Vp``
        rows of the parametric coefficients)."""
        p = len(self.beta)
        names = list(self.beta.index)
        return pd.DataFrame(self.posterior.cov[:p, :p], index=names, columns=names)

    @property
    def edf(self) -> pd.Series:
        """Effective degrees of freedom of each latent block (a smooth's with its null
        space, as mgcv's per-smooth edf)."""
        null = self._smooth_null()
        eb = self.posterior.edf_blocks
        return pd.Series({blk.name: float(eb[k]) + len(null.get(k, []))
                          for k, blk in enumerate(self.template.blocks)})

    @property
    def edf_total(self) -> float:
        """Parametric coefficients plus every block's edf (mgcv's ``sum(edf)``)."""
        n_null = sum(len(v) for v in self._smooth_null().values())
        return len(self.beta) - n_null + float(self.edf.sum())

    @property
    def scale(self) -> float:
        """mgcv's reported scale: Gaussian ``rss / (n - edf)``; 1 for Poisson/binomial."""
        if not self.family.is_gaussian_identity:
            return 1.0
        return self.posterior.rss / (self.n - self.edf_total)

    def parametric_table(self) -> pd.DataFrame:
        """Estimate, standard error, t (estimated scale) or z value and p-value of each
        parametric coefficient (mgcv's ``p.table``: smooths' null spaces left out)."""
        null = {i for v in self._smooth_null().values() for i in v}
        idx = [i for i in range(len(self.beta)) if i not in null]
        est = self.beta.to_numpy()[idx]
        se = np.sqrt(np.diag(self.posterior.cov))[idx]
        tab = pd.DataFrame({"Estimate": est, "Std. Error": se},
                           index=[self.beta.index[i] for i in idx])
        z = est / se
        if self.family.scale_known:
            tab["z value"], tab["Pr(>|z|)"] = z, 2 * stats.norm.sf(np.abs(z))
        else:
            tab["t value"] = z
            tab["Pr(>|t|)"] = 2 * stats.t.sf(np.abs(z), self.n - self.edf_total)
        return tab

    def summary(self) -> str:
        """Family, formula, parametric coefficients, each block's edf, scale and criterion
        (the smooths' significance tests are not computed out of core)."""
        lines = [f"Family: {self.family.name}, link: {self.family.link.name}",
                 f"Formula: {self.formula}", "",
                 f"Fitted out of core: {self.n} rows in {self.n_partitions} partitions, "
                 f"{self.n_passes} passes", "", "Parametric coefficients:",
                 self.parametric_table().to_string(), "", "Latent terms (edf):",
                 self.edf.to_string(), "",
                 f"{self.method} criterion = {self.criterion:.6g}  scale est. = "
                 f"{self.scale:.6g}  total edf = {self.edf_total:.4g}  n = {self.n}"]
        return "\n".join(lines)
