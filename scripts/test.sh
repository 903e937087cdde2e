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
echo "==> pytest (PostgreSQL), then the browser tests, in the background: .ci-pg.log, .ci-e2e.log"
PGURL=$(scripts/pg-test-server.sh start)
trap 'scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
# The browser tests start on the core the PostgreSQL run frees (it finishes first).
(
  PG_RC=0
  KEFU_TEST_DATABASE_URL="$PGURL" $PY -m pytest -q -p no:cacheprovider --durations=15 tests \
    --ignore=tests/e2e > .ci-pg.log 2>&1 || PG_RC=$?
  E2E_RC=0
  $PY -m pytest -q -p no:cacheprovider --durations=10 tests/e2e -m "e2e" > .ci-e2e.log 2>&1 \
    || E2E_RC=$?
  echo "$PG_RC $E2E_RC" > .ci-bg.rc
) &
BG_PID=$!

echo "==> pytest (SQLite)"
SQLITE_RC=0
$PY -m pytest -q -p no:cacheprovider --durations=25 tests --ignore=tests/e2e || SQLITE_RC=$?

wait "$BG_PID" || true
read -r PG_RC E2E_RC < .ci-bg.rc
echo "==> pytest (PostgreSQL) output"
cat .ci-pg.log
echo "==> browser tests (chromium) output"
cat .ci-e2e.log
if [ "$SQLITE_RC" -ne 0 ] || [ "$PG_RC" -ne 0 ] || [ "$E2E_RC" -ne 0 ]; then
  echo "tests failed: SQLite rc=$SQLITE_RC, PostgreSQL rc=$PG_RC, browser rc=$E2E_RC"
  exit 1
fi
