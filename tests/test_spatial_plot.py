"""Map plots produce figures (saved as non-empty PNGs) with the labels a reader needs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from test_spatial_fakes import DATA, FakeFit, coastline  # noqa: E402

from spatialgamm.spatial import plot_estimate_se, plot_map, predict_grid, save_figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grid():
    return predict_grid(FakeFit(c=0.2, e=1e-4), coastline(), n=(60, 30), buffer=50,
                        exceedance=[2.0], units="counts/s")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _is_png(path):
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_plot_map_of_a_grid(grid, tmp_path):
    data = pd.read_csv(DATA / "rongelap.csv")
    ax = plot_map(grid, "estimate", data=data)
    assert ax.get_xlabel() == "cX" and ax.get_ylabel() == "cY"
    assert "per unit exposure" in ax.get_title()
    assert ax.get_aspect() == 1.0
    bar = ax.figure.axes[-1]
    assert bar.get_ylabel() == "counts/s"
    assert len(ax.lines) >= 1  # the coastline
    assert save_figure(ax.figure, tmp_path / "maps" / "estimate.png") == tmp_path / "maps" / "estimate.png"
    assert _is_png(tmp_path / "maps" / "estimate.png")


def test_exceedance_map_spans_zero_to_one(grid, tmp_path):
    ax = grid.plot("p_exceed_2", title="Exceeds 2 counts/s")
    image = ax.images[0]
    assert image.get_clim() == (0.0, 1.0)
    assert ax.get_title() == "Exceeds 2 counts/s"
    save_figure(ax.figure, tmp_path / "p.png")
    assert _is_png(tmp_path / "p.png")


def test_plot_map_of_cells_with_outline(grid, tmp_path):
    ax = plot_map(grid.cells, "se", polygon=coastline(), cmap="magma")
    assert ax.get_xlabel() == "cX"
    save_figure(ax.figure, tmp_path / "cells.png")
    assert _is_png(tmp_path / "cells.png")


def test_estimate_and_se_side_by_side(grid, tmp_path):
    fig = plot_estimate_se(grid)
    maps = [a for a in fig.axes if a.get_title() in ("Estimate", "Standard error")]
    assert len(maps) == 2
    save_figure(fig, tmp_path / "pair.png")
    assert _is_png(tmp_path / "pair.png")
    fig2 = grid.plot_pair(figsize=(8, 3))
    assert tuple(fig2.get_size_inches()) == (8, 3)
    save_figure(fig2, tmp_path / "pair.pdf")
    assert (tmp_path / "pair.pdf").read_bytes()[:4] == b"%PDF"


def test_plot_into_given_axes(grid):
    fig, (a, b) = plt.subplots(1, 2)
    assert plot_map(grid, ax=b) is b


def test_plot_errors(grid, tmp_path):
    with pytest.raises(ValueError, match="band 'nope' not found"):
        plot_map(grid, "nope")
    ax = plot_map(grid)
    with pytest.raises(ValueError, match="format"):
        save_figure(ax.figure, tmp_path / "map.xyz")
    with pytest.raises(ValueError, match="coordinate columns"):
        plot_map(grid, data=pd.DataFrame({"a": [1.0], "b": [2.0]}))
    with pytest.raises(TypeError, match="GridPrediction"):
        plot_estimate_se(grid.cells)
    with pytest.raises(TypeError, match="GridPrediction or its cells"):
        plot_map(pd.DataFrame(grid.cells.drop(columns="geometry")))


def test_save_figure_is_atomic(grid, tmp_path, monkeypatch):
    ax = plot_map(grid)

    def boom(self, *args, **kwargs):
        with open(args[0], "wb") as fh:
            fh.write(b"partial")  # a half-written temporary file ...
        raise OSError("disk full")  # ... then the failure

    monkeypatch.setattr(type(ax.figure), "savefig", boom)
    with pytest.raises(OSError, match="disk full"):
        save_figure(ax.figure, tmp_path / "map.png")
    assert list(tmp_path.iterdir()) == []
