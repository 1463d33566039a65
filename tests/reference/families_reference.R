# Builds families_reference.json: what R's stats (and MASS) family objects return on small
# fixed inputs, for tests/test_families.py. Run: Rscript families_reference.R (writes next to itself).
# R 4.2.2, MASS 7.3.
suppressMessages({library(MASS); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
num <- function(x) as.numeric(x)
init_mu <- function(fam, y, wt) {
  e <- new.env(); e$y <- y; e$weights <- wt; e$nobs <- length(y); e$family <- fam
  e$etastart <- NULL; e$start <- NULL; e$mustart <- NULL
  eval(fam$initialize, e); e$mustart
}
# ---- links: linkinv and mu.eta on an eta grid that includes the clamping regions
eta <- c(-800, -40, -30.5, -10, -2, -0.3, 0.4, 1.5, 3, 10, 30.5, 40, 800)
eta_pos <- c(1e-3, 0.2, 1, 2.5, 7, 40)
links <- list()
for (nm in c("identity", "log", "logit", "probit", "cloglog")) {
  L <- make.link(nm)
  links[[nm]] <- list(eta = eta, linkinv = L$linkinv(eta), mu_eta = L$mu.eta(eta))
}
for (nm in c("inverse", "sqrt")) {
  L <- make.link(nm)
  links[[nm]] <- list(eta = eta_pos, linkinv = L$linkinv(eta_pos), mu_eta = L$mu.eta(eta_pos))
}
mu01 <- c(0.001, 0.1, 0.37, 0.5, 0.8, 0.999)
linkfun <- lapply(c(identity = "identity", log = "log", logit = "logit", probit = "probit",
                    cloglog = "cloglog", inverse = "inverse", sqrt = "sqrt"),
                  function(nm) make.link(nm)$linkfun(mu01))
# ---- data: counts, proportions with trials, positive continuous
yc <- c(0, 1, 3, 0, 7, 2, 12, 5)
muc <- c(0.4, 1.3, 2.2, 0.05, 6.1, 2.9, 9.5, 5.0)
wc <- c(1, 2, 1, 1, 0.5, 3, 1, 1)
trials <- c(1, 5, 10, 3, 20, 1, 8, 4)
succ <- c(0, 2, 10, 0, 13, 1, 3, 4)
yb <- succ / trials
mub <- c(0.2, 0.35, 0.9, 0.1, 0.6, 0.7, 0.45, 0.8)
yg <- c(0.5, 1.2, 3.3, 0.07, 2.2, 8.1, 1.0, 4.4)
mug <- c(0.8, 1.0, 2.5, 0.2, 2.0, 6.0, 1.5, 4.0)
wg <- c(1, 1, 2, 1, 0.5, 1, 3, 1)
fam_out <- function(fam, y, mu, wt) {
  dr <- fam$dev.resids(y, mu, wt); dev <- sum(dr)
  list(family = fam$family, link = fam$link, variance = num(fam$variance(mu)),
       dev_resids = num(dr), deviance = dev,
       aic = fam$aic(y, rep(1, length(y)), mu, wt, dev),
       mustart = num(init_mu(fam, y, wt)))
}
binom_aic <- function(mu) binomial()$aic(yb, trials, mu, trials, 0)
fams <- list(
  poisson = fam_out(poisson(), yc, muc, wc),
  gaussian = fam_out(gaussian(), yg, mug, wg),
  Gamma = fam_out(Gamma(), yg, mug, wg),
  negbin_2.5 = fam_out(negative.binomial(2.5), yc, muc, wc),
  negbin_0.7 = fam_out(negative.binomial(0.7), yc, muc, wc)
)
bfam <- binomial()
fams$binomial <- list(family = "binomial", link = "logit", variance = num(bfam$variance(mub)),
  dev_resids = num(bfam$dev.resids(yb, mub, trials)),
  deviance = sum(bfam$dev.resids(yb, mub, trials)),
  aic = bfam$aic(yb, trials, mub, trials, 0), mustart = num((trials * yb + 0.5) / (trials + 1)))
# ---- logLik of fitted glms (the number a user reads): mu = fitted values
x <- c(-1.2, -0.5, 0.1, 0.3, 0.8, 1.1, 1.9, 2.4)
g_gauss <- glm(yg ~ x, family = gaussian(), weights = wg)
g_gamma <- glm(yg ~ x, family = Gamma(link = "log"), weights = wg)
g_binom <- glm(cbind(succ, trials - succ) ~ x, family = binomial(link = "probit"))
g_pois <- glm(yc ~ x, family = poisson(), weights = wc)
g_nb <- glm(yc ~ x, family = negative.binomial(1.7))
fits <- lapply(list(gaussian = g_gauss, Gamma = g_gamma, binomial_probit = g_binom,
                    poisson = g_pois, negbin_1.7 = g_nb),
               function(g) list(fitted = num(fitted(g)), logLik = num(logLik(g)),
                                deviance = deviance(g), prior_weights = num(weights(g, "prior"))))
thetas <- c(2.123456, 123456.789, 12345678, 1e8, 1.5, 2, 0.12345, 3.00004)
nb_names <- sapply(thetas, function(t) negative.binomial(t)$family)
out <- list(R = R.version.string, MASS = as.character(packageVersion("MASS")),
            links = links, mu01 = mu01, linkfun = linkfun,
            data = list(yc = yc, muc = muc, wc = wc, trials = trials, succ = succ, yb = yb, mub = mub,
                        yg = yg, mug = mug, wg = wg, x = x),
            families = fams, fits = fits, nb_names = list(theta = thetas, name = nb_names))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "families_reference.json"))
