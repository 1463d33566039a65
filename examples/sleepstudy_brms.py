"""brms's workflow on sleepstudy and cbpp with spatialgamm.brm (NUTS through nutpie).

Run: python examples/sleepstudy_brms.py   (writes PNGs to outputs/)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spatialgamm.datasets import load_cbpp, load_sleepstudy  # noqa: E402
from spatialgamm.mcmc import brm, loo_compare, prior  # noqa: E402
from spatialgamm.mcmc.gibbs import gibbs_lmm  # noqa: E402

out = Path("outputs")
out.mkdir(exist_ok=True)
sleep = load_sleepstudy()

# brm(Reaction ~ Days + (Days | Subject)) with brms's default priors
fit = brm("Reaction ~ Days + (Days | Subject)", sleep, chains=4, iter=2000, seed=1)
print(fit.summary())
print(fit.prior_summary())
print(fit.loo())
print(fit.hypothesis("Days > 10"))

# conditional_effects(fit, "Days", spaghetti = TRUE)
ce = fit.conditional_effects("Days", spaghetti=True, ndraws=100)
ax = ce.plot(points=sleep, response="Reaction")
ax.figure.savefig(out / "brms_sleepstudy_days.png", dpi=120)
fit.plot_trace(["b_Days", "sd_Subject__Days", "sigma"])
plt.gcf().savefig(out / "brms_sleepstudy_trace.png", dpi=100)
fit.pp_check()
plt.gcf().savefig(out / "brms_sleepstudy_ppc.png", dpi=100)

# model comparison by PSIS-LOO
fit0 = brm("Reaction ~ Days + (1 | Subject)", sleep, chains=4, iter=2000, seed=2)
print(loo_compare(fit, fit0, names=["(Days | Subject)", "(1 | Subject)"]))

# user priors
fit_p = brm("Reaction ~ Days + (Days | Subject)", sleep, seed=3,
            prior=[prior("normal(10, 5)", "b", coef="Days"),
                   prior("exponential(0.05)", "sd", group="Subject")])
print(fit_p.prior_summary())

# the lecture notes' Gibbs sampler: N(0, 1000^2) on beta, Ga(1, 0.005) on the residual
# precision, Wishart(3, diag(0.001, 0.01)) on the random-effect precision
g = gibbs_lmm("Reaction ~ Days + (Days | Subject)", sleep, beta_prior=(0, 1e3),
              tau_prior=(1, 0.005), wishart=(3, [0.001, 0.01]), seed=4)
print(g.summary())

# brm(incidence | trials(size) ~ period + (1 | herd), family = binomial)
cb = brm("incidence | trials(size) ~ period + (1 | herd)", load_cbpp(), family="binomial",
         seed=5)
print(cb.summary())
print(cb.loo())
