# brms's evidence ratio of a point hypothesis without prior draws (tests/test_mcmcfast_*.py
# read brms_reference_mcmcfast_na.json). Run from the repository root:
#   Rscript tests/reference/brms/brms_reference_mcmcfast_na.R
# Two short fits of sleepstudy (the numbers other than Evid.Ratio are not used):
# (a) sample_prior = "no" with a proper normal(0, 10) prior on b: no prior draws at all;
# (b) sample_prior = "yes" with brms's default flat prior on b: brms cannot draw from an
#     improper prior, so b_Days has no prior draws either.
suppressPackageStartupMessages({library(brms); library(lme4); library(jsonlite)})
data(sleepstudy, package = "lme4")
ctl <- list(chains = 2, iter = 1000, warmup = 500, seed = 1, refresh = 0, cores = 1)
fa <- do.call(brm, c(list(Reaction ~ Days + (Days | Subject), data = sleepstudy,
                          prior = set_prior("normal(0, 10)", class = "b"),
                          sample_prior = "no"), ctl))
fb <- do.call(brm, c(list(Reaction ~ Days + (Days | Subject), data = sleepstudy,
                          sample_prior = "yes"), ctl))
ha <- hypothesis(fa, c("Days = 10", "Days > 10"))$hypothesis
hb <- hypothesis(fb, c("Days = 10", "Days > 10"))$hypothesis
print(ha); print(hb)
na <- function(v) lapply(v, function(x) if (is.na(x)) "NA" else x)
write_json(list(no_prior_draws = list(evid_ratio = na(ha$Evid.Ratio),
                                      post_prob = na(ha$Post.Prob)),
                flat_prior = list(evid_ratio = na(hb$Evid.Ratio), post_prob = na(hb$Post.Prob)),
                hypotheses = c("Days = 10", "Days > 10")),
           "tests/reference/brms/brms_reference_mcmcfast_na.json", auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
