# References for tests/test_many_levels.py and tests/test_lme4_conventions.py (issue 11,
# items 2, 3 and 5): what lme4 1.1-31 / nlme report on simulated designs (fixed seeds, the data
# written to CSV here) and on public datasets of lme4, MASS and nlme.
# Run from anywhere: Rscript make_lme4conv.R (writes next to this file).
suppressMessages({library(lme4); library(nlme); library(MASS); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
P <- function(f) file.path(here, f)
out <- function(x, f) writeLines(toJSON(x, digits = I(10), auto_unbox = TRUE, pretty = TRUE,
                                        na = "null"), P(f))
csv <- function(d, f) write.csv(d, P(f), row.names = FALSE)
info <- function(m) {
  co <- coef(summary(m))
  list(fixef = as.list(fixef(m)), se = as.list(setNames(co[, "Std. Error"], rownames(co))),
       varcorr = as.data.frame(VarCorr(m)), loglik = as.numeric(logLik(m)),
       AIC = AIC(m), BIC = BIC(m), df_resid = df.residual(m),
       theta = I(unname(getME(m, "theta"))), ngrps = as.list(ngrps(m)),
       singular = isSingular(m))
}
# glmer fits with PIRLS run to 1e-10 (lme4's default tolPwrss = 1e-7 stops PIRLS early enough
# to move the Laplace log-likelihood by ~3e-3 on these designs)
tight <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-10, optCtrl = list(maxfun = 1e5))
errmsg <- function(expr) tryCatch({force(expr); NULL}, error = function(e) conditionMessage(e))

# ---- item 2: many levels, 1-4 columns per term (level codes beyond int8 / int16) ----------
sim <- function(G, m, nc, seed, family = "gaussian") {
  set.seed(seed)
  n <- G * m
  g <- rep(seq_len(G), each = m)
  X <- cbind(1, matrix(round(rnorm(n * (nc - 1)), 3), n, nc - 1))
  S <- matrix(0.15, nc, nc); diag(S) <- c(1, rep(0.4, nc - 1))
  B <- matrix(rnorm(G * nc), G, nc) %*% chol(S)
  eta <- 0.5 + if (nc > 1) X[, 2] * 0.3 else 0
  eta <- eta + rowSums(X * B[g, , drop = FALSE]) * (if (family == "gaussian") 1 else 0.5)
  y <- switch(family,
              gaussian = round(eta + rnorm(n, sd = 0.7), 3),
              poisson = rpois(n, exp(eta)),
              binomial = rbinom(n, 1, plogis(eta)))
  d <- data.frame(y = y, g = g)  # integer labels: a factor in R, a Categorical in Python
  if (nc > 1) for (j in 2:nc) d[[paste0("x", j - 1)]] <- X[, j]
  d
}
rhs <- function(nc) if (nc == 1) "1" else paste(paste0("x", seq_len(nc - 1)), collapse = " + ")
fix <- function(nc) if (nc == 1) "1" else "x1"
cases <- list(
  list(key = "lmer_G100_nc2", G = 100, m = 5, nc = 2, family = "gaussian", seed = 11),
  list(key = "lmer_G120_nc4", G = 120, m = 8, nc = 4, family = "gaussian", seed = 12),
  list(key = "lmer_G300_nc3", G = 300, m = 4, nc = 3, family = "gaussian", seed = 13),
  list(key = "lmer_G5000_nc1", G = 5000, m = 2, nc = 1, family = "gaussian", seed = 14),
  list(key = "lmer_G2_nc1", G = 2, m = 40, nc = 1, family = "gaussian", seed = 15),
  list(key = "glmer_pois_G90_nc2", G = 90, m = 6, nc = 2, family = "poisson", seed = 16),
  list(key = "glmer_binom_G200_nc2", G = 200, m = 6, nc = 2, family = "binomial", seed = 17),
  list(key = "glmer_pois_G150_nc3", G = 150, m = 6, nc = 3, family = "poisson", seed = 18),
  list(key = "glmer_pois_G5000_nc1", G = 5000, m = 2, nc = 1, family = "poisson", seed = 19))
res <- list()
for (cs in cases) {
  d <- sim(cs$G, cs$m, cs$nc, cs$seed, cs$family)
  csv(d, paste0(cs$key, ".csv"))
  f <- as.formula(sprintf("y ~ %s + (%s | g)", fix(cs$nc), rhs(cs$nc)))
  m <- if (cs$family == "gaussian") lmer(f, d) else
    glmer(f, d, family = cs$family, control = tight)
  res[[cs$key]] <- c(list(formula = deparse(f), family = cs$family, csv = paste0(cs$key, ".csv"),
                          REML = isREML(m)), info(m))
}
out(res, "many_levels.json")

# ---- item 3: observation-level random effects ---------------------------------------------
gt <- grouseticks
gt$cHEIGHT <- gt$HEIGHT - mean(gt$HEIGHT)
csv(gt[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")], "grouseticks.csv")
gm_gt <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION),
               family = poisson, data = gt, control = tight)
cb <- cbpp; cb$obs <- seq_len(nrow(cb))
gm_cb <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs),
               family = binomial, data = cb, control = tight)
# simulated overdispersed Poisson with one row per level of obs (known truth: sd 0.6)
set.seed(21)
n <- 300; x <- round(runif(n), 4); obs <- sprintf("o%03d", seq_len(n))
yp <- rpois(n, exp(0.5 + 0.8 * x + rnorm(n, sd = 0.6)))
dp <- data.frame(y = yp, x = x, obs = obs); csv(dp, "overdispersed_poisson.csv")
gm_sim <- glmer(y ~ x + (1 | obs), family = poisson, data = dp, control = tight)
# the same with adaptive quadrature (one scalar term): lme4's logLik and the full one by
# integrate() over each observation's effect at lme4's estimates
gm_agq <- glmer(y ~ x + (1 | obs), family = poisson, data = dp, nAGQ = 7, control = tight)
full_pois <- {b <- fixef(gm_agq); s <- getME(gm_agq, "theta")[[1]]; eta0 <- b[1] + b[2] * dp$x
  sum(vapply(seq_len(n), function(i) log(integrate(function(u) dpois(dp$y[i], exp(eta0[i] + s * u)) *
    dnorm(u), -Inf, Inf, rel.tol = 1e-12)$value), 0))}
agq_sim <- list(fixef = as.list(fixef(gm_agq)), theta = getME(gm_agq, "theta")[[1]],
                loglik_lme4 = as.numeric(logLik(gm_agq)), loglik_integrate = full_pois)
# Bernoulli responses with an observation-level effect: accepted by glmer (its variance is
# not identified from 0/1 data; lme4 puts it at zero here)
bac <- bacteria; bac$y <- as.integer(bac$y == "y"); bac$obs <- seq_len(nrow(bac))
gm_bern <- glmer(y ~ trt + week + (1 | ID) + (1 | obs), family = binomial, data = bac,
                 control = tight)
# Gaussian: lmer refuses, with lme4's messages
lm_obs <- errmsg(lmer(y ~ x + (1 | obs), dp))
lm_obs_ignore <- errmsg(lmer(y ~ x + (1 | obs), dp,
                             control = lmerControl(check.nobs.vs.nlev = "ignore")))
one_level <- errmsg(lmer(y ~ x + (1 | one), transform(dp, one = "a")))
# with both checks off lmer fits (non-identifiable: only the sum of the two variances counts)
lm_obs_off <- lmer(y ~ x + (1 | obs), dp, control = lmerControl(check.nobs.vs.nlev = "ignore",
                                                                 check.nobs.vs.nRE = "ignore"))
sum_var <- sum(as.data.frame(VarCorr(lm_obs_off))$vcov)
# glmer's own limit: more levels than observations
out(list(grouseticks = info(gm_gt), cbpp_obs = info(gm_cb), sim_poisson = info(gm_sim),
         sim_poisson_agq7 = agq_sim, bacteria_obs = info(gm_bern),
         lmer_obs_error = lm_obs, lmer_obs_ignore_nlev_error = lm_obs_ignore,
         lmer_one_level_error = one_level,
         lmer_obs_checks_off = list(fixef = as.list(fixef(lm_obs_off)), total_variance = sum_var,
                                    loglik = as.numeric(logLik(lm_obs_off)))),
    "obs_level.json")

# ---- item 5: conventions ---------------------------------------------------------------------
# nested names (Pastes), 3-level nesting names
csv(Pastes, "pastes.csv")
mp <- lmer(strength ~ 1 + (1 | batch / cask), Pastes)
set.seed(31)
dn <- data.frame(a = factor(rep(1:6, each = 40)), b = factor(rep(1:2, 120)),
                 c = factor(rep(1:4, 60)))
ea <- rnorm(6); eb <- rnorm(12, sd = 0.7); ec <- rnorm(48, sd = 0.5)
dn$y <- round(ea[as.integer(dn$a)] + eb[as.integer(interaction(dn$a, dn$b))] +
              ec[as.integer(interaction(dn$a, dn$b, dn$c))] + rnorm(240, sd = 0.6), 4)
csv(dn, "nested3.csv")
mn <- lmer(y ~ 1 + (1 | a / b / c), dn)
# correlation-table headers: MASS::bacteria (trt levels placebo, drug, drug+)
bac <- bacteria; bac$y <- as.integer(bac$y == "y")
csv(bac[, c("y", "ap", "hilo", "week", "ID", "trt")], "bacteria.csv")
gb <- glmer(y ~ trt + week + (1 | ID), family = binomial, data = bac, control = tight)
cbx <- cbpp
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = cbx)
sh <- function(m) { rn <- names(fixef(m)); list(names = rn, row = unname(abbreviate(rn, minlength = 11)),
                                                col = unname(abbreviate(rn, minlength = 6))) }
# glmer summary's deviance column: -2 logLik (the AICtab), against deviance() (conditional)
aictab <- function(m) as.list(summary(m)$AICtab)
# nAGQ: lme4's log-likelihood and the full one by numerical integration at lme4's estimates
full_ll <- function(m, d) {
  b <- fixef(m); s <- getME(m, "theta")[1]
  X <- model.matrix(~ period, d); eta0 <- drop(X %*% b)
  tot <- 0
  for (h in levels(d$herd)) {
    i <- which(d$herd == h)
    f <- function(u) sapply(u, function(uu) exp(sum(dbinom(d$incidence[i], d$size[i],
                               plogis(eta0[i] + s * uu), log = TRUE))) * dnorm(uu))
    tot <- tot + log(integrate(f, -Inf, Inf, rel.tol = 1e-12)$value)
  }
  tot
}
agq <- list()
for (k in c(1, 11, 25)) {
  m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial,
             data = cbx, nAGQ = k)
  agq[[paste0("nAGQ", k)]] <- list(fixef = as.list(fixef(m)), theta = getME(m, "theta")[[1]],
                                   loglik_lme4 = as.numeric(logLik(m)),
                                   loglik_integrate = full_ll(m, cbx), AIC = AIC(m))
}
y <- cbx$incidence; nn <- cbx$size
consts <- list(sum_lchoose = sum(lchoose(nn, y)),
               saturated_loglik = sum(dbinom(y, nn, y / nn, log = TRUE)))
# nlme's view: lme() summaries under REML and ML (adjustSigma), Orthodont (between-subject Sex)
ort <- as.data.frame(Orthodont); ort$Subject <- as.character(ort$Subject)
ort$Sex <- as.character(ort$Sex)
csv(ort, "orthodont.csv")
ss <- as.data.frame(sleepstudy)
nl <- function(l) { s <- summary(l); tt <- s$tTable
  list(tTable = cbind(term = rownames(tt), as.data.frame(tt)), AIC = AIC(l), BIC = BIC(l),
       loglik = as.numeric(logLik(l)), sigma = l$sigma) }
nlme_ref <- list(
  orthodont_REML = nl(lme(distance ~ age + Sex, random = ~ 1 | Subject, data = ort)),
  orthodont_ML = nl(lme(distance ~ age + Sex, random = ~ 1 | Subject, data = ort, method = "ML")),
  sleepstudy_ML = nl(lme(Reaction ~ Days, random = ~ Days | Subject, data = ss, method = "ML")),
  sleepstudy_REML = nl(lme(Reaction ~ Days, random = ~ Days | Subject, data = ss)))
lo <- lmer(distance ~ age + Sex + (1 | Subject), ort, REML = FALSE)
# zero residual degrees of freedom under REML: lme4 stops
dz <- data.frame(y = c(1.2, 2.3, 2.9, 4.8, 5.1, 7.0), f = as.character(1:6),
                 g = as.character(c(1, 1, 2, 2, 3, 3)))
zero_df <- errmsg(lmer(y ~ f + (1 | g), dz))
out(list(pastes = list(varcorr = as.data.frame(VarCorr(mp)), ranef_names = names(ranef(mp)),
                       ranef_rows = rownames(ranef(mp)[["cask:batch"]]),
                       ranef_values = ranef(mp)[["cask:batch"]][, 1],
                       reml_criterion = REMLcrit(mp)),
         nested3 = list(ranef_names = names(ranef(mn)), varcorr_grp = as.data.frame(VarCorr(mn))$grp,
                        ranef_rows_first = head(rownames(ranef(mn)[[1]]), 8),
                        reml_criterion = REMLcrit(mn)),
         bacteria = c(info(gb), list(headers = sh(gb), aictab = aictab(gb),
                                     deviance = deviance(gb))),
         cbpp = list(headers = sh(g1), aictab = aictab(g1), deviance = deviance(g1)),
         abbreviate6 = {z <- c("(Intercept)", "trtdrug", "trtdrug+", "period2", "Days",
                               "I(week > 2)TRUE", "x1", "cHEIGHT", "YEAR97", "SexFemale",
                               "age:SexFemale", "log(dose)");
                        list(names = z, abbr = unname(abbreviate(z, minlength = 6)),
                             abbr11 = unname(abbreviate(z, minlength = 11)))},
         abbreviate_collisions = {z <- c("abcdefg1", "abcdefh1", "x", "log(dose):trtdrug",
                                         "log(dose):trtdrug+", "period2", "perid2");
                                  list(names = z, abbr = unname(abbreviate(z, minlength = 6)))},
         agq = agq, binomial_constants = consts, nlme = nlme_ref,
         orthodont_lmer_ML = info(lo), zero_df_error = zero_df),
    "conventions.json")
