# Reference fits for out-of-core fits (issue 17): mgcv's gam (and bam) on rows that the
# tests fit from Parquet partitions. mgcv 1.8-41. Data written to CSV and read back, so both
# sides fit identical numbers.  Run from this directory:  Rscript make_ooc.R
suppressMessages({library(mgcv); library(jsonlite)})
set.seed(17)
n <- 600
d <- data.frame(x1 = rnorm(n), x2 = runif(n), x3 = runif(n))
f2 <- sin(2 * pi * d$x2)
f3 <- exp(-((d$x3 - 0.5)^2) / 0.05)
d$y <- 1 + 0.5 * d$x1 + f2 + f3 + rnorm(n, 0, 0.4)
d$cnt <- rpois(n, exp(0.5 + 0.3 * d$x1 + 0.6 * f2 + 0.5 * f3))
d$hit <- rbinom(n, 1, plogis(-0.2 + 0.5 * d$x1 + f2))
d$yg <- rgamma(n, shape = 3, rate = 3 / exp(0.3 + 0.2 * d$x1 + 0.5 * f2))
d$yt <- sin(2 * pi * d$x2) * cos(pi * d$x3) + 2 * d$x2 * d$x3 + rnorm(n, 0, 0.3)
write.csv(d, "ooc_data.csv", row.names = FALSE)
nd <- data.frame(x1 = rnorm(25), x2 = runif(25), x3 = runif(25))
write.csv(nd, "ooc_new.csv", row.names = FALSE)
d <- read.csv("ooc_data.csv")
nd <- read.csv("ooc_new.csv")

out <- list()
run <- function(name, formula, family = gaussian(), method = "REML", fitter = gam) {
  m <- fitter(formula, data = d, family = family, method = method)
  pr <- predict(m, nd, se.fit = TRUE)
  prr <- predict(m, nd, se.fit = TRUE, type = "response")
  s <- summary(m)
  out[[name]] <<- list(formula = paste(deparse(formula), collapse = " "), method = method,
                       family = family$family, link = family$link,
                       coef = as.list(coef(m)), Vp = unname(m$Vp), sp = as.list(m$sp),
                       score = unname(m$gcv.ubre), scale = m$sig2,
                       edf = unname(sum(m$edf)),
                       fitted = unname(m$fitted.values),
                       pred = unname(as.numeric(pr$fit)),
                       pred_se = unname(as.numeric(pr$se.fit)),
                       pred_resp_se = unname(as.numeric(prr$se.fit)),
                       p_table = list(estimate = unname(s$p.table[, 1]),
                                      se = unname(s$p.table[, 2])),
                       s_table = list(edf = unname(s$s.table[, 1]),
                                      ref_df = unname(s$s.table[, 2]),
                                      stat = unname(s$s.table[, 3]),
                                      p = unname(s$s.table[, 4])))
}
run("gauss", y ~ x1 + s(x2, bs = "ps", k = 10) + s(x3, bs = "ps", k = 8))
run("gauss_bam", y ~ x1 + s(x2, bs = "ps", k = 10) + s(x3, bs = "ps", k = 8),
    method = "fREML", fitter = bam)
run("pois", cnt ~ x1 + s(x2, bs = "ps", k = 10) + s(x3, bs = "ps", k = 8), family = poisson())
run("binom", hit ~ x1 + s(x2, bs = "ps", k = 8), family = binomial())
run("gamma", yg ~ x1 + s(x2, bs = "ps", k = 8), family = Gamma(link = "log"))
run("te", yt ~ te(x2, x3, bs = c("ps", "ps"), k = c(5, 5)))
run("ti", yt ~ s(x2, bs = "ps", k = 6) + s(x3, bs = "ps", k = 6) +
      ti(x2, x3, bs = c("ps", "ps"), k = c(5, 5)))
run("gauss_gcv", y ~ x1 + s(x2, bs = "ps", k = 10) + s(x3, bs = "ps", k = 8),
    method = "GCV.Cp")
out$mgcv <- as.character(packageVersion("mgcv"))
write_json(out, "ooc_reference.json", auto_unbox = TRUE, digits = NA, pretty = FALSE)
