//! OAuth with connection fields (issue #15, "the subdomain step of an OAuth flow"): a toolkit
//! whose endpoints are templated on a field the user types (`https://{subdomain}.zendesk.com/…`)
//! needs those values at every step, not only at the redirect: the code exchange, each refresh
//! (request-time and ahead of expiry) and the revocation must reach the same tenant's endpoints.
//!
//! The values are sealed (AES-256-GCM, the account id as associated data) twice: on the OAuth
//! state of the sign-in they started, so the callback exchanges the code exactly where the
//! authorization request went, and on the account, where the later steps read them
//! ([`provider_for_account`]). Every build of the provider goes through
//! [`oauth::provider_with_fields`], which checks each value against its field again and re-checks
//! that every filled-in URL stays on the template's host.

use std::collections::BTreeMap;

use super::{
    connect::{Outcome, Stop},
    connect_form::{FormError, spent},
    oauth::{ProviderConfig, ProviderError, provider_for, provider_with_fields},
};
use crate::{
    catalog::{FieldError, FieldRule},
    crypto::SealError,
    domain::ConnectedAccountId,
    service::context::ServiceContext,
    store::{AuthConfigRecord, LinkView, ProjectId, StoreError},
};

/// Field values by field name, as [`crate::catalog::ValidatedFields::values`] gives them.
pub type FieldValues = BTreeMap<String, String>;

/// Why an account's provider could not be built from its stored fields.
#[derive(Debug, thiserror::Error)]
pub enum FieldsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the account's connection fields cannot be opened: {0}")]
    Sealed(#[from] SealError),
    #[error("the account's connection fields are not a JSON object of strings")]
    Corrupt,
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl From<FieldsError> for crate::error::ApiError {
    fn from(e: FieldsError) -> Self {
        match e {
            // A database outage stays a 503; everything else is a server-side inconsistency.
            FieldsError::Store(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

/// Seals field values for an account (its id is the associated data).
#[expect(clippy::expect_used, reason = "a map of strings always serializes")]
pub fn seal(ctx: &ServiceContext, account: &ConnectedAccountId, values: &FieldValues) -> String {
    let json = serde_json::to_vec(values).expect("string maps serialize");
    ctx.sealer.seal(account.as_str(), &json)
}

/// Opens what [`seal`] sealed for this account.
pub fn open(ctx: &ServiceContext, account: &ConnectedAccountId, sealed: &str) -> Result<FieldValues, FieldsError> {
    let bytes = ctx.sealer.open(account.as_str(), sealed)?;
    serde_json::from_slice(&bytes).map_err(|_| FieldsError::Corrupt)
}

/// Whether the toolkit's catalog entry declares fields, so its OAuth endpoints may need them:
/// only then is the account's row asked for its fields (plain OAuth costs no extra query).
fn takes_fields(ctx: &ServiceContext, ac: &AuthConfigRecord) -> bool {
    ctx.catalog.get(&ac.toolkit).is_some_and(|p| !p.fields.is_empty())
}

/// The provider of one account: the auth config and catalog entry, with the templated endpoints
/// filled in from the account's stored fields. Used by the refreshes and the revocation; an
/// account without stored fields gets [`provider_for`] (which refuses a template it cannot fill).
pub async fn provider_for_account(
    ctx: &ServiceContext,
    project: ProjectId,
    account: &ConnectedAccountId,
    ac: &AuthConfigRecord,
) -> Result<ProviderConfig, FieldsError> {
    if !takes_fields(ctx, ac) {
        return Ok(provider_for(ctx, ac)?);
    }
    match ctx.store.account_fields(project, account).await? {
        Some(sealed) => {
            let values = open(ctx, account, &sealed)?;
            Ok(provider_with_fields(ctx, ac, Some(&values))?)
        }
        None => Ok(provider_for(ctx, ac)?),
    }
}

/// How keeping a form's values on the link's account ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Kept {
    Stored,
    /// The link's account was completed (or deleted) meanwhile: the link is spent.
    Spent,
    /// A reconnect whose account holds other values: the tokens it would replace belong to
    /// that tenant, so another tenant is a new connection, not a reconnect.
    OtherTenant,
}

/// Seals a form's values onto the link's account before the user goes to the provider, so the
/// account already has them when the callback completes it. A new connection's account is only
/// written while INITIATED; a reconnect keeps the account's values and refuses different ones.
pub async fn keep_on_account(ctx: &ServiceContext, link: &LinkView, values: &FieldValues) -> Result<Kept, FieldsError> {
    let id = &link.account.id;
    if link.reconnect {
        if let Some(sealed) = ctx.store.account_fields(link.project, id).await? {
            return Ok(if &open(ctx, id, &sealed)? == values { Kept::Stored } else { Kept::OtherTenant });
        }
    }
    let stored = ctx.store.set_account_fields(link.project, id, &seal(ctx, id, values), !link.reconnect).await?;
    Ok(if stored { Kept::Stored } else { Kept::Spent })
}

/// After the callback completed the link's account with this sign-in's tokens: the account's
/// fields become the ones this sign-in used. (Two tabs posting different values race only on
/// the INITIATED account; whichever sign-in completes writes its own values last.)
pub async fn confirm_on_account(ctx: &ServiceContext, link: &LinkView, values: &FieldValues) -> Result<(), StoreError> {
    let id = &link.account.id;
    ctx.store.set_account_fields(link.project, id, &seal(ctx, id, values), false).await?;
    Ok(())
}

/// The hosted form's OAuth step: the provider with the form's values filled in, the values kept
/// on the account, then the sign-in as Continue starts it. A value that a template refuses
/// comes back as that field's error; nothing is stored then.
pub async fn start_form(
    ctx: &ServiceContext,
    link: &LinkView,
    values: &FieldValues,
    binding: &str,
) -> Result<Outcome, FormError> {
    let provider = match provider_with_fields(ctx, &link.auth_config, Some(values)) {
        Ok(p) => p,
        Err(ProviderError::BadField(_, e)) => return Err(FormError::Fields(vec![e])),
        Err(e) => {
            tracing::warn!(error = %e, "provider not usable");
            return Err(Stop::CannotStart(e.to_string()).into());
        }
    };
    match keep_on_account(ctx, link, values).await {
        Ok(Kept::Stored) => {}
        Ok(Kept::Spent) => return Err(spent(link).into()),
        Ok(Kept::OtherTenant) => {
            let fields = ctx.catalog.get(&link.auth_config.toolkit).map(|p| p.template_fields()).unwrap_or_default();
            let errors = fields
                .iter()
                .map(|name| {
                    FieldError::new(
                        name,
                        FieldRule::TenantFixed,
                        "must stay the one this account was connected with; connect a new account for another",
                    )
                })
                .collect();
            return Err(FormError::Fields(errors));
        }
        Err(FieldsError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(Stop::BadAttempt(e.to_string()).into()),
    }
    let url = super::connect::start_with(ctx, link, &provider, Some(values), binding).await?;
    Ok(Outcome::Redirect(url))
}
