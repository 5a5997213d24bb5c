#!/usr/bin/env bash
# Link creation (and the link page) at the database's speed limit, measured side by side with the
# naive SQL transaction run by pgbench against the same database, in one run.
#
#   bench/link_create.sh                 # full run: 20 s per measurement
#   BENCH_SECONDS=3 bench/link_create.sh # smoke (CI)
#
# Prints requests/s, p50/p99 latency, non-201 count and authlink's peak RSS for 16 and 64
# connections, pgbench's TPS for the naive transaction at the same concurrency, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN="${BENCH_SECONDS:-20}"
SESSIONS="${BENCH_SESSIONS:-200}"
ADMIN="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="authlink_bench_$$"
URL="${ADMIN%/*}/$DB"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
PGBENCH="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)"

cleanup() {
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  psql "$ADMIN" -qc "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash scripts/ensure-postgres.sh >/dev/null
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq wrk >/dev/null 2>&1) || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
  else
    echo "wrk is missing: apt-get install wrk" >&2; exit 1
  fi
fi
[ -x "$PGBENCH" ] || { echo "pgbench is missing (PostgreSQL server package)" >&2; exit 1; }

echo "== building authlink (release)"
cargo build --release --locked --bin authlink 2>&1 | tail -1
BIN=target/release/authlink

psql "$ADMIN" -qc "create database \"$DB\""
export DATABASE_URL="$URL"
export AUTHLINK_LISTEN="127.0.0.1:$PORT" AUTHLINK_PUBLIC_URL="$BASE"
export AUTHLINK_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export AUTHLINK_DB_MAX_CONNECTIONS="${AUTHLINK_DB_MAX_CONNECTIONS:-16}" RUST_LOG=warn
# The bench drives thousands of requests a second from one key and one IP: rate limits off.
export AUTHLINK_RATE_LIMIT_API_PER_KEY=0 AUTHLINK_RATE_LIMIT_API_PER_IP=0 AUTHLINK_RATE_LIMIT_FAILED_AUTH_PER_IP=0 \
  AUTHLINK_RATE_LIMIT_PAGES_PER_IP=0 AUTHLINK_RATE_LIMIT_PAGES_PER_LINK=0
"$BIN" migrate >/dev/null
KEY="$("$BIN" api-key create --project bench | tail -1)"

# Start-up time to a ready /readyz, migrations already applied.
start_ns=$(date +%s%N)
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
until curl -fsS "$BASE/readyz" >/dev/null 2>&1; do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.005
done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

api() { curl -fsS -X "$1" "$BASE/api/v3.1/$2" -H "x-api-key: $KEY" -H 'content-type: application/json' ${3:+-d "$3"}; }
AC="$(api POST auth_configs '{"toolkit":{"slug":"github"},"auth_config":{"type":"use_custom_auth","authScheme":"OAUTH2","credentials":{"client_id":"bench","client_secret":"bench"}}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_config"]["id"])')"
: > "$WORK/sessions"
for i in $(seq 1 "$SESSIONS"); do
  api POST tool_router/session "{\"user_id\":\"user_$i\",\"toolkits\":{\"enable\":[\"github\"]}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])' >> "$WORK/sessions"
done
TOKENS=""
for i in $(seq 1 $(( SESSIONS < 50 ? SESSIONS : 50 ))); do
  TOKENS+="$(api POST "tool_router/session/$(sed -n "${i}p" "$WORK/sessions")/link" '{"toolkit":"github"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["link_token"])') "
done

# wrk scripts: rotate through sessions / tokens, count non-2xx per thread.
lua_ids() { printf 'ids = {'; for x in $1; do printf '"%s",' "$x"; done; printf '}\n'; }
cat > "$WORK/common.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; n = 0 end
function response(status, headers, body) if status ~= WANT then bad = bad + 1 end end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("NON_EXPECTED %d\n", total))
end
LUA
{ lua_ids "$(cat "$WORK/sessions")"; echo 'WANT = 201'; cat "$WORK/common.lua"; cat <<LUA
wrk.method = "POST"
wrk.body = '{"toolkit":"github"}'
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["content-type"] = "application/json"
function request() n = n + 1; return wrk.format(nil, "/api/v3.1/tool_router/session/" .. ids[(n % #ids) + 1] .. "/link") end
LUA
} > "$WORK/link.lua"
{ lua_ids "$TOKENS"; echo 'WANT = 200'; cat "$WORK/common.lua"; cat <<'LUA'
function request() n = n + 1; return wrk.format("GET", "/link/" .. ids[(n % #ids) + 1]) end
LUA
} > "$WORK/page.lua"

run_wrk() { # script connections -> "rps p50 p99 non_expected"
  wrk -t2 -c"$2" -d"${SECONDS_PER_RUN}s" --latency -s "$1" "$BASE" > "$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; return 1; }
  python3 - "$WORK/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", text).group(1)); p99 = ms(re.search(r"\s99%\s+(\S+)", text).group(1))
bad = int(re.search(r"NON_EXPECTED (\d+)", text).group(1))
errs = re.search(r"Socket errors: (.*)", text)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad}{' (socket errors: ' + errs.group(1) + ')' if errs else ''}")
PY
}

# The naive equivalent for pgbench: key by hash, session, BEGIN, account, link, COMMIT.
PROJECT="$(psql "$URL" -Atc "select id from project where name = 'bench'")"
KEYHASH="$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)"
psql "$URL" -qc "create table bench_session (i int primary key, id text not null)"
awk '{print NR "," $1}' "$WORK/sessions" | psql "$URL" -qc "\copy bench_session from stdin with csv"
cat > "$WORK/naive.sql" <<SQL
\set i random(1, $SESSIONS)
SELECT project_id FROM api_key WHERE key_hash = '\\x$KEYHASH'::bytea AND revoked_at IS NULL;
SELECT s.id AS sid, s.user_id, s.config FROM tool_router_session s JOIN bench_session b ON b.id = s.id WHERE b.i = :i AND s.project_id = '$PROJECT' AND s.deleted_at IS NULL \gset
BEGIN;
INSERT INTO connected_account (id, project_id, user_id, toolkit, auth_config_id, account_type, status, initiation_expires_at) VALUES ('ca_' || substr(md5(random()::text), 1, 12), '$PROJECT', :user_id, 'github', '$AC', 'PRIVATE', 'INITIATED', now() + interval '10 minutes') RETURNING id AS aid \gset
INSERT INTO link (token_hash, project_id, connected_account_id, session_id, expires_at) VALUES (sha256(random()::text::bytea), '$PROJECT', :aid, :sid, now() + interval '10 minutes');
COMMIT;
SQL
run_pgbench() { # connections -> tps
  "$PGBENCH" -n -M prepared -c "$1" -j 2 -T "$SECONDS_PER_RUN" -f "$WORK/naive.sql" "$URL" > "$WORK/pgbench.out" 2>&1 ||
    { cat "$WORK/pgbench.out" >&2; return 1; }
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.out" | head -1
}

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(psql "$ADMIN" -Atc 'show server_version' | cut -d' ' -f1) PostgreSQL; ${SECONDS_PER_RUN}s per run"
echo "start-up to /readyz (migrations applied): ${ready_ms} ms"
printf '%-34s %10s %9s %9s %9s %12s %8s\n' "measurement" "req/s" "p50 ms" "p99 ms" "non-2xx" "pgbench tps" "ratio"
for c in 16 64; do
  read -r rps p50 p99 bad <<<"$(run_wrk "$WORK/link.lua" "$c")"
  tps="$(run_pgbench "$c")"
  ratio="$(python3 -c "print(f'{$rps / $tps:.2f}')")"
  printf '%-34s %10s %9s %9s %9s %12s %8s\n' "POST …/link, $c connections" "$rps" "$p50" "$p99" "$bad" "$tps" "$ratio"
done
read -r rps p50 p99 bad <<<"$(run_wrk "$WORK/page.lua" 64)"
printf '%-34s %10s %9s %9s %9s %12s %8s\n' "GET /link/{token}, 64 connections" "$rps" "$p50" "$p99" "$bad" "-" "-"
peak_kib="$(awk '/VmHWM/{print $2}' "/proc/$SERVER_PID/status")"
echo "authlink peak RSS: $((peak_kib / 1024)) MiB"
