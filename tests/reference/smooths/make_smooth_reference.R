# Reference numbers for tests/test_smooth_bases.py: what mgcv builds and fits for each
# smooth basis on a small simulated dataset, with FIXED smoothing parameters (no optimiser).
# Run: Rscript tests/reference/smooths/make_smooth_reference.R   (paths relative to this file)
# Writes smooth_data.csv, smooth_newdata.csv and smooth_reference.json beside this script.
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(20240611)
n <- 80
d <- data.frame(x = round(runif(n), 6), z = round(runif(n), 6))
d$fac <- factor(sample(c("A", "B", "C"), n, replace = TRUE))
d$g <- factor(sample(paste0("h", 1:7), n, replace = TRUE))
d$w <- round(runif(n, 0.5, 2), 6)
d$y <- round(sin(2 * pi * d$x) + 0.5 * cos(3 * d$z) + c(A = 0, B = 0.5, C = -0.3)[as.character(d$fac)] +
             rnorm(n, sd = 0.3), 6)
# new data: includes points outside the data range (extrapolation) and an unseen level
nd <- data.frame(x = round(seq(-0.1, 1.1, length.out = 25), 6), z = round(seq(0.9, 0.05, length.out = 25), 6))
nd$fac <- factor(rep(c("A", "B", "C"), length.out = 25), levels = c("A", "B", "C"))
nd$g <- factor(rep(c(paste0("h", 1:7), "h_new"), length.out = 25))
nd$w <- round(seq(0.6, 1.9, length.out = 25), 6)
write.csv(d, file.path(here, "smooth_data.csv"), row.names = FALSE)
write.csv(nd, file.path(here, "smooth_newdata.csv"), row.names = FALSE)

fit_info <- function(formula, sp, newdata = nd) {
  b <- gam(formula, data = d, sp = sp, method = "GCV.Cp")
  nd_ok <- newdata
  list(formula = paste(deparse(formula), collapse = " "), sp = sp,
       fitted = as.numeric(fitted(b)),
       predict = as.numeric(predict(b, newdata = nd_ok)),
       coef_names = names(coef(b)),
       smooths = lapply(b$smooth, function(s) list(
         label = s$label, S_scale = s$S.scale, ncoef = s$last.para - s$first.para + 1,
         null_space_dim = s$null.space.dim, rank = s$rank, bs_dim = s$bs.dim,
         gp_defn = if (is.null(s$gp.defn)) NULL else s$gp.defn)))
}
raw <- function(term) {  # unconstrained, unscaled basis and penalty as the constructor makes them
  s <- smoothCon(term, data = d, absorb.cons = FALSE, scale.penalty = FALSE)[[1]]
  list(X = unname(s$X), S = unname(s$S[[1]]), knots = if (!is.null(s$xp)) s$xp else s$knots)
}

fits <- list(
  cr = fit_info(y ~ s(x, bs = "cr", k = 10), sp = 0.05),
  cr_stiff = fit_info(y ~ s(x, bs = "cr", k = 10), sp = 5),
  ps = fit_info(y ~ s(x, bs = "ps", k = 10), sp = 0.05),
  ps_m31 = fit_info(y ~ s(x, bs = "ps", k = 12, m = c(3, 1)), sp = 0.5),
  tp = fit_info(y ~ s(x, bs = "tp", k = 10), sp = 0.05),
  tp_default = fit_info(y ~ s(x), sp = 0.05),
  tp2 = fit_info(y ~ s(x, z, bs = "tp", k = 20), sp = 0.05),
  gp_m3 = fit_info(y ~ s(x, z, bs = "gp", k = 20, m = c(3, 0.5)), sp = 0.05),
  gp_m_neg2 = fit_info(y ~ s(x, z, bs = "gp", k = 20, m = c(-2, 0.3, 1)), sp = 0.05),
  gp_default = fit_info(y ~ s(x, z, bs = "gp", k = 15), sp = 0.05),
  gp_m1 = fit_info(y ~ s(x, z, bs = "gp", k = 20, m = c(1, 0.8)), sp = 0.05),
  gp_m5 = fit_info(y ~ s(x, z, bs = "gp", k = 20, m = c(5, 0.4)), sp = 0.05),
  gp_1d = fit_info(y ~ s(x, bs = "gp", k = 10, m = c(4, 0.3)), sp = 0.05),
  re = fit_info(y ~ s(g, bs = "re"), sp = 0.7),
  re_slope = fit_info(y ~ s(x, g, bs = "re"), sp = 0.7),
  re_inter = fit_info(y ~ s(fac, g, bs = "re"), sp = 0.7),
  by_factor = fit_info(y ~ fac + s(x, bs = "cr", by = fac, k = 6), sp = c(0.1, 1, 10)),
  by_numeric = fit_info(y ~ s(x, bs = "cr", by = w, k = 8), sp = 0.3),
  cr_plus_gp = fit_info(y ~ s(x, bs = "cr", k = 8) + s(x, z, bs = "gp", k = 12, m = c(3, 0.5)),
                        sp = c(0.2, 0.02))
)
raws <- list(
  cr = raw(s(x, bs = "cr", k = 10)),
  ps = raw(s(x, bs = "ps", k = 10)),
  gp_m3 = raw(s(x, z, bs = "gp", k = 20, m = c(3, 0.5))),
  tp = raw(s(x, bs = "tp", k = 10))
)
pm <- smoothCon(s(x, bs = "cr", k = 10), data = d, absorb.cons = FALSE)[[1]]
raws$cr$predict_X <- unname(PredictMat(pm, nd))
pm <- smoothCon(s(x, bs = "ps", k = 10), data = d, absorb.cons = FALSE)[[1]]
raws$ps$predict_X <- unname(PredictMat(pm, nd))

res <- list(
  R_version = R.version.string, mgcv_version = as.character(packageVersion("mgcv")),
  data = "smooth_data.csv", newdata = "smooth_newdata.csv",
  note = "gam(..., sp = fixed): fitted values and predictions; raw = smoothCon(absorb.cons = FALSE, scale.penalty = FALSE)",
  fits = fits, raw = raws)
tmp <- file.path(here, "smooth_reference.json.tmp")
writeLines(toJSON(res, digits = I(15), auto_unbox = TRUE, pretty = FALSE, null = "null"), tmp)
file.rename(tmp, file.path(here, "smooth_reference.json"))
cat("written\n")
