//! Connected account lifecycle states, as Composio names them.

use serde::{Deserialize, Serialize};

/// The status enum of contract §7.1. Pollers treat `ACTIVE` as done, `FAILED`/`EXPIRED`/`REVOKED`
/// as final failures and everything else as "keep waiting".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AccountStatus {
    Initializing,
    Initiated,
    Active,
    Failed,
    Expired,
    Inactive,
    Revoked,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 7] =
        [Self::Initializing, Self::Initiated, Self::Active, Self::Failed, Self::Expired, Self::Inactive, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "INITIALIZING",
            Self::Initiated => "INITIATED",
            Self::Active => "ACTIVE",
            Self::Failed => "FAILED",
            Self::Expired => "EXPIRED",
            Self::Inactive => "INACTIVE",
            Self::Revoked => "REVOKED",
        }
    }

    /// Parses the wire form, case-insensitively (query strings come from humans too).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}
