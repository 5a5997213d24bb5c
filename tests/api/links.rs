//! `POST tool_router/session/{id}/link`: every rule of issue 2 §5 (contract §6).

use std::time::Duration;

use crate::db::{Backend, NO_ARGS};
use crate::helpers::{CLIENT_SECRET, TestApp, assert_error, assert_error_ctx, error_text, is_id, message, spawn_app};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub const ACL_FRAGMENT: &str = "acl_config_for_shared is only valid on SHARED";

/// An auth config for github and a session of `user_1` enabling github.
async fn setup(app: &TestApp) -> (String, String) {
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    (ac, session)
}

/// Checks the 201 body and returns (account id, token).
#[track_caller]
fn assert_link_body(body: &Value, base: &str) -> (String, String) {
    assert!(is_id(&body["connected_account_id"], "ca_"), "connected_account_id {}", body["connected_account_id"]);
    let token = body["link_token"].as_str().expect("link_token").to_owned();
    let rest = token.strip_prefix("ln_").unwrap_or_else(|| panic!("link_token {token} lacks ln_"));
    assert!(rest.len() >= 22, "link_token {token} carries fewer than 128 bits");
    assert!(rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b)), "link_token {token}");
    assert_eq!(body["redirect_url"], format!("{base}/link/{token}"));
    assert!(body["experimental"]["account_type"].is_string(), "experimental.account_type {}", body["experimental"]);
    (body["connected_account_id"].as_str().unwrap().to_owned(), token)
}

async fn auth_config_of(app: &TestApp, account: &str) -> String {
    let r = app.get(&format!("connected_accounts/{account}")).await;
    r.expect(200, "get account")["auth_config"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn private_link_returns_the_contract_body() {
    let app = spawn_app().await;
    let (ac, session) = setup(&app).await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    let body = r.expect(201, "link").clone();
    let (account, _) = assert_link_body(&body, &app.base);
    assert_eq!(body["experimental"], json!({"account_type": "PRIVATE"}));
    assert!(body.get("expires_at").is_none(), "expires_at is only on connected_accounts/link: {body}");

    let r = app.get(&format!("connected_accounts/{account}")).await;
    let a = r.expect(200, "get account");
    assert_eq!(a["status"], "INITIATED");
    assert_eq!(a["user_id"], "user_1", "the creator is the session's user");
    assert_eq!(a["toolkit"]["slug"], "github");
    assert_eq!(a["auth_config"]["id"], ac);
    assert_eq!(a["experimental"]["account_type"], "PRIVATE");

    // Every call creates a fresh account.
    let again = app.link_ok(&session, json!({"toolkit": "github"})).await;
    assert_ne!(again, account);

    // The v3 path works the same way.
    let r = app.v3().post(&format!("tool_router/session/{session}/link"), json!({"toolkit": "github"})).await;
    assert_link_body(r.expect(201, "v3 link"), &app.base);
    app.cleanup().await;
}

#[tokio::test]
async fn shared_link_echoes_account_type_and_all_three_acl_fields() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let acl = json!({"allow_all_users": false, "allowed_user_ids": ["u2", "u3"], "not_allowed_user_ids": ["u4"]});
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "experimental": {"account_type": "SHARED", "acl_config_for_shared": acl}}),
        )
        .await;
    let body = r.expect(201, "shared link").clone();
    let (account, _) = assert_link_body(&body, &app.base);
    assert_eq!(body["experimental"], json!({"account_type": "SHARED", "acl_config_for_shared": acl}));
    let r = app.get(&format!("connected_accounts/{account}")).await;
    assert_eq!(r.expect(200, "get")["experimental"], json!({"account_type": "SHARED", "acl_config_for_shared": acl}));

    // Partial ACLs are echoed with all three fields.
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "experimental": {"account_type": "SHARED", "acl_config_for_shared": {"allow_all_users": true}}}),
        )
        .await;
    assert_eq!(
        r.expect(201, "partial acl")["experimental"]["acl_config_for_shared"],
        json!({"allow_all_users": true, "allowed_user_ids": [], "not_allowed_user_ids": []})
    );
    // SHARED without any ACL: creator only, still all three fields.
    let r = app.link(&session, json!({"toolkit": "github", "experimental": {"account_type": "SHARED"}})).await;
    assert_eq!(
        r.expect(201, "no acl")["experimental"],
        json!({"account_type": "SHARED",
               "acl_config_for_shared": {"allow_all_users": false, "allowed_user_ids": [], "not_allowed_user_ids": []}})
    );

    // The ACL is stored on the account row.
    let stored: String =
        app.db.scalar("select cast(acl as text) from connected_account where id = $1", [&account]).await;
    let stored: Value = serde_json::from_str(&stored).expect("the stored ACL is JSON");
    assert_eq!(stored, acl);
    app.cleanup().await;
}

#[tokio::test]
async fn largest_valid_inputs_are_accepted() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let ids = |c: char| (0..1000).map(|i| format!("{i:04}{}", c.to_string().repeat(252))).collect::<Vec<_>>();
    let acl = json!({"allow_all_users": false, "allowed_user_ids": ids('a'), "not_allowed_user_ids": ids('b')});
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "alias": "x".repeat(256),
                   "experimental": {"account_type": "SHARED", "acl_config_for_shared": acl}}),
        )
        .await;
    let body = r.expect(201, "2 x 1000 ids of 256 characters and a 256-character alias");
    assert_eq!(body["experimental"]["acl_config_for_shared"]["allowed_user_ids"].as_array().unwrap().len(), 1000);
    assert_eq!(body["experimental"]["acl_config_for_shared"]["not_allowed_user_ids"].as_array().unwrap().len(), 1000);
    // Explicit nulls are absent values.
    let r = app
        .link(&session, json!({"toolkit": "github", "alias": null, "callback_url": null, "experimental": null}))
        .await;
    r.expect(201, "nulls");
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "experimental": {"account_type": "PRIVATE", "acl_config_for_shared": null}}),
        )
        .await;
    r.expect(201, "PRIVATE with a null ACL");
    // Unknown keys are ignored, at any depth.
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "future": 1,
                   "experimental": {"account_type": "SHARED", "new_flag": true,
                                    "acl_config_for_shared": {"allow_all_users": true, "more": []}}}),
        )
        .await;
    r.expect(201, "unknown keys");
    app.cleanup().await;
}

#[tokio::test]
async fn link_url_overwrite_changes_the_redirect_base() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app
        .create_session(json!({"user_id": "u", "experimental": {"link_url_overwrite": "https://connect.example.com/"}}))
        .await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    let (_, token) = assert_link_body(r.expect(201, "overwrite"), "https://connect.example.com");
    assert_eq!(r.body["redirect_url"], format!("https://connect.example.com/link/{token}"));

    // With a path, set by PATCH.
    let path = format!("tool_router/session/{session}");
    app.patch(&path, json!({"experimental": {"link_url_overwrite": "https://example.org/auth"}}))
        .await
        .expect(200, "patch");
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    assert_link_body(r.expect(201, "overwrite with a path"), "https://example.org/auth");

    // Cleared: back to the public base.
    app.patch(&path, json!({"experimental": null})).await.expect(200, "clear");
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    assert_link_body(r.expect(201, "cleared"), &app.base);
    app.cleanup().await;
}

/// Every invalid body of the REST link table: (case, body, slug, text the message or errors must
/// contain). The MCP link tool is held to the same table (tests/api/mcp.rs).
pub fn invalid_link_cases() -> Vec<(&'static str, Value, &'static str, String)> {
    let many = |n: usize| (0..n).map(|i| format!("user{i}")).collect::<Vec<_>>();
    let with_item = |index: usize, item: String| {
        let mut l = many(3);
        l[index] = item;
        l
    };
    let shared = |acl: Value| json!({"toolkit": "github", "experimental": {"account_type": "SHARED", "acl_config_for_shared": acl}});
    let acl_path = "experimental.acl_config_for_shared";
    // (case, body, slug, text the message or errors must contain)
    vec![
        ("missing toolkit", json!({}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("missing toolkit, other fields", json!({"alias": "a"}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("empty toolkit", json!({"toolkit": ""}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("blank toolkit", json!({"toolkit": "   "}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit number", json!({"toolkit": 42}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit null", json!({"toolkit": null}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit list", json!({"toolkit": ["github"]}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit with a space", json!({"toolkit": "git hub"}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit with a slash", json!({"toolkit": "../github"}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit with unicode", json!({"toolkit": "gïthub"}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("toolkit too long", json!({"toolkit": "a".repeat(65)}), "ToolRouterV2_BadRequest", "toolkit".into()),
        ("alias empty", json!({"toolkit": "github", "alias": ""}), "ToolRouterV2_BadRequest", "alias".into()),
        (
            "alias 257 characters",
            json!({"toolkit": "github", "alias": "a".repeat(257)}),
            "ToolRouterV2_BadRequest",
            "alias".into(),
        ),
        ("alias number", json!({"toolkit": "github", "alias": 7}), "ToolRouterV2_BadRequest", "alias".into()),
        (
            "callback_url relative",
            json!({"toolkit": "github", "callback_url": "/cb"}),
            "ToolRouterV2_BadRequest",
            "callback_url: must be an absolute URL".into(),
        ),
        (
            "callback_url javascript:",
            json!({"toolkit": "github", "callback_url": "javascript:alert(document.cookie)"}),
            "ToolRouterV2_BadRequest",
            "callback_url: must use http or https".into(),
        ),
        (
            "callback_url data:",
            json!({"toolkit": "github", "callback_url": "data:text/html,<script>alert(1)</script>"}),
            "ToolRouterV2_BadRequest",
            "callback_url: must use http or https".into(),
        ),
        (
            "callback_url with userinfo",
            json!({"toolkit": "github", "callback_url": "https://user:pw@app.example.com/cb"}),
            "ToolRouterV2_BadRequest",
            "callback_url: must not contain user information".into(),
        ),
        (
            "callback_url with a fragment",
            json!({"toolkit": "github", "callback_url": "https://app.example.com/cb#x"}),
            "ToolRouterV2_BadRequest",
            "callback_url: must not contain a fragment".into(),
        ),
        (
            "callback_url not on the allowlist",
            json!({"toolkit": "github", "callback_url": "https://evil.example.com/cb"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url on a lookalike host",
            json!({"toolkit": "github", "callback_url": "https://app.example.com.evil.com/cb"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url on a sibling path",
            json!({"toolkit": "github", "callback_url": "https://app.example.com/cbevil"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url escaping the allowed path with ..",
            json!({"toolkit": "github", "callback_url": "https://app.example.com/cb/../evil"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url escaping the allowed path with %2e%2e",
            json!({"toolkit": "github", "callback_url": "https://app.example.com/cb/%2e%2e/evil"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url with a backslash authority trick",
            json!({"toolkit": "github", "callback_url": "https://evil.com\\@app.example.com/cb"}),
            "ToolRouterV2_BadRequest",
            "callback_url".into(),
        ),
        (
            "callback_url on another port",
            json!({"toolkit": "github", "callback_url": "https://app.example.com:8443/cb"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url downgraded to http",
            json!({"toolkit": "github", "callback_url": "http://app.example.com/cb"}),
            "ToolRouterV2_BadRequest",
            "AUTHLINK_CALLBACK_ALLOWLIST".into(),
        ),
        (
            "callback_url too long",
            json!({"toolkit": "github", "callback_url": format!("https://app.example.com/cb/{}", "a".repeat(2100))}),
            "ToolRouterV2_BadRequest",
            "callback_url".into(),
        ),
        (
            "callback_url number",
            json!({"toolkit": "github", "callback_url": 1}),
            "ToolRouterV2_BadRequest",
            "callback_url".into(),
        ),
        (
            "account_type OTHER",
            json!({"toolkit": "github", "experimental": {"account_type": "OTHER"}}),
            "ToolRouterV2_BadRequest",
            "experimental.account_type".into(),
        ),
        (
            "account_type lowercase",
            json!({"toolkit": "github", "experimental": {"account_type": "shared"}}),
            "ToolRouterV2_BadRequest",
            "experimental.account_type".into(),
        ),
        (
            "experimental not an object",
            json!({"toolkit": "github", "experimental": "SHARED"}),
            "ToolRouterV2_BadRequest",
            "experimental".into(),
        ),
        (
            "allowed_user_ids with 1001 items",
            shared(json!({"allowed_user_ids": many(1001)})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allowed_user_ids"),
        ),
        (
            "allowed_user_ids with an empty item",
            shared(json!({"allowed_user_ids": with_item(1, String::new())})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allowed_user_ids[1]"),
        ),
        (
            "allowed_user_ids with a 257-character item",
            shared(json!({"allowed_user_ids": with_item(2, "u".repeat(257))})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allowed_user_ids[2]"),
        ),
        (
            "allowed_user_ids not a list",
            shared(json!({"allowed_user_ids": "u1"})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allowed_user_ids"),
        ),
        (
            "allowed_user_ids with a number",
            shared(json!({"allowed_user_ids": ["u1", 2]})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allowed_user_ids[1]"),
        ),
        (
            "not_allowed_user_ids with 1001 items",
            shared(json!({"not_allowed_user_ids": many(1001)})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.not_allowed_user_ids"),
        ),
        (
            "not_allowed_user_ids with an empty item",
            shared(json!({"not_allowed_user_ids": with_item(0, String::new())})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.not_allowed_user_ids[0]"),
        ),
        (
            "not_allowed_user_ids with a 257-character item",
            shared(json!({"not_allowed_user_ids": with_item(2, "u".repeat(257))})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.not_allowed_user_ids[2]"),
        ),
        (
            "allow_all_users \"yes\"",
            shared(json!({"allow_all_users": "yes"})),
            "ToolRouterV2_BadRequest",
            format!("{acl_path}.allow_all_users"),
        ),
        (
            "ACL on explicit PRIVATE",
            json!({"toolkit": "github", "experimental": {"account_type": "PRIVATE",
                   "acl_config_for_shared": {"allow_all_users": true}}}),
            "ConnectedAccount_AclOnlyForShared",
            ACL_FRAGMENT.into(),
        ),
        (
            "ACL on defaulted PRIVATE",
            json!({"toolkit": "github", "experimental": {"acl_config_for_shared": {"allowed_user_ids": ["u2"]}}}),
            "ConnectedAccount_AclOnlyForShared",
            ACL_FRAGMENT.into(),
        ),
        ("JSON array body", json!([{"toolkit": "github"}]), "ToolRouterV2_BadRequest", "body".into()),
        ("JSON null body", Value::Null, "ToolRouterV2_BadRequest", "body".into()),
    ]
}

#[tokio::test]
async fn invalid_link_bodies_are_400_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    app.link_ok(&session, json!({"toolkit": "github"})).await;
    let before = app.row_counts().await;
    let listed_before = app.list_accounts("account_type=ALL").await["total_items"].clone();

    let cases = invalid_link_cases();
    for (case, body, slug, needle) in cases {
        let r = app.link(&session, body).await;
        assert_error_ctx(&r, 400, slug, case);
        assert!(error_text(&r).contains(&needle), "[{case}] error should mention {needle:?}: {}", r.text);
        if needle == ACL_FRAGMENT {
            assert!(message(&r).contains(ACL_FRAGMENT), "[{case}] the fragment must be in `message`");
        }
    }
    for (case, raw) in
        [("malformed JSON", "{\"toolkit\": \"github\""), ("empty body", ""), ("not JSON", "toolkit=github")]
    {
        let r = app.api().post_raw(&format!("tool_router/session/{session}/link"), raw).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(error_text(&r).contains("body"), "[{case}] {}", r.text);
    }
    assert_eq!(app.row_counts().await, before, "a refused link wrote rows");
    assert_eq!(app.list_accounts("account_type=ALL").await["total_items"], listed_before);
    app.cleanup().await;
}

#[tokio::test]
async fn body_over_one_mib_is_400_in_the_envelope() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let before = app.row_counts().await;
    let body = json!({"toolkit": "github", "alias": "a".repeat(1024 * 1024 + 10)});
    let r = app.link(&session, body).await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert!(error_text(&r).contains("body"), "{}", r.text);
    // The rest of the body is never read: the client is told not to reuse the connection.
    assert_eq!(r.header("connection"), Some("close"), "headers: {:?}", r.headers);
    assert_eq!(app.row_counts().await, before);
    app.cleanup().await;
}

#[tokio::test]
async fn toolkit_rules() {
    let app = spawn_app().await;
    let (_, enabled_github) = setup(&app).await;
    app.create_auth_config("slack").await;
    let before = app.row_counts().await;

    // Unknown toolkit.
    let r = app.link(&enabled_github, json!({"toolkit": "nosuchkit"})).await;
    assert_error(&r, 400, "ToolRouterV2_InvalidToolkitSlugs");
    assert!(message(&r).contains("nosuchkit"), "{}", r.text);

    // Known, but not enabled by the session's enable list.
    let r = app.link(&enabled_github, json!({"toolkit": "slack"})).await;
    assert_error(&r, 400, "ToolRouterV2_ToolkitNotEnabled");
    assert_eq!(r.body["error"]["code"], 4306);
    assert!(message(&r).contains("slack"), "{}", r.text);

    // Disabled by a disable list (in any case).
    let disabled = app.create_session(json!({"user_id": "user_1", "toolkits": {"disable": ["GitHub"]}})).await;
    for toolkit in ["github", "GitHub"] {
        let r = app.link(&disabled, json!({"toolkit": toolkit})).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_ToolkitNotEnabled", &format!("disable list with {toolkit}"));
    }
    // ... the others stay usable.
    app.link_ok(&disabled, json!({"toolkit": "slack"})).await;
    let before = (before.0 + 1, before.1 + 1, before.2 + 1);

    // Known, enabled, but no auth config.
    let open = app.create_session(json!({"user_id": "user_1"})).await;
    let r = app.link(&open, json!({"toolkit": "notion"})).await;
    assert_error(&r, 400, "ToolRouterV2_NoManagedAuth");
    assert!(message(&r).contains("notion"), "{}", r.text);
    assert_eq!(r.body["error"]["code"], 4308);

    let after = app.row_counts().await;
    assert_eq!((after.0, after.1), (before.0, before.1), "a refused link wrote rows");
    app.cleanup().await;
}

#[tokio::test]
async fn slugs_match_case_insensitively_and_are_stored_lowercase() {
    let app = spawn_app().await;
    app.create_auth_config("GitHub").await;
    let session = app.create_session(json!({"user_id": "u", "toolkits": {"enable": ["GITHUB"]}})).await;
    for toolkit in ["GitHub", "github", "GITHUB", " github "] {
        let account = app.link_ok(&session, json!({"toolkit": toolkit})).await;
        let r = app.get(&format!("connected_accounts/{account}")).await;
        assert_eq!(r.expect(200, toolkit)["toolkit"]["slug"], "github", "{toolkit}");
        let stored: String = app.db.scalar("select toolkit from connected_account where id = $1", [&account]).await;
        assert_eq!(stored, "github", "{toolkit}");
    }
    let configs: Vec<String> = app.db.scalars("select toolkit from auth_config", NO_ARGS).await;
    assert_eq!(configs, ["github"]);
    app.cleanup().await;
}

#[tokio::test]
async fn session_auth_config_override_is_used_else_the_newest_enabled_one() {
    let app = spawn_app().await;
    let older = app.create_auth_config("github").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newer = app.create_auth_config("github").await;

    let plain = app.create_session(json!({"user_id": "u"})).await;
    let account = app.link_ok(&plain, json!({"toolkit": "github"})).await;
    assert_eq!(auth_config_of(&app, &account).await, newer, "the newest auth config is the default");

    let pinned = app.create_session(json!({"user_id": "u", "auth_configs": {"GitHub": older}})).await;
    let account = app.link_ok(&pinned, json!({"toolkit": "github"})).await;
    assert_eq!(auth_config_of(&app, &account).await, older, "the session's override wins");

    // Disable the newest (no API for it yet): the default falls back to the newest *enabled*.
    app.db.execute("update auth_config set is_enabled = false where id = $1", [&newer]).await;
    let account = app.link_ok(&plain, json!({"toolkit": "github"})).await;
    assert_eq!(auth_config_of(&app, &account).await, older, "disabled auth configs are skipped");

    // A session pinned to a disabled auth config cannot link.
    let pinned_new = app.create_session(json!({"user_id": "u", "auth_configs": {"github": newer}})).await;
    let r = app.link(&pinned_new, json!({"toolkit": "github"})).await;
    assert_error(&r, 400, "ToolRouterV2_NoManagedAuth");
    app.cleanup().await;
}

#[tokio::test]
async fn callback_url_is_stored_and_falls_back_to_the_sessions() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app
        .create_session(json!({"user_id": "u",
                               "manage_connections": {"enable": true, "callback_url": "https://app.example.com/cb/session"}}))
        .await;
    let stored = |account: String| {
        let db = app.db.clone();
        async move {
            db.scalar::<Option<String>, _>("select callback_url from link where connected_account_id = $1", [account])
                .await
        }
    };
    let fallback = app.link_ok(&session, json!({"toolkit": "github"})).await;
    assert_eq!(stored(fallback).await.as_deref(), Some("https://app.example.com/cb/session"));
    let explicit =
        app.link_ok(&session, json!({"toolkit": "github", "callback_url": "https://app.example.com/cb/x?y=1"})).await;
    assert_eq!(stored(explicit).await.as_deref(), Some("https://app.example.com/cb/x?y=1"));
    let upper = app.link_ok(&session, json!({"toolkit": "github", "callback_url": "HTTPS://APP.EXAMPLE.COM/cb"})).await;
    assert_eq!(stored(upper).await.as_deref(), Some("https://app.example.com/cb"), "stored normalised");
    let loopback = app.link_ok(&session, json!({"toolkit": "github", "callback_url": "http://127.0.0.1/done"})).await;
    assert_eq!(stored(loopback).await.as_deref(), Some("http://127.0.0.1/done"));

    let bare = app.create_session(json!({"user_id": "u"})).await;
    let none = app.link_ok(&bare, json!({"toolkit": "github"})).await;
    assert_eq!(stored(none).await, None);
    app.cleanup().await;
}

#[tokio::test]
async fn empty_allowlist_accepts_only_loopback_callbacks() {
    let app = TestApp::builder().allowlist("").spawn().await;
    let (_, session) = setup(&app).await;
    for ok in ["http://127.0.0.1:3000/cb", "http://localhost/cb", "http://[::1]:8080/x"] {
        app.link_ok(&session, json!({"toolkit": "github", "callback_url": ok})).await;
    }
    for bad in ["https://app.example.com/cb", "http://localhost.evil.com/cb", "http://10.0.0.1/cb"] {
        let r = app.link(&session, json!({"toolkit": "github", "callback_url": bad})).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", bad);
        assert!(message(&r).contains("loopback"), "[{bad}] the message should say why: {}", r.text);
    }
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "u", "manage_connections": {"callback_url": "https://app.example.com/cb"}}),
        )
        .await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    app.cleanup().await;
}

#[tokio::test]
async fn custom_toolkit_works_with_its_own_endpoints() {
    let app = spawn_app().await;
    let ac = app
        .create_auth_config_with(
            &app.api(),
            "acme_crm",
            json!({"authorization_url": "https://auth.acme.example/oauth/authorize",
                   "token_url": "https://auth.acme.example/oauth/token"}),
        )
        .await;
    let session = app.create_session(json!({"user_id": "u", "toolkits": {"enable": ["ACME_CRM"]}})).await;
    let account = app.link_ok(&session, json!({"toolkit": "acme_crm"})).await;
    assert_eq!(auth_config_of(&app, &account).await, ac);
    // Without a toolkit filter as well.
    let open = app.create_session(json!({"user_id": "u"})).await;
    app.link_ok(&open, json!({"toolkit": "Acme_CRM"})).await;
    // Another unknown toolkit is still unknown.
    let r = app.link(&open, json!({"toolkit": "acme_erp"})).await;
    assert_error(&r, 400, "ToolRouterV2_InvalidToolkitSlugs");
    app.cleanup().await;
}

#[tokio::test]
async fn alias_is_unique_per_user_and_toolkit_among_live_accounts() {
    let app = spawn_app().await;
    let (_, user1) = setup(&app).await;
    app.create_auth_config("slack").await;
    let first = app.link_ok(&user1, json!({"toolkit": "github", "alias": "work"})).await;

    let r = app.link(&user1, json!({"toolkit": "github", "alias": "work"})).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert!(message(&r).contains("work"), "{}", r.text);
    // Case matters for the toolkit slug only: "GitHub" is the same toolkit.
    let r = app.link(&user1, json!({"toolkit": "GitHub", "alias": "work"})).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");

    // Another toolkit, same user: fine.
    let open1 = app.create_session(json!({"user_id": "user_1"})).await;
    app.link_ok(&open1, json!({"toolkit": "slack", "alias": "work"})).await;
    // Another user, same toolkit: fine.
    let user2 = app.create_session(json!({"user_id": "user_2"})).await;
    app.link_ok(&user2, json!({"toolkit": "github", "alias": "work"})).await;
    // Another alias: fine; no alias at all, many times: fine.
    app.link_ok(&user1, json!({"toolkit": "github", "alias": "home"})).await;
    app.link_ok(&user1, json!({"toolkit": "github"})).await;
    app.link_ok(&user1, json!({"toolkit": "github"})).await;
    // The same user through another session: still taken.
    let r = app.link(&open1, json!({"toolkit": "github", "alias": "work"})).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");
    // And through connected_accounts/link.
    let ac = auth_config_of(&app, &first).await;
    let r =
        app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": "user_1", "alias": "work"})).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");
    assert_eq!(r.header("x-should-retry"), Some("false"));

    // After the first account is deleted, the alias is free again.
    app.delete(&format!("connected_accounts/{first}")).await.expect(200, "delete");
    let reused = app.link_ok(&user1, json!({"toolkit": "github", "alias": "work"})).await;
    let r = app.get(&format!("connected_accounts/{reused}")).await;
    assert_eq!(r.expect(200, "get")["alias"], "work");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alias_race_has_exactly_one_winner() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let before = app.row_counts().await;
    let requests = (0..20).map(|_| app.link(&session, json!({"toolkit": "github", "alias": "raced"})));
    let responses = futures::future::join_all(requests).await;
    let created: Vec<_> = responses.iter().filter(|r| r.status == 201).collect();
    let conflicts: Vec<_> = responses.iter().filter(|r| r.status == 409).collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(created.len(), 1, "exactly one 201: {statuses:?}");
    assert_eq!(conflicts.len(), 19, "19 conflicts: {statuses:?}");
    for r in conflicts {
        assert_error(r, 409, "ConnectedAccount_AliasAlreadyExists");
        assert_eq!(r.header("x-should-retry"), Some("false"));
    }
    let list = app.list_accounts("user_ids=user_1&toolkit_slugs=github").await;
    assert_eq!(list["total_items"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], created[0].body["connected_account_id"]);
    assert_eq!(list["items"][0]["alias"], "raced");
    let after = app.row_counts().await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1), "exactly one account and one link row");
    app.cleanup().await;
}

#[tokio::test]
async fn link_row_stores_only_a_hash_and_its_context() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let r = app
        .link(
            &session,
            json!({"toolkit": "github", "alias": "work", "callback_url": "https://app.example.com/cb/ok",
                   "experimental": {"account_type": "SHARED", "acl_config_for_shared": {"allowed_user_ids": ["u9"]}}}),
        )
        .await;
    let (account, token) = assert_link_body(r.expect(201, "link"), &app.base);
    let requested_at = Utc::now();

    let row = app
        .db
        .row(
            "select token_hash, expires_at, callback_url, session_id, connected_account_id, consumed_at from link",
            NO_ARGS,
        )
        .await;
    let hash: Vec<u8> = row.get("token_hash");
    assert_eq!(hash.len(), 32, "a SHA-256 hash");
    assert_ne!(hash, token.as_bytes());
    assert_eq!(hash, authlink::crypto::sha256(&token), "SHA-256 of the token");
    let expires_at: DateTime<Utc> = row.get("expires_at");
    let expected = requested_at + chrono::Duration::seconds(600);
    assert!((expires_at - expected).num_seconds().abs() <= 30, "expires_at {expires_at}, expected ≈ {expected}");
    assert_eq!(row.get::<Option<String>>("callback_url").as_deref(), Some("https://app.example.com/cb/ok"));
    assert_eq!(row.get::<Option<String>>("session_id").as_deref(), Some(session.as_str()));
    assert_eq!(row.get::<String>("connected_account_id"), account);
    assert!(row.get::<Option<DateTime<Utc>>>("consumed_at").is_none(), "a new link is unused");

    let a = app
        .db
        .row(
            "select user_id, toolkit, alias, account_type, status, cast(project_id as text) as project_id
             from connected_account where id = $1",
            [&account],
        )
        .await;
    assert_eq!(a.get::<String>("user_id"), "user_1");
    assert_eq!(a.get::<String>("toolkit"), "github");
    assert_eq!(a.get::<Option<String>>("alias").as_deref(), Some("work"));
    assert_eq!(a.get::<String>("account_type"), "SHARED");
    assert_eq!(a.get::<String>("status"), "INITIATED");
    app.cleanup().await;
}

#[tokio::test]
async fn no_table_holds_a_token_a_client_secret_or_an_api_key_in_clear() {
    let app = spawn_app().await;
    let (_, session) = setup(&app).await;
    let (mut tokens, mut accounts) = (Vec::new(), Vec::new());
    for body in [json!({"toolkit": "github"}), json!({"toolkit": "github", "experimental": {"account_type": "SHARED"}})]
    {
        let r = app.link(&session, body).await;
        tokens.push(r.expect(201, "link")["link_token"].as_str().unwrap().to_owned());
        accounts.push(r.body["connected_account_id"].as_str().unwrap().to_owned());
    }
    let ac = app.create_auth_config("slack").await;
    let r = app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": "u"})).await;
    tokens.push(r.expect(201, "user link")["link_token"].as_str().unwrap().to_owned());
    accounts.push(r.body["connected_account_id"].as_str().unwrap().to_owned());

    let dump = app.dump().await;
    for account in &accounts {
        assert!(dump.contains(account.as_str()), "the dump misses the rows of {account}: it proves nothing");
    }
    for token in &tokens {
        assert!(!dump.contains(token.as_str()), "a link token is stored in clear");
        assert!(!dump.contains(&token[3..]), "a link token body is stored in clear");
    }
    assert!(!dump.contains(CLIENT_SECRET), "the client secret is stored in clear:\n{dump}");
    assert!(!dump.contains(&app.api_key), "the API key is stored in clear");
    assert!(!dump.contains(&app.api_key[3..]), "the API key body is stored in clear");
    let sealed: Vec<Option<String>> = app.db.scalars("select client_secret_sealed from auth_config", NO_ARGS).await;
    for s in sealed {
        let s = s.expect("a sealed secret");
        assert!(s.starts_with("v1."), "sealed form: {s}");
    }
    // Neither does any response.
    for path in
        [format!("auth_configs/{ac}"), "auth_configs".to_owned(), "connected_accounts?account_type=ALL".to_owned()]
    {
        let r = app.get(&path).await;
        r.expect(200, &path);
        assert!(!r.text.contains(CLIENT_SECRET), "{path} returns the client secret");
        // Only where Composio shows it (issue 12): an INITIATED account's `state.val.redirectUrl`,
        // to the project's own key.
        let mut body = r.body.clone();
        for item in body["items"].as_array_mut().into_iter().flatten() {
            if let Some(val) = item["state"]["val"].as_object_mut() {
                val.remove("redirectUrl");
            }
        }
        for token in &tokens {
            assert!(!body.to_string().contains(token.as_str()), "{path} returns a link token");
        }
    }
    app.cleanup().await;
}

/// Issue 11 item 8(b): a `callback_url` carrying a query parameter authlink appends when the flow
/// ends (`status`, `connected_account_id`, `error`) would let the app read a forged outcome; it
/// is a 400 naming `callback_url` on every route that takes one, and nothing is written.
#[tokio::test]
async fn callback_urls_carrying_reserved_parameters_are_refused() {
    let app = spawn_app().await;
    let (ac, session) = setup(&app).await;
    let before = app.row_counts().await;
    // (case, URL, parameter the message names)
    let cases = [
        ("status", "https://app.example.com/cb?status=success", "status"),
        (
            "connected_account_id",
            "https://app.example.com/cb?x=1&connected_account_id=ca_forged",
            "connected_account_id",
        ),
        ("error", "https://app.example.com/cb?error=", "error"),
        ("bare error", "https://app.example.com/cb?error", "error"),
        ("percent-encoded name", "https://app.example.com/cb?st%61tus=failed", "status"),
        ("loopback with status", "http://127.0.0.1/done?status=success", "status"),
    ];
    for (case, url, param) in cases {
        let mut responses = vec![
            ("session link", app.link(&session, json!({"toolkit": "github", "callback_url": url})).await),
            (
                "user link",
                app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": "u", "callback_url": url}))
                    .await,
            ),
            (
                "session manage_connections",
                app.post("tool_router/session", json!({"user_id": "u", "manage_connections": {"callback_url": url}}))
                    .await,
            ),
        ];
        responses.push((
            "v3 connected_accounts",
            app.v3()
                .post(
                    "connected_accounts",
                    json!({"auth_config": {"id": ac}, "connection": {"user_id": "u", "callback_url": url}}),
                )
                .await,
        ));
        for (route, r) in responses {
            let case = format!("{route}: {case}");
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            let text = error_text(&r);
            assert!(text.contains("callback_url"), "[{case}] names the field: {text}");
            assert!(text.contains(&format!("`{param}`")), "[{case}] names the parameter: {text}");
        }
    }
    assert_eq!(app.row_counts().await, before, "a refused callback wrote rows");
    // Names that merely resemble the reserved ones are the app's own.
    for ok in ["https://app.example.com/cb?statuses=1&error_page=x&account=ca_1", "https://app.example.com/cb/status"] {
        app.link_ok(&session, json!({"toolkit": "github", "callback_url": ok})).await;
    }
    app.cleanup().await;
}

/// Issue 11 item 8(c): `experimental.link_url_overwrite` must match `AUTHLINK_LINK_URL_ALLOWLIST`
/// (by default the public URL's origin only), else a 400 naming the field, at create and PATCH;
/// a stored overwrite the allowlist no longer covers stops link creation the same way.
#[tokio::test]
async fn link_url_overwrite_must_match_the_operators_allowlist() {
    const FIELD: &str = "experimental.link_url_overwrite";
    let app = spawn_app().await; // allowlist: https://connect.example.com, https://example.org/auth
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u"})).await;
    let path = format!("tool_router/session/{session}");
    for bad in [
        "https://evil.example.com",
        "https://connect.example.com.evil.com",
        "http://connect.example.com",
        "https://connect.example.com:8443",
        "https://example.org/authx",
        "https://example.org",
        app.base.as_str(),
    ] {
        let overwrite = json!({"user_id": "u", "experimental": {"link_url_overwrite": bad}});
        for (case, r) in [
            ("create", app.post("tool_router/session", overwrite.clone()).await),
            ("patch", app.patch(&path, json!({"experimental": {"link_url_overwrite": bad}})).await),
        ] {
            let case = format!("{case} {bad}");
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            let text = error_text(&r);
            assert!(text.contains(FIELD) && text.contains("AUTHLINK_LINK_URL_ALLOWLIST"), "[{case}] {text}");
        }
    }
    let r = app.get(&path).await;
    assert!(r.expect(200, "get")["experimental"].is_null(), "a refused PATCH changed the session: {}", r.text);
    for ok in ["https://connect.example.com/", "https://connect.example.com/tenant/a", "https://example.org/auth/x"] {
        app.patch(&path, json!({"experimental": {"link_url_overwrite": ok}})).await.expect(200, ok);
        let r = app.link(&session, json!({"toolkit": "github"})).await;
        assert_link_body(r.expect(201, ok), ok.trim_end_matches('/'));
    }

    // A stored overwrite the operator's list does not cover (written before it changed).
    let stored = match app.db.backend() {
        Backend::Sqlite => {
            "update tool_router_session set config = replace(config, 'https://example.org/auth/x', 'https://evil.example.com') where id = $1"
        }
        Backend::Postgres => {
            "update tool_router_session set config = replace(config::text, 'https://example.org/auth/x', 'https://evil.example.com')::jsonb where id = $1"
        }
    };
    assert_eq!(app.db.execute(stored, [session.as_str()]).await, 1);
    let before = app.row_counts().await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "stored overwrite");
    assert!(error_text(&r).contains(FIELD), "{}", r.text);
    assert_eq!(app.row_counts().await, before, "a refused link wrote rows");
    app.cleanup().await;

    // Unset: this server's own public origin, with any path, and nothing else.
    let app = TestApp::builder().link_url_allowlist("").spawn().await;
    app.create_auth_config("github").await;
    let base = format!("{}/branded", app.base);
    let session = app.create_session(json!({"user_id": "u", "experimental": {"link_url_overwrite": base}})).await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    assert_link_body(r.expect(201, "public origin"), &base);
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "u", "experimental": {"link_url_overwrite": "https://connect.example.com"}}),
        )
        .await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "default allowlist");
    assert!(error_text(&r).contains(FIELD), "{}", r.text);
    app.cleanup().await;
}
