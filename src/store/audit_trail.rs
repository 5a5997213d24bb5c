//! The audit trail's values: what an entry records ([`AuditKind`]), what it is about
//! ([`AuditSubject`]), the event a store writes in the transaction of the change
//! ([`AuditEvent`], with one constructor per kind), and an entry as read back ([`AuditRecord`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ApiKeyId;
use crate::domain::{AclConfig, AuthConfigId, ConnectedAccountId};

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// A SHARED account's ACL changed (old and new ACL, the acting key).
    AclChange,
    /// A SHARED-account access decision made while resolving a session's accounts.
    AccessDecision,
    /// `DELETE connected_accounts/{id}` (the acting key); its sealed tokens were erased with it.
    AccountDeleted,
    /// New sealed tokens stored: a link completed or a refresh saved (no key: authlink did it).
    AccountCredentialsUpdated,
    /// The provider refused a refresh (the grant was revoked or lapsed): the account is EXPIRED.
    AccountExpired,
    /// `POST auth_configs` (the acting key; toolkit, name and endpoints in `details`).
    AuthConfigCreated,
    /// An API key was created (`authlink create-api-key` or the first start; no acting key).
    ApiKeyCreated,
    /// An API key was revoked (the acting key through the API; none from the CLI).
    ApiKeyRevoked,
}

impl AuditKind {
    const ALL: [Self; 8] = [
        Self::AclChange,
        Self::AccessDecision,
        Self::AccountDeleted,
        Self::AccountCredentialsUpdated,
        Self::AccountExpired,
        Self::AuthConfigCreated,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AclChange => "acl_change",
            Self::AccessDecision => "access_decision",
            Self::AccountDeleted => "account_deleted",
            Self::AccountCredentialsUpdated => "account_credentials_updated",
            Self::AccountExpired => "account_expired",
            Self::AuthConfigCreated => "auth_config_created",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
        }
    }

    /// The stored name back; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What an audit event is about: `subject_type`/`subject_id` of its row.
#[derive(Debug, Clone, Copy)]
pub enum AuditSubject<'a> {
    Account(&'a ConnectedAccountId),
    AuthConfig(&'a AuthConfigId),
    ApiKey(Uuid),
}

impl AuditSubject<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Account(_) => "connected_account",
            Self::AuthConfig(_) => "auth_config",
            Self::ApiKey(_) => "api_key",
        }
    }

    pub fn id(&self) -> String {
        match self {
            Self::Account(id) => id.to_string(),
            Self::AuthConfig(id) => id.to_string(),
            Self::ApiKey(id) => id.to_string(),
        }
    }

    /// The `connected_account_id` of the row: set for account events only.
    pub fn account(&self) -> Option<&str> {
        match self {
            Self::Account(id) => Some(id.as_str()),
            Self::AuthConfig(_) | Self::ApiKey(_) => None,
        }
    }
}

/// A change to record in the audit trail, written by the store in the change's own transaction.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub kind: AuditKind,
    pub subject: AuditSubject<'a>,
    /// The API key that made the change; `None` when authlink did it (refresh, completion, CLI).
    pub actor: Option<ApiKeyId>,
    pub details: Option<serde_json::Value>,
}

/// The `api_key_created` event of a new key (no actor: keys are made by the CLI or the first
/// start). `details` has the key's hint (its last four characters), never the key.
pub fn key_created(key: Uuid, hint: &str) -> AuditEvent<'static> {
    AuditEvent {
        kind: AuditKind::ApiKeyCreated,
        subject: AuditSubject::ApiKey(key),
        actor: None,
        details: Some(serde_json::json!({ "hint": hint })),
    }
}

/// The `api_key_revoked` event, with the key that revoked it (`None` from the CLI).
pub fn key_revoked(key: Uuid, actor: Option<ApiKeyId>) -> AuditEvent<'static> {
    AuditEvent { kind: AuditKind::ApiKeyRevoked, subject: AuditSubject::ApiKey(key), actor, details: None }
}

/// The `account_credentials_updated` event: new tokens from `source` (`link` or `refresh`).
pub fn credentials_updated<'a>(account: &'a ConnectedAccountId, source: &str) -> AuditEvent<'a> {
    AuditEvent {
        kind: AuditKind::AccountCredentialsUpdated,
        subject: AuditSubject::Account(account),
        actor: None,
        details: Some(serde_json::json!({ "source": source })),
    }
}

/// The `account_expired` event: the provider refused a refresh, for `reason`.
pub fn account_expired<'a>(account: &'a ConnectedAccountId, reason: &str) -> AuditEvent<'a> {
    AuditEvent {
        kind: AuditKind::AccountExpired,
        subject: AuditSubject::Account(account),
        actor: None,
        details: Some(serde_json::json!({ "reason": reason })),
    }
}

/// One audit entry of a connected account.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: i64,
    pub kind: AuditKind,
    /// Kind-specific facts (`account_credentials_updated`: `{"source": "link" | "refresh"}`).
    pub details: Option<serde_json::Value>,
    pub api_key_id: Option<Uuid>,
    pub old_acl: Option<AclConfig>,
    pub new_acl: Option<AclConfig>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub allowed: Option<bool>,
    pub rule: Option<String>,
    pub created_at: DateTime<Utc>,
}
