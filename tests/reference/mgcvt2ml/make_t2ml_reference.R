# mgcv's t2() fitted by method = "ML" (its ML is that of the fitting basis, whose constraint
# touches the unpenalised columns only) and t2(full = TRUE) (a penalty for each product of
# range spaces with one null-space column). Data the package was not built against:
# gamSim example 2 and R's quakes (the CSVs of tests/reference/mgcvt2, read from there).
# Per case: sp (with names), edf of the t2 term and in total, score, coefficients, the first
# rows of the lpmatrix, predictions with SEs on new rows, logLik / AIC.
# Run: Rscript make_t2ml_reference.R. R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
src <- file.path(here, "..", "mgcvt2")
g2 <- read.csv(file.path(src, "gamsim2.csv"))
g2new <- read.csv(file.path(src, "gamsim2_new.csv"))
qk <- read.csv(file.path(src, "quakes.csv"))
qnew <- read.csv(file.path(src, "quakes_new.csv"))
run <- function(f, data, new, ...) {
  m <- gam(f, data = data, ...)
  p <- predict(m, new, se.fit = TRUE)
  lp <- predict(m, type = "lpmatrix")
  sm <- m$smooth[[1]]
  ll <- logLik(m)
  list(sp = unname(m$sp), sp_names = names(m$sp), edf = sum(m$edf),
       edf_term = sum(m$edf[sm$first.para:sm$last.para]), score = unname(m$gcv.ubre),
       coef = unname(coef(m)), lp_head = unname(lp[1:8, ]), fit = unname(p$fit),
       se = unname(p$se.fit), loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m),
       method = m$method)
}
out <- list(
  t2_ML = run(y ~ t2(x, z), g2, g2new, method = "ML"),
  t2_tpcr_ML = run(y ~ t2(x, z, bs = c("tp", "cr"), k = c(6, 5)), g2, g2new, method = "ML"),
  t2_REML_edf = run(y ~ t2(x, z), g2, g2new, method = "REML"),
  t2_full_REML = run(y ~ t2(x, z, full = TRUE), g2, g2new, method = "REML"),
  t2_full_tpcr_GCV = run(y ~ t2(x, z, bs = c("tp", "cr"), k = c(6, 5), full = TRUE), g2, g2new,
                         method = "GCV.Cp"),
  t2_full_ML = run(y ~ t2(x, z, full = TRUE), g2, g2new, method = "ML"),
  quakes_ML = run(stations ~ t2(long, lat, depth, d = c(2, 1), bs = c("tp", "cr"), k = c(12, 5)),
                  qk, qnew, family = poisson, method = "ML"),
  quakes_full_REML = run(stations ~ t2(long, lat, depth, d = c(2, 1), bs = c("tp", "cr"),
                                       k = c(12, 5), full = TRUE),
                         qk, qnew, family = poisson, method = "REML")
)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "t2ml_reference.json"))
