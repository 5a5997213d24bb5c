//! `auth_configs`: create (custom OAuth2 apps), retrieve, list (contract §8). Client secrets are
//! sealed before they reach the store and never returned. Patch, enable/disable and delete live in
//! `lifecycle`.

pub mod lifecycle;
mod oauth1;
mod response;

pub use response::{
    AuthConfigResponse, CreateAuthConfigResponse, CreatedAuthConfig, CredentialsOut, ToolkitOut, ToolkitSlugOut,
};

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{
    common::{ListResponse, page_limit},
    extract::{FieldErrors, IdPath, LenientQuery, Project, ValidatedJson},
};
use crate::{
    AppState,
    catalog::{AuthScheme, ClientAuth},
    domain::{AuthConfigId, ToolkitSlug},
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    outbound::OutboundPolicy,
    service::auth_configs::{
        self,
        EndpointKind::{self, Authorization, Endpoint, Identifier},
        NewOAuth2Config,
    },
    store::{AuthConfigFilter, AuthConfigRecord, Cursor},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ToolkitInput {
    pub slug: String,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

/// `scopes` as a list or a comma/space separated string.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Scopes {
    List(Vec<String>),
    Joined(String),
}

impl Scopes {
    fn into_vec(self) -> Vec<String> {
        let raw = match self {
            Self::List(l) => l,
            Self::Joined(s) => s.split([',', ' ']).map(str::to_owned).collect(),
        };
        let mut out: Vec<String> = Vec::new();
        for scope in raw.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        out
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CredentialsInput {
    /// Required for `OAUTH2`; refused on the other schemes (their secrets are per account).
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub client_id: Option<String>,
    /// Required for `OAUTH2`; refused on the other schemes.
    #[validate(length(min = 1, max = 4096))]
    #[schema(min_length = 1, max_length = 4096)]
    pub client_secret: Option<String>,
    pub scopes: Option<Scopes>,
    /// Required for toolkits outside the catalog; overrides the catalog's otherwise.
    pub authorization_url: Option<String>,
    /// Required for toolkits outside the catalog; overrides the catalog's otherwise.
    pub token_url: Option<String>,
    /// How to authenticate at the token endpoint; overrides the catalog's choice.
    #[schema(value_type = Option<String>, example = "client_secret_basic")]
    pub client_auth: Option<ClientAuth>,
    /// Expected `iss` of authorization responses (RFC 9207); defaults to the authorization URL's origin.
    pub issuer: Option<String>,
    /// RFC 7009 revocation endpoint; overrides the catalog's (most custom toolkits need it for revoke).
    pub revocation_url: Option<String>,
    /// `OAUTH1`: the app's consumer key (`client_id` is taken as the same).
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub consumer_key: Option<String>,
    /// `OAUTH1`: the app's consumer secret (`client_secret` is taken as the same); sealed.
    #[validate(length(min = 1, max = 4096))]
    #[schema(min_length = 1, max_length = 4096)]
    pub consumer_secret: Option<String>,
    /// `OAUTH1`: the temporary-credentials endpoint (RFC 5849 §2.1); overrides the catalog's. On
    /// `OAUTH1`, `authorization_url` and `token_url` are the authorization and token-credentials
    /// endpoints.
    pub request_token_url: Option<String>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AuthConfigInput {
    /// Only `use_custom_auth`: authlink manages no OAuth apps of its own.
    #[serde(rename = "type")]
    pub kind: String,
    /// `OAUTH2`, `OAUTH1`, `API_KEY`, `BEARER_TOKEN` or `BASIC`: the toolkit's scheme in the catalog
    /// (custom toolkits are `OAUTH2`). camelCase key, as Composio's wire format.
    #[serde(rename = "authScheme")]
    pub auth_scheme: Option<String>,
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub name: Option<String>,
    #[validate(nested)]
    pub credentials: Option<CredentialsInput>,
    /// Takes a JSON object only, not an array of the fields in order.
    #[serde(flatten)]
    #[schema(ignore)]
    pub(crate) _object_only: crate::http::extract::ObjectOnly,
}

/// Body of `POST auth_configs`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateAuthConfigRequest {
    pub toolkit: ToolkitInput,
    #[validate(nested)]
    pub auth_config: Option<AuthConfigInput>,
}

/// Query of the listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub toolkit_slug: Option<String>,
    pub is_composio_managed: Option<bool>,
    pub show_disabled: Option<bool>,
    pub search: Option<String>,
    pub cursor: Option<String>,
    /// 1..=1000, default 20.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// An app credential (client id or secret, consumer key or secret) holds no control character:
/// it travels in headers, signatures and form bodies, and no real one has a newline or a NUL.
pub(super) fn no_control_characters(errors: &mut Vec<FieldError>, path: &str, value: Option<&str>) {
    if value.is_some_and(|v| v.chars().any(char::is_control)) {
        errors.push(FieldError::new(path, "must not contain control characters"));
    }
}

/// A URL field, checked against the operator's outbound policy (issue 11).
fn endpoint(
    errors: &mut Vec<FieldError>,
    policy: &OutboundPolicy,
    path: &str,
    raw: Option<String>,
    kind: EndpointKind,
) -> Option<String> {
    let raw = raw?;
    if let Err(e) = auth_configs::check_url_field(policy, path, &raw, kind) {
        errors.push(e);
    }
    Some(raw)
}

/// Registers the app's own OAuth2 client for a toolkit.
#[utoipa::path(post, path = "/auth_configs", tag = "auth_configs", operation_id = "create_auth_config",
    request_body = CreateAuthConfigRequest,
    responses(
        (status = 201, body = CreateAuthConfigResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Project(project, key): Project,
    ValidatedJson(body): ValidatedJson<CreateAuthConfigRequest>,
) -> ApiResult<(StatusCode, Json<CreateAuthConfigResponse>)> {
    let mut errors = Vec::new();
    let toolkit = ToolkitSlug::parse(&body.toolkit.slug)
        .map_err(|e| errors.push(FieldError::new("toolkit.slug", e.to_string())))
        .ok();
    let Some(input) = body.auth_config else {
        return Err(ApiError::InvalidAuthConfig(
            "authlink manages no OAuth apps: send auth_config {type: use_custom_auth, authScheme: OAUTH2, credentials: {client_id, client_secret}}".into(),
        ));
    };
    if input.kind != "use_custom_auth" {
        errors.push(FieldError::new(
            "auth_config.type",
            "only use_custom_auth is supported: authlink manages no OAuth apps",
        ));
    }
    let scheme = input.auth_scheme.as_deref().and_then(AuthScheme::parse);
    let Some(scheme) = scheme else {
        errors.push(FieldError::new(
            "auth_config.authScheme",
            "must be one of OAUTH2, OAUTH1, API_KEY, BEARER_TOKEN, BASIC",
        ));
        return Err(ApiError::Validation(errors));
    };
    if scheme == AuthScheme::OAuth1 {
        return oauth1::create(&state, project, key, toolkit, input.name, input.credentials, errors).await;
    }
    if !scheme.is_oauth() {
        return create_for_scheme(&state, project, key, toolkit, scheme, input.name, input.credentials, errors).await;
    }
    let Some(creds) = input.credentials else {
        errors.push(FieldError::new("auth_config.credentials", "is required"));
        return Err(ApiError::Validation(errors));
    };
    for (name, value) in [("client_id", &creds.client_id), ("client_secret", &creds.client_secret)] {
        let path = format!("auth_config.credentials.{name}");
        no_control_characters(&mut errors, &path, value.as_deref());
        if value.is_none() {
            errors.push(FieldError::new(path, "is required"));
        }
    }
    for (name, sent) in [
        ("consumer_key", creds.consumer_key.is_some()),
        ("consumer_secret", creds.consumer_secret.is_some()),
        ("request_token_url", creds.request_token_url.is_some()),
    ] {
        if sent {
            errors.push(FieldError::new(
                format!("auth_config.credentials.{name}"),
                "is an OAuth 1.0a setting: not allowed on OAUTH2",
            ));
        }
    }
    let policy = &state.settings.outbound;
    let (authorization_url, token_url, issuer) = (
        endpoint(
            &mut errors,
            policy,
            "auth_config.credentials.authorization_url",
            creds.authorization_url,
            Authorization,
        ),
        endpoint(&mut errors, policy, "auth_config.credentials.token_url", creds.token_url, Endpoint),
        endpoint(&mut errors, policy, "auth_config.credentials.issuer", creds.issuer, Identifier),
    );
    let revocation_url =
        endpoint(&mut errors, policy, "auth_config.credentials.revocation_url", creds.revocation_url, Endpoint);
    let (Some(toolkit), Some(client_id), Some(client_secret), true) =
        (toolkit, creds.client_id, creds.client_secret, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let new = NewOAuth2Config {
        toolkit,
        name: input.name,
        client_id,
        client_secret,
        scopes: creds.scopes.map(Scopes::into_vec).unwrap_or_default(),
        authorization_url,
        token_url,
        client_auth: creds.client_auth,
        issuer,
        revocation_url,
    };
    let created = auth_configs::create(&state, project, new, key).await?;
    Ok(created_response(created))
}

/// An `API_KEY` / `BEARER_TOKEN` / `BASIC` auth config: no credentials (each connected account
/// brings its own secret), so any OAuth credential sent is refused by name.
#[expect(clippy::too_many_arguments, reason = "the create handler's parsed parts, passed on once")]
async fn create_for_scheme(
    state: &AppState,
    project: crate::store::ProjectId,
    key: crate::store::ApiKeyId,
    toolkit: Option<ToolkitSlug>,
    scheme: AuthScheme,
    name: Option<String>,
    creds: Option<CredentialsInput>,
    mut errors: Vec<FieldError>,
) -> ApiResult<(StatusCode, Json<CreateAuthConfigResponse>)> {
    if let Some(slug) = &toolkit {
        let actual = state.catalog.get(slug).map_or(AuthScheme::OAuth2, |p| p.auth_scheme);
        if actual != scheme {
            errors.push(FieldError::new(
                "auth_config.authScheme",
                format!("toolkit {slug} uses {actual}, not {scheme}: create the auth config with authScheme {actual}"),
            ));
            return Err(ApiError::Validation(errors));
        }
    }
    if let Some(c) = creds {
        let sent = [
            ("client_id", c.client_id.is_some()),
            ("client_secret", c.client_secret.is_some()),
            ("scopes", c.scopes.is_some()),
            ("authorization_url", c.authorization_url.is_some()),
            ("token_url", c.token_url.is_some()),
            ("client_auth", c.client_auth.is_some()),
            ("issuer", c.issuer.is_some()),
            ("revocation_url", c.revocation_url.is_some()),
            ("consumer_key", c.consumer_key.is_some()),
            ("consumer_secret", c.consumer_secret.is_some()),
            ("request_token_url", c.request_token_url.is_some()),
        ];
        for (field, _) in sent.into_iter().filter(|(_, s)| *s) {
            let version = if field.starts_with("consumer_") || field == "request_token_url" { "1.0a" } else { "2.0" };
            errors.push(FieldError::new(
                format!("auth_config.credentials.{field}"),
                format!("is an OAuth {version} credential: {scheme} auth configs take none (each connected account supplies its own secret)"),
            ));
        }
    }
    let (Some(toolkit), true) = (toolkit, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let created = auth_configs::create_for_scheme(state, project, toolkit, scheme, name, key).await?;
    Ok(created_response(created))
}

fn created_response(created: AuthConfigRecord) -> (StatusCode, Json<CreateAuthConfigResponse>) {
    tracing::info!(auth_config_id = %created.id, toolkit = %created.toolkit, scheme = %created.auth_scheme, "auth config created");
    (
        StatusCode::CREATED,
        Json(CreateAuthConfigResponse {
            toolkit: ToolkitSlugOut { slug: created.toolkit.to_string() },
            auth_config: CreatedAuthConfig {
                id: created.id.to_string(),
                auth_scheme: created.auth_scheme,
                is_composio_managed: false,
                restrict_to_following_tools: Vec::new(),
            },
        }),
    )
}

/// Reads one auth config (without its secret).
#[utoipa::path(get, path = "/auth_configs/{id}", tag = "auth_configs", operation_id = "get_auth_config",
    params(("id" = String, Path, description = "`ac_…` id")),
    responses(
        (status = 200, body = AuthConfigResponse),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Project(project, _): Project,
    IdPath(id): IdPath<AuthConfigId>,
) -> ApiResult<Json<AuthConfigResponse>> {
    let config = auth_configs::get(&state, project, &id).await?;
    Ok(Json(AuthConfigResponse::new(&state, config)))
}

/// Lists auth configs, newest first.
#[utoipa::path(get, path = "/auth_configs", tag = "auth_configs", operation_id = "list_auth_configs",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<AuthConfigResponse>),
        (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Project(project, _): Project,
    LenientQuery(q): LenientQuery<ListQuery>,
) -> ApiResult<Json<ListResponse<AuthConfigResponse>>> {
    let mut e = FieldErrors::default();
    let limit = e.check("limit", page_limit(q.limit.as_deref(), 20, 1000)).unwrap_or(20);
    let toolkit = q.toolkit_slug.as_deref().and_then(|s| e.check("toolkit_slug", ToolkitSlug::parse(s)));
    let after = q
        .cursor
        .as_deref()
        .and_then(|c| e.check("cursor", Cursor::decode(c).ok_or("is not a cursor returned by this API")));
    e.finish()?;
    let filter = AuthConfigFilter {
        toolkit,
        is_composio_managed: q.is_composio_managed,
        show_disabled: q.show_disabled.unwrap_or(false),
        search: q.search,
        limit,
        after,
    };
    let page = auth_configs::list(&state, project, &filter).await?;
    Ok(Json(ListResponse::from_page(page, limit, |c| AuthConfigResponse::new(&state, c))))
}
