//! `GET connected_accounts/{id}/audit`: the ACL changes and SHARED access decisions of an
//! account, newest first, with cursor pagination.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{ListResponse, iso, page_limit},
    extract::{LenientQuery, Project},
};
use crate::{
    AppState,
    domain::{AclConfig, ConnectedAccountId},
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::accounts,
    store::{AuditRecord, Cursor},
};

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// 1..=200, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One entry: an `acl_change` (old/new ACL, API key) or an `access_decision` (user, session,
/// allowed, rule: creator | deny_list | allow_all | allow_list | default_deny).
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
#[utoipa::path(get, path = "/api/v3.1/connected_accounts/{id}/audit", tag = "connected_accounts",
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
    Path(id): Path<String>,
    LenientQuery(q): LenientQuery<AuditQuery>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let id = ConnectedAccountId::parse(&id)?;
    let limit = page_limit(q.limit, 50, 200)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c)
                .filter(|c| c.id.parse::<i64>().is_ok())
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor returned by this API"))
        })
        .transpose()?;
    let page = accounts::audit(&state, project, &id, limit, after.as_ref()).await?;
    Ok(Json(ListResponse::from_page(page, limit, Into::into)))
}
