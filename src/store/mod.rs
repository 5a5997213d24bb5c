//! Storage behind one trait, so the PostgreSQL store and (later) an embedded SQLite store are
//! interchangeable and share one contract test suite.
//!
//! Every method that touches project data takes the caller's [`ProjectId`] and filters on it:
//! a key of project A can never read, change or detect project B's rows.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    AccountStatus, AccountType, AclConfig, AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug, acl::AclRule,
    session::SessionConfig,
};

/// What can go wrong below the service layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique constraint refused the write; the name says which rule.
    #[error("unique constraint `{0}` violated")]
    Conflict(String),
    /// A stored value did not map back to a domain value (a bug or manual tampering).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

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

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    AclChange,
    AccessDecision,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AclChange => "acl_change",
            Self::AccessDecision => "access_decision",
        }
    }
}

/// One audit entry of a connected account.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: i64,
    pub kind: AuditKind,
    pub api_key_id: Option<Uuid>,
    pub old_acl: Option<AclConfig>,
    pub new_acl: Option<AclConfig>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub allowed: Option<bool>,
    pub rule: Option<String>,
    pub created_at: DateTime<Utc>,
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A link found by its token hash, with everything the connect flow needs.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub project: ProjectId,
    pub token_hash: Vec<u8>,
    pub account: AccountRecord,
    pub auth_config: AuthConfigRecord,
    pub callback_url: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    /// The account was soft-deleted after the link was made.
    pub account_deleted: bool,
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
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Which column a sealed value lives in (for key rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    AuthConfigSecret,
    AccountTokens,
    StateVerifier,
}

/// One sealed value and the row that owns it (`owner` is also its associated data).
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub column: SealedColumn,
    /// Primary key of the row: an id, or the hex state hash.
    pub row: String,
    /// Associated data the value was sealed with.
    pub owner: String,
    pub value: String,
}

/// A connected account locked for a token refresh; dropping it releases the lock unchanged.
#[async_trait]
pub trait RefreshLease: Send {
    /// The account as read under the lock.
    fn account(&self) -> &AccountRecord;
    /// Stores a new token set and releases the lock.
    async fn save(self: Box<Self>, tokens_sealed: String, expires_at: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// Marks the account EXPIRED (refresh refused by the provider) and releases the lock.
    async fn expire(self: Box<Self>, reason: &str) -> StoreResult<()>;
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
}

/// Sort key of account listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderBy {
    #[default]
    CreatedAt,
    UpdatedAt,
}

/// Keyset position after which a page starts, plus the page number for `current_page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub page: i64,
    pub at: DateTime<Utc>,
    pub id: String,
}

impl Cursor {
    /// Opaque wire form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}|{}", self.page, self.at.timestamp_micros(), self.id))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let mut parts = text.splitn(3, '|');
        let page = parts.next()?.parse().ok().filter(|p| *p >= 1)?;
        let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = parts.next()?.to_owned();
        Some(Self { page, at, id })
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

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_items: i64,
    pub current_page: i64,
    pub next_cursor: Option<String>,
}

/// Changes to a connected account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub alias: Option<Option<String>>,
    pub acl: Option<AclConfig>,
}

/// The storage operations authlink needs. Implementations must enforce uniqueness in the
/// database and report it as [`StoreError::Conflict`] with the constraint's name.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates the project if needed and stores a new API key hash for it.
    async fn create_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<ProjectId>;
    /// First start: creates the project and this key only when the database holds no API key at
    /// all, atomically (two instances starting together bootstrap once). `true` when created.
    async fn bootstrap_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<bool>;
    /// The project and id of a (non-revoked) API key, found by hash.
    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>>;

    async fn insert_auth_config(&self, project: ProjectId, new: &NewAuthConfig) -> StoreResult<AuthConfigRecord>;
    async fn auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<AuthConfigRecord>>;
    async fn list_auth_configs(
        &self,
        project: ProjectId,
        filter: &AuthConfigFilter,
    ) -> StoreResult<Page<AuthConfigRecord>>;
    /// The newest enabled auth config of a toolkit, the default for links.
    async fn newest_enabled_auth_config(
        &self,
        project: ProjectId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<AuthConfigRecord>>;
    /// A session and the auth config a link for `toolkit` would use: the session's override for
    /// the toolkit when it is enabled, else the project's newest enabled one. Stores may answer
    /// in one round trip; this default composes the simpler methods.
    async fn link_context(
        &self,
        project: ProjectId,
        id: &SessionId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<(SessionRecord, Option<AuthConfigRecord>)>> {
        let Some(session) = self.session(project, id).await? else { return Ok(None) };
        let auth_config = match session.config.auth_configs.get(toolkit) {
            Some(ac) => self.auth_config(project, ac).await?.filter(|c| c.is_enabled),
            None => self.newest_enabled_auth_config(project, toolkit).await?,
        };
        Ok(Some((session, auth_config)))
    }
    /// Which of these toolkits the project has an auth config for (custom toolkits count as known).
    async fn toolkits_with_auth_configs(
        &self,
        project: ProjectId,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<ToolkitSlug>>;

    async fn insert_session(&self, project: ProjectId, session: &SessionRecord) -> StoreResult<()>;
    async fn session(&self, project: ProjectId, id: &SessionId) -> StoreResult<Option<SessionRecord>>;
    /// Replaces the config if the stored version is `expected_version`; returns the new record,
    /// or `None` when the session is gone or was changed concurrently.
    async fn update_session(
        &self,
        project: ProjectId,
        id: &SessionId,
        config: &SessionConfig,
        expected_version: i64,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, project: ProjectId, id: &SessionId) -> StoreResult<bool>;

    /// Writes the INITIATED account and its link atomically.
    async fn create_link(&self, project: ProjectId, link: &NewLink) -> StoreResult<AccountRecord>;
    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>>;
    /// Accounts (not deleted) among these ids.
    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>>;
    async fn list_accounts(&self, project: ProjectId, filter: &AccountFilter) -> StoreResult<Page<AccountRecord>>;
    /// Applies a patch; an ACL change is recorded in the audit trail in the same transaction,
    /// with the old ACL read under a row lock so concurrent changes chain correctly.
    async fn update_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        patch: &AccountPatch,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<Option<AccountRecord>>;
    /// The newest ACTIVE PRIVATE account of a user for each of these toolkits.
    async fn active_private_accounts(
        &self,
        project: ProjectId,
        user_id: &str,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<AccountRecord>>;
    /// Appends access decisions to the audit trail.
    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()>;
    /// An account's audit trail, newest first; the cursor's `id` is the last entry's id.
    async fn audit_log(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        limit: i64,
        after: Option<&Cursor>,
    ) -> StoreResult<Page<AuditRecord>>;
    /// Soft delete; `false` when there was nothing to delete.
    async fn delete_account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<bool>;

    /// A link by its token hash. Not project-scoped: the token is the capability.
    async fn link_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<LinkView>>;
    async fn insert_oauth_state(&self, state: &OAuthStateRecord) -> StoreResult<()>;
    async fn oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthStateRecord>>;
    /// Marks a state used; `false` when it already was (a replay or a race).
    async fn consume_oauth_state(&self, state_hash: &[u8]) -> StoreResult<bool>;
    /// INITIATED → ACTIVE with the sealed tokens, and the link consumed, atomically. `false` when
    /// the account was no longer INITIATED, or the link was already consumed or has expired.
    async fn complete_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// INITIATED → FAILED with a reason, and the link consumed.
    async fn fail_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        reason: &str,
    ) -> StoreResult<bool>;
    /// Persists EXPIRED on INITIATED accounts whose link ran out; returns how many.
    async fn expire_stale_initiations(&self) -> StoreResult<u64>;
    /// Locks an account for a token refresh (a row lock held until the lease ends).
    async fn begin_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
    ) -> StoreResult<Option<Box<dyn RefreshLease>>>;
    /// Every sealed value in the database, for key rotation.
    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>>;
    /// Replaces a sealed value if it is still `old.value`.
    async fn replace_sealed(&self, old: &SealedValue, new_value: &str) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor {
            page: 3,
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "ca_x|y".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("!!!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("0|1|x")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1|nope|x")), None);
    }
}
