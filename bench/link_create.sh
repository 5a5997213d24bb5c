#!/usr/bin/env bash
# authlink's hot paths on both stores, each figure printed next to its reference measured in the
# same run (docs/performance.md):
#
#   bench/link_create.sh                                  # full run: 20 s per measurement
#   BENCH_SECONDS=2 BENCH_SESSIONS=20 bench/link_create.sh  # smoke (CI)
#
# PostgreSQL: link creation at 16 and 64 connections against pgbench's naive transaction; the
# physical limit (a one-row commit loop); open-loop latency with oha at 50 % and 80 % of the
# peak; the read path (GET connected_accounts/{id} of ACTIVE accounts with sealed tokens), the
# link page and session creation against their naive SQL. SQLite: link creation at 16
# connections against the same transaction in a loop through Python's sqlite3 (same PRAGMAs),
# and its one-row commit loop. Footprint: peak RSS, start to /readyz, binary size; the CPU split
# during the 64-connection link run. Counts every non-2xx answer.
#
# oha (crates.io) is installed into target/oha when missing, except on a smoke run (BENCH_SECONDS
# below 5), which then skips the open-loop figures. BENCH_OPEN_LOOP=0 skips them always;
# BENCH_BIN=path uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN="${BENCH_SECONDS:-20}"
SESSIONS="${BENCH_SESSIONS:-200}"
ACCOUNTS=50
ADMIN="${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
DB="authlink_bench_$$"
URL="${ADMIN%/*}/$DB"
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
LITE_PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
LITE_BASE="http://127.0.0.1:$LITE_PORT"
PGBENCH="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)"
OHA="$(command -v oha || echo "$PWD/target/oha/bin/oha")"

cleanup() {
  for pid in ${SERVER_PID:-} ${LITE_PID:-}; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
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
OPEN_LOOP="${BENCH_OPEN_LOOP:-1}"
if [ "$OPEN_LOOP" = 1 ] && [ ! -x "$OHA" ]; then
  if [ "$SECONDS_PER_RUN" -lt 5 ]; then
    echo "oha is missing: the smoke skips the open-loop figures (a full run installs it)"; OPEN_LOOP=0
  else
    echo "installing oha (crates.io) into target/oha"
    CARGO_TARGET_DIR="$PWD/target/oha-build" cargo install oha --locked --root "$PWD/target/oha" >/dev/null 2>&1
  fi
fi

if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"  # a binary already built (checking the script with a debug build)
else
  echo "== building authlink (release)"
  cargo build --release --locked --bin authlink 2>&1 | tail -1
  BIN=target/release/authlink
fi

export AUTHLINK_PUBLIC_URL="$BASE"
ENC_KEY="$(head -c 32 /dev/urandom | base64)"
export AUTHLINK_ENCRYPTION_KEY="$ENC_KEY"
export AUTHLINK_DB_MAX_CONNECTIONS="${AUTHLINK_DB_MAX_CONNECTIONS:-16}" RUST_LOG=warn
# The bench drives thousands of requests a second from one key and one IP: rate limits off.
export AUTHLINK_RATE_LIMIT_API_PER_KEY=0 AUTHLINK_RATE_LIMIT_API_PER_IP=0 AUTHLINK_RATE_LIMIT_FAILED_AUTH_PER_IP=0 \
  AUTHLINK_RATE_LIMIT_PAGES_PER_IP=0 AUTHLINK_RATE_LIMIT_PAGES_PER_LINK=0

# start_server DATABASE_URL PORT LOG -> sets STARTED_PID and READY_MS
start_server() {
  local start_ns
  DATABASE_URL="$1" "$BIN" migrate >/dev/null
  start_ns=$(date +%s%N)
  DATABASE_URL="$1" AUTHLINK_LISTEN="127.0.0.1:$2" AUTHLINK_PUBLIC_URL="http://127.0.0.1:$2" "$BIN" serve >"$3" 2>&1 &
  STARTED_PID=$!
  until curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    kill -0 "$STARTED_PID" 2>/dev/null || { cat "$3"; exit 1; }
    sleep 0.002
  done
  READY_MS=$(( ($(date +%s%N) - start_ns) / 1000000 ))
}

psql "$ADMIN" -qc "create database \"$DB\""
DATABASE_URL="$URL" "$BIN" migrate >/dev/null
KEY="$(DATABASE_URL="$URL" "$BIN" api-key create --project bench | tail -1)"
start_server "$URL" "$PORT" "$WORK/server.log"
SERVER_PID=$STARTED_PID; ready_ms=$READY_MS

# setup BASE KEY DIR: an auth config, $SESSIONS sessions, 50 link tokens (DIR/sessions, DIR/tokens).
setup() {
  local base="$1" key="$2" dir="$3" ac i
  mkdir -p "$dir"
  api() { curl -fsS -X "$1" "$base/api/v3.1/$2" -H "x-api-key: $key" -H 'content-type: application/json' ${3:+-d "$3"}; }
  ac="$(api POST auth_configs '{"toolkit":{"slug":"github"},"auth_config":{"type":"use_custom_auth","authScheme":"OAUTH2","credentials":{"client_id":"bench","client_secret":"bench"}}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_config"]["id"])')"
  echo "$ac" > "$dir/ac"
  : > "$dir/sessions"; : > "$dir/links"
  for i in $(seq 1 "$SESSIONS"); do
    api POST tool_router/session "{\"user_id\":\"user_$i\",\"toolkits\":{\"enable\":[\"github\"]}}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["session_id"])' >> "$dir/sessions"
  done
  for i in $(seq 1 "$ACCOUNTS"); do
    api POST "tool_router/session/$(sed -n "$(( (i - 1) % SESSIONS + 1 ))p" "$dir/sessions")/link" '{"toolkit":"github"}' |
      python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["link_token"], b["connected_account_id"])' >> "$dir/links"
  done
  cut -d' ' -f1 "$dir/links" > "$dir/tokens"
}
setup "$BASE" "$KEY" "$WORK/pg"
AC="$(cat "$WORK/pg/ac")"

# ACTIVE accounts with sealed tokens for the read path: 50 more links, completed in SQL with a
# token set sealed as authlink seals it (AES-256-GCM, the account id as associated data).
for i in $(seq 1 "$ACCOUNTS"); do
  curl -fsS -X POST "$BASE/api/v3.1/tool_router/session/$(sed -n "$(( (i - 1) % SESSIONS + 1 ))p" "$WORK/pg/sessions")/link" \
    -H "x-api-key: $KEY" -H 'content-type: application/json' -d '{"toolkit":"github"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["connected_account_id"])' >> "$WORK/pg/active"
done
seal_sql() { # file of account ids -> SQL updating them to ACTIVE with sealed tokens
  python3 - "$1" "$ENC_KEY" <<'PY'
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = base64.b64decode(sys.argv[2]); kid = hashlib.sha256(key).hexdigest()[:8]
tokens = json.dumps({"access_token": "gho_bench_access_token_0123456789", "refresh_token": "ghr_bench_refresh",
                     "scope": "repo,user", "token_type": "bearer"}).encode()
for line in open(sys.argv[1]):
    ca = line.strip(); nonce = os.urandom(12)
    sealed = "v1.%s.%s" % (kid, base64.b64encode(nonce + AESGCM(key).encrypt(nonce, tokens, ca.encode())).decode())
    print(f"update connected_account set status = 'ACTIVE', tokens_sealed = '{sealed}', link_url_sealed = null "
          f"where id = '{ca}';")
PY
}
seal_sql "$WORK/pg/active" | psql "$URL" -q

# wrk scripts: rotate through ids, count answers other than the expected status.
lua_ids() { printf 'ids = {'; while read -r x; do printf '"%s",' "$x"; done < "$1"; printf '}\n'; }
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
write_lua() { # name ids-file want key method path-prefix path-suffix body
  { lua_ids "$2"; echo "WANT = $3"; cat "$WORK/common.lua"; cat <<LUA
wrk.method = "$5"
wrk.body = '$8'
wrk.headers["x-api-key"] = "$4"
wrk.headers["content-type"] = "application/json"
function request() n = n + 1; return wrk.format(nil, "$6" .. ids[(n % #ids) + 1] .. "$7") end
LUA
  } > "$WORK/$1.lua"
}
write_lua link "$WORK/pg/sessions" 201 "$KEY" POST /api/v3.1/tool_router/session/ /link '{"toolkit":"github"}'
write_lua page "$WORK/pg/tokens" 200 "$KEY" GET /link/ "" ""
write_lua read "$WORK/pg/active" 200 "$KEY" GET /api/v3.1/connected_accounts/ "" ""
seq 1 "$SESSIONS" | sed 's/^/bench_user_/' > "$WORK/users"
{ lua_ids "$WORK/users"; echo "WANT = 201"; cat "$WORK/common.lua"; cat <<LUA
wrk.method = "POST"
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["content-type"] = "application/json"
function request() n = n + 1
  return wrk.format(nil, "/api/v3.1/tool_router/session", nil, '{"user_id":"' .. ids[(n % #ids) + 1] .. '","toolkits":{"enable":["github"]}}')
end
LUA
} > "$WORK/session.lua"

run_wrk() { # base script connections -> "rps p50 p99 non_expected"
  wrk -t2 -c"$3" -d"${SECONDS_PER_RUN}s" --latency -s "$2" "$1" > "$WORK/wrk.out" 2>&1 || { cat "$WORK/wrk.out" >&2; return 1; }
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
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad}{'(socket:' + errs.group(1).replace(' ', '') + ')' if errs else ''}")
PY
}

# The naive SQL for pgbench, the same rows authlink writes or reads, one statement per step.
PROJECT="$(psql "$URL" -Atc "select id from project where name = 'bench'")"
KEYHASH="$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)"
psql "$URL" -q <<SQL
create table bench_session (i int primary key, id text not null);
create table bench_account (i int primary key, id text not null);
create table bench_link (i int primary key, token_hash bytea not null);
create table bench_commit (i bigserial primary key, v int not null);
SQL
awk '{print NR "," $1}' "$WORK/pg/sessions" | psql "$URL" -qc "\copy bench_session from stdin with csv"
awk '{print NR "," $1}' "$WORK/pg/active" | psql "$URL" -qc "\copy bench_account from stdin with csv"
psql "$URL" -qc "insert into bench_link select row_number() over (), token_hash from (select token_hash from link where not reconnect limit $ACCOUNTS) l"
KEYSQL="SELECT project_id FROM api_key WHERE key_hash = '\\x$KEYHASH'::bytea AND revoked_at IS NULL;"
cat > "$WORK/naive_link.sql" <<SQL
\set i random(1, $SESSIONS)
$KEYSQL
SELECT s.id AS sid, s.user_id, s.config FROM tool_router_session s JOIN bench_session b ON b.id = s.id WHERE b.i = :i AND s.project_id = '$PROJECT' AND s.deleted_at IS NULL \gset
BEGIN;
INSERT INTO connected_account (id, project_id, user_id, toolkit, auth_config_id, account_type, status, initiation_expires_at) VALUES ('ca_' || substr(md5(random()::text), 1, 12), '$PROJECT', :user_id, 'github', '$AC', 'PRIVATE', 'INITIATED', now() + interval '10 minutes') RETURNING id AS aid \gset
INSERT INTO link (token_hash, project_id, connected_account_id, session_id, expires_at) VALUES (sha256(random()::text::bytea), '$PROJECT', :aid, :sid, now() + interval '10 minutes');
COMMIT;
SQL
cat > "$WORK/naive_read.sql" <<SQL
\set i random(1, $ACCOUNTS)
$KEYSQL
SELECT a.*, c.* FROM connected_account a JOIN auth_config c ON c.id = a.auth_config_id JOIN bench_account b ON b.id = a.id WHERE b.i = :i AND a.project_id = '$PROJECT' AND a.deleted_at IS NULL;
SQL
cat > "$WORK/naive_page.sql" <<SQL
\set i random(1, $ACCOUNTS)
SELECT l.*, a.*, c.* FROM bench_link b JOIN link l ON l.token_hash = b.token_hash JOIN connected_account a ON a.id = l.connected_account_id JOIN auth_config c ON c.id = a.auth_config_id WHERE b.i = :i;
SQL
cat > "$WORK/naive_session.sql" <<SQL
$KEYSQL
INSERT INTO tool_router_session (id, project_id, user_id, config, config_version, created_at, updated_at) VALUES ('trs_' || substr(md5(random()::text), 1, 12), '$PROJECT', 'naive_user', '{"toolkits":{"enable":["github"]}}', 1, now(), now());
SQL
echo 'INSERT INTO bench_commit (v) VALUES (1);' > "$WORK/commit.sql"
run_pgbench() { # script connections -> tps
  local tps
  # A pgbench that fails (e.g. a server out of connections, shared with others) gives no
  # reference: said on stderr, the row then has n/a and no verdict; the run goes on.
  "$PGBENCH" -n -M prepared -c "$2" -j 2 -T "$SECONDS_PER_RUN" -f "$1" "$URL" > "$WORK/pgbench.out" 2>&1 || true
  tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/pgbench.out" | head -1)"
  if [ -z "$tps" ]; then  # e.g. clients refused by a server out of connections: say so, go on
    echo "pgbench gave no tps ($1, $2 connections): $(grep -m1 -iE 'error|abort|fatal' "$WORK/pgbench.out")" >&2
    echo n/a; return 0
  fi
  printf '%.0f\n' "$tps"
}

# CPU seconds so far of authlink, the PostgreSQL backends of the bench database and wrk, and of the whole machine.
cpu() {
  python3 - "$SERVER_PID" "$DB" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK"); sums = {"authlink": 0, "postgres": 0, "load": 0}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try: stat = open(f"/proc/{pid}/stat").read()
    except OSError: continue
    comm = stat[stat.index("(") + 1:stat.rindex(")")]; f = stat[stat.rindex(")") + 2:].split()
    t = (int(f[11]) + int(f[12])) / tick
    try: ours = sys.argv[2].encode() in open(f"/proc/{pid}/cmdline", "rb").read()  # backends of the bench's database
    except OSError: ours = False
    key = "authlink" if pid == sys.argv[1] else "postgres" if comm == "postgres" and ours else "load" if comm == "wrk" else None
    if key: sums[key] += t
cpu = open("/proc/stat").readline().split()[1:]
total = sum(map(int, cpu)) / tick; idle = (int(cpu[3]) + int(cpu[4])) / tick
print(sums["authlink"], sums["postgres"], sums["load"], total - idle, total)
PY
}
cpu_split() { # before after req/s -> "authlink x cores, PostgreSQL y, …; CPU per request"
  python3 -c "
b = list(map(float, '$1'.split())); a = list(map(float, '$2'.split())); wall = (a[4] - b[4]) / $(nproc)
d = [(x - y) / wall for x, y in zip(a, b)]; rps = float('$3'.split('(')[0] or 0) or 1
print(f'authlink {d[0]:.2f} cores, PostgreSQL {d[1]:.2f}, load generator {d[2]:.2f}, machine busy {100 * d[3] / $(nproc):.0f} % of $(nproc) cores;'
      f' CPU per request (less noisy than req/s on a shared machine): authlink {1e6 * d[0] / rps:.0f} µs, PostgreSQL {1e6 * d[1] / rps:.0f} µs')"
}

row() { printf '%-44s %9s %8s %8s %8s %12s %7s  %s\n' "$@"; }
ratio() { if [ "$2" = n/a ]; then echo n/a; else python3 -c "print(f'{$1 / $2:.2f}')"; fi; }
# check "label" VALUE OP LIMIT [VALUE OP LIMIT ...] -> "label: met" or "label: MISSED", each
# figure against its target of issue 18 (non-2xx must be 0 on every row).
check() {
  local label="$1"; shift
  python3 - "$label" "$@" <<'PY'
import sys
label, rest = sys.argv[1], sys.argv[2:]
ops = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}
ok, known = True, True
for i in range(0, len(rest), 3):
    try: ok = ok and ops[rest[i + 1]](float(rest[i].split("(")[0]), float(rest[i + 2]))
    except ValueError: known = False  # n/a: no reference measured, no verdict
print(f"{label}: {('met' if ok else 'MISSED') if known else 'no verdict (no reference measured)'}")
PY
}
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "PostgreSQL $(psql "$ADMIN" -Atc 'show server_version' | cut -d' ' -f1) (synchronous_commit $(psql "$ADMIN" -Atc 'show synchronous_commit'));" \
  "${SECONDS_PER_RUN}s per run"
echo
echo "== PostgreSQL"
row "measurement" "req/s" "p50 ms" "p99 ms" "non-2xx" "naive tps" "ratio" "target"
peak=0
for c in 16 64; do
  if [ "$c" = 64 ]; then  # CPU sampled inside the run (processes that end take their counts along)
    (sleep 0.5; cpu > "$WORK/cpu.before"; sleep "$(python3 -c "print(max($SECONDS_PER_RUN - 1.2, 0.3))")"; cpu > "$WORK/cpu.after") &
    sampler=$!
  fi
  read -r rps p50 p99 bad <<<"$(run_wrk "$BASE" "$WORK/link.lua" "$c")"
  if [ "$c" = 64 ]; then wait "$sampler"; cpu_split_64="$(cpu_split "$(cat "$WORK/cpu.before")" "$(cat "$WORK/cpu.after")" "$rps")"; fi
  tps="$(run_pgbench "$WORK/naive_link.sql" "$c")"
  r="$(ratio "$rps" "$tps")"
  row "POST …/link, $c connections" "$rps" "$p50" "$p99" "$bad" "$tps" "$r" "$(check "ratio >= 1.5, all 201" "$r" ">=" 1.5 "$bad" == 0)"
  peak=$(( rps > peak ? rps : peak ))
done
# Fresh statistics for the naive reads (the link runs grew the tables a hundredfold).
psql "$URL" -qc analyze
read -r rps p50 p99 bad <<<"$(run_wrk "$BASE" "$WORK/read.lua" 64)"
tps="$(run_pgbench "$WORK/naive_read.sql" 64)"
r="$(ratio "$rps" "$tps")"
row "GET connected_accounts/{id} (ACTIVE), 64 c." "$rps" "$p50" "$p99" "$bad" "$tps" "$r" "$(check "ratio >= 1.5, all 200" "$r" ">=" 1.5 "$bad" == 0)"
read -r rps p50 p99 bad <<<"$(run_wrk "$BASE" "$WORK/page.lua" 64)"
tps="$(run_pgbench "$WORK/naive_page.sql" 64)"
row "GET /link/{token}, 64 connections" "$rps" "$p50" "$p99" "$bad" "$tps" "$(ratio "$rps" "$tps")" "reported; $(check "all 200" "$bad" == 0)"
read -r rps p50 p99 bad <<<"$(run_wrk "$BASE" "$WORK/session.lua" 64)"
tps="$(run_pgbench "$WORK/naive_session.sql" 64)"
row "POST tool_router/session, 64 connections" "$rps" "$p50" "$p99" "$bad" "$tps" "$(ratio "$rps" "$tps")" "reported; $(check "all 201" "$bad" == 0)"
for c in 1 16; do
  row "physical limit: one-row commit, $c conn." "-" "-" "-" "-" "$(run_pgbench "$WORK/commit.sql" "$c")" "-" "reference"
done
echo "CPU during POST …/link at 64 connections: $cpu_split_64"

if [ "$OPEN_LOOP" = 1 ]; then
  echo
  echo "== PostgreSQL, open loop (oha -q RATE --latency-correction, 64 connections, one session; peak $peak req/s)"
  printf '%-30s %9s %9s %9s %10s %8s  %s\n' "rate" "req/s" "p50 ms" "p99 ms" "p99.9 ms" "non-2xx" "target"
  for pct in 50 80; do
    rate=$(( peak * pct / 100 ))
    "$OHA" -z "${SECONDS_PER_RUN}s" -q "$rate" --latency-correction -c 64 --no-tui --output-format json \
      -m POST -H "x-api-key: $KEY" -T application/json -d '{"toolkit":"github"}' \
      "$BASE/api/v3.1/tool_router/session/$(head -1 "$WORK/pg/sessions")/link" > "$WORK/oha.json" 2>"$WORK/oha.err" ||
      { cat "$WORK/oha.err" >&2; exit 1; }
    python3 - "$WORK/oha.json" "$pct" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = r["latencyPercentiles"]; codes = r.get("statusCodeDistribution", {})
limit = {"50": 10, "80": 25}[sys.argv[2]]  # issue 18: p99 at most 10 ms at 50 % of peak, 25 ms at 80 %
# Requests still in flight when the time is up are cut off by oha: not failures of authlink.
errors = {e: n for e, n in r.get("errorDistribution", {}).items() if e != "aborted due to deadline"}
bad = sum(n for code, n in codes.items() if not code.startswith("2")) + sum(errors.values())
print(f"{sys.argv[2] + ' % of peak (' + sys.argv[3] + '/s)':<30} {r['summary']['requestsPerSec']:9.0f} "
      f"{p['p50'] * 1000:9.2f} {p['p99'] * 1000:9.2f} {p['p99.9'] * 1000:10.2f} {bad:8d}"
      + f"  p99 <= {limit} ms, all 201: {'met' if p['p99'] * 1000 <= limit and not bad else 'MISSED'}"
      + (f"  (statuses {codes}, errors {errors})" if bad else ""))
PY
  done
fi

# SQLite: the same service on one file, then the same transaction in a Python loop on it.
echo
echo "== SQLite (WAL, synchronous=FULL)"
LITE_FILE="$WORK/lite/authlink.db"
mkdir -p "$WORK/lite"
LITE_URL="sqlite://$LITE_FILE"
DATABASE_URL="$LITE_URL" "$BIN" migrate >/dev/null
LITE_KEY="$(DATABASE_URL="$LITE_URL" "$BIN" api-key create --project bench | tail -1)"
start_server "$LITE_URL" "$LITE_PORT" "$WORK/lite.log"
LITE_PID=$STARTED_PID; lite_ready_ms=$READY_MS
setup "$LITE_BASE" "$LITE_KEY" "$WORK/lite"
write_lua lite_link "$WORK/lite/sessions" 201 "$LITE_KEY" POST /api/v3.1/tool_router/session/ /link '{"toolkit":"github"}'
row "measurement" "req/s" "p50 ms" "p99 ms" "non-2xx" "naive tps" "ratio" "target"
read -r rps p50 p99 bad <<<"$(run_wrk "$LITE_BASE" "$WORK/lite_link.lua" 16)"
read -r naive commit <<<"$(python3 - "$LITE_FILE" "$LITE_KEY" "$(cat "$WORK/lite/ac")" "$SECONDS_PER_RUN" <<'PY'
import hashlib, os, sqlite3, sys, time
from datetime import datetime, timedelta, timezone
path, key, ac, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
db = sqlite3.connect(path, isolation_level=None)
for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000"):
    db.execute("PRAGMA " + pragma)
ts = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
sessions = [r[0] for r in db.execute("select id from tool_router_session")]
key_hash = hashlib.sha256(key.encode()).digest()
def link(i):
    db.execute("BEGIN IMMEDIATE")
    (project,) = db.execute("select project_id from api_key where key_hash = ? and revoked_at is null", (key_hash,)).fetchone()
    sid, user, _ = db.execute("select id, user_id, config from tool_router_session where project_id = ? and id = ? and deleted_at is null",
                              (project, sessions[i % len(sessions)])).fetchone()
    now = datetime.now(timezone.utc); exp = ts(now + timedelta(minutes=10)); ca = "ca_" + os.urandom(6).hex()
    db.execute("insert into connected_account (id, project_id, user_id, toolkit, auth_config_id, account_type, status,"
               " initiation_expires_at, created_at, updated_at) values (?, ?, ?, 'github', ?, 'PRIVATE', 'INITIATED', ?, ?, ?)",
               (ca, project, user, ac, exp, ts(now), ts(now)))
    db.execute("insert into link (token_hash, project_id, connected_account_id, session_id, expires_at, created_at)"
               " values (?, ?, ?, ?, ?, ?)", (os.urandom(32), project, ca, sid, exp, ts(now)))
    db.execute("COMMIT")
def commit(i):
    db.execute("BEGIN IMMEDIATE"); db.execute("insert into bench_commit (v) values (1)"); db.execute("COMMIT")
db.execute("create table if not exists bench_commit (i integer primary key, v int not null)")
for work in (link, commit):
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        work(n); n += 1
    print(f"{n / seconds:.0f}", end=" ")
print()
PY
)"
row "POST …/link, 16 connections" "$rps" "$p50" "$p99" "$bad" "$naive" "$(ratio "$rps" "$naive")" \
  "$(check ">= 2,000/s, p99 < 50 ms, all 201" "$rps" ">=" 2000 "$p99" "<" 50 "$bad" == 0)"
row "physical limit: one-row commit, 1 conn." "-" "-" "-" "-" "$commit" "-" "reference"

echo
echo "== footprint"
pg_kib="$(awk '/VmHWM/{print $2}' "/proc/$SERVER_PID/status")"
lite_kib="$(awk '/VmHWM/{print $2}' "/proc/$LITE_PID/status")"
echo "peak RSS (VmHWM) across the run: PostgreSQL store $((pg_kib / 1024)) MiB, SQLite store $((lite_kib / 1024)) MiB" \
  " [$(check "<= 32 MiB" "$((pg_kib / 1024))" "<=" 32 "$((lite_kib / 1024))" "<=" 32)]"
# A single start is one noisy sample (the first after `create database` meets cold caches): five
# more starts of each store on its existing database, the median judged, first and worst shown.
# restarts URL -> "median worst" in ms
restarts() {
  local port i ms=()
  port="$(free_port)"
  for i in 1 2 3 4 5; do
    start_server "$1" "$port" "$WORK/restart.log"
    ms+=("$READY_MS")
    kill "$STARTED_PID" 2>/dev/null && wait "$STARTED_PID" 2>/dev/null || true
  done
  printf '%s\n' "${ms[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[3], a[5] }'
}
read -r pg_median pg_worst < <(restarts "$URL")
read -r lite_median lite_worst < <(restarts "$LITE_URL")
echo "start to /readyz (migrations applied), median of 5 restarts: PostgreSQL ${pg_median} ms (worst ${pg_worst}," \
  "first start ${ready_ms}), SQLite ${lite_median} ms (worst ${lite_worst}, first start ${lite_ready_ms})" \
  " [$(check "< 100 ms" "$pg_median" "<" 100 "$lite_median" "<" 100)]"
echo "release binary: $(( $(stat -c %s "$BIN") / 1024 / 1024 )) MiB ($(stat -c %s "$BIN") bytes) [reported]"
