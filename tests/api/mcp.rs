//! The MCP endpoints over real HTTP, as a Streamable HTTP client speaks to them (JSON-RPC POSTs):
//! `/mcp` (management) and a session's `mcp.url` (connection meta tools). Issue 13.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    fake_oauth::FakeOAuth,
    helpers::{Resp, TestApp, assert_error, assert_error_ctx, is_id, send, spawn_app},
    links::{ACL_FRAGMENT, invalid_link_cases},
    oauth_flow::{Flow, Link, TOOLKIT, query},
};

const SEED: &str = include_str!("../../assets/mcp/tool_router.session.link.create.input-schema.json");
const LATEST: &str = "2025-11-25";
const MANAGEMENT_TOOLS: [&str; 9] = [
    "tool_router.session.link.create",
    "tool_router.session.create",
    "tool_router.session.get",
    "tool_router.session.delete",
    "connected_accounts.get",
    "connected_accounts.list",
    "connected_accounts.delete",
    "auth_configs.list",
    "toolkits.list",
];

/// A minimal Streamable HTTP client: one JSON-RPC POST per call, as the official SDKs send it.
struct Mcp<'a> {
    app: &'a TestApp,
    path: String,
    headers: Vec<(String, String)>,
    next: AtomicU64,
}

impl<'a> Mcp<'a> {
    fn new(app: &'a TestApp, path: &str) -> Self {
        Self::with(app, path, &[("x-api-key", app.api_key.as_str())])
    }

    fn with(app: &'a TestApp, path: &str, headers: &[(&str, &str)]) -> Self {
        let headers = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self { app, path: path.to_owned(), headers, next: AtomicU64::new(1) }
    }

    fn management(app: &'a TestApp) -> Self {
        Self::new(app, "/mcp")
    }

    fn session(app: &'a TestApp, session: &str) -> Self {
        Self::new(app, &format!("/tool_router/{session}/mcp"))
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let mut rb = self
            .app
            .client
            .request(Method::POST, format!("{}{}", self.app.base, self.path))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", LATEST);
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        rb
    }

    async fn raw(&self, body: impl Into<reqwest::Body>) -> Resp {
        send(self.request().body(body)).await
    }

    async fn rpc(&self, method: &str, params: Value) -> Resp {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.raw(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()).await
    }

    /// A JSON-RPC call that must succeed at the protocol level; returns `result`.
    async fn result(&self, method: &str, params: Value) -> Value {
        let r = self.rpc(method, params).await;
        assert_eq!(r.status, 200, "{method}: {}", r.text);
        assert_eq!(r.body["jsonrpc"], "2.0", "{method}: {}", r.text);
        assert!(r.body["error"].is_null(), "{method}: {}", r.text);
        r.body["result"].clone()
    }

    async fn tools(&self) -> Vec<Value> {
        self.result("tools/list", json!({})).await["tools"].as_array().expect("tools").clone()
    }

    /// `tools/call`; returns the whole result (content, structuredContent, isError).
    async fn call(&self, name: &str, args: Value) -> Value {
        let result = self.result("tools/call", json!({"name": name, "arguments": args})).await;
        // Every answer carries its JSON as text too, equal to the structured content.
        let text = result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{name}: no text: {result}"));
        assert_eq!(result["content"][0]["type"], "text");
        let parsed: Value = serde_json::from_str(text).expect("the text is JSON");
        assert_eq!(parsed, result["structuredContent"], "{name}: text and structuredContent differ");
        result
    }

    /// A tool call that must succeed; returns its `structuredContent`.
    async fn ok(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args).await;
        assert_eq!(result["isError"], false, "{name}: {result}");
        result["structuredContent"].clone()
    }

    /// A tool call that must fail as a tool error; returns the envelope's `error`, which is the
    /// text content (no `structuredContent`: that would have to match the output schema).
    async fn tool_error(&self, name: &str, args: Value, status: u16, slug: &str, case: &str) -> Value {
        let r = self.rpc("tools/call", json!({"name": name, "arguments": args})).await;
        assert_eq!(r.status, 200, "[{case}] {name}: {}", r.text);
        let result = &r.body["result"];
        assert_eq!(result["isError"], true, "[{case}] {name}: {result}");
        assert!(result.get("structuredContent").is_none(), "[{case}] {result}");
        assert_eq!(result["content"][0]["type"], "text");
        let envelope: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).expect("envelope JSON");
        let e = envelope["error"].clone();
        assert_eq!(e["slug"], slug, "[{case}] {e}");
        assert_eq!(e["status"], status, "[{case}] {e}");
        assert!(e["code"].is_number() && e["message"].as_str().is_some_and(|m| !m.is_empty()), "[{case}] {e}");
        assert!(e["request_id"].as_str().is_some_and(|id| !id.is_empty()), "[{case}] {e}");
        assert!(e["suggested_fix"].is_string() && e["errors"].is_array(), "[{case}] {e}");
        e
    }
}

fn text_of(e: &Value) -> String {
    let mut out = e["message"].as_str().unwrap_or_default().to_owned();
    for item in e["errors"].as_array().into_iter().flatten() {
        out.push('\n');
        out.push_str(item.as_str().unwrap_or_default());
    }
    out
}

/// Request headers of one case.
type Headers<'a> = Vec<(&'a str, &'a str)>;

async fn setup(app: &TestApp) -> String {
    app.create_auth_config("github").await;
    app.create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]}})).await
}

#[tokio::test]
async fn initialize_negotiates_every_supported_revision_on_both_endpoints() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    for endpoint in [Mcp::management(&app), Mcp::session(&app, &session)] {
        for (asked, answered) in [
            ("2024-11-05", "2024-11-05"),
            ("2025-03-26", "2025-03-26"),
            ("2025-06-18", "2025-06-18"),
            ("2025-11-25", "2025-11-25"),
            ("1999-01-01", LATEST),
            ("2026-07-28", LATEST),
        ] {
            let params =
                json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
            // As the SDKs do, the initialize request carries no MCP-Protocol-Version header yet.
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
            let r = send(
                app.client
                    .post(format!("{}{}", app.base, endpoint.path))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("x-api-key", &app.api_key)
                    .body(body.to_string()),
            )
            .await;
            assert_eq!(r.status, 200, "{asked}: {}", r.text);
            assert!(r.header("mcp-session-id").is_none(), "stateless: no session id");
            assert!(r.header("content-type").unwrap_or("").starts_with("application/json"));
            let result = &r.body["result"];
            assert_eq!(result["protocolVersion"], answered, "{asked}: {result}");
            assert_eq!(result["serverInfo"]["name"], "authlink");
            assert!(result["capabilities"]["tools"].is_object(), "{result}");
            assert!(result["instructions"].as_str().is_some_and(|i| !i.is_empty()));
        }
        // `initialized` is a notification: accepted, nothing to answer.
        let r = endpoint.raw(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await;
        assert_eq!(r.status, 202, "{}", r.text);
        // Stateless: any request works without a session id, as if on another process.
        assert!(!endpoint.tools().await.is_empty());
    }
    app.cleanup().await;
}

#[tokio::test]
async fn management_tools_and_the_published_link_schema() {
    let app = spawn_app().await;
    let tools = Mcp::management(&app).tools().await;
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, MANAGEMENT_TOOLS);
    let link = &tools[0];
    let seed: Value = serde_json::from_str(SEED).unwrap();
    assert_eq!(link["inputSchema"], seed, "the link tool's input schema is the seed's");
    // Key order too: the advertised schema re-serialized is the published file.
    let raw = Mcp::management(&app).rpc("tools/list", json!({})).await.text;
    let compact_seed = serde_json::to_string(&seed).unwrap();
    assert!(raw.contains(&compact_seed), "the wire form is not the seed's, key for key");
    if let Ok(published) = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/seed/tool_router.session.link.create.input-schema.json"
    )) {
        assert_eq!(published, SEED);
    }
    for t in &tools {
        let name = t["name"].as_str().unwrap();
        assert!(t["description"].as_str().is_some_and(|d| d.len() > 20), "{name}");
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
        assert_eq!(t["outputSchema"]["type"], "object", "{name}");
        assert!(t["outputSchema"]["properties"].is_object(), "{name}");
    }
    let props =
        |i: usize| tools[i]["outputSchema"]["properties"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    for field in ["connected_account_id", "link_token", "redirect_url"] {
        assert!(props(0).contains(&field.to_owned()), "link output lacks {field}");
    }
    assert!(props(1).contains(&"session_id".to_owned()) && props(1).contains(&"mcp".to_owned()));
    assert_eq!(tools[2]["inputSchema"]["required"], json!(["session_id"]));
    assert_eq!(tools[4]["inputSchema"]["required"], json!(["connected_account_id"]));
    assert!(tools[5]["inputSchema"]["properties"]["statuses"].is_object(), "{}", tools[5]["inputSchema"]);
    app.cleanup().await;
}

#[tokio::test]
async fn link_tool_creates_the_same_link_as_rest() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    let mcp = Mcp::management(&app);
    let args = json!({"session_id": session, "toolkit": "GitHub", "callback_url": "https://app.example.com/cb",
                      "alias": "work"});
    let out = mcp.ok("tool_router.session.link.create", args).await;
    assert!(is_id(&out["connected_account_id"], "ca_"), "{out}");
    let token = out["link_token"].as_str().unwrap();
    assert!(token.starts_with("ln_") && token.len() >= 25, "{token}");
    assert_eq!(out["redirect_url"], format!("{}/link/{token}", app.public));
    assert_eq!(out["experimental"]["account_type"], "PRIVATE");
    assert!(out.get("expires_at").is_none(), "as the REST session link: {out}");
    let account = app.get(&format!("connected_accounts/{}", out["connected_account_id"].as_str().unwrap())).await;
    let account = account.expect(200, "the account exists");
    assert_eq!(account["status"], "INITIATED");
    assert_eq!(account["user_id"], "user_1");
    assert_eq!(account["toolkit"]["slug"], "github");
    assert_eq!(account["alias"], "work");
    // Bearer authentication works the same.
    let bearer = format!("Bearer {}", app.api_key);
    let mcp = Mcp::with(&app, "/mcp", &[("authorization", bearer.as_str())]);
    let shared = mcp
        .ok(
            "tool_router.session.link.create",
            json!({"session_id": session, "toolkit": "github",
                   "experimental": {"account_type": "SHARED", "acl_config_for_shared": {"allowed_user_ids": ["u2"]}}}),
        )
        .await;
    assert_eq!(shared["experimental"]["account_type"], "SHARED");
    assert_eq!(shared["experimental"]["acl_config_for_shared"]["allowed_user_ids"], json!(["u2"]));
    app.cleanup().await;
}

#[tokio::test]
async fn link_tool_refuses_every_invalid_case_of_the_rest_table_and_writes_nothing() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    let mcp = Mcp::management(&app);
    let other_key = app.new_project_key("other").await;
    let other_session = {
        let api = app.as_key(&other_key);
        let r = api.post("tool_router/session", json!({"user_id": "x"})).await;
        r.expect(201, "other project's session")["session_id"].as_str().unwrap().to_owned()
    };
    let deleted = app.create_session(json!({"user_id": "user_1"})).await;
    app.delete(&format!("tool_router/session/{deleted}")).await.expect(200, "delete");
    let before = app.row_counts().await;

    let mut checked = 0;
    for (case, body, slug, needle) in invalid_link_cases() {
        // MCP arguments are always an object; a non-object is a protocol error (tested below).
        let Value::Object(mut args) = body else { continue };
        args.insert("session_id".into(), Value::String(session.clone()));
        let e = mcp.tool_error("tool_router.session.link.create", Value::Object(args), 400, slug, case).await;
        assert!(text_of(&e).contains(&needle), "[{case}] error should mention {needle:?}: {e}");
        if needle == ACL_FRAGMENT {
            assert!(e["message"].as_str().unwrap().contains(ACL_FRAGMENT), "[{case}] fragment in message");
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} cases");
    let id_cases = [
        ("session_id missing", json!({"toolkit": "github"}), 400, "ToolRouterV2_BadRequest", "session_id: is required"),
        (
            "session_id number",
            json!({"toolkit": "github", "session_id": 7}),
            400,
            "ToolRouterV2_BadRequest",
            "session_id",
        ),
        (
            "session_id malformed",
            json!({"toolkit": "github", "session_id": "abc"}),
            400,
            "ToolRouterV2_BadRequest",
            "trs_",
        ),
        (
            "another project's session",
            json!({"toolkit": "github", "session_id": other_session}),
            404,
            "ToolRouterV2_SessionNotFound",
            "not found",
        ),
        (
            "deleted session",
            json!({"toolkit": "github", "session_id": deleted}),
            404,
            "ToolRouterV2_SessionNotFound",
            "not found",
        ),
    ];
    for (case, args, status, slug, needle) in id_cases {
        let e = mcp.tool_error("tool_router.session.link.create", args, status, slug, case).await;
        assert!(text_of(&e).contains(needle), "[{case}] {e}");
    }
    // Arguments that are not an object at all: JSON-RPC invalid params, nothing written.
    let r = mcp.rpc("tools/call", json!({"name": "tool_router.session.link.create", "arguments": [1]})).await;
    assert!(r.body["error"]["code"].is_number(), "{}", r.text);
    assert_eq!(app.row_counts().await, before, "a refused MCP link wrote rows");
    app.cleanup().await;
}

#[tokio::test]
async fn management_tools_answer_what_the_rest_routes_answer() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    let mcp = Mcp::management(&app);
    let created =
        mcp.ok("tool_router.session.create", json!({"user_id": "u9", "toolkits": {"enable": ["github"]}})).await;
    let id = created["session_id"].as_str().unwrap().to_owned();
    assert!(is_id(&created["session_id"], "trs_"));
    assert_eq!(created["mcp"]["url"], format!("{}/tool_router/{id}/mcp", app.public));
    assert_eq!(created["config"]["toolkits"]["enabled"], json!(["github"]));
    let rest = app.get(&format!("tool_router/session/{id}")).await.expect(200, "get").clone();
    assert_eq!(mcp.ok("tool_router.session.get", json!({"session_id": id})).await, rest);
    let e = mcp.tool_error("tool_router.session.create", json!({}), 400, "ToolRouterV2_BadRequest", "no user_id").await;
    assert!(text_of(&e).contains("user_id"), "{e}");
    let e = mcp
        .tool_error(
            "tool_router.session.create",
            json!({"user_id": "u", "toolkits": {"enable": ["nope_x"]}}),
            400,
            "ToolRouterV2_InvalidToolkitSlugs",
            "bad slug",
        )
        .await;
    assert!(text_of(&e).contains("nope_x"));

    let account = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let rest = app.get(&format!("connected_accounts/{account}")).await.expect(200, "get").clone();
    assert_eq!(mcp.ok("connected_accounts.get", json!({"connected_account_id": account})).await, rest);
    let rest = app.list_accounts("statuses=INITIATED&user_ids=user_1").await;
    let listed = mcp.ok("connected_accounts.list", json!({"statuses": ["INITIATED"], "user_ids": "user_1"})).await;
    assert_eq!(listed, rest);
    assert_eq!(listed["items"][0]["id"], account);
    let e = mcp
        .tool_error("connected_accounts.list", json!({"limit": "many"}), 400, "ToolRouterV2_BadRequest", "limit")
        .await;
    assert!(text_of(&e).contains("limit"), "{e}");
    mcp.tool_error("connected_accounts.list", json!({"statuses": {"a": 1}}), 400, "ToolRouterV2_BadRequest", "object")
        .await;
    let rest = app.get("auth_configs?toolkit_slug=github").await.expect(200, "auth configs").clone();
    assert_eq!(mcp.ok("auth_configs.list", json!({"toolkit_slug": "github"})).await, rest);
    let rest = app.get("toolkits?search=git").await.expect(200, "toolkits").clone();
    let toolkits = mcp.ok("toolkits.list", json!({"search": "git"})).await;
    assert_eq!(toolkits, rest);
    assert!(toolkits["items"].as_array().unwrap().iter().any(|t| t["slug"] == "github"), "{toolkits}");

    assert_eq!(
        mcp.ok("connected_accounts.delete", json!({"connected_account_id": account})).await,
        json!({"success": true})
    );
    mcp.tool_error(
        "connected_accounts.get",
        json!({"connected_account_id": account}),
        404,
        "ConnectedAccount_NotFound",
        "deleted",
    )
    .await;
    mcp.tool_error(
        "connected_accounts.get",
        json!({"connected_account_id": "nope"}),
        400,
        "ToolRouterV2_BadRequest",
        "bad id",
    )
    .await;
    let deleted = mcp.ok("tool_router.session.delete", json!({"session_id": id})).await;
    assert_eq!(deleted["session_id"], id);
    mcp.tool_error(
        "tool_router.session.get",
        json!({"session_id": id}),
        404,
        "ToolRouterV2_SessionNotFound",
        "deleted",
    )
    .await;
    app.cleanup().await;
}

#[tokio::test]
async fn keys_origins_and_sessions_are_checked_before_json_rpc() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    let other_key = app.new_project_key("other").await;
    let deleted = app.create_session(json!({"user_id": "user_1"})).await;
    app.delete(&format!("tool_router/session/{deleted}")).await.expect(200, "delete");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    for path in ["/mcp".to_owned(), format!("/tool_router/{session}/mcp")] {
        let cases: Vec<(&str, Headers, u16, &str)> = vec![
            ("no key", vec![], 401, "Auth_NoAuthProvided"),
            ("wrong key", vec![("x-api-key", "ak_wrong")], 401, "APIKey_InvalidAPIKey"),
            ("wrong bearer", vec![("authorization", "Bearer ak_wrong")], 401, "APIKey_InvalidAPIKey"),
            ("basic auth", vec![("authorization", "Basic YTpi")], 401, "Auth_NoAuthProvided"),
            ("two keys", vec![("x-api-key", &app.api_key), ("x-org-api-key", "x")], 401, "HTTP_Unauthorized"),
            (
                "foreign origin",
                vec![("x-api-key", &app.api_key), ("origin", "https://evil.example")],
                403,
                "MCP_OriginNotAllowed",
            ),
            ("null origin", vec![("x-api-key", &app.api_key), ("origin", "null")], 403, "MCP_OriginNotAllowed"),
            (
                "origin on another port",
                vec![("x-api-key", &app.api_key), ("origin", "http://127.0.0.1:1")],
                403,
                "MCP_OriginNotAllowed",
            ),
            ("foreign origin before the key", vec![("origin", "https://evil.example")], 403, "MCP_OriginNotAllowed"),
        ];
        for (case, headers, status, slug) in cases {
            let r = Mcp::with(&app, &path, &headers).raw(list.clone()).await;
            assert_error_ctx(&r, status, slug, &format!("{path} {case}"));
        }
        let public_origin = app.public.clone();
        for origin in [public_origin.as_str(), "http://127.0.0.1:6274"] {
            let r = Mcp::with(&app, &path, &[("x-api-key", &app.api_key), ("origin", origin)]).raw(list.clone()).await;
            assert_eq!(r.status, 200, "{path} origin {origin}: {}", r.text);
        }
        let bearer = format!("Bearer {}", app.api_key);
        let r = Mcp::with(&app, &path, &[("authorization", bearer.as_str())]).raw(list.clone()).await;
        assert_eq!(r.status, 200, "{path} bearer: {}", r.text);
    }
    let r =
        Mcp::with(&app, &format!("/tool_router/{session}/mcp"), &[("x-api-key", &other_key)]).raw(list.clone()).await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    let r = Mcp::session(&app, &deleted).raw(list.clone()).await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    let r = Mcp::session(&app, "trs_bad").raw(list.clone()).await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    // GET (a server-sent stream) and DELETE (a session) do not exist on a stateless server.
    for method in [Method::GET, Method::DELETE] {
        let r = send(app.client.request(method, format!("{}/mcp", app.base)).header("x-api-key", &app.api_key)).await;
        assert_error(&r, 405, "HTTP_MethodNotAllowed");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn malformed_json_rpc_and_unknown_tools_are_clear_errors() {
    let app = spawn_app().await;
    let session = setup(&app).await;
    let before = app.row_counts().await;
    for mcp in [Mcp::management(&app), Mcp::session(&app, &session)] {
        let r = mcp.raw("{\"jsonrpc\": \"2.0\",").await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["error"]["code"], -32700, "{}", r.text);
        assert_eq!(r.body["error"]["data"]["error"]["slug"], "ToolRouterV2_BadRequest");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("not valid JSON"));
        for not_a_request in [json!({"hello": 1}), json!([]), json!("x"), json!({"jsonrpc": "2.0", "id": 1})] {
            let r = mcp.raw(not_a_request.to_string()).await;
            assert_eq!(r.status, 400, "{not_a_request}: {}", r.text);
            assert_eq!(r.body["error"]["code"], -32600, "{not_a_request}: {}", r.text);
            assert!(r.body["error"]["data"]["error"]["message"].is_string(), "{}", r.text);
        }
        // An id written as a whole float is that integer.
        let r = mcp.raw(r#"{"jsonrpc": "2.0", "id": 3.0, "method": "tools/list"}"#.to_owned()).await;
        assert_eq!((r.status, r.body["id"].clone()), (200, json!(3)), "{}", r.text);
        let r = mcp.rpc("no/such/method", json!({})).await;
        assert!(r.body["error"]["code"].as_i64().is_some_and(|c| c < 0), "{}", r.text);
        for name in ["COMPOSIO_SEARCH_TOOLS", "COMPOSIO_MULTI_EXECUTE_TOOL", "nope", "tool_router.session.link.create2"]
        {
            let r = mcp.rpc("tools/call", json!({"name": name, "arguments": {}})).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.body["error"]["code"], -32602, "{name}: {}", r.text);
            assert_eq!(r.body["error"]["data"]["error"]["slug"], "ToolRouterV2_ToolNotFound", "{}", r.text);
            assert!(r.body["error"]["message"].as_str().unwrap().contains(name));
        }
        // Without the JSON content type or the Accept the transport requires.
        let r = send(app.client.post(format!("{}{}", app.base, mcp.path)).header("x-api-key", &app.api_key).body("{}"))
            .await;
        assert!((400..500).contains(&r.status) && r.body["error"]["code"] == -32600, "{}", r.text);
    }
    // The management tools are not on a session's endpoint, nor the meta tools on /mcp.
    let r = Mcp::session(&app, &session)
        .rpc("tools/call", json!({"name": "tool_router.session.link.create", "arguments": {}}))
        .await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.text);
    let r =
        Mcp::management(&app).rpc("tools/call", json!({"name": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": {}})).await;
    assert_eq!(r.body["error"]["code"], -32602, "{}", r.text);
    assert_eq!(app.row_counts().await, before);
    app.cleanup().await;
}

#[tokio::test]
async fn a_session_serves_exactly_the_meta_tools_it_lists() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), vec!["COMPOSIO_MANAGE_CONNECTIONS"]),
        (
            json!({"enable": true, "enable_wait_for_connections": true}),
            vec!["COMPOSIO_MANAGE_CONNECTIONS", "COMPOSIO_WAIT_FOR_CONNECTIONS"],
        ),
        (json!({"enable": false}), vec![]),
        (json!({"enable": false, "enable_wait_for_connections": true}), vec!["COMPOSIO_WAIT_FOR_CONNECTIONS"]),
    ];
    for (manage, expected) in cases {
        let r = app.post("tool_router/session", json!({"user_id": "u", "manage_connections": manage})).await;
        let body = r.expect(201, "create").clone();
        assert_eq!(body["tool_router_tools"], json!(expected), "{manage}");
        let id = body["session_id"].as_str().unwrap();
        let tools = Mcp::session(&app, id).tools().await;
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, expected, "{manage}");
        for t in &tools {
            assert_eq!(t["inputSchema"]["required"], json!(["toolkits"]));
            assert_eq!(t["inputSchema"]["properties"]["toolkits"]["type"], "array");
            assert_eq!(t["outputSchema"]["required"], json!(["data", "successful"]));
            assert!(t["description"].as_str().is_some_and(|d| d.len() > 20));
        }
        if let Some(manage) = tools.iter().find(|t| t["name"] == "COMPOSIO_MANAGE_CONNECTIONS") {
            assert_eq!(manage["inputSchema"]["properties"]["reinitiate_all"]["type"], "boolean");
            assert_eq!(manage["inputSchema"]["properties"]["session_id"]["type"], "string");
        }
        // A patch turning the tool off takes effect on the next request.
        if expected.contains(&"COMPOSIO_MANAGE_CONNECTIONS") {
            app.patch(&format!("tool_router/session/{id}"), json!({"manage_connections": {"enable": false}}))
                .await
                .expect(200, "patch");
            let r = Mcp::session(&app, id)
                .rpc(
                    "tools/call",
                    json!({"name": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": {"toolkits": ["github"]}}),
                )
                .await;
            assert_eq!(r.body["error"]["code"], -32602, "{}", r.text);
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn manage_connections_validates_its_arguments_and_reports_each_toolkit() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app
        .create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github", "slack"]},
                               "manage_connections": {"callback_url": "https://app.example.com/cb/s"}}))
        .await;
    let mcp = Mcp::session(&app, &session);
    let before = app.row_counts().await;
    let name = "COMPOSIO_MANAGE_CONNECTIONS";
    for (case, args, needle) in [
        ("no toolkits", json!({}), "toolkits: is required"),
        ("empty toolkits", json!({"toolkits": []}), "toolkits: must name at least one toolkit"),
        ("toolkits a string", json!({"toolkits": "github"}), "toolkits"),
        ("bad slug", json!({"toolkits": ["git hub"]}), "toolkits[0]"),
        ("51 toolkits", json!({"toolkits": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}), "at most 50"),
        ("reinitiate_all a string", json!({"toolkits": ["github"], "reinitiate_all": "yes"}), "reinitiate_all"),
    ] {
        let e = mcp.tool_error(name, args, 400, "ToolRouterV2_BadRequest", case).await;
        assert!(text_of(&e).contains(needle), "[{case}] {e}");
    }
    assert_eq!(app.row_counts().await, before, "refused calls wrote rows");

    let out = mcp.ok(name, json!({"toolkits": ["github", "slack", "gmail"], "session_id": "ignored"})).await;
    assert_eq!(out["successful"], false, "{out}");
    assert!(out["error"].is_null());
    let data = &out["data"];
    assert_eq!(
        data["summary"],
        json!({"total_toolkits": 3, "active_connections": 0, "initiated_connections": 1, "failed_connections": 2})
    );
    let github = &data["results"]["github"];
    assert_eq!(github["status"], "INITIATED");
    assert!(is_id(&github["connected_account_id"], "ca_"));
    let redirect = github["redirect_url"].as_str().unwrap();
    assert!(redirect.starts_with(&format!("{}/link/ln_", app.public)), "{redirect}");
    assert_eq!(data["results"]["slack"]["status"], "FAILED");
    assert_eq!(data["results"]["slack"]["error"]["slug"], "ToolRouterV2_NoManagedAuth");
    assert_eq!(data["results"]["gmail"]["error"]["slug"], "ToolRouterV2_ToolkitNotEnabled");
    assert_eq!(data["session"]["id"], session);
    assert!(data["message"].as_str().unwrap().contains("redirect_url"));
    // The link is the link service's: INITIATED account of the session's user, the session's callback.
    let account = app.get(&format!("connected_accounts/{}", github["connected_account_id"].as_str().unwrap())).await;
    let account = account.expect(200, "account");
    assert_eq!(account["status"], "INITIATED");
    assert_eq!(account["user_id"], "user_1");
    let (accounts, links, _) = app.row_counts().await;
    assert_eq!((accounts, links), (before.0 + 1, before.1 + 1), "one account and one link for github only");
    app.cleanup().await;
}

/// The whole journey on a session's `mcp.url`: ask for a connection, the user completes the
/// link (a real OAuth flow against the fake provider), the wait returns ACTIVE, and asking again
/// reports the connection without a new link.
#[tokio::test]
async fn manage_then_wait_sees_the_connection_become_active() {
    let idp = FakeOAuth::start().await;
    let app = TestApp::builder().endpoint_allowlist(&idp.base).spawn().await;
    let credentials = json!({"authorization_url": idp.authorization_url(), "token_url": idp.token_url()});
    app.create_auth_config_with(&app.api(), TOOLKIT, credentials).await;
    let session = app
        .create_session(json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]},
                               "manage_connections": {"enable_wait_for_connections": true,
                                                      "callback_url": "https://app.example.com/cb/mcp"}}))
        .await;
    let flow = Flow { app, idp, session: session.clone() };
    let mcp = Mcp::session(&flow.app, &session);

    let waited = mcp.ok("COMPOSIO_WAIT_FOR_CONNECTIONS", json!({"toolkits": [TOOLKIT], "timeout_seconds": 1})).await;
    assert_eq!(waited["data"]["completed"], false, "{waited}");
    assert_eq!(waited["data"]["timed_out"], true);
    assert_eq!(waited["data"]["results"][TOOLKIT]["status"], "NOT_CONNECTED");
    assert_eq!(waited["successful"], false);
    for (case, args) in [
        ("timeout 0", json!({"toolkits": [TOOLKIT], "timeout_seconds": 0})),
        ("timeout 26", json!({"toolkits": [TOOLKIT], "timeout_seconds": 26})),
        ("mode other", json!({"toolkits": [TOOLKIT], "mode": "some"})),
        ("no toolkits", json!({"mode": "all"})),
    ] {
        mcp.tool_error("COMPOSIO_WAIT_FOR_CONNECTIONS", args, 400, "ToolRouterV2_BadRequest", case).await;
    }

    let out = mcp.ok("COMPOSIO_MANAGE_CONNECTIONS", json!({"toolkits": [TOOLKIT]})).await;
    let result = &out["data"]["results"][TOOLKIT];
    assert_eq!(result["status"], "INITIATED", "{out}");
    assert_eq!(out["successful"], true);
    let link = Link {
        account: result["connected_account_id"].as_str().unwrap().to_owned(),
        redirect_url: flow.app.local(result["redirect_url"].as_str().unwrap()),
    };
    // The wait runs while the user connects.
    let waiter = {
        let base = flow.app.base.clone();
        let key = flow.app.api_key.clone();
        let client = flow.app.client.clone();
        let path = mcp.path.clone();
        tokio::spawn(async move {
            let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                              "params": {"name": "COMPOSIO_WAIT_FOR_CONNECTIONS", "arguments": {"toolkits": [TOOLKIT], "timeout_seconds": 20}}});
            send(
                client
                    .post(format!("{base}{path}"))
                    .header("x-api-key", key)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .header("mcp-protocol-version", LATEST)
                    .body(body.to_string()),
            )
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let page = flow.connect(&link).await;
    let back = page.location();
    assert_eq!(back.path(), "/cb/mcp", "the session's callback_url: {back}");
    assert_eq!(query(&back)["status"], "success");
    let r = waiter.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let waited = &r.body["result"]["structuredContent"];
    assert_eq!(waited["data"]["completed"], true, "{waited}");
    assert_eq!(waited["data"]["results"][TOOLKIT]["status"], "ACTIVE");
    assert_eq!(waited["data"]["results"][TOOLKIT]["connected_account_id"], link.account);
    assert_eq!(waited["successful"], true);

    let before = flow.app.row_counts().await;
    let again = mcp.ok("COMPOSIO_MANAGE_CONNECTIONS", json!({"toolkits": [TOOLKIT]})).await;
    let result = &again["data"]["results"][TOOLKIT];
    assert_eq!(result["status"], "ACTIVE", "{again}");
    assert_eq!(result["connected_account_id"], link.account);
    assert!(result.get("redirect_url").is_none());
    assert_eq!(flow.app.row_counts().await, before, "no new link for a connected toolkit");
    let fresh = mcp.ok("COMPOSIO_MANAGE_CONNECTIONS", json!({"toolkits": [TOOLKIT], "reinitiate_all": true})).await;
    assert_eq!(fresh["data"]["results"][TOOLKIT]["status"], "INITIATED", "{fresh}");
    assert_ne!(fresh["data"]["results"][TOOLKIT]["connected_account_id"], link.account);
    flow.cleanup().await;
}

/// The same meta tools over REST, as `session.tools()` in the SDKs lists and executes them.
#[tokio::test]
async fn rest_tools_list_and_execute_the_sessions_meta_tools() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app
        .create_session(json!({"user_id": "user_1", "toolkits": {"enable": ["github"]},
                               "manage_connections": {"enable_wait_for_connections": true}}))
        .await;
    let listed = app.get(&format!("tool_router/session/{session}/tools?limit=50")).await.expect(200, "tools").clone();
    assert_eq!(listed["total_items"], 2);
    assert!(listed["next_cursor"].is_null());
    let mcp_tools = Mcp::session(&app, &session).tools().await;
    for (item, tool) in listed["items"].as_array().unwrap().iter().zip(&mcp_tools) {
        assert_eq!(item["slug"], tool["name"]);
        assert_eq!(item["input_parameters"], tool["inputSchema"]);
        assert_eq!(item["output_parameters"], tool["outputSchema"]);
        assert_eq!(item["description"], tool["description"]);
        assert_eq!(item["toolkit"]["slug"], "composio");
        for field in
            ["name", "version", "available_versions", "deprecated", "tags", "scopes", "no_auth", "is_deprecated"]
        {
            assert!(!item[field].is_null(), "{field} missing: {item}");
        }
    }
    // v3 too.
    app.v3().get(&format!("tool_router/session/{session}/tools")).await.expect(200, "v3 tools");

    for route in ["execute", "execute_meta"] {
        let path = format!("tool_router/session/{session}/{route}");
        let r = app
            .post(&path, json!({"tool_slug": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": {"toolkits": ["github"]}}))
            .await;
        let body = r.expect(200, route);
        assert_eq!(body["result_type"], "completed", "{body}");
        assert!(body["error"].is_null());
        assert!(body["log_id"].as_str().is_some_and(|l| l.starts_with("log_")));
        assert_eq!(body["data"]["results"]["github"]["status"], "INITIATED");
        let r = app
            .post(&path, json!({"tool_slug": "COMPOSIO_WAIT_FOR_CONNECTIONS", "arguments": {"toolkits": ["github"], "timeout_seconds": 1}}))
            .await;
        let body = r.expect(200, route);
        assert_eq!(body["result_type"], "failed", "{body}");
        assert_eq!(body["data"]["timed_out"], true);
        assert!(body["error"].as_str().is_some_and(|e| e.contains("Not connected yet")));
        let before = app.row_counts().await;
        let cases = [
            (
                "unknown tool",
                json!({"tool_slug": "COMPOSIO_SEARCH_TOOLS", "arguments": {}}),
                404,
                "ToolRouterV2_ToolNotFound",
            ),
            ("no tool_slug", json!({"arguments": {}}), 400, "ToolRouterV2_BadRequest"),
            ("empty tool_slug", json!({"tool_slug": ""}), 400, "ToolRouterV2_BadRequest"),
            (
                "arguments not an object",
                json!({"tool_slug": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": [1]}),
                400,
                "ToolRouterV2_BadRequest",
            ),
            (
                "bad arguments",
                json!({"tool_slug": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": {"toolkits": []}}),
                400,
                "ToolRouterV2_BadRequest",
            ),
        ];
        for (case, body, status, slug) in cases {
            assert_error_ctx(&app.post(&path, body).await, status, slug, case);
        }
        assert_eq!(app.row_counts().await, before, "refused executions wrote rows");
    }
    let other = app.new_project_key("other").await;
    let r = app.as_key(&other).get(&format!("tool_router/session/{session}/tools")).await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    let r = app
        .as_key(&other)
        .post(
            &format!("tool_router/session/{session}/execute"),
            json!({"tool_slug": "COMPOSIO_MANAGE_CONNECTIONS", "arguments": {"toolkits": ["github"]}}),
        )
        .await;
    assert_error(&r, 404, "ToolRouterV2_SessionNotFound");
    assert_error(
        &app.anonymous().get(&format!("tool_router/session/{session}/tools")).await,
        401,
        "Auth_NoAuthProvided",
    );
    app.cleanup().await;
}

/// The MCP endpoints count against the API's rate limits, per key whichever way it is sent.
#[tokio::test]
async fn mcp_requests_are_rate_limited_per_key_with_bearer_keys_counted_too() {
    use authlink::http::limits::RateLimitSettings;
    let app =
        TestApp::builder().rate_limits(RateLimitSettings { api_per_key: 3, ..RateLimitSettings::OFF }).spawn().await;
    let bearer = format!("Bearer {}", app.api_key);
    let by_header = Mcp::management(&app);
    let by_bearer = Mcp::with(&app, "/mcp", &[("authorization", bearer.as_str())]);
    for mcp in [&by_header, &by_bearer, &by_header] {
        let r = mcp.rpc("tools/list", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.header("ratelimit").is_some(), "no RateLimit field");
    }
    let r = by_bearer.rpc("tools/list", json!({})).await;
    assert_error(&r, 429, "RateLimit_Exceeded");
    assert!(r.header("retry-after").is_some());
    app.cleanup().await;
}
