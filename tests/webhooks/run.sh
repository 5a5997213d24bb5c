#!/usr/bin/env bash
# Signed webhooks with real parts (issue 14): authlink (the built binary) on a fresh database,
# panva's oidc-provider (tests/e2e/idp.mjs), and a receiver on 127.0.0.1 that verifies every
# delivery with the `standardwebhooks` package and with the `composio` SDK's verify_webhook.
#
#   bash tests/webhooks/run.sh [sqlite|postgres]      (default sqlite)
#
# First Composio's own client (the composio_client that composio 0.30.0 installs) drives the
# webhook_subscriptions API (client_check.py). Phase 1 (tests/*.test.mjs) runs two authlink processes on the one database, both delivering:
# the main one (link TTL 600 s) and one with AUTHLINK_LINK_TTL_SECS=30 for the expired-link case.
# It covers a connection's whole life, a background refresh, reconnect, and the receiver down for
# AUTHLINK_WH_DOWN_SECS (default 20 s, to stay within the suite's budget of about 2.5 minutes per
# store) and back, then checks that no attempt was sent twice. Phase 2 (final/*.test.mjs) stops
# them and SIGKILLs a fresh authlink between a state change and its delivery.
#
# Environment: AUTHLINK_BIN (a built authlink; default: cargo build), AUTHLINK_TEST_PG (admin URL
# of the PostgreSQL server; default postgres://postgres@127.0.0.1:5432/postgres), PYTHON
# (interpreter for the receiver's virtualenv, target/webhooks-venv), AUTHLINK_WH_DOWN_SECS.
set -euo pipefail

WH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$WH_DIR/../.." && pwd)
E2E_DIR=$ROOT/tests/e2e
cd "$ROOT"

log() { printf 'webhooks: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BACKEND=${1:-sqlite}
[[ $# -gt 0 ]] && shift
AUTHLINK_TEST_PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PYTHON=${PYTHON:-python3}
VENV=$ROOT/target/webhooks-venv
case $BACKEND in
    postgres | sqlite) ;;
    *) die "unknown backend '$BACKEND' (sqlite or postgres)" ;;
esac
command -v node >/dev/null || die "node not found (Node.js >= 20 is needed)"
command -v npm >/dev/null || die "npm not found"
command -v curl >/dev/null || die "curl not found"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
[[ $BACKEND == sqlite ]] || command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/authlink-webhooks.XXXXXX")
SERVER_PIDS=()
DB_TO_DROP=
stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${SERVER_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_servers
    if [[ -n $DB_TO_DROP ]]; then
        psql "$AUTHLINK_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS \"$DB_TO_DROP\" WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $DB_TO_DROP"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- node modules (the e2e suite's), the binary, the receiver's virtualenv ---------------------
if [[ ! -d $E2E_DIR/node_modules/oidc-provider ]]; then
    log "npm ci (tests/e2e)"
    (cd "$E2E_DIR" && npm ci --no-audit --no-fund --loglevel=error </dev/null >"$TMP/npm.log" 2>&1) \
        || { cat "$TMP/npm.log" >&2; die "npm ci failed"; }
fi
if [[ -z ${AUTHLINK_BIN:-} ]]; then
    log "cargo build --locked"
    cargo build --locked --bin authlink </dev/null >&2 || die "cargo build failed"
    AUTHLINK_BIN=$ROOT/target/debug/authlink
fi
[[ -x $AUTHLINK_BIN ]] || die "no executable at AUTHLINK_BIN=$AUTHLINK_BIN"
export AUTHLINK_BIN
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys, standardwebhooks; sys.exit(m.version("composio") != "0.30.0")' 2>/dev/null; then
    log "installing composio==0.30.0 and standardwebhooks into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "composio==0.30.0" standardwebhooks </dev/null >&2 \
        || die "pip install composio==0.30.0 standardwebhooks failed"
fi

# --- database -----------------------------------------------------------------------------------
if [[ $BACKEND == postgres ]]; then
    DB_NAME=authlink_e2e_wh_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    psql "$AUTHLINK_TEST_PG" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB_NAME" >/dev/null \
        || die "cannot create a database through AUTHLINK_TEST_PG=$AUTHLINK_TEST_PG"
    DB_TO_DROP=$DB_NAME
    DATABASE_URL=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' \
        "$AUTHLINK_TEST_PG" "$DB_NAME")
else
    mkdir -p "$TMP/db"
    DATABASE_URL=sqlite://$TMP/db/authlink.db
fi
log "backend $BACKEND"

# --- ports: two authlinks, the crash test's one, the receiver, a pool for the providers ----------
PORTS=$(node -e '
  const net = require("net");
  (async () => {
    const servers = [], ports = [];
    while (ports.length < 16) {
      const s = net.createServer();
      await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
      servers.push(s);
      ports.push(s.address().port);
    }
    servers.forEach((s) => s.close());
    console.log(ports.join(" "));
  })();')
read -r PORT SHORT_PORT CRASH_PORT RECEIVER_PORT IDP_PORTS_LIST <<<"$PORTS"
IDP_PORTS=$(echo "$IDP_PORTS_LIST" | tr ' ' ',')
BASE_URL=http://127.0.0.1:$PORT
export AUTHLINK_E2E_IDP_PORTS=$IDP_PORTS

export DATABASE_URL
export AUTHLINK_PUBLIC_URL=$BASE_URL
# A fixed test key ("e2e-test-key-do-not-use-in-prod!"): never a production key.
export AUTHLINK_ENCRYPTION_KEY=ZTJlLXRlc3Qta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=
export AUTHLINK_CALLBACK_ALLOWLIST=
ALLOW=$(IFS=,; for p in $IDP_PORTS; do printf 'http://127.0.0.1:%s,' "$p"; done)
export AUTHLINK_ENDPOINT_ALLOWLIST=${ALLOW}http://127.0.0.1:$RECEIVER_PORT
export AUTHLINK_TENANT_ENDPOINTS=allowed
# Quick retries, a fast expiry sweep and a background refresh for the 30 s code-grant tokens.
export AUTHLINK_WEBHOOK_POLL_MS=100
export AUTHLINK_WEBHOOK_RETRY_BASE_MS=500
export AUTHLINK_WEBHOOK_RETRY_MAX_SECS=3
export AUTHLINK_EXPIRE_INTERVAL_SECS=1
export AUTHLINK_REFRESH_AHEAD_SECS=600
export AUTHLINK_REFRESH_INTERVAL_SECS=1
export RUST_LOG=${RUST_LOG:-info}
unset AUTHLINK_ENCRYPTION_OLD_KEYS

"$AUTHLINK_BIN" migrate </dev/null >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "authlink migrate failed"; }
API_KEY=$("$AUTHLINK_BIN" api-key create --project webhooks </dev/null 2>"$TMP/api-key.log" | tail -n 1 | tr -d '[:space:]')
[[ -n $API_KEY ]] || { cat "$TMP/api-key.log" >&2; die "authlink api-key create printed no key"; }

ARTIFACTS=$WH_DIR/artifacts
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.log
AUTHLINK_LISTEN=127.0.0.1:$PORT AUTHLINK_LINK_TTL_SECS=600 "$AUTHLINK_BIN" serve </dev/null >"$ARTIFACTS/authlink.log" 2>&1 &
SERVER_PIDS+=($!)
AUTHLINK_LISTEN=127.0.0.1:$SHORT_PORT AUTHLINK_LINK_TTL_SECS=30 "$AUTHLINK_BIN" serve </dev/null >"$ARTIFACTS/authlink-short.log" 2>&1 &
SERVER_PIDS+=($!)
wait_ready() { # url pid log
    for _ in $(seq 120); do
        kill -0 "$2" 2>/dev/null || break
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/readyz" || true) == 200 ]] && return 0
        sleep 0.25
    done
    cat "$3" >&2 || true
    die "authlink at $1 did not become ready"
}
wait_ready "$BASE_URL" "${SERVER_PIDS[0]}" "$ARTIFACTS/authlink.log"
wait_ready "http://127.0.0.1:$SHORT_PORT" "${SERVER_PIDS[1]}" "$ARTIFACTS/authlink-short.log"

export AUTHLINK_E2E_BASE_URL=$BASE_URL
export AUTHLINK_E2E_SHORT_BASE_URL=http://127.0.0.1:$SHORT_PORT
export AUTHLINK_E2E_API_KEY=$API_KEY
export AUTHLINK_E2E_STATE_DIR=$TMP/state
export AUTHLINK_E2E_PYTHON=$VENV/bin/python
export AUTHLINK_E2E_ARTIFACTS=$ARTIFACTS
export AUTHLINK_WH_PYTHON=$VENV/bin/python
export AUTHLINK_WH_RECEIVER_PORT=$RECEIVER_PORT
export AUTHLINK_WH_CRASH_PORT=$CRASH_PORT
export AUTHLINK_WH_DIR=$TMP/receiver
mkdir -p "$AUTHLINK_E2E_STATE_DIR" "$AUTHLINK_WH_DIR"

log "Composio's client (composio_client 2.0.0rc19) on webhook_subscriptions"
"$VENV/bin/python" "$WH_DIR/client_check.py" "$BASE_URL" "$API_KEY" "http://127.0.0.1:$RECEIVER_PORT/hook" </dev/null \
    || die "composio_client's webhook_subscriptions failed against authlink"

rc=0
log "phase 1: a connection's life, the receiver down and back (two authlink processes)"
node --test --test-reporter=spec --test-concurrency=1 --test-timeout=150000 "$@" "$WH_DIR"/tests/*.test.mjs </dev/null || rc=$?
for pid in "${SERVER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { log "an authlink process exited early"; rc=1; }; done
stop_servers

log "phase 2: SIGKILL between a state change and its delivery"
mkdir -p "$TMP/receiver2"
AUTHLINK_WH_DIR=$TMP/receiver2 node --test --test-reporter=spec --test-timeout=120000 "$WH_DIR"/final/*.test.mjs </dev/null || rc=$?
cp "$TMP"/receiver/received.jsonl "$ARTIFACTS/received.jsonl" 2>/dev/null || true

if [[ $rc -ne 0 ]]; then
    log "FAILED; logs in $ARTIFACTS"
    exit 1
fi
log "all webhook tests passed ($BACKEND)"
