"""Schemathesis hooks for authlink (loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS).

Each hook teaches the generator something a schema cannot say, so its "valid" requests are the
ones a real client sends; none of them turns a check off.

Listing cursors are opaque: only a `next_cursor` the API returned is valid, and the document says
so with the string formats below (src/http/openapi_params.rs). These strategies write cursors
the way the server does (src/store/paging.rs `Cursor::encode`, src/http/session_toolkits.rs), so
generated "valid" requests carry a cursor the server takes, at any position in any listing.
"""

import base64
import os
import re
import uuid

import requests

import schemathesis
from hypothesis import strategies as st


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# `page|timestamp micros|id`: a page from 1, a time up to 2100, an id that is a valid key for
# every keyset listing (a toolkit slug, a delivery or audit event number, an account id's tail).
_KEYSET = st.builds(
    lambda page, micros, key: _b64(f"{page}|{micros}|{key}"),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=4_102_444_800_000_000),
    st.integers(min_value=1, max_value=2**62),
)
_OFFSET = st.integers(min_value=0, max_value=10**6).map(lambda n: _b64(f"o:{n}"))

_BASE = os.environ.get("AUTHLINK_ST_BASE_URL")
_KEY = os.environ.get("AUTHLINK_ST_API_KEY")

# `authlink-toolkit`: a slug the project knows (src/http/openapi_bodies.rs `known_toolkit`). The
# catalog is read from the server under test, so the generator names its toolkits.
_CATALOG = ["github"]
if _BASE and _KEY:
    _CATALOG = [t["slug"] for t in requests.get(f"{_BASE}/api/v3.1/toolkits", params={"limit": 1000},
                                                headers={"x-api-key": _KEY}, timeout=30).json()["items"]]
schemathesis.openapi.format("authlink-toolkit", st.sampled_from(_CATALOG))

schemathesis.openapi.format("authlink-cursor", _KEYSET)
schemathesis.openapi.format("authlink-offset-cursor", _OFFSET)


# A logo is an image: its bytes start with its type's magic bytes (`branding::sniff`), which no
# JSON Schema of a binary body can state. Each image type gets its signature and a random tail.
_TAIL = st.binary(min_size=0, max_size=2048)
schemathesis.openapi.media_type("image/png", _TAIL.map(lambda b: b"\x89PNG\r\n\x1a\n" + b))
schemathesis.openapi.media_type("image/jpeg", _TAIL.map(lambda b: b"\xff\xd8\xff" + b))
schemathesis.openapi.media_type("image/webp", st.tuples(st.binary(min_size=4, max_size=4), _TAIL).map(lambda t: b"RIFF" + t[0] + b"WEBP" + t[1]))


# An Idempotency-Key names one request: a client sends a key again only to retry a request whose
# answer it lost, and the server replays the first answer (issue 17). The generator draws keys
# at random and may repeat one for another request (422 by design) or for a request whose
# resource was since deleted (a replayed 201 naming a resource that is gone). Every valid key is
# therefore made unique per call, as a client makes one per new request; replays are covered by
# the API tests (tests/api/idempotency.rs). Invalid keys (what negative tests send) are kept.
_VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")


def _fresh_idempotency_key(case) -> None:
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    if name is None:
        return
    key = headers[name]
    if isinstance(key, str) and len(key) <= 255 and _VALID_KEY.match(key):
        headers[name] = uuid.uuid4().hex


# A project holds at most 20 webhook subscriptions (`service::webhooks::MAX_SUBSCRIPTIONS`); past
# that a create is refused until one is deleted, which the refusal says. A run creates hundreds,
# so before each create that would hit the cap the oldest are deleted through the API, as the
# operator would, leaving the newest fifteen (which running stateful scenarios still use).
_LIMIT = 20


def _make_room_for_a_subscription(case) -> None:
    if not (_BASE and _KEY) or case.method.upper() != "POST" or not case.path.endswith("/webhook_subscriptions"):
        return
    api = f"{_BASE}/api/v3.1/webhook_subscriptions"
    headers = {"x-api-key": _KEY}
    items = requests.get(api, headers=headers, timeout=10).json().get("items", [])
    if len(items) < _LIMIT - 1:
        return
    items.sort(key=lambda s: s.get("created_at", ""))
    for sub in items[: len(items) - 15]:
        requests.delete(f"{api}/{sub['id']}", headers=headers, timeout=10)


# A session link needs an auth config for its toolkit in the project (the link service's rule,
# `ToolRouterV2_NoManagedAuth` otherwise): which toolkits have one is the project's data, not the
# request's shape. An app creates the auth config first; so does this hook, once per toolkit,
# through the API, with the credentials the toolkit's scheme takes.
_CONFIGURED = set()
_CREDENTIALS = {
    "OAUTH2": {"client_id": "schemathesis-client", "client_secret": "schemathesis-secret"},
    "OAUTH1": {"consumer_key": "schemathesis-consumer", "consumer_secret": "schemathesis-secret"},
}


def _configure_the_link_toolkit(case) -> None:
    if not (_BASE and _KEY) or case.method.upper() != "POST" or not re.search(r"/tool_router/session/[^/]+/link$", case.path):
        return
    body = case.body if isinstance(case.body, dict) else {}
    slug = body.get("toolkit")
    if not isinstance(slug, str) or slug.lower() not in _CATALOG or slug.lower() in _CONFIGURED:
        return
    slug = slug.lower()
    headers = {"x-api-key": _KEY}
    toolkit = requests.get(f"{_BASE}/api/v3.1/toolkits/{slug}", headers=headers, timeout=10).json()
    scheme = (toolkit.get("auth_schemes") or ["OAUTH2"])[0]
    config = {"type": "use_custom_auth", "authScheme": scheme}
    if scheme in _CREDENTIALS:
        config["credentials"] = _CREDENTIALS[scheme]
    answer = requests.post(f"{_BASE}/api/v3.1/auth_configs", headers=headers, timeout=10,
                           json={"toolkit": {"slug": slug}, "auth_config": config})
    if answer.status_code == 201:
        _CONFIGURED.add(slug)


@schemathesis.hook
def before_call(context, case, **kwargs):
    _fresh_idempotency_key(case)
    _make_room_for_a_subscription(case)
    _configure_the_link_toolkit(case)
