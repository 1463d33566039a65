# mgcv's gamma= with method = "REML" and "ML" (n / gamma as the effective sample size) on
# data the package was not built against: gamSim example 1 with Gaussian noise (also with
# prior weights), with a Poisson response, and a binomial response. Per fit: sp, edf,
# score (gcv.ubre), coefficients, the reported scale (sig2), the criterion's scale
# (reml.scale), diag(Vp), fitted values, logLik / AIC (edf2-based df) and edf2.
# Run: Rscript make_gamma_reference.R (writes gamma_reference.json and the data CSVs).
# R 4.2.2, mgcv 1.8-41.
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))

set.seed(1401)
g <- gamSim(1, n = 400, dist = "normal", scale = 2, verbose = FALSE)[, c("y", "x0", "x1", "x2", "x3")]
g$w <- round(runif(nrow(g), 0.5, 2), 3)
write.csv(g, file.path(here, "gauss.csv"), row.names = FALSE)
set.seed(1402)
p <- gamSim(1, n = 500, dist = "poisson", scale = 0.25, verbose = FALSE)[, c("y", "x0", "x1", "x2")]
write.csv(p, file.path(here, "pois.csv"), row.names = FALSE)
set.seed(1403)
b <- gamSim(1, n = 600, dist = "normal", scale = 1, verbose = FALSE)[, c("f", "x0", "x1", "x2")]
b$y <- rbinom(nrow(b), 1, binomial()$linkinv((b$f - mean(b$f)) / 2))
b <- b[, c("y", "x0", "x1", "x2")]
write.csv(b, file.path(here, "binom.csv"), row.names = FALSE)

one <- function(m) {
  ll <- logLik(m)
  list(sp = unname(m$sp), edf = unname(sapply(seq_along(m$smooth), function(i)
         sum(m$edf[m$smooth[[i]]$first.para:m$smooth[[i]]$last.para]))),
       edf_total = sum(m$edf), score = unname(m$gcv.ubre), coef = unname(coef(m)),
       scale = m$sig2, reml_scale = m$reml.scale, Vp_diag = unname(diag(m$Vp)),
       fitted = unname(fitted(m)), loglik = as.numeric(ll), df = attr(ll, "df"),
       aic = AIC(m), edf2 = unname(m$edf2))
}
f3 <- y ~ s(x0) + s(x1) + s(x2)
out <- list()
for (g_ in c(1.4, 0.7)) for (meth in c("REML", "ML")) {
  tag <- paste0(meth, "_", sub("\\.", "", format(g_)))
  out[[paste0("gauss_", tag)]] <- one(gam(f3, data = g, method = meth, gamma = g_))
  out[[paste0("pois_", tag)]] <- one(gam(f3, data = p, family = poisson, method = meth, gamma = g_))
}
out$gaussw_REML_14 <- one(gam(f3, data = g, weights = w, method = "REML", gamma = 1.4))
out$gaussw_ML_07 <- one(gam(f3, data = g, weights = w, method = "ML", gamma = 0.7))
out$binom_REML_14 <- one(gam(f3, data = b, family = binomial, method = "REML", gamma = 1.4))
out$gauss_ML_1 <- one(gam(f3, data = g, method = "ML"))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "gamma_reference.json"))
