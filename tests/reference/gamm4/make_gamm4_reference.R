# Reference numbers for sg.gamm4 and for lme4 bars in a gam summary (issue 14, item 5).
# Run from this directory: Rscript make_gamm4_reference.R
suppressPackageStartupMessages({library(mgcv); library(gamm4); library(jsonlite)})
set.seed(14)
# gamSim(1)-style additive truth plus a random intercept over 20 groups (gamSim(6)'s idea)
n <- 400
x0 <- runif(n); x1 <- runif(n); x2 <- runif(n)
f0 <- 2 * sin(pi * x0); f1 <- exp(2 * x1); f2 <- 0.2 * x2^11 * (10 * (1 - x2))^6 +
  10 * (10 * x2)^3 * (1 - x2)^10
fac <- factor(sample(sprintf("g%02d", 1:20), n, replace = TRUE))
re <- rnorm(20, sd = 1.5)[as.integer(fac)]
y <- f0 + f1 + f2 + re + rnorm(n, sd = 2)
eta <- (f0 + f1 + f2) / 5 - 0.5 + re / 3
count <- rpois(n, exp(eta))
# a weak second factor, drawn after everything above: a random effect whose test p-value
# is not 0 (and that the other factor's test integrates out)
fac2 <- factor(sample(sprintf("h%02d", 1:10), n, replace = TRUE))
y2 <- y + rnorm(10, sd = 0.25)[as.integer(fac2)]
d <- data.frame(y = y, y2 = y2, count = count, x0 = x0, x1 = x1, x2 = x2, fac = fac,
                fac2 = fac2)
write.csv(d, "gamm4_data.csv", row.names = FALSE)
nd <- data.frame(x0 = c(0.1, 0.5, 0.9), x1 = c(0.2, 0.5, 0.8), x2 = c(0.3, 0.5, 0.7),
                 fac = factor(c("g01", "g05", "g10"), levels = levels(fac)))

vc_list <- function(mer) {
  vc <- as.data.frame(VarCorr(mer))
  setNames(as.list(vc$sdcor), vc$grp)
}
gamm4_view <- function(g) {
  s <- summary(g$gam)
  list(
    edf = as.list(setNames(s$edf, rownames(s$s.table))),
    p_coef = as.list(g$gam$coefficients[names(s$p.coeff)]),
    p_se = as.list(setNames(s$se[names(s$p.coeff)], names(s$p.coeff))),
    se_mer = as.list(sqrt(diag(as.matrix(vcov(g$mer))))),
    coef = unname(g$gam$coefficients),
    coef_names = names(g$gam$coefficients),
    fixef_mer = as.list(fixef(g$mer)),
    varcorr_sd = vc_list(g$mer),
    logLik_mer = as.numeric(logLik(g$mer)),
    sigma_mer = sigma(g$mer),
    sp = unname(g$gam$sp),
    scale = g$gam$scale,
    pred_link = unname(as.numeric(predict(g$gam, nd))),
    pred_se = unname(as.numeric(predict(g$gam, nd, se.fit = TRUE)$se.fit)),
    fitted_mer = unname(fitted(g$mer))[1:10]
  )
}
g_gauss <- gamm4(y ~ s(x0, bs = "cr") + s(x1, bs = "cr") + s(x2, bs = "cr"), data = d,
                 random = ~ (1 | fac))
g_pois <- gamm4(count ~ s(x0, bs = "cr") + s(x2, bs = "cr"), data = d, family = poisson,
                random = ~ (1 | fac))

# item 2: (1|fac) in a gam formula is mgcv's s(fac, bs = "re")
table_of <- function(m) {
  s <- summary(m)
  st <- s$s.table
  list(rows = rownames(st), edf = unname(st[, 1]), ref_df = unname(st[, 2]),
       stat = unname(st[, 3]), p = unname(st[, 4]))
}
m_re_g <- gam(y ~ s(x0, bs = "cr") + s(x2, bs = "cr") + s(fac, bs = "re"), data = d,
              method = "REML")
m_re_g2 <- gam(y2 ~ s(x0, bs = "cr") + s(fac, bs = "re") + s(fac2, bs = "re"), data = d,
               method = "REML")
m_re_p <- gam(count ~ s(x0, bs = "cr") + s(x2, bs = "cr") + s(fac, bs = "re"), data = d,
              family = poisson, method = "REML")

out <- list(newdata = nd[, 1:3], newdata_fac = as.character(nd$fac),
            gaussian = gamm4_view(g_gauss), poisson = gamm4_view(g_pois),
            re_table_gaussian = table_of(m_re_g), re_table_poisson = table_of(m_re_p),
            re_table_two = table_of(m_re_g2))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "gamm4_reference.json")
print(summary(g_gauss$mer)); print(summary(g_gauss$gam)); print(summary(g_pois$mer))
print(summary(m_re_g)$s.table); print(summary(m_re_p)$s.table)
print(summary(m_re_g2)$s.table)
