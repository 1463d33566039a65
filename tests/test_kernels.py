"""Tests for spatialgamm.kernels.

Expected numbers are closed forms (exp(-1), 2/e, roots of the spherical cubic, the
Cauchy spectral density of the exponential kernel ...) or numerical Fourier integrals of
the correlation function computed here with scipy.integrate, never the package's output.
"""

import math

import numpy as np
import pytest
from scipy import integrate

from spatialgamm import kernels as K

E = math.e


@pytest.mark.parametrize(
    "name, d, rng, expected",
    [
        ("exponential", 1.0, 1.0, math.exp(-1)),
        ("exponential", 6.0, 2.0, math.exp(-3)),
        ("matern32", 1.0, 1.0, 2 / E),
        ("matern32", 3.0, 1.5, 3 / E**2),
        ("matern52", 1.0, 1.0, 7 / (3 * E)),
        ("matern72", 1.0, 1.0, (37 / 15) / E),
        ("exp_quad", 1.0, 1.0, math.exp(-0.5)),
        ("exp_quad", 2.0, 1.0, math.exp(-2.0)),
        ("spherical", 0.5, 1.0, 0.3125),
        ("spherical", 1.0, 1.0, 0.0),
        ("spherical", 5.0, 1.0, 0.0),
    ],
)
def test_kernel_closed_forms(name, d, rng, expected):
    assert float(K.get_kernel(name)(d, rng)) == pytest.approx(expected, rel=1e-14, abs=1e-15)


def test_kernels_vectorised_and_one_at_zero():
    d = np.array([[0.0, 0.5], [1.0, 2.0]])
    for name in ["exponential", "matern32", "matern52", "matern72", "exp_quad", "spherical"]:
        out = K.get_kernel(name)(d, 0.7)
        assert out.shape == d.shape
        assert out[0, 0] == 1.0
        assert np.all(np.diff(out.ravel()) <= 0)  # decreasing in distance


def test_power_exponential():
    k = K.get_kernel("power_exponential", power=1.5)
    assert float(k(2.0, 1.0)) == pytest.approx(math.exp(-(2.0**1.5)), rel=1e-14)
    assert float(K.PowerExponential(2.0)(1.0, 1.0)) == pytest.approx(math.exp(-1.0))
    for bad in (0.0, -1.0, 2.5):
        with pytest.raises(ValueError, match="power"):
            K.PowerExponential(bad)


@pytest.mark.parametrize(
    "nu, closed",
    [
        (0.5, lambda u: np.exp(-u)),
        (1.5, lambda u: (1 + u) * np.exp(-u)),
        (2.5, lambda u: np.exp(-u) * (1 + u + u**2 / 3)),
        (3.5, lambda u: np.exp(-u) * (1 + u + 0.4 * u**2 + u**3 / 15)),
    ],
)
def test_general_matern_equals_closed_forms(nu, closed):
    d = np.array([0.0, 1e-300, 1e-12, 1e-3, 0.3, 1.0, 2.7, 10.0, 50.0, 800.0])
    rng = 1.3
    np.testing.assert_allclose(K.Matern(nu)(d, rng), closed(d / rng), rtol=1e-12, atol=1e-300)


def test_matern_small_nu_continuous_at_zero():
    k = K.Matern(0.1)
    vals = k(np.array([0.0, 1e-14, 1e-8]), 1.0)
    assert vals[0] == 1.0
    assert np.all(np.isfinite(vals)) and np.all(vals <= 1.0)
    # 1 - rho(u) ~ Gamma(1-nu)/Gamma(1+nu) (u/2)^(2 nu) for small u (series of K_nu)
    u = 1e-8
    approx = 1 - math.gamma(0.9) / math.gamma(1.1) * (u / 2) ** 0.2
    assert vals[2] == pytest.approx(approx, rel=1e-3)


@pytest.mark.parametrize("nu", [0.0, -1.0, float("nan"), float("inf")])
def test_matern_bad_nu(nu):
    with pytest.raises(ValueError, match="nu"):
        K.Matern(nu)


def test_bad_inputs():
    k = K.get_kernel("exponential")
    with pytest.raises(ValueError, match="range"):
        k(1.0, 0.0)
    with pytest.raises(ValueError, match="range"):
        k(1.0, -2.0)
    with pytest.raises(ValueError, match="NaN"):
        k(np.array([1.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        k(-1.0, 1.0)


def test_get_kernel_errors_list_names():
    with pytest.raises(ValueError) as err:
        K.get_kernel("materm32")
    for name in ["exponential", "matern32", "matern52", "exp_quad", "spherical", "matern"]:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="nu"):
        K.get_kernel("matern")
    assert isinstance(K.get_kernel("MATERN", nu=1.5), K.Matern)
    assert K.get_kernel("matern12").name == "exponential"


# ---- mgcv's GP correlation types (DESIGN.md section 6) ---------------------------------


def test_mgcv_gp_types():
    d = np.array([0.0, 0.2, 0.5, 1.0, 1.7])
    rho = 0.8
    r = d / rho
    e = np.exp(-r)
    expected = {
        1: np.where(r <= 1, 1 - 1.5 * r + 0.5 * r**3, 0.0),
        2: np.exp(-(r**1.3)),
        3: (1 + r) * e,
        4: e * (1 + r + r**2 / 3),
        5: e * (1 + r + 0.4 * r**2 + r**3 / 15),
    }
    for t, want in expected.items():
        f = K.mgcv_gp_correlation(t, rho, 1.3)
        np.testing.assert_allclose(f(d), want, rtol=1e-14)
        # the sign of the type only changes the smooth's null space, not the kernel
        np.testing.assert_allclose(K.mgcv_gp_correlation(-t, rho, 1.3)(d), want, rtol=1e-14)
        assert f.defn == (t, rho, 1.3)


@pytest.mark.parametrize("t", [0, 6, -7])
def test_mgcv_gp_bad_type(t):
    with pytest.raises(ValueError, match="type"):
        K.mgcv_gp_correlation(t, 1.0)


def test_mgcv_gp_bad_power_and_rho():
    with pytest.raises(ValueError, match="power"):
        K.mgcv_gp_correlation(2, 1.0, 2.5)
    with pytest.raises(ValueError, match="range"):
        K.mgcv_gp_correlation(3, 0.0)


# ---- ranges ---------------------------------------------------------------------------


def test_effective_range_closed_forms():
    # exponential: exp(-d/phi) = 0.05 at d = -log(0.05) phi (about 3 phi)
    assert K.effective_range("exponential", 2.0) == pytest.approx(-math.log(0.05) * 2.0, rel=1e-12)
    assert K.effective_range("exponential", 1.0) == pytest.approx(3.0, abs=0.005)
    # squared exponential: exp(-d^2/(2 l^2)) = 0.05 at d = l sqrt(-2 log 0.05)
    assert K.effective_range("exp_quad", 1.5) == pytest.approx(
        1.5 * math.sqrt(-2 * math.log(0.05)), rel=1e-12
    )
    # power exponential: d = phi (-log level)^(1/power)
    assert K.effective_range("power_exponential", 1.0, level=0.1, power=0.5) == pytest.approx(
        math.log(10.0) ** 2, rel=1e-12
    )
    # spherical: the root in (0, 1) of 0.5 r^3 - 1.5 r + 0.95 = 0
    roots = np.roots([0.5, 0.0, -1.5, 0.95])
    r0 = [r.real for r in roots if abs(r.imag) < 1e-12 and 0 < r.real < 1][0]
    assert K.effective_range("spherical", 3.0) == pytest.approx(3.0 * r0, rel=1e-12)
    # Matern 3/2 at level e^-1 * 2 is at u = 1
    assert K.effective_range("matern32", 0.4, level=2 / E) == pytest.approx(0.4, rel=1e-12)


def test_inla_practical_range():
    # correlation at sqrt(8 nu) * range: nu = 1/2 -> exp(-2); nu = 3/2 -> (1 + s) e^-s, s = sqrt(12)
    assert K.inla_practical_range(0.5, 1.0) == pytest.approx(2.0)
    d = K.inla_practical_range(0.5, 2.0)
    assert float(K.Matern(0.5)(d, 2.0)) == pytest.approx(math.exp(-2.0), rel=1e-12)
    s = math.sqrt(12.0)
    d = K.inla_practical_range(1.5, 1.0)
    assert float(K.Matern(1.5)(d, 1.0)) == pytest.approx((1 + s) * math.exp(-s), rel=1e-12)
    # all are "about 0.14" (Lindgren et al. 2011): between 0.13 and 0.14
    for nu in (0.5, 1.0, 1.5, 2.0, 3.0):
        c = float(K.Matern(nu)(K.inla_practical_range(nu, 1.0), 1.0))
        assert 0.13 < c < 0.141
    with pytest.raises(ValueError, match="nu"):
        K.inla_practical_range(0.0, 1.0)
    # the 0.14-level effective range lies close to INLA's practical range
    assert K.effective_range("matern", 1.0, level=0.14, nu=1.0) == pytest.approx(
        K.inla_practical_range(1.0, 1.0), rel=0.01
    )


# ---- spectral densities ---------------------------------------------------------------


def test_exponential_spectral_density_is_cauchy():
    # 1-D Fourier transform of exp(-|r|/phi) is 2 phi / (1 + phi^2 w^2)
    phi = 0.7
    w = np.array([0.0, 0.5, 2.0, 10.0])
    np.testing.assert_allclose(
        K.Exponential().spectral_density(w, phi, 1), 2 * phi / (1 + phi**2 * w**2), rtol=1e-12
    )


@pytest.mark.parametrize(
    "kernel", [K.Matern32(), K.Matern52(), K.Matern72(), K.ExpQuad(), K.Matern(1.2)]
)
@pytest.mark.parametrize("w", [0.0, 0.8, 3.0])
def test_spectral_density_1d_fourier(kernel, w):
    rng = 0.9
    if w == 0.0:
        val = 2 * integrate.quad(lambda r: float(kernel(r, rng)), 0, np.inf)[0]
    else:
        val = 2 * integrate.quad(lambda r: float(kernel(r, rng)), 0, np.inf, weight="cos", wvar=w)[0]
    assert float(kernel.spectral_density(w, rng, 1)) == pytest.approx(val, rel=1e-7)


@pytest.mark.parametrize("kernel", [K.Exponential(), K.Matern32(), K.Matern(2.2), K.ExpQuad()])
@pytest.mark.parametrize("dim", [2, 3])
def test_spectral_density_integrates_to_one(kernel, dim):
    # rho(0) = (2 pi)^-dim * integral S(|w|) dw  (radial integral)
    rng = 1.7
    surf = 2 * math.pi if dim == 2 else 4 * math.pi
    f = lambda w: surf * w ** (dim - 1) * float(kernel.spectral_density(w, rng, dim))
    total = integrate.quad(f, 0, np.inf, limit=200)[0] / (2 * math.pi) ** dim
    assert total == pytest.approx(1.0, rel=1e-6)


def test_no_spectral_density_for_spherical():
    with pytest.raises(NotImplementedError):
        K.Spherical().spectral_density(1.0, 1.0, 2)


def test_pairwise_distance():
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([[3.0, 4.0]])
    np.testing.assert_allclose(K.pairwise_distance(a, b), [[5.0], [math.sqrt(13.0)]])
    np.testing.assert_allclose(K.pairwise_distance(np.array([1.0, 4.0])), [[0, 3], [3, 0]])
    with pytest.raises(ValueError, match="columns"):
        K.pairwise_distance(a, np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        K.pairwise_distance(np.array([[np.nan, 0.0]]))
