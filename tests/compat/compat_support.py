"""Shared constants and assertion helpers for the composio-client compatibility tests.

Everything here is read from the environment that `run.sh` sets, and from the version of
`composio-client` installed in the running virtualenv: the same test file runs against 1.30.0
(`/api/v3/...` paths, scalar `connected_accounts` pins) and 1.43.0 (`/api/v3.1/...`, array pins,
`alias` and `experimental` on links).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import os
import re
import uuid
from typing import Any

BASE_URL = os.environ.get("AUTHLINK_BASE_URL", "").rstrip("/")
API_KEY = os.environ.get("AUTHLINK_API_KEY", "")
OTHER_API_KEY = os.environ.get("AUTHLINK_OTHER_API_KEY", "")

INSTALLED_VERSION = importlib.metadata.version("composio-client")
VERSION = tuple(int(part) for part in INSTALLED_VERSION.split(".")[:3])

# Version history of composio-client (api-contract.md §11).
V31 = VERSION >= (1, 36, 0)  # all paths moved from /api/v3 to /api/v3.1
PIN_IS_ARRAY = VERSION >= (1, 37, 0)  # session connected_accounts: {slug: ["ca_…"]}
HAS_ALIAS = VERSION >= (1, 33, 0)  # session link `alias`
HAS_LINK_EXPERIMENTAL = VERSION >= (1, 40, 0)  # link experimental params (1.38) + response (1.40)
HAS_ACCOUNT_TYPE_FILTER = VERSION >= (1, 38, 0)  # connected_accounts.list(account_type=…)

HAS_SESSION_PATCH = hasattr(
    importlib.import_module("composio_client.resources.tool_router.session.session").SessionResource, "patch")
_CREATE_PARAMS = importlib.import_module("composio_client.types.tool_router.session_create_params")
HAS_MULTI_ACCOUNT = "multi_account" in _CREATE_PARAMS.SessionCreateParams.__annotations__
HAS_LINK_URL_OVERWRITE = "link_url_overwrite" in _CREATE_PARAMS.Experimental.__annotations__

PREFIX = "/api/v3.1" if V31 else "/api/v3"
OTHER_PREFIX = "/api/v3" if V31 else "/api/v3.1"

CALLBACK_URL = "https://app.example.com/cb"
TOOLKIT = "github"

SESSION_ID_RE = re.compile(r"^trs_[A-Za-z0-9_-]{12}$")
ACCOUNT_ID_RE = re.compile(r"^ca_[A-Za-z0-9_-]{12}$")
AUTH_CONFIG_ID_RE = re.compile(r"^ac_[A-Za-z0-9_-]{12}$")
# authlink decision: `ln_` + at least 128 bits, base62 or base64url (>= 22 characters).
LINK_TOKEN_RE = re.compile(r"^ln_[A-Za-z0-9_-]{22,}$")

ACCOUNT_STATUSES = {"INITIALIZING", "INITIATED", "ACTIVE", "FAILED", "EXPIRED", "INACTIVE", "REVOKED"}


def new_user_id(label: str = "user") -> str:
    """A user id no other test (and no other client version's run) uses."""
    return f"compat-{INSTALLED_VERSION}-{label}-{uuid.uuid4().hex[:12]}"


def pin(account_id: str) -> Any:
    """The `connected_accounts` pin value this client version sends for one account."""
    return [account_id] if PIN_IS_ARRAY else account_id


def parse_iso(value: Any) -> dt.datetime:
    """Parses an ISO-8601 timestamp as the clients expect it (`2026-01-01T00:00:00.000Z`)."""
    assert isinstance(value, str) and value, f"expected an ISO-8601 string, got {value!r}"
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp {value!r} has no timezone"
    return parsed


def assert_error(exc: Any, status: int, *, code: int | None = None, slug: str | None = None,
                 message_contains: str | None = None) -> dict[str, Any]:
    """Asserts a typed client exception carries the contract's error envelope (§3).

    Returns the inner `error` object for further checks.
    """
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc.body!r}"
    content_type = exc.response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"error content-type {content_type!r}"
    body = exc.body
    assert isinstance(body, dict), f"error body is not a JSON object: {body!r}"
    err = body.get("error")
    assert isinstance(err, dict), f"error body has no `error` object: {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message: {err!r}"
    assert isinstance(err.get("code"), int) and not isinstance(err.get("code"), bool), f"error.code: {err!r}"
    assert isinstance(err.get("slug"), str) and err["slug"], f"error.slug: {err!r}"
    assert err.get("status") == status, f"error.status != {status}: {err!r}"
    assert isinstance(err.get("request_id"), str) and err["request_id"], f"error.request_id: {err!r}"
    if code is not None:
        assert err["code"] == code, f"error.code: expected {code}, got {err!r}"
    if slug is not None:
        assert err["slug"] == slug, f"error.slug: expected {slug}, got {err!r}"
    if message_contains is not None:
        assert message_contains in err["message"], f"error.message lacks {message_contains!r}: {err!r}"
    return err


def mentions(err: dict[str, Any], needle: str) -> bool:
    """True when the error's message or one of its `errors` entries names `needle`."""
    texts = [err.get("message", "")] + [str(e) for e in (err.get("errors") or [])]
    return any(needle in text for text in texts)
