#!/usr/bin/env bash
# Run authlink locally on PostgreSQL (the production store; README "Moving to PostgreSQL"):
#   - makes sure PostgreSQL answers (starts or installs it, see ensure-postgres.sh),
#   - creates the `authlink` database and a .env with a fresh encryption key on first run,
#   - then runs `authlink serve` (release build) with the settings from .env; on an empty
#     database it creates project `default` and prints its API key once.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${AUTHLINK_ADMIN_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
AUTHLINK_TEST_PG="$ADMIN_URL" bash scripts/ensure-postgres.sh

if [ ! -f .env ]; then
  key="$(head -c 32 /dev/urandom | base64)"
  sed -e "s|^AUTHLINK_ENCRYPTION_KEY=.*|AUTHLINK_ENCRYPTION_KEY=$key|" \
      -e "s|^# *DATABASE_URL=postgres.*|DATABASE_URL=postgres://postgres@127.0.0.1:5432/authlink|" .env.example > .env
  chmod 600 .env
  echo "created .env with a fresh AUTHLINK_ENCRYPTION_KEY"
fi
set -a; . ./.env; set +a
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/authlink}"

db="$(basename "${DATABASE_URL%%\?*}")"
if ! psql "$ADMIN_URL" -Atqc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
  psql "$ADMIN_URL" -qc "create database \"$db\""
  echo "created database $db"
fi

cargo build --release --locked --bin authlink
bin=target/release/authlink
"$bin" migrate
exec "$bin" serve
