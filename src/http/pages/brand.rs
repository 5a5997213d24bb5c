//! Which project's branding a page shows (issue 15 must-have 4, on every page state).
//!
//! Every page of a link shows its project's brand (app name, logo, accent colour, support
//! link): the link page, the hosted form and the form with its errors, the connected and failed
//! pages, the used and expired pages and every other stop of a link authlink found. The pages of
//! the OAuth callback show the brand of the project the sign-in attempt (`state`) belongs to.
//!
//! A page that belongs to no project stays authlink's own: the unknown-link page (also for a
//! link whose account was deleted, which answers exactly as an unknown one), a callback without a
//! `state` or with one authlink never issued, the database-outage page (the branding cannot be
//! read then either), and the rate limiter's 429 page (answered before any lookup, so a flood
//! costs no database reads).
//!
//! The lookups here run only for pages that do not already know their project (a stop, a
//! notice, the connected page); a store error is logged and the page renders unbranded.

use super::{Brand, branding::brand_for};
use crate::{AppState, crypto::sha256, domain::LinkToken, service::connect::Stop};

/// The brand of the link's project; `None` for an unknown link or one whose account is deleted.
pub async fn of_link(state: &AppState, token: &LinkToken) -> Option<Brand> {
    match state.store.link_by_token(&token.hash()).await {
        Ok(Some(link)) if !link.account_deleted => Some(brand_for(state, link.project).await),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error.cause = %err, "the link's project could not be read for its page's branding");
            None
        }
    }
}

/// The brand of the project a callback's `state` belongs to; `None` without a state or for one
/// authlink never issued. The state need not be usable (a used or expired one still names its
/// project), so its stop pages are branded too.
pub async fn of_state(state: &AppState, value: Option<&str>) -> Option<Brand> {
    // The bounds the callback itself applies before looking a state up.
    let value = value.filter(|s| !s.is_empty() && s.len() <= 512)?;
    match state.store.oauth_state(&sha256(value)).await {
        Ok(Some(record)) => Some(brand_for(state, record.project).await),
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(error.cause = %err, "the sign-in attempt's project could not be read for its page's branding");
            None
        }
    }
}

/// Whether a stop page can belong to a project at all: not when the link or state was not
/// found, nor when the database is out of reach (the lookup would only fail again).
pub fn has_project(stop: &Stop) -> bool {
    !matches!(stop, Stop::LinkNotFound | Stop::MissingState | Stop::UnknownState | Stop::Unavailable)
}
