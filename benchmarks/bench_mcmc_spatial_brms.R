# brms side of benchmarks/bench_mcmc_spatial.py: compile and sampling times and ESS of the GP
# cases on the same data. Usage:
#   Rscript benchmarks/bench_mcmc_spatial_brms.R CHAINS ITER WARMUP CORES DATA.csv CASES OUT.json
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
a <- commandArgs(trailingOnly = TRUE)
chains <- as.integer(a[1]); iter <- as.integer(a[2]); warmup <- as.integer(a[3])
cores <- as.integer(a[4]); d <- read.csv(a[5]); cases <- strsplit(a[6], ",")[[1]]
out_file <- a[7]
one <- function(formula) {
  t0 <- proc.time()[["elapsed"]]
  m <- brm(formula, data = d, family = poisson(), chains = 0, refresh = 0)  # compile only
  compile <- proc.time()[["elapsed"]] - t0
  t0 <- proc.time()[["elapsed"]]
  f <- update(m, recompile = FALSE, chains = chains, iter = iter, warmup = warmup,
              cores = cores, refresh = 0, seed = 1)
  sampling <- proc.time()[["elapsed"]] - t0
  s <- summarise_draws(as_draws_df(f), "rhat", "ess_bulk", "ess_tail")
  s <- s[grepl("^(b_|sdgp_|lscale_)", s$variable), ]
  list(compile_s = compile, sampling_wall_s = sampling,
       max_rhat = max(s$rhat), min_ess_bulk = min(s$ess_bulk), min_ess_tail = min(s$ess_tail),
       divergences = sum(subset(nuts_params(f), Parameter == "divergent__")$Value))
}
forms <- list(gp400 = y ~ gp(x1, x2), hsgp400 = y ~ gp(x1, x2, k = 15, c = 5/4))
res <- lapply(forms[cases], one)
write_json(res, out_file, auto_unbox = TRUE, digits = NA, pretty = TRUE)
