#!/usr/bin/env bash
# Scrapes a running authlink with Debian's real Prometheus server and reads the figures back
# through Prometheus's HTTP API (issue 17 item 3).
#
# Starts the built binary on a fresh SQLite database with AUTHLINK_METRICS_TOKEN set, sends some
# traffic (sessions, links, a 404), starts `prometheus` as a plain process (temporary config and
# storage, 1 s scrape interval, the bearer token) and queries it until the scraped series are
# there. Fails unless Prometheus saw the target up, the requests by route and status, the latency
# histogram, the pool gauges and the links created. Installs `prometheus` with apt-get when missing.
#
# Environment: AUTHLINK_BIN (default target/debug/authlink, built if absent), PROMETHEUS (default
# prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."

AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
PROMETHEUS=${PROMETHEUS:-prometheus}
log() { printf 'metrics-prometheus: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found"
if ! command -v "$PROMETHEUS" >/dev/null; then
    log "installing prometheus (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus </dev/null >&2 \
        || die "prometheus is not installed and apt-get could not install it"
fi
if [[ ! -x $AUTHLINK_BIN ]]; then
    cargo build --locked --bin authlink </dev/null
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
PROM_PORT=$(free_port)
TOKEN=scrape-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
KEY=ak_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
BASE=http://127.0.0.1:$PORT

export DATABASE_URL=sqlite://$WORK/authlink.db AUTHLINK_LISTEN=127.0.0.1:$PORT AUTHLINK_PUBLIC_URL=$BASE
export AUTHLINK_METRICS_TOKEN=$TOKEN AUTHLINK_BOOTSTRAP_API_KEY=$KEY
AUTHLINK_ENCRYPTION_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY
"$AUTHLINK_BIN" serve </dev/null >"$WORK/authlink.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$BASE/healthz" >/dev/null || die "authlink did not start: $(tail -5 "$WORK/authlink.log")"

[[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/metrics") == 401 ]] || die "/metrics answered without the token"

api() { curl -sS -o /dev/null -w '%{http_code}\n' -H "x-api-key: $KEY" -H 'content-type: application/json' "$@"; }
api -X POST "$BASE/api/v3.1/auth_configs" -d '{"toolkit":{"slug":"github"},"auth_config":{"type":"use_custom_auth","authScheme":"OAUTH2","name":"gh","credentials":{"client_id":"c","client_secret":"s"}}}' >/dev/null
for i in $(seq 20); do
    sid=$(curl -fsS -H "x-api-key: $KEY" -H 'content-type: application/json' -X POST "$BASE/api/v3.1/tool_router/session" \
        -d "{\"user_id\":\"user-$i\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["session_id"])')
    api -X POST "$BASE/api/v3.1/tool_router/session/$sid/link" -d '{"toolkit":"github"}' >/dev/null
done
api "$BASE/api/v3.1/connected_accounts/ca_AAAAAAAAAAAA" >/dev/null

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: authlink
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials: $TOKEN
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
YAML
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM=http://127.0.0.1:$PROM_PORT

query() { curl -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1"; }
# The first value of a query's result vector, or nothing.
value() { query "$1" | python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'; }

log "waiting for Prometheus to scrape $BASE/metrics"
up=
for _ in $(seq 60); do
    up=$(value 'up{job="authlink"}' 2>/dev/null || true)
    [[ $up == 1 && -n $(value 'authlink_links_created_total' 2>/dev/null || true) ]] && break
    sleep 1
done
[[ $up == 1 ]] || die "Prometheus never saw the target up: $(tail -5 "$WORK/prometheus.log")"

fail=0
check() { # name, query, minimum
    local v
    v=$(value "$2")
    printf '%-58s %s\n' "$1" "${v:-<none>}"
    if [[ -z $v ]] || ! python3 -c "import sys; sys.exit(0 if float('$v') >= $3 else 1)"; then
        log "FAIL: $1 ($2) = ${v:-<none>}, expected >= $3"; fail=1
    fi
}
check "up" 'up{job="authlink"}' 1
check "sessions created (POST .../tool_router/session 201)" 'sum(authlink_http_requests_total{route="/api/v3.1/tool_router/session",status="201"})' 20
check "links created (http, 201)" 'sum(authlink_http_requests_total{route="/api/v3.1/tool_router/session/{session_id}/link",status="201"})' 20
check "404s by route" 'sum(authlink_http_requests_total{route="/api/v3.1/connected_accounts/{id}",status="404"})' 1
check "links created (github)" 'authlink_links_created_total{toolkit="github"}' 20
check "link-create p99 latency (s, from the histogram)" 'histogram_quantile(0.99, sum by (le) (authlink_http_request_duration_seconds_bucket{route="/api/v3.1/tool_router/session/{session_id}/link"}))' 0
check "pool max connections" 'authlink_db_pool_max_connections' 1
check "pool idle connections" 'authlink_db_pool_connections{state="idle"}' 0
check "pool in-use connections" 'authlink_db_pool_connections{state="in_use"}' 0
[[ $fail == 0 ]] || die "Prometheus did not get every figure"
log "ok: Prometheus scraped authlink and answered every query"
