//! `GET connected_accounts/{id}/audit`: the audit trail of an account (ACL changes, SHARED access
//! decisions, credential updates and expiry), newest first, with cursor pagination.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{ListResponse, iso, page_limit},
    extract::{FieldErrors, IdPath, LenientQuery, Project},
};
use crate::{
    AppState,
    domain::{AclConfig, ConnectedAccountId},
    error::{ApiResult, ErrorEnvelope},
    service::accounts,
    store::{AuditRecord, Cursor},
};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1..=200, default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// One entry. `kind` is one of:
/// - `acl_change`: old/new ACL, `api_key_id` the acting key;
/// - `access_decision`: user, session, allowed, rule (`creator` | `deny_list` | `allow_all` |
///   `allow_list` | `default_deny`);
/// - `account_credentials_updated`: new tokens stored, `details.source` `link` (the link
///   completed) or `refresh`; no `api_key_id` (authlink did it);
/// - `account_expired`: the provider refused a refresh, `details.reason`.
///
/// (`account_deleted` is recorded too, with the acting key, but a deleted account has no
/// readable trail.) Entries older than `AUTHLINK_RETENTION_AUDIT_DAYS` are purged.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[schema(example = "acl_change")]
    pub kind: &'static str,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_acl: Option<AclConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_acl: Option<AclConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Kind-specific facts (see `kind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind.as_str(),
            created_at: iso(r.created_at),
            api_key_id: r.api_key_id.map(|k| k.to_string()),
            old_acl: r.old_acl,
            new_acl: r.new_acl,
            user_id: r.user_id,
            session_id: r.session_id,
            allowed: r.allowed,
            rule: r.rule,
            details: r.details,
        }
    }
}

/// The account's audit trail, newest first.
#[utoipa::path(get, path = "/connected_accounts/{id}/audit", tag = "connected_accounts", operation_id = "list_connected_account_audit",
    params(("id" = String, Path, description = "`ca_…` id"), AuditQuery),
    responses(
        (status = 200, body = ListResponse<AuditEntry>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
    LenientQuery(q): LenientQuery<AuditQuery>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let mut e = FieldErrors::default();
    let limit = e.check("limit", page_limit(q.limit.as_deref(), 50, 200)).unwrap_or(50);
    let after = q.cursor.as_deref().and_then(|c| {
        let cursor = Cursor::decode(c).filter(|c| c.id.parse::<i64>().is_ok());
        e.check("cursor", cursor.ok_or("is not a cursor returned by this API"))
    });
    e.finish()?;
    let page = accounts::audit(&state, project, &id, limit, after.as_ref()).await?;
    Ok(Json(ListResponse::from_page(page, limit, Into::into)))
}
