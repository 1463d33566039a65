# brms references for spatialgamm.mcmc (tests/test_mcmc_brms.py reads brms_reference.json).
# Run: Rscript tests/reference/brms/brms_reference.R   (from the repository root; slow: it
# compiles two Stan models). Long chains (4 x 3000 after 1000 warm-up) so that the reference's
# own Monte Carlo error is small next to the tolerance the tests use.
suppressPackageStartupMessages({library(brms); library(lme4); library(jsonlite); library(loo)})
set.seed(20261202)
out <- list(versions = list(brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan")),
                            R = R.version.string))
one <- function(fit, label) {
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$)", names(dr), value = TRUE)
  m <- sapply(keep, function(k) mean(dr[[k]]))
  s <- sapply(keep, function(k) sd(dr[[k]]))
  q <- lapply(keep, function(k) unname(quantile(dr[[k]], c(0.025, 0.975))))
  names(q) <- keep
  ps <- prior_summary(fit)
  lo <- loo(fit)
  su <- summary(fit)
  cat("\n====", label, "====\n"); print(su); print(ps); print(lo)
  list(mean = as.list(m), sd = as.list(s), ci95 = q, n_draws = nrow(dr),
       prior = data.frame(prior = ps$prior, class = ps$class, coef = ps$coef,
                          group = ps$group, source = ps$source),
       elpd_loo = lo$estimates["elpd_loo", "Estimate"],
       elpd_loo_se = lo$estimates["elpd_loo", "SE"],
       p_loo = lo$estimates["p_loo", "Estimate"],
       looic = lo$estimates["looic", "Estimate"],
       waic = waic(fit)$estimates["waic", "Estimate"],
       hypothesis_days_gt_10 = if (label == "sleepstudy") {
         h <- hypothesis(fit, "Days > 10")$hypothesis
         list(estimate = h$Estimate, post_prob = h$Post.Prob, evid_ratio = h$Evid.Ratio)
       } else NULL)
}
data(sleepstudy, package = "lme4")
t0 <- proc.time()
f1 <- brm(Reaction ~ Days + (Days | Subject), data = sleepstudy, chains = 4, iter = 4000,
          warmup = 1000, seed = 1, refresh = 0, cores = 1)
out$sleepstudy <- one(f1, "sleepstudy")
out$sleepstudy$seconds_total <- (proc.time() - t0)[["elapsed"]]
data(cbpp, package = "lme4")
t0 <- proc.time()
f2 <- brm(incidence | trials(size) ~ period + (1 | herd), data = cbpp, family = binomial(),
          chains = 4, iter = 4000, warmup = 1000, seed = 1, refresh = 0, cores = 1)
out$cbpp <- one(f2, "cbpp")
out$cbpp$seconds_total <- (proc.time() - t0)[["elapsed"]]
write_json(out, "tests/reference/brms/brms_reference.json", auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
