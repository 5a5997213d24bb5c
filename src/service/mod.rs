//! The rules of authlink, independent of HTTP: sessions, links, auth configs and connected
//! accounts. Services take already-parsed domain values and the caller's project, talk to the
//! [`Store`](crate::store::Store) and return [`ApiError`](crate::error::ApiError)s that say
//! exactly which rule failed.

pub mod accounts;
pub mod auth_configs;
pub mod completion;
pub mod connect;
pub mod context;
pub mod links;
pub mod oauth;
pub mod resolution;
pub mod rotation;
pub mod sessions;
pub mod tokens;
pub mod toolkits;
