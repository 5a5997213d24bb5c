//! The `rmcp` server handler behind both endpoints: initialize (version negotiation), the tool
//! list of the caller's endpoint, and tool calls. A failed call is a tool error (`isError`)
//! carrying the contract's error envelope; only an unknown tool name is a JSON-RPC error
//! (`-32602`, as the MCP specification has it), whose `data` carries the envelope too.

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResult, Implementation, InitializeRequestParams, InitializeResult,
        ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerInfo, Tool,
    },
    service::RequestContext,
};
use serde_json::Value;

use super::{management, session};
use crate::{AppState, error::ErrorEnvelope, store::SessionRecord};

/// The revisions of the protocol authlink speaks, oldest first; a client asking for another is
/// answered with the newest, as the specification's negotiation rule says.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 4] = [
    ProtocolVersion::V_2024_11_05,
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
];

/// Who is calling, decided before the request reached the transport.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `/mcp` with a project key.
    Management { project: super::Project },
    /// A session's `mcp.url`, the session loaded from the key's project.
    Session { project: super::Project, session: Box<SessionRecord> },
}

/// One request's handler (the transport is stateless: a fresh one per HTTP request).
#[derive(Clone)]
pub struct McpServer {
    pub(super) state: AppState,
    pub(super) caller: Caller,
    pub(super) request_id: String,
}

impl McpServer {
    pub fn new(state: AppState, caller: Caller, request_id: String) -> Self {
        Self { state, caller, request_id }
    }

    fn tools(&self) -> Vec<Tool> {
        match &self.caller {
            Caller::Management { .. } => management::definitions(),
            Caller::Session { session, .. } => session::meta_tool_definitions(&session.config.manage_connections),
        }
    }
}

/// A tool's answer: its output as `structuredContent` plus the same JSON as text.
pub(super) fn success(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

/// A tool error: the contract's envelope (code, slug, message, …) as `structuredContent` and text.
pub(super) fn failure(envelope: &ErrorEnvelope) -> CallToolResult {
    CallToolResult::structured_error(serde_json::to_value(envelope).unwrap_or(Value::Null))
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerInfo {
        let instructions = match &self.caller {
            Caller::Management { .. } => {
                "authlink management: create tool-router sessions and single-use auth links \
                 (tool_router.session.link.create), read and delete connected accounts, list auth configs \
                 and toolkits. Errors come back as tool errors carrying authlink's error envelope."
            }
            Caller::Session { .. } => {
                "Connection tools of one authlink tool-router session: COMPOSIO_MANAGE_CONNECTIONS returns \
                 an authentication link for each toolkit the user has not connected; show it to the user, \
                 then (when offered) call COMPOSIO_WAIT_FOR_CONNECTIONS to learn when the connection is ACTIVE."
            }
        };
        let mut implementation = Implementation::new("authlink", env!("CARGO_PKG_VERSION"));
        implementation.title = Some("authlink".into());
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(implementation)
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
            .with_instructions(instructions)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let mut info = self.get_info();
        if PROTOCOL_VERSIONS.contains(&request.protocol_version) {
            info.protocol_version = request.protocol_version;
        }
        Ok(info)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let name = request.name.as_ref();
        let args = request.arguments.unwrap_or_default();
        let outcome = match &self.caller {
            Caller::Management { project } => management::call(self, *project, name, args).await,
            Caller::Session { project, session } => session::call(self, *project, session, name, args).await,
        };
        match outcome {
            Some(Ok(value)) => Ok(success(value)),
            Some(Err(envelope)) => Ok(failure(&envelope)),
            None => {
                let error = crate::error::ApiError::UnknownTool(name.chars().take(200).collect());
                let envelope = super::api_envelope(&error, &self.request_id);
                Err(ErrorData::invalid_params(envelope.error.message.clone(), serde_json::to_value(&envelope).ok()))
            }
        }
    }
}
