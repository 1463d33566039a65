# lme4 condVar (postVar) and lmerTest Satterthwaite df for sleepstudy, for tests/test_lmer.py.
# Run: Rscript lmm_extra.R (writes lmm_extra.json beside it).
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
ss <- read.csv(file.path(here, "..", "..", "..", "spatialgamm", "data", "sleepstudy.csv"))
ss$Subject <- factor(ss$Subject)
m <- lme4::lmer(Reaction ~ Days + (Days | Subject), ss)
pv <- attr(ranef(m, condVar = TRUE)$Subject, "postVar")
mt <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), ss)
ct <- coef(summary(mt, ddf = "Satterthwaite"))
out <- list(condvar_first = pv[, , 1], condvar_last = pv[, , dim(pv)[3]],
            satterthwaite_df = as.list(ct[, "df"]), satterthwaite_p = as.list(ct[, "Pr(>|t|)"]))
writeLines(toJSON(out, digits = I(10), auto_unbox = TRUE, pretty = TRUE), file.path(here, "lmm_extra.json"))
