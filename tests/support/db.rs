//! The test database, on either store: one suite, two backends.
//!
//! `AUTHLINK_TEST_BACKEND` picks the backend for the whole run: `sqlite` (the default, needs
//! nothing installed) or `postgres` (a fresh database per test on the server at
//! `AUTHLINK_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/postgres`). `scripts/test.sh`
//! runs the suite once per backend. Raw SQL in tests goes through [`Db`], whose queries are
//! written in the subset both dialects share (`$1` parameters, `cast(x as text)`, `true`/`false`).

use std::path::PathBuf;

use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Sqlite, SqlitePool, postgres::PgRow, sqlite::SqliteRow};
use uuid::Uuid;

/// Which store the run tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// From `AUTHLINK_TEST_BACKEND`; panics on an unknown name so a typo never silently tests
    /// the wrong store.
    pub fn from_env() -> Self {
        match std::env::var("AUTHLINK_TEST_BACKEND").as_deref().map(str::trim) {
            Err(_) | Ok("" | "sqlite") => Self::Sqlite,
            Ok("postgres") => Self::Postgres,
            Ok(other) => panic!("AUTHLINK_TEST_BACKEND must be sqlite or postgres, not {other:?}"),
        }
    }
}

fn admin_url() -> String {
    std::env::var("AUTHLINK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `host:port` of the PostgreSQL server of the run, for a proxy in front of it.
pub fn pg_server() -> String {
    let url = url::Url::parse(&admin_url()).expect("AUTHLINK_TEST_PG is a URL");
    format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), url.port().unwrap_or(5432))
}

/// A fresh, empty database of the run's backend, removed by [`TestDatabase::remove`] or on drop.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What `DATABASE_URL` would be: `postgres://…/authlink_test_<uuid>` or `sqlite://<dir>/authlink.db`.
    pub url: String,
    name: String,
    dir: Option<PathBuf>,
    removed: bool,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("authlink_test_{}", Uuid::new_v4().simple());
        match Backend::from_env() {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&admin_url())
                    .await
                    .expect("connect to the admin database (is PostgreSQL up?)");
                sqlx::query(&format!(r#"create database "{name}""#)).execute(&mut conn).await.expect("create database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin_url()).expect("AUTHLINK_TEST_PG is a URL");
                url.set_path(&format!("/{name}"));
                Self { backend: Backend::Postgres, url: url.to_string(), name, dir: None, removed: false }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("create the test database directory");
                let url = format!("sqlite://{}", dir.join("authlink.db").display());
                Self { backend: Backend::Sqlite, url, name, dir: Some(dir), removed: false }
            }
        }
    }

    /// The SQLite file, for raw-byte checks.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("authlink.db"))
    }

    /// Drops the database (PostgreSQL: even with open connections) or deletes the SQLite directory.
    pub async fn remove(&mut self) {
        match &self.dir {
            None => {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!(r#"drop database if exists "{}" with (force)"#, self.name))
                        .execute(&mut conn)
                        .await;
                    conn.close().await.ok();
                }
            }
            Some(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        self.removed = true;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        // A failed test: drop the database from a thread of its own (no async in Drop).
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url()).await.ok()?;
                sqlx::query(&format!(r#"drop database if exists "{name}" with (force)"#))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = dropper.join();
    }
}

/// A column type both drivers decode.
pub trait Col:
    for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
    + for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + Send
    + Unpin
    + 'static
{
}

impl<T> Col for T where
    T: for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + Send
        + Unpin
        + 'static
{
}

/// A bind parameter: text or bytes.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

/// Raw SQL access to the test database, beside the store under test.
#[derive(Debug, Clone)]
pub enum Db {
    Pg(PgPool),
    Lite(SqlitePool),
}

/// One row of either driver.
pub enum DbRow {
    Pg(PgRow),
    Lite(SqliteRow),
}

impl DbRow {
    #[track_caller]
    pub fn get<T: Col>(&self, column: &str) -> T {
        match self {
            Self::Pg(row) => row.get(column),
            Self::Lite(row) => row.get(column),
        }
    }
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Text(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

fn args<A: Into<Arg>>(args: impl IntoIterator<Item = A>) -> Vec<Arg> {
    args.into_iter().map(Into::into).collect()
}

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Self::Pg(_) => Backend::Postgres,
            Self::Lite(_) => Backend::Sqlite,
        }
    }

    /// Runs a statement; returns the rows it affected.
    pub async fn execute<A: Into<Arg>>(&self, sql: &str, binds: impl IntoIterator<Item = A>) -> u64 {
        let binds = args(binds);
        match self {
            Self::Pg(pool) => bind_all!(sqlx::query(sql), binds).execute(pool).await.map(|r| r.rows_affected()),
            Self::Lite(pool) => bind_all!(sqlx::query(sql), binds).execute(pool).await.map(|r| r.rows_affected()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of the one row a query returns.
    pub async fn scalar<T: Col, A: Into<Arg>>(&self, sql: &str, binds: impl IntoIterator<Item = A>) -> T {
        self.row(sql, binds).await.first()
    }

    /// The first column of every row.
    pub async fn scalars<T: Col, A: Into<Arg>>(&self, sql: &str, binds: impl IntoIterator<Item = A>) -> Vec<T> {
        self.rows(sql, binds).await.iter().map(DbRow::first).collect()
    }

    /// The one row a query returns.
    pub async fn row<A: Into<Arg>>(&self, sql: &str, binds: impl IntoIterator<Item = A>) -> DbRow {
        let binds = args(binds);
        match self {
            Self::Pg(pool) => bind_all!(sqlx::query(sql), binds).fetch_one(pool).await.map(DbRow::Pg),
            Self::Lite(pool) => bind_all!(sqlx::query(sql), binds).fetch_one(pool).await.map(DbRow::Lite),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row a query returns.
    pub async fn rows<A: Into<Arg>>(&self, sql: &str, binds: impl IntoIterator<Item = A>) -> Vec<DbRow> {
        let binds = args(binds);
        match self {
            Self::Pg(pool) => {
                bind_all!(sqlx::query(sql), binds).fetch_all(pool).await.map(|r| r.into_iter().map(DbRow::Pg).collect())
            }
            Self::Lite(pool) => bind_all!(sqlx::query(sql), binds)
                .fetch_all(pool)
                .await
                .map(|r| r.into_iter().map(DbRow::Lite).collect()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn close(&self) {
        match self {
            Self::Pg(pool) => pool.close().await,
            Self::Lite(pool) => pool.close().await,
        }
    }
}

impl DbRow {
    #[track_caller]
    fn first<T: Col>(&self) -> T {
        match self {
            Self::Pg(row) => row.get(0),
            Self::Lite(row) => row.get(0),
        }
    }
}

/// No bind parameters.
pub const NO_ARGS: [&str; 0] = [];
