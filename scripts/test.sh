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

# The SQLite and PostgreSQL runs share nothing (temp dirs vs. the test cluster), and each keeps
# one core busy (client and server share a process), so they run side by side on two cores.
echo "==> pytest (PostgreSQL) in the background, log: .ci-pg.log"
PGURL=$(scripts/pg-test-server.sh start)
trap 'scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
KEFU_TEST_DATABASE_URL="$PGURL" $PY -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e \
  > .ci-pg.log 2>&1 &
PG_PID=$!

echo "==> pytest (SQLite)"
SQLITE_RC=0
$PY -m pytest -q -p no:cacheprovider tests --ignore=tests/e2e || SQLITE_RC=$?

PG_RC=0
wait "$PG_PID" || PG_RC=$?
echo "==> pytest (PostgreSQL) output"
cat .ci-pg.log
if [ "$SQLITE_RC" -ne 0 ] || [ "$PG_RC" -ne 0 ]; then
  echo "pytest failed: SQLite rc=$SQLITE_RC, PostgreSQL rc=$PG_RC"
  exit 1
fi

echo "==> browser tests (chromium)"
$PY -m pytest -q -p no:cacheprovider tests/e2e -m "e2e"
