//! `GET connected_accounts/{id}/audit`: the ACL changes and SHARED access decisions of an
//! account, newest first, with cursor pagination.

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

/// One entry: an `acl_change` (old/new ACL, API key) or an `access_decision` (user, session,
/// allowed, rule: `creator` | `deny_list` | `allow_all` | `allow_list` | `default_deny`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
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
