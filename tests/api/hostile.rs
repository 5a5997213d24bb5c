//! Hostile or odd inputs: always a 4xx in the envelope, never a 500, never a half-written row.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    db::{Backend, NO_ARGS},
    helpers::{Resp, TestApp, assert_error_ctx, error_text, send, spawn_app},
};

/// Asserts the generic 400 envelope of a body that cannot be read.
#[track_caller]
fn assert_400(r: &Resp, case: &str) {
    assert_error_ctx(r, 400, "ToolRouterV2_BadRequest", case);
}

/// Records a case that did not get a 400 (so one run reports every failing case).
fn check_400(failures: &mut Vec<String>, r: &Resp, case: &str) {
    if r.status != 400 || r.body["error"]["status"] != 400 || r.body["error"]["slug"] != "ToolRouterV2_BadRequest" {
        failures.push(format!("[{case}] {}: {}", r.status, r.text.chars().take(200).collect::<String>()));
    }
}

async fn fixture(app: &TestApp) -> (String, String) {
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "user_1"})).await;
    (ac, session)
}

#[tokio::test]
async fn trailing_garbage_after_the_json_object_is_400() {
    let app = spawn_app().await;
    let (ac, session) = fixture(&app).await;
    let account = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let before = app.row_counts().await;
    let cases: Vec<(&str, Method, String, String)> = vec![
        ("session create", Method::POST, "tool_router/session".into(), r#"{"user_id":"u"} x"#.into()),
        ("session create, second object", Method::POST, "tool_router/session".into(), r#"{"user_id":"u"}{}"#.into()),
        ("session patch", Method::PATCH, format!("tool_router/session/{session}"), r"{} ]".into()),
        (
            "session link",
            Method::POST,
            format!("tool_router/session/{session}/link"),
            r#"{"toolkit":"github"} x"#.into(),
        ),
        (
            "user link",
            Method::POST,
            "connected_accounts/link".into(),
            format!(r#"{{"auth_config_id":"{ac}","user_id":"u"}},"#),
        ),
        ("account patch", Method::PATCH, format!("connected_accounts/{account}"), r#"{"alias":"a"} true"#.into()),
    ];
    let mut failures = Vec::new();
    for (case, method, path, raw) in cases {
        let r = send(app.api().request(method, &path).header("content-type", "application/json").body(raw)).await;
        check_400(&mut failures, &r, case);
        if r.status == 400 {
            assert!(error_text(&r).contains("body"), "[{case}] should name the body: {}", r.text);
        }
    }
    assert!(failures.is_empty(), "JSON with trailing characters was accepted:\n{}", failures.join("\n"));
    assert_eq!(app.row_counts().await, before, "a malformed body wrote rows");
    let r = app.get(&format!("tool_router/session/{session}")).await;
    assert_eq!(r.expect(200, "get")["config_version"], 0, "a malformed PATCH changed the session");
    let r = app.get(&format!("connected_accounts/{account}")).await;
    assert!(r.expect(200, "get")["alias"].is_null(), "a malformed PATCH changed the account");
    app.cleanup().await;
}

#[tokio::test]
async fn nul_characters_are_400_not_500() {
    let app = spawn_app().await;
    let (ac, session) = fixture(&app).await;
    let account = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let shared = |acl: Value| json!({"toolkit": "github", "experimental": {"account_type": "SHARED", "acl_config_for_shared": acl}});
    let before = app.row_counts().await;
    let cases: Vec<(&str, Method, String, Value)> = vec![
        ("session user_id", Method::POST, "tool_router/session".into(), json!({"user_id": "user\u{0}1"})),
        (
            "link alias",
            Method::POST,
            format!("tool_router/session/{session}/link"),
            json!({"toolkit": "github", "alias": "a\u{0}b"}),
        ),
        (
            "link ACL allowed_user_ids",
            Method::POST,
            format!("tool_router/session/{session}/link"),
            shared(json!({"allowed_user_ids": ["a\u{0}b"]})),
        ),
        (
            "link ACL not_allowed_user_ids",
            Method::POST,
            format!("tool_router/session/{session}/link"),
            shared(json!({"not_allowed_user_ids": ["\u{0}"]})),
        ),
        (
            "user link user_id",
            Method::POST,
            "connected_accounts/link".into(),
            json!({"auth_config_id": ac, "user_id": "u\u{0}"}),
        ),
        ("account alias", Method::PATCH, format!("connected_accounts/{account}"), json!({"alias": "x\u{0}"})),
        (
            "auth config name",
            Method::POST,
            "auth_configs".into(),
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                   "name": "n\u{0}", "credentials": {"client_id": "id", "client_secret": "s"}}}),
        ),
        (
            "auth config client_id",
            Method::POST,
            "auth_configs".into(),
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                   "credentials": {"client_id": "i\u{0}d", "client_secret": "s"}}}),
        ),
    ];
    let mut failures = Vec::new();
    for (case, method, path, body) in cases {
        let r = send(app.api().request(method, &path).json(&body)).await;
        check_400(&mut failures, &r, case);
    }
    // Any query parameter, read by the handler or ignored by it (`version`), and on MCP too.
    for (path, param) in [
        ("connected_accounts?user_ids=a%00b", "user_ids"),
        ("auth_configs?search=a%00b", "search"),
        ("toolkits/github?version=1%00", "version"),
        ("toolkits?x%00y=1", "xy"),
    ] {
        let r = app.get(path).await;
        check_400(&mut failures, &r, &format!("GET {path}"));
        if !error_text(&r).contains(&format!("{param}: must not contain NUL characters")) {
            failures.push(format!("[GET {path}] does not name {param}: {}", r.text));
        }
    }
    let r = send(app.client.get(format!("{}/mcp?x=%00", app.base)).header("x-api-key", &app.api_key)).await;
    check_400(&mut failures, &r, "GET /mcp?x=%00");
    // A JSON-RPC message with NUL in a key: refused before the transport reads it.
    for body in [
        r#"{"jsonrpc":"2.0","id":"","error":{"code":0,"message":""},"a\u0000":""}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"\u0000":1}}"#,
    ] {
        let r = send(
            app.client
                .post(format!("{}/mcp", app.base))
                .header("x-api-key", &app.api_key)
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        if r.status != 400
            || r.body["error"]["data"]["error"]["slug"] != "ToolRouterV2_BadRequest"
            || !r.text.contains("NUL")
        {
            failures.push(format!("[POST /mcp {body}] {}: {}", r.status, r.text));
        }
    }
    assert_eq!(app.row_counts().await, before, "a refused request wrote rows");
    assert!(failures.is_empty(), "NUL characters were not answered with a 4xx:\n{}", failures.join("\n"));
    app.cleanup().await;
}

/// serde reads a struct from a JSON array of its fields in order; every nested object of a body
/// takes an object only, so `"toolkits": [null, null]` is not an empty filter.
#[tokio::test]
async fn nested_objects_written_as_arrays_are_400() {
    let app = spawn_app().await;
    let (ac, session) = fixture(&app).await;
    let account = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let before = app.row_counts().await;
    let link = format!("tool_router/session/{session}/link");
    let creds = json!({"client_id": "id", "client_secret": "s"});
    let cases: Vec<(&str, Method, String, Value)> = vec![
        (
            "session toolkits",
            Method::PATCH,
            format!("tool_router/session/{session}"),
            json!({"toolkits": [null, null]}),
        ),
        (
            "session create toolkits",
            Method::POST,
            "tool_router/session".into(),
            json!({"user_id": "u", "toolkits": [["github"]]}),
        ),
        (
            "manage_connections",
            Method::POST,
            "tool_router/session".into(),
            json!({"user_id": "u", "manage_connections": [true]}),
        ),
        (
            "multi_account",
            Method::POST,
            "tool_router/session".into(),
            json!({"user_id": "u", "multi_account": [true, 3]}),
        ),
        (
            "session experimental",
            Method::POST,
            "tool_router/session".into(),
            json!({"user_id": "u", "experimental": [null]}),
        ),
        ("link experimental", Method::POST, link.clone(), json!({"toolkit": "github", "experimental": ["SHARED"]})),
        (
            "link ACL",
            Method::POST,
            link,
            json!({"toolkit": "github", "experimental": {"account_type": "SHARED", "acl_config_for_shared": [true]}}),
        ),
        (
            "account experimental",
            Method::PATCH,
            format!("connected_accounts/{account}"),
            json!({"experimental": [null]}),
        ),
        (
            "auth config toolkit",
            Method::POST,
            "auth_configs".into(),
            json!({"toolkit": ["github"], "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": creds}}),
        ),
        (
            "auth config",
            Method::POST,
            "auth_configs".into(),
            json!({"toolkit": {"slug": "github"}, "auth_config": ["use_custom_auth", "OAUTH2"]}),
        ),
        (
            "auth config credentials",
            Method::POST,
            "auth_configs".into(),
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": ["id", "s"]}}),
        ),
        (
            "auth config update credentials",
            Method::PATCH,
            format!("auth_configs/{ac}"),
            json!({"type": "custom", "credentials": ["id"]}),
        ),
        (
            "legacy connection",
            Method::POST,
            "connected_accounts".into(),
            json!({"auth_config": {"id": ac}, "connection": ["user_1"]}),
        ),
        (
            "legacy auth config",
            Method::POST,
            "connected_accounts".into(),
            json!({"auth_config": [ac], "connection": {"user_id": "user_1"}}),
        ),
    ];
    let mut failures = Vec::new();
    for (case, method, path, body) in cases {
        let r = send(app.api().request(method, &path).json(&body)).await;
        check_400(&mut failures, &r, case);
        if !error_text(&r).contains("invalid type: sequence, expected a JSON object") {
            failures.push(format!("[{case}] not the array error: {}", r.text.chars().take(300).collect::<String>()));
        }
    }
    assert_eq!(app.row_counts().await, before, "a refused request wrote rows");
    assert!(failures.is_empty(), "arrays were taken as objects:\n{}", failures.join("\n"));
    let r = app.get(&format!("tool_router/session/{session}")).await;
    assert_eq!(r.expect(200, "get")["config_version"], 0, "a refused PATCH changed the session");
    app.cleanup().await;
}

#[tokio::test]
async fn odd_but_valid_json_is_handled() {
    let app = spawn_app().await;
    let (_, session) = fixture(&app).await;
    // Deep nesting in an ignored key: a 400 or a 201, never a 500 or a dropped connection.
    let deep = format!(r#"{{"toolkit":"github","x":{}{}}}"#, "[".repeat(300), "]".repeat(300));
    let r = app.api().post_raw(&format!("tool_router/session/{session}/link"), deep).await;
    assert!(r.status == 400 || r.status == 201, "deep nesting: {} {}", r.status, r.text);
    // Duplicate keys.
    let r = app
        .api()
        .post_raw(&format!("tool_router/session/{session}/link"), r#"{"toolkit":"github","toolkit":"slack"}"#)
        .await;
    assert_400(&r, "duplicate key");
    // Unicode escapes and a BOM-free UTF-8 body with non-ASCII user ids.
    let r = app.post("tool_router/session", json!({"user_id": "ユーザー\u{1F600}"})).await;
    assert_eq!(r.expect(201, "unicode user_id")["config"]["user_id"], "ユーザー\u{1F600}");
    // Invalid UTF-8.
    let r = app.api().post_raw("tool_router/session", vec![b'{', b'"', b'u', 0xff, b'"', b':', b'1', b'}']).await;
    assert_400(&r, "invalid UTF-8");
    app.cleanup().await;
}

#[tokio::test]
async fn odd_request_ids_are_replaced() {
    let app = spawn_app().await;
    for (case, sent) in [("too long", "a".repeat(129)), ("spaces", "has space".into()), ("quotes", "a\"b".into())] {
        let r = send(app.anonymous().request(Method::GET, "connected_accounts").header("x-request-id", sent.as_str()))
            .await;
        let id = r.header("x-request-id").unwrap_or_default().to_owned();
        assert_ne!(id, sent, "[{case}] echoed as is");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "[{case}] not replaced by a UUID: {id}");
        assert_eq!(r.body["error"]["request_id"], id.as_str(), "[{case}]");
    }
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_that_succeed_each_bump_the_version_once() {
    let app = spawn_app().await;
    let session = app.create_session(json!({"user_id": "u"})).await;
    let path = format!("tool_router/session/{session}");
    let overwrites: Vec<String> = (0..8).map(|i| format!("https://connect.example.com/{i}")).collect();
    let patches = overwrites.iter().map(|overwrite| {
        let path = path.clone();
        let app = &app;
        async move { app.patch(&path, json!({"experimental": {"link_url_overwrite": overwrite}})).await }
    });
    let responses = futures::future::join_all(patches).await;
    // (version, the overwrite that PATCH sent) of every successful PATCH.
    let mut applied = Vec::new();
    for (r, overwrite) in responses.iter().zip(&overwrites) {
        match r.status {
            200 => {
                assert_eq!(
                    r.body["experimental"]["link_url_overwrite"],
                    overwrite.as_str(),
                    "a PATCH answered another's"
                );
                applied.push((r.body["config_version"].as_i64().unwrap(), overwrite.clone()));
            }
            409 => assert_error_ctx(r, 409, "ToolRouterV2_ConfigVersionConflict", "concurrent patch"),
            other => panic!("concurrent PATCH answered {other}: {}", r.text),
        }
    }
    // A compare-and-set always has a winner, and the service retries the losers: at least one
    // PATCH succeeds (a run where every PATCH fails is a failure, not a pass).
    assert!(
        !applied.is_empty(),
        "no concurrent PATCH succeeded: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    applied.sort();
    let versions: Vec<i64> = applied.iter().map(|(v, _)| *v).collect();
    let expected: Vec<i64> = (1..=i64::try_from(applied.len()).unwrap()).collect();
    assert_eq!(versions, expected, "each successful PATCH must see its own version");
    let r = app.get(&path).await;
    let current = r.expect(200, "get");
    assert_eq!(current["config_version"], applied.len());
    let (_, last) = applied.last().unwrap();
    assert_eq!(current["experimental"]["link_url_overwrite"], last.as_str(), "the session holds the newest PATCH");
    app.cleanup().await;
}

#[tokio::test]
async fn a_patch_that_loses_every_compare_and_set_is_a_409_conflict() {
    let app = spawn_app().await;
    let session = app.create_session(json!({"user_id": "u"})).await;
    // A writer that always wins: the database silently skips every version bump of the table, so
    // each of the service's compare-and-set attempts finds the version changed under it.
    match app.db.backend() {
        Backend::Sqlite => {
            app.db
                .execute(
                    "create trigger lose_every_cas before update on tool_router_session
                     when new.config_version <> old.config_version begin select raise(ignore); end",
                    NO_ARGS,
                )
                .await;
        }
        Backend::Postgres => {
            app.db
                .execute(
                    "create function lose_every_cas() returns trigger language plpgsql as $$ begin return null; end $$",
                    NO_ARGS,
                )
                .await;
            app.db
                .execute(
                    "create trigger lose_every_cas before update on tool_router_session for each row
                     when (new.config_version <> old.config_version) execute function lose_every_cas()",
                    NO_ARGS,
                )
                .await;
        }
    }
    let path = format!("tool_router/session/{session}");
    let r = app.patch(&path, json!({"experimental": {"link_url_overwrite": "https://connect.example.com"}})).await;
    assert_error_ctx(&r, 409, "ToolRouterV2_ConfigVersionConflict", "PATCH that never wins");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert!(error_text(&r).contains("config_version 0"), "names the current version: {}", r.text);
    let current = app.get(&path).await;
    assert_eq!(current.expect(200, "get")["config_version"], 0, "a conflicting PATCH changed the session");
    app.cleanup().await;
}
