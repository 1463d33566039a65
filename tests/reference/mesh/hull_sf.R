# Non-convex hulls of the Rongelap coastline and sites, as R builds them with sf.
#
# fmesher's fm_nonconvex_hull() (sf method) documents the hull as a morphological closing:
# dilation by convex + concave followed by erosion by concave (sf::st_buffer both ways).
# R-INLA cannot be installed here, so this script applies that documented definition with
# sf 1.0-9 (GEOS 3.11) and writes, per case, the hull's area, its number of holes and how
# many of the 157 survey sites fall outside it, with the holes kept (the raw closing) and
# filled (the exterior rings only). Run from the repository root:
#   Rscript tests/reference/mesh/hull_sf.R
suppressMessages({library(sf); library(jsonlite)})

coast <- as.matrix(read.csv("spatialgamm/data/rongelap_coastline.csv")[, c("cX", "cY")])
sites <- as.matrix(read.csv("spatialgamm/data/rongelap.csv")[, c("cX", "cY")])
site_pts <- st_sfc(lapply(seq_len(nrow(sites)), function(i) st_point(sites[i, ])))

closing <- function(g, conv, conc) {
  st_buffer(st_buffer(g, conv + conc, nQuadSegs = 8), -conc, nQuadSegs = 8)
}
fill <- function(g) {
  parts <- st_cast(g, "POLYGON")
  st_union(st_sfc(lapply(parts, function(p) st_polygon(list(p[[1]])))))
}
n_holes <- function(g) sum(sapply(st_cast(g, "POLYGON"), function(p) length(p) - 1L))
outside <- function(g) sum(!st_covered_by(site_pts, g, sparse = FALSE)[, 1])
describe <- function(g) {
  f <- fill(g)
  list(area = as.numeric(st_area(g)), holes = n_holes(g), outside = outside(g),
       area_filled = as.numeric(st_area(f)), outside_filled = outside(f))
}

inputs <- list(
  coast_vertices = st_sfc(st_multipoint(coast[-nrow(coast), ])),  # the ring's points
  coast_polygon = st_sfc(st_polygon(list(coast))),                # the area it encloses
  sites = st_sfc(st_multipoint(sites))
)
cases <- list(c(100, 150), c(200, 300), c(50, 400))
out <- list()
for (nm in names(inputs)) {
  for (cc in cases) {
    key <- sprintf("%s_%g_%g", nm, cc[1], cc[2])
    out[[key]] <- c(list(input = nm, convex = cc[1], concave = cc[2]),
                    describe(closing(inputs[[nm]], cc[1], cc[2])))
  }
}
out[["_meta"]] <- list(R = R.version.string, sf = as.character(packageVersion("sf")),
                       geos = unname(sf_extSoftVersion()["GEOS"]))
write_json(out, "tests/reference/mesh/hull_sf.json", auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
