#!/usr/bin/env bash
# The whole test suite, on SQLite and again on PostgreSQL (127.0.0.1:5432, user postgres).
# Extra arguments go to pytest. Fails when either run fails, and when pytest collects no test
# (its exit code 5 is an error here like any other non-zero code).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PG_URL="${KOMPAS_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
if ! .venv/bin/python -c "import psycopg, sys; psycopg.connect(sys.argv[1].replace('postgresql+psycopg', 'postgresql'), connect_timeout=5).close()" "$PG_URL"; then
  echo "PostgreSQL is not reachable at $PG_URL: the suite must run on it too" >&2
  exit 1
fi
echo "== tests on SQLite =="
env -u KOMPAS_TEST_DATABASE_URL .venv/bin/python -m pytest tests "$@"
echo "== tests on PostgreSQL ($PG_URL) =="
KOMPAS_TEST_DATABASE_URL="$PG_URL" .venv/bin/python -m pytest tests "$@"
