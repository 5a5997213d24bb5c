//! `POST connected_accounts/link`: a link for a user and an auth config, without a session (§7.5).

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_error_ctx, error_text, is_id, spawn_app, timestamp, unknown_id};

#[tokio::test]
async fn creates_an_initiated_account_with_expires_at() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let r = app
        .post(
            "connected_accounts/link",
            json!({"auth_config_id": ac, "user_id": "user_1", "callback_url": "https://app.example.com/cb",
                   "connection_data": {"subdomain": "acme"}}),
        )
        .await;
    let body = r.expect(201, "link").clone();
    assert!(is_id(&body["connected_account_id"], "ca_"));
    let token = body["link_token"].as_str().expect("link_token");
    assert!(token.starts_with("ln_") && token.len() >= 25, "link_token {token}");
    assert_eq!(body["redirect_url"], format!("{}/link/{token}", app.base));
    let expires_at = timestamp(&body["expires_at"]);
    let expected = Utc::now() + chrono::Duration::seconds(600);
    assert!((expires_at - expected).num_seconds().abs() <= 30, "expires_at {expires_at}, expected ≈ {expected}");
    assert_eq!(body["experimental"]["account_type"], "PRIVATE");

    let id = body["connected_account_id"].as_str().unwrap();
    let r = app.get(&format!("connected_accounts/{id}")).await;
    let a = r.expect(200, "get");
    assert_eq!(a["status"], "INITIATED");
    assert_eq!(a["user_id"], "user_1");
    assert_eq!(a["auth_config"]["id"], ac);
    assert_eq!(a["toolkit"]["slug"], "github");

    let stored: Option<String> =
        app.db.scalar("select session_id from link where connected_account_id = $1", [id]).await;
    assert_eq!(stored, None, "no session behind this link");

    // SHARED with an ACL, on v3.
    let acl = json!({"allow_all_users": true, "allowed_user_ids": [], "not_allowed_user_ids": ["u9"]});
    let r = app
        .v3()
        .post(
            "connected_accounts/link",
            json!({"auth_config_id": ac, "user_id": "user_1",
                   "experimental": {"account_type": "SHARED", "acl_config_for_shared": acl}}),
        )
        .await;
    let body = r.expect(201, "shared v3");
    assert_eq!(body["experimental"], json!({"account_type": "SHARED", "acl_config_for_shared": acl}));
    assert!(body["expires_at"].is_string());
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_requests() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let before = app.row_counts().await;

    let r = app.post("connected_accounts/link", json!({"auth_config_id": unknown_id("ac_"), "user_id": "u"})).await;
    assert_error(&r, 404, "AuthConfig_NotFound");

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "malformed auth config id",
            json!({"auth_config_id": "nope", "user_id": "u"}),
            "ToolRouterV2_BadRequest",
            "ac_",
        ),
        (
            "a session id as auth config",
            json!({"auth_config_id": unknown_id("trs_"), "user_id": "u"}),
            "ToolRouterV2_BadRequest",
            "ac_",
        ),
        ("missing user_id", json!({"auth_config_id": ac}), "ToolRouterV2_BadRequest", "user_id"),
        ("empty user_id", json!({"auth_config_id": ac, "user_id": ""}), "ToolRouterV2_BadRequest", "user_id"),
        ("user_id number", json!({"auth_config_id": ac, "user_id": 5}), "ToolRouterV2_BadRequest", "user_id"),
        ("missing auth_config_id", json!({"user_id": "u"}), "ToolRouterV2_BadRequest", "auth_config_id"),
        ("empty alias", json!({"auth_config_id": ac, "user_id": "u", "alias": ""}), "ToolRouterV2_BadRequest", "alias"),
        (
            "callback not on the allowlist",
            json!({"auth_config_id": ac, "user_id": "u", "callback_url": "https://evil.example.com/"}),
            "ToolRouterV2_BadRequest",
            "callback_url",
        ),
        (
            "ACL on PRIVATE",
            json!({"auth_config_id": ac, "user_id": "u", "experimental": {"acl_config_for_shared": {"allow_all_users": true}}}),
            "ConnectedAccount_AclOnlyForShared",
            "acl_config_for_shared is only valid on SHARED",
        ),
        (
            "ACL item too long",
            json!({"auth_config_id": ac, "user_id": "u", "experimental": {"account_type": "SHARED",
                   "acl_config_for_shared": {"not_allowed_user_ids": ["x".repeat(257)]}}}),
            "ToolRouterV2_BadRequest",
            "experimental.acl_config_for_shared.not_allowed_user_ids[0]",
        ),
        ("empty object", json!({}), "ToolRouterV2_BadRequest", "auth_config_id"),
    ];
    for (case, body, slug, needle) in cases {
        let r = app.post("connected_accounts/link", body).await;
        assert_error_ctx(&r, 400, slug, case);
        assert!(error_text(&r).contains(needle), "[{case}] should mention {needle:?}: {}", r.text);
    }
    let r = app.api().post_raw("connected_accounts/link", "{").await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert_eq!(app.row_counts().await, before, "a refused link wrote rows");

    // Duplicate alias.
    let body = json!({"auth_config_id": ac, "user_id": "u", "alias": "dup"});
    app.post("connected_accounts/link", body.clone()).await.expect(201, "first");
    let r = app.post("connected_accounts/link", body).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    app.cleanup().await;
}

#[tokio::test]
async fn the_legacy_create_makes_a_link_in_the_old_shape() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let r = app
        .post(
            "connected_accounts",
            json!({"auth_config": {"id": ac},
                   "connection": {"user_id": "u", "callback_url": "https://app.example.com/cb"}}),
        )
        .await;
    let body = r.expect(201, "legacy create").clone();
    assert!(is_id(&body["id"], "ca_"), "{body}");
    assert_eq!(body["status"], "INITIATED");
    assert_eq!(body["connectionData"]["authScheme"], "OAUTH2");
    assert_eq!(body["connectionData"]["val"]["status"], "INITIATED");
    let redirect = body["redirect_url"].as_str().expect("redirect_url");
    assert!(redirect.starts_with(&format!("{}/link/ln_", app.base)), "{redirect}");
    assert_eq!(body["connectionData"]["val"]["redirectUrl"], redirect);
    let id = body["id"].as_str().unwrap();
    let r = app.get(&format!("connected_accounts/{id}")).await;
    let a = r.expect(200, "get");
    assert_eq!(a["user_id"], "u");
    assert_eq!(a["auth_config"]["id"], ac);

    let before = app.row_counts().await;
    let r = app
        .post("connected_accounts", json!({"auth_config": {"id": unknown_id("ac_")}, "connection": {"user_id": "u"}}))
        .await;
    assert_error(&r, 404, "AuthConfig_NotFound");
    for (case, body, needle) in [
        ("missing user_id", json!({"auth_config": {"id": ac}, "connection": {}}), "connection.user_id"),
        ("missing connection", json!({"auth_config": {"id": ac}}), "connection"),
        ("malformed auth config", json!({"auth_config": {"id": "x"}, "connection": {"user_id": "u"}}), "ac_"),
        (
            "callback not allowed",
            json!({"auth_config": {"id": ac}, "connection": {"user_id": "u", "callback_url": "https://evil.example.com/"}}),
            "connection.callback_url",
        ),
    ] {
        let r = app.post("connected_accounts", body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(error_text(&r).contains(needle), "[{case}] should mention {needle:?}: {}", r.text);
    }
    assert_eq!(app.row_counts().await, before, "a refused legacy create wrote rows");
    app.cleanup().await;
}
