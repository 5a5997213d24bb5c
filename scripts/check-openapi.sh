#!/usr/bin/env bash
# Validates the OpenAPI document a running authlink serves at /openapi.json with
# openapi-spec-validator (PyPI), installed into target/openapi-venv on first use.
#
# It starts the built binary on a fresh SQLite database in a temporary directory, fetches the
# document, validates it and stops the server. Runs without standard input (CI=true is fine).
#
# Environment:
#   AUTHLINK_BIN                    built binary (default target/debug/authlink, built if absent)
#   PYTHON                          interpreter for the virtualenv (default python3)
#   OPENAPI_SPEC_VALIDATOR_VERSION  version to install (default 0.9.0)
set -euo pipefail
cd "$(dirname "$0")/.."

AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
PYTHON=${PYTHON:-python3}
VERSION=${OPENAPI_SPEC_VALIDATOR_VERSION:-0.9.0}
VENV=target/openapi-venv
LOG=target/check-openapi-server.log

log() { printf 'check-openapi: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v curl >/dev/null || die "curl not found"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
if [[ ! -x $AUTHLINK_BIN ]]; then
    log "building $AUTHLINK_BIN"
    cargo build --locked --bin authlink </dev/null
fi

installed() { "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null || true; }
if [[ $(installed) != "$VERSION" ]]; then
    log "installing openapi-spec-validator==$VERSION into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$VERSION" </dev/null
    [[ $(installed) == "$VERSION" ]] || die "openapi-spec-validator $VERSION did not install in $VENV"
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export DATABASE_URL=sqlite://$WORK/authlink.db
export AUTHLINK_LISTEN=127.0.0.1:$PORT
export AUTHLINK_PUBLIC_URL=http://127.0.0.1:$PORT
AUTHLINK_ENCRYPTION_KEY=$("$PYTHON" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY

"$AUTHLINK_BIN" migrate </dev/null >&2 || die "\`authlink migrate\` failed"
"$AUTHLINK_BIN" serve </dev/null >"$LOG" 2>&1 &
SERVER_PID=$!

for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited (log: $LOG)"
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/openapi.json" -o "$WORK/openapi.json" || die "GET /openapi.json failed (log: $LOG)"

log "validating /openapi.json ($(wc -c <"$WORK/openapi.json") bytes)"
# Through the venv's python, so a venv whose folder moved (shebangs hold absolute paths) still works.
"$VENV/bin/python" -m openapi_spec_validator "$WORK/openapi.json"
