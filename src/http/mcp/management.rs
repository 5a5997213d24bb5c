//! The management endpoint's tools. Each runs the REST route's own handler (same extractors'
//! validation, same services, same response shape), its arguments being the route's JSON body or
//! query parameters plus the path's id, so MCP and REST cannot drift apart.
//! `tool_router.session.link.create` advertises the published input schema of the seed, verbatim.

use std::sync::OnceLock;

use axum::{
    Extension, Json,
    body::Body,
    extract::{FromRequest, FromRequestParts, Request, State},
};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use validator::Validate;

use super::{McpServer, Project, envelope_of, id_argument, schema};
use crate::{
    error::{ApiError, ErrorEnvelope},
    http::{
        ApiVersion, auth_configs, connected_accounts,
        extract::{IdPath, LenientQuery, ValidatedJson},
        links, sessions, toolkits,
    },
};

/// The input schema of `tool_router.session.link.create`, exactly as published (a copy of
/// `shared/seed/tool_router.session.link.create.input-schema.json`; a test compares the two).
pub const LINK_CREATE_INPUT_SCHEMA: &str =
    include_str!("../../../assets/mcp/tool_router.session.link.create.input-schema.json");

pub const LINK_CREATE: &str = "tool_router.session.link.create";

const V31: &str = "/api/v3.1";

fn session_id_property() -> Value {
    json!({"type": "string", "description": "The `trs_…` id of the tool-router session"})
}

fn account_id_property() -> Value {
    json!({"type": "string", "description": "The `ca_…` id of the connected account"})
}

fn path(rest: &str) -> String {
    format!("{V31}{rest}")
}

fn tool(name: &'static str, description: &'static str, input: JsonObject, output: JsonObject) -> Tool {
    Tool::new(name, description, input).with_raw_output_schema(output.into())
}

/// The tools, built once from the OpenAPI document.
pub fn definitions() -> Vec<Tool> {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(build).clone()
}

fn build() -> Vec<Tool> {
    let link_input: JsonObject = serde_json::from_str(LINK_CREATE_INPUT_SCHEMA).unwrap_or_default();
    let read_only = ToolAnnotations::new().read_only(true).destructive(false);
    let destructive = ToolAnnotations::new().read_only(false).destructive(true);
    vec![
        tool(
            LINK_CREATE,
            "Initiates an authentication link session for a specific toolkit within a tool router session. Returns a link token and redirect URL that users can use to complete the OAuth flow.",
            link_input,
            schema::response(&path("/tool_router/session/{session_id}/link"), "post", "201"),
        ),
        tool(
            "tool_router.session.create",
            "Creates a tool-router session for one end user (user_id), optionally restricted to toolkits, with pinned auth configs and connected accounts. Returns the session, its MCP URL and configuration.",
            schema::request_body(&path("/tool_router/session"), "post", &[]),
            schema::response(&path("/tool_router/session"), "post", "201"),
        ),
        tool(
            "tool_router.session.get",
            "Reads a tool-router session: its user, configuration, MCP URL and meta tools.",
            schema::only(&[("session_id", session_id_property())]),
            schema::response(&path("/tool_router/session/{session_id}"), "get", "200"),
        )
        .annotate(read_only.clone()),
        tool(
            "tool_router.session.delete",
            "Deletes a tool-router session; its links stop working and its MCP URL answers 404.",
            schema::only(&[("session_id", session_id_property())]),
            schema::response(&path("/tool_router/session/{session_id}"), "delete", "200"),
        )
        .annotate(destructive.clone()),
        tool(
            "connected_accounts.get",
            "Reads a connected account: status, toolkit, auth config, user and (when ACTIVE) its current access token.",
            schema::only(&[("connected_account_id", account_id_property())]),
            schema::response(&path("/connected_accounts/{id}"), "get", "200"),
        )
        .annotate(read_only.clone()),
        tool(
            "connected_accounts.list",
            "Lists connected accounts of the project, filtered by user_ids, toolkit_slugs, statuses, auth_config_ids (arrays or comma-joined strings), with cursor paging.",
            schema::query_parameters(&path("/connected_accounts"), "get", &[]),
            schema::response(&path("/connected_accounts"), "get", "200"),
        )
        .annotate(read_only.clone()),
        tool(
            "connected_accounts.delete",
            "Deletes a connected account (soft delete: it reads as not found afterwards).",
            schema::only(&[("connected_account_id", account_id_property())]),
            schema::response(&path("/connected_accounts/{id}"), "delete", "200"),
        )
        .annotate(destructive),
        tool(
            "auth_configs.list",
            "Lists the project's auth configs (the OAuth apps links connect through), filtered by toolkit_slug, with cursor paging.",
            schema::query_parameters(&path("/auth_configs"), "get", &[]),
            schema::response(&path("/auth_configs"), "get", "200"),
        )
        .annotate(read_only.clone()),
        tool(
            "toolkits.list",
            "Lists the toolkits links can be created for: the catalog's providers and the project's own custom toolkits, filtered by search, category, with cursor paging.",
            schema::query_parameters(&path("/toolkits"), "get", &[]),
            schema::response(&path("/toolkits"), "get", "200"),
        )
        .annotate(read_only),
    ]
}

/// Runs a management tool; `None` when there is no tool of that name.
pub async fn call(
    server: &McpServer,
    project: Project,
    name: &str,
    args: JsonObject,
) -> Option<Result<Value, ErrorEnvelope>> {
    let rid = server.request_id.as_str();
    let state = || State(server.state.clone());
    let result = match name {
        LINK_CREATE => {
            let run = async {
                let id = id_argument(&args, "session_id", rid)?;
                let mut body_args = args.clone();
                body_args.remove("session_id");
                let body = body::<links::SessionLinkRequest>(server, &body_args).await?;
                let created = links::create_for_session(state(), project, IdPath(id), ValidatedJson(body)).await;
                created.map(|(_, json)| json).map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "tool_router.session.create" => {
            let run = async {
                let body = body::<sessions::CreateSessionRequest>(server, &args).await?;
                let created = sessions::create(state(), Extension(ApiVersion::V31), project, ValidatedJson(body)).await;
                created.map(|(_, json)| json).map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "tool_router.session.get" => {
            let run = async {
                let id = id_argument(&args, "session_id", rid)?;
                sessions::get(state(), Extension(ApiVersion::V31), project, IdPath(id))
                    .await
                    .map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "tool_router.session.delete" => {
            let run = async {
                let id = id_argument(&args, "session_id", rid)?;
                sessions::delete(state(), project, IdPath(id)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "connected_accounts.get" => {
            let run = async {
                let id = id_argument(&args, "connected_account_id", rid)?;
                connected_accounts::get(state(), project, IdPath(id)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "connected_accounts.delete" => {
            let run = async {
                let id = id_argument(&args, "connected_account_id", rid)?;
                connected_accounts::delete(state(), project, IdPath(id)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "connected_accounts.list" => {
            let run = async {
                let q = query::<connected_accounts::ListQuery>(server, &args).await?;
                connected_accounts::list(state(), project, LenientQuery(q)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "auth_configs.list" => {
            let run = async {
                let q = query::<auth_configs::ListQuery>(server, &args).await?;
                auth_configs::list(state(), project, LenientQuery(q)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        "toolkits.list" => {
            let run = async {
                let q = query::<toolkits::ListQuery>(server, &args).await?;
                toolkits::list(state(), project, LenientQuery(q)).await.map_err(|e| envelope(&e, rid))
            };
            value(run.await)
        }
        _ => return None,
    };
    Some(result)
}

fn envelope(e: &ApiError, request_id: &str) -> ErrorEnvelope {
    super::api_envelope(e, request_id)
}

fn value<T: Serialize>(result: Result<Json<T>, ErrorEnvelope>) -> Result<Value, ErrorEnvelope> {
    result.map(|Json(body)| serde_json::to_value(body).unwrap_or(Value::Null))
}

/// The arguments as the route's JSON body, through the route's own extractor.
async fn body<T: DeserializeOwned + Validate>(server: &McpServer, args: &JsonObject) -> Result<T, ErrorEnvelope> {
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    ValidatedJson::<T>::from_request(Request::new(Body::from(bytes)), &server.state)
        .await
        .map(|ValidatedJson(body)| body)
        .map_err(|rejection| envelope_of(&rejection, &server.request_id))
}

/// The arguments as the route's query string (arrays comma-joined, as the SDKs send them),
/// through the route's own extractor.
async fn query<T: DeserializeOwned>(server: &McpServer, args: &JsonObject) -> Result<T, ErrorEnvelope> {
    let rid = server.request_id.as_str();
    let uri = query_uri(args, rid)?;
    let mut parts = Request::builder()
        .uri(uri)
        .body(())
        .map(|r| r.into_parts().0)
        .map_err(|e| envelope(&ApiError::internal(e), rid))?;
    LenientQuery::<T>::from_request_parts(&mut parts, &server.state)
        .await
        .map(|LenientQuery(q)| q)
        .map_err(|e| envelope(&e, rid))
}

fn query_uri(args: &JsonObject, rid: &str) -> Result<String, ErrorEnvelope> {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in args {
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        _ => return Err(envelope(&ApiError::field(format!("{key}[{i}]"), "must be a string"), rid)),
                    }
                }
                out.join(",")
            }
            Value::Object(_) => {
                return Err(envelope(&ApiError::field(key.clone(), "must be a string, number, boolean or array"), rid));
            }
        };
        pairs.append_pair(key, &text);
    }
    Ok(format!("/?{}", pairs.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published schema, verbatim: the copy in `assets/` is the seed's file, and the tool
    /// advertises it with every key in its order (pretty-printed it is the file again).
    #[test]
    fn link_tool_schema_is_the_seed_file() {
        let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/seed/tool_router.session.link.create.input-schema.json");
        if let Ok(published) = std::fs::read_to_string(&seed) {
            assert_eq!(published, LINK_CREATE_INPUT_SCHEMA, "assets/mcp copy differs from {}", seed.display());
        }
        let tools = definitions();
        let link = tools.iter().find(|t| t.name == LINK_CREATE).unwrap();
        let advertised = serde_json::to_string_pretty(&*link.input_schema).unwrap();
        assert_eq!(advertised.trim_end(), LINK_CREATE_INPUT_SCHEMA.trim_end());
    }

    #[test]
    fn every_tool_has_a_description_and_object_schemas() {
        let tools = definitions();
        assert_eq!(tools.len(), 9);
        for t in &tools {
            assert!(t.description.as_deref().is_some_and(|d| !d.is_empty()), "{}", t.name);
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            let output = t.output_schema.as_ref().unwrap();
            assert_eq!(output["type"], "object", "{}: {output:?}", t.name);
            assert!(output.get("properties").is_some(), "{}: {output:?}", t.name);
        }
    }
}
