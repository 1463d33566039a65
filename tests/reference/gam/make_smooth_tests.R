# mgcv 1.8-41 references for tests/test_smooth_tests.py: summary.gam's "approximate significance
# of smooth terms" (Wood 2013a testStat for ordinary smooths, Wood 2013b reTest for bs = "re")
# and mgcv's weighted chi-square tail (psum.chisq, Davies' method) on its own.
# Run from anywhere: Rscript make_smooth_tests.R  (writes smooth_tests.csv, smooth_tests.json)
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
d <- read.csv(file.path(here, "gamm_data.csv"))
d$g <- factor(d$g, levels = 1:20)
# a second grouping (x in eighths: a random effect integrated out of another's test, mgcv's
# recov with other bs = "re" terms) and a Poisson response (known-scale tests)
d$h <- factor(floor(d$x * 8), levels = 0:7)
# z: a covariate with no effect on y and a weak one on the counts (p-values away from 0)
set.seed(2013)
d$z <- runif(nrow(d))
d$count <- rpois(nrow(d), exp(1 + 0.5 * sin(2 * pi * d$x) + 0.3 * (as.integer(d$g) %% 3 - 1) +
                              0.12 * cos(2 * pi * d$z)))
write.csv(d[, c("y", "x", "z", "g", "h", "count")], file.path(here, "smooth_tests.csv"),
          row.names = FALSE)

fits <- list(
  gauss_reml = gam(y ~ s(x, bs = "cr", k = 10) + s(g, bs = "re"), data = d, method = "REML"),
  gauss_gcv = gam(y ~ s(x, bs = "cr", k = 10), data = d),
  gauss_two_re = gam(y ~ s(x, bs = "cr", k = 10) + s(z, bs = "cr", k = 8) + s(g, bs = "re") +
                       s(h, bs = "re"), data = d, method = "REML"),
  pois_reml = gam(count ~ s(x, bs = "cr", k = 10) + s(g, bs = "re"),
                  data = d, family = poisson, method = "REML"),
  pois_ubre = gam(count ~ s(x, bs = "cr", k = 10) + s(z, bs = "cr", k = 8), data = d,
                  family = poisson))
formulas <- list(gauss_reml = "y ~ s(x, bs='cr', k=10) + s(g, bs='re')",
                 gauss_gcv = "y ~ s(x, bs='cr', k=10)",
                 gauss_two_re = paste("y ~ s(x, bs='cr', k=10) + s(z, bs='cr', k=8) +",
                                      "s(g, bs='re') + s(h, bs='re')"),
                 pois_reml = "count ~ s(x, bs='cr', k=10) + s(g, bs='re')",
                 pois_ubre = "count ~ s(x, bs='cr', k=10) + s(z, bs='cr', k=8)")
info <- function(key) {
  m <- fits[[key]]; st <- summary(m)$s.table
  edf1 <- sapply(m$smooth, function(s) sum(m$edf1[s$first.para:s$last.para]))
  list(formula = formulas[[key]], family = m$family$family, method = m$method,
       sp = unname(m$sp), edf1 = unname(edf1), scale = m$sig2, df_residual = m$df.residual,
       terms = rownames(st), edf = unname(st[, "edf"]), ref_df = unname(st[, "Ref.df"]),
       stat_name = colnames(st)[3], stat = unname(st[, 3]), p = unname(st[, "p-value"]))
}
cases <- lapply(setNames(names(fits), names(fits)), info)

# psum.chisq alone: mixed-sign weights and several degrees of freedom
set.seed(1980)
davies <- lapply(1:40, function(i) {
  r <- sample(c(1, 2, 3, 5, 10, 20), 1)
  lb <- rexp(r)^sample(1:3, 1)
  if (runif(1) < 0.3) lb[sample(r, 1)] <- -runif(1) * sum(lb)
  df <- if (runif(1) < 0.5) rep(1, r) else sample(1:5, r, TRUE)
  q <- sum(lb * df) + sqrt(2 * sum(lb^2 * df)) * rnorm(1) * sample(c(0.5, 1, 2, 4), 1)
  list(q = q, lb = lb, df = df, p = suppressWarnings(psum.chisq(q, lb, df)))
})
# testStat alone on made-up inputs: non-integer ranks (the blended pair), rank below 1,
# an integer rank, a numerically rank-deficient V, chi-square and F references
set.seed(2013)
teststat <- list()
for (spec in list(list(k = 6, rank = 3.4, rdf = -1), list(k = 6, rank = 3.4, rdf = 57.3),
                  list(k = 4, rank = 0.6, rdf = -1), list(k = 5, rank = 5, rdf = -1),
                  list(k = 5, rank = 2, rdf = 40), list(k = 8, rank = 6.97, rdf = -1),
                  list(k = 6, rank = 4.5, rdf = -1, deficient = 3), list(k = 3, rank = 1.2, rdf = 20))) {
  X <- matrix(rnorm(30 * spec$k), 30, spec$k)
  A <- matrix(rnorm(spec$k^2), spec$k, spec$k)
  if (!is.null(spec$deficient)) A[, (spec$deficient + 1):spec$k] <- 0
  V <- crossprod(A) / spec$k
  b <- rnorm(spec$k) * 0.4
  r <- mgcv:::testStat(b, X, V, spec$rank, type = 0, res.df = spec$rdf)
  teststat[[length(teststat) + 1]] <- list(X = X, V = V, coef = b, rank_in = spec$rank,
                                           res_df = spec$rdf, stat = r$stat, p = r$pval,
                                           rank = r$rank)
}
out <- list(mgcv = as.character(packageVersion("mgcv")), data = "smooth_tests.csv",
            cases = cases, psum_chisq = davies, test_stat = teststat)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "smooth_tests.json"))
