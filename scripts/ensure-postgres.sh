#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for user `postgres` with trust auth:
# uses the running one, starts an installed cluster, or (as root, e.g. on CI) installs Debian's
# package. Idempotent; prints what it did.
set -euo pipefail

PGURL="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"

answers() { command -v psql >/dev/null && psql "$PGURL" -Atqc 'select 1' >/dev/null 2>&1; }

if answers; then echo "postgres: answering"; exit 0; fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "postgres: not installed; install PostgreSQL (apt-get install postgresql) or set AUTHLINK_TEST_PG" >&2
    exit 1
  fi
  echo "postgres: installing with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

version="$(ls /etc/postgresql | sort -V | tail -1)"
conf="/etc/postgresql/$version/main"
# Trust auth on loopback for the test user, as on the project's machines.
if [ -w "$conf/pg_hba.conf" ] && ! grep -q '^# authlink-test' "$conf/pg_hba.conf"; then
  { echo '# authlink-test: trust loopback'
    echo 'host all all 127.0.0.1/32 trust'
    echo 'host all all ::1/128 trust'
    echo 'local all all trust'
    cat "$conf/pg_hba.conf"; } > "$conf/pg_hba.conf.new"
  mv "$conf/pg_hba.conf.new" "$conf/pg_hba.conf"
  chown postgres:postgres "$conf/pg_hba.conf" 2>/dev/null || true
fi
echo "postgres: starting cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
  || pg_ctlcluster --skip-systemctl-redirect "$version" main restart

for _ in $(seq 1 30); do
  if answers; then echo "postgres: answering"; exit 0; fi
  sleep 1
done
echo "postgres: did not come up at $PGURL" >&2
exit 1
