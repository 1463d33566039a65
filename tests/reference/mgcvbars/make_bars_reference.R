# lme4 bars written inside a gam formula are mgcv's s(fac, bs = "re"): Vc, edf2 and the
# logLik / AIC that use them, from the equivalent mgcv model (the re smooths written last, so
# the coefficient order is the package's: parametric, smooths, then bars). Data the package
# was not built against: nlme's Milk (random cow intercepts), lme4's sleepstudy (random
# intercept and slope on the same factor, uncorrelated), a simulated Poisson response with
# an exposure offset and a random site effect, and a Gaussian random slope.
# Run: Rscript make_bars_reference.R (writes bars_reference.json and the data CSVs).
# R 4.2.2, mgcv 1.8-41, lme4 1.1-31.
suppressMessages({library(mgcv); library(nlme); library(lme4); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))

mk <- as.data.frame(nlme::Milk)
mk <- data.frame(protein = mk$protein, Time = mk$Time, Cow = paste0("c", as.character(mk$Cow)),
                 Diet = as.character(mk$Diet))
write.csv(mk, file.path(here, "milk.csv"), row.names = FALSE)
mk <- read.csv(file.path(here, "milk.csv"), stringsAsFactors = TRUE)
ss <- as.data.frame(lme4::sleepstudy)
ss$Subject <- paste0("s", as.character(ss$Subject))
write.csv(ss, file.path(here, "sleepstudy.csv"), row.names = FALSE)
ss <- read.csv(file.path(here, "sleepstudy.csv"), stringsAsFactors = TRUE)
set.seed(1501)
n <- 400
po <- data.frame(x = runif(n), site = sprintf("s%02d", sample(1:25, n, TRUE)),
                 expo = exp(runif(n, -0.5, 1)))
re <- rnorm(25, 0, 0.4); names(re) <- sprintf("s%02d", 1:25)
po$count <- rpois(n, po$expo * exp(0.2 + sin(2 * pi * po$x) + re[po$site]))
write.csv(po, file.path(here, "pois_site.csv"), row.names = FALSE)
po <- read.csv(file.path(here, "pois_site.csv"), stringsAsFactors = TRUE)
set.seed(1502)
gs <- data.frame(x0 = runif(n), z = rnorm(n), g = sprintf("g%02d", sample(1:20, n, TRUE)))
sl <- rnorm(20, 0, 0.8); names(sl) <- sprintf("g%02d", 1:20)
gs$y <- sin(3 * gs$x0) + (0.5 + sl[gs$g]) * gs$z + rnorm(n, 0, 0.5)
write.csv(gs, file.path(here, "slope.csv"), row.names = FALSE)
gs <- read.csv(file.path(here, "slope.csv"), stringsAsFactors = TRUE)

one <- function(m) {
  ll <- logLik(m)
  list(loglik = as.numeric(ll), df = attr(ll, "df"), aic = AIC(m), edf = sum(m$edf),
       edf2 = unname(m$edf2), sp = unname(m$sp), Vc_diag = unname(diag(m$Vc)),
       Vp_diag = unname(diag(m$Vp)), coef = unname(coef(m)), scale = m$sig2,
       score = unname(m$gcv.ubre))
}
out <- list(
  milk_REML = one(gam(protein ~ Diet + s(Time) + s(Cow, bs = "re"), data = mk, method = "REML")),
  milk_ML = one(gam(protein ~ Diet + s(Time) + s(Cow, bs = "re"), data = mk, method = "ML")),
  sleep_REML = one(gam(Reaction ~ Days + s(Subject, bs = "re") + s(Subject, Days, bs = "re"),
                       data = ss, method = "REML")),
  pois_REML = one(gam(count ~ s(x) + s(site, bs = "re") + offset(log(expo)), data = po,
                      family = poisson, method = "REML")),
  slope_REML = one(gam(y ~ z + s(x0) + s(g, z, bs = "re"), data = gs, method = "REML"))
)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "bars_reference.json"))
