# mgcv's bs="gp" bases for the five Rongelap fits of tests/reference/make_reference.R, for
# tests/test_gp_basis_mgcv.py: does our gp basis (eigen = "mgcv", our Lanczos) span mgcv's?
# Run: Rscript tests/reference/smooths/make_rongelap_basis.R   (R 4.2.2, mgcv 1.8-41)
# Writes beside this script:
#   rongelap_basis.json           per fit: k, m, method, which basis file, gp.defn, S.scale,
#                                 eigenvalues of the (constrained, scaled) penalty, the
#                                 slanczos eigenvalues and iteration count, mgcv's knot order
#   rongelap_basis_<basis>.csv.gz mgcv's model.matrix(fit) without the intercept: the smooth's
#                                 157 x (k - 1) constrained basis (9 significant digits)
#   rongelap_UZ_default.csv.gz    f$smooth[[1]]$UZ of the default basis: the 157 x 47 Ritz
#                                 vectors from slanczos(E, 47, -1) (9 significant digits)
# and, in the json, three small checks of the details that fix mgcv's result:
#   as_character      R's as.character of doubles (given as C99 hex, "%a"): the text by which
#                     uniquecombs orders knots
#   uniquecombs       a 12-row matrix with duplicates and awkward numbers, and the rows of
#                     uniquecombs(x, TRUE) (mgcv's knot order), both as "%a" hex text
#   identity_lanczos  slanczos(diag(n), 2) for n = 3..60: iterations, and whether the result
#                     is NaN (the Lanczos process runs on rounding noise and sometimes divides
#                     by an exact zero; which n do depends on every rounding of the process)
# The UBRE and REML default fits share one basis (the method does not enter the basis).
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
rg <- read.csv(file.path(here, "..", "..", "..", "spatialgamm", "data", "rongelap.csv"))
specs <- list(
  ubre_default = list(k = 50, m = NULL, method = "GCV.Cp", basis = "default"),
  reml_default = list(k = 50, m = NULL, method = "REML", basis = "default"),
  ubre_spherical_range_half = list(k = 50, m = c(1, .5), method = "GCV.Cp", basis = "spherical_half"),
  reml_matern25_range1000 = list(k = 50, m = c(4, 1000), method = "REML", basis = "matern25_1000"),
  reml_powexp_range2000 = list(k = 40, m = c(2, 2000, 1), method = "REML", basis = "powexp_2000"))
wcsv <- function(M, f) {  # gzipped, 9 significant digits: small files, ample precision
  tmp <- file.path(here, paste0(".", f, ".tmp"))
  con <- gzfile(tmp, "w")
  writeLines(paste(colnames(M), collapse = ","), con)
  writeLines(apply(M, 1, function(r) paste(sprintf("%.9g", r), collapse = ",")), con)
  close(con)
  invisible(file.rename(tmp, file.path(here, f)))
}
info <- list(dataset = "spatialgamm/data/rongelap.csv", mgcv = as.character(packageVersion("mgcv")))
written <- character(0)
for (nm in names(specs)) {
  s <- specs[[nm]]
  fm <- if (is.null(s$m)) counts ~ s(cX, cY, bs = "gp", k = s$k) else
    eval(bquote(counts ~ s(cX, cY, bs = "gp", k = .(s$k), m = .(s$m))))
  f <- gam(fm, offset = log(time), data = rg, family = poisson, method = s$method)
  sm <- f$smooth[[1]]
  X <- model.matrix(f)[, -1, drop = FALSE]
  colnames(X) <- paste0("b", seq_len(ncol(X)))
  # re-run the Lanczos on the knot correlation matrix: same vectors as the smooth holds?
  E <- mgcv:::gpE(sm$knt, sm$knt, sm$p.order)
  er <- slanczos(E, ncol(sm$UZ), -1)
  stopifnot(identical(er$vectors, sm$UZ))
  if (!(s$basis %in% written)) {
    wcsv(X, paste0("rongelap_basis_", s$basis, ".csv.gz"))
    written <- c(written, s$basis)
  }
  if (nm == "ubre_default") {
    U <- sm$UZ; colnames(U) <- paste0("u", seq_len(ncol(U)))
    wcsv(U, "rongelap_UZ_default.csv.gz")
    info$knots_default <- unname(sweep(sm$knt, 2, -sm$shift))  # knot coordinates, mgcv's order
  }
  info[[nm]] <- list(k = s$k, m = s$m, method = s$method, basis = s$basis,
                     gp_defn = sm$gp.defn, S_scale = sm$S.scale, ncoef = ncol(X),
                     penalty_eigenvalues = eigen(sm$S[[1]], symmetric = TRUE, only.values = TRUE)$values,
                     lanczos_values = er$values, lanczos_iter = er$iter, sp = unname(f$sp))
}
xs <- c(100000, 123456, 0.1 + 0.2, 1/3, 1e-5, 1e-4, 0.00012, 1e15, 1e16, 123456789012, -0.5,
        1234567.1, 2^60, 99999.99999999999, 1e-300, -6050, 1e5 + 0.1, 1200000, 1.5e-8, 0)
info$as_character <- list(hex = sprintf("%a", xs), text = as.character(xs))
ux <- cbind(c(1e5, -200, -1000, 3.25, 1e5, 0.1 + 0.2, -200, 12, 123456, 3.25, -1e-5, 0.3),
            c(7, 1, 2, -4, 7, 5, 1, 1e-12, 0, -4, 2, 5))
hexm <- function(M) matrix(sprintf("%a", M), nrow(M))  # exact doubles: 0.1 + 0.2 is not 0.3
info$uniquecombs <- list(x_hex = hexm(ux), unique_ordered_hex = hexm(unname(uniquecombs(ux, TRUE))))
info$identity_lanczos <- lapply(3:60, function(n) {
  r <- slanczos(diag(n), 2); list(n = n, iter = r$iter, nan = anyNA(r$vectors)) })
tmp <- file.path(here, ".rongelap_basis.json.tmp")
writeLines(toJSON(info, digits = I(15), auto_unbox = TRUE, pretty = TRUE), tmp)
invisible(file.rename(tmp, file.path(here, "rongelap_basis.json")))
cat("rongelap basis reference written\n")
