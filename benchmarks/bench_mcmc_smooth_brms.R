# brms side of benchmarks/bench_mcmc_smooth.py: compile and sampling times and ESS.
# Usage: Rscript benchmarks/bench_mcmc_smooth_brms.R CHAINS ITER WARMUP CORES DATADIR OUT.json
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
a <- commandArgs(trailingOnly = TRUE)
chains <- as.integer(a[1]); iter <- as.integer(a[2]); warmup <- as.integer(a[3])
cores <- as.integer(a[4]); dir <- a[5]; out_file <- a[6]
one <- function(formula, data, family) {
  t0 <- proc.time()[["elapsed"]]
  m <- brm(formula, data = data, family = family, chains = 0, refresh = 0)  # compile only
  compile <- proc.time()[["elapsed"]] - t0
  t0 <- proc.time()[["elapsed"]]
  f <- update(m, recompile = FALSE, chains = chains, iter = iter, warmup = warmup,
              cores = cores, refresh = 0, seed = 1)
  sampling <- proc.time()[["elapsed"]] - t0
  s <- summarise_draws(as_draws_df(f), "rhat", "ess_bulk", "ess_tail")
  s <- s[grepl("^(b_|bs_|sds_|sd_|sigma$)", s$variable), ]
  el <- rstan::get_elapsed_time(f$fit)
  list(compile_s = compile, sampling_wall_s = sampling,
       stan_warmup_s = sum(el[, "warmup"]), stan_sample_s = sum(el[, "sample"]),
       max_rhat = max(s$rhat), min_ess_bulk = min(s$ess_bulk), min_ess_tail = min(s$ess_tail),
       divergences = sum(subset(nuts_params(f), Parameter == "divergent__")$Value))
}
rd <- function(f) read.csv(file.path(dir, f))
res <- list(
  gauss_s = one(y ~ s(x), rd("gauss.csv"), gaussian()),
  mcycle_s = one(accel ~ s(times), rd("mcycle.csv"), gaussian()),
  pois_s_re = one(y ~ s(x) + (1 | g), rd("pois.csv"), poisson()))
write_json(res, out_file, auto_unbox = TRUE, digits = NA, pretty = TRUE)
