//! Health probes, fallbacks and the OpenAPI document.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Resp, assert_error_ctx, assert_unavailable, send, spawn_app, unknown_id};

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

/// Every /api route as (path after the version prefix, methods): what the document must list,
/// under both prefixes.
const API_ROUTES: &[(&str, &[&str])] = &[
    ("tool_router/session", &["post"]),
    ("tool_router/session/{session_id}", &["get", "patch", "delete"]),
    ("tool_router/session/{session_id}/link", &["post"]),
    ("tool_router/session/{session_id}/toolkits", &["get"]),
    ("auth_configs", &["get", "post"]),
    ("auth_configs/{id}", &["get", "patch", "delete"]),
    ("connected_accounts", &["get", "post"]),
    ("connected_accounts/link", &["post"]),
    ("connected_accounts/complete_auth", &["post"]),
    ("connected_accounts/{id}", &["get", "patch", "delete"]),
    ("connected_accounts/{id}/audit", &["get"]),
    ("connected_accounts/{id}/refresh", &["post"]),
    ("api_keys", &["get", "post"]),
    ("api_keys/{id}", &["delete"]),
    ("tool_router/session/{session_id}/tools", &["get"]),
    ("tool_router/session/{session_id}/execute", &["post"]),
    ("tool_router/session/{session_id}/execute_meta", &["post"]),
    ("auth_configs/{id}/{status}", &["patch"]),
    ("connected_accounts/{id}/status", &["patch"]),
    ("connected_accounts/{id}/revoke", &["post"]),
    ("toolkits", &["get"]),
    ("toolkits/{slug}", &["get"]),
    ("toolkits/multi", &["post"]),
    ("toolkits/categories", &["get"]),
    ("toolkits/changelog", &["get"]),
    ("toolkits/{slug}/scopes/recommended", &["post"]),
    ("toolkits/{slug}/scopes/grant_context", &["get"]),
    ("webhook_subscriptions", &["get", "post"]),
    ("webhook_subscriptions/event_types", &["get"]),
    ("webhook_subscriptions/{id}", &["get", "patch", "delete"]),
    ("webhook_subscriptions/{id}/rotate_secret", &["post"]),
    ("webhook_subscriptions/{id}/deliveries", &["get"]),
    ("webhook_deliveries/{id}/replay", &["post"]),
    ("link_page", &["get", "patch"]),
    ("link_page/logo", &["put", "delete"]),
];

/// The routes outside /api, which take no API key.
const OTHER_ROUTES: &[(&str, &str)] = &[
    ("get", "/link/{token}"),
    ("post", "/link/{token}/continue"),
    ("post", "/link/{token}/fields"),
    ("get", "/oauth/callback"),
    ("get", "/oauth/callback/{redirect_key}"),
    ("get", "/assets/authlink.css"),
    ("get", "/link-assets/accent/{color}"),
    ("get", "/link-assets/logo/{project}/{sha256}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/docs"),
    ("get", "/docs/swagger-ui-bundle.js"),
    ("get", "/docs/swagger-ui.css"),
    ("get", "/docs/init.js"),
    ("get", "/openapi.json"),
];

/// The MCP endpoints: outside /api, and they take the API key.
const MCP_ROUTES: &[(&str, &str)] = &[("post", "/mcp"), ("post", "/tool_router/{session_id}/mcp")];

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// (method, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter(|m| item[**m].is_object()).map(move |m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

/// A concrete URL path for a template: well-formed ids that exist nowhere.
fn concrete(path: &str) -> String {
    let ca = unknown_id("ca_");
    let token = format!("ln_{}", "A".repeat(32));
    let id = if path.contains("auth_configs") {
        unknown_id("ac_")
    } else if path.contains("api_keys") {
        "00000000-0000-4000-8000-000000000000".to_owned()
    } else if path.contains("webhook_subscriptions") {
        unknown_id("ws_")
    } else if path.contains("webhook_deliveries") {
        "987654321".to_owned()
    } else {
        ca
    };
    path.replace("{session_id}", &unknown_id("trs_")).replace("{id}", &id).replace("{token}", &token)
}

fn is_fallback(r: &Resp) -> bool {
    matches!(r.body["error"]["slug"].as_str(), Some("HTTP_NotFound" | "HTTP_MethodNotAllowed"))
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_routes_in_both_versions() {
    let app = spawn_app().await;
    let r = app.anonymous().get("/openapi.json").await;
    let doc = r.expect(200, "openapi.json").clone();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "openapi {}", doc["openapi"]);
    let documented = documented(&doc);

    let mut expected = BTreeSet::new();
    for prefix in ["/api/v3.1/", "/api/v3/"] {
        for (route, methods) in API_ROUTES {
            for method in *methods {
                expected.insert(((*method).to_owned(), format!("{prefix}{route}")));
            }
        }
    }
    expected.extend(OTHER_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())));
    expected.extend(MCP_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())));
    assert_eq!(documented, expected, "documented operations differ from the expected routes");

    // Every documented operation is served: none answers the router's 404/405 fallback ...
    for (method, path) in &documented {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = send(app.api().request(m, &concrete(path)).json(&json!({}))).await;
        assert!(!is_fallback(&r), "{method} {path} is documented but not served: {} {}", r.status, r.text);
    }
    // ... and on a documented path, every undocumented method is the 405 fallback.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            if documented.contains(&(method.to_owned(), path.clone())) {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = send(app.api().request(m, &concrete(path))).await;
            assert_error_ctx(&r, 405, "HTTP_MethodNotAllowed", &format!("undocumented {method} {path}"));
        }
    }

    // Distinct operation ids; query parameters declared in the query; /api needs the key, the
    // rest needs none.
    let mut ids = BTreeSet::new();
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        let template_params: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap();
            // The one header parameter: `Idempotency-Key` on the creates.
            let place = if template_params.contains(name) {
                "path"
            } else if name == "Idempotency-Key" {
                "header"
            } else {
                "query"
            };
            assert_eq!(param["in"], place, "{method} {path}: parameter {name}");
        }
        if MCP_ROUTES.iter().any(|(_, p)| p == path) {
            assert!(op.get("security").is_none(), "{method} {path} overrides the API key requirement");
            assert!(op["responses"]["401"].is_object(), "{method} {path} documents no 401");
        } else if path.starts_with("/api/") {
            assert!(op.get("security").is_none(), "{method} {path} overrides the API key requirement");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("401"), "{method} {path} documents no 401");
            // Refresh, revoke, the auth config status switch, a secret's rotation and a delivery's
            // replay are the actions without a body.
            let bodiless =
                ["/refresh", "/revoke", "/{status}", "/rotate_secret", "/replay"].iter().any(|a| path.ends_with(a));
            if matches!(method.as_str(), "post" | "patch") && !bodiless {
                assert!(op["requestBody"].is_object(), "{method} {path} documents no request body");
            }
            assert!(responses.keys().any(|k| k.starts_with('4')), "{method} {path} documents no client error");
        } else {
            assert_eq!(op["security"], json!([]), "{method} {path} should need no API key");
        }
    }
    assert!(ids.iter().any(|id| id.ends_with("_v3")), "no /api/v3 operation ids: {ids:?}");

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

#[tokio::test]
async fn the_served_document_is_the_one_built_from_the_router() {
    let app = spawn_app().await;
    let mut served = app.anonymous().get("/openapi.json").await.expect(200, "openapi.json").clone();
    let mut built = serde_json::to_value(authlink::http::spec()).unwrap();
    // The served document adds only the rules of this server's settings and catalog
    // (`http::openapi_deployment`) to these schemas; everything else is the router's document.
    let deployment = [
        ("CreateAuthConfigRequest", "anyOf"),
        ("SessionExperimentalInput", "properties"),
        ("ManageConnectionsInput", "properties"),
        ("SessionLinkRequest", "properties"),
        ("UserLinkRequest", "properties"),
        ("LegacyConnection", "properties"),
    ];
    for (name, key) in deployment {
        let served_schema = served["components"]["schemas"][name].as_object_mut().unwrap();
        let built_schema = built["components"]["schemas"][name].as_object_mut().unwrap();
        assert_ne!(served_schema.get(key), built_schema.get(key), "{name}.{key}: the server's rules are added");
        served_schema.remove(key);
        built_schema.remove(key);
    }
    assert_eq!(served, built);
    app.cleanup().await;
}
