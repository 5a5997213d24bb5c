//! `connected_accounts`: retrieve, list, patch, delete (contract §7), plus the retired legacy
//! create (`legacy`) and the enable/disable/revoke lifecycle (`lifecycle`).

pub mod legacy;
pub mod lifecycle;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{
    common::{AclInput, ExperimentalOut, ListResponse, iso, page_limit},
    extract::{FieldErrors, IdPath, LenientQuery, MAX_LIST_ITEMS, Project, ValidatedJson, comma_list},
};
use crate::{
    AppState,
    domain::{AccountStatus, AccountType, AuthConfigId, ConnectedAccountId, ToolkitSlug},
    error::{ApiError, ApiResult, ErrorEnvelope},
    service::{accounts, credentials, oauth::TokenSet, tokens},
    store::{AccountFilter, AccountRecord, Cursor, OrderBy},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigRef {
    pub id: String,
    pub auth_scheme: String,
    pub is_composio_managed: bool,
    pub is_disabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolkitRef {
    pub slug: String,
}

/// `state`: `{authScheme, val:{status, …}}` (camelCase on the wire, as Composio).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountState {
    #[serde(rename = "authScheme")]
    pub auth_scheme: String,
    #[schema(value_type = Object)]
    pub val: serde_json::Value,
}

/// A connected account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountResponse {
    pub id: String,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub auth_config: AuthConfigRef,
    pub toolkit: ToolkitRef,
    pub user_id: String,
    pub is_disabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub state: AccountState,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub alias: Option<String>,
    pub experimental: ExperimentalOut,
}

impl From<AccountRecord> for AccountResponse {
    fn from(a: AccountRecord) -> Self {
        Self::with_tokens(a, None)
    }
}

impl AccountResponse {
    /// The account as the SDKs keep it: for an ACTIVE one `state.val` carries the tokens, for an
    /// INITIATED one the link's `redirectUrl` (the TypeScript SDK drops a `state` without them).
    pub fn shown(state: &AppState, a: AccountRecord, tokens: Option<TokenSet>) -> ApiResult<Self> {
        let tokens = match (tokens, a.status) {
            (Some(t), _) => Some(t),
            (None, AccountStatus::Active) => tokens::open(state, &a)?,
            (None, _) => None,
        };
        let redirect_url = match (&a.link_url_sealed, a.status) {
            (Some(sealed), AccountStatus::Initiated) => Some(
                String::from_utf8(state.sealer.open(a.id.as_str(), sealed).map_err(ApiError::internal)?)
                    .map_err(ApiError::internal)?,
            ),
            _ => None,
        };
        // API key, bearer and basic accounts: `val` carries the fields (secrets included, as the
        // read path returns OAuth tokens to the owner), and the legacy `data` the same.
        let fields = match a.status {
            AccountStatus::Active => credentials::open(state, &a)?,
            _ => None,
        };
        let mut response = Self::with_tokens(a, tokens);
        if let (Some(url), serde_json::Value::Object(map)) = (redirect_url, &mut response.state.val) {
            map.insert("redirectUrl".into(), url.into());
        }
        if let (Some(fields), serde_json::Value::Object(map)) = (fields, &mut response.state.val) {
            map.extend(fields.into_iter().map(|(k, v)| (k, v.into())));
            response.data = response.state.val.clone();
        }
        Ok(response)
    }

    /// The account; for an ACTIVE one read by its project's key, `state.val` carries the tokens.
    pub fn with_tokens(a: AccountRecord, tokens: Option<TokenSet>) -> Self {
        let mut val = serde_json::json!({"status": a.status.as_str()});
        if let (Some(t), serde_json::Value::Object(map)) = (tokens, &mut val) {
            map.insert("access_token".into(), t.access_token.into());
            let remaining = a.token_expires_at.map(|at| (at - chrono::Utc::now()).num_seconds().max(0));
            for (k, v) in [
                ("refresh_token", t.refresh_token.map(Into::into)),
                ("expires_in", remaining.map(Into::into)),
                ("scope", t.scope.map(Into::into)),
                ("token_type", t.token_type.map(Into::into)),
                ("id_token", t.id_token.map(Into::into)),
            ] {
                if let Some(v) = v {
                    map.insert(k.into(), v);
                }
            }
        }
        Self {
            id: a.id.to_string(),
            status: a.status,
            status_reason: a.status_reason,
            state: AccountState { auth_scheme: a.auth_scheme.clone(), val },
            auth_config: AuthConfigRef {
                id: a.auth_config_id.to_string(),
                auth_scheme: a.auth_scheme,
                is_composio_managed: a.auth_config_is_managed,
                is_disabled: a.auth_config_is_disabled,
            },
            toolkit: ToolkitRef { slug: a.toolkit.to_string() },
            user_id: a.user_id,
            is_disabled: a.is_disabled,
            created_at: iso(a.created_at),
            updated_at: iso(a.updated_at),
            data: serde_json::json!({}),
            params: serde_json::json!({}),
            alias: a.alias,
            experimental: ExperimentalOut::new(a.account_type, a.acl.as_ref()),
        }
    }
}

/// Query of the listing. Arrays are comma-joined in one key.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub user_ids: Option<String>,
    pub toolkit_slugs: Option<String>,
    pub statuses: Option<String>,
    pub auth_config_ids: Option<String>,
    pub connected_account_ids: Option<String>,
    pub cursor: Option<String>,
    /// 1..=1000, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `created_at` (default) or `updated_at`.
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order_direction: Option<String>,
    /// `PRIVATE` (default), `SHARED` or `ALL`.
    pub account_type: Option<String>,
}

impl ListQuery {
    fn into_filter(self) -> ApiResult<AccountFilter> {
        let mut errors = FieldErrors::default();
        let mut parse_all = |key: &str, raw: Option<&str>, ok: &dyn Fn(&str) -> bool| -> Vec<String> {
            let items = comma_list(raw);
            if items.len() > MAX_LIST_ITEMS {
                errors.push(key, format!("at most {MAX_LIST_ITEMS} items"));
                return Vec::new();
            }
            for (i, item) in items.iter().enumerate() {
                if !ok(item) {
                    errors.push(format!("{key}[{i}]"), format!("`{item}` is not valid here"));
                }
            }
            items
        };
        let toolkits = parse_all("toolkit_slugs", self.toolkit_slugs.as_deref(), &|s| ToolkitSlug::parse(s).is_ok());
        let statuses = parse_all("statuses", self.statuses.as_deref(), &|s| AccountStatus::parse(s).is_some());
        let acs = parse_all("auth_config_ids", self.auth_config_ids.as_deref(), &|s| AuthConfigId::parse(s).is_ok());
        let ids = parse_all("connected_account_ids", self.connected_account_ids.as_deref(), &|s| {
            ConnectedAccountId::parse(s).is_ok()
        });
        let user_ids = parse_all("user_ids", self.user_ids.as_deref(), &|_| true);
        let limit = errors.check("limit", page_limit(self.limit.as_deref(), 20, 1000)).unwrap_or(20);
        let order_by = match self.order_by.as_deref() {
            None | Some("created_at") => OrderBy::CreatedAt,
            Some("updated_at") => OrderBy::UpdatedAt,
            Some(_) => {
                errors.push("order_by", "must be created_at or updated_at");
                OrderBy::CreatedAt
            }
        };
        let descending = match self.order_direction.as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => {
                errors.push("order_direction", "must be asc or desc");
                true
            }
        };
        let account_type = match self.account_type.as_deref() {
            None | Some("PRIVATE") => Some(AccountType::Private),
            Some("SHARED") => Some(AccountType::Shared),
            Some("ALL") => None,
            Some(_) => {
                errors.push("account_type", "must be PRIVATE, SHARED or ALL");
                None
            }
        };
        let after = match self.cursor.as_deref() {
            None => None,
            Some(raw) => errors.check("cursor", Cursor::decode(raw).ok_or("is not a cursor returned by this API")),
        };
        errors.finish()?;
        Ok(AccountFilter {
            user_ids,
            toolkits: toolkits.iter().filter_map(|s| ToolkitSlug::parse(s).ok()).collect(),
            statuses: statuses.iter().filter_map(|s| AccountStatus::parse(s)).collect(),
            auth_config_ids: acs.iter().filter_map(|s| AuthConfigId::parse(s).ok()).collect(),
            ids: ids.iter().filter_map(|s| ConnectedAccountId::parse(s).ok()).collect(),
            account_type,
            order_by,
            descending,
            limit,
            after,
        })
    }
}

/// Body of PATCH.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateAccountRequest {
    /// New alias; `null` removes it.
    #[serde(default, deserialize_with = "nullable_alias")]
    #[schema(value_type = Option<String>)]
    pub alias: Option<Option<String>>,
    #[validate(nested)]
    pub experimental: Option<UpdateAccountExperimental>,
    /// Credential updates (`{authScheme, val}`): API key, bearer and basic accounts take new field
    /// values (validated, sealed; fields not sent keep theirs); OAuth 2.0 accounts refuse them.
    #[schema(value_type = Option<Object>)]
    pub connection: Option<serde_json::Value>,
}

fn nullable_alias<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateAccountExperimental {
    #[validate(nested)]
    pub acl_config_for_shared: Option<AclInput>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateAccountResponse {
    pub id: String,
    pub status: AccountStatus,
    pub success: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAccountResponse {
    pub success: bool,
}

/// Reads one connected account.
#[utoipa::path(get, path = "/connected_accounts/{id}", tag = "connected_accounts", operation_id = "get_connected_account",
    params(("id" = String, Path, description = "`ca_…` id")),
    responses(
        (status = 200, body = AccountResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
) -> ApiResult<Json<AccountResponse>> {
    let (account, tokens) = tokens::read(&state, project, &id, false).await?;
    Ok(Json(AccountResponse::shown(&state, account, tokens)?))
}

/// Refreshes the account's tokens now, whatever their expiry.
#[utoipa::path(post, path = "/connected_accounts/{id}/refresh", tag = "connected_accounts", operation_id = "refresh_connected_account",
    params(("id" = String, Path, description = "`ca_…` id")),
    responses(
        (status = 200, body = AccountResponse),
        (status = 400, description = "Not ACTIVE, or the provider rejected the refresh token (account now EXPIRED)", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "Provider unreachable", body = ErrorEnvelope),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
) -> ApiResult<Json<AccountResponse>> {
    let (account, tokens) = tokens::read(&state, project, &id, true).await?;
    Ok(Json(AccountResponse::shown(&state, account, tokens)?))
}

/// Lists connected accounts, newest first, with cursor pagination. SHARED accounts only with
/// `account_type=SHARED|ALL`.
#[utoipa::path(get, path = "/connected_accounts", tag = "connected_accounts", operation_id = "list_connected_accounts",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<AccountResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    LenientQuery(query): LenientQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<AccountResponse>>> {
    let filter = query.into_filter()?;
    let page = accounts::list(&state, project, &filter).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for account in page.items {
        items.push(AccountResponse::shown(&state, account, None)?);
    }
    let page = crate::store::Page {
        items,
        total_items: page.total_items,
        current_page: page.current_page,
        next_cursor: page.next_cursor,
    };
    Ok(Json(ListResponse::from_page(page, filter.limit, |a| a)))
}

/// Changes the alias, for SHARED accounts the ACL, and for API key, bearer and basic accounts
/// the credential (`connection.val`).
#[utoipa::path(patch, path = "/connected_accounts/{id}", tag = "connected_accounts", operation_id = "update_connected_account",
    params(("id" = String, Path, description = "`ca_…` id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, body = UpdateAccountResponse),
        (status = 400, description = "Invalid body, an ACL on a PRIVATE account, invalid credential fields (`connection.val`, each error naming its field), or a credential update of an OAuth 2.0 account, whose tokens come only from the provider", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Alias taken", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Project(project, key): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
    ValidatedJson(body): ValidatedJson<UpdateAccountRequest>,
) -> ApiResult<Json<UpdateAccountResponse>> {
    // A credential update carries `val` (`{authScheme, val}`, or `state.val`); other keys are
    // ignored like any unknown ones. API key, bearer and basic accounts take it; OAuth accounts
    // get their tokens only from the provider.
    let val = body.connection.as_ref().and_then(|c| {
        c.get("val")
            .map(|v| ("connection.val", v))
            .or_else(|| c.pointer("/state/val").map(|v| ("connection.state.val", v)))
    });
    let replaced = match val {
        None => None,
        Some((path, serde_json::Value::Object(val))) => {
            Some(credentials::replace(&state, project, &id, val, path).await?)
        }
        Some((path, _)) => return Err(ApiError::field(path, "must be an object of field values")),
    };
    if let Some(account) = replaced
        && body.alias.is_none()
        && body.experimental.is_none()
    {
        return Ok(Json(UpdateAccountResponse { id: account.id.to_string(), status: account.status, success: true }));
    }
    // An empty alias clears it, as Composio documents.
    let alias = body.alias.map(|a| a.filter(|s| !s.is_empty()));
    if let Some(Some(alias)) = &alias
        && alias.chars().count() > 256
    {
        return Err(ApiError::field("alias", "length must be 1..256"));
    }
    let acl = body.experimental.and_then(|e| e.acl_config_for_shared).map(Into::into);
    let account = accounts::update(&state, project, &id, alias, acl, key).await?;
    Ok(Json(UpdateAccountResponse { id: account.id.to_string(), status: account.status, success: true }))
}

/// Soft-deletes an account; later reads answer 404.
#[utoipa::path(delete, path = "/connected_accounts/{id}", tag = "connected_accounts", operation_id = "delete_connected_account",
    params(("id" = String, Path, description = "`ca_…` id")),
    responses(
        (status = 200, body = DeleteAccountResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project, key): Project,
    IdPath(id): IdPath<ConnectedAccountId>,
) -> ApiResult<Json<DeleteAccountResponse>> {
    accounts::delete(&state, project, &id, key).await?;
    Ok(Json(DeleteAccountResponse { success: true }))
}
