"""Schemathesis hooks for authlink (loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS).

Listing cursors are opaque: only a `next_cursor` the API returned is valid, and the document says
so with the string formats below (src/http/openapi_params.rs). These strategies write cursors
the way the server does (src/store/paging.rs `Cursor::encode`, src/http/session_toolkits.rs), so
generated "valid" requests carry a cursor the server takes, at any position in any listing.
"""

import base64
import re
import uuid

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

schemathesis.openapi.format("authlink-cursor", _KEYSET)
schemathesis.openapi.format("authlink-offset-cursor", _OFFSET)


# An Idempotency-Key names one request: the server answers the same key with another body 422
# (issue 17). Hypothesis may draw the same key for two different requests, as no real client
# would; such a key is replaced by a fresh one, as a client would make for a new request.
# Invalid keys (what negative tests send) are left as they are.
_VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
_SEEN: dict[str, str] = {}


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    if name is None:
        return
    key = headers[name]
    if not isinstance(key, str) or len(key) > 255 or not _VALID_KEY.match(key):
        return
    request = f"{case.method} {case.formatted_path} {case.body!r}"
    if _SEEN.setdefault(key, request) != request:
        key = uuid.uuid4().hex
        headers[name] = key
        _SEEN[key] = request
