"""``predict_raster``: a map of any size as a lazy xarray Dataset, one dask task per tile.

The grid is laid out and every argument checked as for
:func:`~spatialgamm.spatial.predict_grid`; nothing is predicted until the Dataset (or one of
its variables) is computed or written (:func:`~spatialgamm.spatial.rasterout.to_cog`,
:func:`~spatialgamm.spatial.rasterout.to_zarr`). Each tile is one task
(:func:`~spatialgamm.spatial.tiles.tile_block`: rasterised cell selection, then the fit's
predictions at the cell centres), so memory per task is bounded by the tile and the tasks run
on dask's local threaded scheduler, or on a ``distributed.Client`` (a local cluster, or a
cluster of machines: the fit and polygon travel to the workers once, pickled).
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import re
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from .gridprediction import band_units, geotiff_tags, scale_label
from .plan import GridOptions, GridPlan, check_flag, plan_grid
from .rasterout import register_accessor
from .tiled import _warn_extrapolation_sampled
from .tiles import check_chunks, tile_block, tiles_of


def predict_raster(
    fit: Any,
    polygon: Any,
    n: int | Sequence[int] | None = None,
    *,
    resolution: float | Sequence[float] | None = None,
    chunks: int | Sequence[int] = 512,
    **options: Any,
) -> Any:
    """Predict a fitted model over a grid covering a polygon, lazily, tile by tile (dask).

    The grid, the cells kept and the bands are those of
    :func:`~spatialgamm.spatial.predict_grid` (``resolution`` is its ``cellsize``): cell
    for cell the same numbers, but as a Dataset of dask arrays that is computed one tile
    (``chunks`` x ``chunks`` cells) per task, so its size is limited by disk, not memory.

    Parameters
    ----------
    fit, polygon, n
        As for :func:`~spatialgamm.spatial.predict_grid`.
    resolution : float or (float, float), optional
        Cell width (and height) in the coordinates' units. Give ``n`` or ``resolution``.
    chunks : int or (int, int)
        Cells per tile side (rows, cols); at least 16. A task holds one tile of every band
        (``8 * bands * rows * cols`` bytes) besides the model's own work per chunk.
    **options
        The grid options (:class:`~spatialgamm.spatial.plan.GridOptions`), as for
        ``predict_grid``: ``buffer``, ``type``, ``level``, ``exceedance``, ``coords``,
        ``covariates``, ``offset``, ``crop``, ``crs``, ``chunk_size``, ``units``,
        ``extrapolate``.

    Returns
    -------
    xarray.Dataset
        Variables ``estimate``, ``se``, ``lower``, ``upper`` and ``p_exceed_<c>``, each
        ``(y, x)`` float64 backed by dask (one chunk per tile), NaN where a cell is not
        mapped (nodata); coordinates ``x``, ``y`` are the cell centres (``y`` from the top);
        the CRS and transform are written with rioxarray (``ds.rio.crs``,
        ``ds.rio.transform()``); ``attrs`` hold the scale, interval and link, and each
        variable's ``units``.

    Notes
    -----
    ``ds.compute()`` runs on dask's default scheduler (threads, or the ``distributed``
    client made current); ``ds.compute(scheduler=client)`` picks one. To write without
    holding the raster: ``to_cog(ds, path)`` and ``to_zarr(ds, path)`` (or
    ``ds.spatialgamm.to_cog(path)``), which take ``client=`` and ``progress=``.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> from spatialgamm.spatial import predict_raster, to_cog
    >>> fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=30) + offset(log(time))",
    ...              sg.datasets.load_rongelap(), family="poisson")
    >>> ds = predict_raster(fit, sg.datasets.load_rongelap_coastline(), resolution=100,
    ...                     chunks=32, exceedance=[10])
    >>> ds.estimate.shape, ds.estimate.data.numblocks
    ((37, 64), (2, 2))
    >>> float(ds.estimate.max().compute()) > 10
    True
    """
    import dask.array as da
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    if n is None and resolution is None:
        raise ValueError("give n=(nx, ny) or resolution= (the cell size)")
    chunks_rc = check_chunks(chunks)
    opts = GridOptions.from_keywords("predict_raster", options)
    plan = plan_grid(fit, polygon, n, resolution, opts)
    crop = check_flag(opts.crop, "crop")
    _warn_extrapolation_sampled(plan)
    spec = plan.spec
    tiles = tiles_of(spec.shape, chunks_rc)
    token = uuid.uuid4().hex
    name, plan_key = f"predict-raster-{token}", f"grid-plan-{token}"
    # the fit travels once (not once per task), without what cannot be sent to a worker
    graph: dict[Any, Any] = {plan_key: dataclasses.replace(plan, fit=portable_fit(plan.fit))}
    for bi, row in enumerate(tiles):
        for bj, tile in enumerate(row):
            graph[(name, 0, bi, bj)] = (tile_block, plan_key, tile, crop)
    row_sizes = tuple(r[0].height for r in tiles)
    col_sizes = tuple(t.width for t in tiles[0])
    bands = plan.bands
    stack = da.Array(graph, name, chunks=((len(bands),), row_sizes, col_sizes), dtype=float,
                     meta=np.empty((0, 0, 0)))
    ds = _dataset(stack, plan, opts)
    register_accessor()
    return ds


def _dataset(stack: Any, plan: GridPlan, opts: GridOptions) -> Any:
    """The bands of ``stack`` (bands, y, x) as an xarray Dataset with the grid's coordinates,
    CRS, transform, nodata and the scale's tags."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    spec, bands = plan.spec, plan.bands
    xe, ye = spec.x_edges, spec.y_edges
    x = 0.5 * (xe[:-1] + xe[1:])
    y = (0.5 * (ye[:-1] + ye[1:]))[::-1]  # raster rows from the top
    link = plan.link_name
    unit_of = band_units(bands, opts.type, link, opts.units)
    variables = {
        b: xr.DataArray(stack[k], dims=("y", "x"), attrs={"units": unit_of[b]} if b in unit_of
                        else {})
        for k, b in enumerate(bands)
    }
    label = scale_label(opts.type, link, plan.offset, plan.has_offset)
    tags = geotiff_tags(label, opts.type, float(opts.level), link, plan.names, plan.thresholds)
    ds = xr.Dataset(variables, coords={"x": x, "y": y}, attrs=tags)
    if plan.crs is not None:
        ds = ds.rio.write_crs(plan.crs.to_wkt())
    ds = ds.rio.write_transform(spec.transform)
    for b in bands:
        ds[b] = ds[b].rio.write_nodata(np.nan)
    return ds


def portable_fit(fit: Any) -> Any:
    """The fit, wrapped so that it pickles without the caller's namespace.

    A fit keeps the caller's namespace (``fit.spec.env``, referenced from several of its
    objects) to evaluate formula functions on new data; it may hold anything (a test
    runner, an IPython shell, open files, a dask client), which cannot travel to a
    ``distributed`` worker. In this process the wrapper passes every attribute through to
    the fit; pickled, it becomes the fit again with a namespace of only the names its
    formula and offsets mention.
    """
    spec = getattr(fit, "spec", None)
    return _FitForWorkers(fit) if isinstance(getattr(spec, "env", None), dict) else fit


class _FitForWorkers:
    def __init__(self, fit: Any) -> None:
        self._fit = fit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fit, name)

    def __reduce__(self) -> tuple[Any, tuple[bytes, bytes]]:
        import cloudpickle

        spec = self._fit.spec
        env = spec.env
        # the names formula expressions can use on new data: offsets and the formula text
        text = " ".join(str(t) for t in (getattr(spec, "formula", ""), *getattr(
            spec, "offset_exprs", ()), getattr(spec, "offset_arg", "")))
        used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        keep = {name: value for name, value in env.items() if name in used}

        class _Pickler(cloudpickle.Pickler):
            def persistent_id(self, obj: Any) -> str | None:
                return "env" if obj is env else None

        buf = io.BytesIO()
        _Pickler(buf, protocol=5).dump(self._fit)
        return _load_fit, (buf.getvalue(), cloudpickle.dumps(keep))


def _load_fit(payload: bytes, env_payload: bytes) -> Any:
    env = pickle.loads(env_payload)

    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            return env

    return _Unpickler(io.BytesIO(payload)).load()
