//! The OpenAPI 3.1 document, generated from the handlers' annotations. Paths are written once
//! under `/api/v3.1` and mirrored under `/api/v3`, as the router mounts them.

use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

use super::{audit, auth_configs, connected_accounts, health, links, session_toolkits, sessions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authlink",
        description = "Self-hosted auth-link broker, wire-compatible with Composio's v3/v3.1 API. \
                       Every /api route is served under both /api/v3 and /api/v3.1.",
    ),
    paths(
        sessions::create, sessions::get, sessions::update, sessions::delete,
        session_toolkits::list,
        links::create_for_session, links::create_for_user,
        auth_configs::create, auth_configs::get, auth_configs::list,
        connected_accounts::get, connected_accounts::list, connected_accounts::update,
        connected_accounts::delete, connected_accounts::legacy_create, connected_accounts::refresh, audit::list,
        health::healthz, health::readyz,
    ),
    modifiers(&Security, &MirrorV3),
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

/// Copies every `/api/v3.1/…` path to `/api/v3/…` with a distinct operation id.
struct MirrorV3;

impl Modify for MirrorV3 {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let mirrored: Vec<(String, openapi::PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix("/api/v3.1/")?;
                let mut item = item.clone();
                for op in [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put]
                    .into_iter()
                    .flatten()
                {
                    op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}_v3"));
                }
                Some((format!("/api/v3/{rest}"), item))
            })
            .collect();
        doc.paths.paths.extend(mirrored);
    }
}

/// The document as a value (also used by tests).
pub fn spec() -> openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn document() -> Json<openapi::OpenApi> {
    Json(spec())
}
