# mgcv reference for Laplace REML/ML with an estimated scale (Gamma, inverse Gaussian) and
# a fixed-theta negative binomial: tests/test_gamscale.py.
# Run from the repository root:  Rscript tests/reference/gamscale/make_reference.R
library(mgcv)
library(jsonlite)
library(MASS)
dir <- "tests/reference/gamscale"

# a second simulated design (Gamma response, a te() term), written out for the tests
set.seed(20261202)
n <- 400
x0 <- runif(n); x1 <- runif(n); x2 <- runif(n)
f <- 0.6 * sin(2 * pi * x0) + 0.8 * exp(-((x1 - 0.5)^2 + (x2 - 0.4)^2) / 0.08)
sim2 <- data.frame(x0 = x0, x1 = x1, x2 = x2,
                   y = rgamma(n, shape = 4, scale = exp(0.5 + f) / 4))
write.csv(sim2, file.path(dir, "gamma_te.csv"), row.names = FALSE)
sim1 <- read.csv(file.path(dir, "gamsim_pois.csv"))
boston <- MASS::Boston
write.csv(boston[, c("medv", "lstat", "rm", "dis")], file.path(dir, "boston.csv"),
          row.names = FALSE)

one <- function(name, data, formula, family, famname, method, points = list()) {
  t0 <- proc.time()[["elapsed"]]
  b <- gam(as.formula(formula), data = data, family = family, method = method)
  el <- proc.time()[["elapsed"]] - t0
  ll <- logLik(b)
  crit <- lapply(points, function(p) {
    bp <- gam(as.formula(formula), data = data, family = family, method = method,
              sp = p$sp, scale = p$scale)
    list(sp = p$sp, scale = p$scale, score = unname(bp$gcv.ubre))
  })
  list(name = name, data = data_name, formula = formula, family = famname,
       method = method, sp = unname(b$sp), sp_names = names(b$sp),
       reml_scale = if (is.null(b$reml.scale)) NA else b$reml.scale,
       scale = b$scale, sig2 = b$sig2, score = unname(b$gcv.ubre),
       coef = unname(coef(b)), coef_names = names(coef(b)),
       se = unname(sqrt(diag(b$Vp))), edf = unname(b$edf),
       edf_smooth = unname(sapply(seq_along(b$smooth), function(i) {
         sum(b$edf[b$smooth[[i]]$first.para:b$smooth[[i]]$last.para])})),
       loglik = as.numeric(ll), loglik_df = attr(ll, "df"), aic = AIC(b),
       deviance = deviance(b), converged = b$outer.info$conv, seconds = el,
       criterion_points = crit)
}

cases <- list()
data_name <- "gamsim_pois.csv"
pts <- list(list(sp = c(1, 1), scale = 0.2), list(sp = c(10, 0.01), scale = 0.5))
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- one("sim1_gamma_log", sim1, "yg ~ s(x0) + s(x2)",
                                    Gamma(link = "log"), "Gamma(link='log')", m, pts)
  cases[[length(cases) + 1]] <- one("sim1_gamma_inverse", sim1, "yg ~ s(x0) + s(x2)",
                                    Gamma(link = "inverse"), "Gamma(link='inverse')", m, pts)
  cases[[length(cases) + 1]] <- one("sim1_invgauss", sim1, "yg ~ s(x0) + s(x2)",
                                    inverse.gaussian(), "inverse.gaussian", m,
                                    list(list(sp = c(1, 1), scale = 0.3)))
  cases[[length(cases) + 1]] <- one("sim1_negbin3", sim1, "y ~ s(x0) + s(x2)",
                                    negbin(3), "negbin3", m,
                                    list(list(sp = c(1, 1), scale = 1),
                                         list(sp = c(10, 0.01), scale = 1)))
}
data_name <- "gamma_te.csv"
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- one("sim2_gamma_log_te", sim2, "y ~ s(x0) + te(x1, x2)",
                                    Gamma(link = "log"), "Gamma(link='log')", m,
                                    list(list(sp = c(1, 1, 1), scale = 0.3)))
}
# the identity link: the observed information is negative at rows with y < mu / 2 (55 of
# 400 at the optimum), mgcv's Hessian X'W_obs X + S positive definite all the same
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- one("sim2_gamma_identity_te", sim2, "y ~ s(x0) + te(x1, x2)",
                                    Gamma(link = "identity"), "Gamma(link='identity')", m,
                                    list(list(sp = c(1, 1, 1), scale = 0.3),
                                         list(sp = c(0.02, 5, 0.5), scale = 0.26)))
}
data_name <- "boston.csv"
for (m in c("REML", "ML")) {
  cases[[length(cases) + 1]] <- one("boston_gamma_log", boston,
                                    "medv ~ s(lstat) + te(rm, dis)",
                                    Gamma(link = "log"), "Gamma(link='log')", m,
                                    list(list(sp = c(1, 1, 1), scale = 0.05)))
}
out <- list(mgcv = as.character(packageVersion("mgcv")), R = R.version.string,
            cases = cases)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null"),
           file.path(dir, "reference.json"))
