"""brm() with s() / t2() smooths: the mixed-model form against brms's own Stan data, the
marginal Gaussian density against the multivariate normal it integrates, gradients, priors,
summaries and refusals. (Posterior draws against brms: tests/test_mcmc_smooth_brms.py.)

brms's Stan data (``Xs``, ``Zs_<i>_<j>``, kept in the reference JSON by
tests/reference/brms_smooth/make_reference.R) are mgcv's ``smooth2random``: the unpenalised
columns are defined up to sign (a basis of a one- or more-dimensional null space: compared
through their projector) and each penalised part up to a rotation of its columns (the
identity penalty is invariant), so ``Zs Zs'`` is compared.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spatialgamm.mcmc import brm, prior
from spatialgamm.mcmc.api import all_priors
from spatialgamm.mcmc.density import make_density
from spatialgamm.mcmc.engine_adapter import model_data

HERE = Path(__file__).parent / "reference/brms_smooth"
REF = json.loads((HERE / "brms_smooth_reference.json").read_text())
MODELS = {"gauss": ("y ~ s(x)", "gaussian", "gauss.csv"),
          "pois": ("y ~ s(x) + (1 | g)", "poisson", "pois.csv"),
          "mcycle": ("accel ~ s(times)", "gaussian", "mcycle.csv"),
          "by": ("y ~ fac + s(x, by = fac, bs = 'cr', k = 8)", "gaussian", "by.csv"),
          "t2": ("y ~ t2(x, z)", "gaussian", "t2.csv")}


def load(label):
    formula, family, csv = MODELS[label]
    return formula, family, pd.read_csv(HERE / csv)


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    formula, family, data = load(request.param)
    return request.param, model_data(formula, data, family)


def test_representation_is_brms_standata(case):
    label, md = case
    sd = REF[label]["standata"]
    Xs = np.asarray(sd["Xs"], dtype=float)
    ours = md.X[:, [md.x_names.index(n) for n in md.smooth_fixed]]
    assert ours.shape == Xs.shape
    # same column space, column by column up to sign when one-dimensional per smooth
    P = Xs @ np.linalg.pinv(Xs)
    np.testing.assert_allclose(P @ ours, ours, atol=1e-7 * np.abs(ours).max())
    zs = sorted(k for k in sd if k.startswith("Zs_"))
    parts = md.smooth_terms
    assert len(zs) == len(parts)
    for k, t in zip(zs, parts):
        Zb = np.atleast_2d(np.asarray(sd[k], dtype=float))
        Zo = t.Z.toarray()
        assert Zo.shape == Zb.shape, (k, t.name)
        G, Gb = Zo @ Zo.T, Zb @ Zb.T
        np.testing.assert_allclose(G, Gb, atol=1e-6 * np.abs(Gb).max(), err_msg=k)


def test_parameter_names_are_brms(case):
    label, md = case
    brms_vars = set(REF[label]["mean"])
    ours = {f"bs_{n}" for n in md.smooth_fixed} | {f"sds_{t.smooth.name}"
                                                   for t in md.smooth_terms}
    assert ours == {v for v in brms_vars if v.startswith(("bs_", "sds_"))}
    fixed = {n for n in md.x_names if n not in md.smooth_fixed}
    assert {f"b_{'Intercept' if n == '(Intercept)' else n}" for n in fixed} == \
        {v for v in brms_vars if v.startswith("b_")}


def test_default_priors_are_brms(case):
    label, md = case
    pri = all_priors(md, None)
    from spatialgamm.mcmc.priors import prior_summary, resolve
    from spatialgamm.mcmc.smooth_terms import smooth_texts

    ref = pd.DataFrame(REF[label]["prior"])
    for _, r in ref.iterrows():
        if r["class"] in ("sds", "Intercept", "sigma", "sd") and r["prior"]:  # "": inherits
            assert resolve(pri, r["class"], r["coef"], r["group"]).dist == r["prior"], \
                tuple(r)
    texts = smooth_texts(md)
    assert texts == [c for c in ref.loc[ref["class"] == "sds", "coef"] if c]
    table = prior_summary(pri, [], {}, md.is_gaussian_identity, True, smooths=texts)
    assert (table["class"] == "sds").sum() == 1 + len(texts)


def fd_grad(f, x, h=1e-5):
    e = np.eye(len(x))
    return np.array([(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(len(x))])


@pytest.mark.parametrize("label", ["gauss", "by", "t2"])
def test_marginal_gaussian_is_the_multivariate_normal(label):
    """The smooth's penalised parts integrated out: y ~ N(X beta, sigma^2 I + sum_j sds_j^2
    Zs_j Zs_j'), the closed form, evaluated directly."""
    formula, family, data = load(label)
    md = model_data(formula, data, family)
    d = make_density(md, all_priors(md, None), center=False)
    rng = np.random.default_rng(1)
    x = np.zeros(d.dim)
    x[:md.p] = rng.normal(size=md.p)
    x[d.layout.sigma] = np.log(0.8)
    V = 0.8 ** 2 * np.eye(md.n)
    for t, part in zip(d.layout.terms, md.terms):
        sds = float(rng.uniform(0.3, 3.0))
        x[t.phi.start] = np.log(sds)
        Z = part.Z.toarray()
        V += sds ** 2 * Z @ Z.T
    ll = d._logp_dense(x)[0]
    ref = stats.multivariate_normal(md.X @ x[:md.p], V).logpdf(md.y)
    assert ll == pytest.approx(ref, rel=1e-10, abs=1e-8)
    assert not d.grouped  # a smooth's columns are not disjoint levels


@pytest.mark.parametrize("label", ["gauss", "pois", "t2"])
def test_gradient_matches_finite_differences(label):
    formula, family, data = load(label)
    md = model_data(formula, data, family)
    d = make_density(md, all_priors(md, None))
    x = 0.3 * np.random.default_rng(2).standard_normal(d.dim)
    if d.layout.sigma is not None:
        x[d.layout.sigma] = np.log(np.std(md.y))
    f, g = d.logp_grad(x)
    assert np.isfinite(f)
    gn = fd_grad(lambda v: d.logp_grad(v)[0], x)
    np.testing.assert_allclose(g, gn, rtol=1e-5, atol=1e-6 * (1 + np.abs(gn).max()))


def test_user_sds_prior_is_used_and_checked():
    formula, family, data = load("gauss")
    md = model_data(formula, data, family)
    pri = all_priors(md, [prior("exponential(2)", "sds", coef="s(x)")])
    d = make_density(md, pri)
    assert d.layout.terms[0].sd_priors[0].dist == "exponential(2)"
    with pytest.raises(ValueError, match="names smooth 's\\(z\\)'"):
        all_priors(md, [prior("exponential(2)", "sds", coef="s(z)")])
    with pytest.raises(ValueError, match="location 0"):
        all_priors(md, [prior("normal(1, 2)", "sds")])


def test_refusals_name_the_term():
    _, _, data = load("t2")
    with pytest.raises(NotImplementedError, match="te\\(x,z\\).*t2\\(\\)"):
        model_data("y ~ te(x, z)", data)
    with pytest.raises(NotImplementedError, match="fx=TRUE"):
        model_data("y ~ s(x, fx=TRUE, k=5)", data)
    with pytest.raises(NotImplementedError, match="smooths and gp"):
        brm("y ~ s(x) + gp(z)", data, chains=1, iter=20, progress=False)


def test_short_fit_summary_effects_and_epred():
    """A short run: the summary's Smooth Terms block, conditional effects along the smooth
    (a band around the estimate, the curve's shape), epred at new points = the linear
    predictor from the stored draws."""
    formula, family, data = load("gauss")
    fit = brm(formula, data, chains=2, iter=600, seed=4, cores=1, progress=False)
    text = str(fit.summary())
    assert "Smooth Terms:" in text and "sds(sx_1)" in text
    assert text.index("Smooth Terms:") < text.index("Population-Level Effects:")
    assert list(fit.summary().fixed.index) == ["Intercept", "sx_1"]
    ps = fit.prior_summary()
    assert set(ps.loc[ps["class"] == "sds", "coef"]) == {"", "s(x)"}
    ce = fit.conditional_effects("x")
    tab = ce.table
    assert len(tab) == 100
    assert np.all(tab["lower__"] <= tab["estimate__"]) and np.all(tab["estimate__"] <=
                                                                   tab["upper__"])
    # the simulated curve f2(x) / 4 peaks near x = 0.2 and x = 0.75 (about 2.5 and 2.2 at the
    # peaks, near 0 at the ends): the estimate follows it
    x, est = tab["x"].to_numpy(), tab["estimate__"].to_numpy()
    assert 0.1 < x[np.argmax(est)] < 0.35 or 0.65 < x[np.argmax(est)] < 0.85
    nd = pd.DataFrame({"x": [0.2, 0.5]})
    ep = fit.posterior_epred(nd)
    sx = fit.draws("s_sx_1")
    b0, b1 = fit.draws("b_Intercept"), fit.draws("bs_sx_1")
    md = fit.model
    X = md.fixed_for(nd)
    Z = md.smooth_rows(nd)[0].toarray()
    np.testing.assert_allclose(ep, b0[:, None] * X[:, 0] + b1[:, None] * X[:, 1] + sx @ Z.T,
                               rtol=1e-10, atol=1e-10)
    assert sx.shape[1] == 8
    h = fit.hypothesis("sx_1 > 0")  # a smooth's unpenalised coefficient by its brms name
    assert h["Estimate"].iloc[0] == pytest.approx(b1.mean())


@pytest.mark.slow
def test_short_chains_agree_with_brms():
    """4 x 500 draws on y ~ s(x): posterior means and SDs within 4 combined MCSEs of brms's
    (the long comparison of every model is the study in test_mcmc_smooth_brms.py)."""
    from test_mcmc_smooth_brms import check_against_brms, fit_model

    fit = fit_model("gauss", chains=4, iter=1000)
    check_against_brms(fit, "gauss")
