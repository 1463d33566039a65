# References for the block-diagonal path (all random terms on one grouping factor, more than
# 64 latent columns): lme4 fits of a simulated design with 150 groups of 6 rows.
# Run from this folder: Rscript block_diag.R  (writes block_diag.csv and block_diag.json)
suppressMessages({library(lme4); library(jsonlite)})
set.seed(20261202)
G <- 150; m <- 6  # over 126 levels: clear of the int8 codes of issue 11 item 2
g <- rep(seq_len(G), each = m)
x <- rep(seq(0, 2.5, by = 0.5), G) + round(rnorm(G * m, 0, 0.1), 4)
b0 <- rnorm(G, 0, 1); b1 <- rnorm(G, 0, 0.4)
y <- round(1 + 0.5 * x + b0[g] + b1[g] * x + rnorm(G * m, 0, 0.8), 4)
d <- data.frame(y = y, x = x, g = g)
write.csv(d, "block_diag.csv", row.names = FALSE)
d$g <- factor(d$g)
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10))
one <- function(m) list(theta = unname(getME(m, "theta")), beta = unname(fixef(m)),
                        se = unname(sqrt(diag(as.matrix(vcov(m))))),
                        loglik = as.numeric(logLik(m)), sigma = sigma(m))
out <- list(
  two_terms_reml = one(lmer(y ~ x + (1 | g) + (0 + x | g), d, control = ctl)),
  two_terms_ml = one(lmer(y ~ x + (1 | g) + (0 + x | g), d, REML = FALSE, control = ctl)),
  correlated_reml = one(lmer(y ~ x + (x | g), d, control = ctl)),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "block_diag.json")
