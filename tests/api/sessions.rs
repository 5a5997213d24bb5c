//! `tool_router/session`: create, read, patch, delete (contract §4, §5).

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_error_ctx, error_text, is_id, message, spawn_app, timestamp, unknown_id,
};

/// Checks the §4.2 response shape common to create, get and patch.
#[track_caller]
fn assert_session_shape(app: &TestApp, s: &Value) {
    assert!(is_id(&s["session_id"], "trs_"), "session_id {}", s["session_id"]);
    let id = s["session_id"].as_str().unwrap();
    assert_eq!(s["mcp"]["type"], "http");
    assert_eq!(s["mcp"]["url"], format!("{}/tool_router/{id}/mcp", app.base));
    let tools = s["tool_router_tools"].as_array().expect("tool_router_tools is an array");
    assert!(!tools.is_empty() && tools.iter().all(Value::is_string), "tool_router_tools {tools:?}");
    let c = &s["config"];
    assert!(c["user_id"].is_string());
    assert!(c["preload"]["tools"].is_array() || c["preload"]["tools"] == "all", "config.preload {}", c["preload"]);
    assert!(c["search"].is_object(), "config.search {}", c["search"]);
    assert!(c["execute"].is_object(), "config.execute {}", c["execute"]);
    assert!(s["config_version"].is_i64(), "config_version {}", s["config_version"]);
}

async fn session_count(app: &TestApp) -> i64 {
    app.row_counts().await.2
}

#[tokio::test]
async fn create_returns_every_field_of_the_contract() {
    let app = spawn_app().await;
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "user_1", "toolkits": {"enable": ["GitHub", "slack"]},
                   "manage_connections": {"enable": true, "callback_url": "https://app.example.com/cb/done"}}),
        )
        .await;
    let s = r.expect(201, "create").clone();
    assert_session_shape(&app, &s);
    assert_eq!(s["config"]["user_id"], "user_1");
    assert_eq!(s["config"]["toolkits"], json!({"enabled": ["github", "slack"]}), "lowercased, renamed to `enabled`");
    assert_eq!(s["config"]["manage_connections"]["enabled"], true);
    assert_eq!(s["config"]["manage_connections"]["callback_url"], "https://app.example.com/cb/done");
    assert_eq!(s["config"]["preload"], json!({"tools": []}));
    assert_eq!(s["config_version"], 0);
    assert!(s["config"]["manage_connections"].get("enable").is_none(), "request name `enable` leaked");

    // GET returns the same document.
    let id = s["session_id"].as_str().unwrap();
    let got = app.get(&format!("tool_router/session/{id}")).await;
    assert_eq!(got.expect(200, "get"), &s);
    // ... on v3 as well.
    let got = app.v3().get(&format!("tool_router/session/{id}")).await;
    assert_eq!(got.expect(200, "get v3"), &s);
    app.cleanup().await;
}

#[tokio::test]
async fn create_with_disable_list_and_minimal_body() {
    let app = spawn_app().await;
    let r = app.post("tool_router/session", json!({"user_id": "u", "toolkits": {"disable": ["Slack"]}})).await;
    let s = r.expect(201, "disable");
    assert_eq!(s["config"]["toolkits"], json!({"disabled": ["slack"]}));

    let r = app.post("tool_router/session", json!({"user_id": "u"})).await;
    let s = r.expect(201, "minimal").clone();
    assert_session_shape(&app, &s);
    assert_eq!(s["config"]["manage_connections"]["enabled"], true, "manage_connections defaults to enabled");

    // The v3 path creates sessions too.
    let r = app.v3().post("tool_router/session", json!({"user_id": "u"})).await;
    assert_session_shape(&app, r.expect(201, "v3 create"));
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_json_keys_are_ignored() {
    let app = spawn_app().await;
    let body = json!({
        "user_id": "u", "tools": {"github": {"enable": ["GITHUB_GET_REPO"]}}, "tags": ["x"],
        "workbench": {"enable_proxy_execution": true}, "preload": {"tools": []}, "search": {"enable": true},
        "execute": {"enable_multi_execute": true}, "hooks": {"a": 1}, "instant": true, "something_new": [1, 2],
        "manage_connections": {"enable": true, "future_flag": 1},
        "multi_account": {"enable": true, "require_explicit_selection": true, "new_knob": "x"},
        "experimental": {"assistive_prompt_config": {"user_timezone": "UTC"}, "custom_tools": []}
    });
    let r = app.post("tool_router/session", body).await;
    let id = r.expect(201, "unknown keys")["session_id"].as_str().unwrap().to_owned();
    // PATCH ignores them too.
    let r = app
        .patch(
            &format!("tool_router/session/{id}"),
            json!({"workbench": null, "future": {"x": 1}, "manage_connections": {"enable": false, "knob": 2}}),
        )
        .await;
    assert_eq!(r.expect(200, "patch with unknown keys")["config"]["manage_connections"]["enabled"], false);
    app.cleanup().await;
}

#[tokio::test]
async fn toolkit_lists_are_normalised() {
    let app = spawn_app().await;
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "u", "toolkits": {"enable": ["slack", "github", "GitHub", "SLACK", "Gmail"]}}),
        )
        .await;
    let s = r.expect(201, "duplicates in any case").clone();
    // Not alphabetical, so first-seen order cannot pass as a sort.
    assert_eq!(
        s["config"]["toolkits"]["enabled"],
        json!(["slack", "github", "gmail"]),
        "each toolkit once, lowercase, in first-seen order"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn patch_toolkits_null_removes_the_filter() {
    let app = spawn_app().await;
    let id = app.create_session(json!({"user_id": "u", "toolkits": {"enable": ["github"]}})).await;
    let id = id.as_str();
    // PATCH `toolkits: null` removes the filter: every known toolkit is allowed again.
    let r = app.patch(&format!("tool_router/session/{id}"), json!({"toolkits": null})).await;
    let s = r.expect(200, "toolkits null");
    assert!(s["config"].get("toolkits").is_none_or(Value::is_null), "filter not removed: {}", s["config"]);
    app.create_auth_config("notion").await;
    app.link_ok(id, json!({"toolkit": "notion"})).await;
    app.cleanup().await;
}

#[tokio::test]
async fn patch_bumps_config_version_and_null_clears() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let id = app
        .create_session(json!({"user_id": "user_1",
                               "manage_connections": {"enable": true, "callback_url": "https://app.example.com/cb"}}))
        .await;
    let account = app.link_ok(&id, json!({"toolkit": "github"})).await;
    let path = format!("tool_router/session/{id}");

    let r = app.patch(&path, json!({"toolkits": {"enable": ["GitHub"]}})).await;
    let s = r.expect(200, "patch 1").clone();
    assert_session_shape(&app, &s);
    assert_eq!(s["config_version"], 1);
    assert_eq!(s["config"]["toolkits"], json!({"enabled": ["github"]}));
    assert_eq!(s["config"]["manage_connections"]["callback_url"], "https://app.example.com/cb", "absent keys are kept");

    let r =
        app.patch(&path, json!({"connected_accounts": {"github": [account]}, "auth_configs": {"github": ac}})).await;
    let s = r.expect(200, "patch 2").clone();
    assert_eq!(s["config_version"], 2);
    assert_eq!(s["config"]["connected_accounts"], json!({"github": [account]}));
    assert_eq!(s["config"]["auth_configs"], json!({"github": ac}));

    let r = app.patch(&path, json!({"manage_connections": null, "connected_accounts": null})).await;
    let s = r.expect(200, "patch 3 (nulls)").clone();
    assert_eq!(s["config_version"], 3);
    assert!(
        s["config"]["connected_accounts"].as_object().is_none_or(serde_json::Map::is_empty),
        "connected_accounts not cleared: {}",
        s["config"]["connected_accounts"]
    );
    assert!(s["config"]["manage_connections"]["callback_url"].is_null(), "callback_url not cleared");
    assert_eq!(s["config"]["auth_configs"], json!({"github": ac}), "untouched key kept");
    assert_eq!(s["config"]["toolkits"], json!({"enabled": ["github"]}), "untouched key kept");

    // An empty PATCH still counts as a change of version.
    let s = app.patch(&path, json!({})).await.expect(200, "empty patch").clone();
    assert_eq!(s["config_version"], 4);

    // GET shows the last version; user_id never changes.
    let got = app.get(&path).await;
    let got = got.expect(200, "get after patches");
    assert_eq!(got["config_version"], 4);
    assert_eq!(got["config"]["user_id"], "user_1");
    assert!(timestamp(&got["updated_at"]) >= timestamp(&got["created_at"]));

    // Invalid patches are refused and change nothing.
    for (case, body) in [
        ("unknown toolkit", json!({"toolkits": {"enable": ["nosuchkit"]}})),
        ("enable+disable", json!({"toolkits": {"enable": ["github"], "disable": ["slack"]}})),
        ("max_accounts 2.5", json!({"multi_account": {"enable": true, "max_accounts_per_toolkit": 2.5}})),
        ("max_accounts 1", json!({"multi_account": {"enable": true, "max_accounts_per_toolkit": 1}})),
        ("callback not allowed", json!({"manage_connections": {"callback_url": "https://evil.example.com/cb"}})),
        ("link_url_overwrite", json!({"experimental": {"link_url_overwrite": "not a url"}})),
        ("unknown pin", json!({"connected_accounts": {"github": [unknown_id("ca_")]}})),
    ] {
        let r = app.patch(&path, body).await;
        assert_eq!(r.status, 400, "{case}: {}", r.text);
    }
    let got = app.get(&path).await;
    assert_eq!(got.expect(200, "get after bad patches")["config_version"], 4, "a refused PATCH bumped the version");
    app.cleanup().await;
}

#[tokio::test]
async fn delete_then_get_is_404() {
    let app = spawn_app().await;
    let id = app.create_session(json!({"user_id": "u"})).await;
    let path = format!("tool_router/session/{id}");
    let r = app.delete(&path).await;
    assert_eq!(r.expect(200, "delete"), &json!({"session_id": id, "deleted": true}));
    for r in [
        app.get(&path).await,
        app.patch(&path, json!({})).await,
        app.delete(&path).await,
        app.link(&id, json!({"toolkit": "github"})).await,
    ] {
        assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn v3_echoes_pins_as_scalars_and_v31_as_arrays() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let s0 = app.create_session(json!({"user_id": "user_1"})).await;
    let ca = app.link_ok(&s0, json!({"toolkit": "github"})).await;

    // Created on v3.1 with an array.
    let r = app.post("tool_router/session", json!({"user_id": "user_1", "connected_accounts": {"github": [ca]}})).await;
    let s = r.expect(201, "v3.1 create").clone();
    assert_eq!(s["config"]["connected_accounts"], json!({"github": [ca]}));
    let id = s["session_id"].as_str().unwrap();
    let v3 = app.v3().get(&format!("tool_router/session/{id}")).await;
    assert_eq!(v3.expect(200, "v3 get")["config"]["connected_accounts"], json!({"github": ca}));

    // Created on v3 with a scalar (the v3 wire form).
    let r =
        app.v3().post("tool_router/session", json!({"user_id": "user_1", "connected_accounts": {"github": ca}})).await;
    let s = r.expect(201, "v3 create").clone();
    assert_eq!(s["config"]["connected_accounts"], json!({"github": ca}));
    let id = s["session_id"].as_str().unwrap();
    let v31 = app.get(&format!("tool_router/session/{id}")).await;
    assert_eq!(v31.expect(200, "v3.1 get")["config"]["connected_accounts"], json!({"github": [ca]}));

    // Both forms accepted on either path.
    let r = app.post("tool_router/session", json!({"user_id": "user_1", "connected_accounts": {"github": ca}})).await;
    assert_eq!(r.expect(201, "scalar on v3.1")["config"]["connected_accounts"], json!({"github": [ca]}));
    let r = app
        .v3()
        .post("tool_router/session", json!({"user_id": "user_1", "connected_accounts": {"github": [ca]}}))
        .await;
    assert_eq!(r.expect(201, "array on v3")["config"]["connected_accounts"], json!({"github": ca}));

    // PATCH answers in the path's form too.
    let r = app.v3().patch(&format!("tool_router/session/{id}"), json!({"connected_accounts": {"github": [ca]}})).await;
    assert_eq!(r.expect(200, "v3 patch")["config"]["connected_accounts"], json!({"github": ca}));
    app.cleanup().await;
}

#[tokio::test]
async fn multi_account_allows_several_pins() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let s0 = app.create_session(json!({"user_id": "user_1"})).await;
    let a = app.link_ok(&s0, json!({"toolkit": "github"})).await;
    let b = app.link_ok(&s0, json!({"toolkit": "github"})).await;
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "user_1", "connected_accounts": {"github": [a, b]},
                   "multi_account": {"enable": true, "max_accounts_per_toolkit": 2}}),
        )
        .await;
    let s = r.expect(201, "two pins with multi_account");
    assert_eq!(s["config"]["connected_accounts"], json!({"github": [a, b]}));
    assert_eq!(s["config"]["multi_account"]["max_accounts_per_toolkit"], 2);
    for (case, max) in [("min", 2), ("max", 10)] {
        let r = app
            .post(
                "tool_router/session",
                json!({"user_id": "u", "multi_account": {"enable": true, "max_accounts_per_toolkit": max}}),
            )
            .await;
        r.expect(201, case);
    }
    // Enabled without a number: Composio's default cap of 5, echoed and enforced.
    let r = app.post("tool_router/session", json!({"user_id": "u", "multi_account": {"enable": true}})).await;
    assert_eq!(r.expect(201, "default cap")["config"]["multi_account"]["max_accounts_per_toolkit"], 5);
    let mut six = Vec::new();
    for _ in 0..6 {
        six.push(app.link_ok(&s0, json!({"toolkit": "github"})).await);
    }
    let body = |pins: &[String]| json!({"user_id": "user_1", "connected_accounts": {"github": pins}, "multi_account": {"enable": true}});
    app.post("tool_router/session", body(&six[..5])).await.expect(201, "five pins under the default cap");
    let r = app.post("tool_router/session", body(&six)).await;
    assert_error(&r, 400, "ToolRouterV2_InvalidConnectedAccountIds");
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_create_bodies_are_400_and_write_nothing() {
    let app = spawn_app().await;
    let github_ac = app.create_auth_config("github").await;
    let s0 = app.create_session(json!({"user_id": "user_1"})).await;
    let a = app.link_ok(&s0, json!({"toolkit": "github"})).await;
    let b = app.link_ok(&s0, json!({"toolkit": "github"})).await;
    let other_user = {
        let s = app.create_session(json!({"user_id": "user_2"})).await;
        app.link_ok(&s, json!({"toolkit": "github"})).await
    };
    let before = session_count(&app).await;

    // (case, body, slug, text the message or errors must contain)
    let cases: Vec<(&str, Value, &str, String)> = vec![
        ("missing user_id", json!({"toolkits": {"enable": ["github"]}}), "ToolRouterV2_BadRequest", "user_id".into()),
        ("empty user_id", json!({"user_id": ""}), "ToolRouterV2_BadRequest", "user_id".into()),
        ("user_id too long", json!({"user_id": "u".repeat(257)}), "ToolRouterV2_BadRequest", "user_id".into()),
        ("user_id number", json!({"user_id": 42}), "ToolRouterV2_BadRequest", "user_id".into()),
        ("user_id null", json!({"user_id": null}), "ToolRouterV2_BadRequest", "user_id".into()),
        (
            "enable and disable",
            json!({"user_id": "u", "toolkits": {"enable": ["github"], "disable": ["slack"]}}),
            "ToolRouterV2_BadRequest",
            "toolkits".into(),
        ),
        (
            "toolkits.enable not a list",
            json!({"user_id": "u", "toolkits": {"enable": "github"}}),
            "ToolRouterV2_BadRequest",
            "toolkits.enable".into(),
        ),
        (
            "unknown toolkit",
            json!({"user_id": "u", "toolkits": {"enable": ["github", "nosuchkit"]}}),
            "ToolRouterV2_InvalidToolkitSlugs",
            "nosuchkit".into(),
        ),
        (
            "unknown toolkit in disable",
            json!({"user_id": "u", "toolkits": {"disable": ["nosuchkit"]}}),
            "ToolRouterV2_InvalidToolkitSlugs",
            "nosuchkit".into(),
        ),
        (
            "bad toolkit characters",
            json!({"user_id": "u", "toolkits": {"enable": ["git hub"]}}),
            "ToolRouterV2_BadRequest",
            "toolkits.enable[0]".into(),
        ),
        (
            "malformed auth config id",
            json!({"user_id": "u", "auth_configs": {"github": "not-an-id"}}),
            "ToolRouterV2_BadRequest",
            "auth_configs.github".into(),
        ),
        (
            "unknown auth config id",
            json!({"user_id": "u", "auth_configs": {"github": unknown_id("ac_")}}),
            "ToolRouterV2_BadRequest",
            "auth_configs.github".into(),
        ),
        (
            "auth config of another toolkit",
            json!({"user_id": "u", "auth_configs": {"slack": github_ac}}),
            "ToolRouterV2_BadRequest",
            "auth_configs.slack".into(),
        ),
        (
            "auth config under an unknown toolkit",
            json!({"user_id": "u", "auth_configs": {"nosuchkit": github_ac}}),
            "ToolRouterV2_InvalidToolkitSlugs",
            "nosuchkit".into(),
        ),
        (
            "unknown ca_ pin",
            json!({"user_id": "user_1", "connected_accounts": {"github": [unknown_id("ca_")]}}),
            "ToolRouterV2_InvalidConnectedAccountIds",
            unknown_id("ca_"),
        ),
        (
            "malformed pin",
            json!({"user_id": "user_1", "connected_accounts": {"github": ["nope"]}}),
            "ToolRouterV2_BadRequest",
            "connected_accounts.github[0]".into(),
        ),
        (
            "pin under the wrong toolkit",
            json!({"user_id": "user_1", "connected_accounts": {"slack": [a]}}),
            "ToolRouterV2_InvalidConnectedAccountIds",
            a.clone(),
        ),
        (
            "PRIVATE pin of another user",
            json!({"user_id": "user_1", "connected_accounts": {"github": [other_user]}}),
            "ToolRouterV2_InvalidConnectedAccountIds",
            other_user.clone(),
        ),
        (
            "two pins without multi_account",
            json!({"user_id": "user_1", "connected_accounts": {"github": [a, b]}}),
            "ToolRouterV2_InvalidConnectedAccountIds",
            "multi_account".into(),
        ),
        (
            "same pin twice",
            json!({"user_id": "user_1", "connected_accounts": {"github": [a, a]},
                   "multi_account": {"enable": true}}),
            "ToolRouterV2_InvalidConnectedAccountIds",
            a.clone(),
        ),
        (
            "max_accounts_per_toolkit 1",
            json!({"user_id": "u", "multi_account": {"enable": true, "max_accounts_per_toolkit": 1}}),
            "ToolRouterV2_BadRequest",
            "multi_account.max_accounts_per_toolkit".into(),
        ),
        (
            "max_accounts_per_toolkit 11",
            json!({"user_id": "u", "multi_account": {"enable": true, "max_accounts_per_toolkit": 11}}),
            "ToolRouterV2_BadRequest",
            "multi_account.max_accounts_per_toolkit".into(),
        ),
        (
            "callback_url not on the allowlist",
            json!({"user_id": "u", "manage_connections": {"callback_url": "https://evil.example.com/cb"}}),
            "ToolRouterV2_BadRequest",
            "manage_connections.callback_url".into(),
        ),
        (
            "callback_url relative",
            json!({"user_id": "u", "manage_connections": {"callback_url": "/cb"}}),
            "ToolRouterV2_BadRequest",
            "manage_connections.callback_url".into(),
        ),
        (
            "manage_connections.enable not a bool",
            json!({"user_id": "u", "manage_connections": {"enable": "yes"}}),
            "ToolRouterV2_BadRequest",
            "manage_connections.enable".into(),
        ),
        (
            "link_url_overwrite not a URL",
            json!({"user_id": "u", "experimental": {"link_url_overwrite": "not a url"}}),
            "ToolRouterV2_BadRequest",
            "experimental.link_url_overwrite".into(),
        ),
        (
            "link_url_overwrite javascript:",
            json!({"user_id": "u", "experimental": {"link_url_overwrite": "javascript:alert(1)"}}),
            "ToolRouterV2_BadRequest",
            "experimental.link_url_overwrite".into(),
        ),
        ("JSON array body", json!([{"user_id": "u"}]), "ToolRouterV2_BadRequest", "body".into()),
        ("JSON string body", json!("user_id"), "ToolRouterV2_BadRequest", "body".into()),
        ("JSON null body", Value::Null, "ToolRouterV2_BadRequest", "body".into()),
    ];
    for (case, body, slug, needle) in cases {
        let r = app.post("tool_router/session", body).await;
        assert_error_ctx(&r, 400, slug, case);
        assert!(error_text(&r).contains(&needle), "[{case}] error should mention {needle:?}: {}", r.text);
    }
    for (case, raw) in [("malformed JSON", "{\"user_id\": "), ("empty body", ""), ("not JSON", "user_id=u")] {
        let r = app.api().post_raw("tool_router/session", raw).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(error_text(&r).contains("body"), "[{case}] {}", r.text);
    }
    // Every unknown slug is listed, not only the first.
    let r = app
        .post(
            "tool_router/session",
            json!({"user_id": "u", "toolkits": {"enable": ["github", "nosuchkit", "otherkit"]}}),
        )
        .await;
    assert_error(&r, 400, "ToolRouterV2_InvalidToolkitSlugs");
    assert!(message(&r).contains("nosuchkit") && message(&r).contains("otherkit"), "{}", r.text);
    assert!(!message(&r).contains("github"), "a known slug is listed as invalid: {}", r.text);
    assert_eq!(session_count(&app).await, before, "a refused create wrote a session");
    app.cleanup().await;
}

#[tokio::test]
async fn session_ids_are_checked() {
    let app = spawn_app().await;
    for bad in ["nope", "trs_short", "ca_Zz9Yy8Xx7Ww6", "trs_Zz9Yy8Xx7Ww6x", "TRS_Zz9Yy8Xx7Ww6"] {
        for (method, r) in [
            ("GET", app.get(&format!("tool_router/session/{bad}")).await),
            ("PATCH", app.patch(&format!("tool_router/session/{bad}"), json!({})).await),
            ("DELETE", app.delete(&format!("tool_router/session/{bad}")).await),
            ("LINK", app.link(bad, json!({"toolkit": "github"})).await),
        ] {
            let case = format!("{method} {bad}");
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
            assert!(message(&r).contains("trs_"), "[{case}] message should name the trs_ format: {}", r.text);
        }
    }
    let unknown = unknown_id("trs_");
    let r = app.get(&format!("tool_router/session/{unknown}")).await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    assert!(r.body["error"]["code"].is_u64());
    let r = app.v3().get(&format!("tool_router/session/{unknown}")).await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    app.cleanup().await;
}
