#!/usr/bin/env bash
# The whole test suite: unit tests, API tests against a real PostgreSQL (one fresh database per
# test), and compatibility tests driving the service with Composio's official Python client.
set -euo pipefail
cd "$(dirname "$0")/.."

export AUTHLINK_TEST_PG="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

bash scripts/ensure-postgres.sh

drop_test_databases() {
  psql "$AUTHLINK_TEST_PG" -Atqc \
    "select datname from pg_database where datname like 'authlink\_test\_%' or datname like 'authlink\_compat\_%'" |
    while read -r db; do psql "$AUTHLINK_TEST_PG" -qc "drop database if exists \"$db\" with (force)" >/dev/null; done
}
drop_test_databases
trap drop_test_databases EXIT

echo "== cargo test (unit + API tests on PostgreSQL)"
cargo test --all-targets --locked

echo "== compatibility tests (composio-client 1.43.0 and 1.30.0)"
cargo build --locked --bin authlink
AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/compat/run.sh
