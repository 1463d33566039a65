# gam.vcomp (rescale = TRUE, mgcv's default) references for tests/test_vcomp_gamm4.py.
# Run from this folder: Rscript make_vcomp_reference.R
suppressMessages({library(mgcv); library(lme4); library(jsonlite)})
dat <- read.csv("gamsim1.csv")
vc <- function(b) { v <- gam.vcomp(b, rescale = TRUE)
  if (is.list(v) && !is.matrix(v)) v <- v$all
  list(rows = rownames(v), sd = unname(v[, 1]), lower = unname(v[, 2]), upper = unname(v[, 3])) }
out <- list(mgcv = as.character(packageVersion("mgcv")))
out$add_reml <- vc(gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = dat, method = "REML"))
ss <- lme4::sleepstudy
write.csv(ss, "sleepstudy.csv", row.names = FALSE)
out$sleep_re <- vc(gam(Reaction ~ Days + s(Subject, bs = "re"), data = ss, method = "REML"))
out$sleep_smooth_re <- vc(gam(Reaction ~ s(Days, k = 5) + s(Subject, bs = "re"), data = ss, method = "REML"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "vcomp_reference.json")
print(gam.vcomp(gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = dat, method = "REML")))
print(gam.vcomp(gam(Reaction ~ s(Days, k = 5) + s(Subject, bs = "re"), data = ss, method = "REML")))
