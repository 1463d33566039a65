# The R peers of the cases peers.R lacks (issue 11, item 7): same interface as peers.R.
# Usage: Rscript peers_extra.R DIR [REPEATS]
#   DIR holds any of these CSV files; each one present is fitted and timed (median elapsed
#   seconds under <key>, median CPU seconds under <key>_cpu), and its log-likelihood is
#   printed under <key>_loglik (the fit is checked against it):
#   verbagg.csv        r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item), binomial   glmer (Laplace)
#   cbpp.csv           cbind(incidence, size-incidence) ~ period + (1|herd), nAGQ = 25     glmer
#   glmm_bin_500.csv   y ~ x + (1|g), binomial, nAGQ = 10                                   glmer
#   sleepstudy.csv     Reaction ~ Days + (1|Subject) + (0 + Days|Subject)                   lmer (REML)
#   lmm_2terms_100.csv, lmm_2terms_1000.csv   y ~ x + (1|g) + (0 + x|g)                     lmer (REML)
# lme4's nAGQ > 1 logLik drops the binomial saturated log-likelihood: the deviance printed
# under <key>_deviance (-2 logLik for nAGQ = 1) is what the Python criterion is checked on.
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(TRUE); dir <- args[1]; reps <- if (length(args) > 1) as.integer(args[2]) else 5
# median elapsed and CPU (user + system) seconds
timeit <- function(f, reps) { t <- c <- numeric(reps); for (i in seq_len(reps)) { t0 <- proc.time(); f(); d <- proc.time() - t0; t[i] <- d[["elapsed"]]; c[i] <- d[["user.self"]] + d[["sys.self"]] }; c(median(t), median(c)) }
p <- function(name) file.path(dir, name)
res <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")), mgcv = as.character(packageVersion("mgcv")))
put <- function(key, f, reps) { m <- f(); tc <- timeit(f, reps); res[[key]] <<- tc[1]; res[[paste0(key, "_cpu")]] <<- tc[2]
  res[[paste0(key, "_loglik")]] <<- as.numeric(logLik(m))
  res[[paste0(key, "_deviance")]] <<- if (isLMM(m)) as.numeric(REMLcrit(m)) else as.numeric(deviance(m)) }
if (file.exists(p("verbagg.csv"))) { d <- read.csv(p("verbagg.csv"))
  for (v in c("Gender", "btype", "situ", "id", "item")) d[[v]] <- factor(d[[v]])
  put("verbagg_glmer", function() glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), d, family = binomial), reps) }
if (file.exists(p("cbpp.csv"))) { d <- read.csv(p("cbpp.csv")); d$herd <- factor(d$herd); d$period <- factor(d$period)
  put("cbpp_agq25_glmer", function() glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), family = binomial, data = d, nAGQ = 25), max(reps, 10)) }
if (file.exists(p("glmm_bin_500.csv"))) { d <- read.csv(p("glmm_bin_500.csv")); d$g <- factor(d$g)
  put("glmm_bin_agq10_glmer", function() glmer(y ~ x + (1 | g), d, family = binomial, nAGQ = 10), reps) }
if (file.exists(p("sleepstudy.csv"))) { d <- read.csv(p("sleepstudy.csv")); d$Subject <- factor(d$Subject)
  put("sleepstudy_2terms_lmer", function() lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), d), max(reps, 20)) }
for (G in c(100, 1000)) { f <- p(sprintf("lmm_2terms_%d.csv", G))
  if (file.exists(f)) { d <- read.csv(f); d$g <- factor(d$g)
    put(sprintf("lmm_2terms_%d_lmer", G), function() lmer(y ~ x + (1 | g) + (0 + x | g), d), max(reps, if (G < 500) 20 else 5)) } }
cat(toJSON(res, auto_unbox = TRUE, digits = NA), "\n")
