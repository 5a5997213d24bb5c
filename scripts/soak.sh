#!/usr/bin/env bash
# Soak (issue 17 item 5): a fixed request rate (open loop) of link creations and reads against
# authlink on PostgreSQL for a long time, printing RSS and latency every interval, and at the end
# the RSS drift and the latency drift (p50/p99 of the last interval against the first).
#
#   bash scripts/soak.sh [minutes, default 30] [requests per second, default 400]
#
# The default rate is about half of what this 2-core machine sustains for this mix; set it to
# half of your peak. Uses a database `authlink_soak_<random>` on AUTHLINK_TEST_PG (dropped
# afterwards) and the built binary (AUTHLINK_BIN, default target/release/authlink when present,
# else target/debug/authlink). Fails when RSS grew by more than 50% from the first interval to
# the last, or p99 more than tripled.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
RATE=${2:-400}
PG=${AUTHLINK_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
if [[ -z ${AUTHLINK_BIN:-} ]]; then
    AUTHLINK_BIN=target/debug/authlink
    [[ -x target/release/authlink ]] && AUTHLINK_BIN=target/release/authlink
fi
[[ -x $AUTHLINK_BIN ]] || cargo build --locked --bin authlink </dev/null
log() { printf 'soak: %s\n' "$*" >&2; }

WORK=$(mktemp -d)
DB=authlink_soak_$(python3 -c 'import secrets; print(secrets.token_hex(4))')
PID=
cleanup() {
    local rc=$?
    [[ -n $PID ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    psql "$PG" -qc "drop database if exists \"$DB\" with (force)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
psql "$PG" -qc "create database \"$DB\"" >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
KEY=ak_$(python3 -c 'import secrets; print(secrets.token_hex(24))')
export DATABASE_URL=${PG%/*}/$DB AUTHLINK_LISTEN=127.0.0.1:$PORT AUTHLINK_PUBLIC_URL=http://127.0.0.1:$PORT \
    AUTHLINK_BOOTSTRAP_API_KEY=$KEY AUTHLINK_RATE_LIMIT_API_PER_KEY=0 AUTHLINK_RATE_LIMIT_API_PER_IP=0
AUTHLINK_ENCRYPTION_KEY=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export AUTHLINK_ENCRYPTION_KEY
"$AUTHLINK_BIN" serve </dev/null >"$WORK/authlink.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
log "$MINUTES min at $RATE req/s against $AUTHLINK_BIN (pid $PID)"

export BASE=http://127.0.0.1:$PORT KEY RATE SERVER_PID=$PID SECS=$((MINUTES * 60))
python3 - <<'PY'
import asyncio, json, os, statistics, sys, time
base, key, rate, pid, secs = os.environ["BASE"], os.environ["KEY"], int(os.environ["RATE"]), int(os.environ["SERVER_PID"]), int(os.environ["SECS"])
host, port = base.split("//")[1].split(":")
interval = max(10, min(60, secs // 6))

def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")

class Conn:
    """One kept-alive HTTP/1.1 connection (asyncio streams, no third-party client)."""
    async def open(self):
        self.r, self.w = await asyncio.open_connection(host, int(port))
    async def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.w.write(f"{method} {path} HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n".encode() + data)
        await self.w.drain()
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, await self.r.readexactly(length)

async def main():
    setup = Conn(); await setup.open()
    status, body = await setup.call("POST", "/api/v3.1/auth_configs", {"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "name": "gh", "credentials": {"client_id": "c", "client_secret": "s"}}})
    assert status == 201, body
    ac = json.loads(body)["auth_config"]["id"]
    pool = asyncio.Queue()
    for _ in range(64):
        c = Conn(); await c.open(); pool.put_nowait(c)
    lat, errors, rows, n = [], 0, [], 0
    async def one(i):
        nonlocal errors
        c = await pool.get()
        t = time.perf_counter()
        try:
            if i % 2:
                s, _ = await c.call("POST", "/api/v3.1/connected_accounts/link", {"auth_config_id": ac, "user_id": f"u{i % 5000}"})
            else:
                s, _ = await c.call("GET", f"/api/v3.1/connected_accounts?user_ids=u{i % 5000}&limit=5")
            if s >= 400: errors += 1
            lat.append(time.perf_counter() - t)
            pool.put_nowait(c)
        except Exception:
            errors += 1
            c = Conn(); await c.open(); pool.put_nowait(c)
    start = time.perf_counter()
    next_report = start + interval
    tasks = set()
    while (now := time.perf_counter()) - start < secs:
        # Open loop: requests are issued on schedule whether or not earlier ones finished.
        due = int((now - start) * rate)
        while n < due:
            t = asyncio.create_task(one(n)); tasks.add(t); t.add_done_callback(tasks.discard); n += 1
        if now >= next_report:
            q = sorted(lat) or [float("nan")]
            row = (round(now - start), rss_mib(), q[len(q) // 2] * 1000, q[int(len(q) * 0.99)] * 1000, len(lat), errors)
            rows.append(row); lat.clear(); errors = 0
            print("t=%5ds rss=%6.1f MiB p50=%7.2f ms p99=%7.2f ms done=%6d errors=%d" % row, flush=True)
            next_report += interval
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    first, last = rows[0], rows[-1]
    print(f"RSS {first[1]:.1f} -> {last[1]:.1f} MiB ({(last[1] / first[1] - 1) * 100:+.0f}%); "
          f"p50 {first[2]:.2f} -> {last[2]:.2f} ms; p99 {first[3]:.2f} -> {last[3]:.2f} ms; "
          f"requests {n}; errors {sum(r[5] for r in rows)}")
    ok = last[1] <= first[1] * 1.5 and last[3] <= max(first[3] * 3, 50) and sum(r[5] for r in rows) == 0
    sys.exit(0 if ok else 1)
asyncio.run(main())
PY
log "ok"
