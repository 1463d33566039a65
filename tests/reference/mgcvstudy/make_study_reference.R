# A random-design study against mgcv 1.8-41: 24 gamSim-like designs with fixed seeds, each a
# different n, basis dimension, basis (tp, cr, ps), family (Gaussian, Poisson, binomial) and
# smoothing-parameter method (REML, GCV / UBRE as mgcv's GCV.Cp, ML), sometimes with gamma.
# The truth is gamSim 1's f0 + f1 + f2 scaled by a random amplitude; the data (rounded to 6
# decimals before fitting, so the CSV is the data mgcv saw) go to study_data.csv with a
# design column, the fits' sp-independent numbers (edf per smooth and in total, score,
# fitted values) and the sp to study_reference.json.
# Run: Rscript make_study_reference.R. R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
f0 <- function(x) 2 * sin(pi * x)
f1 <- function(x) exp(2 * x)
f2 <- function(x) 0.2 * x^11 * (10 * (1 - x))^6 + 10 * (10 * x)^3 * (1 - x)^10
fams <- c("gaussian", "poisson", "binomial")
methods <- c("REML", "GCV.Cp", "ML")
bases <- c("tp", "cr", "ps")
designs <- list(); alldata <- list(); out <- list()
for (i in 1:24) {
  set.seed(9000 + i)
  n <- sample(c(150, 200, 300, 400, 500), 1)
  fam <- fams[(i - 1) %% 3 + 1]
  meth <- methods[((i - 1) %/% 3) %% 3 + 1]
  k <- sample(c(6, 8, 10, 12), 3, replace = TRUE)
  bs <- sample(bases, 3, replace = TRUE)
  gam_ <- if (i %% 5 == 0) c(1.4, 0.7)[(i %/% 5) %% 2 + 1] else 1
  x <- matrix(round(runif(3 * n), 6), n, 3)
  amp <- runif(1, 0.5, 1.5)
  eta <- amp * (f0(x[, 1]) + f1(x[, 2]) + f2(x[, 3]))
  eta <- (eta - mean(eta)) / sd(eta)
  y <- switch(fam,
              gaussian = round(eta * runif(1, 1, 3) + rnorm(n, 0, runif(1, 0.5, 2)), 6),
              poisson = rpois(n, exp(0.5 + 0.6 * eta)),
              binomial = rbinom(n, 1, binomial()$linkinv(1.2 * eta)))
  d <- data.frame(design = i, y = y, x0 = x[, 1], x1 = x[, 2], x2 = x[, 3])
  alldata[[i]] <- d
  form <- as.formula(sprintf("y ~ s(x0, k = %d, bs = '%s') + s(x1, k = %d, bs = '%s') + s(x2, k = %d, bs = '%s')",
                             k[1], bs[1], k[2], bs[2], k[3], bs[3]))
  m <- gam(form, data = d, family = fam, method = meth, gamma = gam_)
  out[[i]] <- list(design = i, n = n, family = fam, method = meth, gamma = gam_,
                   formula = sprintf("y ~ s(x0, k=%d, bs='%s') + s(x1, k=%d, bs='%s') + s(x2, k=%d, bs='%s')",
                                     k[1], bs[1], k[2], bs[2], k[3], bs[3]),
                   sp = unname(m$sp), edf = unname(sapply(m$smooth, function(s) sum(m$edf[s$first.para:s$last.para]))),
                   edf_total = sum(m$edf), score = unname(m$gcv.ubre), fitted = unname(fitted(m)),
                   converged = m$converged, mgcv_method = m$method)
}
write.csv(do.call(rbind, alldata), file.path(here, "study_data.csv"), row.names = FALSE)
writeLines(toJSON(out, digits = I(10), auto_unbox = TRUE, pretty = FALSE),
           file.path(here, "study_reference.json"))
