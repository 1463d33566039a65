## mgcv's gam.vcomp for families with an estimated scale (Gamma, inverse.gaussian): the
## smooths' sd's and the scale row with their intervals, for tests/test_gamscale.py.
## Run from this directory: Rscript vcomp_reference.R  (writes vcomp.json)
suppressPackageStartupMessages({library(mgcv); library(jsonlite)})
sim1 <- read.csv("gamsim_pois.csv")
boston <- read.csv("boston.csv")
one <- function(formula, data, family) {
  b <- gam(as.formula(formula), data = data, family = family, method = "REML")
  v <- gam.vcomp(b)
  list(formula = formula, names = rownames(v), sd = unname(v[, 1]), lower = unname(v[, 2]),
       upper = unname(v[, 3]), reml_scale = b$reml.scale)
}
out <- list(
  sim1_gamma_log = one("yg ~ s(x0) + s(x2)", sim1, Gamma(link = "log")),
  boston_gamma_log = one("medv ~ s(lstat) + s(rm)", boston, Gamma(link = "log")),
  sim1_invgauss_log = one("yg ~ s(x2)", sim1, inverse.gaussian(link = "log")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "vcomp.json")
