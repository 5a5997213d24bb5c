//! Row mapping written once for both backends: the column lists the stores select, and the
//! parsers that turn a row into a record. A backend only says how it reads a timestamp, a uuid,
//! JSON or a list of strings (PostgreSQL natively, SQLite from text) by implementing
//! [`Columns`] for its row type; adding a column means touching its select and parser here, and
//! each backend's insert or update.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{
    AccountRecord, AuditKind, AuditRecord, AuthConfigRecord, LinkView, OAuthStateRecord, ProjectId, SessionRecord,
    StoreResult, error::corrupt, records::EXPIRED_REASON,
};
use crate::domain::{AccountStatus, AccountType, AuthConfigId, ConnectedAccountId, SessionId, ToolkitSlug};

/// Typed reads of one column, the only thing the shared parsers need from a backend's row.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;
    fn opt_flag(&self, column: &str) -> StoreResult<Option<bool>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn bytes(&self, column: &str) -> StoreResult<Vec<u8>>;
    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>>;
    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>>;
    fn uuid(&self, column: &str) -> StoreResult<Uuid>;
    fn opt_uuid(&self, column: &str) -> StoreResult<Option<Uuid>>;
    fn opt_json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<Option<T>>;
    fn strings(&self, column: &str) -> StoreResult<Vec<String>>;

    fn json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<T> {
        self.opt_json(column)?.ok_or_else(|| corrupt(format!("{column} is null")))
    }
}

/// The reads both drivers decode natively, for a backend's `impl Columns`.
macro_rules! native_columns {
    () => {
        fn text(&self, column: &str) -> $crate::store::StoreResult<String> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_text(&self, column: &str) -> $crate::store::StoreResult<Option<String>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn flag(&self, column: &str) -> $crate::store::StoreResult<bool> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_flag(&self, column: &str) -> $crate::store::StoreResult<Option<bool>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn int(&self, column: &str) -> $crate::store::StoreResult<i64> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn opt_int(&self, column: &str) -> $crate::store::StoreResult<Option<i64>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
        fn bytes(&self, column: &str) -> $crate::store::StoreResult<Vec<u8>> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
    };
}
pub(crate) use native_columns;

/// The effective status of account `a`: an INITIATED account whose link ran out reads as
/// EXPIRED. `now` is the SQL of the current time (`now()`, or a bound parameter on SQLite).
pub(crate) fn effective_status(now: &str) -> String {
    format!("case when a.status = 'INITIATED' and a.initiation_expires_at < {now} then 'EXPIRED' else a.status end")
}

/// The account select [`account`] parses, joined with its auth config.
pub(crate) fn account_select(now: &str) -> String {
    let status = effective_status(now);
    format!(
        "select a.id, a.user_id, a.toolkit, a.auth_config_id, c.auth_scheme, c.is_composio_managed,
                not c.is_enabled as auth_config_is_disabled, a.alias, a.account_type, a.acl,
                {status} as status,
                case when ({status}) = 'EXPIRED' and a.status = 'INITIATED'
                     then '{EXPIRED_REASON}' else a.status_reason end as status_reason,
                a.is_disabled, a.tokens_sealed, a.token_expires_at, a.link_url_sealed, a.created_at, a.updated_at,
                a.deleted_at is not null as deleted
         from connected_account a join auth_config c on c.id = a.auth_config_id"
    )
}

pub(crate) fn account(row: &impl Columns) -> StoreResult<AccountRecord> {
    let account_type = row.text("account_type")?;
    let status = row.text("status")?;
    Ok(AccountRecord {
        id: ConnectedAccountId::parse(&row.text("id")?).map_err(corrupt)?,
        user_id: row.text("user_id")?,
        toolkit: ToolkitSlug::parse(&row.text("toolkit")?).map_err(corrupt)?,
        auth_config_id: AuthConfigId::parse(&row.text("auth_config_id")?).map_err(corrupt)?,
        auth_scheme: row.text("auth_scheme")?,
        auth_config_is_managed: row.flag("is_composio_managed")?,
        auth_config_is_disabled: row.flag("auth_config_is_disabled")?,
        alias: row.opt_text("alias")?,
        account_type: AccountType::parse(&account_type).ok_or_else(|| corrupt(&account_type))?,
        acl: row.opt_json("acl")?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt(&status))?,
        status_reason: row.opt_text("status_reason")?,
        is_disabled: row.flag("is_disabled")?,
        tokens_sealed: row.opt_text("tokens_sealed")?,
        token_expires_at: row.opt_time("token_expires_at")?,
        link_url_sealed: row.opt_text("link_url_sealed")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

const AUTH_CONFIG_COLUMNS: &str = "c.id, c.toolkit, c.name, c.auth_scheme, c.is_composio_managed, c.client_id,
        c.client_secret_sealed, c.scopes, c.authorization_url, c.token_url, c.is_enabled, c.client_auth, c.issuer,
        c.revocation_url, c.request_token_url, c.created_at, c.updated_at";

/// With `no_of_connections`, for the auth config endpoints.
pub(crate) fn auth_config_select() -> String {
    format!(
        "select {AUTH_CONFIG_COLUMNS},
            (select count(*) from connected_account a where a.auth_config_id = c.id and a.deleted_at is null)
                as no_of_connections
         from live_auth_config c"
    )
}

/// Without the count, for hot paths (link creation, the link page).
pub(crate) fn auth_config_light() -> String {
    format!("select {AUTH_CONFIG_COLUMNS} from live_auth_config c")
}

pub(crate) fn auth_config(row: &impl Columns) -> StoreResult<AuthConfigRecord> {
    Ok(AuthConfigRecord {
        id: AuthConfigId::parse(&row.text("id")?).map_err(corrupt)?,
        toolkit: ToolkitSlug::parse(&row.text("toolkit")?).map_err(corrupt)?,
        name: row.text("name")?,
        auth_scheme: row.text("auth_scheme")?,
        is_composio_managed: row.flag("is_composio_managed")?,
        client_id: row.text("client_id")?,
        client_secret_sealed: row.opt_text("client_secret_sealed")?,
        scopes: row.strings("scopes")?,
        authorization_url: row.opt_text("authorization_url")?,
        token_url: row.opt_text("token_url")?,
        is_enabled: row.flag("is_enabled")?,
        client_auth: row.opt_text("client_auth")?,
        issuer: row.opt_text("issuer")?,
        revocation_url: row.opt_text("revocation_url")?,
        request_token_url: row.opt_text("request_token_url")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        // Absent from the light select (hot paths do not need it).
        no_of_connections: row.int("no_of_connections").unwrap_or(0),
    })
}

pub(crate) const SESSION_SELECT: &str =
    "select id, user_id, config, config_version, created_at, updated_at from tool_router_session";

/// A session from columns named `{prefix}id`, `{prefix}user_id`, … (a prefix lets a join carry
/// the session beside an auth config).
pub(crate) fn session(row: &impl Columns, prefix: &str) -> StoreResult<SessionRecord> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(SessionRecord {
        id: SessionId::parse(&row.text(&col("id"))?).map_err(corrupt)?,
        user_id: row.text(&col("user_id"))?,
        config: row.json(&col("config"))?,
        config_version: row.int(&col("config_version"))?,
        created_at: row.time(&col("created_at"))?,
        updated_at: row.time(&col("updated_at"))?,
    })
}

pub(crate) const AUDIT_SELECT: &str =
    "select id, kind, api_key_id, old_acl, new_acl, user_id, session_id, allowed, rule, details, created_at
     from audit_event";

pub(crate) fn audit(row: &impl Columns) -> StoreResult<AuditRecord> {
    let kind = row.text("kind")?;
    Ok(AuditRecord {
        id: row.int("id")?,
        kind: AuditKind::parse(&kind).ok_or_else(|| corrupt(format!("audit kind `{kind}`")))?,
        details: row.opt_json("details")?,
        api_key_id: row.opt_uuid("api_key_id")?,
        old_acl: row.opt_json("old_acl")?,
        new_acl: row.opt_json("new_acl")?,
        user_id: row.opt_text("user_id")?,
        session_id: row.opt_text("session_id")?,
        allowed: row.opt_flag("allowed")?,
        rule: row.opt_text("rule")?,
        created_at: row.time("created_at")?,
    })
}

/// The link columns [`link_view`] reads.
pub(crate) const LINK_SELECT: &str = "select l.project_id, l.connected_account_id, l.callback_url, l.expires_at,
        l.consumed_at, l.reconnect, p.redirect_key
     from link l join project p on p.id = l.project_id";

/// A link row, its account row (from [`account_select`]) and its auth config, as the connect
/// flow sees them.
pub(crate) fn link_view(
    link: &impl Columns,
    account_row: &impl Columns,
    auth_config: AuthConfigRecord,
    token_hash: &[u8],
) -> StoreResult<LinkView> {
    Ok(LinkView {
        project: ProjectId(link.uuid("project_id")?),
        redirect_key: link.opt_text("redirect_key")?,
        token_hash: token_hash.to_vec(),
        account: account(account_row)?,
        auth_config,
        callback_url: link.opt_text("callback_url")?,
        expires_at: link.time("expires_at")?,
        consumed_at: link.opt_time("consumed_at")?,
        account_deleted: account_row.flag("deleted")?,
        reconnect: link.flag("reconnect")?,
    })
}

pub(crate) const OAUTH_STATE_SELECT: &str = "select state_hash, project_id, link_token_hash, connected_account_id,
        binding_hash, verifier_sealed, fields_sealed, expires_at, used_at
     from oauth_state";

pub(crate) fn oauth_state(row: &impl Columns) -> StoreResult<OAuthStateRecord> {
    Ok(OAuthStateRecord {
        state_hash: row.bytes("state_hash")?,
        project: ProjectId(row.uuid("project_id")?),
        link_token_hash: row.bytes("link_token_hash")?,
        account_id: ConnectedAccountId::parse(&row.text("connected_account_id")?).map_err(corrupt)?,
        binding_hash: row.bytes("binding_hash")?,
        verifier_sealed: row.opt_text("verifier_sealed")?,
        fields_sealed: row.opt_text("fields_sealed")?,
        expires_at: row.time("expires_at")?,
        used_at: row.opt_time("used_at")?,
    })
}

/// The stored name of the ACL rule behind an access decision (its wire name).
pub(crate) fn rule_name(rule: crate::domain::acl::AclRule) -> String {
    serde_json::to_value(rule).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The key columns [`api_key`] reads; never the hash.
pub(crate) const API_KEY_SELECT: &str = "select k.id, k.project_id, p.name as project_name, k.name, k.hint,
        k.created_at, k.last_used_at, k.expires_at, k.revoked_at
     from api_key k join project p on p.id = k.project_id";

pub(crate) fn api_key(row: &impl Columns) -> StoreResult<super::ApiKeyRecord> {
    Ok(super::ApiKeyRecord {
        id: super::ApiKeyId(row.uuid("id")?),
        project: ProjectId(row.uuid("project_id")?),
        project_name: row.text("project_name")?,
        name: row.text("name")?,
        hint: row.text("hint")?,
        created_at: row.time("created_at")?,
        last_used_at: row.opt_time("last_used_at")?,
        expires_at: row.opt_time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}
