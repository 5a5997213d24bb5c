//! `tool_router/session` create, read, patch, delete (contract §4, §5).
//!
//! Requests use Composio's request names (`toolkits.enable`, `manage_connections.enable`),
//! responses the renamed ones (`enabled`), as the SDKs expect.

use std::collections::BTreeMap;

use axum::{Extension, Json, extract::State, http::StatusCode};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use validator::Validate;

mod response;

pub use response::*;

use super::{
    ApiVersion,
    common::callback,
    extract::{IdPath, Project, ValidatedJson},
};
use crate::{
    AppState,
    domain::{
        AuthConfigId, ConnectedAccountId, LinkUrlAllowlist, SessionId, ToolkitSlug,
        session::{ManageConnections, MultiAccount, SessionConfig, ToolkitFilter},
    },
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    service::sessions::{self, SessionPatch},
};

/// `toolkits`: `{"enable":[…]}` or `{"disable":[…]}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ToolkitsInput {
    pub enable: Option<Vec<String>>,
    pub disable: Option<Vec<String>>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

/// A pin: one id (v3) or a list (v3.1); both accepted on either path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ManageConnectionsInput {
    pub enable: Option<bool>,
    /// Default callback for links of this session; must match the operator's allowlist.
    pub callback_url: Option<String>,
    pub enable_wait_for_connections: Option<bool>,
    pub enable_connection_removal: Option<bool>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
pub struct MultiAccountInput {
    pub enable: Option<bool>,
    #[validate(range(min = 2, max = 10))]
    #[schema(minimum = 2, maximum = 10)]
    #[serde(default, deserialize_with = "super::common::whole_number")]
    pub max_accounts_per_toolkit: Option<u8>,
    pub require_explicit_selection: Option<bool>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SessionExperimentalInput {
    /// Base URL for `redirect_url` instead of authlink's public URL.
    pub link_url_overwrite: Option<String>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

/// Body of `POST tool_router/session`. Unknown keys are ignored.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateSessionRequest {
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    pub toolkits: Option<ToolkitsInput>,
    pub auth_configs: Option<BTreeMap<String, String>>,
    pub connected_accounts: Option<BTreeMap<String, OneOrMany>>,
    pub manage_connections: Option<ManageConnectionsInput>,
    #[validate(nested)]
    pub multi_account: Option<MultiAccountInput>,
    pub experimental: Option<SessionExperimentalInput>,
}

/// Present-and-null vs absent, for PATCH.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH tool_router/session/{id}`: absent keeps, `null` clears.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateSessionRequest {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ToolkitsInput>)]
    pub toolkits: Option<Option<ToolkitsInput>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub auth_configs: Option<Option<BTreeMap<String, String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, OneOrMany>>)]
    pub connected_accounts: Option<Option<BTreeMap<String, OneOrMany>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ManageConnectionsInput>)]
    pub manage_connections: Option<Option<ManageConnectionsInput>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<MultiAccountInput>)]
    pub multi_account: Option<Option<MultiAccountInput>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<SessionExperimentalInput>)]
    pub experimental: Option<Option<SessionExperimentalInput>>,
}

/// Collects every field error of a request before failing, so callers fix all at once.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn slug(&mut self, path: &str, raw: &str) -> Option<ToolkitSlug> {
        ToolkitSlug::parse(raw).map_err(|e| self.0.push(FieldError::new(path, e.to_string()))).ok()
    }

    fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.0)) }
    }
}

fn toolkits(e: &mut Errors, input: ToolkitsInput) -> Option<ToolkitFilter> {
    let parse = |e: &mut Errors, key: &str, list: Vec<String>| -> Vec<ToolkitSlug> {
        let mut out: Vec<ToolkitSlug> = Vec::new();
        for (i, s) in list.iter().enumerate() {
            // Each toolkit once, in first-seen order.
            if let Some(slug) = e.slug(&format!("toolkits.{key}[{i}]"), s).filter(|slug| !out.contains(slug)) {
                out.push(slug);
            }
        }
        out
    };
    match (input.enable, input.disable) {
        (Some(_), Some(_)) => {
            e.0.push(FieldError::new("toolkits", "enable and disable are mutually exclusive"));
            None
        }
        (Some(list), None) => Some(ToolkitFilter::Enable(parse(e, "enable", list))),
        (None, Some(list)) => Some(ToolkitFilter::Disable(parse(e, "disable", list))),
        (None, None) => None,
    }
}

fn auth_configs(e: &mut Errors, input: BTreeMap<String, String>) -> BTreeMap<ToolkitSlug, AuthConfigId> {
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let path = format!("auth_configs.{k}");
        let id = AuthConfigId::parse(&v).map_err(|err| e.0.push(FieldError::new(&path, err.to_string()))).ok();
        if let (Some(slug), Some(id)) = (e.slug(&path, &k), id) {
            out.insert(slug, id);
        }
    }
    out
}

fn pins(e: &mut Errors, input: BTreeMap<String, OneOrMany>) -> BTreeMap<ToolkitSlug, Vec<ConnectedAccountId>> {
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let path = format!("connected_accounts.{k}");
        let raw = match v {
            OneOrMany::One(id) => vec![id],
            OneOrMany::Many(ids) => ids,
        };
        let ids: Vec<ConnectedAccountId> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                ConnectedAccountId::parse(id)
                    .map_err(|err| e.0.push(FieldError::new(format!("{path}[{i}]"), err.to_string())))
                    .ok()
            })
            .collect();
        if let Some(slug) = e.slug(&path, &k) {
            out.insert(slug, ids);
        }
    }
    out
}

fn manage_connections(e: &mut Errors, state: &AppState, input: &ManageConnectionsInput) -> ManageConnections {
    let d = ManageConnections::default();
    let callback_url =
        callback(&state.settings.callback_allowlist, "manage_connections.callback_url", input.callback_url.as_deref())
            .map_err(|err| match err {
                ApiError::Validation(f) => e.0.extend(f),
                other => e.0.push(FieldError::new("manage_connections.callback_url", other.to_string())),
            })
            .ok()
            .flatten()
            .map(|c| c.as_str().to_owned());
    ManageConnections {
        enabled: input.enable.unwrap_or(d.enabled),
        callback_url,
        enable_wait_for_connections: input.enable_wait_for_connections.unwrap_or(d.enable_wait_for_connections),
        enable_connection_removal: input.enable_connection_removal.unwrap_or(d.enable_connection_removal),
    }
}

/// When enabled without a number, the cap is Composio's default of 5, echoed as the effective value.
fn multi_account(input: &MultiAccountInput) -> MultiAccount {
    MultiAccount {
        enable: input.enable,
        max_accounts_per_toolkit: input
            .max_accounts_per_toolkit
            .or((input.enable == Some(true)).then_some(crate::service::sessions::DEFAULT_MAX_ACCOUNTS)),
        require_explicit_selection: input.require_explicit_selection,
    }
}

/// The base of the session's link URLs: an http(s) URL without query that the operator's
/// `AUTHLINK_LINK_URL_ALLOWLIST` (by default the public URL's origin) allows.
fn link_url_overwrite(e: &mut Errors, state: &AppState, input: SessionExperimentalInput) -> Option<String> {
    const FIELD: &str = "experimental.link_url_overwrite";
    let raw = input.link_url_overwrite?;
    match url::Url::parse(&raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.query().is_none() => {
            if state.settings.link_url_allowed(&raw) {
                Some(raw.trim_end_matches('/').to_owned())
            } else {
                e.0.push(FieldError::new(FIELD, LinkUrlAllowlist::REFUSAL));
                None
            }
        }
        _ => {
            e.0.push(FieldError::new(FIELD, "must be an absolute http(s) URL without query"));
            None
        }
    }
}

/// Creates a session for one of the app's users.
#[utoipa::path(post, path = "/tool_router/session", tag = "tool_router", operation_id = "create_session",
    request_body = CreateSessionRequest,
    responses(
        (status = 201, body = SessionResponse),
        (status = 400, description = "Invalid body, unknown toolkit slugs, bad auth config or pins", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<CreateSessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let mut e = Errors::default();
    let config = SessionConfig {
        toolkits: body.toolkits.and_then(|t| toolkits(&mut e, t)),
        auth_configs: body.auth_configs.map(|a| auth_configs(&mut e, a)).unwrap_or_default(),
        connected_accounts: body.connected_accounts.map(|p| pins(&mut e, p)).unwrap_or_default(),
        manage_connections: body
            .manage_connections
            .as_ref()
            .map(|m| manage_connections(&mut e, &state, m))
            .unwrap_or_default(),
        multi_account: body.multi_account.as_ref().map(multi_account),
        link_url_overwrite: body.experimental.and_then(|x| link_url_overwrite(&mut e, &state, x)),
    };
    e.finish()?;
    let session = sessions::create(&state, project, body.user_id, config).await?;
    tracing::info!(session_id = %session.id, "session created");
    Ok((StatusCode::CREATED, Json(SessionResponse::new(session, version, &state.settings.public_base))))
}

/// Reads a session.
#[utoipa::path(get, path = "/tool_router/session/{session_id}", tag = "tool_router", operation_id = "get_session",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    responses(
        (status = 200, body = SessionResponse),
        (status = 400, description = "Malformed id", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Project(project, _): Project,
    IdPath(id): IdPath<SessionId>,
) -> ApiResult<Json<SessionResponse>> {
    let session = sessions::get(&state, project, &id).await?;
    Ok(Json(SessionResponse::new(session, version, &state.settings.public_base)))
}

/// Changes a session's config; `config_version` goes up by one.
#[utoipa::path(patch, path = "/tool_router/session/{session_id}", tag = "tool_router", operation_id = "update_session",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    request_body = UpdateSessionRequest,
    responses(
        (status = 200, body = SessionResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
        (status = 409, description = "Changed concurrently too often", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Project(project, _): Project,
    IdPath(id): IdPath<SessionId>,
    ValidatedJson(body): ValidatedJson<UpdateSessionRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let mut e = Errors::default();
    if let Some(Some(m)) = &body.multi_account {
        if let Err(errs) = m.validate() {
            e.0.extend(
                super::extract::flatten(&errs)
                    .into_iter()
                    .map(|f| FieldError::new(format!("multi_account.{}", f.path), f.message)),
            );
        }
    }
    let patch = SessionPatch {
        toolkits: body.toolkits.map(|t| t.and_then(|t| toolkits(&mut e, t))),
        auth_configs: body.auth_configs.map(|a| a.map(|a| auth_configs(&mut e, a)).unwrap_or_default()),
        connected_accounts: body.connected_accounts.map(|p| p.map(|p| pins(&mut e, p))),
        manage_connections: body
            .manage_connections
            .as_ref()
            .map(|m| m.as_ref().map(|m| manage_connections(&mut e, &state, m))),
        multi_account: body.multi_account.as_ref().map(|m| m.as_ref().map(multi_account)),
        link_url_overwrite: body.experimental.map(|x| x.and_then(|x| link_url_overwrite(&mut e, &state, x))),
    };
    e.finish()?;
    let session = sessions::update(&state, project, &id, &patch).await?;
    Ok(Json(SessionResponse::new(session, version, &state.settings.public_base)))
}

/// Deletes a session; its links keep working until they expire.
#[utoipa::path(delete, path = "/tool_router/session/{session_id}", tag = "tool_router", operation_id = "delete_session",
    params(("session_id" = String, Path, description = "`trs_…` session id")),
    responses(
        (status = 200, body = DeleteSessionResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<SessionId>,
) -> ApiResult<Json<DeleteSessionResponse>> {
    sessions::delete(&state, project, &id).await?;
    Ok(Json(DeleteSessionResponse { session_id: id.to_string(), deleted: true }))
}
