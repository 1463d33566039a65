# Reference for aliased fixed effects (issue 18): which column lme4 / lm drop and the fit
# that remains. Run: Rscript aliasing.R  (writes aliasing.json)
suppressMessages({library(lme4); library(jsonlite)})
d <- sleepstudy
d$z2 <- 2 * d$Days
d$c <- 5
d$Days3 <- d$Days - 3           # aliased with (Intercept) + Days
cb <- cbpp
cb$p2 <- as.numeric(cb$period == "2")
out <- list()
one <- function(name, m) {
  msgs <- character(0)
  fit <- withCallingHandlers(m(), message = function(e) {
    msgs <<- c(msgs, conditionMessage(e)); invokeRestart("muffleMessage")})
  fx <- fixef(fit)
  dropped <- attr(getME(fit, "X"), "col.dropped")
  out[[name]] <<- list(fixef = as.list(fx), names = names(fx),
                       dropped = if (is.null(dropped)) character(0) else names(dropped),
                       message = msgs, loglik = as.numeric(logLik(fit)),
                       se = as.list(sqrt(diag(as.matrix(vcov(fit))))))
}
one("z2", function() lmer(Reaction ~ Days + z2 + (1 | Subject), d))
one("z2_first", function() lmer(Reaction ~ z2 + Days + (1 | Subject), d))
one("const", function() lmer(Reaction ~ c + Days + (1 | Subject), d))
one("shift", function() lmer(Reaction ~ Days + Days3 + (1 | Subject), d))
one("glmer_p2", function() glmer(cbind(incidence, size - incidence) ~ period + p2 + (1 | herd),
                                 cb, family = binomial))
l <- lm(Reaction ~ Days + z2 + c, d)
out[["lm"]] <- list(coef = as.list(coef(l)[!is.na(coef(l))]),
                    dropped = names(coef(l))[is.na(coef(l))])
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "aliasing.json")
