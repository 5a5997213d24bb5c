//! Domain values, parsed once at the edge into types that cannot hold invalid values.
//!
//! Nothing below the HTTP layer re-validates: if a function takes a [`ToolkitSlug`] the slug is
//! lowercase and well-formed, if it takes a [`CallbackUrl`] the URL passed the allowlist.

pub mod acl;
pub mod callback;
pub mod event;
pub mod ids;
pub mod origin;
pub mod session;
pub mod slug;
pub mod status;
pub mod token;

pub use acl::{AccountType, AclConfig};
pub use callback::{CallbackAllowlist, CallbackUrl, LinkUrlAllowlist, PrefixParts};
pub use event::EventType;
pub use ids::{AuthConfigId, ConnectedAccountId, SessionId, WebhookSubscriptionId};
pub use origin::OriginAllowlist;
pub use slug::ToolkitSlug;
pub use status::AccountStatus;
pub use token::LinkToken;
