//! The effective configuration of a tool-router session, as stored (jsonb) and echoed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AuthConfigId, ConnectedAccountId, ToolkitSlug};

/// Which toolkits a session may use: an allow list or a deny list (mutually exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolkitFilter {
    Enable(Vec<ToolkitSlug>),
    Disable(Vec<ToolkitSlug>),
}

/// `manage_connections`, with the response's naming (`enabled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManageConnections {
    pub enabled: bool,
    /// Already checked against the allowlist when it was set.
    pub callback_url: Option<String>,
    pub enable_wait_for_connections: bool,
    pub enable_connection_removal: bool,
}

impl Default for ManageConnections {
    fn default() -> Self {
        Self { enabled: true, callback_url: None, enable_wait_for_connections: false, enable_connection_removal: true }
    }
}

/// `multi_account`: more than one account per toolkit in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiAccount {
    pub enable: Option<bool>,
    pub max_accounts_per_toolkit: Option<u8>,
    pub require_explicit_selection: Option<bool>,
}

/// Everything about a session that authlink acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    pub toolkits: Option<ToolkitFilter>,
    #[serde(default)]
    pub auth_configs: BTreeMap<ToolkitSlug, AuthConfigId>,
    #[serde(default)]
    pub connected_accounts: BTreeMap<ToolkitSlug, Vec<ConnectedAccountId>>,
    #[serde(default)]
    pub manage_connections: ManageConnections,
    pub multi_account: Option<MultiAccount>,
    /// Base for `redirect_url` instead of `AUTHLINK_PUBLIC_URL`, without trailing slash.
    pub link_url_overwrite: Option<String>,
}

impl SessionConfig {
    /// Whether the session's toolkit filter lets this toolkit through (no filter: all do).
    pub fn toolkit_enabled(&self, slug: &ToolkitSlug) -> bool {
        match &self.toolkits {
            None => true,
            Some(ToolkitFilter::Enable(list)) => list.contains(slug),
            Some(ToolkitFilter::Disable(list)) => !list.contains(slug),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> ToolkitSlug {
        ToolkitSlug::parse(s).unwrap()
    }

    #[test]
    fn toolkit_filter() {
        let mut c = SessionConfig::default();
        assert!(c.toolkit_enabled(&slug("github")));
        c.toolkits = Some(ToolkitFilter::Enable(vec![slug("github")]));
        assert!(c.toolkit_enabled(&slug("github")));
        assert!(!c.toolkit_enabled(&slug("slack")));
        c.toolkits = Some(ToolkitFilter::Disable(vec![slug("github")]));
        assert!(!c.toolkit_enabled(&slug("github")));
        assert!(c.toolkit_enabled(&slug("slack")));
    }
}
