#!/usr/bin/env bash
# Install everything the tests need, then run all checks and tests:
# ruff (lint and format), mypy, vue-tsc, pytest on SQLite, pytest again on PostgreSQL, browser tests in chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
PY=.venv/bin/python

echo "==> ruff"; $PY -m ruff check src tests bench; $PY -m ruff format --check src tests bench
echo "==> mypy"; $PY -m mypy
echo "==> vue-tsc"; (cd web && npm run -s typecheck)

# The SQLite and PostgreSQL runs share nothing (temp dirs vs. the test cluster), and each keeps
# one core busy (client and server share a process), so they run side by side on two cores.
# The browser tests (each half starts its own server on a free port) follow on both cores.
E2E_A="tests/e2e/test_routing_flow.py
  tests/e2e/test_waiting_and_transfer.py tests/e2e/test_visitor_tags.py tests/e2e/test_knowledge.py
  tests/e2e/test_announcements.py tests/e2e/test_blacklist_flow.py tests/e2e/test_canned.py
  tests/e2e/test_chat.py tests/e2e/test_colleagues.py"
E2E_B=$(ls tests/e2e/test_*.py | grep -v -F -x -f <(printf '%s\n' $E2E_A))
echo "==> pytest (PostgreSQL), then half the browser tests, in the background: .ci-pg.log, .ci-e2e-a.log"
PGURL=$(scripts/pg-test-server.sh start)
trap 'scripts/pg-test-server.sh stop >/dev/null 2>&1 || true' EXIT
(
  PG_RC=0
  KEFU_TEST_DATABASE_URL="$PGURL" $PY -m pytest -q -p no:cacheprovider --tb=short --durations=25 tests \
    --ignore=tests/e2e > .ci-pg.log 2>&1 || PG_RC=$?
  E2E_RC=0
  # shellcheck disable=SC2086
  $PY -m pytest -q -p no:cacheprovider --tb=short --durations=10 $E2E_A -m "e2e" > .ci-e2e-a.log 2>&1 \
    || E2E_RC=$?
  echo "$PG_RC $E2E_RC" > .ci-bg.rc
) &
BG_PID=$!

echo "==> pytest (SQLite), then the other half of the browser tests"
SQLITE_RC=0
$PY -m pytest -q -p no:cacheprovider --tb=short --durations=25 tests --ignore=tests/e2e || SQLITE_RC=$?
E2E_B_RC=0
# shellcheck disable=SC2086
$PY -m pytest -q -p no:cacheprovider --tb=short --durations=10 $E2E_B -m "e2e" > .ci-e2e-b.log 2>&1 \
  || E2E_B_RC=$?

wait "$BG_PID" || true
read -r PG_RC E2E_RC < .ci-bg.rc
echo "==> pytest (PostgreSQL) output"
cat .ci-pg.log
echo "==> browser tests (chromium) output, first half"
cat .ci-e2e-a.log
echo "==> browser tests (chromium) output, second half"
cat .ci-e2e-b.log
if [ "$SQLITE_RC" -ne 0 ] || [ "$PG_RC" -ne 0 ] || [ "$E2E_RC" -ne 0 ] || [ "$E2E_B_RC" -ne 0 ]; then
  echo "tests failed: SQLite rc=$SQLITE_RC, PostgreSQL rc=$PG_RC, browser rc=$E2E_RC/$E2E_B_RC"
  exit 1
fi
