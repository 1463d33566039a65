# More brms references for spatialgamm.mcmc: a Poisson GLMM with two crossed grouping factors
# (lme4's grouseticks) and a Gaussian LMM with two bar terms (uncorrelated intercept and
# slope), which exercise the non-centred Poisson density and the dense marginal path.
# Run from the repository root: Rscript tests/reference/brms/brms_reference_extra.R
suppressPackageStartupMessages({library(brms); library(lme4); library(jsonlite)})
data(grouseticks, package = "lme4")
g <- grouseticks[, c("TICKS", "YEAR", "HEIGHT", "BROOD", "LOCATION")]
g$cHEIGHT <- (g$HEIGHT - mean(g$HEIGHT)) / 50
write.csv(g, "tests/reference/brms/grouseticks.csv", row.names = FALSE)
g <- read.csv("tests/reference/brms/grouseticks.csv")
g$YEAR <- factor(g$YEAR); g$BROOD <- factor(g$BROOD); g$LOCATION <- factor(g$LOCATION)
one <- function(fit, label) {
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$)", names(dr), value = TRUE)
  lo <- loo(fit)
  cat("\n====", label, "====\n"); print(summary(fit)); print(prior_summary(fit)); print(lo)
  list(mean = as.list(sapply(keep, function(k) mean(dr[[k]]))),
       sd = as.list(sapply(keep, function(k) sd(dr[[k]]))), n_draws = nrow(dr),
       elpd_loo = lo$estimates["elpd_loo", "Estimate"],
       elpd_loo_se = lo$estimates["elpd_loo", "SE"])
}
out <- list()
f1 <- brm(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), data = g, family = poisson(),
          chains = 4, iter = 4000, warmup = 1000, seed = 1, refresh = 0, cores = 1)
out$grouseticks <- one(f1, "grouseticks")
data(sleepstudy, package = "lme4")
f2 <- brm(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), data = sleepstudy,
          chains = 4, iter = 4000, warmup = 1000, seed = 1, refresh = 0, cores = 1)
out$sleepstudy_uncorrelated <- one(f2, "sleepstudy_uncorrelated")
write_json(out, "tests/reference/brms/brms_reference_extra.json", auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
