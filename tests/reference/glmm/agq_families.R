# References for adaptive quadrature beyond the binomial logit: lme4's grouseticks, Poisson
# TICKS ~ YEAR + (1|BROOD) with nAGQ = 9, and cbpp with a probit link, nAGQ = 9.
# Run from this folder: Rscript agq_families.R  (writes grouseticks.csv and agq_families.json)
suppressMessages({library(lme4); library(jsonlite)})
data(grouseticks)
write.csv(grouseticks[c("TICKS", "YEAR", "BROOD")], "grouseticks.csv", row.names = FALSE)
g <- read.csv("grouseticks.csv"); g$YEAR <- factor(g$YEAR); g$BROOD <- factor(g$BROOD)
ctl <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10))
one <- function(m) list(theta = unname(getME(m, "theta")), beta = unname(fixef(m)),
                        se = unname(sqrt(diag(as.matrix(vcov(m))))))
out <- list(
  poisson_agq9 = one(glmer(TICKS ~ YEAR + (1 | BROOD), g, family = poisson, nAGQ = 9,
                           control = ctl)),
  probit_agq9 = one(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                          family = binomial(link = "probit"), nAGQ = 9, control = ctl)),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "agq_families.json")
