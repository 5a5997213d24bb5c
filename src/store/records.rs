//! The values stores read and write: records of each resource, what creation writes, and the
//! changes a patch makes. Shared by both backends; nothing here knows SQL.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::paging::{Cursor, OrderBy};
use crate::domain::{
    AccountStatus, AccountType, AclConfig, AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug, acl::AclRule,
    session::SessionConfig,
};

/// Shown as `status_reason` of an INITIATED account whose link ran out (read as EXPIRED before
/// the sweeper persists it, and persisted with this text by the sweeper).
pub const EXPIRED_REASON: &str = "Connection initiation did not complete before the link expired";

/// A fresh project redirect key: 128 random bits as hex, the last segment of the project's OAuth
/// redirect URI (`{public}/oauth/callback/{key}`).
pub fn new_redirect_key() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The project an API key belongs to; the scope of every query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProjectId(pub Uuid);

/// The API key a request came with; recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyId(pub Uuid);

/// A SHARED-account access decision made while resolving a session's accounts.
#[derive(Debug, Clone)]
pub struct AccessDecision {
    pub account_id: ConnectedAccountId,
    pub user_id: String,
    pub session_id: SessionId,
    pub allowed: bool,
    pub rule: AclRule,
}

/// A stored auth config.
#[derive(Debug, Clone)]
pub struct AuthConfigRecord {
    pub id: AuthConfigId,
    pub toolkit: ToolkitSlug,
    pub name: String,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
    pub client_id: String,
    pub client_secret_sealed: Option<String>,
    pub scopes: Vec<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub is_enabled: bool,
    /// `client_secret_basic` / `client_secret_post`; `None` = the catalog's choice.
    pub client_auth: Option<String>,
    /// Expected `iss` of authorization responses; `None` = the authorization URL's origin.
    pub issuer: Option<String>,
    /// RFC 7009 revocation endpoint; `None` = the catalog's (if any).
    pub revocation_url: Option<String>,
    /// OAUTH1: the temporary-credentials endpoint; `None` = the catalog's.
    pub request_token_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Connected accounts (not deleted) using this config.
    pub no_of_connections: i64,
}

/// A stored tool-router session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: String,
    pub config: SessionConfig,
    pub config_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored connected account joined with what responses need of its auth config. `status` is
/// the effective status: an INITIATED account whose link expired reads as EXPIRED.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: ConnectedAccountId,
    pub user_id: String,
    pub toolkit: ToolkitSlug,
    pub auth_config_id: AuthConfigId,
    pub auth_scheme: String,
    pub auth_config_is_managed: bool,
    pub auth_config_is_disabled: bool,
    pub alias: Option<String>,
    pub account_type: AccountType,
    pub acl: Option<AclConfig>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub is_disabled: bool,
    /// The OAuth token set, sealed with the account id as associated data.
    pub tokens_sealed: Option<String>,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// The link's redirect URL while INITIATED, sealed with the account id as associated data.
    pub link_url_sealed: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A link found by its token hash, with everything the connect flow needs.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub project: ProjectId,
    /// The project's redirect key: which callback URI its authorization requests name.
    pub redirect_key: Option<String>,
    pub token_hash: Vec<u8>,
    pub account: AccountRecord,
    pub auth_config: AuthConfigRecord,
    pub callback_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    /// The account was soft-deleted after the link was made.
    pub account_deleted: bool,
    /// A reconnect link: the flow updates the existing account in place.
    pub reconnect: bool,
}

/// What a reconnect link writes: only the link, for an existing account.
#[derive(Debug, Clone)]
pub struct NewReconnectLink {
    pub account_id: ConnectedAccountId,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub callback_url: Option<String>,
    pub session_id: Option<SessionId>,
}

/// How storing a reconnect's tokens ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnected {
    /// The account is ACTIVE with the new tokens; it was in this status before.
    Done(AccountStatus),
    /// The link was consumed or expired meanwhile, or the account deleted: nothing stored.
    Gone,
}

/// A single-use OAuth `state`, stored by hash and bound to a browser cookie.
#[derive(Debug, Clone)]
pub struct OAuthStateRecord {
    pub state_hash: Vec<u8>,
    pub project: ProjectId,
    pub link_token_hash: Vec<u8>,
    pub account_id: ConnectedAccountId,
    pub binding_hash: Vec<u8>,
    pub verifier_sealed: Option<String>,
    /// The connection fields the authorization request's endpoints were filled in with, sealed
    /// for the account: the callback exchanges the code where the sign-in started.
    pub fields_sealed: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What the callback stores when the project's completion is user-bound.
#[derive(Debug, Clone)]
pub struct DeferredCompletion {
    pub account: ConnectedAccountId,
    pub link_token_hash: Vec<u8>,
    pub tokens_sealed: String,
    pub token_expires_at: Option<DateTime<Utc>>,
    /// SHA-256 of the `session_uri` handed to the verifier.
    pub session_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// How spending a completion session ended.
#[derive(Debug, Clone)]
pub enum Redemption {
    /// Unknown in this project, already used, expired, or its account is no longer pending.
    Unknown,
    /// The `user_id` was not the account's: the account is now FAILED.
    Mismatch(ConnectedAccountId),
    /// The account is now ACTIVE (read it back like any other; its tokens are readable now).
    Completed(ConnectedAccountId),
}

/// Everything link creation writes: an INITIATED account and its single-use link.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub account_id: ConnectedAccountId,
    pub user_id: String,
    pub toolkit: ToolkitSlug,
    pub auth_config_id: AuthConfigId,
    pub alias: Option<String>,
    pub account_type: AccountType,
    pub acl: Option<AclConfig>,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub callback_url: Option<String>,
    pub session_id: Option<SessionId>,
    /// The link's redirect URL, sealed with the account id: shown as `state.val.redirectUrl`
    /// while the account is INITIATED.
    pub link_url_sealed: Option<String>,
}

impl NewAuthConfig {
    /// What `auth_config_created` records of it: never the client secret, only what an
    /// operator checks (the toolkit, the name, the endpoints and how the client authenticates).
    pub fn audit_details(&self) -> serde_json::Value {
        serde_json::json!({
            "toolkit": self.toolkit.as_str(),
            "name": self.name,
            "client_id": self.client_id,
            "scopes": self.scopes,
            "authorization_url": self.authorization_url,
            "token_url": self.token_url,
            "issuer": self.issuer,
            "client_auth": self.client_auth,
            "revocation_url": self.revocation_url,
        })
    }
}

/// A new auth config (client secret already sealed).
#[derive(Debug, Clone)]
pub struct NewAuthConfig {
    pub id: AuthConfigId,
    pub toolkit: ToolkitSlug,
    pub name: String,
    pub auth_scheme: String,
    pub client_id: String,
    pub client_secret_sealed: Option<String>,
    pub scopes: Vec<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub client_auth: Option<String>,
    pub issuer: Option<String>,
    pub revocation_url: Option<String>,
    /// OAUTH1: the temporary-credentials endpoint override.
    pub request_token_url: Option<String>,
}

impl OrderBy {
    /// The sort key of an account: the keyset position its cursor records.
    pub fn of(self, account: &AccountRecord) -> DateTime<Utc> {
        match self {
            Self::CreatedAt => account.created_at,
            Self::UpdatedAt => account.updated_at,
        }
    }
}

/// Filters of `GET connected_accounts`; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub user_ids: Vec<String>,
    pub toolkits: Vec<ToolkitSlug>,
    pub statuses: Vec<AccountStatus>,
    pub auth_config_ids: Vec<AuthConfigId>,
    pub ids: Vec<ConnectedAccountId>,
    /// `None` means both types (`account_type=ALL`).
    pub account_type: Option<AccountType>,
    pub order_by: OrderBy,
    pub descending: bool,
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// Filters of `GET auth_configs`.
#[derive(Debug, Clone, Default)]
pub struct AuthConfigFilter {
    pub toolkit: Option<ToolkitSlug>,
    pub is_composio_managed: Option<bool>,
    pub show_disabled: bool,
    pub search: Option<String>,
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// Changes to a connected account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub alias: Option<Option<String>>,
    pub acl: Option<AclConfig>,
}

/// Changes to an auth config; `None` keeps a field. The client secret arrives sealed.
#[derive(Debug, Clone, Default)]
pub struct AuthConfigPatch {
    pub name: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub revocation_url: Option<String>,
    pub issuer: Option<String>,
    pub client_auth: Option<String>,
}

/// How long rows outlive their use (issue 11 item 4); see `service::retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Links and OAuth states are purged this long after they were consumed or expired.
    pub link_grace: chrono::Duration,
    /// Soft-deleted sessions and accounts are purged this long after their deletion.
    pub deleted_after: chrono::Duration,
    /// Audit entries are purged this long after they were written.
    pub audit_after: chrono::Duration,
    /// Rows one delete statement removes at most; a purge repeats it until less come back.
    pub batch: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            link_grace: chrono::Duration::days(1),
            deleted_after: chrono::Duration::days(30),
            audit_after: chrono::Duration::days(365),
            batch: 1000,
        }
    }
}

/// An API key as operators see it: never the key nor its hash, only the hint (its last four
/// characters) to tell keys apart.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub project: ProjectId,
    pub project_name: String,
    pub name: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most about once a minute per key, so it lags real use by up to that much.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where a key stands: what listings show and what the API-key check enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

impl ApiKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
        }
    }
}

/// The cut-off times of a purge run at `now`: rows older than these go.
#[derive(Debug, Clone, Copy)]
pub struct RetentionCutoffs {
    pub links: DateTime<Utc>,
    pub deleted: DateTime<Utc>,
    pub audit: DateTime<Utc>,
}

impl RetentionPolicy {
    pub fn cutoffs(&self, now: DateTime<Utc>) -> RetentionCutoffs {
        RetentionCutoffs {
            links: now - self.link_grace,
            deleted: now - self.deleted_after,
            audit: now - self.audit_after,
        }
    }
}

/// How many rows a purge removed, per table (cascaded rows not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub oauth_states: u64,
    pub links: u64,
    pub sessions: u64,
    pub accounts: u64,
    pub audit_events: u64,
    /// Webhook events (their deliveries and attempts go with them by cascade).
    pub webhook_events: u64,
}

impl PurgeCounts {
    pub fn total(&self) -> u64 {
        self.oauth_states + self.links + self.sessions + self.accounts + self.audit_events + self.webhook_events
    }
}

impl ApiKeyRecord {
    /// Revocation wins over expiry: a revoked key never comes back.
    pub fn status(&self, now: DateTime<Utc>) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
    }

    /// The form a key is shown in once created: its last four characters.
    pub fn masked(&self) -> String {
        format!("****{}", self.hint)
    }
}

/// What creating a named key writes.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key_hash: Vec<u8>,
    pub hint: String,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What authenticating a request needs of a key that is not revoked.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyAuth {
    pub id: ApiKeyId,
    pub project: ProjectId,
    pub expires_at: Option<DateTime<Utc>>,
}
