"""Map the Rongelap atoll at high resolution to a Cloud-Optimized GeoTIFF with dask.

The GP smooth fit of the radionuclide counts is predicted over a grid of ``--resolution``
metre cells covering the coastline (1 m: about 2.4e7 cells over the atoll's bounding box)
in tiles of ``--chunks`` cells, on a local dask cluster; the tiles are written one by one
into ``outputs/rongelap_highres.tif`` (estimate, se, lower, upper and P(rate > 10), with
overviews), so memory stays bounded by the tiles in flight, not by the map. A small PNG is
drawn from the COG's coarsest overview, without reading the full-resolution data (an
overview cell averages the cells with data under it, so along the coast the coloured area
reaches up to one overview cell beyond the outline; the full-resolution cells stop at it).

    python examples/large_raster.py                      # 2 m cells, local cluster
    python examples/large_raster.py --resolution 1 --workers 2
    python examples/large_raster.py --scheduler tcp://head-node:8786

On a cluster of machines: start ``dask scheduler`` on one machine and
``dask worker tcp://head-node:8786`` on each of the others (each with spatialgamm
installed), then pass ``--scheduler tcp://head-node:8786``. The same code runs: the fit and
the polygon are pickled to the workers once, every tile is predicted there, and only the
finished tiles travel back to this process, which writes the file (so the output path needs
to be on this machine only).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import spatialgamm as sg

OUT = Path(__file__).resolve().parents[1] / "outputs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=2.0, help="cell size in metres")
    ap.add_argument("--chunks", type=int, default=1024, help="cells per tile side")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes")
    ap.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    rongelap = sg.datasets.load_rongelap()
    coast = sg.datasets.load_rongelap_coastline()
    fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", rongelap,
                 family="poisson")

    # lazy: a Dataset of dask arrays, one task per tile; nothing is predicted yet
    ds = sg.predict_raster(fit, coast, resolution=args.resolution, buffer=50,
                           chunks=args.chunks, exceedance=[10.0], units="counts/s")
    ny, nx = ds.estimate.shape
    print(f"grid: {nx} x {ny} cells of {args.resolution:g} m ({nx * ny:,} cells), "
          f"{ds.estimate.data.npartitions} tiles of {args.chunks} x {args.chunks}")

    if args.scheduler:  # a cluster of machines, already running
        client, cluster = Client(args.scheduler), None
    else:  # worker processes on this machine
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        t0 = time.perf_counter()
        path = sg.to_cog(ds, OUT / "rongelap_highres.tif", client=client, progress=True)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    overview_png(path, OUT / "rongelap_highres_overview.png", coast)


def overview_png(cog: Path, png: Path, coast) -> None:
    """Draw the estimate from the COG's coarsest overview (a few hundred cells across)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import rasterio

    with rasterio.open(cog) as src:
        factor = src.overviews(1)[-1]
        shape = (max(1, src.height // factor), max(1, src.width // factor))
        est = src.read(1, out_shape=shape, masked=True)
        left, bottom, right, top = src.bounds
        print(f"overviews: {src.overviews(1)}; drawing {shape[1]} x {shape[0]} cells; "
              f"estimate {float(est.min()):.3g} .. {float(est.max()):.3g} counts/s")
    fig, ax = plt.subplots(figsize=(9, 5), layout="compressed")
    image = ax.imshow(np.ma.masked_invalid(est), extent=(left, right, bottom, top),
                      cmap="viridis", interpolation="nearest")
    ax.plot(coast["cX"], coast["cY"], color="black", linewidth=0.5)
    ax.set_aspect("equal")
    ax.set_title(f"Rongelap: estimated rate (COG overview 1:{factor})", fontsize="medium")
    fig.colorbar(image, ax=ax, label="counts/s", shrink=0.7)
    sg.save_figure(fig, png)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
