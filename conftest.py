"""Names the docstring examples of spatialgamm/ share (pytest --doctest-modules): the Rongelap
data and coastline, its mgcv-style GP fit and a small map of it, so map and file examples run
as written. Doctests run in a temporary directory, so the files they write go nowhere."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _rongelap_objects():
    import matplotlib

    matplotlib.use("Agg")
    import spatialgamm as sg

    rongelap = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", rongelap,
                 family="poisson")
    grid = sg.predict_grid(fit, coast, n=(60, 30), buffer=50, exceedance=[10],
                           units="counts/s")
    return dict(sg=sg, rongelap=rongelap, coast=coast, coastline=coast, fit=fit, grid=grid)


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace, tmp_path, monkeypatch):
    """Only for doctest items: the shared objects and a temporary working directory."""
    if type(request.node).__name__ != "DoctestItem":
        yield
        return
    doctest_namespace.update(request.getfixturevalue("_rongelap_objects"))
    monkeypatch.chdir(tmp_path)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
