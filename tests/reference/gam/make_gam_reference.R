# mgcv references for tests/test_gam.py: a Gaussian additive mixed model on simulated data
# (s() smooth plus a random intercept), fitted by REML and GCV. Run: Rscript make_gam_reference.R
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(42)
n <- 400; x <- runif(n); g <- factor(sample(1:20, n, TRUE)); b <- rnorm(20, sd = 0.5)
y <- sin(2 * pi * x) + b[as.integer(g)] + rnorm(n, sd = 0.3)
d <- data.frame(y = y, x = x, g = g)
write.csv(d, file.path(here, "gamm_data.csv"), row.names = FALSE)
m1 <- gam(y ~ s(x, bs = "cr", k = 10) + s(g, bs = "re"), data = d, method = "REML")
m2 <- gam(y ~ s(x, bs = "cr", k = 10), data = d)
nd <- data.frame(x = c(0.1, 0.5, 0.9), g = factor(c("1", "2", "3"), levels = levels(g)))
p1 <- predict(m1, nd, se.fit = TRUE)
info <- function(m) list(coef1 = unname(coef(m)[1]), edf = unname(summary(m)$edf), score = m$gcv.ubre,
                         scale = m$scale, sp = unname(m$sp), fitted_head = head(fitted(m), 5),
                         r2_adj = summary(m)$r.sq, dev_expl = summary(m)$dev.expl)
out <- list(reml = c(info(m1), list(pred = as.vector(p1$fit), pred_se = as.vector(p1$se.fit),
                                    vcomp = unname(gam.vcomp(m1)[, 1]))),
            gcv = info(m2))
writeLines(toJSON(out, digits = I(10), auto_unbox = TRUE, pretty = TRUE), file.path(here, "gamm_reference.json"))
