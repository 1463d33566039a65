"""Invariances a user relies on (issue 12 section 3, issue 18): row order, units, threads,
and memory held by fits.

The references are the model's own symmetries, not earlier runs of the package: shuffling
rows permutes the likelihood's terms, rescaling a covariate by c rescales its coefficient
by 1/c at the same likelihood, and a fit in a thread is the same computation as a fit alone.
"""

from __future__ import annotations

import gc
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spatialgamm as sg
from spatialgamm.engine import threads

LMER = "Reaction ~ Days + (Days | Subject)"
GLMER = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GAM_GP = "counts ~ s(cX, cY, bs='gp', k=30)"


@pytest.fixture(scope="module")
def sleep():
    return sg.datasets.load_sleepstudy()


@pytest.fixture(scope="module")
def cbpp():
    return sg.datasets.load_cbpp()


@pytest.fixture(scope="module")
def rongelap():
    return sg.datasets.load_rongelap()


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


# ---- row order --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lmer_fit(sleep):
    return sg.lmer(LMER, sleep)


@pytest.fixture(scope="module")
def glmer_fit(cbpp):
    return sg.glmer(GLMER, cbpp, family="binomial")


@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_lmer_row_order(sleep, lmer_fit, seed):
    perm = np.random.default_rng(seed).permutation(len(sleep))
    m = sg.lmer(LMER, sleep.iloc[perm])
    assert m.fixef.to_numpy() == pytest.approx(lmer_fit.fixef.to_numpy(), rel=1e-7)
    assert m.state.phi == pytest.approx(lmer_fit.state.phi, rel=1e-6, abs=1e-8)
    assert m.loglik == pytest.approx(lmer_fit.loglik, abs=1e-8)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_glmer_row_order(cbpp, glmer_fit, seed):
    perm = np.random.default_rng(seed).permutation(len(cbpp))
    m = sg.glmer(GLMER, cbpp.iloc[perm], family="binomial")
    assert m.fixef.to_numpy() == pytest.approx(glmer_fit.fixef.to_numpy(), rel=1e-6)
    assert m.state.phi == pytest.approx(glmer_fit.state.phi, rel=1e-6)
    assert m.loglik == pytest.approx(glmer_fit.loglik, abs=1e-8)


@pytest.mark.parametrize("seed", [3, 11])
def test_gam_gp_row_order_including_null_space(rongelap, seed):
    """Issue 18: the gp smooth's null-space coefficients changed sign (in fact rotated) with
    row order; every reported coefficient must now agree."""
    kw = dict(family="poisson", offset="log(time)")
    a = sg.gam(GAM_GP, rongelap, **kw)
    perm = np.random.default_rng(seed).permutation(len(rongelap))
    b = sg.gam(GAM_GP, rongelap.iloc[perm].reset_index(drop=True), **kw)
    assert list(b.fixef.index) == list(a.fixef.index)
    assert b.fixef.to_numpy() == pytest.approx(a.fixef.to_numpy(), rel=1e-5)
    scale = np.max(np.abs(a.coef.to_numpy()))
    assert np.max(np.abs(b.coef.to_numpy() - a.coef.to_numpy())) < 1e-5 * scale
    assert b.predict(rongelap)["fit"].to_numpy() == pytest.approx(
        a.predict(rongelap)["fit"].to_numpy(), abs=1e-5)


# ---- units ------------------------------------------------------------------------------
UNIT_CASES = [
    pytest.param("lmer", "Reaction ~ Days + (1 | Subject)", "Days", id="lmer-fixed"),
    # the optimiser searches in the slope's units (ParameterSpace.scale), so this holds too
    pytest.param("lmer", "Reaction ~ Days + (Days | Subject)", "Days", id="lmer-slope"),
    pytest.param("glmer", "cbind(incidence, size - incidence) ~ period + x + (1 | herd)", "x",
                 id="glmer-fixed"),
    pytest.param("gam", "counts ~ cX + s(cY, k=8)", "cX", id="gam-fixed"),
]


def _fit(kind, formula, d):
    if kind == "lmer":
        return _quiet(sg.lmer, formula, d, REML=False)
    if kind == "glmer":
        return _quiet(sg.glmer, formula, d, family="binomial")
    return _quiet(sg.gam, formula, d, family="poisson", offset="log(time)", method="REML")


@pytest.mark.parametrize("factor", [1e6, 1e-6])
@pytest.mark.parametrize("kind,formula,col", UNIT_CASES)
def test_rescaled_covariate(kind, formula, col, factor, sleep, cbpp, rongelap):
    """x -> c x gives beta_x / c, the other coefficients and the log-likelihood unchanged."""
    d = {"lmer": sleep, "glmer": cbpp.assign(x=np.arange(len(cbpp)) % 7 / 7.0),
         "gam": rongelap}[kind]
    a = _fit(kind, formula, d)
    b = _fit(kind, formula, d.assign(**{col: d[col] * factor}))
    assert b.fixef[col] * factor == pytest.approx(a.fixef[col], rel=1e-4)
    others = [k for k in a.fixef.index if k != col]
    assert b.fixef[others].to_numpy() == pytest.approx(a.fixef[others].to_numpy(), rel=1e-4)
    assert b.loglik == pytest.approx(a.loglik, abs=1e-3)


# ---- threads ----------------------------------------------------------------------------
class _FakeBlas:
    """Stands in for threadpoolctl's limiter: records the process-wide thread count, so the
    guard's bookkeeping is tested without depending on which thread OpenBLAS lets change
    its count (numpy's OpenBLAS 0.3.30 ignores changes from a secondary thread once the
    main thread has set one)."""

    def __init__(self):
        self.threads, self.lock = 2, threading.Lock()

    def apply_one(self):
        fake = self

        class Limiter:
            saved = fake.threads

            def restore_original_limits(self):
                fake.threads = self.saved
        lim = Limiter()
        self.threads = 1
        return lim


@pytest.fixture
def fake_blas(monkeypatch):
    fake = _FakeBlas()
    monkeypatch.setattr(threads, "_apply_one", fake.apply_one)
    return fake


def test_guard_keeps_one_thread_until_the_last_fit_leaves(fake_blas):
    """Fit A enters, fit B enters, A leaves: B must still run on one thread, and the
    original count comes back only when B leaves. (A per-fit guard restored A's saved count
    under B, then B's 'saved' one, leaving the process on one thread.)"""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def fit_a():
        with threads.blas_threads_for(10):
            a_in.set()
            b_in.wait()

    def fit_b():
        a_in.wait()
        with threads.blas_threads_for(10):
            b_in.set()
            a_out.wait()
            seen["inside"] = fake_blas.threads

    ta, tb = threading.Thread(target=fit_a), threading.Thread(target=fit_b)
    ta.start()
    tb.start()
    ta.join()
    seen["after_a"] = fake_blas.threads
    a_out.set()
    tb.join()
    assert seen == {"after_a": 1, "inside": 1}
    assert fake_blas.threads == 2


def test_guard_with_the_real_blas():
    """The same on the process's own BLAS libraries: one thread while any small fit runs,
    the original count after. (Vacuous where BLAS already runs one thread, or where another
    thread of the user's holds threadpoolctl's OpenBLAS ownership: its limits then stand.)"""
    from threadpoolctl import threadpool_info

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    orig = counts()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def fit_a():
        with threads.blas_threads_for(10):
            a_in.set()
            b_in.wait()

    def fit_b():
        a_in.wait()
        with threads.blas_threads_for(10):
            b_in.set()
            a_out.wait()
            seen["inside"] = counts()

    ta, tb = threading.Thread(target=fit_a), threading.Thread(target=fit_b)
    ta.start()
    tb.start()
    ta.join()
    seen["after_a"] = counts()
    a_out.set()
    tb.join()
    assert set(seen["after_a"]) <= {1} and set(seen["inside"]) <= {1}
    assert counts() == orig


def test_guard_modes_do_not_mix(fake_blas):
    """A large fit (library default threads) and a small one (one thread) never overlap:
    the small one waits until the large one leaves."""
    big_in, release, small_in = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def big():
        with threads.blas_threads_for(10**6):
            big_in.set()
            release.wait()
            seen["big"] = fake_blas.threads

    def small():
        big_in.wait()
        with threads.blas_threads_for(10):
            small_in.set()
            seen["small"] = fake_blas.threads

    tb, ts = threading.Thread(target=big), threading.Thread(target=small)
    tb.start()
    ts.start()
    assert not small_in.wait(0.3)  # blocked while the large fit holds the default mode
    release.set()
    tb.join()
    ts.join()
    assert seen == {"big": 2, "small": 1} and fake_blas.threads == 2


def test_nested_guard_in_a_lone_large_fit(fake_blas):
    with threads.blas_threads_for(10**6):
        with threads.blas_threads_for(0):  # the selected inverse asks for one thread
            assert fake_blas.threads == 1
            with threads.blas_threads_for(5):  # and deeper: no wait for itself
                assert fake_blas.threads == 1
        assert fake_blas.threads == 2
    assert fake_blas.threads == 2 and threads._holders == 0 and threads._mode is None


def test_guard_restores_after_an_exception(fake_blas):
    with pytest.raises(RuntimeError):
        with threads.blas_threads_for(10):
            raise RuntimeError("fit failed")
    assert fake_blas.threads == 2 and threads._holders == 0


def test_concurrent_fits_equal_sequential(sleep, cbpp):
    jobs = {
        "lmer": lambda: sg.lmer(LMER, sleep),
        "glmer": lambda: sg.glmer(GLMER, cbpp, family="binomial"),
        "gam": lambda: sg.gam("Reaction ~ s(Days, k=5) + s(Subject, bs='re')", sleep,
                              method="REML"),
    }
    with warnings.catch_warnings():  # set here: catch_warnings is not thread-safe
        warnings.simplefilter("ignore")
        seq = {k: f() for k, f in jobs.items()}
        with ThreadPoolExecutor(3) as ex:
            futures = {k: [ex.submit(f) for _ in range(2)] for k, f in jobs.items()}
            par = {k: [f.result() for f in v] for k, v in futures.items()}
    for k, fits in par.items():
        for m in fits:
            np.testing.assert_array_equal(m.state.beta, seq[k].state.beta)
            np.testing.assert_array_equal(m.state.phi, seq[k].state.phi)
            assert m.loglik == seq[k].loglik


# ---- memory held by fits ----------------------------------------------------------------
def _loop(n: int, data) -> list:
    """Fit n times into one local name, as a user's loop does; check on the way that the
    earlier fits are gone (at most the current one and, while this frame runs, the one
    CPython's snapshot of its locals, taken by the last fit's caller lookup, still holds)."""
    refs = []
    for i in range(n):
        m = sg.lmer("Reaction ~ Days + (1 | Subject)", data)  # `m` is in this frame's locals
        refs.append(weakref.ref(m))
        if i and i % max(n // 4, 1) == 0:
            gc.collect()
            assert sum(r() is not None for r in refs) <= 2
    return refs


def _count_alive_after_loop(n: int, data) -> int:
    refs = _loop(n, data)
    gc.collect()
    return sum(r() is not None for r in refs)


def test_fits_do_not_keep_earlier_fits_alive(sleep):
    """Issue 18: each fit stored the caller's namespace (with the previous `m` in it), so a
    loop kept every fit reachable (+29 MB over 200 sleepstudy fits)."""
    assert _count_alive_after_loop(60, sleep) == 0


@pytest.mark.slow
def test_two_thousand_fits_do_not_accumulate(sleep):
    assert _count_alive_after_loop(2000, sleep) == 0


def test_fit_keeps_only_the_names_its_formula_uses(sleep):
    k0 = 0.5
    big = np.zeros(10_000)  # noqa: F841 - a caller's object the fit must not keep
    m = sg.lmer("Reaction ~ Days + (1 | Subject) + offset(k0 * Days)", sleep)
    assert set(m.spec.env) == {"k0"} and m.spec.env["k0"] == k0
    nd = sleep.iloc[:3]
    assert m.predict(nd)["fit"].to_numpy() == pytest.approx(m.fitted[:3])
