#!/usr/bin/env bash
# A throwaway PostgreSQL for the test suite, in /tmp on port 55432 (never the system cluster).
#   scripts/pg-test-server.sh start   prints the database URL
#   scripts/pg-test-server.sh stop
set -euo pipefail
DIR=${KEFU_PG_DIR:-/tmp/kefu-test-pg}
PORT=${KEFU_PG_PORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
case "${1:-start}" in
  start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
      # C collation (byte order, as before), but a UTF-8 character type: pg_trgm finds no
      # trigrams in Chinese text under LC_CTYPE=C (see docs/search.md).
      as_pg "$BIN/initdb -D $DIR -A trust -U kefu --encoding=UTF8 --locale=C --lc-ctype=C.UTF-8" >/dev/null
    fi
    as_pg "$BIN/pg_ctl -D $DIR -o '-p $PORT -k /tmp -c fsync=off -c listen_addresses=127.0.0.1' -l $DIR/log -w start" >/dev/null 2>&1 || true
    as_pg "$BIN/psql -h 127.0.0.1 -p $PORT -U kefu -d postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='kefu_test'\"" | grep -q 1 \
      || as_pg "$BIN/createdb -h 127.0.0.1 -p $PORT -U kefu -T template0 -E UTF8 --lc-collate=C --lc-ctype=C.UTF-8 kefu_test"
    echo "postgresql://kefu@127.0.0.1:$PORT/kefu_test"
    ;;
  stop)
    as_pg "$BIN/pg_ctl -D $DIR -m fast -w stop" >/dev/null 2>&1 || true
    ;;
esac
