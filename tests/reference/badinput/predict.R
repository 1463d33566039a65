# Reference for prediction at new levels and missing covariates (issue 12):
# lme4's predict(..., allow.new.levels = TRUE, na.action = na.pass).
# Run: Rscript predict.R  (writes predict.json)
suppressMessages({library(lme4); library(jsonlite)})
out <- list()
m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
nd <- data.frame(Days = c(1, 5, NA, 8), Subject = c("308", "999", "372", "998"))
out$lmer <- list(newdata = nd,
                 fit = as.numeric(predict(m, nd, allow.new.levels = TRUE, na.action = na.pass)),
                 error = tryCatch({predict(m, nd[1:2, ]); ""},
                                  error = function(e) conditionMessage(e)))
# tight tolerances as tests/reference/glmm/cbpp_tight.R: lme4's defaults stop short of the
# optimum (log-likelihood -92.02657 against -92.02628)
ctl <- glmerControl(tolPwrss = 1e-13, optimizer = "bobyqa",
                    optCtrl = list(rhobeg = 2e-3, rhoend = 1e-10, maxfun = 1e5))
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial,
           control = ctl)
ndg <- data.frame(period = c("1", "2", "4", "3"), herd = c("1", "99", "5", "98"))
out$glmer <- list(newdata = ndg,
                  fit = as.numeric(predict(g, ndg, type = "response", allow.new.levels = TRUE)),
                  error = tryCatch({predict(g, ndg); ""},
                                   error = function(e) conditionMessage(e)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "predict.json")
