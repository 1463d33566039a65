# brms references for brm() with s() / t2() smooth terms (tests/test_mcmc_smooth_brms.py reads
# brms_smooth_reference.json). Run from the repository root:
#   Rscript tests/reference/brms_smooth/make_reference.R
# Slow: it compiles one Stan model per case. Simulated data are written next to the JSON
# (gauss.csv, pois.csv, by.csv, t2.csv) so that the Python side fits the same rows; mcycle is
# MASS::mcycle (written as mcycle.csv for the Python side).
# Chains: 4 x 2500 after 1000 warm-up, so that brms's own Monte Carlo error is small next to
# the tests' tolerance (which combines both MCSEs).
# Besides the draws' summaries the JSON keeps brms's Stan data for each smooth (Xs: the
# unpenalised part, Zs_*: the penalised parts) so the tests can check the mixed-model
# representation itself (Xs up to sign, Zs Zs' which does not depend on the rotation).
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
dir <- "tests/reference/brms_smooth"
set.seed(20261202)
# gamSim(1)-like: the sum of mgcv's test functions f0..f2, here one covariate at a time
f2 <- function(x) 0.2 * x^11 * (10 * (1 - x))^6 + 10 * (10 * x)^3 * (1 - x)^10
n <- 200
gauss <- data.frame(x = round(runif(n), 4))
gauss$y <- round(f2(gauss$x) / 4 + rnorm(n, 0, 1), 4)
write.csv(gauss, file.path(dir, "gauss.csv"), row.names = FALSE)
np <- 300
pois <- data.frame(x = round(runif(np), 4), g = factor(sample(sprintf("g%02d", 1:20), np,
                                                             replace = TRUE)))
u <- rnorm(20, 0, 0.5)
pois$y <- rpois(np, exp(0.3 + sin(2 * pi * pois$x) + u[as.integer(pois$g)]))
write.csv(pois, file.path(dir, "pois.csv"), row.names = FALSE)
nb <- 240
by <- data.frame(x = round(runif(nb), 4), fac = rep(c("a", "b"), each = nb / 2))
by$y <- round(ifelse(by$fac == "a", sin(2 * pi * by$x), 1 + 2 * by$x^2) + rnorm(nb, 0, 0.4), 4)
write.csv(by, file.path(dir, "by.csv"), row.names = FALSE)
nt <- 250
t2d <- data.frame(x = round(runif(nt), 4), z = round(runif(nt), 4))
t2d$y <- round(sin(3 * t2d$x) * cos(2 * t2d$z) + t2d$z + rnorm(nt, 0, 0.3), 4)
write.csv(t2d, file.path(dir, "t2.csv"), row.names = FALSE)
mcycle <- MASS::mcycle
write.csv(mcycle, file.path(dir, "mcycle.csv"), row.names = FALSE)

newdata <- list(
  gauss = data.frame(x = c(0.05, 0.2, 0.4, 0.6, 0.8, 0.95)),
  pois = data.frame(x = c(0.1, 0.3, 0.5, 0.7, 0.9)),
  by = data.frame(x = c(0.1, 0.5, 0.9, 0.1, 0.5, 0.9), fac = rep(c("a", "b"), each = 3)),
  t2 = data.frame(x = c(0.2, 0.5, 0.8, 0.3), z = c(0.2, 0.5, 0.8, 0.7)),
  mcycle = data.frame(times = c(5, 15, 20, 30, 45)))

one <- function(fit, label, nd) {
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|bs_|sds_|sd_|sigma$)", names(dr), value = TRUE)
  stat <- function(f) as.list(sapply(keep, function(k) f(dr[[k]])))
  ep <- posterior_epred(fit, newdata = nd, re_formula = NA)
  ps <- prior_summary(fit)
  su <- summary(fit)
  el <- rstan::get_elapsed_time(fit$fit)
  sdat <- standata(fit)
  cat("\n====", label, "====\n"); print(su); print(ps)
  smooth <- sdat[grep("^(Xs|Zs_)", names(sdat))]
  smooth <- lapply(smooth, function(m) unname(as.matrix(m)))
  list(mean = stat(mean), sd = stat(sd), ess_bulk = stat(ess_bulk),
       n_draws = nrow(dr), variables = names(dr),
       epred_mean = colMeans(ep), epred_sd = apply(ep, 2, sd),
       epred_ess = apply(ep, 2, ess_bulk),
       prior = data.frame(prior = ps$prior, class = ps$class, coef = ps$coef,
                          group = ps$group, source = ps$source),
       standata = smooth,
       summary_smooth = as.data.frame(su$splines),
       divergent = sum(subset(nuts_params(fit), Parameter == "divergent__")$Value),
       warmup_seconds = sum(el[, "warmup"]), sample_seconds = sum(el[, "sample"]))
}
out <- list(versions = list(brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan")),
                            R = R.version.string), newdata = newdata)
run <- function(formula, data, family, label) {
  t0 <- proc.time()
  fit <- brm(formula, data = data, family = family, chains = 4, iter = 3500, warmup = 1000,
             seed = 1, refresh = 0, cores = 1)
  r <- one(fit, label, newdata[[label]])
  r$seconds_total <- (proc.time() - t0)[["elapsed"]]
  r
}
out$gauss <- run(y ~ s(x), gauss, gaussian(), "gauss")
out$pois <- run(y ~ s(x) + (1 | g), pois, poisson(), "pois")
out$mcycle <- run(accel ~ s(times), mcycle, gaussian(), "mcycle")
out$by <- run(y ~ fac + s(x, by = fac, bs = "cr", k = 8), by, gaussian(), "by")
out$t2 <- run(y ~ t2(x, z), t2d, gaussian(), "t2")
write_json(out, file.path(dir, "brms_smooth_reference.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
