"""A webhook receiver for the real-parts suite: verifies every delivery with the
`standardwebhooks` package and with the `composio` SDK's `triggers.verify_webhook`, and appends
one JSON line per request to a log file.

    python receiver.py PORT SECRETS_FILE LOG_FILE

SECRETS_FILE holds a JSON list of the subscription secrets currently valid (re-read on every
request, so the test can rotate). A delivery is answered 200 only when both verifiers accept it
with one of them; otherwise 400, and the log line says why.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from composio import Composio
from standardwebhooks import Webhook

PORT, SECRETS, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
composio = Composio(api_key="ak_unused_by_verify_webhook", base_url="http://127.0.0.1:9", allow_tracking=False)
lock = threading.Lock()


def verify(body: str, headers: dict) -> dict:
    try:
        with open(SECRETS) as f:
            secrets = json.load(f)
    except FileNotFoundError:
        secrets = []
    errors = []
    for secret in secrets:
        try:
            std = Webhook(secret.encode()).verify(body, headers)
            res = composio.triggers.verify_webhook(
                id=headers.get("webhook-id", ""),
                payload=body,
                secret=secret,
                signature=headers.get("webhook-signature", ""),
                timestamp=headers.get("webhook-timestamp", ""),
            )
            return {"ok": True, "std_type": std["type"], "composio_version": str(res["version"].value),
                    "composio_type": res["raw_payload"]["type"]}
        except Exception as e:  # noqa: BLE001 - any verifier error is a failed delivery
            errors.append(f"{type(e).__name__}: {e}")
    return {"ok": False, "error": "; ".join(errors) or "no secret configured"}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode("utf-8")
        headers = {k.lower(): v for k, v in self.headers.items()}
        result = verify(body, headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        line = {
            "webhook_id": headers.get("webhook-id"),
            "attempt": headers.get("x-composio-delivery-attempt"),
            "version": headers.get("x-composio-webhook-version"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "type": payload.get("type"),
            "account": (payload.get("data") or {}).get("id"),
            "status": (payload.get("data") or {}).get("status"),
            "status_reason": (payload.get("data") or {}).get("status_reason"),
            "user_id": (payload.get("data") or {}).get("user_id"),
            **result,
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200 if result["ok"] else 400)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
