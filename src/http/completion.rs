//! `POST connected_accounts/complete_auth`: the app's half of a user-bound completion (see
//! [`crate::service::completion`]), shaped as Composio's endpoint of that name.

use axum::{Json, extract::State};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::{
    connected_accounts::AccountResponse,
    extract::{Project, ValidatedJson},
};
use crate::{
    AppState,
    error::{ApiResult, ErrorEnvelope},
    service::{completion, tokens},
};

/// Body of `complete_auth`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CompleteAuthRequest {
    /// The single-use value the verifier URL received as `session_uri`.
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub session_uri: String,
    /// The app's user logged in in the browser that reached the verifier.
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
}

/// Completes a deferred OAuth connection after the app verified who is logged in: ACTIVE when
/// `user_id` is the connection's user; otherwise the connection is FAILED. The session is
/// single-use and valid for ten minutes.
#[utoipa::path(post, path = "/connected_accounts/complete_auth", tag = "connected_accounts", operation_id = "complete_auth",
    request_body = CompleteAuthRequest,
    responses(
        (status = 200, description = "The now-ACTIVE connected account", body = AccountResponse),
        (status = 400, description = "Invalid body, or `user_id` is not the connection's user (the connection is now FAILED)", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 404, description = "Unknown, already used or expired `session_uri`", body = ErrorEnvelope),
    ))]
pub async fn complete_auth(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<CompleteAuthRequest>,
) -> ApiResult<Json<AccountResponse>> {
    let id = completion::complete(&state, project, &body.session_uri, &body.user_id).await?;
    // Read back as `GET connected_accounts/{id}` answers it, tokens included.
    let (account, tokens) = tokens::read(&state, project, &id, false).await?;
    Ok(Json(AccountResponse::with_tokens(account, tokens)))
}
