//! Black-box HTTP tests of authlink against a real PostgreSQL: one fresh database and one server
//! per test, driven with reqwest. Set `AUTHLINK_TEST_PG` to the admin URL of the server
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).

mod auth;
mod auth_configs;
mod connected_accounts;
mod helpers;
mod hostile;
mod isolation;
mod links;
mod misc;
mod sessions;
mod shared_accounts;
mod user_links;
