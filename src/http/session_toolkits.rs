//! `GET tool_router/session/{id}/toolkits` (contract §5): the session's toolkits and the
//! connected account it would use for each.

use axum::{Json, extract::State};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    common::{ListResponse, iso, page_limit},
    extract::{FieldErrors, IdPath, LenientQuery, Project, comma_list},
};
use crate::{
    AppState,
    domain::{AccountStatus, SessionId, ToolkitSlug},
    error::{ApiResult, ErrorEnvelope},
    service::resolution::{self, SessionToolkit, ToolkitQuery},
};

/// Query of the listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-joined slugs to restrict to.
    pub toolkits: Option<String>,
    /// Only toolkits whose resolved account is (or is not) ACTIVE.
    pub is_connected: Option<bool>,
    /// 1..=50, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 50)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// Substring of slug or name.
    pub search: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigBrief {
    pub id: String,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedAccount {
    pub id: String,
    pub status: AccountStatus,
    pub created_at: String,
    pub user_id: String,
    pub auth_config: AuthConfigBrief,
}

/// Its own schema name: `toolkits::ToolkitMeta` (the catalog's, with more fields) has the name
/// `ToolkitMeta`, and one would replace the other in the document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionToolkitMeta)]
pub struct ToolkitMeta {
    pub description: String,
    pub logo: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToolkitItem {
    pub slug: String,
    pub name: String,
    pub enabled: bool,
    pub is_no_auth: bool,
    pub composio_managed_auth_schemes: Vec<String>,
    pub meta: ToolkitMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_account: Option<ResolvedAccount>,
}

impl From<SessionToolkit> for SessionToolkitItem {
    fn from(t: SessionToolkit) -> Self {
        Self {
            slug: t.slug.to_string(),
            name: t.name,
            enabled: t.enabled,
            is_no_auth: false,
            composio_managed_auth_schemes: Vec::new(),
            meta: ToolkitMeta { description: t.description, logo: t.logo },
            connected_account: t.account.map(|a| ResolvedAccount {
                id: a.id.to_string(),
                status: a.status,
                created_at: iso(a.created_at),
                user_id: a.user_id,
                auth_config: AuthConfigBrief {
                    id: a.auth_config_id.to_string(),
                    auth_scheme: a.auth_scheme,
                    is_composio_managed: a.auth_config_is_managed,
                },
            }),
        }
    }
}

fn decode_offset(raw: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
    text.strip_prefix("o:")?.parse().ok()
}

/// Lists the session's toolkits with the account each would use.
#[utoipa::path(get, path = "/tool_router/session/{session_id}/toolkits", tag = "tool_router", operation_id = "list_session_toolkits",
    params(("session_id" = String, Path, description = "`trs_…` session id"), ListQuery),
    responses(
        (status = 200, body = ListResponse<SessionToolkitItem>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<SessionId>,
    LenientQuery(q): LenientQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<SessionToolkitItem>>> {
    let mut e = FieldErrors::default();
    let limit =
        e.check("limit", page_limit(q.limit.as_deref(), 20, 50)).and_then(|n| usize::try_from(n).ok()).unwrap_or(20);
    let offset = match q.cursor.as_deref() {
        None => 0,
        Some(raw) => e.check("cursor", decode_offset(raw).ok_or("is not a cursor returned by this API")).unwrap_or(0),
    };
    let toolkits: Vec<ToolkitSlug> = comma_list(q.toolkits.as_deref())
        .iter()
        .enumerate()
        .filter_map(|(i, s)| e.check(format!("toolkits[{i}]"), ToolkitSlug::parse(s)))
        .collect();
    e.finish()?;
    let query = ToolkitQuery { toolkits, is_connected: q.is_connected, search: q.search };
    let all = resolution::session_toolkits(&state, project, &id, &query).await?;
    let total = all.len();
    let next = offset + limit;
    Ok(Json(ListResponse {
        next_cursor: (next < total).then(|| URL_SAFE_NO_PAD.encode(format!("o:{next}"))),
        total_pages: count(total.div_ceil(limit)),
        current_page: count(offset / limit).saturating_add(1),
        total_items: count(total),
        items: all.into_iter().skip(offset).take(limit).map(Into::into).collect(),
    }))
}

/// A count for the wire (`i64`), saturating: no list holds `i64::MAX` items.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
