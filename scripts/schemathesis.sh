#!/usr/bin/env bash
# Schemathesis (PyPI) against a fresh authlink's /openapi.json, every check on (issue 17 item 4).
#
#   bash scripts/schemathesis.sh [sqlite|postgres] [long|ci|<max-examples per operation>]
#
# `long` (the default): up to 100 examples per operation, at most 15 minutes (ST_MAX_TIME).
# `ci` (what scripts/test.sh runs per store): up to 25 examples per operation from a fixed seed
# (ST_SEED, default 17, so a run tests what the last one did and a failure reproduces), at
# most 150 s, and the run fails unless it sent at least 2,000 requests (ST_MIN_REQUESTS), so a
# starved machine cannot pass by testing little. The `long` mode draws a new seed each run.
#
# Starts the built binary on a fresh database (SQLite in a temporary directory, or a PostgreSQL
# database `authlink_st_<random>` on AUTHLINK_TEST_PG, dropped afterwards) with rate limits off,
# runs `st run --checks all` with the bootstrap key, prints the number of generated requests and
# fails on any failure. Installs schemathesis (pinned) into target/schemathesis-venv on first use.
#
# scripts/schemathesis-hooks.py teaches the generator what a schema cannot say (authlink's opaque
# cursor formats, image bytes, a fresh Idempotency-Key per request, room under the 20-subscription
# cap); scripts/schemathesis.toml lists the only per-operation overrides, each with why it cannot
# be otherwise (the OAuth callback's state, the operations refused by design, MCP's Accept header).
# The server's log, schemathesis's output and its NDJSON report are kept in
# target/schemathesis/<backend>/ for the next look.
#
# Environment: AUTHLINK_BIN (default target/debug/authlink), SCHEMATHESIS_VERSION (default 4.32.5),
# AUTHLINK_TEST_PG (default postgres://postgres@127.0.0.1:5432/postgres), ST_MAX_TIME (seconds),
# ST_MIN_REQUESTS.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${1:-sqlite}
MODE=${2:-long}
case $MODE in
    long) EXAMPLES=100 MAX_TIME=${ST_MAX_TIME:-900} MIN_REQUESTS=${ST_MIN_REQUESTS:-0} ;;
    ci) EXAMPLES=25 MAX_TIME=${ST_MAX_TIME:-150} MIN_REQUESTS=${ST_MIN_REQUESTS:-2000} SEED=${ST_SEED:-17} ;;
    *[!0-9]* | '') echo "schemathesis: the second argument is long, ci or a number of examples" >&2; exit 2 ;;
    *) EXAMPLES=$MODE MAX_TIME=${ST_MAX_TIME:-110} MIN_REQUESTS=${ST_MIN_REQUESTS:-0} ;;
esac
AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
VENV=target/schemathesis-venv
log() { printf 'schemathesis[%s]: %s\n' "$BACKEND" "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ ! -x $AUTHLINK_BIN ]]; then cargo build --locked --bin authlink </dev/null; fi
installed() { "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true; }
if [[ $(installed) != "$VERSION" ]]; then
    log "installing schemathesis==$VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" </dev/null
fi

WORK=$(mktemp -d)
PID=
DBNAME=
cleanup() {
    local rc=$?
    [[ -n $PID ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    [[ -n $DBNAME ]] && psql "$PG" -qc "drop database if exists \"$DBNAME\" with (force)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
KEY=ak_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
case $BACKEND in
    sqlite) export DATABASE_URL=sqlite://$WORK/authlink.db ;;
    postgres)
        DBNAME=authlink_st_$(python3 -c 'import secrets; print(secrets.token_hex(4))')
        psql "$PG" -qc "create database \"$DBNAME\"" >/dev/null || die "cannot create $DBNAME on $PG"
        export DATABASE_URL=${PG%/*}/$DBNAME ;;
    *) die "backend must be sqlite or postgres" ;;
esac
export AUTHLINK_LISTEN=127.0.0.1:$PORT AUTHLINK_PUBLIC_URL=http://127.0.0.1:$PORT AUTHLINK_BOOTSTRAP_API_KEY=$KEY
export AUTHLINK_CALLBACK_ALLOWLIST=https://app.example.com
AUTHLINK_ENCRYPTION_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY
for v in API_PER_KEY API_PER_IP PAGES_PER_IP PAGES_PER_LINK FAILED_AUTH_PER_IP; do export "AUTHLINK_RATE_LIMIT_$v=0"; done
"$AUTHLINK_BIN" serve </dev/null >"$WORK/authlink.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# One worker: with two, hypothesis (called by schemathesis) parses lambda sources with
# `ast.parse` on both threads at once, which CPython 3.11 before 3.11.8 does not survive
# ("SystemError: AST constructor recursion depth mismatch", CPython issue 106905): an error in
# the tool, reported as a failed run. One worker still sends thousands of requests per pass.
# Two passes, each with half the time: the `/api/v3` routes, then everything else (`/api/v3.1`,
# pages, MCP). They are one set of resources under two prefixes, and schemathesis's stateful
# phase cannot tell: it deletes a subscription through one prefix, reads it through the other and
# calls the 404 a created resource that vanished (ST302). A client speaks one version; so does
# each pass, and each still runs every phase and check on its operations.
log "st run --checks all, up to $EXAMPLES examples per operation, at most ${MAX_TIME}s in two passes"
KEEP=$PWD/target/schemathesis/$BACKEND
rm -rf "$KEEP" && mkdir -p "$KEEP"
started=$(date +%s)
rc=0
for pass in v3 rest; do
    case $pass in
        v3) select=(--include-path-regex '^/api/v3/') ;;
        rest) select=(--exclude-path-regex '^/api/v3/') ;;
    esac
    log "pass $pass (${select[*]})"
    set +e
    # From the work directory: schemathesis writes its cache (.schemathesis/) where it runs.
    (cd "$WORK" && AUTHLINK_ST_BASE_URL="http://127.0.0.1:$PORT" AUTHLINK_ST_API_KEY="$KEY" SCHEMATHESIS_HOOKS="$OLDPWD/scripts/schemathesis-hooks.py" "$OLDPWD/$VENV/bin/st" \
        --config-file "$OLDPWD/scripts/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" --checks all -H "x-api-key: $KEY" \
        "${select[@]}" --generation-with-security-parameters false --max-examples "$EXAMPLES" --workers 1 --max-time "$((MAX_TIME / 2))" \
        --request-timeout 10 --report ndjson --report-dir "$WORK/report-$pass" --no-color ${SEED:+--seed "$SEED"} </dev/null) | tee "$WORK/st-$pass.out"
    pass_rc=${PIPESTATUS[0]}
    set -e
    ((pass_rc == 0)) || rc=$pass_rc
done
took=$(($(date +%s) - started))
requests=$(cat "$WORK"/report-*/*.ndjson 2>/dev/null | grep -o '"request":' | wc -l || true)
cp -r "$WORK"/st-*.out "$WORK/authlink.log" "$WORK"/report-* "$KEEP/" 2>/dev/null || true
# The run must not have locked itself out (a stateful DELETE of the key it uses, say).
curl -fsS -o /dev/null -H "x-api-key: $KEY" "http://127.0.0.1:$PORT/api/v3.1/api_keys" || log "the API key stopped working during the run"
grep -q '"status":5[0-9][0-9]\|status=5[0-9][0-9]' "$WORK/authlink.log" && log "the server logged 5xx answers (see $KEEP/authlink.log)"
log "generated requests: $requests in ${took}s; exit code $rc (output in $KEEP)"
[[ $rc == 0 ]] || die "schemathesis reported failures"
((requests >= MIN_REQUESTS)) || die "only $requests requests were generated (at least $MIN_REQUESTS needed): the machine is too loaded, or ST_MAX_TIME too short"
