//! The session's meta tools over REST, for the SDKs' `session.tools()` path: `GET
//! tool_router/session/{id}/tools` lists what the session's `mcp.url` serves, in the shape
//! `composio` 0.30 / `@composio/core` 0.21 parse, and `POST …/execute` (and `…/execute_meta`,
//! which the SDKs use for meta tools by slug) runs one, answering `{data, error, log_id,
//! result_type}`. The tools are the MCP endpoint's own ([`super::mcp`]).

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{
    extract::{IdPath, LenientQuery, Project, ValidatedJson},
    mcp,
};
use crate::{
    AppState,
    domain::SessionId,
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::sessions,
};

/// Query of the listing (one page holds every meta tool; accepted for the SDKs' paging loop).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolsQuery {
    /// Accepted and ignored (any value): one page holds every tool.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolToolkit {
    pub slug: &'static str,
    pub name: &'static str,
    pub logo: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolDeprecated {
    pub available_versions: Vec<&'static str>,
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub is_deprecated: bool,
    pub toolkit: ToolDeprecatedToolkit,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolDeprecatedToolkit {
    pub logo: &'static str,
}

/// One tool as Composio's tool listing has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToolItem {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub human_description: String,
    /// JSON Schema of the arguments: the MCP tool's `inputSchema`.
    #[schema(value_type = Object)]
    pub input_parameters: Value,
    /// JSON Schema of the result: the MCP tool's `outputSchema`.
    #[schema(value_type = Object)]
    pub output_parameters: Value,
    pub toolkit: ToolToolkit,
    pub tags: Vec<&'static str>,
    pub scopes: Vec<&'static str>,
    pub no_auth: bool,
    pub is_deprecated: bool,
    pub version: &'static str,
    pub available_versions: Vec<&'static str>,
    pub deprecated: ToolDeprecated,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToolsResponse {
    pub items: Vec<SessionToolItem>,
    pub next_cursor: Option<String>,
    pub total_items: i64,
    pub total_pages: i64,
    pub current_page: i64,
}

/// Body of `execute` / `execute_meta`. Unknown keys (`enable_auto_workbench_offload`,
/// `experimental`, …) are ignored.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ExecuteRequest {
    /// A meta tool the session serves (`COMPOSIO_MANAGE_CONNECTIONS`, …).
    #[validate(length(min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128)]
    pub tool_slug: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// The tool's `data`.
    #[schema(value_type = Object)]
    pub data: Value,
    pub error: Option<String>,
    pub log_id: String,
    /// `completed` when the tool reported success, else `failed`.
    pub result_type: &'static str,
}

const VERSION: &str = "20261201_00";

/// Lists the meta tools the session serves (the same as its `tool_router_tools`).
#[utoipa::path(get, path = "/tool_router/session/{session_id}/tools", tag = "tool_router", operation_id = "list_session_tools",
    params(("session_id" = String, Path, description = "`trs_…` session id"), ToolsQuery),
    responses(
        (status = 200, body = SessionToolsResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<SessionId>,
    LenientQuery(_query): LenientQuery<ToolsQuery>,
) -> ApiResult<Json<SessionToolsResponse>> {
    let session = sessions::get(&state, project, &id).await?;
    let items: Vec<SessionToolItem> = mcp::meta_tool_definitions(&session.config.manage_connections)
        .into_iter()
        .map(|tool| {
            let description = tool.description.as_deref().unwrap_or_default().to_owned();
            let name = tool.name.replace('_', " ");
            SessionToolItem {
                slug: tool.name.to_string(),
                human_description: description.clone(),
                description,
                input_parameters: Value::Object((*tool.input_schema).clone()),
                output_parameters: tool.output_schema.map_or(Value::Null, |s| Value::Object((*s).clone())),
                toolkit: ToolToolkit { slug: "composio", name: "Composio", logo: "" },
                tags: Vec::new(),
                scopes: Vec::new(),
                no_auth: true,
                is_deprecated: false,
                version: VERSION,
                available_versions: vec![VERSION],
                deprecated: ToolDeprecated {
                    available_versions: vec![VERSION],
                    display_name: name.clone(),
                    is_deprecated: false,
                    toolkit: ToolDeprecatedToolkit { logo: "" },
                    version: VERSION,
                },
                name,
            }
        })
        .collect();
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    Ok(Json(SessionToolsResponse { items, next_cursor: None, total_items: total, total_pages: 1, current_page: 1 }))
}

/// Runs one of the session's meta tools.
#[utoipa::path(post, path = "/tool_router/session/{session_id}/execute", tag = "tool_router", operation_id = "execute_session_tool",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    request_body = ExecuteRequest,
    responses(
        (status = 200, body = ExecuteResponse),
        (status = 400, description = "Invalid body or tool arguments", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Session not found, or a tool the session does not serve", body = ErrorEnvelope),
    ))]
pub async fn execute(
    State(state): State<AppState>,
    project: Project,
    IdPath(id): IdPath<SessionId>,
    ValidatedJson(body): ValidatedJson<ExecuteRequest>,
) -> ApiResult<Json<ExecuteResponse>> {
    run(&state, project, &id, body).await
}

/// Runs one of the session's meta tools (the route the SDKs use for meta tools by slug).
#[utoipa::path(post, path = "/tool_router/session/{session_id}/execute_meta", tag = "tool_router", operation_id = "execute_session_meta_tool",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    request_body = ExecuteRequest,
    responses(
        (status = 200, body = ExecuteResponse),
        (status = 400, description = "Invalid body or tool arguments", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Session not found, or a tool the session does not serve", body = ErrorEnvelope),
    ))]
pub async fn execute_meta(
    State(state): State<AppState>,
    project: Project,
    IdPath(id): IdPath<SessionId>,
    ValidatedJson(body): ValidatedJson<ExecuteRequest>,
) -> ApiResult<Json<ExecuteResponse>> {
    run(&state, project, &id, body).await
}

async fn run(
    state: &AppState,
    project: Project,
    id: &SessionId,
    body: ExecuteRequest,
) -> ApiResult<Json<ExecuteResponse>> {
    let session = sessions::get(state, project.0, id).await?;
    let args = body.arguments.unwrap_or_default();
    let outcome = mcp::execute_meta_tool(state, project, &session, &body.tool_slug, &args)
        .await
        .ok_or_else(|| ApiError::UnknownTool(body.tool_slug.chars().take(200).collect()))??;
    let successful = outcome["successful"].as_bool().unwrap_or(false);
    let error = outcome["error"].as_str().map(str::to_owned);
    Ok(Json(ExecuteResponse {
        data: outcome["data"].clone(),
        error,
        log_id: format!("log_{}", uuid::Uuid::new_v4().simple()),
        result_type: if successful { "completed" } else { "failed" },
    }))
}
