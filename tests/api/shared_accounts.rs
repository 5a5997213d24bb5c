//! SHARED connected accounts (issue 4; contract §4.1, §5, §6, §7.4, §12): the ACL rule through
//! session pins, pin validation on create and PATCH, resolution in `session/{id}/toolkits`, ACL
//! updates, the audit trail, concurrent ACL updates, and listings by `account_type`.
//!
//! Accounts are created through session links (INITIATED); where a test needs an ACTIVE account
//! it flips the row in the test database, which is setup, not a mock.

use std::collections::{BTreeMap, BTreeSet};

use authlink::crypto::sha256;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, assert_error_ctx, error_text, message, spawn_app, timestamp, unknown_id};

const PINS: &str = "ToolRouterV2_InvalidConnectedAccountIds";
const BAD_REQUEST: &str = "ToolRouterV2_BadRequest";
const ACL_ONLY_FOR_SHARED_SLUG: &str = "ConnectedAccount_AclOnlyForShared";
/// The fragment the SDKs substring-match (contract §3, §6.1).
const ACL_ONLY_FOR_SHARED: &str = "acl_config_for_shared is only valid on SHARED";

// ---------------------------------------------------------------------------------------------
// Private helpers
// ---------------------------------------------------------------------------------------------

/// A server with custom OAuth2 auth configs for github and gmail.
async fn setup() -> TestApp {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    app.create_auth_config("gmail").await;
    app
}

/// A session-create body for `user` with `toolkits.enable=[github]`, plus the keys of `extra`.
fn session_body(user: &str, extra: Value) -> Value {
    let mut body = json!({"user_id": user, "toolkits": {"enable": ["github"]}});
    let Value::Object(extra) = extra else { panic!("extra is an object") };
    for (k, v) in extra {
        body[k] = v;
    }
    body
}

/// Creates a github session for `user` (plus `extra` keys); returns its id.
async fn session(app: &TestApp, user: &str, extra: Value) -> String {
    app.create_session(session_body(user, extra)).await
}

/// A github session of `user` pinning `ids`; returns its id.
async fn pinned_session(app: &TestApp, user: &str, ids: &[&str]) -> String {
    session(app, user, json!({"connected_accounts": {"github": ids}})).await
}

/// A new INITIATED account of `user` for `toolkit`, made through a session link.
async fn link_account(app: &TestApp, user: &str, toolkit: &str, experimental: Option<Value>) -> String {
    let sid = app.create_session(json!({"user_id": user, "toolkits": {"enable": [toolkit]}})).await;
    let mut body = json!({"toolkit": toolkit});
    if let Some(e) = experimental {
        body["experimental"] = e;
    }
    app.link_ok(&sid, body).await
}

async fn private(app: &TestApp, user: &str, toolkit: &str) -> String {
    link_account(app, user, toolkit, None).await
}

/// A SHARED account created by `creator`; `acl` is sent as `acl_config_for_shared` when given.
async fn shared(app: &TestApp, creator: &str, toolkit: &str, acl: Option<Value>) -> String {
    let mut experimental = json!({"account_type": "SHARED"});
    if let Some(acl) = acl {
        experimental["acl_config_for_shared"] = acl;
    }
    link_account(app, creator, toolkit, Some(experimental)).await
}

/// Test setup: flips an account to ACTIVE in the database (there is no OAuth completion here).
async fn activate(app: &TestApp, id: &str) {
    let done = app.db.execute("update connected_account set status = 'ACTIVE' where id = $1", [id]).await;
    assert_eq!(done, 1, "activate {id}: no such row");
}

/// The full ACL as the API returns it.
fn acl(all: bool, allow: &[&str], deny: &[&str]) -> Value {
    json!({"allow_all_users": all, "allowed_user_ids": allow, "not_allowed_user_ids": deny})
}

/// `GET …/session/{id}/toolkits?{query}`, which must answer 200.
async fn toolkits(app: &TestApp, sid: &str, query: &str) -> Value {
    let r = app.get(&format!("tool_router/session/{sid}/toolkits?{query}")).await;
    r.expect(200, &format!("session toolkits ?{query}")).clone()
}

/// The `connected_account.id` the session reports for `toolkit`, `None` when it reports none.
async fn resolved(app: &TestApp, sid: &str, toolkit: &str) -> Option<String> {
    let list = toolkits(app, sid, &format!("toolkits={toolkit}")).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one item for ?toolkits={toolkit}: {list}");
    assert_eq!(items[0]["slug"], toolkit, "slug: {list}");
    match items[0].get("connected_account") {
        None | Some(Value::Null) => None,
        Some(ca) => Some(ca["id"].as_str().unwrap_or_else(|| panic!("connected_account.id: {ca}")).to_owned()),
    }
}

/// Walks every page of the session's toolkits with `limit`; returns the items and `total_items`.
async fn toolkit_pages(app: &TestApp, sid: &str, query: &str, limit: usize) -> (Vec<Value>, i64) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    for page in 1.. {
        assert!(page < 500, "pagination does not end");
        let mut q = format!("limit={limit}");
        if !query.is_empty() {
            q = format!("{q}&{query}");
        }
        if let Some(c) = &cursor {
            q = format!("{q}&cursor={}", encode(c));
        }
        let list = toolkits(app, sid, &q).await;
        let page_items = list["items"].as_array().expect("items").clone();
        assert_eq!(list["current_page"], page, "current_page of page {page} ?{q}");
        let t = list["total_items"].as_i64().expect("total_items");
        assert_eq!(*total.get_or_insert(t), t, "total_items changed between pages");
        assert!(page_items.len() <= limit, "page {page} has {} items > limit {limit}", page_items.len());
        items.extend(page_items);
        match list["next_cursor"].as_str() {
            Some(c) => {
                assert!(list["items"].as_array().unwrap().len() == limit, "a non-last page is full");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    (items, total.unwrap_or(0))
}

fn encode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

fn slugs(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["slug"].as_str().expect("slug").to_owned()).collect()
}

async fn account(app: &TestApp, id: &str) -> Value {
    app.get(&format!("connected_accounts/{id}")).await.expect(200, &format!("get account {id}")).clone()
}

/// `experimental.acl_config_for_shared` of an account.
async fn acl_of(app: &TestApp, id: &str) -> Value {
    account(app, id).await["experimental"]["acl_config_for_shared"].clone()
}

async fn patch_acl(app: &TestApp, id: &str, acl: Value) -> Resp {
    app.patch(&format!("connected_accounts/{id}"), json!({"experimental": {"acl_config_for_shared": acl}})).await
}

/// Every audit entry of an account, newest first (default page size, all pages).
async fn audit_all(app: &TestApp, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("connected_accounts/{id}/audit"),
            Some(c) => format!("connected_accounts/{id}/audit?cursor={}", encode(c)),
        };
        let page = app.get(&path).await.expect(200, "audit").clone();
        out.extend(page["items"].as_array().expect("audit items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Audit entries of one kind, newest first.
fn of_kind(entries: &[Value], kind: &str) -> Vec<Value> {
    entries.iter().filter(|e| e["kind"] == kind).cloned().collect()
}

/// The `api_key.id` of a key, as the audit trail reports it.
async fn key_id(app: &TestApp, key: &str) -> String {
    app.db.scalar("select cast(id as text) from api_key where key_hash = $1", [sha256(key)]).await
}

// ---------------------------------------------------------------------------------------------
// 1. The ACL truth table through the API
// ---------------------------------------------------------------------------------------------

/// (label, ACL sent at creation, [(session user, allowed)])
type TruthTable = (&'static str, Option<Value>, [(&'static str, bool); 5]);

#[tokio::test]
async fn acl_truth_table_through_session_pins() {
    let app = setup().await;
    let allow = ["friend", "both"];
    // The creator on the deny list too: the creator is never denied (issue 4, rule 1).
    let deny = ["enemy", "both", "creator"];
    let only_creator = [("creator", true), ("friend", false), ("enemy", false), ("both", false), ("stranger", false)];
    let tables: [TruthTable; 4] = [
        (
            "allow_all=false",
            Some(acl(false, &allow, &deny)),
            [("creator", true), ("friend", true), ("enemy", false), ("both", false), ("stranger", false)],
        ),
        (
            "allow_all=true",
            Some(acl(true, &allow, &deny)),
            [("creator", true), ("friend", true), ("enemy", false), ("both", false), ("stranger", true)],
        ),
        ("ACL omitted", None, only_creator),
        ("ACL {}", Some(json!({})), only_creator),
    ];
    for (label, acl_config, rows) in tables {
        let ca = shared(&app, "creator", "github", acl_config).await;
        for (user, allowed) in rows {
            let case = format!("{label}, user {user}");
            let sessions_before = app.row_counts().await.2;
            let r = app
                .post("tool_router/session", session_body(user, json!({"connected_accounts": {"github": [ca]}})))
                .await;
            if allowed {
                let s = r.expect(201, &case).clone();
                assert_eq!(s["config"]["connected_accounts"], json!({"github": [ca]}), "[{case}] pins echoed");
                let sid = s["session_id"].as_str().expect("session_id");
                assert_eq!(resolved(&app, sid, "github").await.as_deref(), Some(ca.as_str()), "[{case}] resolution");
            } else {
                assert_error_ctx(&r, 400, PINS, &case);
                assert!(message(&r).contains(&ca), "[{case}] message names the account {ca}: {}", message(&r));
                assert_eq!(app.row_counts().await.2, sessions_before, "[{case}] a refused session was stored");
            }
        }
    }
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Pin validation on create and PATCH
// ---------------------------------------------------------------------------------------------

/// Accounts for the pin cases; the session user is `alice`.
struct PinFixture {
    own: [String; 3],
    bob: String,
    gmail: String,
    shared: [String; 2],
    deleted: String,
}

async fn pin_fixture(app: &TestApp) -> PinFixture {
    let own = [
        private(app, "alice", "github").await,
        private(app, "alice", "github").await,
        private(app, "alice", "github").await,
    ];
    let bob = private(app, "bob", "github").await;
    let gmail = private(app, "alice", "gmail").await;
    let all = Some(json!({"allow_all_users": true}));
    let shared = [shared(app, "carol", "github", all.clone()).await, shared(app, "carol", "github", all).await];
    let deleted = private(app, "alice", "github").await;
    app.delete(&format!("connected_accounts/{deleted}")).await.expect(200, "delete account");
    PinFixture { own, bob, gmail, shared, deleted }
}

enum Expect {
    Ok,
    /// 400 `InvalidConnectedAccountIds` whose message contains every fragment.
    Pins(Vec<String>),
    /// 400 `BadRequest` whose text names the field.
    Invalid(&'static str),
}

/// (case, `connected_accounts`, `multi_account` (Null: omitted), expectation)
fn pin_cases(f: &PinFixture) -> Vec<(&'static str, Value, Value, Expect)> {
    let [p1, p2, p3] = &f.own;
    let [s1, s2] = &f.shared;
    let unknown = unknown_id("ca_");
    let multi = json!({"enable": true});
    vec![
        ("unknown id", json!({"github": [unknown]}), Value::Null, Expect::Pins(vec![unknown.clone()])),
        ("unknown id, v3 scalar form", json!({"github": unknown}), Value::Null, Expect::Pins(vec![unknown])),
        ("deleted account", json!({"github": [f.deleted]}), Value::Null, Expect::Pins(vec![f.deleted.clone()])),
        ("PRIVATE account of another user", json!({"github": [f.bob]}), Value::Null, Expect::Pins(vec![f.bob.clone()])),
        ("own PRIVATE account", json!({"github": [p1]}), Value::Null, Expect::Ok),
        ("own PRIVATE account, v3 scalar form", json!({"github": p1}), Value::Null, Expect::Ok),
        (
            "gmail account pinned under github",
            json!({"github": [f.gmail]}),
            Value::Null,
            Expect::Pins(vec![f.gmail.clone()]),
        ),
        ("one SHARED account (allow_all)", json!({"github": [s1]}), Value::Null, Expect::Ok),
        (
            "two SHARED accounts with multi_account",
            json!({"github": [s1, s2]}),
            multi.clone(),
            Expect::Pins(vec!["at most one SHARED".into()]),
        ),
        ("one SHARED + one own PRIVATE with multi_account", json!({"github": [s1, p1]}), multi.clone(), Expect::Ok),
        ("two own PRIVATE without multi_account", json!({"github": [p1, p2]}), Value::Null, Expect::Pins(vec![])),
        (
            "two own PRIVATE, multi_account disabled",
            json!({"github": [p1, p2]}),
            json!({"enable": false}),
            Expect::Pins(vec![]),
        ),
        ("two own PRIVATE with multi_account", json!({"github": [p1, p2]}), multi.clone(), Expect::Ok),
        ("same id twice with multi_account", json!({"github": [p1, p1]}), multi, Expect::Pins(vec![p1.clone()])),
        (
            "three with max_accounts_per_toolkit 2",
            json!({"github": [p1, p2, p3]}),
            json!({"enable": true, "max_accounts_per_toolkit": 2}),
            Expect::Pins(vec![]),
        ),
        (
            "three with max_accounts_per_toolkit 3",
            json!({"github": [p1, p2, p3]}),
            json!({"enable": true, "max_accounts_per_toolkit": 3}),
            Expect::Ok,
        ),
        (
            "max_accounts_per_toolkit 1 is out of range",
            json!({"github": [p1]}),
            json!({"enable": true, "max_accounts_per_toolkit": 1}),
            Expect::Invalid("max_accounts_per_toolkit"),
        ),
        (
            "malformed id",
            json!({"github": ["not-an-id"]}),
            Value::Null,
            Expect::Invalid("connected_accounts.github[0]"),
        ),
    ]
}

/// The pins as a v3.1 response echoes them (arrays).
fn as_arrays(pins: &Value) -> Value {
    let map: BTreeMap<String, Value> = pins
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), if v.is_string() { json!([v]) } else { v.clone() }))
        .collect();
    json!(map)
}

#[track_caller]
fn check_expect(r: &Resp, expect: &Expect, case: &str, ok_status: u16, pins: &Value) {
    match expect {
        Expect::Ok => {
            let s = r.expect(ok_status, case);
            assert_eq!(s["config"]["connected_accounts"], as_arrays(pins), "[{case}] pins echoed");
        }
        Expect::Pins(fragments) => {
            assert_error_ctx(r, 400, PINS, case);
            for f in fragments {
                assert!(message(r).contains(f.as_str()), "[{case}] message lacks `{f}`: {}", message(r));
            }
        }
        Expect::Invalid(field) => {
            assert_error_ctx(r, 400, BAD_REQUEST, case);
            assert!(error_text(r).contains(field), "[{case}] error does not name {field}: {}", r.text);
        }
    }
}

#[tokio::test]
async fn pin_validation_on_session_create() {
    let app = setup().await;
    let f = pin_fixture(&app).await;
    for (case, pins, multi, expect) in pin_cases(&f) {
        let mut extra = json!({"connected_accounts": pins});
        if !multi.is_null() {
            extra["multi_account"] = multi;
        }
        let sessions_before = app.row_counts().await.2;
        let r = app.post("tool_router/session", session_body("alice", extra)).await;
        check_expect(&r, &expect, case, 201, &pins);
        if let Expect::Ok = expect {
            let sid = r.body["session_id"].as_str().unwrap();
            let first = pins["github"].as_array().map_or_else(|| pins["github"].clone(), |a| a[0].clone());
            assert_eq!(resolved(&app, sid, "github").await, first.as_str().map(str::to_owned), "[{case}] resolution");
        } else {
            assert_eq!(app.row_counts().await.2, sessions_before, "[{case}] a refused session was stored");
        }
    }
    // A pin refused for one user is fine for its owner: the rule depends on the session user.
    let r =
        app.post("tool_router/session", session_body("bob", json!({"connected_accounts": {"github": [f.bob]}}))).await;
    r.expect(201, "bob pins his own account");
    app.cleanup().await;
}

#[tokio::test]
async fn pin_validation_on_session_patch() {
    let app = setup().await;
    let f = pin_fixture(&app).await;
    for (case, pins, multi, expect) in pin_cases(&f) {
        let sid = session(&app, "alice", json!({})).await;
        let before = app.get(&format!("tool_router/session/{sid}")).await.expect(200, case).clone();
        let mut body = json!({"connected_accounts": pins});
        if !multi.is_null() {
            body["multi_account"] = multi;
        }
        let r = app.patch(&format!("tool_router/session/{sid}"), body).await;
        check_expect(&r, &expect, case, 200, &pins);
        let after = app.get(&format!("tool_router/session/{sid}")).await.expect(200, case).clone();
        if let Expect::Ok = expect {
            assert_eq!(after["config_version"], 1, "[{case}] config_version after a PATCH");
            assert_eq!(after["config"]["connected_accounts"], as_arrays(&pins), "[{case}] pins stored");
        } else {
            assert_eq!(after, before, "[{case}] a refused PATCH changed the session");
        }
    }

    // The whole resulting config is checked: dropping multi_account with two pins left is refused.
    let [p1, p2, _] = &f.own;
    let sid =
        session(&app, "alice", json!({"connected_accounts": {"github": [p1, p2]}, "multi_account": {"enable": true}}))
            .await;
    let r = app.patch(&format!("tool_router/session/{sid}"), json!({"multi_account": null})).await;
    assert_error_ctx(&r, 400, PINS, "PATCH multi_account:null with two pins");
    let r = app.patch(&format!("tool_router/session/{sid}"), json!({"multi_account": {"enable": false}})).await;
    assert_error_ctx(&r, 400, PINS, "PATCH multi_account.enable=false with two pins");
    let r = app
        .patch(&format!("tool_router/session/{sid}"), json!({"connected_accounts": null, "multi_account": null}))
        .await;
    r.expect(200, "PATCH clearing pins and multi_account together");

    // A SHARED account whose ACL names alice only: mallory's session cannot pin it by PATCH.
    let only_alice = shared(&app, "carol", "github", Some(json!({"allowed_user_ids": ["alice"]}))).await;
    let mallory = session(&app, "mallory", json!({})).await;
    let r = app
        .patch(&format!("tool_router/session/{mallory}"), json!({"connected_accounts": {"github": [only_alice]}}))
        .await;
    assert_error_ctx(&r, 400, PINS, "mallory PATCH-pins alice-only SHARED");
    assert!(message(&r).contains(&only_alice), "message names {only_alice}: {}", message(&r));
    let alice = session(&app, "alice", json!({})).await;
    let r = app
        .patch(&format!("tool_router/session/{alice}"), json!({"connected_accounts": {"github": [only_alice]}}))
        .await;
    r.expect(200, "alice PATCH-pins alice-only SHARED");
    assert_eq!(resolved(&app, &alice, "github").await.as_deref(), Some(only_alice.as_str()), "alice resolves it");
    app.cleanup().await;
}

#[tokio::test]
async fn pins_of_another_project_are_unknown() {
    let app = setup().await;
    let other_key = app.new_project_key("project-b").await;
    let other = app.as_key(&other_key);
    app.create_auth_config_with(&other, "github", json!({})).await;
    let r = other.post("tool_router/session", json!({"user_id": "carol", "toolkits": {"enable": ["github"]}})).await;
    let sid = r.expect(201, "project B session").clone()["session_id"].as_str().unwrap().to_owned();
    let r = other
        .post(
            &format!("tool_router/session/{sid}/link"),
            json!({"toolkit": "github", "experimental": {"account_type": "SHARED",
                   "acl_config_for_shared": {"allow_all_users": true}}}),
        )
        .await;
    let foreign = r.expect(201, "project B SHARED link").clone()["connected_account_id"].as_str().unwrap().to_owned();

    let r = app
        .post("tool_router/session", session_body("alice", json!({"connected_accounts": {"github": [foreign]}})))
        .await;
    assert_error_ctx(&r, 400, PINS, "pin of another project's SHARED account (allow_all)");
    assert!(message(&r).contains(&foreign), "message names {foreign}: {}", message(&r));
    app.cleanup().await;
}

/// Contract §4.1: each pinned account must "exist (not deleted/disabled)". No endpoint disables an
/// account yet, so the flag is set in the database as setup.
#[tokio::test]
async fn disabled_accounts_cannot_be_pinned() {
    let app = setup().await;
    let own = private(&app, "alice", "github").await;
    let s = shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await;
    for (case, id) in [("own PRIVATE, disabled", &own), ("SHARED allow_all, disabled", &s)] {
        app.db.execute("update connected_account set is_disabled = true where id = $1", [id.as_str()]).await;
        assert_eq!(account(&app, id).await["is_disabled"], true, "[{case}] setup");
        let r = app
            .post("tool_router/session", session_body("alice", json!({"connected_accounts": {"github": [id]}})))
            .await;
        assert_error_ctx(&r, 400, PINS, case);
        assert!(message(&r).contains(id.as_str()), "[{case}] message names {id}: {}", message(&r));
    }
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Resolution
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resolution_without_pins_uses_newest_active_private_account() {
    let app = setup().await;
    let sid = session(&app, "alice", json!({})).await;
    assert_eq!(resolved(&app, &sid, "github").await, None, "no accounts at all");

    let a1 = private(&app, "alice", "github").await;
    assert_eq!(resolved(&app, &sid, "github").await, None, "an INITIATED account is not chosen");
    activate(&app, &a1).await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a1.as_str()), "the only ACTIVE account");

    let a2 = private(&app, "alice", "github").await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a1.as_str()), "a newer INITIATED is not chosen");
    activate(&app, &a2).await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a2.as_str()), "two ACTIVE: the newest");
    let _a3 = private(&app, "alice", "github").await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a2.as_str()), "newest INITIATED ignored");

    // The reported account in full.
    let list = toolkits(&app, &sid, "toolkits=github").await;
    let ca = &list["items"][0]["connected_account"];
    assert_eq!(ca["status"], "ACTIVE");
    assert_eq!(ca["user_id"], "alice");
    timestamp(&ca["created_at"]);
    let stored = account(&app, &a2).await;
    assert_eq!(ca["auth_config"]["id"], stored["auth_config"]["id"]);
    assert_eq!(ca["auth_config"]["auth_scheme"], "OAUTH2");
    assert_eq!(ca["auth_config"]["is_composio_managed"], false);

    // Another user's ACTIVE PRIVATE account and an ACTIVE gmail account change nothing.
    let bob = private(&app, "bob", "github").await;
    activate(&app, &bob).await;
    let gmail = private(&app, "alice", "gmail").await;
    activate(&app, &gmail).await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a2.as_str()), "others' accounts ignored");
    let bob_sid = session(&app, "bob", json!({})).await;
    assert_eq!(resolved(&app, &bob_sid, "github").await.as_deref(), Some(bob.as_str()), "bob resolves his own");

    // Deleting the newest falls back to the older ACTIVE one.
    app.delete(&format!("connected_accounts/{a2}")).await.expect(200, "delete a2");
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(a1.as_str()), "after deleting a2");
    app.cleanup().await;
}

#[tokio::test]
async fn unpinned_shared_accounts_are_never_reported() {
    let app = setup().await;
    let s = shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await;
    activate(&app, &s).await;
    for user in ["victor", "carol"] {
        let sid = session(&app, user, json!({})).await;
        assert_eq!(resolved(&app, &sid, "github").await, None, "[{user}] unpinned SHARED (allow_all) reported");
        let sid = app.create_session(json!({"user_id": user})).await;
        let (items, _) = toolkit_pages(&app, &sid, "", 50).await;
        let leaked: Vec<_> = items.iter().filter(|i| i["connected_account"]["id"] == s.as_str()).collect();
        assert!(leaked.is_empty(), "[{user}, all toolkits] unpinned SHARED reported: {leaked:?}");
    }
    // With an own ACTIVE PRIVATE account, that one is reported, not the SHARED one.
    let own = private(&app, "victor", "github").await;
    activate(&app, &own).await;
    let sid = session(&app, "victor", json!({})).await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(own.as_str()), "own PRIVATE, not SHARED");
    // Pinned, the SHARED account wins over the own PRIVATE one.
    let sid = pinned_session(&app, "victor", &[&s]).await;
    assert_eq!(resolved(&app, &sid, "github").await.as_deref(), Some(s.as_str()), "pinned SHARED");
    app.cleanup().await;
}

#[tokio::test]
async fn tightened_acl_applies_to_sessions_created_earlier() {
    let app = setup().await;
    let s = shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await;
    activate(&app, &s).await;
    let alice_own = private(&app, "alice", "github").await;
    activate(&app, &alice_own).await;

    let alice = pinned_session(&app, "alice", &[&s]).await;
    let victor = pinned_session(&app, "victor", &[&s]).await;
    let carol = pinned_session(&app, "carol", &[&s]).await;
    for (who, sid) in [("alice", &alice), ("victor", &victor), ("carol", &carol)] {
        assert_eq!(resolved(&app, sid, "github").await.as_deref(), Some(s.as_str()), "[{who}] before tightening");
    }
    let connected = toolkits(&app, &victor, "is_connected=true").await;
    assert_eq!(slugs(connected["items"].as_array().unwrap()), ["github"], "victor connected before");

    let r = patch_acl(&app, &s, json!({"allowed_user_ids": []})).await;
    r.expect(200, "tighten ACL");
    assert_eq!(acl_of(&app, &s).await, acl(false, &[], &[]), "ACL after tightening");

    let cases =
        [("alice", &alice, Some(alice_own.as_str())), ("victor", &victor, None), ("carol", &carol, Some(s.as_str()))];
    for (who, sid, want) in cases {
        assert_eq!(resolved(&app, sid, "github").await.as_deref(), want, "[{who}] after tightening");
    }
    let connected = toolkits(&app, &victor, "is_connected=true").await;
    assert_eq!(connected["items"], json!([]), "victor no longer connected");
    // The pins themselves are unchanged: the session still lists the account.
    let got = app.get(&format!("tool_router/session/{victor}")).await.expect(200, "get victor session").clone();
    assert_eq!(got["config"]["connected_accounts"], json!({"github": [s]}), "pin kept");

    // Loosening again for victor only.
    patch_acl(&app, &s, json!({"allowed_user_ids": ["victor"]})).await.expect(200, "allow victor");
    let cases = [("alice", &alice, Some(alice_own.as_str())), ("victor", &victor, Some(s.as_str()))];
    for (who, sid, want) in cases {
        assert_eq!(resolved(&app, sid, "github").await.as_deref(), want, "[{who}] after allowing victor");
    }
    // Deny list wins over the allow list, immediately.
    patch_acl(&app, &s, json!({"allowed_user_ids": ["victor"], "not_allowed_user_ids": ["victor"]}))
        .await
        .expect(200, "deny victor");
    assert_eq!(resolved(&app, &victor, "github").await, None, "[victor] on both lists");

    // A deleted pinned account is not reported; alice falls back to her own.
    patch_acl(&app, &s, json!({"allow_all_users": true})).await.expect(200, "allow all");
    assert_eq!(resolved(&app, &alice, "github").await.as_deref(), Some(s.as_str()), "[alice] allow_all again");
    app.delete(&format!("connected_accounts/{s}")).await.expect(200, "delete SHARED");
    assert_eq!(resolved(&app, &alice, "github").await.as_deref(), Some(alice_own.as_str()), "[alice] pin deleted");
    assert_eq!(resolved(&app, &victor, "github").await, None, "[victor] pin deleted");
    app.cleanup().await;
}

#[tokio::test]
async fn session_toolkits_fields_filters_and_pagination() {
    let app = setup().await;
    let own = private(&app, "alice", "github").await;
    activate(&app, &own).await;
    let _initiated_gmail = private(&app, "alice", "gmail").await;
    let all = app.create_session(json!({"user_id": "alice"})).await;

    // Everything, one item per page.
    let (items, total) = toolkit_pages(&app, &all, "", 1).await;
    let names = slugs(&items);
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "an item was returned twice: {names:?}");
    assert_eq!(i64::try_from(names.len()).unwrap(), total, "total_items vs items walked");
    assert!(total >= 3, "several toolkits expected, got {total}");
    assert!(unique.contains(&"github".to_owned()) && unique.contains(&"gmail".to_owned()), "{names:?}");
    let first = toolkits(&app, &all, "limit=1").await;
    assert_eq!(first["total_pages"], total, "total_pages with limit=1");
    let (big, big_total) = toolkit_pages(&app, &all, "", 50).await;
    assert_eq!((slugs(&big), big_total), (names.clone(), total), "same listing with limit=50");

    for item in &items {
        let slug = item["slug"].as_str().unwrap();
        assert_eq!(item["enabled"], true, "[{slug}] enabled without a toolkit filter");
        assert_eq!(item["is_no_auth"], false, "[{slug}] is_no_auth");
        assert!(item["name"].as_str().is_some_and(|n| !n.is_empty()), "[{slug}] name");
        assert!(item["meta"]["logo"].is_string() && item["meta"]["description"].is_string(), "[{slug}] meta");
        assert!(item["composio_managed_auth_schemes"].is_array(), "[{slug}] composio_managed_auth_schemes");
        let want = match slug {
            "github" => json!(own),
            _ => Value::Null,
        };
        assert_eq!(item.get("connected_account").map_or(Value::Null, |c| c["id"].clone()), want, "[{slug}] account");
    }
    let gmail = items.iter().find(|i| i["slug"] == "gmail").unwrap();
    assert!(gmail.get("connected_account").is_none_or(Value::is_null), "INITIATED gmail not resolved: {gmail}");

    // Filters.
    let cases: [(&str, Option<Vec<&str>>, usize); 6] = [
        ("toolkits=github", Some(vec!["github"]), 1),
        ("toolkits=gmail%2Cgithub", Some(vec!["github", "gmail"]), 2),
        ("toolkits=GitHub", Some(vec!["github"]), 1),
        ("is_connected=true", Some(vec!["github"]), 1),
        ("toolkits=gmail&is_connected=true", Some(vec![]), 0),
        ("is_connected=false", None, names.len() - 1),
    ];
    for (query, want, count) in cases {
        let (got, got_total) = toolkit_pages(&app, &all, query, 50).await;
        let got = slugs(&got);
        assert_eq!(got.len(), count, "[{query}] item count: {got:?}");
        assert_eq!(got_total, i64::try_from(count).unwrap(), "[{query}] total_items");
        match want {
            Some(mut want) => {
                want.sort_unstable();
                let mut sorted = got.clone();
                sorted.sort();
                assert_eq!(sorted, want, "[{query}]");
            }
            None => assert!(!got.contains(&"github".to_owned()), "[{query}] github is connected: {got:?}"),
        }
    }

    // `enabled` follows the session's toolkit filter.
    let disabled = app.create_session(json!({"user_id": "alice", "toolkits": {"disable": ["gmail"]}})).await;
    let list = toolkits(&app, &disabled, "toolkits=github%2Cgmail").await;
    let enabled: BTreeMap<String, Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["slug"].as_str().unwrap().to_owned(), i["enabled"].clone()))
        .collect();
    assert_eq!(
        enabled,
        BTreeMap::from([("github".into(), json!(true)), ("gmail".into(), json!(false))]),
        "disable list"
    );
    let enable = app.create_session(json!({"user_id": "alice", "toolkits": {"enable": ["gmail", "github"]}})).await;
    let (items, _) = toolkit_pages(&app, &enable, "", 50).await;
    assert_eq!(slugs(&items).into_iter().collect::<BTreeSet<_>>(), BTreeSet::from(["github".into(), "gmail".into()]));
    assert!(items.iter().all(|i| i["enabled"] == true), "enable list: {items:?}");

    // Bad queries.
    for query in ["limit=0", "limit=51", "limit=-1", "limit=abc"] {
        let r = app.get(&format!("tool_router/session/{all}/toolkits?{query}")).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, query);
        assert!(error_text(&r).contains("limit"), "[{query}] names limit: {}", r.text);
    }
    let r = app.get(&format!("tool_router/session/{all}/toolkits?cursor=garbage")).await;
    assert_error_ctx(&r, 400, BAD_REQUEST, "bad cursor");
    let r = toolkits(&app, &all, "limit=50").await;
    assert!(r["items"].as_array().unwrap().len() <= 50, "limit=50 accepted");

    // Unknown session, malformed id, another project.
    let r = app.get(&format!("tool_router/session/{}/toolkits", unknown_id("trs_"))).await;
    assert_error_ctx(&r, 404, "ToolRouterV2_SessionNotFound", "unknown session");
    let r = app.get("tool_router/session/nope/toolkits").await;
    assert_eq!(r.status, 400, "malformed session id: {}", r.text);
    let other = app.new_project_key("project-b").await;
    let r = app.as_key(&other).get(&format!("tool_router/session/{all}/toolkits")).await;
    assert_error_ctx(&r, 404, "ToolRouterV2_SessionNotFound", "another project's session");
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 4. ACL updates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn acl_updates_are_for_shared_accounts_only() {
    let app = setup().await;
    let p = private(&app, "alice", "github").await;
    let before = account(&app, &p).await;
    for (case, body) in [
        ("ACL on PRIVATE", json!({"experimental": {"acl_config_for_shared": {"allow_all_users": true}}})),
        ("empty ACL on PRIVATE", json!({"experimental": {"acl_config_for_shared": {}}})),
        ("alias + ACL on PRIVATE", json!({"alias": "work", "experimental": {"acl_config_for_shared": {}}})),
    ] {
        let r = app.patch(&format!("connected_accounts/{p}"), body).await;
        assert_error_ctx(&r, 400, ACL_ONLY_FOR_SHARED_SLUG, case);
        assert!(message(&r).contains(ACL_ONLY_FOR_SHARED), "[{case}] message: {}", message(&r));
    }
    let after = account(&app, &p).await;
    assert_eq!(after["alias"], before["alias"], "a refused PATCH changed the alias");
    assert_eq!(after["experimental"], json!({"account_type": "PRIVATE"}), "PRIVATE shows no ACL");
    let r = app.get(&format!("connected_accounts/{p}/audit")).await;
    assert_eq!(r.expect(200, "audit of PRIVATE")["total_items"], 0, "refused PATCHes audited");

    // SHARED: 200 with {id, status, success}, and GET shows the new ACL in full.
    let s = shared(&app, "carol", "github", Some(json!({"allowed_user_ids": ["a"]}))).await;
    assert_eq!(
        account(&app, &s).await["experimental"],
        json!({"account_type": "SHARED",
        "acl_config_for_shared": acl(false, &["a"], &[])}),
        "creation ACL"
    );
    let r = patch_acl(&app, &s, acl(true, &["b", "c"], &["x"])).await;
    assert_eq!(r.expect(200, "ACL on SHARED"), &json!({"id": s, "status": "INITIATED", "success": true}));
    let got = account(&app, &s).await;
    assert_eq!(
        got["experimental"],
        json!({"account_type": "SHARED",
        "acl_config_for_shared": acl(true, &["b", "c"], &["x"])})
    );
    // In listings as well.
    let list = app.list_accounts("account_type=SHARED").await;
    assert_eq!(list["items"][0]["experimental"]["acl_config_for_shared"], acl(true, &["b", "c"], &["x"]), "listing");

    // A partial ACL still reads back with all three fields.
    patch_acl(&app, &s, json!({"not_allowed_user_ids": ["y"]})).await.expect(200, "partial ACL");
    let shown = acl_of(&app, &s).await;
    assert_eq!(shown["not_allowed_user_ids"], json!(["y"]), "partial ACL applied: {shown}");
    assert!(
        shown["allow_all_users"].is_boolean() && shown["allowed_user_ids"].is_array(),
        "all three fields present: {shown}"
    );

    // A PATCH without an ACL leaves the ACL alone and is not an ACL change.
    let acl_before = acl_of(&app, &s).await;
    let changes_before = of_kind(&audit_all(&app, &s).await, "acl_change").len();
    app.patch(&format!("connected_accounts/{s}"), json!({"alias": "team"})).await.expect(200, "alias only");
    app.patch(&format!("connected_accounts/{s}"), json!({})).await.expect(200, "empty body");
    app.patch(&format!("connected_accounts/{s}"), json!({"experimental": {}})).await.expect(200, "empty experimental");
    assert_eq!(acl_of(&app, &s).await, acl_before, "ACL changed by a PATCH without ACL");
    assert_eq!(of_kind(&audit_all(&app, &s).await, "acl_change").len(), changes_before, "non-ACL PATCH audited");

    // Unknown account, another project's key.
    let r = patch_acl(&app, &unknown_id("ca_"), json!({})).await;
    assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", "unknown account");
    let other = app.new_project_key("project-b").await;
    let r = app
        .as_key(&other)
        .patch(
            &format!("connected_accounts/{s}"),
            json!({"experimental": {"acl_config_for_shared": {"allow_all_users": false}}}),
        )
        .await;
    assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", "another project's key");
    assert_eq!(acl_of(&app, &s).await, acl_before, "another project changed the ACL");
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_acl_items_are_refused_with_the_field_path() {
    let app = setup().await;
    let s = shared(&app, "carol", "github", Some(json!({"allowed_user_ids": ["a"]}))).await;
    let long = "u".repeat(257);
    let max = "m".repeat(256);
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let field = "experimental.acl_config_for_shared";
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "257-char allowed id at [1]",
            json!({"allowed_user_ids": ["ok", long]}),
            format!("{field}.allowed_user_ids[1]"),
        ),
        (
            "257-char denied id at [2]",
            json!({"not_allowed_user_ids": ["a", "b", long]}),
            format!("{field}.not_allowed_user_ids[2]"),
        ),
        ("empty allowed id at [0]", json!({"allowed_user_ids": [""]}), format!("{field}.allowed_user_ids[0]")),
        ("1001 allowed ids", json!({"allowed_user_ids": many}), format!("{field}.allowed_user_ids")),
        ("allow_all_users not a bool", json!({"allow_all_users": "yes"}), format!("{field}.allow_all_users")),
        ("allowed_user_ids not a list", json!({"allowed_user_ids": "a"}), format!("{field}.allowed_user_ids")),
    ];
    for (case, bad, path) in cases {
        let r = patch_acl(&app, &s, bad).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, case);
        assert!(error_text(&r).contains(&path), "[{case}] error does not name {path}: {}", r.text);
        assert_eq!(acl_of(&app, &s).await, acl(false, &["a"], &[]), "[{case}] ACL changed");
    }
    assert_eq!(audit_all(&app, &s).await, Vec::<Value>::new(), "refused PATCHes audited");
    // Boundaries that are fine: a 256-character id, 1000 ids.
    let thousand: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    patch_acl(&app, &s, json!({"allowed_user_ids": [max]})).await.expect(200, "256-char id");
    patch_acl(&app, &s, json!({"allowed_user_ids": thousand})).await.expect(200, "1000 ids");
    assert_eq!(acl_of(&app, &s).await["allowed_user_ids"].as_array().map(Vec::len), Some(1000));
    app.cleanup().await;
}

#[tokio::test]
async fn the_account_type_never_changes() {
    let app = setup().await;
    let s = shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await;
    let p = private(&app, "carol", "github").await;
    let cases = [
        ("SHARED → PRIVATE", &s, json!({"experimental": {"account_type": "PRIVATE"}}), "SHARED"),
        ("PRIVATE → SHARED", &p, json!({"experimental": {"account_type": "SHARED"}}), "PRIVATE"),
        (
            "SHARED → PRIVATE with alias",
            &s,
            json!({"alias": "x", "experimental": {"account_type": "PRIVATE"}}),
            "SHARED",
        ),
    ];
    for (case, id, body, kept) in cases {
        let r = app.patch(&format!("connected_accounts/{id}"), body).await;
        // Either ignored (200) or refused (400); never applied.
        assert!(r.status == 200 || r.status == 400, "[{case}] status {}: {}", r.status, r.text);
        let got = account(&app, id).await;
        assert_eq!(got["experimental"]["account_type"], kept, "[{case}] account type changed: {got}");
    }
    assert_eq!(acl_of(&app, &s).await, acl(true, &[], &[]), "SHARED ACL kept");
    assert!(account(&app, &p).await["experimental"].get("acl_config_for_shared").is_none(), "PRIVATE got an ACL");

    // Switching to SHARED and setting an ACL in one PATCH is an ACL on a PRIVATE account.
    let r = app
        .patch(
            &format!("connected_accounts/{p}"),
            json!({"experimental": {"account_type": "SHARED", "acl_config_for_shared": {"allow_all_users": true}}}),
        )
        .await;
    assert_error_ctx(&r, 400, ACL_ONLY_FOR_SHARED_SLUG, "PRIVATE → SHARED with ACL");
    assert!(message(&r).contains(ACL_ONLY_FOR_SHARED), "message: {}", message(&r));
    // p is still carol's PRIVATE account: nobody else may pin it, and listings keep it PRIVATE.
    let r =
        app.post("tool_router/session", session_body("victor", json!({"connected_accounts": {"github": [p]}}))).await;
    assert_error_ctx(&r, 400, PINS, "victor pins carol's PRIVATE account");
    assert_eq!(app.account_ids("account_type=PRIVATE").await, [p], "PRIVATE listing");
    assert_eq!(app.account_ids("account_type=SHARED").await, [s], "SHARED listing");
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Audit trail
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_trail_records_acl_changes_and_access_decisions() {
    let app = setup().await;
    let second_key = app.new_project_key("project-a").await;
    let creation = acl(true, &["friend"], &[]);
    let s = shared(&app, "carol", "github", Some(creation.clone())).await;
    let users = ["carol", "friend", "stranger", "enemy", "both"];
    let mut sessions = BTreeMap::new();
    for user in users {
        sessions.insert(user, pinned_session(&app, user, &[&s]).await);
    }
    let baseline = audit_all(&app, &s).await.len();

    // An ACL change through the second key of the project.
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let acl1 = acl(false, &["friend", "both"], &["enemy", "both"]);
    let r = app
        .as_key(&second_key)
        .patch(&format!("connected_accounts/{s}"), json!({"experimental": {"acl_config_for_shared": acl1}}))
        .await;
    r.expect(200, "ACL change with the second key");
    let entries = audit_all(&app, &s).await;
    assert_eq!(entries.len(), baseline + 1, "one entry per ACL change");
    let e = &entries[0];
    assert_eq!(e["kind"], "acl_change", "{e}");
    assert_eq!(e["old_acl"], creation, "old_acl is the creation ACL");
    assert_eq!(e["new_acl"], acl1, "new_acl");
    assert_eq!(e["api_key_id"], key_id(&app, &second_key).await, "api_key_id is the key used");
    assert_ne!(e["api_key_id"], key_id(&app, &app.api_key).await, "not the project's other key");
    let at = timestamp(&e["created_at"]);
    assert!(at >= started && at <= chrono::Utc::now() + chrono::Duration::seconds(5), "created_at {at}");
    assert!(e["id"].is_i64(), "id: {e}");
    for absent in ["user_id", "session_id", "allowed", "rule"] {
        assert!(e.get(absent).is_none_or(Value::is_null), "acl_change has {absent}: {e}");
    }

    // One access decision per resolution call, newest first.
    let decisions = [
        ("carol", true, "creator"),
        ("friend", true, "allow_list"),
        ("stranger", false, "default_deny"),
        ("enemy", false, "deny_list"),
        ("both", false, "deny_list"),
    ];
    let mut expected_tail = vec![];
    for (user, allowed, rule) in decisions {
        let case = format!("user {user} under acl1");
        let sid = &sessions[user];
        let before = audit_all(&app, &s).await.len();
        let got = resolved(&app, sid, "github").await;
        assert_eq!(got.is_some(), allowed, "[{case}] resolution {got:?}");
        let entries = audit_all(&app, &s).await;
        assert_eq!(entries.len(), before + 1, "[{case}] one decision recorded per call");
        let e = &entries[0];
        assert_eq!(e["kind"], "access_decision", "[{case}] {e}");
        assert_eq!(e["user_id"], user, "[{case}] user_id");
        assert_eq!(e["session_id"], sid.as_str(), "[{case}] session_id");
        assert_eq!(e["allowed"], allowed, "[{case}] allowed");
        assert_eq!(e["rule"], rule, "[{case}] rule");
        timestamp(&e["created_at"]);
        for absent in ["old_acl", "new_acl", "api_key_id"] {
            assert!(e.get(absent).is_none_or(Value::is_null), "[{case}] access_decision has {absent}: {e}");
        }
        expected_tail.push(("access_decision", user));
    }

    // allow_all decides for the stranger once it is on; the deny list still wins for the enemy.
    let acl2 = acl(true, &[], &["enemy"]);
    patch_acl(&app, &s, acl2.clone()).await.expect(200, "ACL change with the first key");
    let e = &audit_all(&app, &s).await[0];
    assert_eq!((&e["kind"], &e["old_acl"], &e["new_acl"]), (&json!("acl_change"), &acl1, &acl2), "second change");
    assert_eq!(e["api_key_id"], key_id(&app, &app.api_key).await, "api_key_id of the first key");
    for (user, allowed, rule) in [("stranger", true, "allow_all"), ("enemy", false, "deny_list")] {
        resolved(&app, &sessions[user], "github").await;
        let e = &audit_all(&app, &s).await[0];
        assert_eq!(
            (&e["kind"], &e["user_id"], &e["allowed"], &e["rule"]),
            (&json!("access_decision"), &json!(user), &json!(allowed), &json!(rule)),
            "user {user} under acl2"
        );
    }

    // The whole trail: strictly decreasing ids, non-increasing times, the expected kinds.
    let entries = audit_all(&app, &s).await;
    assert_eq!(entries.len(), baseline + 9, "2 changes + 7 decisions");
    for pair in entries.windows(2) {
        assert!(pair[0]["id"].as_i64() > pair[1]["id"].as_i64(), "ids not strictly decreasing: {pair:?}");
        assert!(timestamp(&pair[0]["created_at"]) >= timestamp(&pair[1]["created_at"]), "times: {pair:?}");
    }
    let kinds: Vec<&str> = entries[..9].iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "access_decision",
            "access_decision",
            "acl_change",
            "access_decision",
            "access_decision",
            "access_decision",
            "access_decision",
            "access_decision",
            "acl_change"
        ]
    );
    // A PRIVATE pin makes no access decision.
    let own = private(&app, "zed", "github").await;
    let zed = pinned_session(&app, "zed", &[&own]).await;
    resolved(&app, &zed, "github").await;
    assert_eq!(audit_all(&app, &own).await, Vec::<Value>::new(), "PRIVATE account audited");
    app.cleanup().await;
}

#[tokio::test]
async fn audit_pagination_and_isolation() {
    let app = setup().await;
    let s = shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await;
    let sid = pinned_session(&app, "victor", &[&s]).await;
    for i in 0..4 {
        patch_acl(&app, &s, json!({"allow_all_users": true, "allowed_user_ids": [format!("u{i}")]}))
            .await
            .expect(200, "ACL change");
        resolved(&app, &sid, "github").await;
    }
    let all = audit_all(&app, &s).await;
    assert!(all.len() >= 8, "4 changes and 4 decisions at least: {}", all.len());

    // limit=1 walks every entry exactly once, in strictly decreasing id.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1.. {
        assert!(page <= all.len() + 1, "pagination does not end");
        let path = match &cursor {
            None => format!("connected_accounts/{s}/audit?limit=1"),
            Some(c) => format!("connected_accounts/{s}/audit?limit=1&cursor={}", encode(c)),
        };
        let r = app.get(&path).await.expect(200, &format!("audit page {page}")).clone();
        let items = r["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "page {page} size");
        assert_eq!(r["total_items"], all.len(), "page {page} total_items");
        assert_eq!(r["total_pages"], all.len(), "page {page} total_pages");
        assert_eq!(r["current_page"], page, "page {page} current_page");
        walked.push(items[0].clone());
        match r["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, all, "limit=1 pages vs one page");
    let ids: Vec<i64> = walked.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids not strictly decreasing: {ids:?}");

    // limit=3 as well.
    let r = app.get(&format!("connected_accounts/{s}/audit?limit=3")).await.expect(200, "limit=3").clone();
    assert_eq!(r["items"].as_array().unwrap()[..], all[..3], "first page of 3");

    for query in ["limit=0", "limit=201", "limit=x", "cursor=garbage"] {
        let r = app.get(&format!("connected_accounts/{s}/audit?{query}")).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, query);
    }
    let other = app.new_project_key("project-b").await;
    let r = app.as_key(&other).get(&format!("connected_accounts/{s}/audit")).await;
    assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", "another project's key");
    let r = app.get(&format!("connected_accounts/{}/audit", unknown_id("ca_"))).await;
    assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", "unknown account");
    let r = app.anonymous().get(&format!("connected_accounts/{s}/audit")).await;
    assert_eq!(r.status, 401, "no key: {}", r.text);
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn concurrent_acl_patches_leave_a_consistent_state_and_a_complete_chain() {
    let app = setup().await;
    let creation = acl(false, &["seed"], &[]);
    let s = shared(&app, "carol", "github", Some(creation.clone())).await;
    let sent: Vec<Value> = (0..10).map(|i| acl(false, &[format!("u{i}").as_str()], &[])).collect();
    let responses = join_all(sent.iter().map(|a| patch_acl(&app, &s, a.clone()))).await;
    for (i, r) in responses.iter().enumerate() {
        let body = r.expect(200, &format!("concurrent PATCH u{i}"));
        assert_eq!(body["success"], true, "PATCH u{i}");
        assert_eq!(body["id"], s.as_str(), "PATCH u{i}");
    }

    let final_acl = acl_of(&app, &s).await;
    assert!(sent.contains(&final_acl), "final ACL is none of the ten: {final_acl}");

    let mut changes = of_kind(&audit_all(&app, &s).await, "acl_change");
    assert_eq!(changes.len(), 10, "acl_change entries: {changes:#?}");
    changes.sort_by_key(|e| e["id"].as_i64().unwrap());
    assert_eq!(changes[0]["old_acl"], creation, "the first change starts from the creation ACL");
    for (i, pair) in changes.windows(2).enumerate() {
        assert_eq!(
            pair[1]["old_acl"],
            pair[0]["new_acl"],
            "chain broken between entries {i} and {} (ids {} and {})",
            i + 1,
            pair[0]["id"],
            pair[1]["id"]
        );
    }
    assert_eq!(changes[9]["new_acl"], final_acl, "the last change is the final ACL");
    let new_acls: Vec<&Value> = changes.iter().map(|e| &e["new_acl"]).collect();
    for a in &sent {
        assert_eq!(new_acls.iter().filter(|n| **n == a).count(), 1, "each PATCH audited once: {a}");
    }
    let key = key_id(&app, &app.api_key).await;
    assert!(changes.iter().all(|e| e["api_key_id"] == key.as_str()), "api_key_id of every change");
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Listings by account_type
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn listings_honour_account_type() {
    let app = setup().await;
    let privates = [
        private(&app, "alice", "github").await,
        private(&app, "alice", "gmail").await,
        private(&app, "carol", "github").await,
    ];
    let shareds = [
        shared(&app, "carol", "github", Some(json!({"allow_all_users": true}))).await,
        shared(&app, "alice", "gmail", None).await,
    ];
    let set = |ids: &[String]| ids.iter().cloned().collect::<BTreeSet<_>>();
    let all: BTreeSet<String> = set(&privates).union(&set(&shareds)).cloned().collect();
    let cases: [(&str, BTreeSet<String>); 8] = [
        ("", set(&privates)),
        ("account_type=", set(&privates)),
        ("account_type=PRIVATE", set(&privates)),
        ("account_type=SHARED", set(&shareds)),
        ("account_type=ALL", all.clone()),
        ("account_type=SHARED&user_ids=alice", set(&shareds[1..])),
        ("account_type=ALL&toolkit_slugs=github", set(&[privates[0].clone(), privates[2].clone(), shareds[0].clone()])),
        ("user_ids=carol", set(&privates[2..])),
    ];
    for (query, want) in cases {
        let list = app.list_accounts(query).await;
        let got: BTreeSet<String> = crate::helpers::ids(&list).into_iter().collect();
        assert_eq!(got, want, "[?{query}] ids");
        assert_eq!(list["total_items"], want.len(), "[?{query}] total_items");
        for item in list["items"].as_array().unwrap() {
            let id = item["id"].as_str().unwrap().to_owned();
            let kind = if set(&shareds).contains(&id) { "SHARED" } else { "PRIVATE" };
            assert_eq!(item["experimental"]["account_type"], kind, "[?{query}] {id}");
            assert_eq!(
                item["experimental"].get("acl_config_for_shared").is_some(),
                kind == "SHARED",
                "[?{query}] {id} ACL block"
            );
        }
    }
    // Paging through ALL with limit=1 yields every account once.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            None => "account_type=ALL&limit=1".to_owned(),
            Some(c) => format!("account_type=ALL&limit=1&cursor={}", encode(c)),
        };
        let list = app.list_accounts(&query).await;
        for id in crate::helpers::ids(&list) {
            assert!(seen.insert(id.clone()), "{id} listed twice");
        }
        match list["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(seen.len() <= all.len(), "pagination does not end");
    }
    assert_eq!(seen, all, "ALL with limit=1");

    for bad in ["account_type=BOGUS", "account_type=shared%2CPRIVATE", "account_type=ANY"] {
        let r = app.get(&format!("connected_accounts?{bad}")).await;
        assert_error_ctx(&r, 400, BAD_REQUEST, bad);
        assert!(error_text(&r).contains("account_type"), "[{bad}] names account_type: {}", r.text);
    }
    // Deleted SHARED accounts are gone from every listing.
    app.delete(&format!("connected_accounts/{}", shareds[0])).await.expect(200, "delete SHARED");
    assert_eq!(app.account_ids("account_type=SHARED").await, [shareds[1].clone()], "after delete");
    app.cleanup().await;
}
