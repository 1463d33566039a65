## lme4::bootMer parametric bootstrap distributions, the reference for
## spatialgamm's fit.bootstrap(kind="parametric") (tests/test_bootstrap.py).
## Run from the repository root:  Rscript tests/reference/bootnb/bootmer_sleepstudy.R
## Writes tests/reference/bootnb/bootmer_sleepstudy.json: per statistic the mean, SD and
## 2.5/97.5% quantiles of nsim bootstrap replicates (and the estimate), for
##   sleepstudy  Reaction ~ Days + (Days | Subject), REML, nsim = 500
##   cbpp        cbind(incidence, size - incidence) ~ period + (1 | herd), Laplace, nsim = 300
## Statistics: fixed effects, the sdcor column of as.data.frame(VarCorr(m)) and population
## predictions (re.form = NA) at new data.
suppressMessages({library(lme4); library(jsonlite)})
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
summ <- function(b, est) {
  t <- b$t
  ok <- stats::complete.cases(t)
  t <- t[ok, , drop = FALSE]
  list(names = names(est), estimate = unname(est), nsim = nrow(t),
       mean = unname(colMeans(t)), sd = unname(apply(t, 2, sd)),
       q025 = unname(apply(t, 2, quantile, 0.025)),
       q975 = unname(apply(t, 2, quantile, 0.975)))
}

d <- read.csv("spatialgamm/data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
m <- lmer(Reaction ~ Days + (Days | Subject), d)
nd <- data.frame(Days = c(0, 4.5, 9))
f1 <- function(x) {
  vc <- as.data.frame(VarCorr(x))
  c(fixef(x), setNames(vc$sdcor, paste(vc$grp, vc$var1, vc$var2)),
    setNames(predict(x, newdata = nd, re.form = NA), paste0("pred", 1:3)))
}
t <- system.time(b <- bootMer(m, f1, nsim = 500, seed = 101, type = "parametric"))
out$sleepstudy <- c(summ(b, f1(m)), list(newdata = nd, seconds = unname(t["elapsed"])))

c0 <- read.csv("spatialgamm/data/cbpp.csv")
c0$herd <- factor(c0$herd)
c0$period <- factor(c0$period)
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), c0, family = binomial)
f2 <- function(x) c(fixef(x), sd_herd = as.data.frame(VarCorr(x))$sdcor)
t <- system.time(b2 <- suppressWarnings(bootMer(g, f2, nsim = 300, seed = 102)))
out$cbpp <- c(summ(b2, f2(g)), list(seconds = unname(t["elapsed"])))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/bootnb/bootmer_sleepstudy.json")
cat("wrote tests/reference/bootnb/bootmer_sleepstudy.json\n")
