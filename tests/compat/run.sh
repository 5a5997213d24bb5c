#!/usr/bin/env bash
# Compatibility tests: Composio's official Python client (`composio-client`) against a real authlink.
#
# For each client version (1.43.0 speaks /api/v3.1, 1.30.0 speaks /api/v3) this script installs the
# client into target/compat-venvs/<version>, then runs tests/compat/ with pytest against one authlink
# server backed by a fresh database (removed again on exit) of the backend AUTHLINK_TEST_BACKEND names.
#
# Environment:
#   AUTHLINK_BIN              built binary (default target/debug/authlink)
#   AUTHLINK_TEST_BACKEND     sqlite (default: a file in a temporary directory) or postgres
#   AUTHLINK_TEST_PG          admin URL of a PostgreSQL server, for the postgres backend
#                             (default postgres://postgres@127.0.0.1:5432/postgres)
#   AUTHLINK_COMPAT_VERSIONS  client versions to test (default "1.43.0 1.30.0")
#   PYTHON                    interpreter used to create the virtualenvs (default python3)
# Extra arguments are passed to pytest, e.g. `bash tests/compat/run.sh -k link`.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD

AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
AUTHLINK_TEST_PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
BACKEND=${AUTHLINK_TEST_BACKEND:-sqlite}
VERSIONS=${AUTHLINK_COMPAT_VERSIONS:-1.43.0 1.30.0}
PYTHON=${PYTHON:-python3}
VENV_ROOT=target/compat-venvs
SERVER_LOG=target/compat-server.log

log() { printf 'compat: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x $AUTHLINK_BIN ]] || die "no executable at AUTHLINK_BIN=$AUTHLINK_BIN (run \`cargo build\` first)"
AUTHLINK_BIN=$(cd "$(dirname "$AUTHLINK_BIN")" && pwd)/$(basename "$AUTHLINK_BIN")
case $BACKEND in
    postgres) command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)" ;;
    sqlite) ;;
    *) die "AUTHLINK_TEST_BACKEND must be sqlite or postgres, not '$BACKEND'" ;;
esac
command -v curl >/dev/null || die "curl not found"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
mkdir -p "$VENV_ROOT"

# --- virtualenvs, one per client version -------------------------------------------------------
installed_version() { # venv dir -> installed composio-client version, or nothing
    "$1/bin/python" - <<'EOF' 2>/dev/null || true
import importlib.metadata as m
import pytest  # noqa: F401  (the venv must have pytest too)
print(m.version("composio-client"))
EOF
}

for version in $VERSIONS; do
    venv=$VENV_ROOT/$version
    if [[ -x $venv/bin/python && $(installed_version "$venv") == "$version" ]]; then
        log "reusing $venv"
        continue
    fi
    log "installing composio-client==$version into $venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "composio-client==$version" pytest </dev/null
    [[ $(installed_version "$venv") == "$version" ]] || die "composio-client $version did not install in $venv"
done

# --- database, server, cleanup -----------------------------------------------------------------
DB_NAME=authlink_compat_$("$PYTHON" -c 'import secrets; print(secrets.token_hex(6))')
SQLITE_DIR=
if [[ $BACKEND == sqlite ]]; then
    SQLITE_DIR=$(mktemp -d)
    DATABASE_URL=sqlite://$SQLITE_DIR/authlink.db
else
DATABASE_URL=$("$PYTHON" - "$AUTHLINK_TEST_PG" "$DB_NAME" <<'EOF'
import sys
import urllib.parse as u
parts = u.urlsplit(sys.argv[1])
print(u.urlunsplit(parts._replace(path="/" + sys.argv[2])))
EOF
)
fi
SERVER_PID=
DB_CREATED=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n $DB_CREATED ]]; then
        psql "$AUTHLINK_TEST_PG" -qAt -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $DB_NAME"
    fi
    if [[ -n $SQLITE_DIR ]]; then rm -rf "$SQLITE_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $BACKEND == postgres ]]; then
    psql "$AUTHLINK_TEST_PG" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB_NAME" >/dev/null \
        || die "cannot create a database through AUTHLINK_TEST_PG=$AUTHLINK_TEST_PG"
    DB_CREATED=1
fi
log "$BACKEND database ${SQLITE_DIR:-$DB_NAME}"

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE_URL=http://127.0.0.1:$PORT
export DATABASE_URL
export AUTHLINK_LISTEN=127.0.0.1:$PORT
export AUTHLINK_PUBLIC_URL=$BASE_URL
AUTHLINK_ENCRYPTION_KEY=$("$PYTHON" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY
export AUTHLINK_CALLBACK_ALLOWLIST=https://app.example.com/,http://127.0.0.1
# The compat tests configure no local provider or receiver, so no endpoint may be private; an
# operator's value in the environment must not widen that.
export AUTHLINK_ENDPOINT_ALLOWLIST=
export AUTHLINK_TENANT_ENDPOINTS=allowed
# The base test_session_link_url_overwrite names in experimental.link_url_overwrite.
export AUTHLINK_LINK_URL_ALLOWLIST=https://connect.example.com

"$AUTHLINK_BIN" migrate </dev/null >&2 || die "\`authlink migrate\` failed"

create_key() { # project -> prints the new key (last line of stdout)
    local out key
    out=$("$AUTHLINK_BIN" api-key create --project "$1" </dev/null) || die "\`authlink api-key create --project $1\` failed"
    key=$(printf '%s\n' "$out" | tail -n 1 | tr -d '[:space:]')
    [[ -n $key ]] || die "\`authlink api-key create --project $1\` printed no key"
    printf '%s' "$key"
}
API_KEY=$(create_key compat)
OTHER_API_KEY=$(create_key compat-other)

"$AUTHLINK_BIN" serve </dev/null >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
log "server pid $SERVER_PID on $BASE_URL (log: $SERVER_LOG)"

ready=
for _ in $(seq 80); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        break
    fi
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/readyz" || true) == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.25
done
if [[ -z $ready ]]; then
    log "server did not answer 200 on /readyz within 20 s; its log:"
    cat "$SERVER_LOG" >&2 || true
    exit 1
fi

# --- tests -------------------------------------------------------------------------------------
declare -a failed=()
for version in $VERSIONS; do
    log "pytest with composio-client $version"
    rc=0
    AUTHLINK_BASE_URL=$BASE_URL \
    AUTHLINK_API_KEY=$API_KEY \
    AUTHLINK_OTHER_API_KEY=$OTHER_API_KEY \
    COMPOSIO_CLIENT_VERSION=$version \
    PYTHONDONTWRITEBYTECODE=1 \
        "$VENV_ROOT/$version/bin/python" -m pytest -q -ra --tb=short -p no:cacheprovider \
        --rootdir "$ROOT/tests/compat" "$ROOT/tests/compat" "$@" </dev/null || rc=$?
    if [[ $rc -ne 0 ]]; then
        # Exit code 5 (no tests collected) is a failure too.
        log "composio-client $version: pytest exited with $rc"
        failed+=("$version")
    fi
done

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "the server exited during the tests; its log:"
    cat "$SERVER_LOG" >&2 || true
    exit 1
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    log "FAILED for composio-client ${failed[*]} (server log: $SERVER_LOG)"
    exit 1
fi
log "all client versions passed: $VERSIONS"
