#!/usr/bin/env bash
# One command to run authlink locally on PostgreSQL:
#   - makes sure PostgreSQL answers (starts or installs it, see ensure-postgres.sh),
#   - creates the `authlink` database and a .env with a fresh encryption key on first run,
#   - on first run creates an API key for project `default` and prints it once,
#   - then runs `authlink serve` (release build) with the settings from .env.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${AUTHLINK_ADMIN_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
AUTHLINK_TEST_PG="$ADMIN_URL" bash scripts/ensure-postgres.sh

if [ ! -f .env ]; then
  key="$(head -c 32 /dev/urandom | base64)"
  sed -e "s|^AUTHLINK_ENCRYPTION_KEY=.*|AUTHLINK_ENCRYPTION_KEY=$key|" .env.example > .env
  chmod 600 .env
  echo "created .env with a fresh AUTHLINK_ENCRYPTION_KEY"
  first_run=1
fi
set -a; . ./.env; set +a

db="$(basename "${DATABASE_URL%%\?*}")"
if ! psql "$ADMIN_URL" -Atqc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
  psql "$ADMIN_URL" -qc "create database \"$db\""
  echo "created database $db"
fi

cargo build --release --locked --bin authlink
bin=target/release/authlink
"$bin" migrate
if [ "${first_run:-0}" = 1 ]; then
  echo
  "$bin" api-key create --project default
  echo "(export AUTHLINK_API_KEY=<that key> to use the README's curl examples)"
  echo
fi
exec "$bin" serve
