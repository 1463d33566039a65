# Reference numbers for spatialgamm.engine.glm.glm_irls: R's glm() on public data.
#   Rscript tests/reference/kernels/glm_reference.R   (writes glm_reference.json and the CSVs)
suppressMessages({library(lme4); library(MASS); library(jsonlite)})
here <- "tests/reference/kernels"
out <- list()
one <- function(m) list(coef = unname(coef(m)), names = names(coef(m)),
                        deviance = deviance(m), null_deviance = m$null.deviance,
                        loglik = as.numeric(logLik(m)), iter = m$iter)
# binomial with trials (lme4's cbpp)
write.csv(cbpp, file.path(here, "cbpp.csv"), row.names = FALSE)
out$cbpp_binomial <- one(glm(cbind(incidence, size - incidence) ~ period, binomial, cbpp))
# Poisson with an offset (MASS's Insurance, 64 rows)
ins <- Insurance
ins$Group <- factor(as.character(ins$Group)); ins$Age <- factor(as.character(ins$Age))
write.csv(data.frame(District = as.character(ins$District), Group = as.character(ins$Group),
                     Age = as.character(ins$Age), Holders = ins$Holders, Claims = ins$Claims),
          file.path(here, "insurance.csv"), row.names = FALSE)
# unordered factors (treatment contrasts); the design matrix is written out with the data
m_ins <- glm(Claims ~ District + Group + Age + offset(log(Holders)), poisson, ins)
write.csv(model.matrix(m_ins), file.path(here, "insurance_X.csv"), row.names = FALSE)
out$insurance_poisson <- one(m_ins)
# Gamma, log link (McCullagh & Nelder's clotting times, ?glm)
clotting <- data.frame(u = c(5, 10, 15, 20, 30, 40, 60, 80, 100),
                       lot1 = c(118, 58, 42, 35, 27, 25, 21, 19, 18))
out$clotting_gamma_log <- one(glm(lot1 ~ log(u), Gamma(link = "log"), clotting))
# the docstring example
out$toy_poisson <- one(glm(c(1, 2, 4, 9) ~ c(0, 1, 2, 3), poisson))
out$R <- R.version.string
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "glm_reference.json"))
