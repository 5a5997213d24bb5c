//! The session's wire shape as responses carry it (create, get, update, delete): Composio's
//! field names, pins echoed as scalars on v3 and arrays on v3.1.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::OneOrMany;
use crate::{
    domain::{ToolkitSlug, session::ToolkitFilter},
    http::{ApiVersion, common::iso},
    store::SessionRecord,
};

/// `mcp` of a session response.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpOut {
    /// Always `http`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// On authlink's own origin, so SDKs forward the API key.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManageConnectionsOut {
    pub enabled: bool,
    pub callback_url: Option<String>,
    pub enable_wait_for_connections: bool,
    pub enable_connection_removal: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultiAccountOut {
    pub enable: Option<bool>,
    pub max_accounts_per_toolkit: Option<u8>,
    pub require_explicit_selection: Option<bool>,
}

/// Effective config with the response's key names.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionConfigOut {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toolkits: Option<ToolkitsOut>,
    pub auth_configs: BTreeMap<String, String>,
    /// v3.1: `{slug: [ids]}`; v3: `{slug: id}`.
    #[schema(value_type = BTreeMap<String, OneOrMany>)]
    pub connected_accounts: serde_json::Value,
    pub manage_connections: ManageConnectionsOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_account: Option<MultiAccountOut>,
    #[schema(value_type = Object)]
    pub preload: serde_json::Value,
    #[schema(value_type = Object)]
    pub search: serde_json::Value,
    #[schema(value_type = Object)]
    pub execute: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionExperimentalOut {
    pub link_url_overwrite: String,
}

/// A session as returned by create, get and patch.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub session_id: String,
    pub mcp: McpOut,
    /// The meta tools the session's `mcp.url` serves (and REST tool execution runs): follows
    /// `manage_connections.enable` and `enable_wait_for_connections`.
    pub tool_router_tools: Vec<&'static str>,
    pub config: SessionConfigOut,
    /// 0 at creation, +1 per PATCH.
    pub config_version: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experimental: Option<SessionExperimentalOut>,
}

impl SessionResponse {
    pub(super) fn new(s: SessionRecord, version: ApiVersion, public_base: &str) -> Self {
        let c = s.config;
        let pins: serde_json::Map<String, serde_json::Value> = c
            .connected_accounts
            .iter()
            .map(|(slug, ids)| {
                let value = match (version, ids.as_slice()) {
                    (ApiVersion::V3, [one, ..]) => serde_json::json!(one),
                    _ => serde_json::json!(ids),
                };
                (slug.to_string(), value)
            })
            .collect();
        let names = |l: &[ToolkitSlug]| l.iter().map(ToString::to_string).collect();
        Self {
            mcp: McpOut { kind: "http", url: format!("{public_base}/tool_router/{}/mcp", s.id) },
            session_id: s.id.to_string(),
            tool_router_tools: crate::service::meta_tools::served_tools(&c.manage_connections),
            config: SessionConfigOut {
                user_id: s.user_id,
                toolkits: c.toolkits.as_ref().map(|t| match t {
                    ToolkitFilter::Enable(l) => ToolkitsOut { enabled: Some(names(l)), disabled: None },
                    ToolkitFilter::Disable(l) => ToolkitsOut { enabled: None, disabled: Some(names(l)) },
                }),
                auth_configs: c.auth_configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                connected_accounts: serde_json::Value::Object(pins),
                manage_connections: ManageConnectionsOut {
                    enabled: c.manage_connections.enabled,
                    callback_url: c.manage_connections.callback_url,
                    enable_wait_for_connections: c.manage_connections.enable_wait_for_connections,
                    enable_connection_removal: c.manage_connections.enable_connection_removal,
                },
                multi_account: c.multi_account.map(|m| MultiAccountOut {
                    enable: m.enable,
                    max_accounts_per_toolkit: m.max_accounts_per_toolkit,
                    require_explicit_selection: m.require_explicit_selection,
                }),
                preload: serde_json::json!({"tools": []}),
                search: serde_json::json!({"enable": true}),
                execute: serde_json::json!({"enable_multi_execute": true}),
            },
            config_version: s.config_version,
            created_at: iso(s.created_at),
            updated_at: iso(s.updated_at),
            experimental: c.link_url_overwrite.map(|l| SessionExperimentalOut { link_url_overwrite: l }),
        }
    }
}

/// Response of DELETE.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteSessionResponse {
    pub session_id: String,
    pub deleted: bool,
}
