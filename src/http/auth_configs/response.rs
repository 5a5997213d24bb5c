//! What `POST auth_configs`, retrieve and list answer: Composio's auth config shape. The client
//! secret is never in it.

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::{AppState, http::common::iso, store::AuthConfigRecord};

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAuthConfig {
    pub id: String,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
    pub restrict_to_following_tools: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitSlugOut {
    pub slug: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateAuthConfigResponse {
    pub toolkit: ToolkitSlugOut,
    pub auth_config: CreatedAuthConfig,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitOut {
    pub slug: String,
    pub logo: String,
}

/// Credentials as shown: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsOut {
    pub client_id: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
}

/// An auth config as returned by retrieve and list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigResponse {
    pub id: String,
    pub uuid: String,
    pub name: String,
    pub no_of_connections: i64,
    /// `ENABLED` or `DISABLED`.
    pub status: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub toolkit: ToolkitOut,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
    pub credentials: CredentialsOut,
    #[schema(value_type = Object)]
    pub tool_access_config: serde_json::Value,
    pub is_enabled_for_tool_router: bool,
    pub created_at: String,
    pub last_updated_at: String,
}

impl AuthConfigResponse {
    pub(super) fn new(state: &AppState, c: AuthConfigRecord) -> Self {
        let digest = Sha256::digest(c.id.as_str());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let logo = state.catalog.get(&c.toolkit).and_then(|p| p.logo.clone()).unwrap_or_default();
        Self {
            uuid: uuid.to_string(),
            id: c.id.to_string(),
            name: c.name,
            no_of_connections: c.no_of_connections,
            status: if c.is_enabled { "ENABLED" } else { "DISABLED" },
            kind: "custom",
            toolkit: ToolkitOut { slug: c.toolkit.to_string(), logo },
            auth_scheme: c.auth_scheme,
            is_composio_managed: c.is_composio_managed,
            credentials: CredentialsOut {
                client_id: c.client_id,
                scopes: c.scopes,
                authorization_url: c.authorization_url,
                token_url: c.token_url,
                revocation_url: c.revocation_url,
            },
            tool_access_config: serde_json::json!({
                "tools_available_for_execution": [], "tools_for_connected_account_creation": []
            }),
            is_enabled_for_tool_router: c.is_enabled,
            created_at: iso(c.created_at),
            last_updated_at: iso(c.updated_at),
        }
    }
}
