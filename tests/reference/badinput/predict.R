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
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
ndg <- data.frame(period = c("1", "2", "4", "3"), herd = c("1", "99", "5", "98"))
out$glmer <- list(newdata = ndg,
                  fit = as.numeric(predict(g, ndg, type = "response", allow.new.levels = TRUE)),
                  error = tryCatch({predict(g, ndg); ""},
                                   error = function(e) conditionMessage(e)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           "predict.json")
