//! A session endpoint's tools: Composio's connection meta tools under Composio's names and
//! input parameters (`toolkits`, `reinitiate_all`, `session_id`), answering in Composio's
//! action shape `{data, error, successful}`. Only the tools the session enables are listed;
//! `tool_router_tools` in session responses lists the same ([`served_tools`]).

use std::time::Duration;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{McpServer, Project};
use crate::{
    AppState,
    domain::session::ManageConnections,
    error::{ApiError, ErrorEnvelope},
    http::extract::parse_json,
    service::meta_tools::{
        self, DEFAULT_WAIT_SECS, MANAGE_CONNECTIONS, MAX_WAIT_SECS, WAIT_FOR_CONNECTIONS, served_tools,
    },
    store::SessionRecord,
};

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn action_output(data: &Value) -> JsonObject {
    object(json!({
        "type": "object",
        "properties": {
            "data": data,
            "error": {"type": ["string", "null"], "description": "Error if any occurred during the execution of the action"},
            "successful": {"type": "boolean", "description": "Whether or not the action execution was successful or not"}
        },
        "required": ["data", "successful"]
    }))
}

fn connection_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "toolkit": {"type": "string"},
            "status": {"type": "string", "description": "ACTIVE, INITIATED (a link was created: show redirect_url to the user), FAILED (see error), NOT_CONNECTED, or the account's status"},
            "connected_account_id": {"type": "string"},
            "redirect_url": {"type": "string", "description": "The link the user opens to connect"},
            "error": {
                "type": "object",
                "properties": {"message": {"type": "string"}, "code": {"type": "integer"}, "slug": {"type": "string"}},
                "required": ["message", "code", "slug"]
            }
        },
        "required": ["toolkit", "status"]
    })
}

fn manage_tool() -> Tool {
    let input = object(json!({
        "type": "object",
        "properties": {
            "toolkits": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Toolkit slugs to check or connect. Must be valid toolkit slugs; never invent. Missing connections initiate auth. Examples: ['gmail', 'github', 'slack', 'googlesheets', 'outlook']."
            },
            "reinitiate_all": {
                "type": "boolean",
                "default": false,
                "description": "Force reconnection for all listed toolkits, even if active connections already exist. Use when credentials may be stale, you need fresh credentials/settings, or you are troubleshooting connection issues. This replaces existing active connections with new auth-link flows. Default false."
            },
            "session_id": {
                "type": "string",
                "description": "Pass the session_id if you received one from a prior COMPOSIO_SEARCH_TOOLS call."
            }
        },
        "required": ["toolkits"]
    }));
    let data = json!({
        "type": "object",
        "properties": {
            "message": {"type": "string", "description": "Overall status message"},
            "results": {"type": "object", "additionalProperties": connection_schema(), "description": "Connection results for each toolkit"},
            "summary": {
                "type": "object",
                "properties": {
                    "total_toolkits": {"type": "integer"},
                    "active_connections": {"type": "integer"},
                    "initiated_connections": {"type": "integer"},
                    "failed_connections": {"type": "integer"}
                },
                "description": "Summary of results by status type"
            },
            "session": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "instructions": {"type": "string"}},
                "required": ["id", "instructions"]
            }
        },
        "required": ["message", "results", "summary"]
    });
    Tool::new(
        MANAGE_CONNECTIONS,
        "Checks connection status for a toolkit and returns an authentication link when the user needs to connect. When the result has a redirect_url, show it to the user as a link and wait for the connection to become ACTIVE before using the toolkit.",
        input,
    )
    .with_raw_output_schema(action_output(&data).into())
    .annotate(ToolAnnotations::new().read_only(false).destructive(true).open_world(true))
}

fn wait_tool() -> Tool {
    let input = object(json!({
        "type": "object",
        "properties": {
            "toolkits": {"type": "array", "items": {"type": "string"}, "description": "Toolkit slugs whose connections to wait for (those COMPOSIO_MANAGE_CONNECTIONS returned a redirect_url for)."},
            "mode": {"type": "string", "enum": ["all", "any"], "default": "all", "description": "Wait until all toolkits are connected (default), or until any one is."},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECS, "default": DEFAULT_WAIT_SECS, "description": "How long to wait at most; call again if the user is still connecting."},
            "session_id": {"type": "string", "description": "Pass the session_id if you received one from a prior COMPOSIO_SEARCH_TOOLS call."}
        },
        "required": ["toolkits"]
    }));
    let data = json!({
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "results": {"type": "object", "additionalProperties": connection_schema()},
            "completed": {"type": "boolean", "description": "Whether the wait condition (all or any ACTIVE) was met"},
            "timed_out": {"type": "boolean"}
        },
        "required": ["message", "results", "completed", "timed_out"]
    });
    Tool::new(
        WAIT_FOR_CONNECTIONS,
        "Waits until the user has completed the authentication links for the given toolkits: returns when the connections are ACTIVE (all of them, or any with mode=any) or when the timeout passes.",
        input,
    )
    .with_raw_output_schema(action_output(&data).into())
    .annotate(ToolAnnotations::new().read_only(true).open_world(false))
}

/// The tools a session serves, in `tool_router_tools` order.
pub fn meta_tool_definitions(manage: &ManageConnections) -> Vec<Tool> {
    served_tools(manage)
        .into_iter()
        .map(|name| if name == MANAGE_CONNECTIONS { manage_tool() } else { wait_tool() })
        .collect()
}

#[derive(Debug, Deserialize)]
struct ManageArgs {
    toolkits: Vec<String>,
    #[serde(default)]
    reinitiate_all: Option<bool>,
    #[expect(dead_code, reason = "accepted as Composio's schema has it; the endpoint's session is the scope")]
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    All,
    Any,
}

#[derive(Debug, Deserialize)]
struct WaitArgs {
    toolkits: Vec<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    #[expect(dead_code, reason = "accepted as Composio's schema has it; the endpoint's session is the scope")]
    #[serde(default)]
    session_id: Option<String>,
}

/// Runs a meta tool of `session`; `None` when the session serves no tool of that name. Used by
/// the session's MCP endpoint and by the REST execution route.
pub async fn execute_meta_tool(
    state: &AppState,
    project: Project,
    session: &SessionRecord,
    name: &str,
    args: &JsonObject,
) -> Option<Result<Value, ApiError>> {
    if !served_tools(&session.config.manage_connections).contains(&name) {
        return None;
    }
    let bytes = serde_json::to_vec(args).unwrap_or_default();
    let result = if name == MANAGE_CONNECTIONS {
        manage(state, project, session, &bytes).await
    } else {
        wait(state, project, session, &bytes).await
    };
    Some(result)
}

async fn manage(state: &AppState, project: Project, session: &SessionRecord, bytes: &[u8]) -> Result<Value, ApiError> {
    let args: ManageArgs = parse_json(bytes)?;
    let toolkits = meta_tools::parse_toolkits(&args.toolkits)?;
    let outcome =
        meta_tools::manage_connections(state, project.0, &session.id, &toolkits, args.reinitiate_all.unwrap_or(false))
            .await?;
    let (active, initiated, failed) = (outcome.count("ACTIVE"), outcome.count("INITIATED"), outcome.count("FAILED"));
    let message = if initiated > 0 {
        format!(
            "{initiated} toolkit(s) need the user to connect: show each redirect_url to the user as a link, then wait for the connection to become ACTIVE."
        )
    } else if failed > 0 {
        format!("{failed} toolkit(s) could not be connected; see each result's error.")
    } else {
        "All requested toolkits are connected.".to_owned()
    };
    Ok(json!({
        "data": {
            "message": message,
            "results": outcome.results,
            "summary": {
                "total_toolkits": outcome.results.len(),
                "active_connections": active,
                "initiated_connections": initiated,
                "failed_connections": failed
            },
            "session": {
                "id": session.id.to_string(),
                "instructions": "Connections belong to this tool-router session's user; links expire after a few minutes and are single use."
            }
        },
        "error": null,
        "successful": failed == 0
    }))
}

async fn wait(state: &AppState, project: Project, session: &SessionRecord, bytes: &[u8]) -> Result<Value, ApiError> {
    let args: WaitArgs = parse_json(bytes)?;
    let toolkits = meta_tools::parse_toolkits(&args.toolkits)?;
    let secs = args.timeout_seconds.unwrap_or(DEFAULT_WAIT_SECS);
    if !(1..=MAX_WAIT_SECS).contains(&secs) {
        return Err(ApiError::field("timeout_seconds", format!("must be between 1 and {MAX_WAIT_SECS}")));
    }
    let any = matches!(args.mode, Some(Mode::Any));
    let (results, completed) =
        meta_tools::wait_for_connections(state, project.0, &session.id, &toolkits, any, Duration::from_secs(secs))
            .await?;
    let message = if completed {
        "The connections are ACTIVE.".to_owned()
    } else {
        format!("Not connected yet after {secs} s; call again to keep waiting once the user has opened the link.")
    };
    let error = if completed { Value::Null } else { Value::String(message.clone()) };
    Ok(json!({
        "data": {"message": message, "results": results, "completed": completed, "timed_out": !completed},
        "error": error,
        "successful": completed
    }))
}

/// The session endpoint's `tools/call`. The session is re-read first, so a session deleted
/// since the request was admitted fails as not found rather than acting on stale state.
pub async fn call(
    server: &McpServer,
    project: Project,
    session: &SessionRecord,
    name: &str,
    args: JsonObject,
) -> Option<Result<Value, ErrorEnvelope>> {
    let rid = server.request_id.as_str();
    let fresh = match crate::service::sessions::get(&server.state, project.0, &session.id).await {
        Ok(fresh) => fresh,
        Err(e) => return Some(Err(super::api_envelope(&e, rid))),
    };
    execute_meta_tool(&server.state, project, &fresh, name, &args)
        .await
        .map(|result| result.map_err(|e| super::api_envelope(&e, rid)))
}
