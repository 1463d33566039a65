"""The priors inla() adds for the new model kinds, against independent numbers.

- :class:`Wishart` (INLA's ``wishartpd`` on ``theta = (log tau_i, rho~_ij)``): scipy's
  Wishart density of ``W = Sigma(theta)^-1`` plus the log-Jacobian of theta -> vech(W) by
  central differences.
- :class:`PCMGamma` (INLA's ``pc.mgamma``, the NB size): integrates to one on theta, and the
  distance ``d`` is Exponential(lambda): ``P(d > d0) = exp(-lambda d0)``.
- :class:`PCMatern` in one dimension: integrates to one, ``P(range < r0) = p_r``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import digamma

from spatialgamm.bayes import PCMatern, PCMGamma, Wishart, inla
from spatialgamm.bayes.priors import iid_covariance


@pytest.mark.parametrize("p", [2, 3, 4])
def test_wishart_is_scipy_wishart_with_jacobian(p):
    w = Wishart(p)
    assert w.r == {2: 4.0, 3: 7.0, 4: 11.0}[p]  # INLA's wishart2d/3d/4d defaults
    rng = np.random.default_rng(p)
    iu = np.triu_indices(p)
    for _ in range(3):
        th = rng.normal(0, 0.5, w.dim)
        W = np.linalg.inv(iid_covariance(th, p))
        ref = stats.wishart(df=w.r, scale=np.eye(p)).logpdf(W)

        def vech(t):
            return np.linalg.inv(iid_covariance(t, p))[iu]
        J = np.empty((w.dim, w.dim))
        for k in range(w.dim):
            e = np.zeros(w.dim)
            e[k] = 1e-6
            J[:, k] = (vech(th + e) - vech(th - e)) / 2e-6
        assert w.logpdf(th) == pytest.approx(ref + np.log(abs(np.linalg.det(J))), abs=1e-6)


def test_wishart_refuses_correlations_without_a_covariance():
    th = np.r_[0.0, 0.0, 0.0, 6.0, 6.0, -6.0]  # rho12, rho13 ~ 1, rho23 ~ -1
    assert Wishart(3).logpdf(th) == -np.inf


def test_pc_mgamma_normalised_and_exponential_distance():
    pr = PCMGamma(7.0)

    def dens(t):
        return math.exp(pr.logpdf(np.array([t])))
    total = integrate.quad(dens, -15, 40, limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    for size in (0.5, 2.0, 10.0):  # P(size < s) = P(a > 1/s) = P(d > d(1/s))
        d0 = math.sqrt(2 * (math.log(size) - digamma(size)))
        below = integrate.quad(dens, -15, math.log(size), limit=400)[0]
        assert below == pytest.approx(math.exp(-7.0 * d0), rel=1e-6)


def test_pc_matern_one_dimension():
    """The density factorises: range part times sigma part (each integrates to one)."""
    pr = PCMatern((2.0, 0.1), (1.0, 0.05), d=1)
    lam_s = -math.log(0.05)

    def sigma_part(ls):  # log pi of log sigma: log lam_s - lam_s sigma + log sigma
        return math.log(lam_s) - lam_s * math.exp(ls) + ls

    def range_part(lr):
        return math.exp(pr.logpdf(np.array([lr, 0.0])) - sigma_part(0.0))
    # the range's tail is heavy in one dimension (density ~ range^-3/2): integrate far out
    assert integrate.quad(range_part, -30, 120, limit=400)[0] == pytest.approx(1.0, abs=1e-7)
    assert integrate.quad(lambda ls: math.exp(sigma_part(ls)), -30, 5)[0] == pytest.approx(
        1.0, abs=1e-7)
    assert integrate.quad(range_part, -30, math.log(2.0), limit=400)[0] == pytest.approx(
        0.1, rel=1e-6)


def test_inla_refuses_what_it_cannot_map():
    import pandas as pd
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.normal(size=40), "x": rng.uniform(0, 5, 40),
                      "z": rng.uniform(0, 5, 40), "g": np.repeat(["a", "b", "c", "d"], 10)})
    with pytest.raises(Exception, match="nugget"):
        inla("y ~ gp(x, z, nugget=TRUE)", d)
    with pytest.raises(ValueError, match="Wishart"):
        inla("y ~ x + (1 + x | g)", d, priors={"g": ("pc.prec", 1, 0.01)})
