#!/usr/bin/env bash
# Sets up everything the project needs, idempotently: a virtualenv .venv with exactly what uv.lock lists (the
# package editable with its dev and local extras; installed by the pinned uv, see scripts/uv), the aws-cdk CLI
# (npm ci: exactly package-lock.json), and Debian's Chromium for the browser tests.
# Usage: scripts/setup.sh [--no-browser]   (--no-browser: Python/npm only, no Debian packages; for make local)
# Never resolves versions: when pyproject.toml and uv.lock disagree it fails and says how to update the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=1
[ "${1:-}" = "--no-browser" ] && want_browser=0

stamp=.venv/.emrex-setup-stamp
digest=$(cat pyproject.toml uv.lock package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "setup: installing the locked Python environment (uv.lock) into .venv"
  # --locked: install only if uv.lock is up to date with pyproject.toml; --exact (uv's default): remove
  # whatever else is in .venv, so it holds what the tests ran in CI.
  if ! log=$(scripts/uv sync --locked --extra dev --extra local --python "${PYTHON:-python3}" \
    --no-python-downloads --quiet 2>&1); then
    printf '%s\n' "$log" >&2
    case "$log" in
      *"needs to be updated"*)
        echo "setup: uv.lock does not match pyproject.toml. Run 'make lock' (changes only the pins that" \
          "pyproject.toml requires) or 'make lock-upgrade' (everything to the newest), then commit uv.lock." >&2 ;;
    esac
    exit 1
  fi
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
