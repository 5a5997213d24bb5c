#!/usr/bin/env bash
# Webhook delivery end to end while links are created at full speed: every link writes an
# `initiated` event in its transaction; authlink's delivery worker signs and POSTs it to a local
# receiver; the receiver notes when each arrives.
#
#   bench/webhooks.sh                  # 20 s of link creation at 16 connections
#   BENCH_SECONDS=3 bench/webhooks.sh  # smoke
#
# Prints links/s (wrk), deliveries/s end to end (first event to last delivery), the delivery lag
# (arrival minus the event's `timestamp`, i.e. its commit) at p50/p99/max, and how long the worker
# needed after wrk stopped to drain the backlog. PostgreSQL; AUTHLINK_BIN overrides the release
# build.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN="${BENCH_SECONDS:-20}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
SESSIONS=200
ADMIN="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="authlink_bench_wh_$$"
URL="${ADMIN%/*}/$DB"
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
RPORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"

cleanup() {
  for pid in ${SERVER_PID:-} ${RECEIVER_PID:-}; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  psql "$ADMIN" -qc "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash scripts/ensure-postgres.sh >/dev/null
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v node >/dev/null || { echo "node is missing" >&2; exit 1; }
if [ -z "${AUTHLINK_BIN:-}" ]; then
  echo "== building authlink (release)"
  cargo build --release --locked --bin authlink 2>&1 | tail -1
  AUTHLINK_BIN=target/release/authlink
fi

# The receiver: answers 204 at once, records each arrival's lag; GET /stats reports them.
cat > "$WORK/receiver.mjs" <<'JS'
import http from 'node:http';
const lags = []; const ids = new Set(); let first = 0, last = 0;
http.createServer((req, res) => {
  if (req.method === 'GET') {
    const s = [...lags].sort((a, b) => a - b);
    const q = (p) => s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0;
    res.end(JSON.stringify({ n: s.length, distinct: ids.size, first, last, p50: q(0.5), p99: q(0.99), max: s.at(-1) ?? 0 }));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const body = JSON.parse(Buffer.concat(chunks).toString());
    lags.push(now - Date.parse(body.timestamp)); ids.add(req.headers['webhook-id']);
    if (!first) first = Date.parse(body.timestamp);
    last = now;
    res.statusCode = 204; res.end();
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
JS
node "$WORK/receiver.mjs" "$RPORT" &
RECEIVER_PID=$!

psql "$ADMIN" -qc "create database \"$DB\""
export DATABASE_URL="$URL"
export AUTHLINK_LISTEN="127.0.0.1:$PORT" AUTHLINK_PUBLIC_URL="$BASE"
export AUTHLINK_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export AUTHLINK_DB_MAX_CONNECTIONS="${AUTHLINK_DB_MAX_CONNECTIONS:-16}" RUST_LOG=warn
export AUTHLINK_RATE_LIMIT_API_PER_KEY=0 AUTHLINK_RATE_LIMIT_API_PER_IP=0 AUTHLINK_RATE_LIMIT_FAILED_AUTH_PER_IP=0
export AUTHLINK_ENDPOINT_ALLOWLIST="http://127.0.0.1:$RPORT" AUTHLINK_WEBHOOK_POLL_MS=20
"$AUTHLINK_BIN" migrate >/dev/null
KEY="$("$AUTHLINK_BIN" api-key create --project bench | tail -1)"
"$AUTHLINK_BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
until curl -fsS "$BASE/readyz" >/dev/null 2>&1; do kill -0 "$SERVER_PID" || { cat "$WORK/server.log"; exit 1; }; sleep 0.05; done

api() { curl -fsS -X "$1" "$BASE/api/v3.1/$2" -H "x-api-key: $KEY" -H 'content-type: application/json' ${3:+-d "$3"}; }
api POST webhook_subscriptions "{\"webhook_url\":\"http://127.0.0.1:$RPORT/hook\",\"enabled_events\":[\"composio.connected_account.initiated\"]}" >/dev/null
api POST auth_configs '{"toolkit":{"slug":"github"},"auth_config":{"type":"use_custom_auth","authScheme":"OAUTH2","credentials":{"client_id":"bench","client_secret":"bench"}}}' >/dev/null
for i in $(seq 1 "$SESSIONS"); do
  api POST tool_router/session "{\"user_id\":\"user_$i\",\"toolkits\":{\"enable\":[\"github\"]}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])' >> "$WORK/sessions"
done
{ printf 'ids = {'; while read -r s; do printf '"%s",' "$s"; done < "$WORK/sessions"; printf '}\n'; cat <<LUA
n = 0
wrk.method = "POST"
wrk.body = '{"toolkit":"github"}'
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["content-type"] = "application/json"
function request() n = n + 1; return wrk.format(nil, "/api/v3.1/tool_router/session/" .. ids[(n % #ids) + 1] .. "/link") end
LUA
} > "$WORK/link.lua"

# The session setup made no events (only links do); start from a quiet outbox.
links_before="$(psql "$URL" -Atc "select count(*) from webhook_event")"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$WORK/link.lua" "$BASE" > "$WORK/wrk.out"
stopped=$(date +%s%3N)
links="$(( $(psql "$URL" -Atc "select count(*) from webhook_event") - links_before ))"
while :; do
  n="$(curl -fsS "http://127.0.0.1:$RPORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["distinct"])')"
  [ "$n" -ge "$links" ] && break
  [ $(( $(date +%s%3N) - stopped )) -gt 300000 ] && { echo "gave up: $n of $links delivered" >&2; break; }
  sleep 0.2
done
drained=$(( $(date +%s%3N) - stopped ))
curl -fsS "http://127.0.0.1:$RPORT/stats" > "$WORK/stats.json"
python3 - "$WORK/wrk.out" "$WORK/stats.json" "$links" "$drained" "$SECONDS_PER_RUN" "$CONNECTIONS" <<'PY'
import json, re, sys
wrk, stats, links, drained, secs, conns = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
span = max(1, stats["last"] - stats["first"]) / 1000
print(f"links created: {links} in {secs} s at {conns} connections ({rps:.0f}/s, wrk)")
print(f"delivered: {stats['distinct']} distinct ({stats['n']} requests); {stats['distinct'] / span:.0f} deliveries/s end to end over {span:.1f} s")
print(f"delivery lag (arrival - commit): p50 {stats['p50']} ms, p99 {stats['p99']} ms, max {stats['max']} ms")
print(f"backlog drained {drained} ms after link creation stopped")
PY
