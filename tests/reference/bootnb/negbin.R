## Negative binomial GLMMs: lme4's glmer.nb (theta estimated; SEs conditional on theta),
## glmer with MASS::negative.binomial(5) (theta fixed), glmmTMB nbinom2 (theta estimated;
## SEs from the joint Hessian of (beta, theta, log theta)); the reference for
## tests/test_negbin.py.  Run from the repository root:
##   Rscript tests/reference/bootnb/negbin.R
## Data written beside this script: grouseticks.csv (lme4's grouseticks, Elston et al. 2001)
## and nb_sim.csv (simulated below: 60 groups of 8, theta 2.5, SD 0.5, beta (1, 0.5)).
suppressMessages({library(lme4); library(MASS); library(glmmTMB); library(jsonlite)})
dir <- "tests/reference/bootnb"
data(grouseticks, package = "lme4")
gt <- grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")]
write.csv(gt, file.path(dir, "grouseticks.csv"), row.names = FALSE)
gt <- read.csv(file.path(dir, "grouseticks.csv"))
gt$YEAR <- factor(gt$YEAR); gt$BROOD <- factor(gt$BROOD)

set.seed(20261202)
G <- 60; m <- 8
sim <- data.frame(g = factor(rep(seq_len(G), each = m)), x = rnorm(G * m))
b <- rnorm(G, 0, 0.5)
mu <- exp(1 + 0.5 * sim$x + b[sim$g])
sim$y <- rnbinom(G * m, size = 2.5, mu = mu)
write.csv(sim, file.path(dir, "nb_sim.csv"), row.names = FALSE)
sim <- read.csv(file.path(dir, "nb_sim.csv")); sim$g <- factor(sim$g)

glmer_summ <- function(m) {
  vc <- as.data.frame(VarCorr(m))
  list(fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       sd = vc$sdcor[1], theta = getME(m, "glmer.nb.theta"))
}
tmb_summ <- function(m) {
  list(fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(vcov(m)$cond))),
       logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       sd = sqrt(VarCorr(m)$cond[[1]][1, 1]), theta = sigma(m))
}
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            glmmTMB = as.character(packageVersion("glmmTMB")))
f_gt <- TICKS ~ YEAR + cHEIGHT + (1 | BROOD)
out$grouse_nb <- glmer_summ(glmer.nb(f_gt, data = gt, control = ctl))
out$grouse_nb5 <- glmer_summ(glmer(f_gt, data = gt, family = negative.binomial(5),
                                    control = ctl))
out$grouse_nb5$theta <- 5
out$grouse_tmb <- tmb_summ(glmmTMB(f_gt, data = gt, family = nbinom2))
f_sim <- y ~ x + (1 | g)
out$sim_nb <- glmer_summ(glmer.nb(f_sim, data = sim, control = ctl))
out$sim_tmb <- tmb_summ(glmmTMB(f_sim, data = sim, family = nbinom2))
out$sim_truth <- list(theta = 2.5, sd = 0.5, beta = c(1, 0.5))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(dir, "negbin.json"))
cat("wrote", file.path(dir, "negbin.json"), "\n")
