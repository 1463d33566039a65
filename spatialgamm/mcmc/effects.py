"""brms's ``conditional_effects()``: the expected response along one predictor, with the other
predictors at their means (numeric) or reference levels (factors), group-level effects left
out (brms's default ``re_formula = NA``); credible bands from the draws and, with
``spaghetti=True``, individual draws' curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class ConditionalEffects:
    """The table brms returns (``estimate__`` is the posterior median, ``lower__``/``upper__``
    the central ``prob`` interval) and, optionally, spaghetti draws (``ndraws`` x grid)."""

    effect: str
    table: pd.DataFrame
    spaghetti: np.ndarray | None
    prob: float

    def plot(self, ax=None, points: pd.DataFrame | None = None, response: str | None = None):
        """Band (or spaghetti lines) along the effect; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4))
        x = self.table[self.effect]
        numeric = pd.api.types.is_numeric_dtype(x)
        if points is not None and response is not None:
            ax.scatter(points[self.effect], points[response], s=8, color="0.5", alpha=0.6)
        if numeric:
            if self.spaghetti is not None:
                for row in self.spaghetti:
                    ax.plot(x, row, color="C0", alpha=0.15, lw=0.7)
            else:
                ax.fill_between(x, self.table["lower__"], self.table["upper__"], alpha=0.3,
                                color="C0", lw=0)
            ax.plot(x, self.table["estimate__"], color="C0", lw=2)
        else:
            pos = np.arange(len(x))
            est = self.table["estimate__"].to_numpy()
            err = np.vstack([est - self.table["lower__"], self.table["upper__"] - est])
            ax.errorbar(pos, est, yerr=err, fmt="o", color="C0", capsize=4)
            ax.set_xticks(pos, [str(v) for v in x])
        ax.set_xlabel(self.effect)
        ax.set_ylabel(response or "estimate")
        return ax


def effect_grid(data: pd.DataFrame, columns: list[str], effect: str,
                resolution: int = 100) -> pd.DataFrame:
    """New data along ``effect`` with the other columns at their means / first levels."""
    if effect not in columns:
        raise ValueError(f"conditional_effects: effect {effect!r} is not a population-level "
                         f"predictor (predictors: {columns})")
    col = data[effect]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        grid = pd.DataFrame({effect: np.linspace(col.min(), col.max(), resolution)})
    else:
        levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                  else sorted(col.dropna().unique()))
        grid = pd.DataFrame({effect: pd.Categorical(levels, categories=levels)
                             if isinstance(col.dtype, pd.CategoricalDtype) else levels})
    for c in columns:
        if c == effect:
            continue
        v = data[c]
        if pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            grid[c] = float(v.mean())
        else:
            first = (v.cat.categories[0] if isinstance(v.dtype, pd.CategoricalDtype)
                     else sorted(v.dropna().unique())[0])
            grid[c] = pd.Categorical([first] * len(grid), categories=v.cat.categories) \
                if isinstance(v.dtype, pd.CategoricalDtype) else first
    return grid


def conditional_effects(mu: np.ndarray, grid: pd.DataFrame, effect: str, prob: float = 0.95,
                        spaghetti: bool = False, ndraws: int = 100,
                        seed: int = 0) -> ConditionalEffects:
    """Summarise draws ``mu`` (S x grid rows) of the expected response along ``grid``."""
    a = (1 - prob) / 2
    table = grid.copy()
    table["estimate__"] = np.median(mu, axis=0)
    table["se__"] = np.median(np.abs(mu - table["estimate__"].to_numpy()), axis=0) * 1.4826
    table["lower__"] = np.quantile(mu, a, axis=0)
    table["upper__"] = np.quantile(mu, 1 - a, axis=0)
    sp = None
    if spaghetti:
        rng = np.random.default_rng(seed)
        idx = rng.choice(mu.shape[0], size=min(ndraws, mu.shape[0]), replace=False)
        sp = mu[idx]
    return ConditionalEffects(effect=effect, table=table, spaghetti=sp, prob=prob)
