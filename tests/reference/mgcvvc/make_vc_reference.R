# mgcv's smoothing-parameter-corrected covariance (Vc), edf2, logLik/AIC with edf2, and
# anova.gam (between nested fits, test = "Chisq" and "F"; the single-model table) on data
# the package was not built against: gamSim example 1 (also with a te() term: several
# penalties in one term), MASS's Boston, nlme's Milk (random effect as s(Cow, bs = "re")),
# R's quakes (2-D gp smooth), and a simulated Poisson response with an exposure offset.
# Run: Rscript make_vc_reference.R (writes vc_reference.json and the data CSVs beside it).
# R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(MASS); library(nlme); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))

set.seed(2016)
g1 <- gamSim(1, n = 300, dist = "normal", scale = 2, verbose = FALSE)[, c("y", "x0", "x1", "x2", "x3")]
write.csv(g1, file.path(here, "gamsim1_300.csv"), row.names = FALSE)
bos <- MASS::Boston[, c("medv", "lstat", "rm", "crim", "chas")]
write.csv(bos, file.path(here, "boston.csv"), row.names = FALSE)
mk <- as.data.frame(nlme::Milk)
mk <- data.frame(protein = mk$protein, Time = mk$Time, Cow = paste0("c", as.character(mk$Cow)),
                 Diet = as.character(mk$Diet))
write.csv(mk, file.path(here, "milk.csv"), row.names = FALSE)
mk$Cow <- factor(mk$Cow); mk$Diet <- factor(mk$Diet)
qk <- datasets::quakes[, c("lat", "long", "depth", "mag", "stations")]
write.csv(qk, file.path(here, "quakes.csv"), row.names = FALSE)
set.seed(77)
n <- 500
po <- data.frame(x = runif(n), z = runif(n), expo = exp(runif(n, -1, 1.5)))
po$count <- rpois(n, po$expo * exp(0.3 + sin(2 * pi * po$x) + cos(3 * po$z)))
write.csv(po, file.path(here, "poisson_offset.csv"), row.names = FALSE)

one <- function(m) {
  ll <- logLik(m)
  list(loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
       edf = unname(m$edf), edf1 = unname(m$edf1), edf2 = unname(m$edf2),
       sp = unname(m$sp), scale = m$sig2, deviance = deviance(m),
       Vp_diag = unname(diag(m$Vp)), Vc_diag = unname(diag(m$Vc)),
       Vc_row1 = unname(m$Vc[1, ]), coef = unname(coef(m)), hess = unname(m$outer.info$hess))
}
fits <- list(
  g1_REML = gam(y ~ s(x0) + s(x1) + s(x2), data = g1, method = "REML"),
  g1_ML = gam(y ~ s(x0) + s(x1) + s(x2), data = g1, method = "ML"),
  g1_te_REML = gam(y ~ te(x1, x2, k = 4) + s(x0), data = g1, method = "REML"),
  boston_REML = gam(medv ~ s(lstat) + s(rm) + chas, data = bos, method = "REML"),
  milk_REML = gam(protein ~ Diet + s(Time) + s(Cow, bs = "re"), data = mk, method = "REML"),
  quakes_REML = gam(mag ~ s(long, lat, bs = "gp", k = 30), data = qk, method = "REML"),
  pois_REML = gam(count ~ s(x, bs = "cr") + s(z, bs = "cr") + offset(log(expo)),
                  data = po, family = poisson, method = "REML"),
  pois_ML = gam(count ~ s(x, bs = "cr") + s(z, bs = "cr") + offset(log(expo)),
                data = po, family = poisson, method = "ML")
)
out <- lapply(fits, one)

tab <- function(a) {
  r <- list(resid_df = a[["Resid. Df"]], resid_dev = a[["Resid. Dev"]],
            df = a[["Df"]], dev = a[["Deviance"]])
  if ("Pr(>Chi)" %in% names(a)) r$p <- a[["Pr(>Chi)"]]
  if ("F" %in% names(a)) { r$F <- a[["F"]]; r$p <- a[["Pr(>F)"]] }
  r
}
b0 <- gam(medv ~ s(lstat) + chas, data = bos, method = "ML")
b1 <- gam(medv ~ s(lstat) + s(rm) + chas, data = bos, method = "ML")
b2 <- gam(medv ~ s(lstat) + s(rm) + s(crim) + chas, data = bos, method = "ML")
anv <- list(
  boston_ML_Chisq = tab(anova(b0, b1, b2, test = "Chisq")),
  boston_ML_F = tab(anova(b0, b1, b2, test = "F")),
  boston_GCV_F = tab(anova(gam(medv ~ s(lstat) + chas, data = bos),
                           gam(medv ~ s(lstat) + s(rm) + chas, data = bos), test = "F")),
  pois_REML_Chisq = tab(anova(gam(count ~ s(x, bs = "cr") + offset(log(expo)), data = po,
                                  family = poisson, method = "REML"),
                              fits$pois_REML, test = "Chisq")),
  g1_ML_Chisq = tab(anova(gam(y ~ s(x0) + s(x1), data = g1, method = "ML"), fits$g1_ML,
                          test = "Chisq"))
)
single <- function(m) {
  a <- anova(m)
  list(pTerms = if (is.null(a$pTerms.table)) NULL else
         list(terms = rownames(a$pTerms.table), table = unname(a$pTerms.table)),
       s = list(terms = rownames(a$s.table), table = unname(a$s.table)))
}
anv$single_milk <- single(fits$milk_REML)
anv$single_boston <- single(fits$boston_REML)
anv$single_pois <- single(gam(count ~ s(x, bs = "cr") + z + I(z^2) + offset(log(expo)),
                              data = po, family = poisson, method = "REML"))
out$anova <- anv
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, null = "null"),
           file.path(here, "vc_reference.json"))
