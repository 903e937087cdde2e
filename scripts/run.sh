#!/usr/bin/env bash
# Install what is needed, then start Kefu on the embedded default (SQLite in ./data).
# Extra arguments go to `kefu serve` (e.g. --port 8080 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/kefu serve "$@"
