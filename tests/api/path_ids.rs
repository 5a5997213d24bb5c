//! Malformed ids in the path, on every route that takes one: a 400 envelope naming the
//! parameter, never axum's text/plain rejection, whatever the bytes (including non-UTF-8).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error_ctx, error_text, send, spawn_app};

/// Every id-taking /api route: (method, path with `{}` for the id, parameter name, id prefix).
const ROUTES: &[(Method, &str, &str, &str)] = &[
    (Method::GET, "tool_router/session/{}", "session_id", "trs_"),
    (Method::PATCH, "tool_router/session/{}", "session_id", "trs_"),
    (Method::DELETE, "tool_router/session/{}", "session_id", "trs_"),
    (Method::POST, "tool_router/session/{}/link", "session_id", "trs_"),
    (Method::GET, "tool_router/session/{}/toolkits", "session_id", "trs_"),
    (Method::GET, "auth_configs/{}", "id", "ac_"),
    (Method::GET, "connected_accounts/{}", "id", "ca_"),
    (Method::PATCH, "connected_accounts/{}", "id", "ca_"),
    (Method::DELETE, "connected_accounts/{}", "id", "ca_"),
    (Method::GET, "connected_accounts/{}/audit", "id", "ca_"),
    (Method::POST, "connected_accounts/{}/refresh", "id", "ca_"),
];

/// Raw (already percent-encoded) path segments that are not a valid id of any kind; `{p}` is the
/// route's own prefix.
const BAD: &[&str] = &[
    "%FF",
    "{p}%FF",
    "{p}Zz9Yy8Xx7W%FE",
    "{p}%C3%28abcdefghij",
    "{p}short",
    "{p}Zz9Yy8Xx7Ww6x",
    "{p}Zz9Yy8Xx%20w6",
    "{p}Zz9Yy8Xx7W%C3%A9",
    "{p}Zz9Yy8Xx7W%00",
    "xx_Zz9Yy8Xx7Ww6",
];

#[tokio::test]
async fn malformed_path_ids_are_400_envelopes_naming_the_parameter() {
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for api in [app.api(), app.v3()] {
        for (method, path, param, prefix) in ROUTES {
            for bad in BAD {
                let segment = bad.replace("{p}", prefix);
                let url = path.replace("{}", &segment);
                let case = format!("{method} {url}");
                let r = send(api.request(method.clone(), &url).json(&json!({}))).await;
                let content_type = r.header("content-type").unwrap_or("");
                if r.status != 400 || !content_type.starts_with("application/json") {
                    failures.push(format!("[{case}] {} {content_type}: {}", r.status, r.text));
                    continue;
                }
                assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
                // Refused before its body was read: the client is told the connection ends.
                if r.header("connection") != Some("close") {
                    failures.push(format!("[{case}] no `Connection: close` on an early refusal with a body"));
                }
                let errors = r.body["error"]["errors"].as_array().cloned().unwrap_or_default();
                let named = errors.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with(&format!("{param}: "))));
                if !named || !error_text(&r).contains(prefix) {
                    failures.push(format!("[{case}] does not name {param} and its {prefix} format: {}", r.text));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
    app.cleanup().await;
}

#[tokio::test]
async fn a_malformed_id_in_the_path_is_checked_after_the_api_key() {
    let app = spawn_app().await;
    let r = app.anonymous().get("connected_accounts/ca_%FF").await;
    assert_error_ctx(&r, 401, "Auth_NoAuthProvided", "no key, bad id");
    app.cleanup().await;
}

#[tokio::test]
async fn only_refusals_of_requests_with_a_body_close_the_connection() {
    let app = spawn_app().await;
    let r = send(app.api().request(Method::GET, "connected_accounts/ca_%FF")).await;
    assert_eq!((r.status, r.header("connection")), (400, None), "no body: the connection stays open");
    let r = send(app.api().request(Method::GET, "connected_accounts")).await;
    assert_eq!((r.status, r.header("connection")), (200, None), "a success keeps the connection");
    app.cleanup().await;
}
