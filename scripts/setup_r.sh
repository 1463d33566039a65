#!/usr/bin/env bash
# Installs the R peers the benchmarks compare against (R, lme4, mgcv, jsonlite) from Debian's
# packages, when Rscript is missing and this is a root shell with apt-get. Never fails: without
# R the benchmarks time the Python side only and say so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOGDIR="$ROOT/build/setup-logs"
mkdir -p "$LOGDIR"
have_peers() {
  command -v Rscript >/dev/null 2>&1 &&
    Rscript -e 'for (p in c("lme4", "mgcv", "jsonlite")) stopifnot(requireNamespace(p, quietly = TRUE))' \
      >/dev/null 2>&1
}
if have_peers; then
  echo "setup-r: R with lme4, mgcv and jsonlite available"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup-r: installing R, lme4, mgcv, jsonlite with apt-get (a few minutes)..."
  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends r-base-core r-cran-lme4 r-cran-mgcv r-cran-jsonlite; } \
       >"$LOGDIR/apt-r.log" 2>&1 && have_peers; then
    echo "setup-r: done"
    exit 0
  fi
  tail -n 5 "$LOGDIR/apt-r.log" >&2 || true
fi
echo "setup-r: WARNING: R peers unavailable; benchmarks will time the Python side only" >&2
exit 0
