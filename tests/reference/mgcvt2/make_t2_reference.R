# mgcv's t2() tensor products (Wood, Scheipl & Faraway 2013) on data the package was not
# built against: gamSim example 2 (a 2-D bump; cr and tp x cr margins) and R's quakes
# (number of reporting stations, Poisson, over space and depth: a 2-D tp margin times a cr
# margin). Per case: sp, edf, score, coefficients, the first rows of the t2 columns of the
# lpmatrix (to align the signs of null-space columns, which LAPACK leaves to rounding) and
# predictions with SEs on new rows. Run: Rscript make_t2_reference.R. R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(2013)
g2 <- gamSim(2, n = 400, scale = 0.1, verbose = FALSE)$data[, c("y", "x", "z")]
write.csv(g2, file.path(here, "gamsim2.csv"), row.names = FALSE)
g2 <- read.csv(file.path(here, "gamsim2.csv"))
g2new <- data.frame(x = c(0.1, 0.3, 0.5, 0.7, 0.9, 0.25), z = c(0.2, 0.8, 0.5, 0.4, 0.9, 0.05))
write.csv(g2new, file.path(here, "gamsim2_new.csv"), row.names = FALSE)
qk <- datasets::quakes[, c("lat", "long", "depth", "stations")]
write.csv(qk, file.path(here, "quakes.csv"), row.names = FALSE)
qnew <- data.frame(long = c(170, 175, 180, 182, 185), lat = c(-30, -20, -25, -15, -35),
                   depth = c(50, 300, 600, 150, 450))
write.csv(qnew, file.path(here, "quakes_new.csv"), row.names = FALSE)
run <- function(f, data, new, ...) {
  m <- gam(f, data = data, ...)
  p <- predict(m, new, se.fit = TRUE)
  lp <- predict(m, type = "lpmatrix")
  list(sp = unname(m$sp), sp_names = names(m$sp), edf = sum(m$edf), score = unname(m$gcv.ubre),
       coef = unname(coef(m)), lp_head = unname(lp[1:8, ]), fit = unname(p$fit),
       se = unname(p$se.fit), method = m$method)
}
out <- list(
  t2_cr = run(y ~ t2(x, z), g2, g2new, method = "REML"),
  t2_tpcr = run(y ~ t2(x, z, bs = c("tp", "cr"), k = c(6, 5)), g2, g2new, method = "GCV.Cp"),
  t2_quakes = run(stations ~ t2(long, lat, depth, d = c(2, 1), bs = c("tp", "cr"), k = c(12, 5)),
                  qk, qnew, family = poisson, method = "REML")
)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "t2_reference.json"))
