#!/usr/bin/env bash
# The whole test suite, once per store: unit and API tests (cargo), CLI tests, compatibility tests
# driving the service with Composio's official Python client, and end-to-end tests of the connect
# flow against a real OAuth server (oidc-provider) and a real browser (Chromium).
#
# Backends: SQLite always (it needs nothing installed). PostgreSQL when a server answers at
# AUTHLINK_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres); otherwise that half is
# skipped and the summary says so. Under CI=true PostgreSQL is required: it is started or
# installed by scripts/ensure-postgres.sh, and both halves run.
# AUTHLINK_TEST_BACKENDS="sqlite" (or "postgres") runs just one half.
set -euo pipefail
cd "$(dirname "$0")/.."

export AUTHLINK_TEST_PG="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_answers() {
  command -v psql >/dev/null && psql "$AUTHLINK_TEST_PG" -Atqc 'select 1' >/dev/null 2>&1
}

skipped=""
if [[ -n ${AUTHLINK_TEST_BACKENDS:-} ]]; then
  read -r -a backends <<<"$AUTHLINK_TEST_BACKENDS"
elif [[ ${CI:-} == true ]]; then
  bash scripts/ensure-postgres.sh
  backends=(sqlite postgres)
elif pg_answers; then
  backends=(sqlite postgres)
else
  backends=(sqlite)
  skipped="PostgreSQL half SKIPPED: no server answered at $AUTHLINK_TEST_PG (start one, or run bash scripts/ensure-postgres.sh, to test both stores)"
  echo "== $skipped"
fi

drop_test_databases() {
  pg_answers || return 0
  psql "$AUTHLINK_TEST_PG" -Atqc \
    "select datname from pg_database where datname like 'authlink\_test\_%' or datname like 'authlink\_compat\_%' or datname like 'authlink\_e2e\_%' or datname like 'authlink\_sdk\_%' or datname like 'authlink\_mcp\_%' or datname like 'authlink\_st\_%'" |
    while read -r db; do psql "$AUTHLINK_TEST_PG" -qc "drop database if exists \"$db\" with (force)" >/dev/null; done
}
drop_test_databases
trap drop_test_databases EXIT

echo "== build"
cargo build --locked --bin authlink
cargo test --all-targets --locked --no-run

for backend in "${backends[@]}"; do
  case $backend in
    sqlite) ;;
    postgres) pg_answers || { echo "PostgreSQL does not answer at $AUTHLINK_TEST_PG" >&2; exit 1; } ;;
    *) echo "unknown backend '$backend' (sqlite or postgres)" >&2; exit 1 ;;
  esac
  export AUTHLINK_TEST_BACKEND=$backend

  echo "== [$backend] cargo test (unit, API and CLI tests)"
  cargo test --all-targets --locked

  echo "== [$backend] compatibility tests (composio-client 1.43.0 and 1.30.0)"
  AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/compat/run.sh

  echo "== [$backend] end-to-end tests (oidc-provider, headless Chromium, composio-client)"
  AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/e2e/run.sh "$backend"
  echo "== [$backend] SDK journeys (composio 0.30.0, @composio/core 0.21.0)" && AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/sdk/run.sh "$backend"
  echo "== [$backend] MCP client tests (TypeScript and Python MCP SDKs, MCP Inspector CLI, composio session.tools())" && AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/mcp/run.sh "$backend"
  echo "== [$backend] webhook tests (standardwebhooks, composio verify_webhook, oidc-provider)" && AUTHLINK_BIN="$PWD/target/debug/authlink" bash tests/webhooks/run.sh "$backend"
  echo "== [$backend] schemathesis, every check, CI size (scripts/schemathesis.sh $backend ci)" && AUTHLINK_BIN="$PWD/target/debug/authlink" bash scripts/schemathesis.sh "$backend" ci
done

echo "== metrics scraped by a real Prometheus server (scripts/metrics-prometheus.sh)"
AUTHLINK_BIN="$PWD/target/debug/authlink" bash scripts/metrics-prometheus.sh

echo "== passed on: ${backends[*]}"
if [[ -n $skipped ]]; then echo "== $skipped"; fi
