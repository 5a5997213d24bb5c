//! Health probes, fallbacks and the OpenAPI document.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_error_ctx, assert_unavailable, send, spawn_app};

#[tokio::test]
async fn health_probes() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let r = app.anonymous().get(path).await;
        r.expect(200, path);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_database_is_503_on_readyz_and_never_leaks_internals() {
    let mut app = spawn_app().await;
    app.get("connected_accounts").await.expect(200, "before");
    app.drop_database_now().await;
    let r = app.anonymous().get("/readyz").await;
    assert_unavailable(&r, "readyz without a database");
    app.anonymous().get("/healthz").await.expect(200, "healthz only says the process is up");
    // A request that needs the database is a 503 the client may retry, naming no internals.
    let r = app.get("connected_accounts").await;
    assert_unavailable(&r, "API without a database");
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app().await;
    for path in ["/nope", "/api/v3.1/nope", "/api/v3/tool_router/sessions", "/api/v4/tool_router/session", "/link"] {
        let r = app.api().get(path).await;
        assert_error_ctx(&r, 404, "HTTP_NotFound", path);
    }
    for (method, path) in [
        (Method::PUT, "/api/v3.1/tool_router/session"),
        (Method::GET, "/api/v3.1/tool_router/session"),
        (Method::PUT, "/api/v3/connected_accounts/ca_Zz9Yy8Xx7Ww6"),
        (Method::DELETE, "/api/v3.1/auth_configs"),
        (Method::POST, "/healthz"),
        (Method::DELETE, "/openapi.json"),
    ] {
        let case = format!("{method} {path}");
        let r = send(app.api().request(method, path)).await;
        assert_error_ctx(&r, 405, "HTTP_MethodNotAllowed", &case);
    }
    app.cleanup().await;
}

/// Every /api route as (path after the version prefix, methods).
const ROUTES: &[(&str, &[&str])] = &[
    ("tool_router/session", &["post"]),
    ("tool_router/session/{session_id}", &["get", "patch", "delete"]),
    ("tool_router/session/{session_id}/link", &["post"]),
    ("tool_router/session/{session_id}/toolkits", &["get"]),
    ("auth_configs", &["get", "post"]),
    ("auth_configs/{id}", &["get"]),
    ("connected_accounts", &["get", "post"]),
    ("connected_accounts/link", &["post"]),
    ("connected_accounts/{id}", &["get", "patch", "delete"]),
    ("connected_accounts/{id}/audit", &["get"]),
];

#[tokio::test]
async fn openapi_document_covers_every_route_in_both_versions() {
    let app = spawn_app().await;
    let r = app.anonymous().get("/openapi.json").await;
    let doc = r.expect(200, "openapi.json").clone();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "openapi {}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    let normalise = |p: &str| {
        // Compare path templates without caring about parameter names.
        let mut out = String::new();
        let mut in_param = false;
        for ch in p.chars() {
            match ch {
                '{' => {
                    in_param = true;
                    out.push_str("{}");
                }
                '}' => in_param = false,
                _ if in_param => {}
                _ => out.push(ch),
            }
        }
        out
    };
    let find = |path: &str| -> Option<&Value> {
        paths.iter().find(|(p, _)| normalise(p) == normalise(path)).map(|(_, item)| item)
    };
    let mut missing = Vec::new();
    for prefix in ["/api/v3.1/", "/api/v3/"] {
        for (route, methods) in ROUTES {
            let path = format!("{prefix}{route}");
            let Some(item) = find(&path) else {
                missing.push(path);
                continue;
            };
            for method in *methods {
                let op = &item[*method];
                if !op.is_object() {
                    missing.push(format!("{method} {path}"));
                    continue;
                }
                let responses = op["responses"].as_object().expect("responses");
                assert!(responses.contains_key("401"), "{method} {path} documents no 401");
                let needs_body = matches!(*method, "post" | "patch");
                if needs_body {
                    assert!(op["requestBody"].is_object(), "{method} {path} documents no request body");
                }
                assert!(responses.keys().any(|k| k.starts_with('4')), "{method} {path} documents no client error");
            }
        }
    }
    for path in ["/healthz", "/readyz"] {
        if find(path).is_none() {
            missing.push(path.to_owned());
        }
    }
    assert!(missing.is_empty(), "missing from the OpenAPI document: {missing:?}");

    // The x-api-key scheme, required by default.
    let schemes = doc["components"]["securitySchemes"].as_object().expect("securitySchemes");
    let (name, scheme) = schemes
        .iter()
        .find(|(_, s)| s["type"] == "apiKey" && s["in"] == "header" && s["name"] == "x-api-key")
        .expect("an apiKey scheme for the x-api-key header");
    let required = doc["security"].as_array().is_some_and(|list| list.iter().any(|s| s.get(name).is_some()));
    assert!(required, "the {name} scheme ({scheme}) is not required at the top level");
    // The error envelope is a documented schema.
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object(), "no ErrorEnvelope schema");
    app.cleanup().await;
}
