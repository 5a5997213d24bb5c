//! API keys, credential headers and request ids.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, assert_error_ctx, message, send, spawn_app, unknown_id};

/// Every /api route, by method and path (v3.1 form; ids well-formed but unknown).
fn api_routes() -> Vec<(Method, String)> {
    let trs = unknown_id("trs_");
    let ca = unknown_id("ca_");
    let ac = unknown_id("ac_");
    vec![
        (Method::POST, "tool_router/session".into()),
        (Method::GET, format!("tool_router/session/{trs}")),
        (Method::PATCH, format!("tool_router/session/{trs}")),
        (Method::DELETE, format!("tool_router/session/{trs}")),
        (Method::POST, format!("tool_router/session/{trs}/link")),
        (Method::GET, format!("tool_router/session/{trs}/toolkits")),
        (Method::POST, "auth_configs".into()),
        (Method::GET, "auth_configs".into()),
        (Method::GET, format!("auth_configs/{ac}")),
        (Method::GET, "connected_accounts".into()),
        (Method::POST, "connected_accounts/link".into()),
        (Method::GET, format!("connected_accounts/{ca}")),
        (Method::PATCH, format!("connected_accounts/{ca}")),
        (Method::DELETE, format!("connected_accounts/{ca}")),
        (Method::GET, format!("connected_accounts/{ca}/audit")),
        (Method::POST, "connected_accounts".into()),
    ]
}

#[tokio::test]
async fn missing_key_is_401_no_auth_provided_on_every_route_and_version() {
    let app = spawn_app().await;
    for prefix in ["/api/v3.1/", "/api/v3/"] {
        for (method, path) in api_routes() {
            let case = format!("{method} {prefix}{path}");
            let r =
                send(app.client.request(method.clone(), format!("{}{prefix}{path}", app.base)).json(&json!({}))).await;
            assert_error_ctx(&r, 401, "Auth_NoAuthProvided", &case);
            assert_eq!(r.body["error"]["code"], 906, "{case}");
        }
    }
    // An empty header is no key either.
    let r = send(app.anonymous().request(Method::GET, "connected_accounts").header("x-api-key", "")).await;
    assert_error(&r, 401, "Auth_NoAuthProvided");
    app.cleanup().await;
}

#[tokio::test]
async fn wrong_key_is_401_invalid_api_key_with_a_masked_key() {
    let app = spawn_app().await;
    let wrong = authlink::crypto::new_api_key();
    for (method, path) in api_routes() {
        let case = format!("{method} {path}");
        let r = send(app.as_key(&wrong).request(method, &path).json(&json!({}))).await;
        assert_error_ctx(&r, 401, "APIKey_InvalidAPIKey", &case);
        assert_eq!(r.body["error"]["code"], 801, "{case}");
        assert!(!r.text.contains(&wrong), "{case}: the response contains the whole key: {}", r.text);
        assert!(!message(&r).contains(&wrong[3..]), "{case}: message leaks the key body");
        assert!(message(&r).contains(&wrong[wrong.len() - 4..]), "{case}: message should name the key's tail");
    }
    app.cleanup().await;
}

/// (case, headers sent, expected slug).
type HeaderCase = (&'static str, Vec<(&'static str, String)>, &'static str);

#[tokio::test]
async fn credential_header_combinations() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let cases: Vec<HeaderCase> = vec![
        (
            "x-api-key + x-user-api-key",
            vec![("x-api-key", key.clone()), ("x-user-api-key", "uak_whatever".into())],
            "HTTP_Unauthorized",
        ),
        (
            "x-api-key + x-org-api-key",
            vec![("x-api-key", key.clone()), ("x-org-api-key", "oak_whatever".into())],
            "HTTP_Unauthorized",
        ),
        ("x-user-api-key alone", vec![("x-user-api-key", "uak_whatever".into())], "HTTP_Unauthorized"),
        ("x-org-api-key alone", vec![("x-org-api-key", "oak_whatever".into())], "HTTP_Unauthorized"),
    ];
    for (case, headers, slug) in cases {
        let mut rb = app.anonymous().request(Method::GET, "connected_accounts");
        for (name, value) in headers {
            rb = rb.header(name, value);
        }
        let r = send(rb).await;
        assert_error_ctx(&r, 401, slug, case);
        assert!(!r.text.contains(&key), "{case}: the key is echoed");
    }
    // The right key alone works.
    let r = app.get("connected_accounts").await;
    r.expect(200, "valid key");
    app.cleanup().await;
}

#[tokio::test]
async fn keys_of_any_project_work_and_a_second_key_of_the_same_project_sees_the_same_data() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let second = app.new_project_key("project-a").await;
    let first_view = app.get(&format!("auth_configs/{ac}")).await.expect(200, "first key").clone();
    let second_view =
        app.as_key(&second).get(&format!("auth_configs/{ac}")).await.expect(200, "second key, same project").clone();
    assert_eq!(second_view, first_view, "two keys of one project read the same auth config");
    let first_list = app.get("auth_configs").await.expect(200, "first key lists").clone();
    let second_list = app.as_key(&second).get("auth_configs").await.expect(200, "second key lists").clone();
    assert_eq!(second_list, first_list);
    // Written with one key, read with the other.
    let r = app.as_key(&second).post("tool_router/session", json!({"user_id": "u"})).await;
    let session = r.expect(201, "session by the second key")["session_id"].as_str().unwrap().to_owned();
    app.get(&format!("tool_router/session/{session}")).await.expect(200, "read by the first key");

    // A key of any other project works too, on that project's (empty) data.
    let other = app.new_project_key("project-b").await;
    let list = app.as_key(&other).get("auth_configs").await.expect(200, "another project's key").clone();
    assert_eq!(list["total_items"], 0, "{list}");
    app.cleanup().await;
}

/// The envelope's `request_id` is the response's `x-request-id`, on every kind of API error
/// (the middleware writes it, whoever built the error): the one the client sent (the SDKs'
/// 32-hex style) or, without one, the id the server generated, different per request.
#[tokio::test]
async fn every_error_envelope_carries_the_request_id_of_its_header() {
    let app = spawn_app().await;
    let session = unknown_id("trs_");
    let cases: Vec<(&str, u16, &str, reqwest::RequestBuilder)> = vec![
        (
            "validation",
            400,
            "ToolRouterV2_BadRequest",
            app.api().request(Method::POST, "tool_router/session").json(&json!({"user_id": ""})),
        ),
        (
            "malformed JSON",
            400,
            "ToolRouterV2_BadRequest",
            app.api().request(Method::POST, "tool_router/session").header("content-type", "application/json").body("{"),
        ),
        ("no key", 401, "Auth_NoAuthProvided", app.anonymous().request(Method::GET, "connected_accounts")),
        ("unknown key", 401, "APIKey_InvalidAPIKey", app.as_key("ak_nope").request(Method::GET, "connected_accounts")),
        ("route fallback", 404, "HTTP_NotFound", app.api().request(Method::GET, "/api/v3.1/nope")),
        (
            "unknown session",
            404,
            "ToolRouterV2_SessionNotFound",
            app.api().request(Method::GET, &format!("tool_router/session/{session}")),
        ),
        ("wrong method", 405, "HTTP_MethodNotAllowed", app.api().request(Method::PUT, "tool_router/session")),
    ];
    let mut generated = Vec::new();
    for (case, status, slug, request) in cases {
        let sent = uuid::Uuid::new_v4().simple().to_string();
        let retry = request.try_clone().expect("a request without a streaming body");
        let r = send(request.header("x-request-id", &sent)).await;
        assert_error_ctx(&r, status, slug, &format!("{case}, id sent"));
        assert_eq!(r.body["error"]["request_id"], sent.as_str(), "[{case}] the id sent, in the envelope");

        let r = send(retry).await;
        assert_error_ctx(&r, status, slug, &format!("{case}, no id sent"));
        let id = r.header("x-request-id").expect("a generated x-request-id").to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "[{case}] generated id {id} is not a UUID");
        generated.push(id);
    }
    let distinct: std::collections::HashSet<_> = generated.iter().collect();
    assert_eq!(distinct.len(), generated.len(), "generated ids repeat: {generated:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = spawn_app().await;
    // Sent: echoed in the header and the error body.
    let r = send(app.anonymous().request(Method::GET, "connected_accounts").header("x-request-id", "abc-123")).await;
    assert_error(&r, 401, "Auth_NoAuthProvided");
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    assert_eq!(r.body["error"]["request_id"], "abc-123");

    // Sent on a success: echoed in the header.
    let r = send(app.api().request(Method::GET, "connected_accounts").header("x-request-id", "abc-123")).await;
    r.expect(200, "list");
    assert_eq!(r.header("x-request-id"), Some("abc-123"));

    // Absent: a generated UUID, different per request.
    let a = app.anonymous().get("connected_accounts").await;
    let b = app.anonymous().get("connected_accounts").await;
    for r in [&a, &b] {
        assert_error(r, 401, "Auth_NoAuthProvided");
        let id = r.header("x-request-id").expect("generated x-request-id");
        uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("generated request id {id} is not a UUID: {e}"));
    }
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));

    // On health routes too.
    let r = send(app.client.get(format!("{}/healthz", app.base))).await;
    assert!(r.header("x-request-id").is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    app.cleanup().await;
}
