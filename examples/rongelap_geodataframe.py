"""The Rongelap map from GeoDataFrames with a real projected CRS.

The survey's local coordinates are placed in UTM zone 58N (EPSG:32658, the atoll lies near
11.2 N, 166.8 E) and the coastline is handed over in longitude/latitude (EPSG:4326), as a GIS
user often has it: ``predict_grid`` reprojects the polygon to the fit's CRS, and the GeoTIFF
carries EPSG:32658 so it lands in the right place in QGIS.

Writes outputs/rongelap_rate_utm.tif and outputs/rongelap_rate_utm.png.
"""

from pathlib import Path

import geopandas as gpd
import matplotlib
from shapely.geometry import Polygon

matplotlib.use("Agg")

import spatialgamm as sg  # noqa: E402

# an illustrative false origin putting the local grid on the atoll in UTM 58N
X0, Y0 = 700_000.0, 1_235_000.0
out = Path("outputs")

pts = sg.datasets.load_rongelap()
pts["cX"] += X0
pts["cY"] += Y0
survey = gpd.GeoDataFrame(pts, geometry=gpd.points_from_xy(pts["cX"], pts["cY"]),
                          crs="EPSG:32658")
ring = sg.datasets.load_rongelap_coastline()
coast_utm = gpd.GeoDataFrame(geometry=[Polygon(zip(ring["cX"] + X0, ring["cY"] + Y0))],
                             crs="EPSG:32658")
coast_lonlat = coast_utm.to_crs("EPSG:4326")  # what a GIS user might hold

fit = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))", survey, family="poisson")
grid = sg.predict_grid(fit, coast_lonlat, n=(150, 75), buffer=50, units="counts/s")
print(f"fit CRS: {fit.crs.to_string()}, grid CRS: {grid.crs.to_string()}, "
      f"{len(grid.cells)} cells")
grid.to_geotiff(out / "rongelap_rate_utm.tif")
sg.save_figure(sg.plot_estimate_se(grid, polygon=coast_utm), out / "rongelap_rate_utm.png")
print(f"wrote {out / 'rongelap_rate_utm.tif'} and {out / 'rongelap_rate_utm.png'}")
