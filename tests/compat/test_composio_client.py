"""Drives a running authlink with Composio's official Python client, `composio-client`.

The same tests run once per installed client version (run.sh): 1.43.0 speaks `/api/v3.1`, 1.30.0
speaks `/api/v3`. Section numbers refer to shared/api-contract.md.

Every test runs on every version; none is skipped (conftest.py fails the run if one is). Calls that
use parameters an older client lacks (link `alias` / `experimental`, list `account_type`, session
`multi_account` / `experimental.link_url_overwrite`) go through `call`, which sends what the method
does not declare with the client's `extra_body` / `extra_query`; `session.patch` goes through
`patch_session`, which falls back to the client's generic `patch`. Results are checked with the same
assertions either way: on the typed model where the client declares the field, on the parsed JSON
where it does not (`field`).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from composio_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Composio,
    ConflictError,
    NotFoundError,
    omit,
)

from compat_support import (
    ACCOUNT_ID_RE,
    API_KEY,
    AUTH_CONFIG_ID_RE,
    BASE_URL,
    CALLBACK_URL,
    LINK_TOKEN_RE,
    OTHER_PREFIX,
    PIN_IS_ARRAY,
    PREFIX,
    SESSION_ID_RE,
    TOOLKIT,
    assert_error,
    call,
    field,
    mentions,
    new_user_id,
    parse_iso,
    patch_session,
    pin,
)

UNKNOWN_SESSION_ID = "trs_AAAAAAAAAAAA"
UNKNOWN_ACCOUNT_ID = "ca_AAAAAAAAAAAA"
UNKNOWN_AUTH_CONFIG_ID = "ac_AAAAAAAAAAAA"
SHARED_ACL = {"allow_all_users": False, "allowed_user_ids": ["u2"], "not_allowed_user_ids": ["u3"]}


def list_all(client: Composio, **params: Any) -> list[Any]:
    """Lists connected accounts, following `next_cursor` until it is exhausted."""
    items: list[Any] = []
    cursor: Any = omit
    for _ in range(50):
        page = client.connected_accounts.list(cursor=cursor, **params)
        items.extend(page.items)
        if not page.next_cursor:
            return items
        cursor = page.next_cursor
    raise AssertionError("pagination did not end after 50 pages")


def ids_of(items: list[Any]) -> list[str]:
    return [item.id for item in items]


# --------------------------------------------------------------------------------------------
# §8 auth configs
# --------------------------------------------------------------------------------------------


def test_auth_config_create(auth_config_raw: Any) -> None:
    assert auth_config_raw.status_code == 201
    created = auth_config_raw.parse()
    assert AUTH_CONFIG_ID_RE.match(created.auth_config.id), created.auth_config.id
    assert created.auth_config.auth_scheme == "OAUTH2"
    assert created.auth_config.is_composio_managed is False
    assert created.toolkit.slug == TOOLKIT


# --------------------------------------------------------------------------------------------
# §4 / §5 sessions
# --------------------------------------------------------------------------------------------


def test_session_create(client: Composio) -> None:
    user_id = new_user_id()
    raw = client.tool_router.session.with_raw_response.create(
        user_id=user_id,
        toolkits={"enable": [TOOLKIT]},
        manage_connections={"enable": True, "callback_url": CALLBACK_URL},
    )
    assert raw.status_code == 201
    session = raw.parse()
    body = raw.http_response.json()

    assert SESSION_ID_RE.match(session.session_id), session.session_id
    assert session.mcp.type == "http"
    assert session.mcp.url.startswith(BASE_URL + "/")
    assert session.session_id in session.mcp.url
    assert session.mcp.url == f"{BASE_URL}/tool_router/{session.session_id}/mcp"
    assert isinstance(session.tool_router_tools, list)
    assert all(isinstance(tool, str) for tool in session.tool_router_tools)
    assert session.config.user_id == user_id
    # Fields the Python SDK crashes without (§4.2), checked on the wire for every client version.
    assert isinstance(body.get("config_version"), int) and not isinstance(body["config_version"], bool), body
    preload = body["config"].get("preload")
    assert isinstance(preload, dict), body["config"]
    assert preload.get("tools") == "all" or isinstance(preload.get("tools"), list), preload
    assert isinstance(body["config"].get("search"), dict), body["config"]
    assert isinstance(body["config"].get("execute"), dict), body["config"]


def test_session_create_echoes_config_with_response_key_names(make_session: Callable[..., Any],
                                                              auth_config_id: str) -> None:
    session = make_session()
    config = session.config.to_dict()
    # Request `enable` becomes response `enabled` (§4.2, §12.4).
    assert config.get("toolkits") == {"enabled": [TOOLKIT]}, config
    manage = config.get("manage_connections")
    assert isinstance(manage, dict), config
    assert manage.get("enabled") is True, manage
    assert manage.get("callback_url") == CALLBACK_URL, manage
    assert config.get("auth_configs") == {TOOLKIT: auth_config_id}, config


def test_session_create_lowercases_toolkit_slugs(client: Composio) -> None:
    session = client.tool_router.session.create(
        user_id=new_user_id(), toolkits={"enable": ["GitHub"]}, manage_connections={"enable": True})
    assert session.config.to_dict().get("toolkits") == {"enabled": [TOOLKIT]}


def test_session_retrieve(client: Composio, make_session: Callable[..., Any]) -> None:
    created = make_session()
    raw = client.tool_router.session.with_raw_response.retrieve(created.session_id)
    assert raw.status_code == 200
    fetched = raw.parse()
    body = raw.http_response.json()
    assert fetched.session_id == created.session_id
    assert fetched.mcp.type == "http"
    assert fetched.mcp.url == created.mcp.url
    assert fetched.config.user_id == created.config.user_id
    assert body.get("config_version") == created.to_dict().get("config_version")
    assert isinstance(body["config"].get("preload"), dict), body["config"]


def test_session_pins_connected_account_in_version_shape(client: Composio, make_link: Callable[..., Any],
                                                        make_session: Callable[..., Any]) -> None:
    """v3 pins are scalars, v3.1 pins are arrays, on input and in the echo (§4.1, §11, decisions)."""
    user_id = new_user_id()
    _, link = make_link(user_id)
    account_id = link.connected_account_id
    session = make_session(user_id, connected_accounts={TOOLKIT: pin(account_id)})
    assert session.config.to_dict().get("connected_accounts") == {TOOLKIT: pin(account_id)}

    # The same session read through the other prefix uses that prefix's shape.
    other = client.get(f"{OTHER_PREFIX}/tool_router/session/{session.session_id}", cast_to=object)
    other_shape = account_id if PIN_IS_ARRAY else [account_id]
    assert other["config"].get("connected_accounts") == {TOOLKIT: other_shape}, other["config"]


def test_session_pin_of_another_users_account_is_rejected(make_link: Callable[..., Any],
                                                          make_session: Callable[..., Any]) -> None:
    _, link = make_link(new_user_id("owner"))
    with pytest.raises(BadRequestError) as info:
        make_session(new_user_id("intruder"), connected_accounts={TOOLKIT: pin(link.connected_account_id)})
    assert_error(info.value, 400)


def test_session_pin_of_unknown_account_is_rejected(make_session: Callable[..., Any]) -> None:
    with pytest.raises(BadRequestError) as info:
        make_session(connected_accounts={TOOLKIT: pin(UNKNOWN_ACCOUNT_ID)})
    assert_error(info.value, 400)


def test_session_create_with_empty_user_id_is_rejected(client: Composio) -> None:
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.create(user_id="", toolkits={"enable": [TOOLKIT]})
    err = assert_error(info.value, 400)
    assert mentions(err, "user_id"), err


# --------------------------------------------------------------------------------------------
# §6 session link
# --------------------------------------------------------------------------------------------


def test_session_link_private(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    raw = call(client.tool_router.session.with_raw_response.link, session.session_id,
               toolkit=TOOLKIT, callback_url=CALLBACK_URL, experimental={"account_type": "PRIVATE"})
    assert raw.status_code == 201
    link = raw.parse()
    assert ACCOUNT_ID_RE.match(link.connected_account_id), link.connected_account_id
    assert LINK_TOKEN_RE.match(link.link_token), link.link_token
    assert link.redirect_url == f"{BASE_URL}/link/{link.link_token}"
    assert field(link, "experimental") is not None, raw.http_response.json()
    assert field(link, "experimental", "account_type") == "PRIVATE"
    assert field(link, "experimental", "acl_config_for_shared") is None


def test_session_link_creates_a_new_account_each_time(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    # No callback_url: the session's manage_connections.callback_url is the default.
    first = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    second = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    assert first.connected_account_id != second.connected_account_id
    assert first.link_token != second.link_token
    for link in (first, second):
        assert ACCOUNT_ID_RE.match(link.connected_account_id)
        assert link.redirect_url == f"{BASE_URL}/link/{link.link_token}"
        assert client.connected_accounts.retrieve(link.connected_account_id).status == "INITIATED"


def test_session_link_shared_with_acl(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    link = call(client.tool_router.session.link,
                session.session_id, toolkit=TOOLKIT, callback_url=CALLBACK_URL,
                experimental={"account_type": "SHARED", "acl_config_for_shared": SHARED_ACL})
    assert ACCOUNT_ID_RE.match(link.connected_account_id)
    assert link.redirect_url == f"{BASE_URL}/link/{link.link_token}"
    assert field(link, "experimental") is not None
    assert field(link, "experimental", "account_type") == "SHARED"
    acl = field(link, "experimental", "acl_config_for_shared")
    assert acl is not None
    assert field(acl, "allow_all_users") is False
    assert field(acl, "allowed_user_ids") == ["u2"]
    assert field(acl, "not_allowed_user_ids") == ["u3"]

    account = client.connected_accounts.retrieve(link.connected_account_id)
    assert field(account, "experimental") is not None, "retrieve of a SHARED account carries no `experimental`"
    assert field(account, "experimental", "account_type") == "SHARED"
    acl = field(account, "experimental", "acl_config_for_shared")
    assert acl is not None
    assert field(acl, "allowed_user_ids") == ["u2"]
    assert field(acl, "not_allowed_user_ids") == ["u3"]
    assert field(acl, "allow_all_users") is False


@pytest.mark.parametrize("experimental", [
    {"account_type": "PRIVATE", "acl_config_for_shared": SHARED_ACL},
    {"acl_config_for_shared": {"allow_all_users": True}},  # account_type defaults to PRIVATE
], ids=["explicit-private", "default-private"])
def test_session_link_acl_on_private_is_rejected(client: Composio, make_session: Callable[..., Any],
                                                 experimental: dict[str, Any]) -> None:
    session = make_session()
    with pytest.raises(BadRequestError) as info:
        call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, experimental=experimental)
    assert_error(info.value, 400, message_contains="acl_config_for_shared is only valid on SHARED")


@pytest.mark.parametrize("callback_url", [
    "https://evil.example.net/cb",          # not on the allowlist
    "https://app.example.com.evil.net/cb",  # prefix trick on the host
    "https://user@app.example.com/cb",      # userinfo
    "https://app.example.com/cb#frag",      # fragment
    "javascript:alert(1)",
])
def test_session_link_rejects_callback_off_the_allowlist(client: Composio, make_session: Callable[..., Any],
                                                        callback_url: str) -> None:
    session = make_session()
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.link(session.session_id, toolkit=TOOLKIT, callback_url=callback_url)
    err = assert_error(info.value, 400)
    assert mentions(err, "callback_url"), err


def test_session_link_unknown_toolkit(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    # §6.2 lists 400 (invalid toolkit) and 404 (toolkit missing) for this case.
    with pytest.raises((BadRequestError, NotFoundError)) as info:
        client.tool_router.session.link(session.session_id, toolkit="nosuchtoolkit-compat")
    assert_error(info.value, info.value.status_code)


# --------------------------------------------------------------------------------------------
# §7.1 – §7.3 connected accounts
# --------------------------------------------------------------------------------------------


def test_connected_account_retrieve(client: Composio, make_link: Callable[..., Any], auth_config_id: str) -> None:
    user_id = new_user_id()
    _, link = make_link(user_id)
    raw = client.connected_accounts.with_raw_response.retrieve(link.connected_account_id)
    assert raw.status_code == 200
    account = raw.parse()
    body = raw.http_response.json()

    assert account.id == link.connected_account_id
    assert account.status == "INITIATED"
    assert "status_reason" in body, body
    assert account.status_reason is None or isinstance(account.status_reason, str)
    assert account.toolkit.slug == TOOLKIT
    assert account.auth_config.id == auth_config_id
    assert account.auth_config.auth_scheme == "OAUTH2"
    assert account.auth_config.is_composio_managed is False
    assert account.auth_config.is_disabled is False
    assert account.user_id == user_id
    assert account.is_disabled is False
    created_at = parse_iso(account.created_at)
    updated_at = parse_iso(account.updated_at)
    assert updated_at >= created_at
    assert abs(dt.datetime.now(dt.timezone.utc) - created_at) < dt.timedelta(minutes=5)


def test_connected_account_retrieve_state_and_legacy_fields(client: Composio, make_link: Callable[..., Any]) -> None:
    _, link = make_link()
    body = client.connected_accounts.with_raw_response.retrieve(link.connected_account_id).http_response.json()
    # Required by the Stainless types and §12.3 ("always return").
    assert isinstance(body.get("data"), dict), body
    assert isinstance(body.get("params"), dict), body
    state = body.get("state")
    assert isinstance(state, dict), body
    assert state.get("authScheme") == "OAUTH2", state
    assert isinstance(state.get("val"), dict), state
    assert state["val"].get("status") == "INITIATED", state


def test_connected_account_retrieve_without_session_pin_uses_project_auth_config(
        client: Composio, make_session: Callable[..., Any], auth_config_raw: Any) -> None:
    session = make_session(pin_auth_config=False)
    link = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    account = client.connected_accounts.retrieve(link.connected_account_id)
    assert AUTH_CONFIG_ID_RE.match(account.auth_config.id), account.auth_config.id
    assert account.auth_config.auth_scheme == "OAUTH2"
    assert account.toolkit.slug == TOOLKIT


def test_connected_accounts_list_filters(client: Composio, make_link: Callable[..., Any]) -> None:
    user_a, user_b = new_user_id("a"), new_user_id("b")
    _, link_a = make_link(user_a)
    _, link_b = make_link(user_b)

    raw = client.connected_accounts.with_raw_response.list(
        user_ids=[user_a, user_b], toolkit_slugs=[TOOLKIT], statuses=["INITIATED"])
    assert raw.status_code == 200
    page = raw.parse()
    body = raw.http_response.json()
    for key in ("items", "total_items", "total_pages", "current_page", "next_cursor"):
        assert key in body, f"list response lacks `{key}`: {body}"
    assert sorted(ids_of(page.items)) == sorted([link_a.connected_account_id, link_b.connected_account_id])
    assert page.total_items == 2
    assert page.total_pages == 1
    assert page.current_page == 1
    assert page.next_cursor is None
    for item in page.items:
        assert item.status == "INITIATED"
        assert item.toolkit.slug == TOOLKIT
        assert item.user_id in (user_a, user_b)
        assert item.is_disabled is False
        assert AUTH_CONFIG_ID_RE.match(item.auth_config.id)
        parse_iso(item.created_at)
        parse_iso(item.updated_at)

    only_a = client.connected_accounts.list(user_ids=[user_a])
    assert ids_of(only_a.items) == [link_a.connected_account_id]

    active = client.connected_accounts.list(user_ids=[user_a, user_b], statuses=["ACTIVE"])
    assert active.items == []
    assert active.total_items == 0

    several = client.connected_accounts.list(user_ids=[user_a], statuses=["ACTIVE", "INITIATED"])
    assert ids_of(several.items) == [link_a.connected_account_id]

    by_id = client.connected_accounts.list(connected_account_ids=[link_b.connected_account_id])
    assert ids_of(by_id.items) == [link_b.connected_account_id]


def test_connected_accounts_list_paginates_with_cursor(client: Composio, make_link: Callable[..., Any]) -> None:
    user_id = new_user_id()
    session, first = make_link(user_id)
    created = [first.connected_account_id]
    for _ in range(2):
        created.append(make_link(session=session)[1].connected_account_id)

    first_page = client.connected_accounts.list(user_ids=[user_id], limit=1)
    assert len(first_page.items) == 1
    assert first_page.total_items == 3
    assert first_page.total_pages == 3
    assert first_page.current_page == 1
    assert first_page.next_cursor, "a first page of 1 out of 3 has no next_cursor"

    seen = ids_of(list_all(client, user_ids=[user_id], limit=1))
    assert len(seen) == len(set(seen)), f"duplicates while paginating: {seen}"
    assert sorted(seen) == sorted(created)


def test_connected_accounts_list_order(client: Composio, make_link: Callable[..., Any]) -> None:
    user_id = new_user_id()
    session, first = make_link(user_id)
    second = make_link(session=session)[1]
    third = make_link(session=session)[1]
    created = [first.connected_account_id, second.connected_account_id, third.connected_account_id]

    default = client.connected_accounts.list(user_ids=[user_id])
    assert ids_of(default.items) == list(reversed(created)), "default order is not created_at desc"
    ascending = client.connected_accounts.list(user_ids=[user_id], order_by="created_at", order_direction="asc")
    assert ids_of(ascending.items) == created
    # Cursor pagination keeps the requested order.
    assert ids_of(list_all(client, user_ids=[user_id], limit=2, order_direction="asc")) == created


def test_connected_accounts_list_account_type(client: Composio, make_session: Callable[..., Any]) -> None:
    user_id = new_user_id()
    session = make_session(user_id)
    private = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    shared = call(client.tool_router.session.link,
                  session.session_id, toolkit=TOOLKIT,
                  experimental={"account_type": "SHARED", "acl_config_for_shared": {"allow_all_users": True}})

    default = client.connected_accounts.list(user_ids=[user_id])
    assert ids_of(default.items) == [private.connected_account_id], "default list must exclude SHARED"
    only_private = call(client.connected_accounts.list, user_ids=[user_id], account_type="PRIVATE")
    assert ids_of(only_private.items) == [private.connected_account_id]
    only_shared = call(client.connected_accounts.list, user_ids=[user_id], account_type="SHARED")
    assert ids_of(only_shared.items) == [shared.connected_account_id]
    both = call(client.connected_accounts.list, user_ids=[user_id], account_type="ALL")
    assert sorted(ids_of(both.items)) == sorted([private.connected_account_id, shared.connected_account_id])
    assert both.total_items == 2


def test_connected_account_delete(client: Composio, make_link: Callable[..., Any]) -> None:
    user_id = new_user_id()
    _, link = make_link(user_id)
    account_id = link.connected_account_id

    raw = client.connected_accounts.with_raw_response.delete(account_id)
    assert raw.status_code == 200
    assert raw.parse().success is True

    with pytest.raises(NotFoundError) as info:
        client.connected_accounts.retrieve(account_id)
    assert_error(info.value, 404)
    assert client.connected_accounts.list(user_ids=[user_id]).items == []
    with pytest.raises(NotFoundError) as info:
        client.connected_accounts.delete(account_id)
    assert_error(info.value, 404)


def test_connected_account_retrieve_unknown_and_malformed(client: Composio) -> None:
    with pytest.raises(NotFoundError) as info:
        client.connected_accounts.retrieve(UNKNOWN_ACCOUNT_ID)
    assert_error(info.value, 404)
    with pytest.raises(BadRequestError) as info:
        client.connected_accounts.retrieve("not-an-account")
    assert_error(info.value, 400)


# --------------------------------------------------------------------------------------------
# §7.5 POST connected_accounts/link
# --------------------------------------------------------------------------------------------


def test_link_create(client: Composio, auth_config_id: str) -> None:
    user_id = new_user_id()
    before = dt.datetime.now(dt.timezone.utc)
    raw = client.link.with_raw_response.create(
        auth_config_id=auth_config_id, user_id=user_id, callback_url=CALLBACK_URL)
    assert raw.status_code == 201
    link = raw.parse()
    assert ACCOUNT_ID_RE.match(link.connected_account_id), link.connected_account_id
    assert LINK_TOKEN_RE.match(link.link_token), link.link_token
    assert link.redirect_url == f"{BASE_URL}/link/{link.link_token}"
    expires_at = parse_iso(link.expires_at)
    # Default link lifetime is 10 minutes; allow for clock skew between server and test.
    assert before + dt.timedelta(minutes=8) < expires_at < before + dt.timedelta(minutes=12), link.expires_at

    account = client.connected_accounts.retrieve(link.connected_account_id)
    assert account.status == "INITIATED"
    assert account.auth_config.id == auth_config_id
    assert account.user_id == user_id
    assert account.toolkit.slug == TOOLKIT


def test_link_create_without_callback_url(client: Composio, auth_config_id: str) -> None:
    link = client.link.create(auth_config_id=auth_config_id, user_id=new_user_id())
    assert ACCOUNT_ID_RE.match(link.connected_account_id)
    assert link.redirect_url == f"{BASE_URL}/link/{link.link_token}"


def test_link_create_unknown_auth_config(client: Composio) -> None:
    with pytest.raises(NotFoundError) as info:
        client.link.create(auth_config_id=UNKNOWN_AUTH_CONFIG_ID, user_id=new_user_id())
    assert_error(info.value, 404)


def test_link_create_rejects_callback_off_the_allowlist(client: Composio, auth_config_id: str) -> None:
    with pytest.raises(BadRequestError) as info:
        client.link.create(auth_config_id=auth_config_id, user_id=new_user_id(),
                           callback_url="https://evil.example.net/cb")
    err = assert_error(info.value, 400)
    assert mentions(err, "callback_url"), err


def test_link_create_alias_and_shared(client: Composio, auth_config_id: str) -> None:
    link = call(client.link.create,
                auth_config_id=auth_config_id, user_id=new_user_id(), alias="work", callback_url=CALLBACK_URL,
                experimental={"account_type": "SHARED", "acl_config_for_shared": SHARED_ACL})
    assert field(link, "experimental") is not None
    assert field(link, "experimental", "account_type") == "SHARED"
    acl = field(link, "experimental", "acl_config_for_shared")
    assert acl is not None
    assert field(acl, "allowed_user_ids") == ["u2"]
    assert field(acl, "not_allowed_user_ids") == ["u3"]
    assert field(acl, "allow_all_users") is False
    account = client.connected_accounts.retrieve(link.connected_account_id)
    assert account.alias == "work"


# --------------------------------------------------------------------------------------------
# §3 errors as typed exceptions
# --------------------------------------------------------------------------------------------


def test_unknown_session_is_not_found(client: Composio) -> None:
    with pytest.raises(NotFoundError) as info:
        client.tool_router.session.retrieve(UNKNOWN_SESSION_ID)
    assert_error(info.value, 404)
    with pytest.raises(NotFoundError) as info:
        client.tool_router.session.link(UNKNOWN_SESSION_ID, toolkit=TOOLKIT)
    assert_error(info.value, 404)


@pytest.mark.parametrize("session_id", ["not-a-session", "trs_short", "ca_AAAAAAAAAAAA"])
def test_malformed_session_id_is_bad_request(client: Composio, session_id: str) -> None:
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.retrieve(session_id)
    assert_error(info.value, 400, message_contains="trs_")
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.link(session_id, toolkit=TOOLKIT)
    assert_error(info.value, 400)


def test_unknown_toolkit_slug_on_session_create(client: Composio) -> None:
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.create(
            user_id=new_user_id(), toolkits={"enable": [TOOLKIT, "nosuchtoolkit-compat"]},
            manage_connections={"enable": True})
    err = assert_error(info.value, 400, code=4305, slug="ToolRouterV2_InvalidToolkitSlugs")
    assert "nosuchtoolkit-compat" in err["message"], err


def test_wrong_api_key_is_unauthenticated() -> None:
    wrong_key = "ak_compatWrongKeyDoesNotExist0000"
    bad = Composio(base_url=BASE_URL, api_key=wrong_key, max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        bad.tool_router.session.retrieve(UNKNOWN_SESSION_ID)
    err = assert_error(info.value, 401, code=801, slug="APIKey_InvalidAPIKey")
    assert wrong_key not in str(info.value.body), "the rejected key is echoed back in full"
    assert err["message"]
    with pytest.raises(AuthenticationError) as info:
        bad.connected_accounts.list()
    assert_error(info.value, 401)


def test_missing_api_key_is_unauthenticated(client: Composio) -> None:
    with pytest.raises(AuthenticationError) as info:
        client.connected_accounts.list(extra_headers={"x-api-key": omit})
    assert_error(info.value, 401)


def test_other_project_cannot_see_sessions_or_accounts(client: Composio, other_client: Composio,
                                                       make_link: Callable[..., Any], auth_config_id: str) -> None:
    user_id = new_user_id()
    session, link = make_link(user_id)
    account_id = link.connected_account_id

    with pytest.raises(NotFoundError) as info:
        other_client.tool_router.session.retrieve(session.session_id)
    assert_error(info.value, 404)
    with pytest.raises(NotFoundError) as info:
        other_client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    assert_error(info.value, 404)
    with pytest.raises(NotFoundError) as info:
        other_client.connected_accounts.retrieve(account_id)
    assert_error(info.value, 404)
    with pytest.raises(NotFoundError) as info:
        other_client.connected_accounts.delete(account_id)
    assert_error(info.value, 404)
    listed = other_client.connected_accounts.list(user_ids=[user_id])
    assert listed.items == [] and listed.total_items == 0
    listed = other_client.connected_accounts.list(connected_account_ids=[account_id])
    assert listed.items == []
    with pytest.raises(NotFoundError) as info:
        other_client.link.create(auth_config_id=auth_config_id, user_id=user_id)
    assert_error(info.value, 404)

    # Nothing the other project tried touched the account.
    assert client.connected_accounts.retrieve(account_id).status == "INITIATED"
    assert client.tool_router.session.retrieve(session.session_id).session_id == session.session_id


def test_duplicate_alias_is_conflict(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    first = call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, alias="work")
    assert ACCOUNT_ID_RE.match(first.connected_account_id)
    with pytest.raises(ConflictError) as info:
        call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, alias="work")
    assert_error(info.value, 409)
    # §1/§12.7: clients retry 409 unless told not to; a duplicate must not be replayed.
    assert info.value.response.headers.get("x-should-retry") == "false", dict(info.value.response.headers)
    # Another alias for the same user and toolkit is fine.
    other = call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, alias="personal")
    assert other.connected_account_id != first.connected_account_id
    assert client.connected_accounts.retrieve(first.connected_account_id).alias == "work"


def test_alias_is_unique_across_link_endpoints(client: Composio, make_session: Callable[..., Any],
                                               auth_config_id: str) -> None:
    user_id = new_user_id()
    call(client.link.create, auth_config_id=auth_config_id, user_id=user_id, alias="shared-alias")
    session = make_session(user_id)
    with pytest.raises(ConflictError) as info:
        call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, alias="shared-alias")
    assert_error(info.value, 409)
    # The same alias for a different user is not a conflict.
    other = make_session()
    assert call(client.tool_router.session.link, other.session_id, toolkit=TOOLKIT, alias="shared-alias")



def test_project_api_key_format() -> None:
    """`authlink api-key create` hands out Composio-style project keys (§2)."""
    assert API_KEY.startswith("ak_"), "project API keys are `ak_…`"
    assert len(API_KEY) >= 3 + 22, "a project key carries at least 128 bits"


# --------------------------------------------------------------------------------------------
# Further client methods that reach these endpoints (§5, §7.4, §7.6, §8, §1, §12.6)
# --------------------------------------------------------------------------------------------


def test_auth_config_retrieve_and_list(client: Composio, auth_config_id: str) -> None:
    raw = client.auth_configs.with_raw_response.retrieve(auth_config_id)
    assert raw.status_code == 200
    body = raw.http_response.json()
    for key in ("id", "name", "no_of_connections", "status", "tool_access_config", "toolkit", "type", "uuid"):
        assert key in body, f"auth config lacks required `{key}`: {body}"
    fetched = raw.parse()
    assert fetched.id == auth_config_id
    assert fetched.status == "ENABLED"
    assert fetched.type == "custom"
    assert fetched.toolkit.slug == TOOLKIT
    assert isinstance(body["toolkit"].get("logo"), str), "ts-core dereferences toolkit.logo (§8)"
    assert isinstance(fetched.name, str) and fetched.name
    assert "csecret" not in raw.http_response.text, "the client secret is returned in clear"

    listed = client.auth_configs.list(toolkit_slug=TOOLKIT)
    assert auth_config_id in [item.id for item in listed.items]
    assert listed.total_items >= 1
    assert all(item.toolkit.slug == TOOLKIT for item in listed.items)


def test_auth_config_of_other_project_is_not_found(other_client: Composio, auth_config_id: str) -> None:
    with pytest.raises(NotFoundError) as info:
        other_client.auth_configs.retrieve(auth_config_id)
    assert_error(info.value, 404)
    assert auth_config_id not in [item.id for item in other_client.auth_configs.list().items]


def test_session_patch_bumps_config_version(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    version = field(session, "config_version")
    patched = patch_session(client, session.session_id,
                            manage_connections={"callback_url": "https://app.example.com/cb2"})
    assert field(patched, "session_id") == session.session_id
    assert field(patched, "config_version") == version + 1
    assert field(patched, "config", "manage_connections") is not None
    assert field(patched, "config", "manage_connections", "callback_url") == "https://app.example.com/cb2"
    fetched = client.tool_router.session.retrieve(session.session_id)
    assert field(fetched, "config_version") == version + 1
    # Links from the session now default to the new callback, which must still be allowlisted.
    link = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    assert ACCOUNT_ID_RE.match(link.connected_account_id)


def test_session_delete(client: Composio, other_client: Composio, make_session: Callable[..., Any]) -> None:
    """DELETE is a raw path (ts-core), not a Stainless method: use the client's generic `delete`."""
    session = make_session()
    path = f"{PREFIX}/tool_router/session/{session.session_id}"
    with pytest.raises(NotFoundError) as info:
        other_client.delete(path, cast_to=object)
    assert_error(info.value, 404)
    assert client.delete(path, cast_to=object) == {"session_id": session.session_id, "deleted": True}
    with pytest.raises(NotFoundError) as info:
        client.tool_router.session.retrieve(session.session_id)
    assert_error(info.value, 404)
    with pytest.raises(NotFoundError) as info:
        client.delete(path, cast_to=object)
    assert_error(info.value, 404)


def test_connected_account_patch_alias(client: Composio, make_link: Callable[..., Any]) -> None:
    _, link = make_link()
    patched = client.connected_accounts.patch(link.connected_account_id, alias="renamed")
    assert patched.id == link.connected_account_id
    assert patched.success is True
    assert patched.status == "INITIATED"
    assert client.connected_accounts.retrieve(link.connected_account_id).alias == "renamed"


def test_connected_account_patch_acl(client: Composio, make_session: Callable[..., Any]) -> None:
    session = make_session()
    shared = call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT,
                  experimental={"account_type": "SHARED", "acl_config_for_shared": {}})
    patched = call(client.connected_accounts.patch,
                   shared.connected_account_id, experimental={"acl_config_for_shared": SHARED_ACL})
    assert patched.success is True
    account = client.connected_accounts.retrieve(shared.connected_account_id)
    assert field(account, "experimental") is not None
    acl = field(account, "experimental", "acl_config_for_shared")
    assert acl is not None
    assert field(acl, "allowed_user_ids") == ["u2"]
    assert field(acl, "not_allowed_user_ids") == ["u3"]

    private = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    with pytest.raises(BadRequestError) as info:
        call(client.connected_accounts.patch, private.connected_account_id,
             experimental={"acl_config_for_shared": {"allow_all_users": True}})
    assert_error(info.value, 400, message_contains="acl_config_for_shared is only valid on SHARED")


def test_legacy_connected_account_create(client: Composio, auth_config_id: str) -> None:
    """§7.6: either the legacy flow works, or it is refused the way Composio retires it."""
    user_id = new_user_id()
    try:
        created = client.connected_accounts.create(
            auth_config={"id": auth_config_id}, connection={"user_id": user_id, "callback_url": CALLBACK_URL})
    except BadRequestError as exc:
        assert_error(exc, 400, code=600, slug="ConnectedAccount_BadRequest", message_contains="connected_accounts/link")
        return
    assert ACCOUNT_ID_RE.match(created.id)
    assert created.status == "INITIATED"
    assert created.redirect_url
    assert client.connected_accounts.retrieve(created.id).user_id == user_id


def test_link_for_toolkit_without_auth_config(client: Composio) -> None:
    session = client.tool_router.session.create(
        user_id=new_user_id(), toolkits={"enable": ["gitlab"]}, manage_connections={"enable": True})
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.link(session.session_id, toolkit="gitlab", callback_url=CALLBACK_URL)
    assert_error(info.value, 400, code=4308, slug="ToolRouterV2_NoManagedAuth")


def test_link_for_toolkit_not_enabled_in_session(client: Composio) -> None:
    session = client.tool_router.session.create(
        user_id=new_user_id(), toolkits={"enable": ["gitlab"]}, manage_connections={"enable": True})
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.link(session.session_id, toolkit=TOOLKIT, callback_url=CALLBACK_URL)
    assert_error(info.value, 400)


def test_two_credential_headers_are_unauthenticated(client: Composio) -> None:
    with pytest.raises(AuthenticationError) as info:
        client.connected_accounts.list(extra_headers={"x-user-api-key": "uak_compat"})
    assert_error(info.value, 401)


def test_unknown_fields_and_empty_query_values_are_ignored(client: Composio, make_link: Callable[..., Any]) -> None:
    """Clients add fields often (§12.6); ts sends `key=` for null, which means absent (§1)."""
    session = client.tool_router.session.create(
        user_id=new_user_id(), toolkits={"enable": [TOOLKIT]},
        manage_connections={"enable": True, "callback_url": CALLBACK_URL},
        extra_body={"hooks": {"before_execute": "x"}, "some_future_field": [1, 2]})
    assert SESSION_ID_RE.match(session.session_id)

    user_id = new_user_id()
    _, link = make_link(user_id)
    listed = client.connected_accounts.list(
        user_ids=[user_id], extra_query={"statuses": "", "auth_config_ids": "", "some_future_param": "1"})
    assert ids_of(listed.items) == [link.connected_account_id]


def test_session_toolkits_enable_and_disable_are_exclusive(client: Composio) -> None:
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.create(
            user_id=new_user_id(), toolkits={"enable": [TOOLKIT], "disable": ["gmail"]})  # type: ignore[typeddict-item]
    err = assert_error(info.value, 400)
    assert mentions(err, "toolkits"), err


def test_session_multi_account(client: Composio) -> None:
    session = call(client.tool_router.session.create,
                   user_id=new_user_id(), toolkits={"enable": [TOOLKIT]}, multi_account={"enable": True})
    multi = field(session, "config", "multi_account")
    assert multi is not None, session.config.to_dict()
    assert field(multi, "enable") is True
    assert field(multi, "max_accounts_per_toolkit") == 5, "default is 5 when enabled (§4.1)"

    with pytest.raises(BadRequestError) as info:
        call(client.tool_router.session.create,
             user_id=new_user_id(), toolkits={"enable": [TOOLKIT]},
             multi_account={"enable": True, "max_accounts_per_toolkit": 11})
    err = assert_error(info.value, 400)
    assert mentions(err, "max_accounts_per_toolkit"), err


def test_session_link_url_overwrite(client: Composio, auth_config_id: str) -> None:
    session = call(client.tool_router.session.create,
                   user_id=new_user_id(), toolkits={"enable": [TOOLKIT]}, auth_configs={TOOLKIT: auth_config_id},
                   manage_connections={"enable": True, "callback_url": CALLBACK_URL},
                   experimental={"link_url_overwrite": "https://connect.example.com"})
    link = client.tool_router.session.link(session.session_id, toolkit=TOOLKIT)
    assert link.redirect_url == f"https://connect.example.com/link/{link.link_token}"


def test_wrong_json_type_is_bad_request(client: Composio) -> None:
    with pytest.raises(BadRequestError) as info:
        client.tool_router.session.create(user_id=123, toolkits={"enable": [TOOLKIT]})  # type: ignore[arg-type]
    err = assert_error(info.value, 400)
    assert mentions(err, "user_id"), err


def test_oversized_body_gets_the_error_envelope() -> None:
    # The server answers before reading the whole body and then closes the connection (without
    # `Connection: close`), so a client of its own keeps that connection out of the shared pool,
    # where the next test could pick it up and fail with a connection error.
    with Composio(base_url=BASE_URL, api_key=API_KEY, max_retries=0) as own, \
            pytest.raises(APIStatusError) as info:
        own.tool_router.session.create(
            user_id=new_user_id(), toolkits={"enable": [TOOLKIT]}, extra_body={"padding": "x" * (2 * 1024 * 1024)})
    assert info.value.status_code in (400, 413), info.value.status_code
    assert_error(info.value, info.value.status_code)


def test_concurrent_duplicate_alias_yields_one_account(client: Composio, make_session: Callable[..., Any]) -> None:
    """Alias uniqueness is enforced by the database: a race gives one 201 and 409s, never a 500."""
    session = make_session()

    def attempt(_: int) -> Any:
        try:
            return call(client.tool_router.session.link, session.session_id, toolkit=TOOLKIT, alias="racy")
        except APIStatusError as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    created = [o for o in outcomes if not isinstance(o, APIStatusError)]
    refused = [o for o in outcomes if isinstance(o, APIStatusError)]
    assert len(created) == 1, outcomes
    for exc in refused:
        assert isinstance(exc, ConflictError), f"expected 409, got {exc.status_code}: {exc.body!r}"
        assert_error(exc, 409)
    listed = client.connected_accounts.list(user_ids=[session.config.user_id])
    assert ids_of(listed.items) == [created[0].connected_account_id]


# --------------------------------------------------------------------------------------------
# Issue 15: API key, bearer and basic accounts created through the API, read with the client
# --------------------------------------------------------------------------------------------

SCHEME_CASES = [
    ("openai", "API_KEY", {"api_key": "sk-compatTestKey0123456789abcdef"}),
    ("huggingface", "BEARER_TOKEN", {"token": "hf_compatTestToken0123456789"}),
    ("twilio", "BASIC", {"username": "AC" + "0123456789abcdef" * 2, "password": "compat-auth-token"}),
]


@pytest.mark.parametrize(("toolkit", "scheme", "val"), SCHEME_CASES)
def test_scheme_account_created_active_and_read_back(client: Composio, toolkit: str, scheme: str,
                                                     val: dict[str, str]) -> None:
    created_config = client.auth_configs.create(
        toolkit={"slug": toolkit}, auth_config={"type": "use_custom_auth", "authScheme": scheme})  # type: ignore[arg-type]
    assert created_config.auth_config.auth_scheme == scheme
    assert created_config.toolkit.slug == toolkit
    user_id = new_user_id()
    raw = client.connected_accounts.with_raw_response.create(
        auth_config={"id": created_config.auth_config.id},
        connection={"user_id": user_id, "state": {"authScheme": scheme, "val": {"status": "ACTIVE", **val}}},  # type: ignore[typeddict-item]
    )
    assert raw.status_code == 201
    created = raw.parse()
    assert ACCOUNT_ID_RE.match(created.id), created.id
    assert created.status == "ACTIVE"
    account = client.connected_accounts.retrieve(created.id)
    assert account.status == "ACTIVE"
    assert account.auth_config.auth_scheme == scheme
    assert account.toolkit.slug == toolkit
    assert account.user_id == user_id
    body = client.connected_accounts.with_raw_response.retrieve(created.id).http_response.json()
    assert body["state"] == {"authScheme": scheme, "val": {"status": "ACTIVE", **val}}, body
    assert body["data"] == {"status": "ACTIVE", **val}, body
    assert ids_of(list_all(client, user_ids=[user_id])) == [created.id]


def test_scheme_account_with_a_bad_field_is_rejected_by_name(client: Composio) -> None:
    created_config = client.auth_configs.create(
        toolkit={"slug": "openai"}, auth_config={"type": "use_custom_auth", "authScheme": "API_KEY"})  # type: ignore[arg-type]
    with pytest.raises(BadRequestError) as excinfo:
        client.connected_accounts.create(
            auth_config={"id": created_config.auth_config.id},
            connection={"user_id": new_user_id(), "state": {"authScheme": "API_KEY", "val": {"api_key": "nope"}}},  # type: ignore[typeddict-item]
        )
    err = assert_error(excinfo.value, 400, slug="ToolRouterV2_BadRequest")
    assert mentions(err, "connection.state.val.api_key"), err
    assert "nope" not in str(err), err
