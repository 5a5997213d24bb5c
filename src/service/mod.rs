//! The rules of authlink, independent of HTTP: sessions, links, auth configs, connected
//! accounts and the end user's connect flow. Services take a
//! [`ServiceContext`](context::ServiceContext) (store, catalog, sealer, settings, OAuth client),
//! the caller's project and already-parsed domain values. The API services return
//! [`ApiError`](crate::error::ApiError)s that say exactly which rule failed; the connect flow
//! returns its own [`Stop`](connect::Stop)s, which `http::connect` renders as pages.

pub mod account_lifecycle;
pub mod accounts;
pub mod api_keys;
pub mod auth_configs;
pub mod completion;
pub mod connect;
pub mod connect_form;
pub mod context;
pub mod credentials;
pub mod links;
pub mod meta_tools;
pub mod oauth;
pub mod oauth1;
pub mod oauth1_configs;
pub mod oauth1_connect;
pub mod oauth_fields;
pub mod reconnect;
pub mod refresher;
pub mod resolution;
pub mod retention;
pub mod rotation;
pub mod sessions;
pub mod tokens;
pub mod toolkits;
pub mod webhooks;
