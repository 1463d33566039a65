"""The bad-input catalogue (issues 12 and 18): every case raises (or warns, where R is silent)
with a message that names the column, value or argument at fault, before any heavy work.

Each case is ``(id, call, expected class, regex)``; the regex must name the culprit. The data
are small (60 rows) and simulated; where a behaviour copies R, the R call and its answer are
quoted beside the case (lme4 1.1-31, mgcv 1.8, R 4.2.2). A module-wide alarm makes a case
that hangs fail instead of blocking the suite.
"""

from __future__ import annotations

import re
import signal
import warnings

import numpy as np
import pandas as pd
import pytest

import spatialgamm as sg
from spatialgamm.errors import (
    DataError,
    DataTypeError,
    DataWarning,
    FormulaError,
    ModelError,
    PredictionError,
)

N = 60


@pytest.fixture(autouse=True)
def _no_hang():
    """Fail a case that runs for more than a minute (none should come close)."""
    def boom(signum, frame):
        raise TimeoutError("bad-input case hung")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def base() -> pd.DataFrame:
    """60 rows: Gaussian y, Poisson cnt, binary b, covariates x, z, factor f, groups g."""
    rng = np.random.default_rng(12)
    g = np.repeat(np.arange(10), 6)
    x = rng.normal(size=N)
    z = np.linspace(0, 1, N)
    u = rng.normal(scale=0.7, size=10)[g]
    return pd.DataFrame({
        "y": 1 + 0.5 * x + np.sin(4 * z) + u + rng.normal(scale=0.5, size=N),
        "cnt": rng.poisson(np.exp(0.3 + 0.4 * x + u)),
        "b": rng.binomial(1, 1 / (1 + np.exp(-(0.2 + x + u)))),
        "x": x, "z": z,
        "f": np.tile(["a", "b", "c"], N // 3),
        "g": [f"g{i}" for i in g],
        "obs2": [f"o{i}" for i in np.arange(N) // 2],  # 30 levels, 2 rows each
    })


# ---- the four front doors, each with the covariate part {fx} ---------------------------
DOORS = {
    "lmer": lambda d, fx, **kw: sg.lmer(f"y ~ {fx} + (1 | g)", d, **kw),
    "glmer": lambda d, fx, **kw: sg.glmer(f"cnt ~ {fx} + (1 | g)", d, family="poisson", **kw),
    "gam": lambda d, fx, **kw: sg.gam(f"y ~ {fx} + s(z, k=5)", d, **kw),
    "fit": lambda d, fx, **kw: sg.fit(f"y ~ {fx}", d, **kw),
}


def _dup(d):
    return pd.concat([d, d[["x"]] * 2], axis=1)


def _set(col, values):
    def f(d):
        d = d.copy()
        d[col] = values(d) if callable(values) else values
        return d
    return f


def _at(col, row, value):
    def f(d):
        d = d.copy()
        d[col] = d[col].astype(object) if isinstance(value, str) else d[col]
        d.loc[row, col] = value
        return d
    return f


def _one_level_after_na(d):
    # h has a second level only on rows whose response is missing: after R's na.omit it has
    # one level, so lm/lmer stop with "contrasts can be applied only to factors with 2 or
    # more levels"
    d = d.copy()
    d["h"] = "keep"
    d.loc[:4, "h"] = "gone"
    d.loc[:4, "y"] = np.nan
    d.loc[:4, "cnt"] = np.nan
    return d


#: (id, corruption of the data, covariate part, extra arguments, class, regex naming it)
DATA_CASES = [
    ("duplicated-column", _dup, "x", {}, DataError, r"\['x'\].*more than once"),
    ("complex-column", _set("x", lambda d: d["x"] + 1j), "x", {}, DataError,
     r"'x'.*complex"),
    ("inf-covariate", _at("x", 7, np.inf), "x", {}, DataError, r"'x'.*infinite.*row 7"),
    ("minus-inf-covariate", _at("x", 3, -np.inf), "x", {}, DataError,
     r"'x'.*infinite.*row 3"),
    ("datetime-covariate",
     _set("x", lambda d: pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(N), "D")),
     "x", {}, DataError, r"'x'.*dates/times.*numeric time"),
    ("timedelta-covariate", _set("x", lambda d: pd.to_timedelta(np.arange(N), "h")), "x",
     {}, DataError, r"'x'.*dates/times"),
    ("one-level-factor", _set("h", "a"), "x + h", {}, DataError,
     r"factor 'h' has only one level \('a'\).*2 or more levels"),
    ("one-level-bool", _set("h", True), "x + h", {}, DataError,
     r"factor 'h' has only one level"),
    ("one-level-categorical", _set("h", lambda d: pd.Categorical(["u"] * N)), "x + h", {},
     DataError, r"factor 'h'"),
    ("one-level-after-na", _one_level_after_na, "x + h", {}, DataError,
     r"factor 'h' has only one level \('keep'\)"),
    ("weights-not-a-column", lambda d: d, "x", {"weights": "wt"}, DataError,
     r"weights='wt' is not a column"),
    ("missing-variable", lambda d: d, "x + xx", {}, FormulaError, r"\['xx'\]"),
    ("empty-offset", lambda d: d, "x + offset()", {}, FormulaError, r"empty offset\(\)"),
    ("offset-length", lambda d: d, "x", {"offset": [1.0, 2.0, 3.0]}, ValueError,
     r"offset has 3 values"),
    ("offset-column-inf", _set("lo", lambda d: np.r_[-np.inf, np.zeros(N - 1)]), "x",
     {"offset": "lo"},
     DataError, r"'lo'.*infinite.*row 0"),
    ("inf-response",
     lambda d: _at("cnt", 9, np.inf)(_at("y", 9, np.inf)(d.astype({"cnt": float}))), "x", {},
     DataError, r"'(y|cnt)' has an infinite value at row 9.*the response must be finite"),
    ("weights-negative", lambda d: d, "x", {"weights": -np.ones(N)}, ValueError,
     r"weights must be"),
    ("weights-length", lambda d: d, "x", {"weights": np.ones(3)}, ValueError,
     r"weights must be.*one per row"),
    ("na-action-fail", _at("x", 2, np.nan), "x", {"na_action": "fail"}, ValueError,
     r"\['x'\].*na_action='fail'"),
]

DATA_PARAMS = [pytest.param(door, *case[1:], id=f"{door}-{case[0]}")
               for door in DOORS for case in DATA_CASES]


@pytest.mark.parametrize("door,corrupt,fx,kw,exc,pattern", DATA_PARAMS)
def test_bad_data_is_named(door, corrupt, fx, kw, exc, pattern):
    d = corrupt(base())
    with warnings.catch_warnings(record=True) as seen, pytest.raises(exc, match=pattern):
        warnings.simplefilter("always")
        DOORS[door](d, fx, **kw)
    # the only warning on the way is the count of rows dropped for missing values, named
    for w in seen:
        assert issubclass(w.category, DataWarning)
        assert re.search(r"5 row\(s\) with missing values dropped \(columns \['y'", str(w.message)) \
            or re.search(r"missing values dropped \(columns \[.*'cnt'", str(w.message))


# ---- what the data cannot identify ------------------------------------------------------
def _const_y(d):
    return d.assign(y=3.0)


def _zero_counts(d):
    return d.assign(cnt=0)


MODEL_CASES = [
    # lme4: lmer on a constant response stops at non-finite gradients; mgcv's REML fails
    pytest.param(lambda d: sg.lmer("y ~ x + (1 | g)", _const_y(d)), ModelError,
                 r"'y' is constant \(3 in every row\)", id="lmer-constant-response"),
    pytest.param(lambda d: sg.gam("y ~ s(z, k=5)", _const_y(d)), ModelError,
                 r"'y' is constant", id="gam-constant-response"),
    pytest.param(lambda d: sg.gam("y ~ s(z, k=5)", _const_y(d), method="REML"), ModelError,
                 r"'y' is constant", id="gam-reml-constant-response"),
    pytest.param(lambda d: sg.fit("y ~ x", _const_y(d)), ModelError, r"'y' is constant",
                 id="fit-constant-response"),
    # lme4: glmer(all-zero Poisson) stops with "Response is constant"; every door agrees
    pytest.param(lambda d: sg.glmer("cnt ~ x + (1 | g)", _zero_counts(d), family="poisson"),
                 ModelError, r"'cnt' is zero in every row", id="glmer-all-zero-poisson"),
    pytest.param(lambda d: sg.gam("cnt ~ s(z, k=5)", _zero_counts(d), family="poisson"),
                 ModelError, r"'cnt' is zero in every row", id="gam-all-zero-poisson"),
    pytest.param(lambda d: sg.fit("cnt ~ x", _zero_counts(d), family="poisson"), ModelError,
                 r"'cnt' is zero in every row", id="fit-all-zero-poisson"),
    pytest.param(lambda d: sg.glmer("b ~ x + (1 | g)", d.assign(b=0), family="binomial"),
                 ModelError, r"'b' is zero in every row", id="glmer-all-zero-binomial"),
    pytest.param(lambda d: sg.gam("b ~ s(z, k=5)", d.assign(b=1), family="binomial"),
                 ModelError, r"'b' is a success in every row", id="gam-all-one-binomial"),
    pytest.param(lambda d: sg.fit("b ~ x", d.assign(b=1), family="binomial"),
                 ModelError, r"'b' is a success in every row", id="fit-all-one-binomial"),
    # lme4's check.nobs.vs.nRE: "number of observations (=60) <= number of random effects
    # (=60) for term (x | obs2); the random-effects parameters and the residual variance
    # (or scale parameter) are probably unidentifiable"
    pytest.param(lambda d: sg.lmer("y ~ x + (x | obs2)", d), ModelError,
                 r"observations \(=60\) <= number of random effects \(=60\).*\(x \| obs2\)",
                 id="lmer-more-random-effects-than-obs"),
    pytest.param(lambda d: sg.lmer("y ~ x + (x | obs2)", d.iloc[:50]), ModelError,
                 r"\(=50\) <= .*\(=50\)", id="lmer-more-random-effects-than-obs-50"),
    pytest.param(lambda d: sg.lmer("y ~ x + (1 | g)", d.assign(g="one")), FormulaError,
                 r"grouping factors must have > 1 sampled level \(problems: g\)",  # lme4's words
                 id="lmer-one-level-group"),
    # R: "y ~ x +" is a syntax error ("unexpected end of input")
    pytest.param(lambda d: sg.lmer("y ~ x + (1 | g) +", d), FormulaError,
                 r"ends with '\+'", id="lmer-trailing-plus"),
    pytest.param(lambda d: sg.glmer("cnt ~ x + (1 | g) + ", d, family="poisson"),
                 FormulaError, r"ends with '\+'", id="glmer-trailing-plus"),
    pytest.param(lambda d: sg.gam("y ~ s(z, k=5) +", d), FormulaError, r"ends with '\+'",
                 id="gam-trailing-plus"),
    pytest.param(lambda d: sg.fit("y ~ x *", d), FormulaError, r"ends with '\*'",
                 id="fit-trailing-star"),
    pytest.param(lambda d: sg.lmer("y ~ x + (1 | gg)", d), FormulaError, r"'gg'",
                 id="lmer-missing-group"),
    pytest.param(lambda d: sg.lmer("y ~ x + 1 | g", d), FormulaError, r"parentheses",
                 id="lmer-bar-without-parentheses"),
    pytest.param(lambda d: sg.lmer("y ~ x", d), ValueError, r"lmer needs.*\(1 \| group\)",
                 id="lmer-no-random-term"),
    pytest.param(lambda d: sg.glmer("cnt ~ x", d, family="poisson"), ValueError,
                 r"glmer needs", id="glmer-no-random-term"),
    pytest.param(lambda d: sg.fit("y ~ x", d, method="XX"), ValueError,
                 r"method must be 'REML' or 'ML', got 'XX'", id="fit-bad-method"),
    pytest.param(lambda d: sg.fit("y ~ x", d, family="poison"), ValueError,
                 r"unknown family 'poison'", id="fit-unknown-family"),
    pytest.param(lambda d: sg.glmer("y ~ x + (1 | g)", d, family="poisson"), ValueError,
                 r"poisson", id="glmer-poisson-non-integer"),
    pytest.param(lambda d: sg.glmer("cnt ~ x + (1 | g)", d, family="binomial"), ValueError,
                 r"binomial", id="glmer-binomial-counts-without-trials"),
    pytest.param(lambda d: sg.lmer("y ~ x + (1 | g)", d.iloc[:0]), ValueError, r"no rows",
                 id="lmer-empty-data"),
    pytest.param(lambda d: sg.lmer(3, d), FormulaError, r"formula must be a string",
                 id="lmer-formula-not-a-string"),
    pytest.param(lambda d: sg.lmer("y ~ x ~ z + (1 | g)", d), FormulaError,
                 r"exactly one '~'", id="lmer-two-tildes"),
    pytest.param(lambda d: sg.lmer("y ~ (x + (1 | g)", d), FormulaError, r"unbalanced",
                 id="lmer-unbalanced"),
    pytest.param(lambda d: sg.lmer("f ~ x + (1 | g)", d), FormulaError,
                 r"response column 'f' is not numeric", id="lmer-text-response"),
    pytest.param(lambda d: sg.lmer("yy ~ x + (1 | g)", d), FormulaError, r"'yy'",
                 id="lmer-missing-response"),
]


@pytest.mark.parametrize("call,exc,pattern", MODEL_CASES)
def test_unidentifiable_or_malformed_model_is_named(call, exc, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the family's own all-zero warning
        with pytest.raises(exc, match=pattern):
            call(base())


# ---- term arguments ----------------------------------------------------------------------
TERM_CASES = [
    ("s(z, k='ten')", FormulaError, r"k must be a whole number.*k='ten'"),
    ("s(z, k=2.5)", FormulaError, r"k=2.5"),
    ("s(z, k=0)", FormulaError, r"k=0"),
    ("s(z, k=-3)", FormulaError, r"k=-3"),
    ("s(z, k=TRUE)", FormulaError, r"k=True"),
    ("s(z, bs=3)", FormulaError, r"bs=3"),
    ("s(z, bs='zz')", ValueError, r"bs='zz'"),
    ("s(z, foo=1)", FormulaError, r"\['foo'\]"),
    ("s(zz)", FormulaError, r"'zz'"),
    ("s(f, k=3)", ValueError, r"factor.*bs='re'"),
    ("s(t, k=5)", DataError, r"'t' holds dates/times.*s\(\) needs a numeric time"),
    ("s(tx, k=5)", FormulaError, r"'tx' holds numbers stored as text"),
    ("s(zi, k=5)", DataError, r"'zi'.*infinite.*row 4"),
    ("s(zc, k=5)", DataError, r"'zc'.*complex"),
    ("s(z, k=5, by=ff)", FormulaError, r"'ff'"),
]


@pytest.mark.parametrize("door", ["gam", "fit"])
@pytest.mark.parametrize("term,exc,pattern", TERM_CASES, ids=[c[0] for c in TERM_CASES])
def test_bad_term_argument_is_named(door, term, exc, pattern):
    d = base()
    d["t"] = pd.Timestamp("2021-03-01") + pd.to_timedelta(np.arange(N), "D")
    d["tx"] = d["z"].astype(str)
    d["zi"] = d["z"].where(d.index != 4, np.inf)
    d["zc"] = d["z"] + 0j
    front = sg.gam if door == "gam" else sg.fit
    with pytest.raises(exc, match=pattern):
        front(f"y ~ x + {term}", d)


# ---- nAGQ: refused before the model is built ---------------------------------------------
NAGQ_CASES = [
    # lme4: "nAGQ > 1 is only available for models with a single, scalar random-effects term"
    ("cnt ~ x + (x | g)", 5, r"nAGQ=5 > 1.*single scalar.*\(x \| g\)"),
    ("cnt ~ x + (1 | g) + (1 | f)", 3, r"nAGQ=3 > 1.*\(1 \| g\)"),
    ("cnt ~ x + (0 + x | g)", 7, r"nAGQ=7"),
    ("cnt ~ s(z, k=5) + (1 | g)", 5, r"nAGQ=5.*s\(z, k=5\)"),
    ("cnt ~ x + (1 | g)", 0, r"nAGQ=0"),
    ("cnt ~ x + (1 | g)", 26, r"nAGQ=26"),
    ("cnt ~ x + (1 | g)", "5", r"nAGQ='5'"),
    ("cnt ~ x + (1 | g)", 2.5, r"nAGQ=2.5"),
    ("cnt ~ x + (1 | g)", -1, r"nAGQ=-1"),
]


@pytest.mark.parametrize("formula,nagq,pattern", NAGQ_CASES,
                         ids=[f"{c[0]}-nAGQ={c[1]!r}" for c in NAGQ_CASES])
def test_bad_nagq_is_refused_before_building(formula, nagq, pattern, monkeypatch):
    import spatialgamm.api as api

    def no_build(*a, **k):
        raise AssertionError("the model was built before nAGQ was checked")
    monkeypatch.setattr(api, "build_model", no_build)
    with pytest.raises(ModelError, match=pattern):
        sg.glmer(formula, base(), family="poisson", nAGQ=nagq)


# ---- containers that are not pandas DataFrames -------------------------------------------
class _FakePolars:
    """Stands in for a polars DataFrame: detected by the module of its type (polars need not
    be installed)."""


_FakePolars.__module__ = "polars.dataframe.frame"
_FakePolars.__name__ = _FakePolars.__qualname__ = "DataFrame"


class _FakeArrow:
    pass


_FakeArrow.__module__ = "pyarrow.lib"
_FakeArrow.__name__ = "Table"

CONTAINERS = [
    (_FakePolars(), r"polars DataFrame.*data\.to_pandas\(\)"),
    (_FakeArrow(), r"pyarrow Table.*to_pandas"),
    ([1, 2, 3], r"pandas DataFrame, got list"),
    ({"y": [1.0, 2.0]}, r"got a dict.*pd\.DataFrame"),
    (np.zeros((3, 2)), r"got ndarray"),
    (None, r"got NoneType"),
]


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize("data,pattern", CONTAINERS,
                         ids=["polars", "pyarrow", "list", "dict", "ndarray", "None"])
def test_non_pandas_data_is_named(door, data, pattern):
    with pytest.raises(DataTypeError, match=pattern):
        DOORS[door](data, "x")
    with pytest.raises(TypeError):  # still a TypeError for code that catches that
        DOORS[door](data, "x")


# ---- R's silent choices, warned -------------------------------------------------------
TEXT_CASES = [
    # R: a character column is a factor (one coefficient per distinct value)
    ("numbers-as-text", lambda d: d.assign(x=d["x"].round(1).astype(str)),
     r"'x'.*numbers stored as text.*treated as a factor.*pd\.to_numeric"),
    ("stray-na-string", _at("x", 3, "n/a"), r"'x'.*non-numbers \['n/a'\].*pd\.to_numeric"),
    ("stray-dash", _at("x", 0, "-"), r"'x'.*\['-'\]"),
]


@pytest.mark.parametrize("door", ["lmer", "gam", "fit"])
@pytest.mark.parametrize("name,corrupt,pattern", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_covariate_warns_it_is_a_factor(door, name, corrupt, pattern):
    d = corrupt(base())
    d["x"] = d["x"].map(lambda v: v if isinstance(v, str) else f"{v:.1f}")
    with pytest.warns(DataWarning, match=pattern):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="spatialgamm.engine")
            warnings.filterwarnings("ignore", message=".*rank deficient.*")
            DOORS[door](d, "x")


def test_genuine_text_factor_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        sg.lmer("y ~ f + (1 | g)", base())


# ---- prediction --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    d = base()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"lmer": sg.lmer("y ~ x + f + (1 | g)", d),
                "glmer": sg.glmer("cnt ~ x + f + (1 | g)", d, family="poisson"),
                "gam": sg.gam("y ~ x + f + s(z, k=5) + (1 | g)", d)}


def _nd(**changes):
    nd = base().iloc[:4].copy().reset_index(drop=True)
    for k, v in changes.items():
        nd[k] = v
    return nd


PREDICT_CASES = [
    # lme4: predict(m, newdata) -> "new levels detected in newdata: 999"
    ("new-group-level", lambda: _nd(g=["g1", "g999", "g2", "g999"]), {}, PredictionError,
     r"new levels.*'g'.*\['g999'\].*allow_new_levels=True"),
    ("new-fixed-level", lambda: _nd(f=["a", "q", "b", "c"]), {}, PredictionError,
     r"level\(s\) \['q'\] of the fixed-effect factor 'f'"),
    ("new-fixed-level-population", lambda: _nd(f=["zz", "a", "b", "c"]), {"re_form": "~0"},
     PredictionError, r"\['zz'\].*'f'"),
    ("text-in-numeric", lambda: _nd(x=["abc", 1.0, 2.0, 3.0]), {}, PredictionError,
     r"'x' was numeric in the fit but holds text.*'abc' at row 0.*pd\.to_numeric"),
    ("numbers-as-text-in-numeric", lambda: _nd(x=["1", "2", "3", "4"]), {}, PredictionError,
     r"'x' was numeric"),
    ("complex-in-numeric", lambda: _nd(x=np.arange(4) + 1j), {}, PredictionError,
     r"'x' holds complex numbers"),
    ("datetime-in-numeric", lambda: _nd(x=pd.date_range("2020-01-01", periods=4)), {},
     PredictionError, r"'x' was numeric in the fit but holds dates/times"),
    ("missing-column", lambda: _nd().drop(columns="x"), {}, PredictionError,
     r"lacks column\(s\) \['x'\]"),
    ("missing-group-column", lambda: _nd().drop(columns="g"), {}, PredictionError,
     r"lacks column\(s\) \['g'\]"),
    ("missing-factor-column", lambda: _nd().drop(columns=["f", "x"]), {"re_form": "~0"},
     PredictionError, r"lacks column\(s\) \['f', 'x'\]"),
    ("bad-re-form", lambda: _nd(), {"re_form": "~(1|g)"}, ValueError, r"re_form"),
    ("bad-type", lambda: _nd(), {"type": "probability"}, ValueError, r"type must be"),
    ("offset-length", lambda: _nd(), {"offset": [1.0, 2.0]}, ValueError,
     r"offset has 2 values for 4 rows"),
    ("polars-newdata", lambda: _FakePolars(), {}, DataTypeError,
     r"newdata is a polars DataFrame.*newdata\.to_pandas\(\)"),
    ("list-newdata", lambda: [1, 2], {}, DataTypeError, r"newdata must be a pandas"),
]


@pytest.mark.parametrize("model", ["lmer", "glmer", "gam"])
@pytest.mark.parametrize("name,newdata,kw,exc,pattern", PREDICT_CASES,
                         ids=[c[0] for c in PREDICT_CASES])
def test_bad_newdata_is_named(fitted, model, name, newdata, kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fitted[model].predict(newdata(), **kw)


@pytest.mark.parametrize("model", ["lmer", "glmer", "gam"])
def test_new_group_level_allowed_predicts_population_value(fitted, model):
    """lme4's allow.new.levels=TRUE: an unseen level gets the population value."""
    m = fitted[model]
    nd = _nd(g=["g1", "g999", "g2", "g998"])
    cond = m.predict(nd, allow_new_levels=True)["fit"].to_numpy()
    pop = m.predict(nd, re_form="~0")["fit"].to_numpy()
    seen = m.predict(nd.iloc[[0, 2]])["fit"].to_numpy()
    assert cond[[1, 3]] == pytest.approx(pop[[1, 3]], rel=1e-12)
    assert cond[[0, 2]] == pytest.approx(seen, rel=1e-12)


NAN_CASES = [("x", [np.nan, 1.0, np.nan, 0.5], [0, 2]),
             ("f", ["a", None, "b", "c"], [1]),
             ("g", ["g1", "g2", None, "g3"], [2])]


@pytest.mark.parametrize("model", ["lmer", "glmer", "gam"])
@pytest.mark.parametrize("col,values,rows", NAN_CASES, ids=[c[0] for c in NAN_CASES])
def test_nan_covariates_predict_nan_only_there(fitted, model, col, values, rows):
    """R's na.pass: NaN for the incomplete rows, the others as if predicted alone; here a
    warning names the column and the rows."""
    m = fitted[model]
    nd = _nd(**{col: values})
    with pytest.warns(DataWarning, match=rf"\['{col}'\].*{len(rows)} row\(s\) \({rows[0]}"):
        out = m.predict(nd)["fit"].to_numpy()
    bad = np.zeros(4, bool)
    bad[rows] = True
    assert np.isnan(out[bad]).all()
    alone = m.predict(nd.loc[~bad])["fit"].to_numpy()
    assert out[~bad] == pytest.approx(alone, rel=1e-12)


def test_nan_in_smooth_variable_predicts_nan(fitted):
    nd = _nd(z=[0.1, np.nan, 0.3, 0.4])
    with pytest.warns(DataWarning, match=r"\['z'\]"):
        out = fitted["gam"].predict(nd, se_fit=True)
    assert np.isnan(out["fit"][1]) and np.isnan(out["se_fit"][1])
    assert np.isfinite(out["fit"].to_numpy()[[0, 2, 3]]).all()


# ---- aliased fixed effects as lme4 (issue 18) ---------------------------------------------
ALIAS_CASES = {
    "z2": "Reaction ~ Days + z2 + (1 | Subject)",
    "z2_first": "Reaction ~ z2 + Days + (1 | Subject)",
    "const": "Reaction ~ c + Days + (1 | Subject)",
    "shift": "Reaction ~ Days + Days3 + (1 | Subject)",
}


def _alias_data():
    d = sg.datasets.load_sleepstudy()
    return d.assign(z2=2 * d["Days"], c=5.0, Days3=d["Days"] - 3)


@pytest.mark.parametrize("case", list(ALIAS_CASES))
def test_aliased_columns_dropped_as_lme4(case, reference):
    """lme4 keeps the earlier columns and drops the later aliased one ("fixed-effect model
    matrix is rank deficient so dropping 1 column / coefficient"); R numbers from
    tests/reference/badinput/aliasing.R."""
    ref = reference("badinput/aliasing")[case]
    with pytest.warns(DataWarning, match=rf"rank deficient so dropping 1 column / "
                                         rf"coefficient: '{ref['dropped']}'"):
        m = sg.lmer(ALIAS_CASES[case], _alias_data(), REML=True)
    assert list(m.fixef.index) == ref["names"]
    assert m.fixef.to_numpy() == pytest.approx([ref["fixef"][k] for k in ref["names"]],
                                               rel=1e-4)
    assert m.se.to_numpy() == pytest.approx([ref["se"][k] for k in ref["names"]], rel=1e-4)
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    nd = _alias_data().iloc[:5]
    assert np.isfinite(m.predict(nd)["fit"]).all()


def test_aliased_glmer_column_dropped_as_lme4(reference):
    ref = reference("badinput/aliasing")["glmer_p2"]
    d = sg.datasets.load_cbpp()
    d["p2"] = (d["period"].astype(str) == "2").astype(float)
    with pytest.warns(DataWarning, match=r"dropping 1 column / coefficient: 'p2'"):
        m = sg.glmer("cbind(incidence, size - incidence) ~ period + p2 + (1 | herd)", d,
                     family="binomial")
    assert list(m.fixef.index) == ref["names"]
    assert m.fixef.to_numpy() == pytest.approx([ref["fixef"][k] for k in ref["names"]],
                                               rel=1e-3)
    assert m.loglik == pytest.approx(ref["loglik"], abs=1e-3)


def test_aliased_lm_drops_as_r(reference):
    """R's lm(Reaction ~ Days + z2 + c) gives NA for z2 and c and keeps (Intercept), Days."""
    ref = reference("badinput/aliasing")["lm"]
    with pytest.warns(DataWarning, match=r"dropping 2 columns / coefficients: 'z2', 'c'"):
        m = sg.fit("Reaction ~ Days + z2 + c", _alias_data(), method="ML")
    assert m.fixef.to_dict() == pytest.approx(ref["coef"], rel=1e-6)


# ---- prediction at new levels and with missing covariates against lme4 ------------------
def test_new_levels_and_missing_covariates_as_lme4(reference):
    """lme4's predict(m, nd, allow.new.levels=TRUE, na.action=na.pass) on sleepstudy;
    without allow.new.levels it stops: "new levels detected in newdata: 999"
    (tests/reference/badinput/predict.R)."""
    ref = reference("badinput/predict")["lmer"]
    nd = pd.DataFrame(ref["newdata"]).astype({"Days": float})
    m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
    with pytest.raises(PredictionError, match=r"\['999'\]"):
        m.predict(nd.iloc[:2])
    with pytest.warns(DataWarning, match=r"\['Days'\] at 1 row\(s\) \(2\)"):
        out = m.predict(nd, allow_new_levels=True)["fit"].to_numpy()
    want = np.array([np.nan if v is None else v for v in ref["fit"]])
    assert np.isnan(out[2])
    assert out[[0, 1, 3]] == pytest.approx(want[[0, 1, 3]], rel=1e-4)


def test_glmer_new_levels_as_lme4(reference):
    ref = reference("badinput/predict")["glmer"]
    nd = pd.DataFrame(ref["newdata"])
    g = sg.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 sg.datasets.load_cbpp(), family="binomial")
    with pytest.raises(PredictionError, match=r"\['99', '98'\]"):
        g.predict(nd)
    out = g.predict(nd, type="response", allow_new_levels=True)["fit"].to_numpy()
    assert out == pytest.approx(ref["fit"], rel=1e-4)
