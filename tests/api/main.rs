//! Black-box HTTP tests of authlink: one fresh database and one server per test, driven with
//! reqwest. The same suite runs on both stores: `AUTHLINK_TEST_BACKEND=sqlite` (default) or
//! `postgres` (with `AUTHLINK_TEST_PG`, the admin URL of the server, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); see `tests/support/db.rs`.

#[path = "../support/db.rs"]
mod db;

mod auth;
mod auth_configs;
mod connected_accounts;
mod helpers;
mod hostile;
mod isolation;
mod link_page;
mod links;
mod listings;
mod misc;
mod path_ids;
mod refresh_lease;
mod rotation;
mod sessions;
mod shared_accounts;
mod user_links;
