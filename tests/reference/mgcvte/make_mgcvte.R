# Reference fits for tensor smooths (te, ti), fs, shrinkage and select (issue 14, items 1-2)
# mgcv 1.8-41. Data are written to CSV so that both sides fit identical numbers.
# Run from this directory:  Rscript make_mgcvte.R
suppressMessages({library(mgcv); library(jsonlite); library(lme4)})
set.seed(14)

out <- list()
run <- function(name, formula, data, newdata, method = "REML", family = gaussian(),
                factors = character(0), file = name, ...) {
  # cases on the same data share one file (file = "sim" for the gamSim-based data)
  write.csv(data, paste0(file, "_data.csv"), row.names = FALSE)
  write.csv(newdata, paste0(file, "_new.csv"), row.names = FALSE)
  # fit the numbers as written (15 digits): REML scores of models with an sp on a plateau
  # move by 0.3 under 1e-14 changes of the data in mgcv itself
  data <- read.csv(paste0(file, "_data.csv"))
  newdata <- read.csv(paste0(file, "_new.csv"))
  for (v in factors) {
    data[[v]] <- factor(data[[v]])
    newdata[[v]] <- factor(newdata[[v]], levels = levels(data[[v]]))
  }
  m <- gam(formula, data = data, method = method, family = family, ...)
  pr <- predict(m, newdata, se.fit = TRUE)
  edf <- sapply(m$smooth, function(s) sum(m$edf[s$first.para:s$last.para]))
  names(edf) <- sapply(m$smooth, function(s) s$label)
  out[[name]] <<- list(file = file, formula = paste(deparse(formula), collapse = " "), method = method,
                       family = family$family, link = family$link,
                       edf = as.list(edf), sp = as.list(m$sp), score = unname(m$gcv.ubre),
                       scale = m$sig2, coef = as.list(coef(m)),
                       fitted = signif(unname(m$fitted.values), 10),
                       pred = unname(as.numeric(pr$fit)), pred_se = unname(as.numeric(pr$se.fit)),
                       ref_df = as.list(summary(m)$s.table[, "Ref.df"]),
                       stat = as.list(summary(m)$s.table[, 3]))
  invisible(m)
}

# --- simulated data: gamSim(1) covariates, a 2-D and a 3-D truth -----------------------
n <- 400
d1 <- gamSim(1, n = n, dist = "normal", scale = 2, verbose = FALSE)
d1 <- d1[, c("y", "x0", "x1", "x2", "x3")]
d1$t <- runif(n)
d1$y2 <- with(d1, sin(2 * pi * x1) * cos(pi * x2) + 2 * t * x1 + rnorm(n, 0, 0.3))
d1$y3 <- with(d1, exp(-((x1 - .5)^2 + (x2 - .4)^2) / 0.1) * (1 + t) + rnorm(n, 0, 0.2))
d1$cnt <- rpois(n, exp(1 + sin(2 * pi * d1$x1) * d1$x2))
nd1 <- data.frame(x0 = runif(30), x1 = runif(30), x2 = runif(30), x3 = runif(30), t = runif(30))

run("te_xz", y2 ~ te(x1, x2), d1, nd1, file = "sim")
run("te_xz_gcv", y2 ~ te(x1, x2, k = c(6, 5)), d1, nd1, method = "GCV.Cp", file = "sim")
run("te_ps_tp", y2 ~ te(x1, x2, bs = c("ps", "tp"), k = c(7, 6)), d1, nd1, file = "sim")
run("te_xzt", y3 ~ te(x1, x2, t, d = c(2, 1), bs = c("tp", "cr"), k = c(20, 5)), d1, nd1,
    file = "sim")
run("te_gp", y3 ~ te(x1, x2, t, d = c(2, 1), bs = c("gp", "cr"), k = c(25, 5)), d1, nd1,
    file = "sim")
run("ti_main", y2 ~ ti(x1) + ti(x2) + ti(x1, x2), d1, nd1, file = "sim")
run("te_pois", cnt ~ te(x1, x2, k = c(5, 5)), d1, nd1, family = poisson(), file = "sim")
run("te_pois_ubre", cnt ~ te(x1, x2, k = c(5, 5)), d1, nd1, method = "GCV.Cp",
    family = poisson(), file = "sim")

# shrinkage and selection on gamSim(1)
# cs: mgcv shrinks the two null-space directions by 0.1 and 0.01 in the order LAPACK's
# eigen() returns them, which rounding decides (see spatialgamm/terms/smooths/shrinkage.py);
# cs is put on x1 and x2, where this R returns the order the package uses (on x0, x3 it does
# not: there the fits differ slightly, as two R builds could)
run("ts_cs", y ~ s(x0, bs = "ts") + s(x1, bs = "cs") + s(x2, bs = "cs") + s(x3, bs = "ts"),
    d1, nd1, file = "sim")
run("select", y ~ s(x0) + s(x1) + s(x2, bs = "cr") + s(x3), d1, nd1, select = TRUE,
    file = "sim")
run("select_gcv", y ~ s(x0) + s(x1) + s(x2, bs = "cr") + s(x3), d1, nd1, method = "GCV.Cp",
    select = TRUE, file = "sim")
run("gamma_gcv", y ~ s(x0) + s(x1) + s(x2) + s(x3), d1, nd1, method = "GCV.Cp", gamma = 1.4,
    file = "sim")

# --- public data -----------------------------------------------------------------------
aq <- na.omit(airquality[, c("Ozone", "Temp", "Wind", "Solar.R")])
aq$lOzone <- log(aq$Ozone)
naq <- data.frame(Temp = c(60, 70, 80, 90, 75), Wind = c(5, 8, 10, 12, 15))
run("airquality_te", lOzone ~ te(Temp, Wind, k = c(5, 5)), aq, naq)
run("airquality_ti", lOzone ~ ti(Temp) + ti(Wind) + ti(Temp, Wind, k = c(4, 4)), aq, naq,
    file = "airquality_te")

ss <- as.data.frame(sleepstudy)
nss <- data.frame(Days = c(0.5, 3.2, 7.7, 9), Subject = factor(c("308", "309", "350", "372"),
                                                              levels = levels(ss$Subject)))
# fs: a base with a 1-D null space (m = 1) is free of the eigen-solver's arbitrary basis of
# a larger null space (see spatialgamm/terms/smooths/fs.py); the default (m = 2) as well
run("fs_sleep", Reaction ~ s(Days, Subject, bs = "fs", k = 5, m = 1), ss, nss,
    factors = "Subject")
run("fs_sleep_m2", Reaction ~ s(Days, Subject, bs = "fs", k = 5), ss, nss, factors = "Subject",
    file = "fs_sleep")
gs <- gamSim(1, n = 400, dist = "normal", scale = 1, verbose = FALSE)
gs$fac <- factor(sample(letters[1:6], 400, replace = TRUE))
gs$y <- gs$y + c(a = -1, b = 0, c = 1, d = 0.5, e = -0.5, f = 0)[as.character(gs$fac)] * gs$x1
gs <- gs[, c("y", "x0", "x1", "x2", "fac")]
ngs <- data.frame(x0 = runif(8), x1 = runif(8), x2 = runif(8),
                  fac = factor(letters[1:8][c(1:6, 1, 2)], levels = letters[1:6]))
run("fs_cr", y ~ s(x0) + s(x2) + s(x1, fac, bs = "fs", xt = "cr", k = 6, m = 1), gs, ngs,
    factors = "fac", method = "GCV.Cp")

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "mgcvte.json")
