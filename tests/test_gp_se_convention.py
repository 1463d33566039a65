"""Fixed-effect SE conventions of Gaussian fits: conditional on the covariance parameters
(lme4's, the default) and joint (glmmTMB's), ``fit.vcov_fixef(se=...)``.

References: tests/reference/gp/glmmtmb_exp.json (glmmTMB 1.1.5, glmmtmb_exp.R) on
gp_gauss.csv, whose SEs are joint; the conditional ones are checked against the closed form
``(X' V^-1 X)^-1`` with V built here from the fitted kernel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg

GP = Path(__file__).parent / "reference" / "gp"
pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def ref():
    return json.loads((GP / "glmmtmb_exp.json").read_text())


@pytest.fixture(scope="module")
def gauss():
    return pd.read_csv(GP / "gp_gauss.csv")


@pytest.mark.parametrize("method,key", [("ML", "gauss_ml"), ("REML", "gauss_reml")])
def test_joint_se_matches_glmmtmb(gauss, ref, method, key):
    fit = sg.fit("z ~ x + gp(sx, sy, kernel='exponential')", gauss, method=method)
    se_tmb = np.array(list(ref[key]["se"].values()))
    joint = np.sqrt(np.diag(fit.vcov_fixef(se="joint")))
    np.testing.assert_allclose(joint, se_tmb, rtol=1e-5)
    # the coefficient table takes the same choice
    np.testing.assert_allclose(fit.coef_table(view="lme4", se="joint")["Std. Error"], se_tmb,
                               rtol=1e-5)
    # the default is lme4's conditional convention, ~0.3% below glmmTMB's here
    cond = fit.vcov_fixef()
    pd.testing.assert_frame_equal(cond, fit.vcov)
    assert np.all(np.sqrt(np.diag(cond)) < joint)

    # conditional = (X' V^-1 X)^-1 with V = sd^2 exp(-d / range) + sigma^2 I at the estimates
    p = fit.gp_params.iloc[0]
    assert p["range_convention"] == "exp(-d/range)"
    xy = gauss[["sx", "sy"]].to_numpy()
    D = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    V = p["sigma"] ** 2 * np.exp(-D / p["range"]) + fit.sigma ** 2 * np.eye(len(gauss))
    X = np.column_stack([np.ones(len(gauss)), gauss["x"]])
    closed = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    np.testing.assert_allclose(cond.to_numpy(), closed, rtol=1e-6)


def test_lmer_balanced_design_conventions_agree_and_errors():
    # sleepstudy is balanced (every subject on days 0-9): the GLS estimate is the OLS one
    # for every theta, d beta_hat / d theta = 0, and the joint covariance is the conditional
    m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    j = m.vcov_fixef(se="joint")
    assert list(j.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(j.to_numpy(), m.vcov.to_numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="se must be 'conditional' or 'joint'"):
        m.vcov_fixef(se="sandwich")


def test_glmm_conventions_agree():
    # glmer's SEs invert the Hessian in (theta, beta): already joint, as glmmTMB's
    m = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    pd.testing.assert_frame_equal(m.vcov_fixef(se="joint"), m.vcov)
