//! The webhook event types of a connected account's life, in Composio's namespace
//! (`composio.connected_account.*`). `expired` is the one Composio sends itself; the others are
//! authlink's, named the same way so one subscription and one verifier serve both.

use serde::{Deserialize, Serialize};

/// What happened to a connected account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A link was created: the account is INITIATED.
    #[serde(rename = "composio.connected_account.initiated")]
    Initiated,
    /// The user finished the flow: the account is ACTIVE.
    #[serde(rename = "composio.connected_account.active")]
    Active,
    /// The flow ended without a connection (denied consent, provider error, exchange failure).
    #[serde(rename = "composio.connected_account.failed")]
    Failed,
    /// The account needs the user again: an unfinished link ran out, or the provider refused
    /// the refresh token.
    #[serde(rename = "composio.connected_account.expired")]
    Expired,
    /// A refresh was refused by the provider (`invalid_grant`); followed by `expired`.
    #[serde(rename = "composio.connected_account.refresh_failed")]
    RefreshFailed,
    /// An EXPIRED or FAILED account is ACTIVE again (a reconnect).
    #[serde(rename = "composio.connected_account.recovered")]
    Recovered,
    /// The account's grant was revoked.
    #[serde(rename = "composio.connected_account.revoked")]
    Revoked,
    /// The account was deleted.
    #[serde(rename = "composio.connected_account.deleted")]
    Deleted,
    /// The account was disabled.
    #[serde(rename = "composio.connected_account.disabled")]
    Disabled,
    /// A disabled account was enabled again.
    #[serde(rename = "composio.connected_account.enabled")]
    Enabled,
}

impl EventType {
    pub const ALL: [Self; 10] = [
        Self::Initiated,
        Self::Active,
        Self::Failed,
        Self::Expired,
        Self::RefreshFailed,
        Self::Recovered,
        Self::Revoked,
        Self::Deleted,
        Self::Disabled,
        Self::Enabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "composio.connected_account.initiated",
            Self::Active => "composio.connected_account.active",
            Self::Failed => "composio.connected_account.failed",
            Self::Expired => "composio.connected_account.expired",
            Self::RefreshFailed => "composio.connected_account.refresh_failed",
            Self::Recovered => "composio.connected_account.recovered",
            Self::Revoked => "composio.connected_account.revoked",
            Self::Deleted => "composio.connected_account.deleted",
            Self::Disabled => "composio.connected_account.disabled",
            Self::Enabled => "composio.connected_account.enabled",
        }
    }

    /// What `GET webhook_subscriptions/event_types` says of it.
    pub fn description(self) -> &'static str {
        match self {
            Self::Initiated => "A connection was initiated: a link was created and awaits the user.",
            Self::Active => "A connection completed and is ACTIVE.",
            Self::Failed => "A connection attempt failed (consent denied, provider error or token exchange failure).",
            Self::Expired => "A connected account expired and needs re-authentication.",
            Self::RefreshFailed => "The provider refused to refresh a connected account's tokens.",
            Self::Recovered => "An EXPIRED or FAILED connected account is ACTIVE again after a reconnect.",
            Self::Revoked => "A connected account's access was revoked.",
            Self::Deleted => "A connected account was deleted.",
            Self::Disabled => "A connected account was disabled.",
            Self::Enabled => "A disabled connected account was enabled again.",
        }
    }

    /// The stored or requested name back; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::EventType;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
            assert!(e.as_str().starts_with("composio.connected_account."));
        }
        assert_eq!(EventType::parse("composio.trigger.message"), None);
    }
}
