"""The Python SDK (`composio` 0.30.0) against a running authlink: every call that touches
toolkits, auth configs, sessions, links and connected accounts, with a real connect flow against
the oidc-provider of tests/e2e (walked over plain HTTP, as tests/e2e/lib/harness.mjs does).

Run by tests/sdk/run.sh, which sets:
  AUTHLINK_BASE_URL, AUTHLINK_API_KEY   the server and a project key
  IDP_INFO                              the provider's JSON (tests/sdk/idp-server.mjs)
Exits non-zero at the first failed step, naming it.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import sys
import traceback
import urllib.parse

import httpx
from composio import Composio, exceptions
from composio_client import BadRequestError, ConflictError, NotFoundError

BASE = os.environ["AUTHLINK_BASE_URL"]
KEY = os.environ["AUTHLINK_API_KEY"]
with open(os.environ["IDP_INFO"], encoding="utf-8") as f:
    IDP = json.load(f)
CALLBACK = f"{BASE}/oauth/callback"
APP_CALLBACK = "http://127.0.0.1:9/app/connected?from=sdk"

steps: list[str] = []


def step(name: str):
    def wrap(fn):
        steps.append(name)
        print(f"py: {name}", flush=True)
        try:
            return fn()
        except Exception:
            print(f"py: FAILED at step: {name}", file=sys.stderr)
            traceback.print_exc()
            sys.exit(1)

    return wrap


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def counters() -> dict:
    return httpx.get(IDP["countersUrl"]).json()


def connect(redirect_url: str, login: str) -> str:
    """Link page -> Continue -> provider login and consent -> authlink's callback; returns the
    app callback URL authlink redirects to."""
    with httpx.Client(follow_redirects=False, timeout=20) as browser:
        page = browser.get(redirect_url)
        expect(page.status_code == 200, f"link page {page.status_code}")
        m = re.search(r'<form method="post" action="([^"]+)"><button type="submit">Continue to', page.text)
        expect(m is not None, "the link page has a Continue form")
        url = urllib.parse.urljoin(redirect_url, html.unescape(m.group(1)))
        r = browser.post(url)
        expect(r.status_code == 302, f"continue answered {r.status_code}")
        url, method, form = r.headers["location"], "GET", None
        for _ in range(20):
            if method == "GET" and url.startswith(CALLBACK):
                done = browser.get(url)
                expect(done.status_code == 302, f"callback answered {done.status_code}: {done.text[:300]}")
                return done.headers["location"]
            r = browser.request(method, url, data=form)
            if "location" in r.headers:
                url, method, form = urllib.parse.urljoin(url, r.headers["location"]), "GET", None
                continue
            expect(r.status_code == 200, f"provider page {url} answered {r.status_code}")

            def action(name: str) -> str:
                m = re.search(rf'<form method="post" action="([^"]*/{name})">', r.text)
                expect(m is not None, f"provider page has a {name} form")
                return urllib.parse.urljoin(url, m.group(1))

            if 'name="login"' in r.text:
                url, form = action("login"), {"login": login, "password": "correct horse"}
            elif ">Allow<" in r.text:
                url, form = action("confirm"), {}
            else:
                raise AssertionError(f"unexpected provider page {url}")
            method = "POST"
        raise AssertionError("too many redirects at the provider")


def assert_active(account, user_id: str, toolkit: str, auth_config_id: str) -> None:
    expect(account.status == "ACTIVE", f"status {account.status}")
    expect(account.id.startswith("ca_"), account.id)
    expect(account.user_id == user_id, account.user_id)
    expect(account.toolkit.slug == toolkit, account.toolkit.slug)
    expect(account.auth_config.id == auth_config_id, account.auth_config.id)
    expect(account.auth_config.is_composio_managed is False, "not managed")
    expect(account.auth_config.is_disabled is False, "config enabled")
    expect(account.is_disabled is False, "account enabled")
    expect(account.status_reason is None, f"status_reason {account.status_reason}")
    state = account.state.model_dump(by_alias=True) if hasattr(account.state, "model_dump") else account.state
    expect(state["authScheme"] == "OAUTH2", f"state {state}")
    expect(state["val"]["status"] == "ACTIVE" and state["val"]["access_token"], f"state.val {state['val']}")
    expect(bool(account.created_at) and bool(account.updated_at), "timestamps")


composio = Composio(api_key=KEY, base_url=BASE, allow_tracking=False)
suffix = secrets.token_hex(4)
TK = f"idp_py_{suffix}"
USER = f"user_py_{suffix}"
client = IDP["clients"]["basic"]
creds = {
    "client_id": client["client_id"],
    "client_secret": client["client_secret"],
    "authorization_url": IDP["authorizationUrl"],
    "token_url": IDP["tokenUrl"],
    "client_auth": "client_secret_basic",
    "issuer": IDP["issuer"],
    "scopes": ["openid", "offline_access"],
}

# --- toolkits ------------------------------------------------------------------------------------


@step("toolkits.get(slug) on a catalog toolkit")
def _():
    t = composio.toolkits.get("github")
    expect(t.slug == "github" and t.name == "GitHub" and t.type == "native", f"{t.slug} {t.name} {t.type}")
    expect(t.composio_managed_auth_schemes == [] and t.composio_managed_auth == [], "no managed auth")
    expect(t.meta.categories[0].slug == "developer-tools" and t.meta.categories[0].name == "Developer Tools", "category")
    expect(t.meta.logo.startswith("https://") and t.meta.description, "meta")
    expect(t.auth_config_details[0].mode == "OAUTH2", "scheme")
    expect(t.is_local_toolkit is False and t.enabled is True, "flags")


@step("toolkits.get() / list(): the catalog, by slug")
def _():
    items = composio.toolkits.get()
    slugs = [i.slug for i in items]
    expect("github" in slugs and slugs == sorted(slugs) and len(slugs) >= 40, f"{len(slugs)} toolkits")
    page = composio.toolkits.list(limit=5, category="crm")
    expect([i.slug for i in page.items] == ["affinity", "apollo", "attio", "capsule_crm", "close"], str(page.items))
    expect(page.total_items == 22 and page.next_cursor, f"{page.total_items} {page.next_cursor}")
    expect(page.items[0].meta.categories[0].id == "crm", "list category id")


@step("toolkits.get(query=...) with paging")
def _():
    first = composio._client.toolkits.list(limit=3)
    expect(len(first.items) == 3 and first.next_cursor, "first page")
    second = composio._client.toolkits.list(limit=3, cursor=first.next_cursor)
    expect(second.current_page == 2 and second.items[0].slug > first.items[-1].slug, "second page")
    expect(composio.toolkits.get(query={"managed_by": "composio"}) == [], "composio manages nothing")


@step("toolkits.get_many")
def _():
    got = composio.toolkits.get_many(["slack", "github", "nope"])
    expect([t.slug for t in got] == ["github", "slack"], str([t.slug for t in got]))


@step("toolkits.list_categories")
def _():
    cats = composio.toolkits.list_categories()
    expect([c.id for c in cats][:1] + [c.id for c in cats][3:5] == ["ai", "communication", "crm"] and cats[4].name == "CRM", str(cats))


@step("toolkits.get_auth_config_creation_fields / get_connected_account_initiation_fields")
def _():
    fields = composio.toolkits.get_auth_config_creation_fields("github", "OAUTH2", required_only=True)
    expect([f.name for f in fields] == ["client_id", "client_secret"], str(fields))
    secret = [f for f in fields if f.name == "client_secret"][0]
    expect(secret.is_secret is True and secret.display_name == "Client Secret" and secret.type == "string", "field")
    everything = composio.toolkits.get_auth_config_creation_fields("github", "OAUTH2")
    expect({"scopes", "revocation_url"} <= {f.name for f in everything}, "optional fields")
    init = composio.toolkits.get_connected_account_initiation_fields("github", "OAUTH2")
    expect(init == [], f"github needs no initiation fields: {init}")
    try:
        composio.toolkits.get_auth_config_creation_fields("github", "API_KEY")
        raise AssertionError("API_KEY is not a scheme of authlink's toolkits")
    except exceptions.InvalidParams as e:
        expect("API_KEY" in str(e), str(e))


@step("toolkits.get on an unknown toolkit is a 404")
def _():
    try:
        composio.toolkits.get("no_such_toolkit_x")
        raise AssertionError("expected NotFoundError")
    except NotFoundError as e:
        expect("Toolkit_NotFound" in str(e.body), str(e.body))


@step("toolkits.changelog / recommend_scopes / list_grant_contexts: the clear 400 (no tools)")
def _():
    for call in (
        lambda: composio.toolkits.changelog(),
        lambda: composio.toolkits.recommend_scopes("github", tools=["GITHUB_GET_A_REPO"]),
        lambda: composio.toolkits.list_grant_contexts("github"),
    ):
        try:
            call()
            raise AssertionError("expected BadRequestError")
        except BadRequestError as e:
            expect("Authlink_Unsupported" in str(e.body) and "serves no tools" in str(e.body), str(e.body))


# --- auth configs --------------------------------------------------------------------------------

state: dict = {}


@step("auth_configs.create (use_custom_auth, OAUTH2)")
def _():
    ac = composio.auth_configs.create(TK, {"type": "use_custom_auth", "auth_scheme": "OAUTH2", "credentials": creds, "name": "IdP (py)"})
    expect(ac.id.startswith("ac_") and ac.auth_scheme == "OAUTH2" and ac.is_composio_managed is False, str(ac))
    state["ac"] = ac.id


@step("auth_configs.create with use_composio_managed_auth is a clear 400")
def _():
    try:
        composio.auth_configs.create("github", {"type": "use_composio_managed_auth"})
        raise AssertionError("expected BadRequestError")
    except BadRequestError as e:
        expect("authlink manages no OAuth apps" in str(e.body), str(e.body))


@step("toolkits.get on the custom toolkit")
def _():
    t = composio.toolkits.get(TK)
    expect(t.type == "custom" and t.name == TK, f"{t.type} {t.name}")
    req = [f.name for f in t.auth_config_details[0].fields.auth_config_creation.required]
    expect(req == ["client_id", "client_secret", "authorization_url", "token_url"], str(req))


@step("auth_configs.get / list")
def _():
    ac = composio.auth_configs.get(state["ac"])
    expect(ac.id == state["ac"] and ac.name == "IdP (py)" and ac.status == "ENABLED" and ac.type == "custom", str(ac))
    expect(ac.toolkit.slug == TK and ac.no_of_connections == 0 and ac.uuid, "toolkit, counts")
    expect(client["client_secret"] not in ac.model_dump_json(), "secret never returned")
    listed = composio.auth_configs.list(toolkit_slug=TK)
    expect([i.id for i in listed.items] == [state["ac"]] and listed.total_items == 1, str(listed))


@step("auth_configs.update (custom: credentials, scopes, revocation_url; secret kept)")
def _():
    r = composio.auth_configs.update(
        state["ac"],
        options={"type": "custom", "credentials": {"scopes": ["openid", "offline_access"], "revocation_url": IDP["revocationUrl"]}},
    )
    expect(r.success is True and state["ac"] in r.message, str(r))
    ac = composio.auth_configs.get(state["ac"])
    expect(ac.credentials["revocation_url"] == IDP["revocationUrl"], str(ac.credentials))
    expect(ac.credentials["client_id"] == client["client_id"], "client id kept")


@step("auth_configs.update with type default is a clear 400")
def _():
    try:
        composio.auth_configs.update(state["ac"], options={"type": "default", "scopes": ["x"]})
        raise AssertionError("expected BadRequestError")
    except BadRequestError as e:
        expect("manages no OAuth apps" in str(e.body), str(e.body))


@step("auth_configs.disable / enable")
def _():
    r = composio.auth_configs.disable(state["ac"])
    expect(r.success is True and "DISABLED" in r.message, str(r))
    expect(composio.auth_configs.get(state["ac"]).status == "DISABLED", "disabled")
    expect(composio.auth_configs.list(toolkit_slug=TK).items == [], "hidden from toolkits.authorize")
    r = composio.auth_configs.enable(state["ac"])
    expect(r.success is True and composio.auth_configs.get(state["ac"]).status == "ENABLED", str(r))


# --- the central journey -------------------------------------------------------------------------


@step("composio.create(user_id, toolkits, auth_configs, manage_connections)")
def _():
    session = composio.create(user_id=USER, toolkits=[TK], auth_configs={TK: state["ac"]}, manage_connections={"callback_url": APP_CALLBACK})
    expect(session.session_id.startswith("trs_") and session.mcp.url.endswith(f"/tool_router/{session.session_id}/mcp"), session.mcp.url)
    state["session"] = session


@step("composio.use(session_id)")
def _():
    again = composio.use(state["session"].session_id)
    expect(again.session_id == state["session"].session_id, "same session")


@step("session.toolkits(): not connected yet")
def _():
    tk = state["session"].toolkits()
    item = [i for i in tk.items if i.slug == TK][0]
    expect(item.connection is None or not item.connection.is_active, str(item))


@step("session.authorize -> INITIATED with redirectUrl in state")
def _():
    req = state["session"].authorize(TK)
    expect(req.id.startswith("ca_") and req.status == "INITIATED" and "/link/" in req.redirect_url, str(req))
    acc = composio.connected_accounts.get(req.id)
    val = acc.state.model_dump(by_alias=True)["val"] if hasattr(acc.state, "model_dump") else acc.state["val"]
    expect(acc.status == "INITIATED" and val.get("redirectUrl") == req.redirect_url, f"{acc.status} {val}")
    state["req"] = req


@step("connect flow at the real provider, wait_for_connection -> ACTIVE")
def _():
    back = connect(state["req"].redirect_url, login=f"alice_{suffix}")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    expect(q.get("status") == "success" and q.get("connected_account_id") == state["req"].id and q.get("from") == "sdk", back)
    account = state["req"].wait_for_connection(timeout=30)
    assert_active(account, USER, TK, state["ac"])
    state["ca"] = account.id


@step("session.toolkits(): connected")
def _():
    tk = state["session"].toolkits()
    item = [i for i in tk.items if i.slug == TK][0]
    expect(item.connection.is_active and item.connection.connected_account.id == state["ca"], str(item))


@step("connected_accounts.get / list (ACTIVE carries access_token in get and list items)")
def _():
    acc = composio.connected_accounts.get(state["ca"])
    assert_active(acc, USER, TK, state["ac"])
    listed = composio.connected_accounts.list(user_ids=[USER], toolkit_slugs=[TK], statuses=["ACTIVE"])
    expect([i.id for i in listed.items] == [state["ca"]] and listed.total_items == 1, str(listed))
    assert_active(listed.items[0], USER, TK, state["ac"])


@step("connected_accounts.refresh")
def _():
    before = counters()["refresh"]
    acc = composio.connected_accounts.refresh(state["ca"])
    expect(acc.status == "ACTIVE", str(acc))
    expect(counters()["refresh"] == before + 1, "the provider saw one refresh grant")


@step("connected_accounts.update(alias) / update(alias='') clears")
def _():
    r = composio.connected_accounts.update(state["ca"], alias="work")
    expect(r.success is True and r.id == state["ca"], str(r))
    expect(composio.connected_accounts.get(state["ca"]).alias == "work", "alias set")
    composio.connected_accounts.update(state["ca"], alias="")
    expect(composio.connected_accounts.get(state["ca"]).alias is None, "alias cleared")


@step("connected_accounts.update(connection=...) is a clear 400")
def _():
    try:
        composio.connected_accounts.update(state["ca"], connection={"authScheme": "OAUTH2", "val": {"access_token": "x"}})
        raise AssertionError("expected BadRequestError")
    except BadRequestError as e:
        expect("connect again" in str(e.body), str(e.body))


@step("connected_accounts.disable / enable (is_disabled; never refreshed while disabled)")
def _():
    r = composio.connected_accounts.disable(state["ca"])
    expect(r.success is True, str(r))
    expect(composio.connected_accounts.get(state["ca"]).is_disabled is True, "disabled")
    try:
        composio.connected_accounts.refresh(state["ca"])
        raise AssertionError("expected BadRequestError")
    except BadRequestError as e:
        expect("disabled" in str(e.body), str(e.body))
    composio.connected_accounts.enable(state["ca"])
    expect(composio.connected_accounts.get(state["ca"]).is_disabled is False, "enabled")
    r = composio.connected_accounts.update_status(state["ca"], enabled=True)
    expect(r.success is True, str(r))


@step("connected_accounts.link: refused while ACTIVE, then allow_multiple; delete")
def _():
    try:
        composio.connected_accounts.link(USER, state["ac"])
        raise AssertionError("expected ComposioMultipleConnectedAccountsError")
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001 - the SDK's own exception type
        expect("Multiple connected accounts" in str(e), str(e))
    req = composio.connected_accounts.link(USER, state["ac"], callback_url=APP_CALLBACK, allow_multiple=True)
    expect(req.id.startswith("ca_") and req.status == "INITIATED" and "/link/" in req.redirect_url, str(req))
    r = composio.connected_accounts.delete(req.id)
    expect(r.success is True, str(r))
    try:
        composio.connected_accounts.get(req.id)
        raise AssertionError("expected NotFoundError")
    except NotFoundError:
        pass


@step("connected_accounts.initiate / toolkits.authorize (legacy create)")
def _():
    req = composio.connected_accounts.initiate(USER, state["ac"], allow_multiple=True, callback_url=APP_CALLBACK)
    expect(req.id.startswith("ca_") and req.redirect_url and req.status == "INITIATED", str(req))
    req2 = composio.toolkits.authorize(user_id=f"{USER}_2", toolkit=TK)
    expect(req2.id.startswith("ca_") and "/link/" in req2.redirect_url, str(req2))
    composio.connected_accounts.delete(req.id)
    composio.connected_accounts.delete(req2.id)


@step("connected_accounts.revoke: RFC 7009 at the provider, REVOKED, idempotent; 409 otherwise")
def _():
    before = counters()["revocations"]
    r = composio.connected_accounts.revoke(state["ca"])
    expect(r.connected_account.id == state["ca"] and r.connected_account.status == "REVOKED", str(r))
    expect([t.value if hasattr(t, "value") else t for t in r.revoked_tokens] == ["refresh_token", "access_token"], str(r.revoked_tokens))
    expect(counters()["revocations"] > before, "the provider saw the revocation")
    acc = composio.connected_accounts.get(state["ca"])
    expect(acc.status == "REVOKED", acc.status)
    again = composio.connected_accounts.revoke(state["ca"])
    expect(list(again.revoked_tokens) == [] and again.connected_account.status == "REVOKED", str(again))
    pending = state["session"].authorize(TK)
    try:
        composio.connected_accounts.revoke(pending.id)
        raise AssertionError("expected ComposioConnectedAccountNotRevokableError")
    except exceptions.ComposioConnectedAccountNotRevokableError as e:
        expect(isinstance(e.__cause__, ConflictError) and "INITIATED" in str(e), str(e))
    state["pending"] = pending.id


@step("session.authorize for a toolkit without an auth config is a clear 400")
def _():
    s = composio.create(user_id=USER, toolkits=["github"])
    try:
        s.authorize("github")
        raise AssertionError("expected BadRequestError")
    except BadRequestError as e:
        expect("ToolRouterV2_NoManagedAuth" in str(e.body), str(e.body))


@step("auth_configs.delete takes its accounts with it")
def _():
    r = composio.auth_configs.delete(state["ac"])
    expect(r.success is True and "connected account" in r.message, str(r))
    for ca in (state["ca"], state["pending"]):
        try:
            composio.connected_accounts.get(ca)
            raise AssertionError(f"{ca} should be gone")
        except NotFoundError:
            pass
    try:
        composio.auth_configs.get(state["ac"])
        raise AssertionError("expected NotFoundError")
    except NotFoundError:
        pass


@step("API key account: auth_configs.create(API_KEY), initiate(config=auth_scheme.api_key) -> ACTIVE, get")
def _():
    from composio.types import auth_scheme

    ac = composio.auth_configs.create("openai", {"type": "use_custom_auth", "auth_scheme": "API_KEY"})
    expect(ac.id.startswith("ac_") and ac.auth_scheme == "API_KEY", str(ac))
    key = "sk-sdkJourneyKey0123456789abcdef"
    req = composio.connected_accounts.initiate(USER, ac.id, config=auth_scheme.api_key({"api_key": key}))
    expect(req.id.startswith("ca_") and req.status == "ACTIVE", str(req))
    acc = composio.connected_accounts.get(req.id)
    expect(acc.status == "ACTIVE" and acc.toolkit.slug == "openai" and acc.auth_config.auth_scheme == "API_KEY", str(acc))
    raw = httpx.get(f"{BASE}/api/v3.1/connected_accounts/{req.id}", headers={"x-api-key": KEY}).json()
    expect(raw["state"] == {"authScheme": "API_KEY", "val": {"status": "ACTIVE", "api_key": key}}, str(raw["state"]))
    composio.connected_accounts.update(req.id, connection={"authScheme": "API_KEY", "val": {"api_key": key + "x"}})
    raw = httpx.get(f"{BASE}/api/v3.1/connected_accounts/{req.id}", headers={"x-api-key": KEY}).json()
    expect(raw["state"]["val"]["api_key"] == key + "x", str(raw["state"]))
    composio.connected_accounts.delete(req.id)
    composio.auth_configs.delete(ac.id)


@step("session.delete")
def _():
    r = state["session"].delete()
    expect(getattr(r, "success", True) is not False, str(r))


print(f"py: all {len(steps)} steps passed", flush=True)
