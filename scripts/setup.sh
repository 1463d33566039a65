#!/usr/bin/env bash
# Installs what spatialgamm needs on a fresh Debian/Ubuntu machine, and does nothing when it
# is all there already (so every make target can depend on it).
#   1. SuiteSparse headers (libsuitesparse-dev) with apt-get, when root and missing;
#   2. this checkout, editable, with the test extra (pytest, ruff);
#   3. scikit-sparse < 0.5 (CHOLMOD). 0.5 needs SuiteSparse 7, which Debian 12 lacks.
# Only step 2 may fail the script: without CHOLMOD the package falls back to scipy's sparse
# solvers (slower, same numbers), so 1 and 3 end in a WARNING instead.
# Usage: scripts/setup.sh   (PYTHON=python3.11 scripts/setup.sh to pick the interpreter)
set -euo pipefail

PYTHON="${PYTHON:-python3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGDIR="$ROOT/build/setup-logs"
STAMP="$ROOT/build/.setup-stamp"
mkdir -p "$LOGDIR"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

say() { echo "setup: $*"; }
warn() { echo "setup: WARNING: $*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup: ERROR: no Python interpreter '$PYTHON' on PATH (set PYTHON=...)" >&2
  exit 1
fi

# ---- 1. SuiteSparse headers -------------------------------------------------------------
CHOLMOD_H=/usr/include/suitesparse/cholmod.h
if [ ! -f "$CHOLMOD_H" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing libsuitesparse-dev (CHOLMOD) with apt-get, about a minute..."
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends libsuitesparse-dev; } \
         >"$LOGDIR/apt.log" 2>&1; then
      tail -n 5 "$LOGDIR/apt.log" >&2 || true
      warn "apt-get could not install libsuitesparse-dev (log: $LOGDIR/apt.log)"
    fi
  else
    warn "SuiteSparse headers ($CHOLMOD_H) are missing and this is not a root shell" \
         "with apt-get: install libsuitesparse-dev yourself to get CHOLMOD"
  fi
fi

# ---- 2. the package, editable, with the test extra --------------------------------------
# The stamp ties the install to this interpreter, this checkout, this pyproject.toml and the
# set of (sub)packages: setuptools' editable finder records packages at install time (a folder
# that gains an __init__.py later would stay a namespace package), so any change reinstalls.
key="$("$PYTHON" - "$ROOT" <<'EOF'
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256((root / "pyproject.toml").read_bytes())
for init in sorted(root.glob("spatialgamm/**/__init__.py")):
    digest.update(str(init.relative_to(root)).encode())
print(f"{sys.executable}|{root}|{digest.hexdigest()}")
EOF
)"
installed_here() {
  # True when spatialgamm is an editable install of this very checkout and the test tools
  # import. Run from / so that the checkout on sys.path cannot fake the import.
  (cd / && "$PYTHON" - "$ROOT" <<'EOF'
import json, os, sys
from importlib import metadata
from urllib.parse import unquote, urlparse
try:
    info = json.loads(metadata.distribution("spatialgamm").read_text("direct_url.json") or "{}")
    metadata.version("pytest"); metadata.version("ruff")
except metadata.PackageNotFoundError:
    sys.exit(1)
path = unquote(urlparse(info.get("url", "")).path)
here = os.path.realpath(sys.argv[1])
editable = info.get("dir_info", {}).get("editable", False)
sys.exit(0 if editable and os.path.realpath(path or "/nonexistent") == here else 1)
EOF
  ) >/dev/null 2>&1
}
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && installed_here; then
  say "spatialgamm (editable) and test tools already installed"
else
  say "installing spatialgamm (editable) with its test extra..."
  rm -f "$STAMP"
  if ! "$PYTHON" -m pip install -q -e ".[test]" >"$LOGDIR/pip.log" 2>&1; then
    tail -n 20 "$LOGDIR/pip.log" >&2 || true
    echo "setup: ERROR: pip install -e .[test] failed (log: $LOGDIR/pip.log)" >&2
    exit 1
  fi
  printf '%s\n' "$key" >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
fi

# ---- 3. scikit-sparse (CHOLMOD) ---------------------------------------------------------
if (cd / && "$PYTHON" -c "import sksparse.cholmod") >/dev/null 2>&1; then
  say "scikit-sparse (CHOLMOD) available"
elif [ ! -f "$CHOLMOD_H" ]; then
  warn "scikit-sparse not installed (no SuiteSparse headers): spatialgamm will use the" \
       "pure-scipy sparse fallback (slower, same results)"
else
  say "building scikit-sparse<0.5 against SuiteSparse, about a minute..."
  if "$PYTHON" -m pip install -q "scikit-sparse<0.5" >"$LOGDIR/sksparse.log" 2>&1 \
     && (cd / && "$PYTHON" -c "import sksparse.cholmod") >/dev/null 2>&1; then
    say "scikit-sparse (CHOLMOD) installed"
  else
    tail -n 5 "$LOGDIR/sksparse.log" >&2 || true
    warn "scikit-sparse<0.5 failed to install (log: $LOGDIR/sksparse.log): spatialgamm will" \
         "use the pure-scipy sparse fallback (slower, same results)"
  fi
fi
say "done"
