# Reference grids for tests/test_spatial_grid.py, written by sf (st_make_grid + st_intersects).
# Run from the repository root:  Rscript tests/reference/spatial_grids.R
suppressMessages({library(sf); library(jsonlite)})
R <- "tests/reference/"
cells <- function(geom, ...) {
  g <- st_make_grid(geom, ...)
  keep <- lengths(st_intersects(g, geom)) > 0
  xy <- st_coordinates(st_centroid(g[keep]))
  list(n_total = length(g), n_kept = sum(keep), bbox = as.list(st_bbox(geom)),
       x = unname(xy[, 1]), y = unname(xy[, 2]))
}
sq <- function(x0, y0, x1, y1) matrix(c(x0, x1, x1, x0, x0, y0, y0, y1, y1, y0), 5)
out <- list()
# a square with a square hole: cells lying wholly inside the hole are dropped
hole <- st_sfc(st_polygon(list(sq(0, 0, 10, 10), sq(2.5, 2.5, 7.5, 7.5))))
out$hole <- cells(hole, n = c(10, 10))
# two disjoint squares: cells touching either square are kept
mp <- st_sfc(st_multipolygon(list(list(sq(0, 0, 2, 2)), list(sq(6, 0, 8, 2)))))
out$multipolygon <- cells(mp, n = c(8, 2))
# Rongelap coastline buffered by 50 (GEOS, sf's default 30 segments per quarter circle)
cl <- read.csv("spatialgamm/data/rongelap_coastline.csv")
ring <- st_polygon(list(as.matrix(cl[, c("cX", "cY")])))
buf <- st_buffer(st_sfc(ring), dist = 50)
out$rongelap_cellsize_100 <- cells(buf, cellsize = 100)
out$rongelap_cellsize_120_70 <- cells(buf, cellsize = c(120, 70))
out$sf_version <- as.character(packageVersion("sf"))
out$geos_version <- sf_extSoftVersion()[["GEOS"]]
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE), paste0(R, "spatial_grids.json"))
cat("written\n")
