//! The OpenAPI 3.1 document. Its paths are not listed here: the router collects them from the
//! handlers' annotations as it registers them ([`super::routes`]), so a route cannot be served
//! without being documented. This module adds what no handler knows: the title, the `x-api-key`
//! scheme, the distinct operation ids of the `/api/v3` copy, and which routes need no key.

use std::sync::Arc;

use axum::{
    Extension,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authlink",
        description = "Self-hosted auth-link broker, wire-compatible with Composio's v3/v3.1 API. \
                       Every /api route is served under both /api/v3 and /api/v3.1.",
    ),
    modifiers(&Security),
    security(("api_key" = [])),
)]
struct ApiDoc;

/// Declares the `x-api-key` scheme used by every /api route.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "Project API key (`ak_…`), created with `authlink api-key create`",
            ))),
        );
    }
}

/// The document the router starts from: everything but the paths.
pub fn base() -> openapi::OpenApi {
    ApiDoc::openapi()
}

pub(super) fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Gives the `/api/v3` copy of the resource routes operation ids distinct from `/api/v3.1`'s.
pub fn suffix_operation_ids(doc: &mut openapi::OpenApi, suffix: &str) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            op.operation_id = op.operation_id.take().map(|id| format!("{id}{suffix}"));
        }
    }
}

/// Routes outside `/api` (probes, this document, the end user's pages) take no API key; the MCP
/// endpoints, also outside `/api`, do.
pub fn finish(mut doc: openapi::OpenApi) -> openapi::OpenApi {
    super::openapi_params::constrain(&mut doc);
    for (path, item) in &mut doc.paths.paths {
        if !path.starts_with("/api/") && !super::mcp::is_mcp_path(&path.replace("{session_id}", "trs_x")) {
            for op in operations(item) {
                op.security = Some(Vec::new());
            }
        }
    }
    doc
}

/// The document, serialized once when the router is built.
#[derive(Clone)]
pub struct Document(Arc<str>);

impl Document {
    #[expect(
        clippy::expect_used,
        reason = "the document is plain data with string keys, which serde_json always writes"
    )]
    pub fn new(doc: &openapi::OpenApi) -> Self {
        Self(doc.to_json().expect("the OpenAPI document serializes").into())
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "health", operation_id = "openapi_document",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn document(Extension(Document(json)): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    /// Every path parameter says what it accepts: a pattern, an enum, a format or an integer.
    #[test]
    fn every_path_parameter_is_constrained() {
        let doc = serde_json::to_value(super::super::spec()).unwrap();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
                    let s = &p["schema"];
                    let constrained = s.get("pattern").is_some()
                        || s.get("enum").is_some()
                        || s.get("format").is_some()
                        || s["type"] == "integer";
                    assert!(constrained, "{method} {path}: {} is unconstrained: {s}", p["name"]);
                    seen += 1;
                }
            }
        }
        assert!(seen > 40, "only {seen} path parameters");
    }
}
