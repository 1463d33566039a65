"""Plots of fitted smooths (mgcv's ``plot.gam``)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def plot_smooths(fit, select: int | None = None, ax=None, n: int = 100, n2: int = 60,
                 cmap: str = "viridis"):
    """One panel per smooth: 1-D curve with a +-2 SE band and a rug; 2-D filled contour
    of the smooth with the data locations. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    smooths = fit._smooths()
    if select is not None:
        smooths = [smooths[select]]
    if not smooths:
        raise ValueError("the model has no smooth terms to plot")
    if ax is None:
        fig, axes = plt.subplots(1, len(smooths), figsize=(5 * len(smooths), 4), squeeze=False)
        axes = axes.ravel()
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    data = fit.spec.data
    for a, (_k, t, _) in zip(axes, smooths):
        vars_ = t.spec.variables
        if len(vars_) == 1 and t.spec.bs != "re":
            v = vars_[0]
            x = np.linspace(data[v].min(), data[v].max(), n)
            nd = pd.DataFrame({v: x})
            if t.spec.by and t.spec.by in data:
                nd[t.spec.by] = pd.Categorical([t.spec.by_level] * n,
                                               categories=data[t.spec.by].cat.categories) \
                    if t.spec.by_level is not None else 1.0
            pr = fit.predict(nd, type="terms", se_fit=True)
            f, se = pr[t.name].to_numpy(), pr[f"se({t.name})"].to_numpy()
            a.plot(x, f, color="k")
            a.fill_between(x, f - 2 * se, f + 2 * se, color="0.8")
            a.plot(data[v], np.full(len(data), a.get_ylim()[0]), "|", color="0.4")
            a.set_xlabel(v)
            a.set_ylabel(f"{t.name} ({fit.edf[t.name]:.2f})")
        elif len(vars_) == 2:
            vx, vy = vars_
            gx = np.linspace(data[vx].min(), data[vx].max(), n2)
            gy = np.linspace(data[vy].min(), data[vy].max(), n2)
            X, Y = np.meshgrid(gx, gy)
            nd = pd.DataFrame({vx: X.ravel(), vy: Y.ravel()})
            f = fit.predict(nd, type="terms")[t.name].to_numpy().reshape(X.shape)
            cs = a.contourf(X, Y, f, levels=20, cmap=cmap)
            fig.colorbar(cs, ax=a, label=t.name)
            a.plot(data[vx], data[vy], ".", color="k", ms=2)
            a.set_xlabel(vx)
            a.set_ylabel(vy)
            a.set_aspect("equal", adjustable="box")
            a.set_title(f"{t.name}, edf {fit.edf[t.name]:.2f}")
        else:
            a.text(0.5, 0.5, f"{t.name}: no plot for this smooth", ha="center",
                   transform=a.transAxes)
    fig.tight_layout()
    return fig
