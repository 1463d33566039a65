"""The term protocol (terms/base.py): a new term kind written in this file fits end to end.

``iid(g)`` is an independent random intercept per level of ``g``, written from scratch as a
:class:`LatentTerm` (about 40 lines) and registered with ``register_term``; nothing else of
the package changes. It is the model lme4 writes ``(1 | g)``, so its fit must give lme4's
numbers for ``Reaction ~ Days + (1 | Subject)`` on sleepstudy (tests/reference/
sleepstudy.json, written by tests/reference/make_reference.R with lme4 1.1-31): REML
criterion to 1e-3, estimates and standard errors to 1e-4 relative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import spatialgamm as sg
from spatialgamm.errors import FormulaError
from spatialgamm.terms import known_calls
from spatialgamm.terms.base import TERM_KINDS, Ability, Block, LatentTerm, register_term

REF = json.loads((Path(__file__).parent / "reference" / "sleepstudy.json").read_text())
LME4 = REF["lmer_Reaction_intercept_only_REML"]


# ---- the new term kind: one class and one builder -------------------------------------------
@dataclass
class IIDTerm(LatentTerm):
    """``b_j ~ N(0, s theta^2)`` for each level j of a column: ``Lambda = theta I``."""

    abilities = frozenset({Ability.RANEF_FRAME})
    population_level_drop = True

    name: str
    column: str
    levels: list[str]

    @property
    def phi_names(self) -> list[str]:
        return ["theta"]

    def _design(self, values: pd.Series) -> sp.csc_matrix:
        index = {lev: i for i, lev in enumerate(self.levels)}
        codes = np.array([index.get(str(v), -1) for v in values])
        ok = codes >= 0
        return sp.csc_matrix((np.ones(ok.sum()), (np.flatnonzero(ok), codes[ok])),
                             shape=(len(values), len(self.levels)))

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        return np.full(len(self.levels), float(phi[0]))

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None):
        return self._design(newdata[self.column]), None

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        v = scale * float(phi[0]) ** 2
        return [dict(grp=self.name, var1="(Intercept)", var2=None, vcov=v, sdcor=np.sqrt(v))]

    def ranef_frame(self, b: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"(Intercept)": b}, index=pd.Index(self.levels, name=self.name))


def build_iid(special, data, env, family) -> list[Block]:
    (column,) = special.variables
    levels = sorted(data[column].astype(str).unique(), key=lambda v: (len(v), v))
    term = IIDTerm(name=column, column=column, levels=levels)
    q = len(levels)
    return [Block(name=column, Z=term._design(data[column]), kind="factor",
                  phi_start=np.array([1.0]), phi_lower=np.array([0.0]),
                  phi_upper=np.array([np.inf]), template=sp.identity(q, format="csc"),
                  term=term)]


@pytest.fixture
def iid_registered():
    register_term("iid")(build_iid)
    yield
    del TERM_KINDS["iid"]


# ---- the tests -------------------------------------------------------------------------------
def test_new_term_kind_fits_end_to_end_as_lme4(iid_registered):
    d = sg.datasets.load_sleepstudy()
    m = sg.fit("Reaction ~ Days + iid(Subject)", d)
    assert m.reml_criterion == pytest.approx(LME4["reml_criterion"], abs=1e-3)
    for k, v in LME4["fixef"].items():
        assert m.fixef[k] == pytest.approx(v, rel=1e-4)
        assert m.se[k] == pytest.approx(LME4["se"][k], rel=1e-4)
    vc = m.varcorr.set_index("grp")["vcov"]
    assert vc["Subject"] == pytest.approx(LME4["varcorr"][0]["vcov"], rel=1e-4)
    assert vc["Residual"] == pytest.approx(LME4["varcorr"][1]["vcov"], rel=1e-4)
    ref = {r["level"]: r["(Intercept)"] for r in LME4["ranef"]["Subject"]}
    got = m.ranef["Subject"]["(Intercept)"]
    np.testing.assert_allclose(got.loc[list(ref)].to_numpy(), list(ref.values()), rtol=1e-4)
    np.testing.assert_allclose(m.fitted[:10], LME4["fitted_head"], rtol=1e-6)
    # predictions through design_for: a seen level gets its effect, population-level drops it
    nd = pd.DataFrame({"Days": [2.0, 2.0], "Subject": ["308", "308"]})
    cond = m.predict(nd)["fit"].to_numpy()
    pop = m.predict(nd, re_form="~0")["fit"].to_numpy()
    np.testing.assert_allclose(cond - pop, ref["308"], rtol=1e-4)


def test_registry_knows_builtin_calls_and_refuses_duplicates(iid_registered):
    assert {"s", "te", "ti", "gp", "hsgp", "spde", "kinship", "known_cov", "iid"} <= \
        known_calls()
    with pytest.raises(ValueError, match="already registered"):
        register_term("iid")(lambda *a: [])
    with pytest.raises(ValueError, match="identifier"):
        register_term("offset")


def test_unregistered_call_is_a_fixed_effect_function():
    d = sg.datasets.load_sleepstudy()
    with pytest.raises(FormulaError, match="iid"):
        sg.fit("Reaction ~ Days + iid(Subject)", d)


def test_abilities_are_declared_with_their_members():
    with pytest.raises(TypeError, match="lacks"):
        class Missing(LatentTerm):
            abilities = frozenset({Ability.KRIGING_VARIANCE})

    with pytest.raises(TypeError, match="does not declare"):
        class Undeclared(LatentTerm):
            def extra_variance(self, newdata, phi, scale):
                return np.zeros(len(newdata))


def test_builtin_terms_declare_their_abilities():
    from spatialgamm.terms.gp import GPTerm
    from spatialgamm.terms.known_cov import KnownCovTerm
    from spatialgamm.terms.ranef import RandomEffectTerm
    from spatialgamm.terms.smooth import MultiPenaltyTerm, SmoothTerm
    from spatialgamm.terms.spde import SPDETerm

    assert RandomEffectTerm.has(Ability.GROUPING_FACTOR)
    assert RandomEffectTerm.has(Ability.OPTIMISER_UNITS)
    assert SmoothTerm.has(Ability.SMOOTH) and not SmoothTerm.has(Ability.RANEF_FRAME)
    assert MultiPenaltyTerm.has(Ability.PRECISION_DERIVATIVES)
    assert GPTerm.has(Ability.KRIGING_VARIANCE) and GPTerm.has(Ability.COVARIANCE_FORM)
    assert KnownCovTerm.has(Ability.HERITABLE) and KnownCovTerm.population_level_drop
    assert SPDETerm.has(Ability.FIELD_REPORT) and not SPDETerm.has(Ability.GROUPING_FACTOR)
