# Reference for the max.knots subsample of bs='tp' (tests/test_tp_basis.py).
# The data are a deterministic sequence both sides compute exactly: i * c mod 1.
# Run from this folder: Rscript make_tp_knots_reference.R
suppressMessages({library(mgcv); library(jsonlite)})
n <- 10000
i <- 1:n
d <- data.frame(x = (i * 0.6180339887498949) %% 1, z = (i * 1.4142135623730951) %% 1)
d$y <- sin(6 * d$x) + cos(4 * d$z)
keep <- function(sm) list(Xu_head = sm$Xu[1:20, , drop = FALSE], Xu_n = nrow(sm$Xu),
                          X_head = sm$X[1:20, ], X_tail = sm$X[(n - 4):n, ], S_scale = sm$S.scale)
out <- list(mgcv = as.character(packageVersion("mgcv")), n = n)
out$x <- keep(smoothCon(s(x), data = d, absorb.cons = TRUE)[[1]])
out$xz <- keep(smoothCon(s(x, z), data = d, absorb.cons = TRUE)[[1]])
b <- gam(y ~ s(x, z), data = d, method = "REML")
out$fit_xz <- list(coef = unname(coef(b)), sp = unname(b$sp), edf = sum(b$edf))
writeLines(toJSON(out, digits = NA, matrix = "rowmajor", auto_unbox = TRUE), "tp_knots_reference.json")
