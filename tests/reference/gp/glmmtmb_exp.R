## glmmTMB fits with the exponential spatial covariance exp(pos + 0 | group), the reference
## for spatialgamm's gp(..., kernel = "exponential") (tests/test_gp_glmmtmb.py).
## Run from the repository root:  Rscript tests/reference/gp/glmmtmb_exp.R
## Data: tests/reference/gp/*.csv, written by make_gp_data.py.
## glmmTMB's exp(): Sigma_ij = sd^2 exp(-d_ij / range); theta = (log sd, log range).
suppressMessages({library(glmmTMB); library(jsonlite)})
dir <- "tests/reference/gp"
rd <- function(f) {
  d <- read.csv(file.path(dir, f))
  d$pos <- numFactor(d$sx, d$sy)
  d$group <- factor(1)
  d
}
summ <- function(m, elapsed) {
  th <- getME(m, "theta")
  out <- list(
    fixef = as.list(fixef(m)$cond),
    se = as.list(sqrt(diag(vcov(m)$cond))),
    logLik = as.numeric(logLik(m)),
    df = attr(logLik(m), "df"),
    sd = exp(th[1]), range = exp(th[2]),
    theta = unname(th),
    sigma = if (family(m)$family == "gaussian") sigma(m) else NULL,
    pdHess = m$sdr$pdHess,
    convergence = m$fit$convergence,
    seconds = unname(elapsed)
  )
  if (length(th) > 2) out$nugget_sd <- exp(th[3])
  # conditional modes of the spatial effects, in the data's site order (first 5 sites)
  re <- ranef(m)$cond$group
  out$ranef_first5 <- unname(unlist(re[1, 1:5]))
  out$ranef_names_first5 <- colnames(re)[1:5]
  out
}
res <- list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")))

d1 <- rd("gp_pois.csv")
t <- system.time(m1 <- glmmTMB(y ~ x + exp(pos + 0 | group), data = d1, family = poisson))
res$pois <- summ(m1, t["elapsed"])

d2 <- rd("gp_pois_nugget.csv")
d2$site <- factor(d2$site)
t <- system.time(m2 <- glmmTMB(y ~ 1 + exp(pos + 0 | group) + (1 | site) + offset(log(time)),
                               data = d2, family = poisson))
res$pois_nugget <- summ(m2, t["elapsed"])
res$pois_nugget$nugget_sd <- sqrt(VarCorr(m2)$cond$site[1, 1])

d3 <- rd("gp_gauss.csv")
t <- system.time(m3 <- glmmTMB(z ~ x + exp(pos + 0 | group), data = d3, REML = FALSE))
res$gauss_ml <- summ(m3, t["elapsed"])
nd <- data.frame(sx = c(1, 5.5, 9), sy = c(1, 4.5, 2), x = 0)
nd$pos <- numFactor(nd$sx, nd$sy)
nd$group <- factor(1)
p <- predict(m3, newdata = nd, allow.new.levels = TRUE)
res$gauss_ml$newdata <- nd[, c("sx", "sy", "x")]
res$gauss_ml$predict_new <- unname(p)
t <- system.time(m4 <- glmmTMB(z ~ x + exp(pos + 0 | group), data = d3, REML = TRUE))
res$gauss_reml <- summ(m4, t["elapsed"])

## Rongelap (Diggle, Tawn & Moyeed 1998): exponential field plus a site-level nugget,
## offset log(time); the bundled spatialgamm/data/rongelap.csv
d5 <- read.csv("spatialgamm/data/rongelap.csv")
## coordinates in km: in metres glmmTMB's start (range 1) is far too short and it stalls
d5$pos <- numFactor(d5$cX / 1000, d5$cY / 1000)
d5$group <- factor(1)
d5$site <- factor(seq_len(nrow(d5)))
t <- system.time(m5 <- glmmTMB(counts ~ 1 + exp(pos + 0 | group) + (1 | site) +
                                 offset(log(time)), data = d5, family = poisson))
res$rongelap <- summ(m5, t["elapsed"])
res$rongelap$nugget_sd <- sqrt(VarCorr(m5)$cond$site[1, 1])
res$rongelap$range_units <- "km"

writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(dir, "glmmtmb_exp.json"))
cat("wrote", file.path(dir, "glmmtmb_exp.json"), "\n")
