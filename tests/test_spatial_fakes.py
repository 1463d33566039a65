"""Fake fitted models for the spatial tests (and checks of the fakes themselves).

``spatialgamm.spatial`` uses a fit only through the prediction protocol of
docs/ARCHITECTURE.md: ``fit.predict(newdata, type='link', se_fit=True, offset=...)`` giving
columns ``fit`` and ``se_fit``, ``fit.family.link``, ``fit.spatial_coords`` and ``fit.crs``.
These fakes predict an analytic function of the coordinates, so every expected number in the
tests is a closed form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parents[1] / "spatialgamm" / "data"
REFERENCE = Path(__file__).parent / "reference"


class LogLink:
    name = "log"

    @staticmethod
    def linkfun(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(mu)

    linkinv = staticmethod(np.exp)
    mu_eta = staticmethod(np.exp)


class InverseLink:
    """mu = 1 / eta: a decreasing link (for eta > 0)."""

    name = "inverse"

    @staticmethod
    def linkfun(mu):
        return 1.0 / np.asarray(mu, dtype=float)

    @staticmethod
    def linkinv(eta):
        return 1.0 / eta

    @staticmethod
    def mu_eta(eta):
        return -1.0 / eta**2


class Family:
    def __init__(self, link):
        self.link = link


class FakeFit:
    """eta = a + b*x + d*y + sum(coef_k * covariate_k) + offset;  se(eta) = c + e*|y|.

    Records the number of rows of every ``predict`` call (to check chunking).
    """

    def __init__(self, a=0.5, b=1e-3, d=0.0, c=0.2, e=0.0, link=None, coords=("cX", "cY"),
                 crs=None, coefs=None, levels=None):
        self.a, self.b, self.d, self.c, self.e = a, b, d, c, e
        self.family = Family(link or LogLink())
        self.spatial_coords = coords
        self.crs = crs
        self.coefs = coefs or {}
        self.levels = levels or {}
        self.calls: list[int] = []
        self.offsets: list[float] = []

    def eta(self, x, y, offset=0.0, **covs):
        out = self.a + self.b * np.asarray(x) + self.d * np.asarray(y) + offset
        for name, coef in self.coefs.items():
            v = covs[name]
            if name in self.levels:  # a categorical covariate: level -> numeric effect
                v = np.array([self.levels[name][s] for s in v])
            out = out + coef * np.asarray(v, dtype=float)
        return out

    def se(self, x, y):
        return self.c + self.e * np.abs(np.asarray(y, dtype=float))

    def predict(self, newdata, type="link", se_fit=False, offset=None):
        assert type == "link" and se_fit, "predict_grid must ask for link-scale se"
        self.calls.append(len(newdata))
        self.offsets.append(offset)
        xn, yn = self.spatial_coords or ("x", "y")
        x, y = newdata[xn].to_numpy(), newdata[yn].to_numpy()
        covs = {k: newdata[k].to_numpy() for k in self.coefs}
        return pd.DataFrame({"fit": self.eta(x, y, offset or 0.0, **covs), "se_fit": self.se(x, y)})


def coastline() -> pd.DataFrame:
    return pd.read_csv(DATA / "rongelap_coastline.csv")


def test_fake_fit_follows_protocol():
    fit = FakeFit(a=1.0, b=2.0, c=0.5)
    out = fit.predict(pd.DataFrame({"cX": [0.0, 1.0], "cY": [0.0, 0.0]}), se_fit=True, offset=0.0)
    assert list(out.columns) == ["fit", "se_fit"]
    np.testing.assert_allclose(out["fit"], [1.0, 3.0])
    np.testing.assert_allclose(out["se_fit"], [0.5, 0.5])


def test_inverse_link_is_decreasing():
    eta = np.array([0.5, 2.0])
    assert (InverseLink.mu_eta(eta) < 0).all()
    np.testing.assert_allclose(InverseLink.linkfun(InverseLink.linkinv(eta)), eta)
