//! Errors of outbound calls, shaped so tenants cannot use authlink as a network scanner.
//!
//! If a tenant could tell "connection refused" from "timed out" from "no such host", a custom
//! token URL would let them map the operator's network port by port. So every transport failure
//! has one and the same public text; the cause stays in the error's `source` and in a
//! `tracing::debug!` line for the operator.

use super::policy::OutboundRefusal;

/// Why an outbound request produced no response. A non-success HTTP status is not an error: it
/// comes back in [`super::OutboundResponse`] for the caller to interpret (OAuth error bodies).
///
/// `Display` equals [`OutboundError::public_reason`], so formatting the error never leaks more.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL, or what its name resolved to, is not allowed. Nothing was sent.
    #[error("endpoint address not allowed")]
    Refused(#[from] OutboundRefusal),
    /// The response body went past the size cap; reading stopped there.
    #[error("the endpoint's response was too large")]
    TooLarge { limit: usize },
    /// DNS, connect, TLS, timeout or protocol failure; which one is for logs only.
    #[error("the endpoint could not be used")]
    Transport(#[source] reqwest::Error),
}

impl OutboundError {
    /// The text a tenant may see (API error message, callback `error_description`, webhook
    /// delivery log). Deliberately the same for every transport failure.
    pub fn public_reason(&self) -> &'static str {
        match self {
            Self::Refused(_) => "endpoint address not allowed",
            Self::TooLarge { .. } => "the endpoint's response was too large",
            Self::Transport(_) => "the endpoint could not be used",
        }
    }

    /// Maps a reqwest failure, recognising the resolver's refusal inside reqwest's error chain
    /// (reqwest reports it as a connect error, but nothing was connected to).
    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(e) = cause {
            if let Some(refusal) = e.downcast_ref::<OutboundRefusal>() {
                return Self::Refused(refusal.clone());
            }
            cause = e.source();
        }
        let error = error.without_url();
        tracing::debug!(error = ?error, "outbound request failed");
        Self::Transport(error)
    }
}
