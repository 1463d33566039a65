# brms references for brm() with gp() terms (tests/test_mcmcspatial_brms.py reads
# brms_gp_reference.json). Run from the repository root:
#   Rscript tests/reference/brms/brms_gp_reference.R
# Slow: it compiles three Stan models. The data are simulated here and written next to the
# JSON (gp_gauss.csv, gp_pois.csv, gp_by.csv) so that the Python side fits the same rows.
# Chains: 4 x 3000 after 1000 warm-up, so that brms's own Monte Carlo error is small next to
# the tests' tolerance (which combines both MCSEs).
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
dir <- "tests/reference/brms"
set.seed(20261202)
n <- 60
gauss <- data.frame(x = round(runif(n, 0, 10), 4))
gauss$y <- round(2 + 1.5 * sin(gauss$x) + rnorm(n, 0, 0.5), 4)
write.csv(gauss, file.path(dir, "gp_gauss.csv"), row.names = FALSE)
pois <- data.frame(x1 = round(runif(n), 4), x2 = round(runif(n), 4))
pois$y <- rpois(n, exp(0.5 + sin(3 * pois$x1) + cos(3 * pois$x2)))
write.csv(pois, file.path(dir, "gp_pois.csv"), row.names = FALSE)
nb <- 80
by <- data.frame(x = round(runif(nb, 0, 10), 4), fac = rep(c("a", "b"), each = nb / 2))
by$y <- round(1 + (by$fac == "b") + ifelse(by$fac == "a", sin(by$x), cos(by$x / 2)) +
              rnorm(nb, 0, 0.4), 4)
write.csv(by, file.path(dir, "gp_by.csv"), row.names = FALSE)

newdata <- list(
  gauss = data.frame(x = c(0.5, 2.5, 5, 7.5, 9.5)),
  pois = data.frame(x1 = c(0.1, 0.5, 0.9, 0.3), x2 = c(0.1, 0.5, 0.9, 0.7)),
  by = data.frame(x = c(1, 5, 9, 1, 5, 9), fac = rep(c("a", "b"), each = 3)))

one <- function(fit, label, nd) {
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|sdgp_|lscale_|sigma$)", names(dr), value = TRUE)
  stat <- function(f) as.list(sapply(keep, function(k) f(dr[[k]])))
  ep <- posterior_epred(fit, newdata = nd)
  ps <- prior_summary(fit)
  su <- summary(fit)
  el <- rstan::get_elapsed_time(fit$fit)
  cat("\n====", label, "====\n"); print(su); print(ps)
  list(mean = stat(mean), sd = stat(sd), ess_bulk = stat(ess_bulk),
       n_draws = nrow(dr),
       epred_mean = colMeans(ep), epred_sd = apply(ep, 2, sd),
       epred_ess = apply(ep, 2, ess_bulk),
       prior = data.frame(prior = ps$prior, class = ps$class, coef = ps$coef,
                          group = ps$group, source = ps$source),
       divergent = sum(subset(nuts_params(fit), Parameter == "divergent__")$Value),
       warmup_seconds = sum(el[, "warmup"]), sample_seconds = sum(el[, "sample"]))
}
out <- list(versions = list(brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan")),
                            R = R.version.string), newdata = newdata)
run <- function(formula, data, family, label) {
  t0 <- proc.time()
  fit <- brm(formula, data = data, family = family, chains = 4, iter = 4000, warmup = 1000,
             seed = 1, refresh = 0, cores = 2)
  r <- one(fit, label, newdata[[label]])
  r$seconds_total <- (proc.time() - t0)[["elapsed"]]
  r
}
out$gauss <- run(y ~ gp(x), gauss, gaussian(), "gauss")
out$pois <- run(y ~ gp(x1, x2), pois, poisson(), "pois")
out$by <- run(y ~ fac + gp(x, by = fac, k = 15, c = 5/4), by, gaussian(), "by")
write_json(out, file.path(dir, "brms_gp_reference.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
