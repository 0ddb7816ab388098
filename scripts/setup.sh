#!/usr/bin/env bash
# Sets up everything the project needs, idempotently: a virtualenv with the package and its dev
# tools, the aws-cdk CLI (npm, local), and Debian's Chromium for the browser tests.
# Usage: scripts/setup.sh [--no-browser]   (--no-browser: Python/npm only, no Debian packages; for make local)
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=1
[ "${1:-}" = "--no-browser" ] && want_browser=0

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.emrex-setup-stamp
digest=$(cat pyproject.toml package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    echo "setup: npm not found; the CDK CLI test will be skipped" >&2
  fi
  echo "$digest" > "$stamp"
fi

# Debian packages: chromium for the browser tests; an aarch64 strip so the Lambda layer's shared objects
# are stripped (layers/build.py uses it when present; without it the layer is ~4 MB larger).
packages=()
[ "$want_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1 && packages+=(chromium)
[ "$want_browser" = 1 ] && ! command -v aarch64-linux-gnu-strip >/dev/null 2>&1 && packages+=(binutils-aarch64-linux-gnu)
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${packages[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (${packages[*]}); install them for the browser tests and a stripped layer" >&2
  fi
fi
