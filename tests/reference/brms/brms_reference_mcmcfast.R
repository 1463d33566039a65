# brms references for brm()'s negative binomial and Gamma families and for hypothesis()'s
# Savage-Dickey evidence ratios of point hypotheses (tests/test_mcmcfast_*.py read
# brms_reference_mcmcfast.json). Run from the repository root:
#   Rscript tests/reference/brms/brms_reference_mcmcfast.R
# Slow (four Stan models to compile). Long chains (4 x 5000 after 1000 warm-up) so that the
# reference's Monte Carlo error is small next to the tolerances; the MCSEs are recorded.
suppressPackageStartupMessages({library(brms); library(lme4); library(MASS);
                                library(jsonlite); library(posterior)})
set.seed(20261202)
here <- "tests/reference/brms"
out <- list(versions = list(brms = as.character(packageVersion("brms")),
                            rstan = as.character(packageVersion("rstan")),
                            R = R.version.string))
one <- function(fit, label) {
  dr <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|cor_|sigma$|shape$)", names(dr), value = TRUE)
  s <- summarise_draws(subset_draws(dr, variable = keep), "mean", "sd", "mcse_mean",
                       "mcse_sd", "ess_bulk", "rhat")
  ps <- prior_summary(fit)
  cat("\n====", label, "====\n"); print(summary(fit)); print(ps); print(s)
  named <- function(v) as.list(setNames(as.numeric(v), s$variable))
  list(mean = named(s$mean), sd = named(s$sd), mcse_mean = named(s$mcse_mean),
       mcse_sd = named(s$mcse_sd), ess_bulk = named(s$ess_bulk), n_draws = nrow(dr),
       prior = data.frame(prior = ps$prior, class = ps$class, coef = ps$coef,
                          group = ps$group, source = ps$source))
}
ctl <- list(chains = 4, iter = 6000, warmup = 1000, seed = 1, refresh = 0, cores = 1)

# negative binomial GLMM: brms's own epilepsy data (Thall & Vail 1990)
data(epilepsy, package = "brms")
write.csv(epilepsy[, c("count", "zAge", "zBase", "Trt", "patient", "visit")],
          file.path(here, "epilepsy.csv"), row.names = FALSE)
f <- do.call(brm, c(list(count ~ zAge + zBase * Trt + (1 | patient), data = epilepsy,
                         family = negbinomial()), ctl))
out$epilepsy_nb <- one(f, "epilepsy negbinomial")

# negative binomial without group-level effects: MASS's quine
data(quine, package = "MASS")
write.csv(quine, file.path(here, "quine.csv"), row.names = FALSE)
f <- do.call(brm, c(list(Days ~ Eth + Sex + Age + Lrn, data = quine,
                         family = negbinomial()), ctl))
out$quine_nb <- one(f, "quine negbinomial")

# Gamma GLMM with a log link: lme4's sleepstudy
data(sleepstudy, package = "lme4")
f <- do.call(brm, c(list(Reaction ~ Days + (Days | Subject), data = sleepstudy,
                         family = Gamma(link = "log")), ctl))
out$sleepstudy_gamma <- one(f, "sleepstudy Gamma(log)")

# point hypotheses: Savage-Dickey evidence ratios need prior draws (sample_prior = "yes")
f <- do.call(brm, c(list(Reaction ~ Days + (Days | Subject), data = sleepstudy,
                         prior = set_prior("normal(0, 10)", class = "b"),
                         sample_prior = "yes"), ctl))
out$sleepstudy_hyp <- one(f, "sleepstudy, normal(0, 10) on b, sample_prior = yes")
hyps <- c("Days = 10", "Days = 8", "Days = 12", "Days > 10", "Days - 10 = 0")
h <- hypothesis(f, hyps)$hypothesis
print(h)
out$sleepstudy_hyp$hypothesis <- lapply(seq_along(hyps), function(i) list(
  text = hyps[i], estimate = h$Estimate[i], est_error = h$Est.Error[i],
  ci_lower = h$CI.Lower[i], ci_upper = h$CI.Upper[i], evid_ratio = h$Evid.Ratio[i],
  post_prob = h$Post.Prob[i]))
# the prior draws brms used (brms_reference_mcmcfast_na.R covers hypotheses without them;
# the no_prior_draws_evid_ratio recorded in the JSON by an earlier version of this script came
# from update(recompile = FALSE), which kept the prior draws: not used)
pr <- prior_draws(f)
out$sleepstudy_hyp$prior_b_mean <- mean(pr$b); out$sleepstudy_hyp$prior_b_sd <- sd(pr$b)
write_json(out, file.path(here, "brms_reference_mcmcfast.json"), auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
