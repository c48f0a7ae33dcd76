#!/usr/bin/env bash
# Installs the proxy in a virtual environment of its own (.venv) and starts it; with no
# options, in front of the bundled demo ministry site, which works offline.
# Usage: ./run.sh [proxy options, see ./run.sh --help]
set -euo pipefail
cd "$(dirname "$0")"

# Debian and Ubuntu keep Python's venv module in a package of its own, and refuse
# "pip install" into the system's Python: the proxy gets an environment of its own.
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check .
exec .venv/bin/python -m proxy "$@"
