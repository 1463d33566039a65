"""Priors of the INLA-style fit: densities integrate to one on the internal scale, their
gradients match differences, and the PC priors say what they were asked (issue 15, item 1).

References are properties of the distributions (quadrature and scipy), not package output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from spatialgamm.bayes import HalfNormal, HalfT, LogGamma, PCMatern, PCPrec, inla
from spatialgamm.bayes.priors import FixedEffectsPrior, as_sd_prior

ONE_DIM = [LogGamma(1.0, 5e-5), LogGamma(2.0, 0.5), PCPrec(1.0, 0.01), PCPrec(0.3, 0.5),
           HalfNormal(1.0), HalfNormal(0.2), HalfT(3.0, 1.0), HalfT(1.0, 2.5)]


@pytest.mark.parametrize("prior", ONE_DIM, ids=lambda p: p.describe())
def test_one_dim_priors_integrate_to_one_with_exact_gradient(prior):
    f = lambda t: np.exp(prior.logpdf(np.array([t])))  # noqa: E731
    total = sum(integrate.quad(f, a, b, limit=200)[0]
                for a, b in [(-80, -20), (-20, 0), (0, 20), (20, 60)])
    assert total == pytest.approx(1.0, abs=1e-6)
    for t in (-3.0, 0.0, 1.7):
        h = 1e-6
        fd = (prior.logpdf(np.array([t + h])) - prior.logpdf(np.array([t - h]))) / (2 * h)
        assert float(prior.grad(np.array([t]))[0]) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_loggamma_is_the_gamma_density_of_the_precision():
    p = LogGamma(1.5, 0.3)
    tau = 2.2  # pi(theta) = Gamma(tau; a, b) * tau
    assert p.logpdf(np.array([np.log(tau)])) == pytest.approx(
        stats.gamma(1.5, scale=1 / 0.3).logpdf(tau) + np.log(tau), rel=1e-12)


def test_pc_prec_tail_statement():
    p = PCPrec(0.7, 0.05)  # P(sd > 0.7) = 0.05; sd > 0.7 <=> theta < -2 log 0.7
    tail = integrate.quad(lambda t: np.exp(p.logpdf(np.array([t]))), -60, -2 * np.log(0.7))[0]
    assert tail == pytest.approx(0.05, abs=1e-7)


def test_pc_matern_statements_and_gradient():
    p = PCMatern(prior_range=(50.0, 0.1), prior_sigma=(2.0, 0.05))
    dens = lambda lr, ls: np.exp(p.logpdf(np.array([lr, ls])))  # noqa: E731
    # the two statements on the log scale: P(range < 50) = 0.1, P(sigma > 2) = 0.05
    pr = integrate.dblquad(lambda ls, lr: dens(lr, ls), -10, np.log(50.0), -25, 8)[0]
    ps = integrate.dblquad(lambda ls, lr: dens(lr, ls), -10, 25, np.log(2.0), 8)[0]
    assert pr == pytest.approx(0.1, abs=1e-5)
    assert ps == pytest.approx(0.05, abs=1e-5)
    th = np.array([np.log(80.0), np.log(0.7)])
    g = p.grad(th)
    for i in range(2):
        e = np.zeros(2)
        e[i] = 1e-6
        assert g[i] == pytest.approx((p.logpdf(th + e) - p.logpdf(th - e)) / 2e-6, rel=1e-6)


def test_bad_priors_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="PCPrec alpha"):
        PCPrec(1.0, 1.5)
    with pytest.raises(ValueError, match="prior_range r0"):
        PCMatern((-1.0, 0.5), (1.0, 0.5))
    with pytest.raises(ValueError, match="prec"):
        FixedEffectsPrior(prec=-1.0)
    with pytest.raises(ValueError, match="priors\\['g'\\]"):
        as_sd_prior("vague", "g")
    d = pd.DataFrame({"y": np.arange(6.0), "g": list("aabbcc")})
    with pytest.raises(ValueError, match="unknown term"):
        inla("y ~ 1 + (1 | g)", d, priors={"h": LogGamma()})
    with pytest.raises(ValueError, match="control_compute"):
        inla("y ~ 1", d, control_compute={"cpo ": True})


def test_prior_summary_lists_defaults():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.normal(size=20), "g": np.repeat(list("abcde"), 4)})
    fit = inla("y ~ 1 + (1 | g)", d, priors={"g": PCPrec(1.0, 0.01)})
    tab = fit.prior_summary().set_index("term")
    assert tab.loc["g", "prior"].startswith("pc.prec") and not tab.loc["g", "default"]
    assert tab.loc["Gaussian observations", "default"]
    assert tab.loc["fixed effects", "default"]


def test_inla_refuses_exposures_that_are_not_numbers():
    import numpy as np
    import pandas as pd

    import spatialgamm as sg

    d = pd.DataFrame({"y": [1, 2, 3, 4], "t": ["a", "b", "c", "d"]})
    with pytest.raises(ValueError, match="E must be numeric exposures"):
        sg.inla("y ~ 1", d, family="poisson", E="t")
    with pytest.raises(ValueError, match="positive finite exposures"):
        sg.inla("y ~ 1", d, family="poisson", E=np.zeros(4))
