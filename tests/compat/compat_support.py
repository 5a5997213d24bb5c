"""Shared constants and helpers for the composio-client compatibility tests.

Everything here is read from the environment that `run.sh` sets, and from the version of
`composio-client` installed in the running virtualenv: the same test file runs against 1.30.0
(`/api/v3/...` paths, scalar `connected_accounts` pins) and 1.43.0 (`/api/v3.1/...`, array pins,
`alias` and `experimental` on links, `account_type` list filter, `session.patch`, `multi_account`,
`experimental.link_url_overwrite`).

No test is skipped on either version. What the installed client cannot express goes through the
client's own transport instead, and what its response models do not declare is read from the parsed
JSON they keep:

- `call(method, ...)` passes every parameter the method's signature (and its TypedDicts) declares as
  a keyword, and sends the rest with `extra_body` (or `extra_query` for GET listings);
- `patch_session(client, ...)` uses `session.patch` where it exists, else the generic `client.patch`;
- `field(result, "a", "b")` reads typed attributes where the model declares them, else the JSON.

On a client that declares everything the tests use (`CLIENT_DECLARES_ALL`, e.g. 1.43.0) those
fallbacks are errors, so that version's run always exercises the typed surface.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import inspect
import os
import re
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import pydantic
import typing_extensions

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
# This client declares every parameter and response field the tests use: nothing may go around it.
CLIENT_DECLARES_ALL = all((HAS_ALIAS, HAS_LINK_EXPERIMENTAL, HAS_ACCOUNT_TYPE_FILTER, HAS_SESSION_PATCH,
                           HAS_MULTI_ACCOUNT, HAS_LINK_URL_OVERWRITE))

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


# --------------------------------------------------------------------------------------------
# Reaching what the installed client does not declare, through the client itself
# --------------------------------------------------------------------------------------------

# What went around the installed client's typed surface during this run (printed by conftest.py).
TRANSPORT_USED: set[str] = set()

# Client methods that send GET requests: their undeclared parameters go in the query string.
_QUERY_METHODS = {"list", "retrieve"}
_RESERVED = {"extra_headers", "extra_query", "extra_body", "timeout"}


def _around_client(what: str) -> None:
    assert not CLIENT_DECLARES_ALL, (
        f"composio-client {INSTALLED_VERSION} declares everything the tests use, yet this went around it: {what}")
    TRANSPORT_USED.add(what)


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _declares(annotation: Any, value: Any) -> bool:
    """True when the parameter type `annotation` covers `value`: every key of a dict sent where a
    TypedDict is expected is declared by it, recursively. Other values are left to the server."""
    if not isinstance(value, dict) or annotation is None:
        return True
    typed_dicts = [m for m in _union_members(annotation) if typing_extensions.is_typeddict(m)]
    if not typed_dicts:
        return True  # a plain mapping (`Dict[str, ...]`, `object`): any key goes
    for typed_dict in typed_dicts:
        keys = typing.get_type_hints(typed_dict)
        if all(key in keys and _declares(keys[key], item) for key, item in value.items()):
            return True
    return False


def call(method: Callable[..., Any], /, *args: Any, **params: Any) -> Any:
    """Calls a composio-client method with `params`, as an application on the newest client would.

    Parameters the installed method declares (by signature, and key by key for TypedDict
    parameters) are passed as keywords, so the client builds the request and types the result.
    The others are added to the same request with the client's `extra_body` (`extra_query` for
    GET methods), so an older client still sends them, and the call still returns its typed model.
    """
    target = inspect.unwrap(method)  # `with_raw_response.<method>` wraps the bound method
    signature = inspect.signature(target)
    hints = typing.get_type_hints(target)
    kwargs: dict[str, Any] = {}
    undeclared: dict[str, Any] = {}
    for name, value in params.items():
        if name in _RESERVED or (name in signature.parameters and _declares(hints.get(name), value)):
            kwargs[name] = value
        else:
            undeclared[name] = value
    if undeclared:
        where = "extra_query" if target.__name__ in _QUERY_METHODS else "extra_body"
        _around_client(f"{target.__qualname__}({', '.join(sorted(undeclared))}) via {where}")
        kwargs[where] = {**(kwargs.get(where) or {}), **undeclared}
    return method(*args, **kwargs)


def patch_session(client: Any, session_id: str, **params: Any) -> Any:
    """`PATCH {PREFIX}/tool_router/session/{id}`: `session.patch` where the client has it (typed
    result), else the client's generic `patch` with the same JSON body (parsed JSON result)."""
    sessions = client.tool_router.session
    if hasattr(sessions, "patch"):
        return call(sessions.patch, session_id, **params)
    _around_client("SessionResource.patch via client.patch")
    return client.patch(f"{PREFIX}/tool_router/session/{session_id}", cast_to=object, body=params)


def field(value: Any, *path: str) -> Any:
    """Reads `value.path[0].path[1]...` from a client result.

    Where the installed client's model declares a field this is its typed attribute. Where it does
    not, it is the parsed JSON: Stainless models keep undeclared response fields as they arrived,
    and a generic `client.get/patch(..., cast_to=object)` returns the JSON itself. A key missing
    from the JSON reads as None, as an absent optional field does on a typed model.
    """
    walked = type(value).__name__
    for name in path:
        if isinstance(value, pydantic.BaseModel):
            if name in type(value).model_fields:
                value = getattr(value, name)
            else:
                _around_client(f"{type(value).__qualname__}.{name} read from JSON")
                value = (value.model_extra or {}).get(name)
        elif isinstance(value, dict):
            value = value.get(name)
        else:
            raise AssertionError(f"{walked} is {value!r}, which has no field {name!r}")
        walked += f".{name}"
    return value
