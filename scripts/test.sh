#!/usr/bin/env bash
# Install everything the tests need, then run all checks and tests:
# ruff, mypy, vue-tsc, pytest on SQLite, pytest again on PostgreSQL, browser tests in chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
PY=.venv/bin/python

echo "==> ruff"; $PY -m ruff check src tests
echo "==> mypy"; $PY -m mypy
echo "==> vue-tsc"; (cd web && npm run -s typecheck)

echo "==> pytest (SQLite)"
$PY -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e

echo "==> pytest (PostgreSQL)"
PGURL=$(scripts/pg-test-server.sh start)
trap 'scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
KEFU_TEST_DATABASE_URL="$PGURL" $PY -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e

echo "==> browser tests (chromium)"
$PY -m pytest -q -p no:cacheprovider tests/e2e -m "e2e"
