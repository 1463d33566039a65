"""brms's posterior summary: Estimate, Est.Error, l-95% CI, u-95% CI, Rhat, Bulk_ESS, Tail_ESS.

The diagnostics are ArviZ's (rank-normalised split-Rhat and bulk/tail ESS of Vehtari et al.
2021, the same definitions brms/posterior use); nothing is re-implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COLUMNS = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]


def summary_rows(posterior, names: list[str], labels: list[str], prob: float = 0.95
                 ) -> pd.DataFrame:
    """One brms summary row per scalar posterior variable."""
    import arviz as az

    if not names:
        return pd.DataFrame(columns=COLUMNS)
    ds = posterior[names]
    rhat = az.rhat(ds)
    bulk = az.ess(ds, method="bulk")
    tail = az.ess(ds, method="tail")
    a = (1 - prob) / 2
    rows = []
    for nm in names:
        v = ds[nm].values.ravel()
        rows.append([v.mean(), v.std(ddof=1), np.quantile(v, a), np.quantile(v, 1 - a),
                     float(rhat[nm]), float(bulk[nm]), float(tail[nm])])
    lo, hi = f"l-{prob:.0%} CI", f"u-{prob:.0%} CI"
    cols = ["Estimate", "Est.Error", lo, hi, "Rhat", "Bulk_ESS", "Tail_ESS"]
    return pd.DataFrame(rows, index=labels, columns=cols)


@dataclass
class BrmsSummary:
    """The parts of brms's ``summary()``: group-level, population-level and family rows."""

    formula: str
    family: str
    draws: str
    random: dict[str, pd.DataFrame] = field(default_factory=dict)
    fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    spec_pars: pd.DataFrame = field(default_factory=pd.DataFrame)
    divergences: int = 0
    sampler: str = "NUTS (nutpie)"
    fields: pd.DataFrame = field(default_factory=pd.DataFrame)  # gp() / spde() rows
    smooths: pd.DataFrame = field(default_factory=pd.DataFrame)  # sds(sx_1) rows

    def __str__(self) -> str:
        def fmt(df: pd.DataFrame) -> str:
            out = df.copy()
            for c in out.columns[:4]:
                out[c] = out[c].map(lambda v: f"{v:.2f}")
            out["Rhat"] = out["Rhat"].map(lambda v: f"{v:.2f}")
            for c in ("Bulk_ESS", "Tail_ESS"):
                out[c] = out[c].map(lambda v: f"{v:.0f}")
            return out.to_string()
        lines = [f" Family: {self.family}", f"Formula: {self.formula}", f"  Draws: {self.draws}",
                 ""]
        if len(self.smooths):
            lines += ["Smooth Terms: ", fmt(self.smooths), ""]
        if self.random:
            lines.append("Group-Level Effects: ")
            for g, df in self.random.items():
                lines += [f"~{g} (Number of levels: {df.attrs.get('levels', '?')}) ", fmt(df),
                          ""]
        if len(self.fields):
            lines += ["Gaussian Process Terms: ", fmt(self.fields), ""]
        lines += ["Population-Level Effects: ", fmt(self.fixed), ""]
        if len(self.spec_pars):
            lines += ["Family Specific Parameters: ", fmt(self.spec_pars), ""]
        if self.divergences:
            lines.append(f"Warning: {self.divergences} divergent transitions after warmup.")
        lines.append(f"Draws were sampled using {self.sampler}. For each parameter, Bulk_ESS\n"
                     "and Tail_ESS are effective sample size measures, and Rhat is the "
                     "potential\nscale reduction factor on split chains (at convergence, "
                     "Rhat = 1).")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # pragma: no cover - IPython display
        p.text(str(self))

    def table(self) -> pd.DataFrame:
        """All rows in one DataFrame (group-level rows labelled ``group: name``)."""
        parts = [df.set_axis([f"{g}: {i}" for i in df.index]) for g, df in
                 self.random.items()]
        return pd.concat([*parts, self.smooths, self.fields, self.fixed, self.spec_pars])
