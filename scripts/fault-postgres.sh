#!/usr/bin/env bash
# PostgreSQL restarted and stopped for 10 s under load (issue 17 item 5), on a throwaway cluster of
# this script's own (initdb in a temporary directory, its own port; the machine's PostgreSQL is
# not touched). Every response is recorded; afterwards every 201 must match exactly one account
# and one link in the database, and every account one 201 or one create that lost its answer.
#
#   bash scripts/fault-postgres.sh [seconds of load, default 40] [client threads, default 16]
#
# Timeline: load from t=0; `pg_ctl restart -m fast` at t=5; `pg_ctl stop -m fast` at t=15 and
# start again at t=25. Prints the requests, the statuses, the 201s matched, the 503 window and
# the time from the database's return to the first 201. Needs initdb/pg_ctl (run as the
# `postgres` user when this script runs as root), python3 and a built authlink.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-40}
CLIENTS=${2:-16}
AUTHLINK_BIN=${AUTHLINK_BIN:-target/debug/authlink}
log() { printf 'fault-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ -x $AUTHLINK_BIN ]] || cargo build --locked --bin authlink </dev/null
command -v initdb >/dev/null || die "initdb not found"

WORK=$(mktemp -d)
chmod 755 "$WORK"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PID=
cleanup() {
    local rc=$?
    [[ -n $PID ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    as_pg pg_ctl -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
PGPORT=$(free_port)
PORT=$(free_port)
mkdir "$WORK/pg" && chown postgres "$WORK/pg" 2>/dev/null || true
as_pg initdb -D "$WORK/pg" -U postgres -A trust >/dev/null
as_pg pg_ctl -D "$WORK/pg" -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg/log" -w start >/dev/null
KEY=ak_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/postgres AUTHLINK_LISTEN=127.0.0.1:$PORT \
    AUTHLINK_PUBLIC_URL=http://127.0.0.1:$PORT AUTHLINK_BOOTSTRAP_API_KEY=$KEY
AUTHLINK_ENCRYPTION_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY
for v in API_PER_KEY API_PER_IP; do export "AUTHLINK_RATE_LIMIT_$v=0"; done
"$AUTHLINK_BIN" serve </dev/null >"$WORK/authlink.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

export BASE=http://127.0.0.1:$PORT KEY SECS CLIENTS OUT=$WORK/responses.jsonl
python3 - <<'PY' &
import json, os, threading, time, http.client
base, key, secs, clients, out = os.environ["BASE"], os.environ["KEY"], float(os.environ["SECS"]), int(os.environ["CLIENTS"]), os.environ["OUT"]
host = base.split("//")[1]
def call(conn, method, path, body):
    conn.request(method, path, body=json.dumps(body), headers={"x-api-key": key, "content-type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()
conn = http.client.HTTPConnection(host, timeout=30)
status, body = call(conn, "POST", "/api/v3.1/auth_configs", {"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "name": "gh", "credentials": {"client_id": "c", "client_secret": "s"}}})
assert status == 201, body
ac = json.loads(body)["auth_config"]["id"]
lock = threading.Lock()
records = []
start = time.monotonic()
def worker(n):
    conn = None
    i = 0
    while time.monotonic() - start < secs:
        i += 1
        t = time.monotonic() - start
        try:
            conn = conn or http.client.HTTPConnection(host, timeout=30)
            status, body = call(conn, "POST", "/api/v3.1/connected_accounts/link", {"auth_config_id": ac, "user_id": f"w{n}-{i}"})
            rec = {"t": t, "status": status}
            if status == 201:
                rec["id"] = json.loads(body)["connected_account_id"]
        except Exception as e:
            rec = {"t": t, "status": 0, "error": type(e).__name__}
            conn = None
            time.sleep(0.05)
        with lock:
            records.append(rec)
threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
for th in threads: th.start()
for th in threads: th.join()
with open(out, "w") as f:
    for r in records: f.write(json.dumps(r) + "\n")
PY
LOAD=$!
sleep 5;  log "t=5 s: restart";   as_pg pg_ctl -D "$WORK/pg" -m fast -w restart -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" >/dev/null
sleep 10; log "t=15 s: stop";     as_pg pg_ctl -D "$WORK/pg" -m fast -w stop >/dev/null
sleep 10; log "t=25 s: start";    BACK=$(python3 -c 'import time; print(time.time())')
as_pg pg_ctl -D "$WORK/pg" -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg/log" -w start >/dev/null
wait "$LOAD" || die "the load generator failed"
kill -0 "$PID" 2>/dev/null || die "authlink died: $(tail -5 "$WORK/authlink.log")"

export PGURL=$DATABASE_URL
python3 - <<'PY'
import collections, json, os, subprocess, sys
recs = [json.loads(l) for l in open(os.environ["OUT"])]
def sql(q):
    return subprocess.run(["psql", os.environ["PGURL"], "-At", "-c", q], capture_output=True, text=True, check=True).stdout.split()
statuses = collections.Counter(r["status"] for r in recs)
created = [r["id"] for r in recs if r["status"] == 201]
accounts = collections.Counter(sql("select id from connected_account"))
links = collections.Counter(sql("select connected_account_id from link"))
matched = sum(1 for i in created if accounts[i] == 1 and links[i] == 1)
dup = [i for i, n in collections.Counter(created).items() if n > 1]
unanswered = [i for i in accounts if i not in set(created)]
bad = sorted((r["t"], r["status"]) for r in recs if r["status"] not in (201, 503))
u503 = [r["t"] for r in recs if r["status"] == 503]
after_start = [r["t"] for r in recs if r["status"] == 201 and r["t"] > 25]
print(f"requests: {len(recs)}; statuses: {dict(sorted(statuses.items()))}")
print(f"201s: {len(created)}; matched to exactly one account and one link: {matched}; duplicate ids: {len(dup)}")
print(f"accounts in the database: {sum(accounts.values())}; links: {sum(links.values())}; accounts without a 201 (answer lost): {len(unanswered)}")
if u503: print(f"503 window: {min(u503):.1f} s .. {max(u503):.1f} s")
if after_start: print(f"first 201 after the database started again (t=25 s): t={min(after_start):.2f} s")
ok = matched == len(created) and not dup and not [b for b in bad if b[1] != 0]
sys.exit(0 if ok else 1)
PY
log "ok"
