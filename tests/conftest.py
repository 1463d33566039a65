"""Shared test set-up: a headless matplotlib and the R reference numbers."""

import json
import os
from pathlib import Path

# Before anything imports matplotlib: tests must not need a display.
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REFERENCE_DIR = Path(__file__).parent / "reference"


def _load_reference(name: str) -> dict:
    # Parsed afresh on each call (the files are small) so no test can alter another's copy.
    path = REFERENCE_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        known = sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))
        raise FileNotFoundError(f"no reference file {path.name}; known: {', '.join(known)}")
    with path.open() as fh:
        return json.load(fh)


@pytest.fixture
def reference():
    """Loader of tests/reference/<name>.json (what R reports), e.g. ``reference("cbpp")``."""
    return _load_reference


#: the five mgcv fits of tests/reference/rongelap_mgcv.json (make_reference.R)
RONGELAP_CASES = {
    "ubre_default": ("counts ~ s(cX, cY, bs='gp', k=50)", None),
    "reml_default": ("counts ~ s(cX, cY, bs='gp', k=50)", "REML"),
    "ubre_spherical_range_half": ("counts ~ s(cX, cY, bs='gp', k=50, m=(1, 0.5))", None),
    "reml_matern25_range1000": ("counts ~ s(cX, cY, bs='gp', k=50, m=(4, 1000))", "REML"),
    "reml_powexp_range2000": ("counts ~ s(cX, cY, bs='gp', k=40, m=(2, 2000, 1))", "REML"),
}


@pytest.fixture(scope="session")
def rongelap_fits():
    """The five Rongelap gam fits, made once per test session."""
    import spatialgamm as sg

    d = sg.datasets.load_rongelap()
    return {k: sg.gam(f + " + offset(log(time))", d, family="poisson", method=m)
            for k, (f, m) in RONGELAP_CASES.items()}


@pytest.fixture(scope="module")
def one_blas_thread():
    """Dense work on a few hundred rows: waking BLAS threads on a busy 2-core machine costs
    far more than the arithmetic (the engine does the same below its size threshold)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def gradient_check():
    """``check(fg, f, x)``: the value of ``fg(x)`` equals ``f(x)`` and its gradient equals
    central differences of ``f`` (step 1e-5: truncation ~1e-10, PIRLS noise ~1e-9, so
    agreement to 1e-6 is a real check of the derivative formulae)."""

    def check(fg, f, x, h=1e-5):
        value, grad = fg(x)
        assert value == pytest.approx(f(x), rel=1e-10)
        central = np.array([(f(x + e) - f(x - e)) / (2 * h) for e in np.eye(len(x)) * h])
        np.testing.assert_allclose(grad, central, rtol=1e-6, atol=1e-6)
        return grad

    return check
