//! Project isolation: a key of project B can neither read, change nor detect project A's data.
//! Every answer B gets about A's ids must look exactly like the answer for an id that never existed.

use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, assert_error_ctx, ids, spawn_app, unknown_id};

/// The error envelope without what legitimately differs between two requests (request id, and
/// the id itself inside the message).
fn shape(r: &Resp, id: &str) -> Value {
    let mut e = r.body["error"].clone();
    e["request_id"] = Value::Null;
    if let Some(m) = e["message"].as_str() {
        e["message"] = Value::String(m.replace(id, "<id>"));
    }
    if let Some(list) = e["errors"].as_array() {
        e["errors"] = list.iter().map(|x| Value::String(x.as_str().unwrap_or_default().replace(id, "<id>"))).collect();
    }
    json!({"status": r.status, "error": e})
}

/// Asserts B's answer about A's id equals B's answer about a never-existing id.
#[track_caller]
fn same_as_unknown(
    case: &str,
    theirs: &Resp,
    their_id: &str,
    unknown: &Resp,
    unknown_id: &str,
    status: u16,
    slug: &str,
) {
    assert_error_ctx(theirs, status, slug, case);
    assert_error_ctx(unknown, status, slug, &format!("{case} (unknown id)"));
    assert_eq!(shape(theirs, their_id), shape(unknown, unknown_id), "{case}: distinguishable from a missing id");
}

struct ProjectA {
    ac: String,
    session: String,
    account: String,
}

async fn project_a(app: &TestApp) -> ProjectA {
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await;
    let account = app.link_ok(&session, json!({"toolkit": "github", "alias": "a-work"})).await;
    ProjectA { ac, session, account }
}

#[tokio::test]
async fn sessions_of_another_project_are_invisible() {
    let app = spawn_app().await;
    let a = project_a(&app).await;
    let key_b = app.new_project_key("project-b").await;
    let b = app.as_key(&key_b);
    let unknown = unknown_id("trs_");

    let (theirs, none) = (
        b.get(&format!("tool_router/session/{}", a.session)).await,
        b.get(&format!("tool_router/session/{unknown}")).await,
    );
    same_as_unknown("GET session", &theirs, &a.session, &none, &unknown, 404, "ToolRouterV2_SessionNotFound");

    let theirs = b.get(&format!("tool_router/session/{}/toolkits", a.session)).await;
    let none = b.get(&format!("tool_router/session/{unknown}/toolkits")).await;
    same_as_unknown("GET session toolkits", &theirs, &a.session, &none, &unknown, 404, "ToolRouterV2_SessionNotFound");

    let patch = json!({"manage_connections": {"enable": false}});
    let theirs = b.patch(&format!("tool_router/session/{}", a.session), patch.clone()).await;
    let none = b.patch(&format!("tool_router/session/{unknown}"), patch).await;
    same_as_unknown("PATCH session", &theirs, &a.session, &none, &unknown, 404, "ToolRouterV2_SessionNotFound");

    let theirs = b.post(&format!("tool_router/session/{}/link", a.session), json!({"toolkit": "github"})).await;
    let none = b.post(&format!("tool_router/session/{unknown}/link"), json!({"toolkit": "github"})).await;
    same_as_unknown("POST session link", &theirs, &a.session, &none, &unknown, 404, "ToolRouterV2_SessionNotFound");

    let theirs = b.delete(&format!("tool_router/session/{}", a.session)).await;
    let none = b.delete(&format!("tool_router/session/{unknown}")).await;
    same_as_unknown("DELETE session", &theirs, &a.session, &none, &unknown, 404, "ToolRouterV2_SessionNotFound");

    // Project A's session is untouched.
    let r = app.get(&format!("tool_router/session/{}", a.session)).await;
    let body = r.expect(200, "A reads its session");
    assert_eq!(body["config_version"], 0, "B's PATCH changed A's session");
    assert_eq!(body["config"]["manage_connections"]["enabled"], true);
    let (accounts, links, _) = app.row_counts().await;
    assert_eq!((accounts, links), (1, 1), "B's link request wrote rows");
    app.cleanup().await;
}

#[tokio::test]
async fn auth_configs_of_another_project_are_invisible() {
    let app = spawn_app().await;
    let a = project_a(&app).await;
    let key_b = app.new_project_key("project-b").await;
    let b = app.as_key(&key_b);
    let unknown = unknown_id("ac_");

    let theirs = b.get(&format!("auth_configs/{}", a.ac)).await;
    let none = b.get(&format!("auth_configs/{unknown}")).await;
    same_as_unknown("GET auth config", &theirs, &a.ac, &none, &unknown, 404, "AuthConfig_NotFound");

    for query in ["", "?toolkit_slug=github", "?show_disabled=true"] {
        let r = b.get(&format!("auth_configs{query}")).await;
        let list = r.expect(200, "B lists auth configs");
        assert_eq!(list["items"], json!([]), "B sees A's auth configs with {query:?}");
        assert_eq!(list["total_items"], 0, "{query:?}");
    }

    // Using A's auth config in B's session fails exactly as a missing one does.
    let body = |id: &str| json!({"user_id": "user_1", "auth_configs": {"github": id}});
    let theirs = b.post("tool_router/session", body(&a.ac)).await;
    let none = b.post("tool_router/session", body(&unknown)).await;
    same_as_unknown("B session with A's auth config", &theirs, &a.ac, &none, &unknown, 400, "ToolRouterV2_BadRequest");

    // ... and in PATCH.
    let b_session = {
        let r = b.post("tool_router/session", json!({"user_id": "user_1"})).await;
        r.expect(201, "B creates a session");
        r.body["session_id"].as_str().unwrap().to_owned()
    };
    let patch = |id: &str| json!({"auth_configs": {"github": id}});
    let theirs = b.patch(&format!("tool_router/session/{b_session}"), patch(&a.ac)).await;
    let none = b.patch(&format!("tool_router/session/{b_session}"), patch(&unknown)).await;
    same_as_unknown("B PATCH with A's auth config", &theirs, &a.ac, &none, &unknown, 400, "ToolRouterV2_BadRequest");

    // B's session cannot link github through A's auth config either.
    let r = b.post(&format!("tool_router/session/{b_session}/link"), json!({"toolkit": "github"})).await;
    assert_error_ctx(&r, 400, "ToolRouterV2_NoManagedAuth", "B links github with only A's auth config");

    // POST connected_accounts/link with A's auth config.
    let link = |id: &str| json!({"auth_config_id": id, "user_id": "user_1"});
    let theirs = b.post("connected_accounts/link", link(&a.ac)).await;
    let none = b.post("connected_accounts/link", link(&unknown)).await;
    same_as_unknown("B user link with A's auth config", &theirs, &a.ac, &none, &unknown, 404, "AuthConfig_NotFound");
    let legacy = |id: &str| json!({"auth_config": {"id": id}, "connection": {"user_id": "user_1"}});
    let theirs = b.post("connected_accounts", legacy(&a.ac)).await;
    let none = b.post("connected_accounts", legacy(&unknown)).await;
    same_as_unknown(
        "B legacy create with A's auth config",
        &theirs,
        &a.ac,
        &none,
        &unknown,
        404,
        "AuthConfig_NotFound",
    );

    let (accounts, links, _) = app.row_counts().await;
    assert_eq!((accounts, links), (1, 1), "B's requests wrote rows");
    app.cleanup().await;
}

#[tokio::test]
async fn custom_toolkits_of_another_project_are_unknown() {
    let app = spawn_app().await;
    let urls = json!({"authorization_url": "https://auth.acme.example/authorize",
                      "token_url": "https://auth.acme.example/token"});
    app.create_auth_config_with(&app.api(), "acme_crm", urls).await;
    app.create_session(json!({"user_id": "u", "toolkits": {"enable": ["acme_crm"]}})).await;

    let key_b = app.new_project_key("project-b").await;
    let b = app.as_key(&key_b);
    for (case, body) in [
        ("enable", json!({"user_id": "u", "toolkits": {"enable": ["acme_crm"]}})),
        ("disable", json!({"user_id": "u", "toolkits": {"disable": ["acme_crm"]}})),
    ] {
        let r = b.post("tool_router/session", body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_InvalidToolkitSlugs", case);
    }
    let r = b.post("tool_router/session", json!({"user_id": "u"})).await;
    let s = r.expect(201, "B session")["session_id"].as_str().unwrap().to_owned();
    let r = b.post(&format!("tool_router/session/{s}/link"), json!({"toolkit": "acme_crm"})).await;
    assert_error_ctx(&r, 400, "ToolRouterV2_InvalidToolkitSlugs", "B links A's custom toolkit");
    app.cleanup().await;
}

#[tokio::test]
async fn connected_accounts_of_another_project_are_invisible() {
    let app = spawn_app().await;
    let a = project_a(&app).await;
    let key_b = app.new_project_key("project-b").await;
    let b = app.as_key(&key_b);
    let unknown = unknown_id("ca_");

    let theirs = b.get(&format!("connected_accounts/{}", a.account)).await;
    let none = b.get(&format!("connected_accounts/{unknown}")).await;
    same_as_unknown("GET account", &theirs, &a.account, &none, &unknown, 404, "ConnectedAccount_NotFound");

    for body in
        [json!({"alias": "stolen"}), json!({"experimental": {"acl_config_for_shared": {"allow_all_users": true}}})]
    {
        let theirs = b.patch(&format!("connected_accounts/{}", a.account), body.clone()).await;
        let none = b.patch(&format!("connected_accounts/{unknown}"), body.clone()).await;
        same_as_unknown(
            &format!("PATCH account {body}"),
            &theirs,
            &a.account,
            &none,
            &unknown,
            404,
            "ConnectedAccount_NotFound",
        );
    }

    let theirs = b.delete(&format!("connected_accounts/{}", a.account)).await;
    let none = b.delete(&format!("connected_accounts/{unknown}")).await;
    same_as_unknown("DELETE account", &theirs, &a.account, &none, &unknown, 404, "ConnectedAccount_NotFound");

    for query in [
        String::new(),
        "account_type=ALL".into(),
        "user_ids=user_1".into(),
        "toolkit_slugs=github".into(),
        format!("connected_account_ids={}", a.account),
        format!("auth_config_ids={}", a.ac),
    ] {
        let r = b.get(&format!("connected_accounts?{query}")).await;
        let list = r.expect(200, "B lists accounts");
        assert_eq!(ids(list), Vec::<String>::new(), "B sees A's accounts with ?{query}");
        assert_eq!(list["total_items"], 0, "?{query}");
    }

    // Pinning A's account in B's session fails exactly as a missing one does.
    let body = |id: &str| json!({"user_id": "user_1", "connected_accounts": {"github": [id]}});
    let theirs = b.post("tool_router/session", body(&a.account)).await;
    let none = b.post("tool_router/session", body(&unknown)).await;
    same_as_unknown(
        "B pins A's account",
        &theirs,
        &a.account,
        &none,
        &unknown,
        400,
        "ToolRouterV2_InvalidConnectedAccountIds",
    );

    // A's account is untouched.
    let r = app.get(&format!("connected_accounts/{}", a.account)).await;
    let account = r.expect(200, "A still reads its account");
    assert_eq!(account["alias"], "a-work");
    assert_eq!(account["experimental"]["account_type"], "PRIVATE");

    // And A's alias is not taken in B: B may use the same alias for the same user and toolkit.
    app.create_auth_config_with(&b, "github", json!({})).await;
    let r = b.post("tool_router/session", json!({"user_id": "user_1"})).await;
    let s = r.expect(201, "B session")["session_id"].as_str().unwrap().to_owned();
    let r = b.post(&format!("tool_router/session/{s}/link"), json!({"toolkit": "github", "alias": "a-work"})).await;
    r.expect(201, "same alias in another project");
    app.cleanup().await;
}
