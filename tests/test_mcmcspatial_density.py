"""brm()'s latent fields (spatialgamm.mcmc.fields / spatial_density): gradients against finite
differences, the Hilbert-space basis against the exact kernel, the SPDE non-centred draw
against the mesh's precision, the priors against brms / the PC prior's closed form, and the
errors bad input gets."""

import math

import numpy as np
import pandas as pd
import pytest
import shapely

from spatialgamm.errors import FormulaError
from spatialgamm.mcmc.api import all_priors, brms_formula
from spatialgamm.mcmc.engine_adapter import model_data
from spatialgamm.mcmc.gp_terms import build_gp_parts, lscale_prior_args, split_gp_terms
from spatialgamm.mcmc.spatial import build_fields
from spatialgamm.mcmc.spatial_density import make_field_density
from spatialgamm.mesh import Mesh, SPDEOperator, pc_prior_logdensity

RNG = np.random.default_rng(7)
N = 40
DATA = pd.DataFrame(dict(x=RNG.uniform(0, 10, N), x2=RNG.uniform(0, 10, N),
                         g=RNG.integers(0, 5, N).astype(str),
                         fac=np.repeat(["a", "b"], N // 2), t=RNG.uniform(1, 3, N)))
DATA["y"] = RNG.poisson(2, N)
DATA["yg"] = RNG.normal(size=N)
MESH = Mesh.build(boundary=shapely.box(0, 0, 10, 10), max_edge=2.5, offset=(0, None))


def density(formula, family, **kw):
    base, gps = split_gp_terms(brms_formula(formula))
    env = {"mesh": MESH}
    md = model_data(base, DATA, family, env=env)
    priors = all_priors(md, None)
    fields, priors = build_fields(md, gps, env, priors, **kw)
    return make_field_density(md, priors, fields)


def max_gradient_error(den, x, h=1e-6):
    _, g = den.logp_grad(x)
    num = np.array([(den.logp_grad(x + h * e)[0] - den.logp_grad(x - h * e)[0]) / (2 * h)
                    for e in np.eye(den.dim)])
    return float(np.max(np.abs(num - g)) / max(1.0, np.max(np.abs(g))))


@pytest.mark.parametrize("formula, family", [
    ("y ~ gp(x)", "poisson"),
    ("yg ~ gp(x, x2)", "gaussian"),
    ("yg ~ fac + gp(x, by=fac, k=8)", "gaussian"),
    ("y ~ gp(x, x2, k=5) + (1 | g)", "poisson"),
    ("y ~ hsgp(x, k=6, c=1.5) + offset(log(t))", "poisson"),
    ("y ~ spde(x, x2, mesh=mesh) + offset(log(t))", "poisson"),
    ("yg ~ x + spde(x, x2, mesh=mesh)", "gaussian"),
])
def test_gradient_matches_finite_differences(formula, family, monkeypatch):
    # the adjoint is exact for any jitter; brms's 1e-12 leaves K so ill-conditioned that
    # central differences of chol(K) z are noise at the 1e-4 level, so test with 1e-4
    monkeypatch.setattr("spatialgamm.mcmc.fields.JITTER", 1e-4)
    den = density(formula, family)
    x = RNG.normal(size=den.dim) * 0.5
    for f in den.fields:  # length scales short enough for a well-conditioned exact K
        x[f.hyper] = [0.0, -2.0] if hasattr(f, "part") else [math.log(3.0), 0.0]
    assert np.isfinite(den.logp_grad(x)[0])
    assert max_gradient_error(den, x) < 1e-6


def test_hsgp_basis_approximates_the_exact_kernel():
    # Riutort-Mayol et al. (2023): with enough basis functions and c large enough for the
    # length scale, Phi diag(S(omega)) Phi' is the squared-exponential kernel
    part, = build_gp_parts("gp(x, k=40, c=1.5)", DATA, {})
    sd, ls = 1.3, 0.3
    Phi = part.basis(part.sites)
    S = sd ** 2 * math.sqrt(2 * math.pi) * ls * np.exp(-0.5 * ls ** 2 * part.omega2())
    d2 = (part.sites - part.sites.T) ** 2
    K = sd ** 2 * np.exp(-0.5 * d2 / ls ** 2)
    assert np.max(np.abs(Phi @ np.diag(S) @ Phi.T - K)) < 1e-3 * sd ** 2


def test_spde_noncentred_draw_has_the_mesh_precision():
    den = density("y ~ spde(x, x2, mesh=mesh)", "poisson")
    f = den.fields[0]
    h = np.log([3.0, 0.7])
    # the map z -> x is linear: its matrix B gives Cov(x) = B B', which must be Q^-1
    B = np.column_stack([f.nodes(h, e) for e in np.eye(f.n_latent)])
    Q = SPDEOperator(MESH, 2.0).Q(3.0, 0.7).toarray()
    assert np.allclose(B @ B.T @ Q, np.eye(f.n_latent), atol=1e-8)


def test_spde_pc_prior_is_fuglstads():
    den = density("y ~ spde(x, x2, mesh=mesh)", "poisson", prior_range=(2.0, 0.5),
                  prior_sigma=(1.0, 0.01))
    f = den.fields[0]
    pts = [np.log([1.0, 0.5]), np.log([4.0, 2.0])]
    ours = [f.log_prior(h)[0] for h in pts]
    ref = [pc_prior_logdensity(*np.exp(h), 2.0, 0.5, 1.0, 0.01, log_scale=True) for h in pts]
    assert ours[1] - ours[0] == pytest.approx(ref[1] - ref[0], abs=1e-12)
    assert ours[0] == pytest.approx(ref[0], abs=1e-12)  # normalised as well


def test_lscale_default_prior_is_brms():
    # brms 2.18 prior_summary() of y ~ gp(x) on tests/reference/brms/gp_gauss.csv
    d = pd.read_csv("tests/reference/brms/gp_gauss.csv")
    part, = build_gp_parts("gp(x)", d, {})
    assert lscale_prior_args(*part.distances()) == (1.494197, 0.056607)


def test_gp_parts_follow_brms_layout():
    parts = build_gp_parts("gp(x, by=fac, k=5)", DATA, {})
    assert [p.label for p in parts] == ["gpxfaca", "gpxfacb"]
    assert [len(p.rows) for p in parts] == [N // 2, N // 2]
    for p in parts:  # scaled so that the largest distance is 1, centred for the basis
        assert np.ptp(p.sites) == pytest.approx(1.0)
        assert p.L == pytest.approx(1.25)
        assert p.n_latent == 5


@pytest.mark.parametrize("term, msg", [
    ("gp(x, k=0)", "k must be a positive integer"),
    ("gp(x, k=5, c=0.5)", "c must be a number > 1"),
    ("gp(nope)", "'nope' is not a column"),
    ("gp(g)", "must be numeric"),
    ("gp(x, cov='matern32')", "exp_quad"),
    ("gp(x, bogus=1)", "unknown argument"),
    ("hsgp(x)", "needs k="),
])
def test_bad_gp_terms_are_refused(term, msg):
    with pytest.raises(FormulaError, match=msg):
        build_gp_parts(term, DATA, {})


def test_bad_pc_priors_are_refused():
    with pytest.raises(ValueError, match="both prior_range"):
        density("y ~ spde(x, x2, mesh=mesh)", "poisson", prior_range=(1.0, 0.5))
    with pytest.raises(ValueError, match="prior_sigma"):
        density("y ~ spde(x, x2, mesh=mesh)", "poisson", prior_range=(1.0, 0.5),
                prior_sigma=(1.0, 2.0))
