#!/usr/bin/env bash
# Installs what Kefu needs on Debian (12+): Python venv with Kefu, Node.js, and the built web apps.
#   scripts/install.sh          runtime only
#   scripts/install.sh --dev    also test tools: chromium, PostgreSQL, Redis, nginx, dev Python packages
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
# Debian ships `venv` without pip's wheels unless python3-venv is installed.
if command -v dpkg >/dev/null && [ "$(command -v python3)" = /usr/bin/python3 ]; then
  dpkg -s python3-venv >/dev/null 2>&1 || need_apt+=(python3-venv)
else
  python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
fi
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ "$DEV" = 1 ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  command -v redis-server >/dev/null || need_apt+=(redis-server)
  # tests/test_nginx.py: nginx as a throwaway process (/usr/sbin is not on every user's PATH)
  # in front of two nodes, with a self-signed certificate made by openssl.
  { [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; } || need_apt+=(nginx)
  command -v openssl >/dev/null || need_apt+=(openssl)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$DEV" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi

echo "==> building the web apps"
# `npm install` (not `npm ci`): with this registry setup npm 11 writes lock files that `npm ci`
# rejects as out of sync (optional platform packages lack versions); install still honours the lock.
(cd web && npm install --no-audit --no-fund && npm run build)
