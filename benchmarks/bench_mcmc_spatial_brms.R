# brms side of benchmarks/bench_mcmc_spatial.py: compile and sampling times and ESS of the GP
# cases on the same data (gaussN cases read gaussN.csv next to DATA.csv). Usage:
#   Rscript benchmarks/bench_mcmc_spatial_brms.R CHAINS ITER WARMUP CORES DATA.csv CASES OUT.json
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
a <- commandArgs(trailingOnly = TRUE)
chains <- as.integer(a[1]); iter <- as.integer(a[2]); warmup <- as.integer(a[3])
cores <- as.integer(a[4]); d <- read.csv(a[5]); cases <- strsplit(a[6], ",")[[1]]
out_file <- a[7]
one <- function(case) {
  formula <- forms[[case]]
  gauss <- startsWith(case, "gauss")
  dd <- if (gauss) read.csv(file.path(dirname(a[5]), paste0(case, ".csv"))) else d
  fam <- if (gauss) gaussian() else poisson()
  t0 <- proc.time()[["elapsed"]]
  m <- brm(formula, data = dd, family = fam, chains = 0, refresh = 0)  # compile only
  compile <- proc.time()[["elapsed"]] - t0
  t0 <- proc.time()[["elapsed"]]
  f <- update(m, recompile = FALSE, chains = chains, iter = iter, warmup = warmup,
              cores = cores, refresh = 0, seed = 1)
  sampling <- proc.time()[["elapsed"]] - t0
  s <- summarise_draws(as_draws_df(f), "rhat", "ess_bulk", "ess_tail")
  s <- s[grepl("^(b_|sdgp_|lscale_|sigma$)", s$variable), ]
  list(compile_s = compile, sampling_wall_s = sampling,
       max_rhat = max(s$rhat), min_ess_bulk = min(s$ess_bulk), min_ess_tail = min(s$ess_tail),
       divergences = sum(subset(nuts_params(f), Parameter == "divergent__")$Value))
}
forms <- list(gauss100 = y ~ gp(x1, x2), gauss400 = y ~ gp(x1, x2), gp400 = y ~ gp(x1, x2),
              hsgp400 = y ~ gp(x1, x2, k = 15, c = 5/4))
res <- lapply(setNames(cases, cases), one)
write_json(res, out_file, auto_unbox = TRUE, digits = NA, pretty = TRUE)
