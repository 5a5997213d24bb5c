//! API key, bearer token and basic auth (issue 15): auth configs per scheme, accounts created
//! directly through `POST connected_accounts` (ACTIVE at once, credential sealed), read back in
//! Composio's `state.val` shape, credential replaced with `PATCH`, and every invalid input a 400
//! naming the field. Both stores (`AUTHLINK_TEST_BACKEND`).

use serde_json::{Value, json};

use crate::{
    db::NO_ARGS,
    helpers::{TestApp, assert_error, assert_error_ctx, error_text, spawn_app},
};

const OPENAI_KEY: &str = "sk-authlinkTestKey0123456789abcdef";
const HF_TOKEN: &str = "hf_authlinkTestToken0123456789";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-secret-auth-token-42";

async fn scheme_config(app: &TestApp, toolkit: &str, scheme: &str) -> String {
    let r = app
        .post(
            "auth_configs",
            json!({"toolkit": {"slug": toolkit}, "auth_config": {"type": "use_custom_auth", "authScheme": scheme}}),
        )
        .await;
    let body = r.expect(201, "create scheme auth config");
    assert_eq!(body["auth_config"]["auth_scheme"], scheme);
    assert_eq!(body["toolkit"]["slug"], toolkit);
    assert_eq!(body["auth_config"]["is_composio_managed"], false);
    body["auth_config"]["id"].as_str().unwrap().to_owned()
}

async fn create_account(app: &TestApp, auth_config: &str, scheme: &str, val: Value) -> crate::helpers::Resp {
    app.post(
        "connected_accounts",
        json!({"auth_config": {"id": auth_config},
               "connection": {"user_id": "u1", "state": {"authScheme": scheme, "val": val}}}),
    )
    .await
}

#[tokio::test]
async fn api_key_bearer_and_basic_accounts_are_created_active_sealed_and_read_back() {
    let app = spawn_app().await;
    let cases = [
        ("openai", "API_KEY", json!({"status": "ACTIVE", "api_key": OPENAI_KEY})),
        ("huggingface", "BEARER_TOKEN", json!({"token": HF_TOKEN})),
        ("twilio", "BASIC", json!({"username": TWILIO_SID, "password": TWILIO_TOKEN})),
    ];
    for (toolkit, scheme, val) in cases {
        let ac = scheme_config(&app, toolkit, scheme).await;
        let got = app.get(&format!("auth_configs/{ac}")).await.expect(200, "auth config").clone();
        assert_eq!((got["auth_scheme"].as_str(), got["status"].as_str()), (Some(scheme), Some("ENABLED")));

        let r = create_account(&app, &ac, scheme, val.clone()).await;
        let created = r.expect(201, toolkit).clone();
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("ca_"), "{created}");
        assert_eq!(created["status"], "ACTIVE");
        assert_eq!(created["redirect_url"], Value::Null);
        assert_eq!(created["redirect_uri"], Value::Null);
        let mut expected_val = val.as_object().unwrap().clone();
        expected_val.insert("status".into(), "ACTIVE".into());
        assert_eq!(created["connectionData"], json!({"authScheme": scheme, "val": expected_val}));

        let account = app.get(&format!("connected_accounts/{id}")).await.expect(200, "read").clone();
        assert_eq!(account["status"], "ACTIVE");
        assert_eq!(account["state"], json!({"authScheme": scheme, "val": expected_val}));
        assert_eq!(account["data"], json!(expected_val));
        assert_eq!(account["auth_config"]["auth_scheme"], scheme);
        assert_eq!(account["auth_config"]["id"], ac.as_str());
        assert_eq!(account["toolkit"]["slug"], toolkit);
        assert_eq!(account["user_id"], "u1");
        assert_eq!(account["is_disabled"], false);
        let listed = app.get(&format!("connected_accounts?toolkit_slugs={toolkit}")).await.expect(200, "list").clone();
        assert_eq!(listed["items"][0]["state"], account["state"], "list items carry the same state");

        // Nothing to refresh; the audit entry is the completion's (and so is the `active` webhook
        // event, which is only written for subscriptions: tests/webhooks).
        let r = app.post(&format!("connected_accounts/{id}/refresh"), json!({})).await;
        assert_error(&r, 400, "ToolRouterV2_BadRequest");
        assert!(error_text(&r).contains("nothing to refresh"), "{}", r.text);
        let events: i64 = app
            .db
            .scalar(
                &format!("select count(*) from audit_event where connected_account_id = '{id}' and kind = 'account_credentials_updated'"),
                NO_ARGS,
            )
            .await;
        assert_eq!(events, 1, "{toolkit}: one credentials entry");
    }
    let dump = app.dump().await;
    for secret in [OPENAI_KEY, HF_TOKEN, TWILIO_TOKEN, TWILIO_SID] {
        assert!(!dump.contains(secret), "a connection credential is stored in clear");
    }
    app.cleanup().await;
}

/// Table: invalid inputs are 400s naming the field and the rule, never echoing the value, and
/// nothing is stored.
#[tokio::test]
async fn invalid_connection_fields_are_refused_by_name() {
    let app = spawn_app().await;
    let openai = scheme_config(&app, "openai", "API_KEY").await;
    let twilio = scheme_config(&app, "twilio", "BASIC").await;
    let long = format!("sk-{}", "a".repeat(9000));
    let cases: Vec<(&str, &str, Value, &str, &str)> = vec![
        ("missing field", &openai, json!({}), "connection.state.val.api_key", "is required"),
        ("empty value", &openai, json!({"api_key": ""}), "connection.state.val.api_key", "is required"),
        ("pattern", &openai, json!({"api_key": "not-a-key"}), "connection.state.val.api_key", "pattern"),
        ("oversize", &openai, json!({"api_key": long}), "connection.state.val.api_key", "longer than"),
        (
            "control characters",
            &openai,
            json!({"api_key": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa\r\nX: y"}),
            "connection.state.val.api_key",
            "control",
        ),
        (
            "unknown field",
            &openai,
            json!({"api_key": OPENAI_KEY, "region": "eu"}),
            "connection.state.val.region",
            "not a field",
        ),
        ("not a string", &openai, json!({"api_key": 42}), "connection.state.val.api_key", "must be a string"),
        (
            "basic without password",
            &twilio,
            json!({"username": TWILIO_SID}),
            "connection.state.val.password",
            "is required",
        ),
        (
            "basic username pattern",
            &twilio,
            json!({"username": "evil.com/", "password": "p"}),
            "connection.state.val.username",
            "pattern",
        ),
    ];
    for (case, ac, val, field, rule) in cases {
        let r = create_account(&app, ac, "API_KEY", val).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        let text = error_text(&r);
        assert!(text.contains(field) && text.contains(rule), "[{case}] {text}");
        assert!(!text.contains("not-a-key") && !text.contains("evil.com"), "[{case}] value echoed: {text}");
    }
    let r =
        app.post("connected_accounts", json!({"auth_config": {"id": openai}, "connection": {"user_id": "u1"}})).await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert!(error_text(&r).contains("connection.state.val"), "{}", r.text);
    // The legacy `data` form is read too.
    let r = app
        .post(
            "connected_accounts",
            json!({"auth_config": {"id": openai}, "connection": {"user_id": "u1", "data": {"api_key": "x"}}}),
        )
        .await;
    assert!(error_text(&r).contains("connection.data.api_key"), "{}", r.text);
    let accounts: i64 = app.db.scalar("select count(*) from connected_account", NO_ARGS).await;
    assert_eq!(accounts, 0, "nothing stored");
    app.cleanup().await;
}

/// Table: auth configs of the wrong scheme, or non-OAuth ones with OAuth credentials.
#[tokio::test]
async fn auth_configs_take_the_toolkits_scheme_only() {
    let app = spawn_app().await;
    let cases = [
        (
            "openai as OAUTH2",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": {"client_id": "a", "client_secret": "b"}}}),
            "auth_config.authScheme",
        ),
        (
            "github as API_KEY",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "API_KEY"}}),
            "auth_config.authScheme",
        ),
        (
            "openai as BASIC",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "BASIC"}}),
            "auth_config.authScheme",
        ),
        (
            "custom toolkit as BEARER",
            json!({"toolkit": {"slug": "no-such-kit"}, "auth_config": {"type": "use_custom_auth", "authScheme": "BEARER_TOKEN"}}),
            "auth_config.authScheme",
        ),
        (
            "unknown scheme",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "SAML"}}),
            "auth_config.authScheme",
        ),
        (
            "OAUTH1 on an API_KEY toolkit",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH1",
                   "credentials": {"consumer_key": "k", "consumer_secret": "s"}}}),
            "auth_config.authScheme",
        ),
        (
            "client secret on API_KEY",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "API_KEY", "credentials": {"client_secret": "s"}}}),
            "auth_config.credentials.client_secret",
        ),
        (
            "consumer key on API_KEY",
            json!({"toolkit": {"slug": "openai"}, "auth_config": {"type": "use_custom_auth", "authScheme": "API_KEY", "credentials": {"consumer_key": "k"}}}),
            "auth_config.credentials.consumer_key: is an OAuth 1.0a credential",
        ),
        (
            "request token URL on BASIC",
            json!({"toolkit": {"slug": "twilio"}, "auth_config": {"type": "use_custom_auth", "authScheme": "BASIC", "credentials": {"request_token_url": "https://x.example.com/r"}}}),
            "auth_config.credentials.request_token_url: is an OAuth 1.0a credential",
        ),
        (
            "consumer secret on OAUTH2",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": {"client_id": "a", "client_secret": "b", "consumer_secret": "s"}}}),
            "auth_config.credentials.consumer_secret: is an OAuth 1.0a setting: not allowed on OAUTH2",
        ),
        (
            "request token URL on OAUTH2",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": {"client_id": "a", "client_secret": "b", "request_token_url": "https://x.example.com/r"}}}),
            "auth_config.credentials.request_token_url: is an OAuth 1.0a setting",
        ),
        (
            "OAUTH2 without client_id",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": {"client_secret": "s"}}}),
            "auth_config.credentials.client_id",
        ),
    ];
    for (case, body, field) in cases {
        let r = app.post("auth_configs", body).await;
        assert_eq!(r.status, 400, "[{case}] {}", r.text);
        assert!(error_text(&r).contains(field), "[{case}] {}", r.text);
    }
    let configs: i64 = app.db.scalar("select count(*) from auth_config", NO_ARGS).await;
    assert_eq!(configs, 0);
    app.cleanup().await;
}

#[tokio::test]
async fn patch_replaces_the_credential_and_refuses_bad_values() {
    let app = spawn_app().await;
    let ac = scheme_config(&app, "twilio", "BASIC").await;
    let r = create_account(&app, &ac, "BASIC", json!({"username": TWILIO_SID, "password": TWILIO_TOKEN})).await;
    let id = r.expect(201, "create").clone()["id"].as_str().unwrap().to_owned();
    let path = format!("connected_accounts/{id}");

    let r =
        app.patch(&path, json!({"connection": {"authScheme": "BASIC", "val": {"password": "rotated-token-7"}}})).await;
    let body = r.expect(200, "replace").clone();
    assert_eq!(body, json!({"id": id, "status": "ACTIVE", "success": true}));
    let got = app.get(&path).await.expect(200, "read").clone();
    assert_eq!(
        got["state"]["val"],
        json!({"status": "ACTIVE", "username": TWILIO_SID, "password": "rotated-token-7"}),
        "the username is kept, the password replaced"
    );

    for (case, val, field) in [
        ("unknown", json!({"api_key": "x"}), "connection.val.api_key"),
        ("control", json!({"password": "a\u{7}b"}), "connection.val.password"),
        ("pattern", json!({"username": "AC@evil"}), "connection.val.username"),
        ("not a string", json!({"password": true}), "connection.val.password"),
    ] {
        let r = app.patch(&path, json!({"connection": {"val": val}})).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(error_text(&r).contains(field), "[{case}] {}", r.text);
    }
    assert_eq!(app.get(&path).await.body["state"]["val"]["password"], "rotated-token-7", "unchanged by refusals");
    let dump = app.dump().await;
    assert!(!dump.contains("rotated-token-7"), "the replaced credential is sealed");

    // Concurrent replacements serialize on the account's lock: one of them wins, whole.
    let patches =
        (0..4).map(|i| app.patch(&path, json!({"connection": {"val": {"password": format!("parallel-{i}")}}})));
    for r in futures::future::join_all(patches).await {
        r.expect(200, "parallel replace");
    }
    let password = app.get(&path).await.body["state"]["val"]["password"].as_str().unwrap().to_owned();
    assert!(password.starts_with("parallel-"), "{password}");

    // A revoked account takes no credential.
    app.post(&format!("{path}/revoke"), json!({})).await.expect(200, "revoke");
    let r = app.patch(&path, json!({"connection": {"val": {"password": "again"}}})).await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert!(error_text(&r).contains("REVOKED, not ACTIVE"), "{}", r.text);
    app.cleanup().await;
}

/// Links for a non-OAuth toolkit are created like any other (the hosted page collects the fields).
#[tokio::test]
async fn links_for_non_oauth_toolkits_are_created() {
    let app = spawn_app().await;
    let ac = scheme_config(&app, "openai", "API_KEY").await;
    let r = app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": "u9"})).await;
    let link = r.expect(201, "link").clone();
    let id = link["connected_account_id"].as_str().unwrap();
    let account = app.get(&format!("connected_accounts/{id}")).await.expect(200, "read").clone();
    assert_eq!(account["status"], "INITIATED");
    assert_eq!(account["state"]["authScheme"], "API_KEY");
    assert_eq!(account["state"]["val"]["redirectUrl"], link["redirect_url"]);
    app.cleanup().await;
}
