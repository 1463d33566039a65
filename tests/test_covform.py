"""The Laplace deviance in covariance form (engine/covform.py) against the u-space engine,
and its exact gradient against central differences of the deviance.

Independent checks: the u-space PIRLS (lme4's blocked Cholesky on Lambda = chol(C)) computes
the same Laplace deviance by a different factorisation, so the two must agree to rounding;
the analytic gradient (R & W alg. 5.1, extended to fixed effects and the REML term) must
agree with central differences of the deviance (step 1e-5: truncation ~1e-10, PIRLS
tolerance ~1e-9).
"""

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.engine.covform import covariance_form_applies
from spatialgamm.engine.laplace import LaplaceObjective
from spatialgamm.engine.system import LatentSystem
from spatialgamm.model import build_model

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def data():
    """60 sites, 1-3 rows each (so Z aggregates rows), a covariate varying within sites,
    Poisson counts with exposure and binomial counts with varying trials."""
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 5, (60, 2))
    site = np.repeat(np.arange(60), rng.integers(1, 4, 60))
    n = len(site)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    f = np.linalg.cholesky(0.5 * np.exp(-d / 1.5) + 1e-9 * np.eye(60)) @ rng.normal(size=60)
    x = rng.normal(size=n)
    expo = rng.uniform(0.5, 2.0, n)
    trials = rng.integers(1, 8, n)
    eta = 0.3 + 0.4 * x + f[site]
    ids = [f"g{i}" for i in range(60)]
    K = pd.DataFrame(np.exp(-d / 2.0), index=ids, columns=ids)
    return pd.DataFrame({
        "sx": xy[site, 0], "sy": xy[site, 1], "x": x, "expo": expo,
        "y": rng.poisson(expo * np.exp(eta)),
        "s": rng.binomial(trials, 1 / (1 + np.exp(-eta))), "t": trials,
        "grp": np.where(xy[site, 0] > 2.5, "east", "west"),
        "id": np.array(ids)[site]}), K


CASES = [
    ("y ~ x + gp(sx, sy, kernel='exponential') + offset(log(expo))", "poisson"),
    ("y ~ x + gp(sx, sy, kernel='matern32', nugget=True) + offset(log(expo))", "poisson"),
    ("y ~ x + gp(sx, sy, kernel='matern', nu='estimate')", "poisson"),
    ("y ~ x + gp(sx, sy, kernel='exponential', by=grp)", "poisson"),
    ("cbind(s, t - s) ~ x + gp(sx, sy, kernel='exp_quad')", "binomial"),
    ("y ~ x + kinship(id, K)", "poisson"),
]


def _objectives(data, formula, family, reml):
    d, K = data
    spec = build_model(formula, d, family=family, env={"K": K})
    system = LatentSystem(spec.blocks, spec.n)
    assert covariance_form_applies(system)
    args = (system, spec.X, spec.y, spec.offset, spec.weights, spec.family)
    return (system, LaplaceObjective(*args, reml=reml),
            LaplaceObjective(*args, reml=reml, form="covariance"))


@pytest.mark.parametrize("formula,family", CASES)
@pytest.mark.parametrize("reml", [False, True])
def test_joint_mode_deviance_and_gradient(data, formula, family, reml, gradient_check):
    system, lap_u, lap_c = _objectives(data, formula, family, reml)
    phi = system.layout.start * 1.1 + 0.05
    assert lap_c(phi) == pytest.approx(lap_u(phi), rel=1e-10)
    gradient_check(lap_c.value_and_gradient, lap_c, phi)


@pytest.mark.parametrize("formula,family", CASES)
def test_fixed_beta_deviance_and_gradient(data, formula, family, gradient_check):
    system, lap_u, lap_c = _objectives(data, formula, family, False)
    phi = system.layout.start * 0.9 + 0.02
    par = np.concatenate([phi, lap_u.pirls(phi).beta + 0.02])
    assert lap_c.with_beta(par) == pytest.approx(lap_u.with_beta(par), rel=1e-10)
    gradient_check(lap_c.with_beta_and_gradient, lap_c.with_beta, par)


def test_not_used_where_it_does_not_apply(data):
    d, _ = data
    # a bar with a random slope puts rows in two latent columns; an HSGP is low-rank
    for formula in ("y ~ x + (x | grp)", "y ~ x + hsgp(sx, sy, m=6)"):
        spec = build_model(formula, d, family="poisson")
        assert not covariance_form_applies(LatentSystem(spec.blocks, spec.n))


def test_fit_in_covariance_form_equals_u_space_fit(data, monkeypatch):
    """The whole glmer-style fit (two stages, Hessian SEs) gives the same estimates when the
    search runs in u-space with finite differences (the engine before covariance form)."""
    d, _ = data
    formula = "y ~ x + gp(sx, sy, kernel='exponential') + offset(log(expo))"
    fast = sg.fit(formula, d, family="poisson", method="ML")
    import spatialgamm.results.assemble_glmm as ag
    monkeypatch.setattr(ag, "covariance_form_applies", lambda system: False)
    slow = sg.fit(formula, d, family="poisson", method="ML")
    assert fast.loglik == pytest.approx(slow.loglik, abs=1e-6)
    assert fast.range == pytest.approx(slow.range, rel=1e-3)
    np.testing.assert_allclose(fast.fixef, slow.fixef, rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fast.vcov)), np.sqrt(np.diag(slow.vcov)),
                               rtol=2e-3)
