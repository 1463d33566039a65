# Times mgcv on the thin-plate (bs = "tp", mgcv's default) benchmark problems; prints one JSON
# object, with peers.R's interface. Usage: Rscript peers_tp.R DIR [REPEATS]
#   tp_add.csv  y ~ s(x0) + s(x1) + s(x2) + s(x3)   mgcv::gam REML (gamSim 1 truth)
#   tp_xz.csv   y ~ s(x, z)                         mgcv::gam REML
#   tp_add.csv  the additive model by GCV (mgcv's default criterion, method = "GCV.Cp"),
#               on the 400-row file only
#   te_st.csv   cases ~ te(x, y, t, d = c(2, 1), bs = c("tp", "cr"), k = c(25, 5))
#               + offset(log(pop)), Poisson, UBRE (mgcv's default), once
suppressMessages({library(mgcv); library(jsonlite)})
args <- commandArgs(TRUE); dir <- args[1]; reps <- if (length(args) > 1) as.integer(args[2]) else 5
timeit <- function(f, reps) { t <- numeric(reps); for (i in seq_len(reps)) { t0 <- proc.time()[["elapsed"]]; f(); t[i] <- proc.time()[["elapsed"]] - t0 }; median(t) }
p <- function(name) file.path(dir, name)
res <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")), mgcv = as.character(packageVersion("mgcv")))
if (file.exists(p("tp_add.csv"))) { d <- read.csv(p("tp_add.csv"))
  r <- if (nrow(d) > 2000) 1 else reps
  res$tp_add_reml <- timeit(function() gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = d, method = "REML"), r)
  if (nrow(d) <= 2000) res$tp_add_gcv <- timeit(function() gam(y ~ s(x0) + s(x1) + s(x2) + s(x3), data = d), r) }
if (file.exists(p("tp_xz.csv"))) { d <- read.csv(p("tp_xz.csv"))
  res$tp_xz_reml <- timeit(function() gam(y ~ s(x, z), data = d, method = "REML"), 1) }
if (file.exists(p("te_st.csv"))) { d <- read.csv(p("te_st.csv"))
  res$te_st_ubre <- timeit(function() gam(cases ~ te(x, y, t, d = c(2, 1), bs = c("tp", "cr"), k = c(25, 5)) + offset(log(pop)), data = d, family = poisson), 1) }
cat(toJSON(res, auto_unbox = TRUE, digits = I(6)), "\n")
