#!/usr/bin/env bash
# Installs everything the tests need, then runs every check: lint, types, the test suite.
# Usage: ./test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: Chromium for the browser tests, nginx and openssl (a test certificate) for
# the deployment tests, redis-server for the shared cache tests, npm for the CSS frameworks
# of the layout fixture pages, and Python's venv module (Debian and Ubuntu refuse
# "pip install" into the system's Python).
missing=()
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" fonts-dejavu-core
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
python=.venv/bin/python
"$python" -m pip install --quiet --disable-pip-version-check ".[test]"
# Bootstrap, GOV.UK Frontend and USWDS, exactly as package-lock.json pins them.
npm ci --no-audit --no-fund --loglevel=error

# The shared real-world corpus sits beside the checkout for developers and CI; a clone on
# its own runs every other test.
if [ -z "${A11Y_CORPUS_DIR:-}" ] && [ -d ../shared/corpus/real ]; then
  export A11Y_CORPUS_DIR=../shared/corpus/real
fi

"$python" -m ruff check .
"$python" -m ruff format --check .
"$python" -m mypy --strict
"$python" -m pytest -q "$@"
