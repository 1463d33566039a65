# mgcv's likelihood conventions (logLik.gam, AIC with edf2, edf1, Vc, anova.gam) on data the
# package was not built against: gamSim example 1 (additive truth, Gaussian), the same with a
# Poisson response, and MASS's mcycle data. Run: Rscript make_reference.R (writes
# reference.json and the data CSVs beside it). R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(MASS); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(11)
d <- gamSim(1, n = 400, dist = "normal", scale = 2, verbose = FALSE)[, c("y", "x0", "x1", "x2", "x3")]
d$count <- rpois(400, exp((d$y - mean(d$y)) / 6 + 1))
write.csv(d, file.path(here, "gamsim1.csv"), row.names = FALSE)
mc <- MASS::mcycle
write.csv(mc, file.path(here, "mcycle.csv"), row.names = FALSE)
one <- function(m) {
  ll <- logLik(m)
  list(loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
       edf = unname(m$edf), edf1 = unname(m$edf1), edf2 = if (is.null(m$edf2)) NULL else unname(m$edf2),
       sp = unname(m$sp), scale = m$sig2, deviance = deviance(m),
       Vp_diag = unname(diag(m$Vp)), Vc_diag = if (is.null(m$Vc)) NULL else unname(diag(m$Vc)),
       coef = unname(coef(m)))
}
f4 <- y ~ s(x0) + s(x1) + s(x2) + s(x3)
f3 <- y ~ s(x0) + s(x1) + s(x2)
out <- list()
for (meth in c("REML", "ML", "GCV.Cp")) {
  out[[paste0("gauss_", meth)]] <- one(gam(f4, data = d, method = meth))
}
out$gauss3_ML <- one(gam(f3, data = d, method = "ML"))
fp <- count ~ s(x0) + s(x1) + s(x2) + s(x3)
for (meth in c("REML", "GCV.Cp")) {
  out[[paste0("pois_", meth)]] <- one(gam(fp, data = d, family = poisson, method = meth))
}
out$mcycle_REML <- one(gam(accel ~ s(times, k = 20), data = mc, method = "REML"))
out$mcycle_GCV <- one(gam(accel ~ s(times, k = 20), data = mc))
a <- anova(gam(f3, data = d, method = "ML"), gam(f4, data = d, method = "ML"), test = "Chisq")
out$anova_ML <- list(resid_df = a[["Resid. Df"]], resid_dev = a[["Resid. Dev"]],
                     df = a[["Df"]][2], dev = a[["Deviance"]][2], p = a[["Pr(>Chi)"]][2])
ap <- anova(gam(count ~ s(x0) + s(x1), data = d, family = poisson, method = "REML"),
            gam(fp, data = d, family = poisson, method = "REML"), test = "Chisq")
out$anova_pois <- list(resid_df = ap[["Resid. Df"]], resid_dev = ap[["Resid. Dev"]],
                       df = ap[["Df"]][2], dev = ap[["Deviance"]][2], p = ap[["Pr(>Chi)"]][2])
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE), file.path(here, "reference.json"))
