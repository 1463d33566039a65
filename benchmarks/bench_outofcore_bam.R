# mgcv's bam(discrete = TRUE, nthreads = 2) on the rows bench_outofcore.py fits out of core:
# the same fixed part and P-spline, and a tensor-product smooth of the coordinates with the
# hsgp() term's basis size (15 x 15). Writes its timing (and peak memory of this R process)
# as JSON.  Usage: Rscript bench_outofcore_bam.R data.csv out.json
suppressPackageStartupMessages({library(mgcv); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
gc(reset = TRUE)
t0 <- proc.time()[["elapsed"]]
m <- bam(y ~ x1 + s(x2, bs = "ps", k = 10) + te(cx, cy, k = c(15, 15)), data = d,
         discrete = TRUE, nthreads = 2, method = "fREML")
el <- proc.time()[["elapsed"]] - t0
mem <- gc()
status <- readLines("/proc/self/status")
hwm <- as.numeric(gsub("[^0-9]", "", grep("^VmHWM", status, value = TRUE))) / 1024
write_json(list(seconds = el, rows = nrow(d), peak_rss_mib = hwm,
                r_heap_max_mib = sum(mem[, ncol(mem)]),
                sigma = sqrt(m$sig2), edf = sum(m$edf),
                formula = "y ~ x1 + s(x2, bs='ps', k=10) + te(cx, cy, k=c(15,15))",
                mgcv = as.character(packageVersion("mgcv"))),
           args[2], auto_unbox = TRUE, digits = NA)
