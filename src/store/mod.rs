//! Storage behind a handful of small traits, one per resource, so the PostgreSQL store and the
//! embedded SQLite store are interchangeable and pass one test suite.
//!
//! Each backend is a folder with one file per resource (`postgres/sessions.rs`,
//! `sqlite/sessions.rs`, …): the SQL dialects stay separate. What is not SQL is written once
//! here: the records ([`records`]), paging and cursors ([`paging`]), row parsing and the shared
//! column lists (`rows`), sealed-value addressing ([`sealed`]) and the typed errors ([`error`]).
//!
//! Every method that touches project data takes the caller's [`ProjectId`] and filters on it:
//! a key of project A can never read, change or detect project B's rows. Uniqueness is enforced
//! by the database and reported as [`StoreError::Conflict`] with the [`Constraint`] it broke.

pub mod account_fields;
pub mod audit_trail;
pub mod batch;
pub mod branding;
pub mod counted;
pub mod error;
pub mod paging;
pub mod postgres;
pub mod records;
pub(crate) mod rows;
pub mod sealed;
pub mod sqlite;
pub(crate) mod webhook_rows;
pub mod webhooks;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::{
    account_fields::AccountFieldsStore,
    audit_trail::*,
    branding::{BrandingPatch, BrandingStore, LinkBranding, LogoMeta, NewLogo},
    error::{Constraint, StoreError, StoreResult},
    paging::{Cursor, OrderBy, Page},
    records::*,
    sealed::{SealedColumn, SealedValue},
    webhooks::*,
};
use crate::domain::{AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug, session::SessionConfig};

/// Projects and their API keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates the project if needed and stores a new API key hash for it.
    async fn create_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<ProjectId>;
    /// First start: creates the project and this key only when the database holds no API key at
    /// all, atomically (two instances starting together bootstrap once). `true` when created.
    async fn bootstrap_api_key(&self, project_name: &str, key_hash: &[u8], hint: &str) -> StoreResult<bool>;
    /// The last segment of the project's OAuth redirect URI; `None` for the one project that uses
    /// the shared `{public}/oauth/callback` (or an unknown project).
    async fn redirect_key(&self, project: ProjectId) -> StoreResult<Option<String>>;
    /// The project and id of a (non-revoked) API key, found by hash.
    async fn project_for_key(&self, key_hash: &[u8]) -> StoreResult<Option<(ProjectId, ApiKeyId)>>;
    /// Creates the project if needed and a named (optionally expiring) key for it: the CLI's
    /// `api-key create`.
    async fn create_project_api_key(&self, project_name: &str, new: &NewApiKey) -> StoreResult<ApiKeyRecord>;
    /// A new key in an existing project: the admin API's create.
    async fn add_api_key(&self, project: ProjectId, new: &NewApiKey) -> StoreResult<ApiKeyRecord>;
    /// The project of this name, if any.
    async fn project_by_name(&self, name: &str) -> StoreResult<Option<ProjectId>>;
    /// The keys of one project (`None`: of every project, for the operator's CLI), revoked ones
    /// included, newest first.
    async fn list_api_keys(&self, project: Option<ProjectId>) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key (of `project` when given); revoking twice keeps the first time. `None` when
    /// there is no such key in that scope.
    async fn revoke_api_key(
        &self,
        project: Option<ProjectId>,
        id: ApiKeyId,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<Option<ApiKeyRecord>>;
    /// A key that is not revoked, by hash, with its expiry: what a request's key check needs.
    async fn api_key_auth(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyAuth>>;
    /// Records that a key was used at `at`, unless it was recorded under a minute before: many
    /// processes touching one key write about once a minute between them.
    async fn touch_api_key(&self, id: ApiKeyId, at: DateTime<Utc>) -> StoreResult<()>;
}

/// Tool-router sessions (soft-deleted).
#[async_trait]
pub trait SessionStore: Send + Sync {
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
}

/// Auth configs: which OAuth client a toolkit's links use.
#[async_trait]
pub trait AuthConfigStore: Send + Sync {
    /// Inserts the config and its `auth_config_created` audit entry (by `actor`) in one transaction.
    async fn insert_auth_config(
        &self,
        project: ProjectId,
        new: &NewAuthConfig,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<AuthConfigRecord>;
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
    /// Which of these toolkits the project has an auth config for (custom toolkits count as known).
    async fn toolkits_with_auth_configs(
        &self,
        project: ProjectId,
        toolkits: &[ToolkitSlug],
    ) -> StoreResult<Vec<ToolkitSlug>>;
}

/// Connected accounts: reads, listings, patches, soft deletes and the refresh lock.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn account(&self, project: ProjectId, id: &ConnectedAccountId) -> StoreResult<Option<AccountRecord>>;
    /// Accounts (not deleted) among these ids.
    async fn accounts_by_ids(&self, project: ProjectId, ids: &[ConnectedAccountId]) -> StoreResult<Vec<AccountRecord>>;
    async fn list_accounts(&self, project: ProjectId, filter: &AccountFilter) -> StoreResult<Page<AccountRecord>>;
    /// Applies a patch; an ACL change is recorded in the audit trail in the same transaction,
    /// with the old ACL read under a lock so concurrent changes chain correctly.
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
    /// Soft delete: erases the sealed tokens at once and records `account_deleted` (by `actor`),
    /// in one transaction; `false` when there was nothing to delete (and nothing is recorded).
    /// The row itself is purged by retention (`MaintenanceStore::purge`).
    async fn delete_account(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        actor: Option<ApiKeyId>,
    ) -> StoreResult<bool>;
    /// Takes the account's refresh lock, waiting while another holder has it, so one refresh
    /// of an account runs at a time (PostgreSQL: a row lock held by an open transaction;
    /// SQLite: a lease on the row, see `sqlite/refresh.rs`). `None` when the account is gone.
    async fn begin_refresh(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
    ) -> StoreResult<Option<Box<dyn RefreshLease>>>;
}

/// A connected account locked for a token refresh; dropping it releases the lock unchanged.
#[async_trait]
pub trait RefreshLease: Send {
    /// The account as read under the lock.
    fn account(&self) -> &AccountRecord;
    /// Stores a new token set (recording `account_credentials_updated`) and releases the lock.
    async fn save(self: Box<Self>, tokens_sealed: String, expires_at: Option<DateTime<Utc>>) -> StoreResult<()>;
    /// Marks the account EXPIRED (refresh refused by the provider; recorded as `account_expired`)
    /// and releases the lock.
    async fn expire(self: Box<Self>, reason: &str) -> StoreResult<()>;
}

/// Links and the OAuth states of their authorization requests: the connect flow's storage.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// A session and the auth config a link for `toolkit` would use: the session's override for
    /// the toolkit when it is enabled, else the project's newest enabled one; in one round trip.
    async fn link_context(
        &self,
        project: ProjectId,
        id: &SessionId,
        toolkit: &ToolkitSlug,
    ) -> StoreResult<Option<(SessionRecord, Option<AuthConfigRecord>)>>;
    /// Writes the INITIATED account and its link atomically.
    async fn create_link(&self, project: ProjectId, link: &NewLink) -> StoreResult<AccountRecord>;
    /// A link by its token hash. Not project-scoped: the token is the capability.
    async fn link_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<LinkView>>;
    async fn insert_oauth_state(&self, state: &OAuthStateRecord) -> StoreResult<()>;
    async fn oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthStateRecord>>;
    /// Marks a state used; `false` when it already was (a replay or a race).
    async fn consume_oauth_state(&self, state_hash: &[u8]) -> StoreResult<bool>;
    /// INITIATED → ACTIVE with the sealed tokens, and the link consumed, atomically, with an
    /// `account_credentials_updated` audit entry (no actor). `false` when
    /// the account was no longer INITIATED, or the link was already consumed or has expired.
    async fn complete_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// A reconnect link for an existing account (the account is not touched).
    async fn create_reconnect_link(&self, project: ProjectId, link: &NewReconnectLink) -> StoreResult<()>;
    /// A reconnect's callback, atomically: the link consumed, the account (whatever its status,
    /// not deleted) ACTIVE with the new tokens, alias, ACL and audit kept, an
    /// `account_credentials_updated` entry (`source: reconnect`), and the event: `recovered`
    /// when it was EXPIRED or FAILED, else `active`.
    async fn complete_reconnect(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        tokens_sealed: &str,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Reconnected>;
    /// INITIATED → FAILED with a reason, and the link consumed.
    async fn fail_link(
        &self,
        project: ProjectId,
        account: &ConnectedAccountId,
        link_token_hash: &[u8],
        reason: &str,
    ) -> StoreResult<bool>;
}

/// User-bound completion (Composio's OAuth callback verifier and `complete_auth`): the project's
/// verifier URL and the single-use completion sessions handed to it.
#[async_trait]
pub trait CompletionStore: Send + Sync {
    /// Sets (or with `None` clears) the verifier URL of the project named; `false` when there is
    /// no such project.
    async fn set_verifier_url(&self, project_name: &str, url: Option<&str>) -> StoreResult<bool>;
    /// The project's verifier URL; `None` when completion is not user-bound.
    async fn verifier_url(&self, project: ProjectId) -> StoreResult<Option<String>>;
    /// The callback's half of a user-bound completion, atomically: the link consumed, the sealed
    /// tokens stored on the still-INITIATED account (unreadable until ACTIVE), its initiation
    /// deadline moved to the session's expiry, and the session inserted. `false` as
    /// [`LinkStore::complete_link`]: the account was no longer INITIATED, or the link was
    /// consumed or has expired.
    async fn defer_link(&self, project: ProjectId, deferred: &DeferredCompletion) -> StoreResult<bool>;
    /// Spends a completion session once: ACTIVE when `user_id` is the account's user, FAILED
    /// (tokens dropped) when it is not. Concurrent calls: one redeems, the others find it used.
    async fn redeem_completion(
        &self,
        project: ProjectId,
        session_hash: &[u8],
        user_id: &str,
        mismatch_reason: &str,
    ) -> StoreResult<Redemption>;
}

/// The audit trail (table `audit_event`). Changes are recorded by the store method that makes
/// them, in its transaction: ACL changes by `update_account`, deletions by `delete_account`,
/// credentials by `complete_link` and refresh leases, auth configs and API keys at creation.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends access decisions to the audit trail.
    async fn record_access_decisions(&self, project: ProjectId, decisions: &[AccessDecision]) -> StoreResult<()>;
    /// An account's audit trail (every event with it as subject), newest first; the cursor's `id`
    /// is the last entry's id.
    async fn audit_log(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        limit: i64,
        after: Option<&Cursor>,
    ) -> StoreResult<Page<AuditRecord>>;
}

/// What runs outside requests: readiness, sweeps and key rotation.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool's state (no round trip).
    fn pool_stats(&self) -> PoolStats;
    /// Persists EXPIRED on INITIATED accounts whose link (or completion session) ran out,
    /// dropping the sealed tokens of an unredeemed user-bound completion; returns how many.
    async fn expire_stale_initiations(&self) -> StoreResult<u64>;
    /// Every sealed value in the database, for key rotation.
    async fn sealed_values(&self) -> StoreResult<Vec<SealedValue>>;
    /// Replaces a sealed value if it is still `old.value`.
    async fn replace_sealed(&self, old: &SealedValue, new_value: &str) -> StoreResult<bool>;
    /// Retention: deletes, in batches of `policy.batch` rows per statement, OAuth states and
    /// links used or expired before `now - link_grace`, sessions and accounts soft-deleted before
    /// `now - deleted_after` (an account's links, states and audit entries go with it by
    /// cascade; a session still named by a link waits for the link), and audit entries written
    /// before `now - audit_after`. Idempotent; concurrent purges (several processes on one
    /// PostgreSQL) skip each other's rows instead of waiting.
    async fn purge(&self, policy: &RetentionPolicy, now: DateTime<Utc>) -> StoreResult<PurgeCounts>;
}

/// The lifecycle of auth configs and connected accounts beyond creation (issue 12): enable,
/// disable, revoke, credential updates and deletion. Each method is one transaction (one
/// statement or an explicit one), so an event write can join it.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Sets an account's `is_disabled`; `None` when there is no such account (or it is deleted).
    async fn set_account_disabled(
        &self,
        project: ProjectId,
        id: &ConnectedAccountId,
        disabled: bool,
    ) -> StoreResult<Option<AccountRecord>>;
    /// ACTIVE or REVOKED → REVOKED with every sealed token erased (and a SQLite refresh lease
    /// dropped, so a refresh in flight cannot write tokens back); `false` when the account is
    /// gone or in another status.
    async fn revoke_account(&self, project: ProjectId, id: &ConnectedAccountId, reason: &str) -> StoreResult<bool>;
    /// Applies a patch to a live auth config; `None` when there is none.
    async fn update_auth_config(
        &self,
        project: ProjectId,
        id: &AuthConfigId,
        patch: &AuthConfigPatch,
    ) -> StoreResult<Option<AuthConfigRecord>>;
    /// Enables or disables a live auth config; `false` when there is none.
    async fn set_auth_config_enabled(&self, project: ProjectId, id: &AuthConfigId, enabled: bool) -> StoreResult<bool>;
    /// Soft-deletes a live auth config (its client secret erased) and every connected account
    /// using it (their tokens erased), in one transaction. `None` when there is no such config,
    /// else how many accounts went with it.
    async fn delete_auth_config(&self, project: ProjectId, id: &AuthConfigId) -> StoreResult<Option<u64>>;
    /// Every toolkit the project has a live auth config for, in slug order.
    async fn auth_config_toolkits(&self, project: ProjectId) -> StoreResult<Vec<ToolkitSlug>>;
}

/// Everything authlink stores; what the services hold as `Arc<dyn Store>`.
pub trait Store:
    KeyStore
    + SessionStore
    + AuthConfigStore
    + AccountStore
    + LinkStore
    + CompletionStore
    + AuditStore
    + MaintenanceStore
    + LifecycleStore
    + IdempotencyStore
    + WebhookStore
    + BrandingStore
    + AccountFieldsStore
    + 'static
{
}

impl<T> Store for T where
    T: KeyStore
        + SessionStore
        + AuthConfigStore
        + AccountStore
        + LinkStore
        + CompletionStore
        + AuditStore
        + MaintenanceStore
        + LifecycleStore
        + IdempotencyStore
        + WebhookStore
        + BrandingStore
        + AccountFieldsStore
        + 'static
{
}

/// What [`IdempotencyStore::claim_idempotency_key`] found for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new, or its record lapsed (past its lifetime, or abandoned by a process that
    /// died mid-request): this request runs, and must finish or release the key.
    Claimed,
    /// Another request with this key is running.
    InProgress,
    /// The key was used with another request (another fingerprint).
    Mismatch,
    /// The first request finished: its status and sealed response.
    Done { status: u16, response_sealed: String },
}

/// `Idempotency-Key` records, shared by every process on the database. Keys are addressed by a
/// hash that includes the project, and every query filters on the project as well.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key_hash` for a request with this `fingerprint` at `now`, holding it until
    /// `locked_until`; a record created before `lapsed_before` counts as absent. Atomic: of
    /// concurrent claims, one gets [`IdempotencyClaim::Claimed`].
    async fn claim_idempotency_key(
        &self,
        project: ProjectId,
        key_hash: &[u8],
        fingerprint: &[u8],
        now: DateTime<Utc>,
        locked_until: DateTime<Utc>,
        lapsed_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim>;
    /// Stores the response of the request holding the claim.
    async fn finish_idempotency_key(
        &self,
        project: ProjectId,
        key_hash: &[u8],
        status: u16,
        response_sealed: &str,
    ) -> StoreResult<()>;
    /// Drops a claim whose request changed nothing (it failed), so a retry runs afresh.
    async fn release_idempotency_key(&self, project: ProjectId, key_hash: &[u8]) -> StoreResult<()>;
    /// Deletes records created before `before`; how many.
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// The claim a stored record means for a request with `fingerprint` (both backends).
fn idempotency_claim(
    stored: &[u8],
    fingerprint: &[u8],
    status: Option<i32>,
    sealed: Option<String>,
) -> StoreResult<IdempotencyClaim> {
    if stored != fingerprint {
        return Ok(IdempotencyClaim::Mismatch);
    }
    match (status, sealed) {
        (None, _) => Ok(IdempotencyClaim::InProgress),
        (Some(status), Some(response_sealed)) => {
            let status = u16::try_from(status).map_err(|_| error::corrupt(format!("idempotency status {status}")))?;
            Ok(IdempotencyClaim::Done { status, response_sealed })
        }
        (Some(_), None) => Err(error::corrupt("idempotency record with a status and no response")),
    }
}

/// A connection pool's state, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections (in use or idle).
    pub size: u32,
    pub idle: u32,
    pub max: u32,
    /// Requests waiting for a connection.
    pub waiting: u32,
}
