# A space-time Poisson field with an exposure offset, fitted by UBRE (mgcv's default for a
# known scale): the reference for tests/test_mgcv_spacetime.py and the design of
# examples/spacetime_te.py. Simulated with a known truth: a hotspot that moves east over ten
# years on a rising trend, counts ~ Poisson(pop * rate). Writes spacetime.csv,
# spacetime_new.csv (grid points at two times) and spacetime_reference.json here.
# R 4.2.2, mgcv 1.8-41. Run: Rscript make_spacetime_reference.R
suppressMessages({library(mgcv); library(jsonlite)})
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)[1])))
set.seed(20261202)
n <- 3000
truth <- function(x, y, t) -7 + 1.5 * exp(-((x - 20 - 5 * t)^2 + (y - 40)^2) / (2 * 12^2)) + 0.06 * t
d <- data.frame(x = round(runif(n, 0, 100), 3), y = round(runif(n, 0, 80), 3),
                t = sample(0:9, n, replace = TRUE))
d$pop <- round(exp(rnorm(n, log(5000), 0.8)))
d$cases <- rpois(n, d$pop * exp(truth(d$x, d$y, d$t)))
write.csv(d, file.path(here, "spacetime.csv"), row.names = FALSE)
g <- expand.grid(x = seq(5, 95, by = 10), y = seq(5, 75, by = 10), t = c(2, 7))
g$pop <- 1
write.csv(g, file.path(here, "spacetime_new.csv"), row.names = FALSE)
f <- cases ~ te(x, y, t, d = c(2, 1), bs = c("tp", "cr"), k = c(25, 5)) + offset(log(pop))
t0 <- proc.time()[["elapsed"]]
m <- gam(f, data = d, family = poisson)
secs <- proc.time()[["elapsed"]] - t0
p <- predict(m, g, se.fit = TRUE)  # link scale; log(pop) = 0: per person
pr <- predict(m, g, type = "response")
out <- list(method = m$method, score = m$gcv.ubre, sp = unname(m$sp), edf = sum(m$edf),
            edf_term = sum(m$edf[-1]), deviance = deviance(m), coef = unname(coef(m)),
            fit = unname(p$fit), se = unname(p$se.fit), response = unname(pr),
            truth = truth(g$x, g$y, g$t), converged = m$outer.info$conv, seconds = secs,
            mgcv = as.character(packageVersion("mgcv")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE),
           file.path(here, "spacetime_reference.json"))
