# mgcv's penalised fit at fixed smoothing parameters and scale: the reference for
# tests/test_inlabreadth_smooths.py. With sp and the scale fixed, the Bayesian posterior of
# the coefficients (flat prior on the null space, precision tau_j S_j on the penalised part,
# noise precision 1/scale) is Gaussian with mean gam's coefficients and covariance gam's Vp,
# so the INLA-style fit at the matching theta (tau_j = sp_j / scale) must reproduce
# predict.gam's fit and se.fit.
# Run: Rscript smooths.R   (writes smooths.csv, smooths.json)
library(mgcv)
library(jsonlite)
set.seed(15)
n <- 150
x <- runif(n)
z <- runif(n)
y <- sin(2 * pi * x) + 0.5 * cos(3 * z) + rnorm(n, 0, 0.3)
d <- data.frame(x = x, z = z, y = y)
write.csv(d, "smooths.csv", row.names = FALSE)
scale <- 0.09
m1 <- gam(y ~ s(x), data = d, sp = 0.02, scale = scale)
p1 <- predict(m1, se.fit = TRUE)
m2 <- gam(y ~ te(x, z), data = d, sp = c(0.05, 0.3), scale = scale)
p2 <- predict(m2, se.fit = TRUE)
out <- list(
  scale = scale,
  s = list(sp = 0.02, fit = unname(p1$fit), se = unname(p1$se.fit),
           coef = unname(coef(m1))),
  te = list(sp = c(0.05, 0.3), fit = unname(p2$fit), se = unname(p2$se.fit)),
  versions = list(R = R.version.string, mgcv = as.character(packageVersion("mgcv"))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "smooths.json")
