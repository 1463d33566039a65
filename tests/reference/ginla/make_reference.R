## Reference marginals from mgcv's ginla() (Wood 2020, Biometrika 107, "Simplified
## integrated nested Laplace approximation") for spatialgamm's sg.ginla tests.
## Run from this directory: Rscript make_reference.R  (writes the CSVs and ginla.json)
suppressPackageStartupMessages({library(mgcv); library(MASS); library(jsonlite)})

## (a) Poisson gam on gamSim example 1 data, fixed seed
set.seed(15)
d <- gamSim(1, n = 300, dist = "poisson", scale = 0.25, verbose = FALSE)
d$fac <- factor(sample(letters[1:8], nrow(d), replace = TRUE))
d$y <- d$y + rpois(nrow(d), exp(0.3 * (as.integer(d$fac) - 4.5) / 4))
d$yg <- rgamma(nrow(d), shape = 4, rate = 4 / exp(d$f / 3))  # Gamma, log link
write.csv(d[, c("y", "yg", "x0", "x1", "x2", "x3", "fac")], "gamsim_pois.csv", row.names = FALSE)

## (b) binomial gam on a public dataset shipped with R (MASS::Pima.tr)
pima <- Pima.tr
pima$diabetic <- as.integer(pima$type == "Yes")
write.csv(pima[, c("diabetic", "glu", "bmi", "age", "ped")], "pima_tr.csv", row.names = FALSE)

## (e) Gaussian gam (closed form check is done in Python; this is mgcv's own run)
set.seed(3)
g <- gamSim(1, n = 200, dist = "normal", scale = 2, verbose = FALSE)
write.csv(g[, c("y", "x0", "x1", "x2", "x3")], "gamsim_gauss.csv", row.names = FALSE)

run <- function(label, formula, data, family, A = NULL, int = 0, approx = 0, nk = 16, nb = 100) {
  G <- gam(formula, data = data, family = family, method = "REML", fit = FALSE)
  b <- gam(formula, data = data, family = family, method = "REML")
  hess <- b$outer.info$hess
  edge <- !is.null(attr(hess, "hess1")) && max(abs(attr(hess, "hess1") - hess)) > 0
  t0 <- proc.time()[["elapsed"]]
  set.seed(1)
  r <- ginla(G, A = A, nk = nk, nb = nb, int = int, approx = approx)
  el <- proc.time()[["elapsed"]] - t0
  nm <- names(coef(b))
  which <- if (is.null(A)) nm else if (is.matrix(A)) paste0("A", seq_len(nrow(A))) else nm[A]
  cat(label, ": ", length(which), " marginals in ", el, " s\n", sep = "")
  list(label = label, formula = deparse(formula), family = family$family,
       link = family$link, int = int, approx = approx, nk = nk, nb = nb,
       which = which, coef = unname(coef(b)), coef_names = nm, sp = unname(b$sp),
       sig2 = b$sig2, Vp_diag = unname(diag(b$Vp)), edge_corrected = edge,
       beta = unname(r$beta), density = unname(r$density),
       reml = if (is.null(r$reml)) NULL else r$reml, seconds = el)
}

## linear functionals: the linear predictor at two new points (rows of the lpmatrix)
bA <- gam(y ~ s(x0) + s(x2), data = d, family = poisson(), method = "REML")
nd <- data.frame(x0 = c(0.25, 0.8), x2 = c(0.1, 0.5))
Alp <- predict(bA, nd, type = "lpmatrix")
runA <- function() {
  r <- run("pois_A", y ~ s(x0) + s(x2), d, poisson(), A = Alp)
  r$which <- c("eta1", "eta2"); r$A <- unname(Alp); r$newdata <- nd
  r$eta <- unname(drop(Alp %*% coef(bA)))
  r
}

out <- list(
  pois = run("pois", y ~ s(x0) + s(x1) + s(x2) + x3, d, poisson()),
  pima = run("pima", diabetic ~ s(age) + s(bmi) + glu + ped, pima, binomial()),
  te_re = run("te_re", y ~ te(x1, x2, k = c(4, 4)) + s(fac, bs = "re"), d, poisson()),
  pois_approx1 = run("pois_approx1", y ~ s(x0) + s(x2), d, poisson(), A = c(1, 2, 5, 12),
                     approx = 1),
  pois_approx2 = run("pois_approx2", y ~ s(x0) + s(x2), d, poisson(), A = c(1, 2, 5, 12),
                     approx = 2),
  ## int = 1 with all coefficients: with an index subset A, mgcv 1.8-41 tabulates row k of
  ## the mixture on the range of coefficient k rather than of A[k] (zero for those never
  ## computed), so its beta rows are only right for A = NULL
  pois_int = run("pois_int", y ~ s(x0) + s(x2), d, poisson(), int = 1),
  pois_A = runA(),
  gamma_log = run("gamma_log", yg ~ s(x0) + s(x2), d, Gamma(link = "log"), A = c(1, 2, 8, 15)),
  nb = run("nb", y ~ s(x0) + s(x2), d, negbin(3), A = c(1, 2, 8, 15)),
  gauss = run("gauss", y ~ s(x0) + s(x1) + s(x2), g, gaussian(), A = c(1, 2, 11, 20)),
  gauss_int = run("gauss_int", y ~ s(x0) + s(x2), g, gaussian(), int = 1)
)
out$R_version <- R.version.string
out$mgcv_version <- as.character(packageVersion("mgcv"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null"), "ginla.json")
