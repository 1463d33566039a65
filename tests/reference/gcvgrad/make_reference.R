# Poisson space-time tensor product fitted by UBRE (mgcv's default for a known scale):
# the reference for tests/test_gcv_gradient.py. Writes te_pois.csv and reference.json here.
library(mgcv); library(jsonlite)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
set.seed(20261202)
n <- 1500
d <- data.frame(x = runif(n), y = runif(n), t = runif(n))
d$c <- rpois(n, exp(0.5 + sin(2 * pi * d$x) * cos(pi * d$y) + 0.8 * sin(2 * pi * d$t) * d$x))
write.csv(d, file.path(here, "te_pois.csv"), row.names = FALSE)
m <- gam(c ~ te(x, y, t, k = 4), data = d, family = poisson)
out <- list(te_pois_ubre = list(score = m$gcv.ubre, sp = unname(m$sp), edf = sum(m$edf),
                                deviance = deviance(m), coef = unname(coef(m)),
                                converged = m$outer.info$conv,
                                mgcv = as.character(packageVersion("mgcv"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
           file.path(here, "reference.json"))
