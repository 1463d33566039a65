# Reference output for tests/test_tp_basis.py: mgcv's tp basis (smoothCon) and gam fits.
# Run from this folder: Rscript make_tp_reference.R
suppressMessages({library(mgcv); library(jsonlite); library(MASS)})
set.seed(2)
dat <- gamSim(1, n = 400, dist = "normal", scale = 2, verbose = FALSE)
dat <- dat[, c("y", "x0", "x1", "x2", "x3")]
dat[] <- lapply(dat, function(v) round(v, 6))
write.csv(dat, "gamsim1.csv", row.names = FALSE)
mc <- MASS::mcycle
write.csv(mc, "mcycle.csv", row.names = FALSE)
out <- list(mgcv = as.character(packageVersion("mgcv")))
basis <- function(sp, d) {
  sm <- smoothCon(sp, data = d, absorb.cons = TRUE)[[1]]
  rows <- unique(round(seq(1, nrow(d), length.out = 40)))  # keep the file small
  list(rows = rows, X = sm$X[rows, ], S = sm$S[[1]], S_scale = sm$S.scale,
       Xu_n = nrow(sm$Xu), shift = sm$shift)
}
out$basis_x0 <- basis(s(x0), dat)
out$basis_x2_k5 <- basis(s(x2, k = 5), dat)
out$basis_x1x2 <- basis(s(x1, x2), dat)
out$basis_mcycle <- basis(s(times, k = 12), mc)
fitinfo <- function(b, nd) {
  p <- predict(b, nd, se.fit = TRUE)
  list(coef = unname(coef(b)), names = names(coef(b)), sp = unname(b$sp), edf = unname(b$edf),
       score = unname(b$gcv.ubre), scale = b$sig2, fit = unname(p$fit), se = unname(p$se.fit),
       loglik = as.numeric(logLik(b)))
}
nd <- dat[1:10, ]
b1 <- gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = dat, method = "REML")
out$add_reml <- fitinfo(b1, nd)
b2 <- gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = dat)
out$add_gcv <- fitinfo(b2, nd)
b3 <- gam(y ~ s(x1, x2), data = dat, method = "REML")
out$xz_reml <- fitinfo(b3, nd)
b4 <- gam(accel ~ s(times, k = 12), data = mc, method = "REML")
out$mcycle_reml <- fitinfo(b4, mc[1:10, , drop = FALSE])
writeLines(toJSON(out, digits = NA, matrix = "rowmajor", auto_unbox = TRUE), "tp_reference.json")
