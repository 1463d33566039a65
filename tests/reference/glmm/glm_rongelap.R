# A Poisson GLM with offset on the Rongelap counts: what sg.fit gives with no random terms.
# Run: Rscript glm_rongelap.R (writes glm_rongelap.json beside it).
suppressMessages(library(jsonlite))
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
rg <- read.csv(file.path(here, "..", "..", "..", "spatialgamm", "data", "rongelap.csv"))
g <- glm(counts ~ cX + offset(log(time)), family = poisson, data = rg)
s <- coef(summary(g))
writeLines(toJSON(list(coef = as.list(s[, 1]), se = as.list(s[, 2]), loglik = as.numeric(logLik(g)),
                       aic = AIC(g), deviance = deviance(g)), digits = I(10), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glm_rongelap.json"))
