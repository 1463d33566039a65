"""Marginals of two and three hyperparameters against brute-force quadrature (issue 15).

On a Gaussian model the Laplace approximation of ``p(y | theta)`` is exact, so the
posterior of the hyperparameters is known up to a constant in closed form,

    p(theta | y) ∝ N(y; 0, sigma^2 I + M S0 M') pi(theta),

and its marginals follow by brute-force quadrature on a fine grid of theta (computed here
with dense numpy from the formulas, nothing from the package). Any difference between the
fit's quantiles and these is the error of the marginal approximation alone. With 8 groups
the posterior of the group precision is visibly skewed on the log scale, which split-normal
approximations (the package's former marginals for two or more hyperparameters) miss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

from spatialgamm.bayes import FixedEffectsPrior, LogGamma, PCPrec, inla

PF = 0.01  # prior precision of both fixed effects
LG = (1.0, 5e-5)  # INLA's default log-gamma on the noise precision
PC = (1.0, 0.01)  # PC prior on the group SD: P(sd > 1) = 0.01


def _data(seed: int, groups: int = 8, per: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    h = np.tile(np.arange(per), groups)
    x = rng.normal(size=groups * per)
    y = (1.0 + 0.5 * x + rng.normal(0, 0.7, groups)[g] + rng.normal(0, 0.5, per)[h]
         + rng.normal(0, 0.6, groups * per))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


def _indicator(v: np.ndarray) -> np.ndarray:
    lev = np.unique(v)
    return (v[:, None] == lev[None, :]).astype(float)


def _log_pc(theta: np.ndarray) -> np.ndarray:
    """PC prior of a precision, on theta = log precision: sd = exp(-theta/2)."""
    lam = -np.log(PC[1]) / PC[0]
    sd = np.exp(-0.5 * theta)
    return np.log(lam) - lam * sd + np.log(0.5 * sd)


def _log_lg(theta: np.ndarray) -> np.ndarray:
    a, b = LG
    return a * np.log(b) - gammaln(a) + a * theta - b * np.exp(theta)


def _log_mlik(y, X, Zs, log_taus, log_tau_e):
    """log N(y; 0, I/tau_e + X X'/PF + sum_k Z_k Z_k'/tau_k), batched over grid points."""
    V = (np.exp(-log_tau_e)[:, None, None] * np.eye(len(y))
         + (X @ X.T / PF)[None])
    for Z, lt in zip(Zs, log_taus):
        V = V + np.exp(-lt)[:, None, None] * (Z @ Z.T)[None]
    L = np.linalg.cholesky(V)
    a = np.linalg.solve(L, np.broadcast_to(y[:, None], V.shape[:2] + (1,)))[..., 0]
    return (-0.5 * np.sum(a * a, axis=1) - np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)),
                                                   axis=1) - 0.5 * len(y) * np.log(2 * np.pi))


def _quantiles(x: np.ndarray, dens: np.ndarray, ps=(0.025, 0.5, 0.975)) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    return np.interp(ps, cdf / cdf[-1], x)


def test_two_hyperparameter_marginals_match_quadrature():
    d = _data(3)
    fit = inla("y ~ x + (1 | g)", d, priors={"g": PCPrec(*PC), "gaussian": LogGamma(*LG)},
               fixed=FixedEffectsPrior(prec=PF, prec_intercept=PF))
    y = d["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), d["x"].to_numpy()])
    Z = _indicator(d["g"].to_numpy())
    # log precision of g (its upper tail decays only as exp(-theta / 2), the PC prior's
    # as the SD goes to zero) and of the noise: wide enough that the edges carry below 1e-6
    # of the peak density (checked)
    tb = np.linspace(-6.0, 30.0, 721)
    te = np.linspace(-1.5, 3.5, 201)
    lp = np.array([_log_mlik(y, X, [Z], [np.full(len(te), t)], te) + _log_pc(t) + _log_lg(te)
                   for t in tb])
    p = np.exp(lp - lp.max())
    assert max(p[0].max(), p[-1].max(), p[:, 0].max(), p[:, -1].max()) < 1e-6
    exact_b = _quantiles(tb, p.sum(axis=1))
    exact_e = _quantiles(te, p.sum(axis=0))
    hp = fit.summary_hyperpar_internal
    got_b = hp.loc["log precision for g", ["0.025quant", "0.5quant", "0.975quant"]]
    got_e = hp.loc["log precision for the Gaussian observations",
                   ["0.025quant", "0.5quant", "0.975quant"]]
    # log-precision quantiles within 0.03 (posterior SDs about 0.9 and 0.3): 3% on precisions
    np.testing.assert_allclose(got_b.to_numpy(dtype=float), exact_b, atol=0.03)
    np.testing.assert_allclose(got_e.to_numpy(dtype=float), exact_e, atol=0.03)
    # the user's scale: SD of the group effect = exp(-theta / 2), quantiles map through
    sd = fit.summary_sd.loc["SD for g", ["0.025quant", "0.5quant", "0.975quant"]]
    np.testing.assert_allclose(sd.to_numpy(dtype=float), np.exp(-0.5 * exact_b[::-1]),
                               rtol=0.02)


@pytest.mark.slow
def test_three_hyperparameter_marginals_match_quadrature():
    # two crossed grouping factors (8 and 6 levels) and the noise: the precision of the
    # 6-level factor has the PC prior's heavy upper tail (its posterior reaches theta = 20)
    d = _data(4, 8, 6)
    fit = inla("y ~ x + (1 | g) + (1 | h)", d,
               priors={"g": PCPrec(*PC), "h": PCPrec(*PC), "gaussian": LogGamma(*LG)},
               fixed=FixedEffectsPrior(prec=PF, prec_intercept=PF))
    y = d["y"].to_numpy()
    X = np.column_stack([np.ones(len(y)), d["x"].to_numpy()])
    Zg, Zh = _indicator(d["g"].to_numpy()), _indicator(d["h"].to_numpy())
    tg, th, te = np.linspace(-2.5, 5, 151), np.linspace(-2, 25, 136), np.linspace(-1.5, 2.4, 40)
    TH, TE = np.meshgrid(th, te, indexing="ij")
    lp = np.array([(_log_mlik(y, X, [Zg, Zh], [np.full(TH.size, t), TH.ravel()], TE.ravel())
                    + _log_pc(t) + _log_pc(TH.ravel()) + _log_lg(TE.ravel())).reshape(TH.shape)
                   for t in tg])
    p = np.exp(lp - lp.max())
    hp = fit.summary_hyperpar_internal
    cols = ["0.025quant", "0.5quant", "0.975quant"]
    for ax, (grid, name) in enumerate(((tg, "log precision for g"), (th, "log precision for h"),
                                       (te, "log precision for the Gaussian observations"))):
        m = p.sum(axis=tuple(a for a in range(3) if a != ax))
        assert max(m[0], m[-1]) < 1e-5 * m.max(), name  # the box holds the mass
        np.testing.assert_allclose(hp.loc[name, cols].to_numpy(dtype=float), _quantiles(grid, m),
                                   atol=0.03, err_msg=name)


def test_auto_integration_is_inlas_choice():
    d = _data(3)
    fit = inla("y ~ x + (1 | g)", d, int_strategy="auto")  # two hyperparameters: the grid
    assert fit.theta.strategy == "grid" and len(fit.points) > 9
    with pytest.raises(ValueError, match="int_strategy must be"):
        inla("y ~ x + (1 | g)", d, int_strategy="ccd2")
