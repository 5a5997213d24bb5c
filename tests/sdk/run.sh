#!/usr/bin/env bash
# Composio's high-level SDKs against a real authlink (issue 12): `composio` 0.30.0 (PyPI) and
# `@composio/core` 0.21.0 (npm), tracking off, each driving one journey script through every call
# that touches toolkits, auth configs, sessions, links and connected accounts, with a real connect
# flow against the e2e suite's oidc-provider (tests/e2e/idp.mjs).
#
#   bash tests/sdk/run.sh [sqlite|postgres]      (default sqlite)
#
# Installs (idempotent, reused when the version matches): composio==0.30.0 into target/sdk-venv,
# tests/sdk/package.json into target/sdk-node, and the e2e suite's node modules (oidc-provider) with
# `npm ci` in tests/e2e when missing. One authlink (AUTHLINK_BIN, default target/debug/authlink) on a
# fresh database (removed on exit) and one provider serve both journeys.
#
# Environment:
#   AUTHLINK_BIN         built binary (default target/debug/authlink)
#   AUTHLINK_TEST_PG     admin URL of PostgreSQL for the postgres backend
#                        (default postgres://postgres@127.0.0.1:5432/postgres)
#   PYTHON               interpreter for the virtualenv (default python3)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
BACKEND=${1:-sqlite}
AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
AUTHLINK_TEST_PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PYTHON=${PYTHON:-python3}
VENV=target/sdk-venv
NODE_DIR=target/sdk-node
PY_SDK=0.30.0
TS_SDK=0.21.0

log() { printf 'sdk: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $BACKEND in
    postgres) command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)" ;;
    sqlite) ;;
    *) die "backend must be sqlite or postgres, not '$BACKEND'" ;;
esac
for tool in curl node npm "$PYTHON"; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ -x $AUTHLINK_BIN ]] || die "no executable at AUTHLINK_BIN=$AUTHLINK_BIN (run \`cargo build\` first)"
AUTHLINK_BIN=$(cd "$(dirname "$AUTHLINK_BIN")" && pwd)/$(basename "$AUTHLINK_BIN")

# --- the SDKs ------------------------------------------------------------------------------------
py_version() { "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("composio"))' 2>/dev/null || true; }
if [[ $(py_version) != "$PY_SDK" ]]; then
    log "installing composio==$PY_SDK into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "composio==$PY_SDK" </dev/null >&2
    [[ $(py_version) == "$PY_SDK" ]] || die "composio $PY_SDK did not install in $VENV"
else
    log "reusing $VENV (composio $PY_SDK)"
fi
ts_version() { node -p "require('./$NODE_DIR/node_modules/@composio/core/package.json').version" 2>/dev/null || true; }
if [[ $(ts_version) != "$TS_SDK" ]] || ! cmp -s tests/sdk/package.json "$NODE_DIR/package.json"; then
    log "installing @composio/core@$TS_SDK into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp tests/sdk/package.json "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --loglevel=error </dev/null >&2) || die "npm install failed"
    [[ $(ts_version) == "$TS_SDK" ]] || die "@composio/core $TS_SDK did not install in $NODE_DIR"
else
    log "reusing $NODE_DIR (@composio/core $TS_SDK)"
fi
if [[ ! -d tests/e2e/node_modules/oidc-provider ]]; then
    log "npm ci in tests/e2e (oidc-provider)"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error </dev/null >&2) || die "npm ci in tests/e2e failed"
fi

# --- state and cleanup ---------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/authlink-sdk.XXXXXX")
PIDS=()
DB_NAME=
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $DB_NAME ]]; then
        psql "$AUTHLINK_TEST_PG" -qAt -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $DB_NAME"
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
PORT=$(free_port)
IDP_PORT=$(free_port)
while [[ $IDP_PORT == "$PORT" ]]; do IDP_PORT=$(free_port); done
BASE_URL=http://127.0.0.1:$PORT

if [[ $BACKEND == postgres ]]; then
    DB=authlink_sdk_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    psql "$AUTHLINK_TEST_PG" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null || die "cannot create a database"
    DB_NAME=$DB
    DATABASE_URL=$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$AUTHLINK_TEST_PG" "$DB")
else
    mkdir -p "$TMP/db"
    DATABASE_URL=sqlite://$TMP/db/authlink.db
fi
export DATABASE_URL
export AUTHLINK_LISTEN=127.0.0.1:$PORT
export AUTHLINK_PUBLIC_URL=$BASE_URL
export AUTHLINK_ENCRYPTION_KEY
AUTHLINK_ENCRYPTION_KEY=$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')
export AUTHLINK_CALLBACK_ALLOWLIST=
# Only the provider may be called on loopback.
export AUTHLINK_ENDPOINT_ALLOWLIST=http://127.0.0.1:$IDP_PORT
export AUTHLINK_TENANT_ENDPOINTS=allowed
unset AUTHLINK_ENCRYPTION_OLD_KEYS

"$AUTHLINK_BIN" migrate </dev/null >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "authlink migrate failed"; }
# The first project uses the shared {public}/oauth/callback, the provider's one redirect URI.
API_KEY=$("$AUTHLINK_BIN" api-key create --project sdk </dev/null 2>"$TMP/key.log" | tail -n 1 | tr -d '[:space:]')
[[ -n $API_KEY ]] || { cat "$TMP/key.log" >&2; die "authlink api-key create printed no key"; }

SERVER_LOG=target/sdk-server.log
"$AUTHLINK_BIN" serve </dev/null >"$SERVER_LOG" 2>&1 &
PIDS+=($!)
(cd tests/sdk && CALLBACK=$BASE_URL/oauth/callback IDP_PORT=$IDP_PORT IDP_INFO=$TMP/idp.json \
    exec node idp-server.mjs </dev/null >"$TMP/idp.log" 2>&1) &
PIDS+=($!)

for _ in $(seq 120); do
    [[ -s $TMP/idp.json && $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]] && break
    sleep 0.25
done
[[ -s $TMP/idp.json ]] || { cat "$TMP/idp.log" >&2; die "the provider did not start"; }
[[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE_URL/readyz" || true) == 200 ]] || { cat "$SERVER_LOG" >&2; die "authlink did not become ready"; }
log "$BACKEND: authlink on $BASE_URL (log $SERVER_LOG), provider on 127.0.0.1:$IDP_PORT"

export AUTHLINK_BASE_URL=$BASE_URL AUTHLINK_API_KEY=$API_KEY IDP_INFO=$TMP/idp.json
rc=0
log "Python: composio $PY_SDK"
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -W ignore::DeprecationWarning tests/sdk/journey.py </dev/null || rc=1
log "TypeScript: @composio/core $TS_SDK"
(cd tests/sdk && SDK_NODE=$ROOT/$NODE_DIR AUTHLINK_E2E_BASE_URL=$BASE_URL node journey.mjs </dev/null) || rc=1

for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { log "a server exited during the journeys"; rc=1; }; done
if [[ $rc -ne 0 ]]; then
    log "FAILED ($BACKEND); authlink's log: $SERVER_LOG; provider's log:"
    cat "$TMP/idp.log" >&2 || true
    exit 1
fi
log "both SDK journeys passed ($BACKEND)"
