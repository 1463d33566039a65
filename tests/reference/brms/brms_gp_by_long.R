# A longer brms reference for the by-model of brms_gp_reference.R (gp_by.csv), made because
# brms's own bulk ESS there is low for sdgp_gpxfacb (678) and b_facb (624) from 12000 draws:
# 4 x 10000 post-warm-up draws with adapt_delta = 0.99 (not yet run to completion: session 6
# stopped it after 30 min on the shared machine; no JSON is committed). Run from the root:
#   Rscript tests/reference/brms/brms_gp_by_long.R
suppressPackageStartupMessages({library(brms); library(jsonlite); library(posterior)})
dir <- "tests/reference/brms"
by <- read.csv(file.path(dir, "gp_by.csv"))
t0 <- proc.time()
fit <- brm(y ~ fac + gp(x, by = fac, k = 15, c = 5/4), data = by, family = gaussian(),
           chains = 4, iter = 12000, warmup = 2000, seed = 7, refresh = 0, cores = 2,
           control = list(adapt_delta = 0.99))
dr <- as_draws_df(fit)
keep <- grep("^(b_|sdgp_|lscale_|sigma$)", names(dr), value = TRUE)
stat <- function(f) as.list(sapply(keep, function(k) f(dr[[k]])))
print(summary(fit))
el <- rstan::get_elapsed_time(fit$fit)
out <- list(versions = list(brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan"))),
            mean = stat(mean), sd = stat(sd), ess_bulk = stat(ess_bulk),
            mcse_mean = stat(mcse_mean), mcse_sd = stat(mcse_sd), rhat = stat(rhat),
            n_draws = nrow(dr),
            divergent = sum(subset(nuts_params(fit), Parameter == "divergent__")$Value),
            warmup_seconds = sum(el[, "warmup"]), sample_seconds = sum(el[, "sample"]),
            seconds_total = (proc.time() - t0)[["elapsed"]])
write_json(out, file.path(dir, "brms_gp_by_long.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
