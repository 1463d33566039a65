"""Coordinate reference systems of a grid prediction: which CRS the grid is in, and checks.

Rules (the grid is always built in the coordinates the fit was estimated in):

1. The fit's CRS (``fit.crs``) wins. A geographic (longitude/latitude) CRS is refused: the
   spatial terms measure distances, which need projected coordinates.
2. ``crs=`` declares the CRS of the fit's coordinates when the fit records none; when the fit
   records one, ``crs=`` must agree with it.
3. A GeoSeries/GeoDataFrame polygon is reprojected to that CRS. A polygon whose CRS is missing
   while the fit has one (or the reverse) is an error naming the side that lacks it: guessing
   would silently misplace the grid.
4. Plain shapely geometries and coordinate arrays carry no CRS; they are taken to be in the
   fit's coordinates.
"""

from __future__ import annotations

from typing import Any

from pyproj import CRS


def as_crs(value: Any, what: str) -> CRS | None:
    """Turn anything pyproj accepts (EPSG code, string, WKT, CRS objects) into a pyproj CRS.

    Parameters
    ----------
    value : object or None
        ``None`` gives ``None``; otherwise anything ``pyproj.CRS.from_user_input`` accepts
        (including rasterio CRS objects, through their WKT).
    what : str
        Which argument this is, for error messages.

    Examples
    --------
    >>> as_crs(32633, "crs").to_epsg()
    32633
    """
    if value is None:
        return None
    if isinstance(value, CRS):
        return value
    if hasattr(value, "to_wkt") and not isinstance(value, str):
        value = value.to_wkt()  # rasterio.crs.CRS and similar
    try:
        return CRS.from_user_input(value)
    except Exception as err:  # pyproj raises CRSError; keep the reason
        raise ValueError(f"{what}: {value!r} is not a coordinate reference system ({err})") from err


def crs_label(crs: CRS | None) -> str:
    """Short human label of a CRS: 'EPSG:32633' when it has a code, else its name, or 'none'."""
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.name


def same_crs(a: CRS, b: CRS) -> bool:
    """Whether two CRSs describe the same coordinates (axis order ignored, as GIS software does)."""
    return a.equals(b, ignore_axis_order=True)


def check_projected(crs: CRS | None, what: str) -> None:
    """Refuse a geographic CRS: spatial terms need planar coordinates (metres, not degrees)."""
    if crs is not None and crs.is_geographic:
        raise ValueError(
            f"{what} {crs_label(crs)} is geographic (longitude/latitude); spatial terms need "
            "projected coordinates. Reproject the data before fitting, e.g. "
            "gdf.to_crs(gdf.estimate_utm_crs())."
        )


def grid_crs(fit_crs: Any, crs: Any) -> CRS | None:
    """The CRS of the grid: the fit's, or ``crs=`` when the fit has none; checks both.

    Examples
    --------
    >>> grid_crs(None, "EPSG:32633").to_epsg()
    32633
    """
    fit_c = as_crs(fit_crs, "fit.crs")
    arg_c = as_crs(crs, "crs")
    check_projected(fit_c, "the fit's CRS")
    check_projected(arg_c, "crs=")
    if fit_c is not None and arg_c is not None and not same_crs(fit_c, arg_c):
        raise ValueError(
            f"crs={crs_label(arg_c)} conflicts with the fit's CRS {crs_label(fit_c)}; "
            "leave crs=None to use the fit's CRS."
        )
    return fit_c if fit_c is not None else arg_c


def reconcile_polygon_crs(
    polygon_crs: CRS | None, target: CRS | None, fit_has_crs: bool
) -> CRS | None:
    """Check a GeoSeries/GeoDataFrame polygon's CRS against the grid's.

    Returns the CRS to reproject the polygon from (``None`` when no reprojection is needed).

    Examples
    --------
    >>> reconcile_polygon_crs(CRS(4326), CRS(32633), True).to_epsg()
    4326
    """
    if polygon_crs is None:
        if fit_has_crs:
            raise ValueError(
                f"the polygon has no CRS but the fit's coordinates are in {crs_label(target)}; "
                "set the polygon's CRS first (gdf.set_crs(...)), or pass a plain shapely "
                "geometry already in the fit's coordinates."
            )
        return None  # neither side has one: crs= (if given) names them both
    if target is None:
        raise ValueError(
            f"the polygon has CRS {crs_label(polygon_crs)} but the fit records no CRS; pass "
            "crs= (the CRS of the fit's coordinates) and the polygon is reprojected to it."
        )
    return None if same_crs(polygon_crs, target) else polygon_crs
