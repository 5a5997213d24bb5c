//! Black-box HTTP tests of authlink: one fresh database and one server per test, driven with
//! reqwest. The same suite runs on both stores: `AUTHLINK_TEST_BACKEND=sqlite` (default) or
//! `postgres` (with `AUTHLINK_TEST_PG`, the admin URL of the server, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); see `tests/support/db.rs`.
//!
//! OAuth flows run against an in-process fake provider (`tests/support/fake_oauth.rs`), one per
//! test, that authlink's auth configs point at with `authorization_url` / `token_url`.
//!
//! Logs: `TEST_LOG=1 cargo test --test api -- name` shows the servers' logs (a tracing fmt
//! subscriber on the test writer, installed once by the harness). The filter is `RUST_LOG` when
//! set, else `authlink=debug,tower_http=debug`; e.g. `TEST_LOG=1 RUST_LOG=authlink=trace`. A
//! test on the default current-thread runtime runs its server on its own thread, so libtest
//! captures the logs with that test's output and prints them when it fails (add `--nocapture`
//! to see them always); on a multi-thread runtime they go straight to stdout.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed setup step or lookup should fail the test, loudly"
)]

#[path = "../support/db.rs"]
mod db;
#[path = "../support/fake_oauth.rs"]
mod fake_oauth;

mod account_lifecycle;
mod api_keys;
mod auth;
mod auth_config_lifecycle;
mod auth_configs;
mod catalog_snapshot;
mod complete_auth;
mod connected_accounts;
mod docs;
mod drain;
mod group_commit;
mod helpers;
mod hostile;
mod i18n;
mod idempotency;
mod isolation;
mod link_branding;
mod link_form;
mod link_page;
mod links;
mod listings;
mod long_filters;
mod mcp;
mod metrics;
mod misc;
mod oauth1_flow;
mod oauth1_provider;
mod oauth_fields;
mod oauth_flow;
mod path_ids;
mod rate_limits;
mod reconnect;
mod refresh_lease;
mod replicas;
mod retention;
mod rotation;
mod schemes;
mod server_limits;
mod sessions;
mod shared_accounts;
mod toolkits;
mod unavailable;
mod user_links;
mod webhook_flow;
mod webhooks;
