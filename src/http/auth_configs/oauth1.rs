//! `POST auth_configs` with `authScheme: OAUTH1`: the app's consumer key and secret.
//!
//! Composio's OAuth 1.0a configs name them `consumer_key` / `consumer_secret`; `client_id` /
//! `client_secret` are taken as the same (clients that reuse their OAuth 2.0 code send those).
//! `request_token_url`, `authorization_url` and `token_url` override the catalog's temporary
//! credentials, authorization and token credentials endpoints (all three are required outside
//! the catalog). OAuth 2.0-only settings are refused by name.

use axum::{Json, http::StatusCode};

use super::{CreateAuthConfigResponse, CredentialsInput, created_response, endpoint};
use crate::{
    AppState,
    domain::ToolkitSlug,
    error::{ApiError, ApiResult, FieldError},
    service::{
        auth_configs::EndpointKind::{Authorization, Endpoint},
        oauth1_configs::{self, NewOAuth1Config},
    },
    store::{ApiKeyId, ProjectId},
};

const PATH: &str = "auth_config.credentials";

/// One credential, under either of its names (`consumer_*` wins when both are sent).
fn either(
    errors: &mut Vec<FieldError>,
    name: &str,
    primary: Option<String>,
    alias: Option<String>,
    max: usize,
) -> Option<String> {
    let value = primary.or(alias);
    match value.as_deref() {
        None => errors.push(FieldError::new(format!("{PATH}.{name}"), "is required")),
        Some(v) if v.is_empty() || v.chars().count() > max => {
            errors.push(FieldError::new(format!("{PATH}.{name}"), format!("length must be 1..{max}")));
        }
        Some(v) if v.chars().any(char::is_control) => {
            errors.push(FieldError::new(format!("{PATH}.{name}"), "must not contain control characters"));
        }
        Some(_) => {}
    }
    value
}

pub(super) async fn create(
    state: &AppState,
    project: ProjectId,
    key: ApiKeyId,
    toolkit: Option<ToolkitSlug>,
    name: Option<String>,
    creds: Option<CredentialsInput>,
    mut errors: Vec<FieldError>,
) -> ApiResult<(StatusCode, Json<CreateAuthConfigResponse>)> {
    let Some(c) = creds else {
        errors.push(FieldError::new(PATH, "is required: consumer_key and consumer_secret"));
        return Err(ApiError::Validation(errors));
    };
    for (field, sent) in [
        ("scopes", c.scopes.is_some()),
        ("client_auth", c.client_auth.is_some()),
        ("issuer", c.issuer.is_some()),
        ("revocation_url", c.revocation_url.is_some()),
    ] {
        if sent {
            errors.push(FieldError::new(format!("{PATH}.{field}"), "is an OAuth 2.0 setting: not allowed on OAUTH1"));
        }
    }
    let consumer_key = either(&mut errors, "consumer_key", c.consumer_key, c.client_id, 512);
    let consumer_secret = either(&mut errors, "consumer_secret", c.consumer_secret, c.client_secret, 4096);
    let policy = &state.settings.outbound;
    let request_token_url =
        endpoint(&mut errors, policy, "auth_config.credentials.request_token_url", c.request_token_url, Endpoint);
    let authorize_url =
        endpoint(&mut errors, policy, "auth_config.credentials.authorization_url", c.authorization_url, Authorization);
    let access_token_url = endpoint(&mut errors, policy, "auth_config.credentials.token_url", c.token_url, Endpoint);
    let (Some(toolkit), Some(consumer_key), Some(consumer_secret), true) =
        (toolkit, consumer_key, consumer_secret, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let new = NewOAuth1Config {
        toolkit,
        name,
        consumer_key,
        consumer_secret,
        request_token_url,
        authorize_url,
        access_token_url,
    };
    let created = oauth1_configs::create(state, project, new, key).await?;
    Ok(created_response(created))
}
