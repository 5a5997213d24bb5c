#!/usr/bin/env bash
# Real-client tests of authlink's MCP endpoints (issue 13): authlink (the built binary) on a fresh
# database, the official MCP clients over Streamable HTTP (TypeScript @modelcontextprotocol/sdk,
# Python `mcp`), the MCP Inspector's CLI, Composio's SDKs (`composio` 0.30.0 and
# `@composio/core` 0.21.0: the `session.tools()` journey), and links completed against a real
# oidc-provider with the e2e suite's provider and flow helpers (tests/e2e/idp.mjs, tests/e2e/lib).
#
#   bash tests/mcp/run.sh [sqlite|postgres]      (default sqlite)
#
# Environment:
#   AUTHLINK_TEST_PG   admin URL of the PostgreSQL server the fresh database is created on
#                      (default postgres://postgres@127.0.0.1:5432/postgres)
#   AUTHLINK_BIN       a built authlink; without it this runs `cargo build --locked`
#   PYTHON             interpreter for the virtualenv (default python3)
# Extra arguments after the backend go to `node --test` (e.g. --test-name-pattern=Inspector).
set -euo pipefail

MCP_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$MCP_DIR/../.." && pwd)
E2E_DIR=$ROOT/tests/e2e
cd "$ROOT"

log() { printf 'mcp: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BACKEND=${1:-sqlite}
[[ $# -gt 0 ]] && shift
case $BACKEND in
    postgres | sqlite) ;;
    *) die "unknown backend '$BACKEND' (sqlite or postgres)" ;;
esac
AUTHLINK_TEST_PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
PYTHON=${PYTHON:-python3}
# Pinned client versions: the suite proves these.
MCP_PY_VERSION=2.3.0
COMPOSIO_PY_VERSION=0.30.0

for tool in node npm curl "$PYTHON"; do command -v "$tool" >/dev/null || die "$tool not found"; done
[[ $BACKEND == postgres ]] && { command -v psql >/dev/null || die "psql not found"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/authlink-mcp.XXXXXX")
SERVER_PID=
DB_TO_DROP=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
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

# --- clients ------------------------------------------------------------------------------------
log "npm ci (tests/e2e for oidc-provider, tests/mcp for the MCP SDK, Inspector and @composio/core)"
for dir in "$E2E_DIR" "$MCP_DIR"; do
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null >"$TMP/npm.log" 2>&1) \
        || { cat "$TMP/npm.log" >&2; die "npm ci failed in $dir"; }
done

VENV=$ROOT/target/mcp-venv
has_clients() {
    "$1" -c "import importlib.metadata as m, sys; sys.exit(not (m.version('mcp') == '$MCP_PY_VERSION' and m.version('composio') == '$COMPOSIO_PY_VERSION'))" 2>/dev/null
}
if ! has_clients "$VENV/bin/python"; then
    log "installing mcp==$MCP_PY_VERSION composio==$COMPOSIO_PY_VERSION into target/mcp-venv"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_PY_VERSION" "composio==$COMPOSIO_PY_VERSION" \
        </dev/null >&2 || die "pip install failed"
    has_clients "$VENV/bin/python" || die "the Python clients did not install"
fi

if [[ -z ${AUTHLINK_BIN:-} ]]; then
    log "cargo build --locked"
    cargo build --locked --bin authlink </dev/null >&2 || die "cargo build failed"
    AUTHLINK_BIN=$ROOT/target/debug/authlink
fi
[[ -x $AUTHLINK_BIN ]] || die "no executable at AUTHLINK_BIN=$AUTHLINK_BIN"

# --- database -----------------------------------------------------------------------------------
if [[ $BACKEND == postgres ]]; then
    if ! psql "$AUTHLINK_TEST_PG" -qAtc 'select 1' >/dev/null 2>&1 && [[ -f scripts/ensure-postgres.sh ]]; then
        bash scripts/ensure-postgres.sh >&2 </dev/null
    fi
    DB_NAME=authlink_mcp_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
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

# --- server -------------------------------------------------------------------------------------
read -r PORT IDP_PORTS < <(node -e '
  const net = require("net");
  (async () => {
    const ports = [], servers = [];
    while (ports.length < 5) {
      const s = net.createServer();
      await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
      servers.push(s);
      ports.push(String(s.address().port));
    }
    servers.forEach((s) => s.close());
    console.log(ports[0], ports.slice(1).join(","));
  })();')
BASE_URL=http://127.0.0.1:$PORT
export DATABASE_URL
export AUTHLINK_DATA_DIR=$TMP/data
export AUTHLINK_PUBLIC_URL=$BASE_URL
# A fixed test key ("e2e-test-key-do-not-use-in-prod!"): never a production key.
export AUTHLINK_ENCRYPTION_KEY=ZTJlLXRlc3Qta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=
export AUTHLINK_CALLBACK_ALLOWLIST=
AUTHLINK_ENDPOINT_ALLOWLIST=$(IFS=,; for p in $IDP_PORTS; do printf 'http://127.0.0.1:%s,' "$p"; done)
export AUTHLINK_ENDPOINT_ALLOWLIST=${AUTHLINK_ENDPOINT_ALLOWLIST%,}
export AUTHLINK_TENANT_ENDPOINTS=allowed
export AUTHLINK_LOG_FORMAT=text
# Debug level on purpose: the log check below then covers what an operator sees when debugging.
export RUST_LOG=debug
unset AUTHLINK_ENCRYPTION_OLD_KEYS AUTHLINK_MCP_ALLOWED_ORIGINS

"$AUTHLINK_BIN" migrate </dev/null >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; die "authlink migrate failed"; }
API_KEY=$("$AUTHLINK_BIN" api-key create --project mcp </dev/null 2>"$TMP/api-key.log" | tail -n 1 | tr -d '[:space:]')
[[ -n $API_KEY ]] || { cat "$TMP/api-key.log" >&2; die "authlink api-key create printed no key"; }

AUTHLINK_LISTEN=127.0.0.1:$PORT "$AUTHLINK_BIN" serve </dev/null >"$TMP/authlink.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 120); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.25
done
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]] \
    || { cat "$TMP/authlink.log" >&2; die "authlink did not become ready"; }

# The e2e harness's names for the same things (tests/e2e/lib/harness.mjs).
export AUTHLINK_E2E_BASE_URL=$BASE_URL
export AUTHLINK_E2E_API_KEY=$API_KEY
export AUTHLINK_E2E_STATE_DIR=$TMP/state
export AUTHLINK_E2E_PYTHON=$VENV/bin/python
export AUTHLINK_E2E_IDP_PORTS=$IDP_PORTS
mkdir -p "$AUTHLINK_E2E_STATE_DIR"

cd "$MCP_DIR"
rc=0
node --test --test-reporter=spec --test-concurrency=1 --test-timeout=120000 "$@" mcp.test.mjs </dev/null || rc=$?
cd "$ROOT"
kill -0 "$SERVER_PID" 2>/dev/null || { log "authlink exited during the tests"; rc=1; }
# No link token, access/refresh token or code the tests saw may appear in authlink's debug log.
if [[ -f $AUTHLINK_E2E_STATE_DIR/mcp-secrets.json ]]; then
    node -e '
      const fs = require("fs");
      const secrets = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const text = fs.readFileSync(process.argv[2], "utf8");
      if (secrets.length < 5) { console.error(`only ${secrets.length} secrets were collected`); process.exit(1); }
      const found = secrets.filter((s) => text.includes(s));
      if (found.length) { console.error(`${found.length} secret(s) in the log`); process.exit(1); }
      console.error(`mcp: none of ${secrets.length} secrets in the debug log`);
    ' "$AUTHLINK_E2E_STATE_DIR/mcp-secrets.json" "$TMP/authlink.log" || rc=1
else
    log "the tests left no list of secrets"; rc=1
fi
if [[ $rc -ne 0 ]]; then
    log "FAILED; authlink's log:"
    tail -n 80 "$TMP/authlink.log" >&2
    exit 1
fi
log "all MCP client tests passed ($BACKEND)"
