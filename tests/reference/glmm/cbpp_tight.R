# glmer on cbpp with tight tolerances: lme4's default PIRLS tolerance (tolPwrss = 1e-7) leaves
# an exit error that its finite-difference Hessian amplifies (lme4 issue #998), so the
# default Laplace standard errors are off by ~0.5%. Tight settings give the reference the
# package is compared with. Run: Rscript cbpp_tight.R (writes cbpp_tight.json beside it).
suppressMessages({library(lme4); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
cb <- read.csv(file.path(here, "..", "..", "..", "spatialgamm", "data", "cbpp.csv"))
cb$herd <- factor(cb$herd); cb$period <- factor(cb$period)
ctl <- glmerControl(tolPwrss = 1e-13, optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-3, rhoend = 1e-10, maxfun = 1e5))
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = cb, control = ctl)
s <- coef(summary(g))
out <- list(fixef = as.list(fixef(g)), se_hessian = as.list(s[, 2]),
            se_rx = as.list(sqrt(diag(as.matrix(vcov(g, use.hessian = FALSE))))),
            theta = unname(getME(g, "theta")), loglik = as.numeric(logLik(g)), deviance = deviance(g))
writeLines(toJSON(out, digits = I(10), auto_unbox = TRUE, pretty = TRUE), file.path(here, "cbpp_tight.json"))
