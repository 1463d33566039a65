"""Sleep deprivation and reaction times: lme4's first example, with the shrinkage picture.

Fits ``Reaction ~ Days + (Days | Subject)`` by REML, prints the lme4-style summary, and saves
``outputs/sleepstudy_shrinkage.png``: per-subject least-squares lines against the mixed-model
lines, which are pulled towards the population line (partial pooling).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import spatialgamm as sg  # noqa: E402

out = Path("outputs")
out.mkdir(exist_ok=True)
d = sg.datasets.load_sleepstudy()
m = sg.lmer("Reaction ~ Days + (Days | Subject)", d)
print(m.summary())

subjects = list(d["Subject"].cat.categories)
fig, axes = plt.subplots(3, 6, figsize=(14, 7), sharex=True, sharey=True)
re = m.ranef["Subject"]
b0, b1 = m.fixef["(Intercept)"], m.fixef["Days"]
days = np.linspace(0, 9, 10)
for ax, s in zip(axes.ravel(), subjects):
    ds = d[d["Subject"] == s]
    ols = np.polyfit(ds["Days"], ds["Reaction"], 1)
    ax.plot(ds["Days"], ds["Reaction"], "o", ms=3, color="0.3")
    ax.plot(days, np.polyval(ols, days), "--", color="tab:blue", lw=1, label="within-subject OLS")
    ax.plot(days, b0 + re.loc[s, "(Intercept)"] + (b1 + re.loc[s, "Days"]) * days,
            color="tab:red", lw=1.5, label="mixed model")
    ax.plot(days, b0 + b1 * days, ":", color="k", lw=1, label="population")
    ax.set_title(f"Subject {s}", fontsize=9)
axes[0, 0].legend(fontsize=7, loc="upper left")
fig.supxlabel("Days of sleep deprivation")
fig.supylabel("Reaction time (ms)")
fig.suptitle("Shrinkage: mixed-model fits (red) are pulled from OLS (blue) towards the "
             "population line")
fig.tight_layout()
sg.save_figure(fig, out / "sleepstudy_shrinkage.png")
print(f"\nwrote {out / 'sleepstudy_shrinkage.png'}")
