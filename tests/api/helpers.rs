//! The test harness: one fresh database (of the run's backend, see `tests/support/db.rs`) and one
//! authlink server per test, driven over real HTTP with reqwest. Modelled on zero2prod's `spawn_app`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use authlink::{
    AppState, Settings,
    catalog::Catalog,
    config::EncryptionKey,
    crypto::{Sealer, new_api_key, sha256},
    http::limits::{Limits, RateLimitSettings, ServerSettings},
    outbound::OutboundPolicy,
    store::{Store, postgres::PgStore, sqlite::SqliteStore},
};
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::db::{Backend, Db, NO_ARGS, TestDatabase};

/// The client secret every helper-created auth config uses; tests search dumps for it.
pub const CLIENT_SECRET: &str = "s3cr3t-client-secret-do-not-leak";
/// The default allowlist of the test server.
pub const DEFAULT_ALLOWLIST: &str = "https://app.example.com/cb,http://127.0.0.1";

/// The default `AUTHLINK_LINK_URL_ALLOWLIST` of the test server: the bases the tests' sessions
/// name in `experimental.link_url_overwrite`.
pub const DEFAULT_LINK_URL_ALLOWLIST: &str = "https://connect.example.com,https://example.org/auth";

/// With `TEST_LOG` set, shows the servers' logs in the test output (captured per test, printed
/// when the test fails): a fmt subscriber on the test writer, filtered by `RUST_LOG` or else
/// `authlink=debug,tower_http=debug`. Installed once per test binary.
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("authlink=debug,tower_http=debug"));
        // Another subscriber may already be set (by a test of its own): keep it.
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// How to start a test server.
pub struct TestAppBuilder {
    allowlist: String,
    ttl: Duration,
    store_addr: Option<SocketAddr>,
    endpoint_allowlist: String,
    tenant_endpoints_forbidden: bool,
    rate_limits: RateLimitSettings,
    server: ServerSettings,
    link_url_allowlist: String,
    public_url: Option<String>,
    metrics_token: Option<String>,
    catalog_dir: Option<std::path::PathBuf>,
}

impl TestAppBuilder {
    /// `AUTHLINK_CALLBACK_ALLOWLIST` of the server; `""` means loopback only.
    pub fn allowlist(mut self, allowlist: &str) -> Self {
        self.allowlist = allowlist.to_owned();
        self
    }

    /// `AUTHLINK_ENDPOINT_ALLOWLIST` of the server (default empty): the origins of local
    /// providers (a [`crate::fake_oauth::FakeOAuth`]'s `base`) that auth configs may point at.
    pub fn endpoint_allowlist(mut self, origins: &str) -> Self {
        self.endpoint_allowlist = origins.to_owned();
        self
    }

    /// `AUTHLINK_TENANT_ENDPOINTS=forbidden`: auth configs may use the catalog's endpoints only.
    pub fn tenant_endpoints_forbidden(mut self) -> Self {
        self.tenant_endpoints_forbidden = true;
        self
    }

    /// `AUTHLINK_LINK_URL_ALLOWLIST` of the server (default [`DEFAULT_LINK_URL_ALLOWLIST`]; `""`
    /// means the public URL's origin only).
    pub fn link_url_allowlist(mut self, allowlist: &str) -> Self {
        self.link_url_allowlist = allowlist.to_owned();
        self
    }

    /// `AUTHLINK_PUBLIC_URL` of the server (default: its own `http://127.0.0.1:<port>`), e.g. an
    /// `https://…` URL as behind a TLS proxy. Requests still go to [`TestApp::base`]; map the
    /// URLs the server hands out back with [`TestApp::local`].
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// `AUTHLINK_LINK_TTL_SECS` of the server.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Connects the store (PostgreSQL only) to `addr` instead of the database server's own
    /// host and port: a proxy in front of the server, which a test can make stall.
    pub fn store_through(mut self, addr: SocketAddr) -> Self {
        self.store_addr = Some(addr);
        self
    }

    /// The `AUTHLINK_RATE_LIMIT_*` settings of the server (default: authlink's defaults).
    pub fn rate_limits(mut self, rate_limits: RateLimitSettings) -> Self {
        self.rate_limits = rate_limits;
        self
    }

    /// `AUTHLINK_HEADER_READ_TIMEOUT_SECS` of the server, at any precision.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.server.header_read_timeout = timeout;
        self
    }

    /// `AUTHLINK_SHUTDOWN_DRAIN_SECS` of the server, at any precision.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.server.drain_timeout = timeout;
        self
    }

    /// `AUTHLINK_MAX_CONNECTIONS` of the server.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.server.max_connections = max;
        self
    }

    /// `AUTHLINK_METRICS_TOKEN` of the server (default unset).
    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_owned());
        self
    }

    /// `AUTHLINK_CATALOG_DIR` of the server: extra catalog files loaded over the built-in ones.
    pub fn catalog_dir(mut self, dir: &std::path::Path) -> Self {
        self.catalog_dir = Some(dir.to_owned());
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_test_log();
        let database = TestDatabase::create().await;
        let (store, db): (Arc<dyn Store>, Db) = match database.backend {
            Backend::Postgres => {
                let mut url = url::Url::parse(&database.url).expect("the test database URL");
                if let Some(addr) = self.store_addr {
                    url.set_ip_host(addr.ip()).expect("a host URL");
                    url.set_port(Some(addr.port())).expect("a host URL");
                }
                let store = PgStore::connect(url.as_str(), 10).await.expect("connect and migrate the test database");
                let pool = store.pool().clone();
                (Arc::new(store), Db::Pg(pool))
            }
            Backend::Sqlite => {
                assert!(self.store_addr.is_none(), "store_through is for PostgreSQL");
                let store = SqliteStore::connect(&database.url, 10).await.expect("open and migrate the test database");
                let pool = store.pool().clone();
                (Arc::new(store), Db::Lite(pool))
            }
        };

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let public = self.public_url.clone().unwrap_or_else(|| base.clone());
        let settings = Settings {
            public_base: public.clone(),
            link_ttl: self.ttl,
            callback_allowlist: self.allowlist.parse().expect("allowlist"),
            outbound: OutboundPolicy::new(
                self.endpoint_allowlist.parse().expect("endpoint allowlist"),
                self.tenant_endpoints_forbidden,
            ),
            link_url_allowlist: self.link_url_allowlist.parse().expect("link URL allowlist"),
            mcp_allowed_origins: "http://127.0.0.1:6274".parse().expect("MCP origins"),
        };
        let replica_settings = (settings.clone(), self.rate_limits, self.server);
        let state = AppState::new(
            store.clone(),
            Catalog::load(self.catalog_dir.as_deref()).expect("catalog"),
            Sealer::new(&EncryptionKey([7u8; 32]), &[]),
            settings,
        )
        .with_limits(Limits::new(self.rate_limits, self.server))
        .with_metrics_token(self.metrics_token.as_deref());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(authlink::serve(listener, state, async {
            rx.await.ok();
        }));

        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let mut app = TestApp {
            addr,
            base,
            public,
            api_key: String::new(),
            store,
            db,
            database,
            client,
            shutdown: Some(tx),
            server: Some(server),
            replica_settings,
        };
        app.api_key = app.new_project_key("project-a").await;
        app
    }
}

/// A running server on its own database, with a project key for "project-a".
pub struct TestApp {
    /// The server's listening address.
    pub addr: std::net::SocketAddr,
    /// `http://127.0.0.1:<port>`, where the server listens.
    pub base: String,
    /// The server's public base URL: [`Self::base`] unless the builder set another.
    pub public: String,
    /// Key of the default project.
    pub api_key: String,
    pub store: Arc<dyn Store>,
    /// Raw SQL on the same database, for checks the API cannot make.
    pub db: Db,
    pub database: TestDatabase,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    replica_settings: (Settings, RateLimitSettings, ServerSettings),
}

/// A second authlink server on a [`TestApp`]'s database: its own store (pool), caches and
/// limiters, the same settings (public URL included, as replicas behind one load balancer).
pub struct Replica {
    pub base: String,
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Replica {
    /// `url` (one of the app's public URLs) on this replica instead.
    pub fn local(&self, app: &TestApp, url: &str) -> String {
        url.replacen(&app.public, &self.base, 1)
    }

    pub fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response: status, headers and the body as JSON (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, printing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", self.text);
        &self.body
    }
}

/// A view of the API with one credential and one path prefix.
pub struct Api<'a> {
    app: &'a TestApp,
    key: Option<String>,
    prefix: &'static str,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.app.base)
        } else {
            format!("{}{}{path}", self.app.base, self.prefix)
        }
    }

    /// A request with this view's credential; `path` without a leading `/` is under the prefix.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.app.client.request(method, self.url(path));
        match &self.key {
            Some(key) => rb.header("x-api-key", key),
            None => rb,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.request(Method::GET, path)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        send(self.request(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        send(self.request(Method::DELETE, path)).await
    }

    /// POST with a raw body (for malformed JSON and the like).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Resp {
        send(self.request(Method::POST, path).header("content-type", "application/json").body(body)).await
    }
}

/// Sends a request and collects the response.
pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let response = rb.send().await.expect("request failed at the transport level");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("read body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, headers, body, text }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            allowlist: DEFAULT_ALLOWLIST.to_owned(),
            ttl: Duration::from_secs(600),
            store_addr: None,
            endpoint_allowlist: String::new(),
            tenant_endpoints_forbidden: false,
            rate_limits: RateLimitSettings::default(),
            server: ServerSettings::default(),
            link_url_allowlist: DEFAULT_LINK_URL_ALLOWLIST.to_owned(),
            public_url: None,
            metrics_token: None,
            catalog_dir: None,
        }
    }

    /// A URL the server handed out (under its public URL) as the test reaches it (under `base`).
    pub fn local(&self, url: &str) -> String {
        match url.strip_prefix(self.public.as_str()) {
            Some(rest) => format!("{}{rest}", self.base),
            None => url.to_owned(),
        }
    }

    /// The default view: v3.1 paths, project A's key.
    pub fn api(&self) -> Api<'_> {
        Api { app: self, key: Some(self.api_key.clone()), prefix: "/api/v3.1/" }
    }

    /// v3 paths, project A's key.
    pub fn v3(&self) -> Api<'_> {
        Api { app: self, key: Some(self.api_key.clone()), prefix: "/api/v3/" }
    }

    /// v3.1 paths with another key.
    pub fn as_key(&self, key: &str) -> Api<'_> {
        Api { app: self, key: Some(key.to_owned()), prefix: "/api/v3.1/" }
    }

    /// v3.1 paths without any credential.
    pub fn anonymous(&self) -> Api<'_> {
        Api { app: self, key: None, prefix: "/api/v3.1/" }
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.api().post(path, body).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.api().get(path).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.api().patch(path, body).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.api().delete(path).await
    }

    /// Creates (or reuses) a project and returns a fresh key for it.
    pub async fn new_project_key(&self, project: &str) -> String {
        let key = new_api_key();
        self.store.create_api_key(project, &sha256(&key), "hint").await.expect("create api key");
        key
    }

    /// Creates a custom OAuth2 auth config for a catalog toolkit; returns its id.
    pub async fn create_auth_config(&self, toolkit: &str) -> String {
        self.create_auth_config_with(&self.api(), toolkit, json!({})).await
    }

    /// Creates an auth config with extra `credentials` fields, through the given view.
    pub async fn create_auth_config_with(&self, api: &Api<'_>, toolkit: &str, extra_credentials: Value) -> String {
        let mut credentials = json!({"client_id": format!("client-{toolkit}"), "client_secret": CLIENT_SECRET,
                                     "scopes": ["read", "write"]});
        for (k, v) in extra_credentials.as_object().expect("object") {
            credentials[k] = v.clone();
        }
        let r = api
            .post(
                "auth_configs",
                json!({"toolkit": {"slug": toolkit},
                       "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                                       "name": format!("{toolkit} app"), "credentials": credentials}}),
            )
            .await;
        r.expect(201, "create auth config");
        r.body["auth_config"]["id"].as_str().expect("auth_config.id").to_owned()
    }

    /// Creates a session (v3.1) and returns its id.
    pub async fn create_session(&self, body: Value) -> String {
        let r = self.post("tool_router/session", body).await;
        r.expect(201, "create session");
        r.body["session_id"].as_str().expect("session_id").to_owned()
    }

    /// Creates a link on a session; returns the raw response.
    pub async fn link(&self, session_id: &str, body: Value) -> Resp {
        self.post(&format!("tool_router/session/{session_id}/link"), body).await
    }

    /// Creates a link that must succeed; returns the new account id.
    pub async fn link_ok(&self, session_id: &str, body: Value) -> String {
        let r = self.link(session_id, body).await;
        r.expect(201, "create link");
        r.body["connected_account_id"].as_str().expect("connected_account_id").to_owned()
    }

    /// Lists connected accounts with a raw query string.
    pub async fn list_accounts(&self, query: &str) -> Value {
        let r = self.get(&format!("connected_accounts?{query}")).await;
        r.expect(200, &format!("list accounts ?{query}")).clone()
    }

    /// Ids of a listing's items.
    pub async fn account_ids(&self, query: &str) -> Vec<String> {
        ids(&self.list_accounts(query).await)
    }

    /// Row counts of the tables link creation writes.
    pub async fn row_counts(&self) -> (i64, i64, i64) {
        let count = |table: &'static str| async move {
            self.db.scalar::<i64, _>(&format!("select count(*) from {table}"), NO_ARGS).await
        };
        (count("connected_account").await, count("link").await, count("tool_router_session").await)
    }

    /// Everything the database holds, as text, for "no secret in clear" checks. PostgreSQL: every
    /// row of every table. SQLite: the raw bytes of the database and its WAL (stricter: it also
    /// sees freed pages).
    pub async fn dump(&self) -> String {
        match &self.db {
            Db::Pg(_) => {
                let tables: Vec<String> = self
                    .db
                    .scalars(
                        "select table_name::text from information_schema.tables
                         where table_schema = 'public' and table_type = 'BASE TABLE'",
                        NO_ARGS,
                    )
                    .await;
                assert!(tables.len() >= 5, "expected the schema's tables, got {tables:?}");
                let mut out = String::new();
                for table in tables {
                    let rows: Vec<String> =
                        self.db.scalars(&format!(r#"select t::text from "{table}" t"#), NO_ARGS).await;
                    for row in rows {
                        out.push_str(&table);
                        out.push_str(": ");
                        out.push_str(&row);
                        out.push('\n');
                    }
                }
                out
            }
            Db::Lite(_) => {
                let file = self.database.sqlite_file().expect("a SQLite test database has a file");
                let mut out = String::new();
                for suffix in ["", "-wal"] {
                    let path = format!("{}{suffix}", file.display());
                    if let Ok(bytes) = std::fs::read(&path) {
                        out.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                assert!(out.contains("CREATE TABLE connected_account"), "the dump holds no schema");
                out
            }
        }
    }

    /// Makes the database unreachable under the running server: PostgreSQL drops it, SQLite
    /// closes the pool (an open file cannot be taken away from a process).
    pub async fn drop_database_now(&mut self) {
        match self.database.backend {
            Backend::Postgres => self.database.remove().await,
            Backend::Sqlite => self.db.close().await,
        }
    }

    /// Starts a [`Replica`] of this server on the same database.
    pub async fn replica(&self) -> Replica {
        let store: Arc<dyn Store> = match self.database.backend {
            Backend::Postgres => Arc::new(PgStore::connect(&self.database.url, 10).await.expect("replica store")),
            Backend::Sqlite => Arc::new(SqliteStore::connect(&self.database.url, 10).await.expect("replica store")),
        };
        let (settings, rate, server) = self.replica_settings.clone();
        let state = AppState::new(
            store.clone(),
            Catalog::embedded().expect("catalog"),
            Sealer::new(&EncryptionKey([7u8; 32]), &[]),
            settings,
        )
        .with_limits(Limits::new(rate, server));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(authlink::serve(listener, state, async {
            rx.await.ok();
        }));
        Replica { base, store, shutdown: Some(tx) }
    }

    /// Signals the server to shut down (as SIGTERM does) without waiting for it.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Signals the server to shut down (as SIGTERM does) and waits for `serve` to return; how long
    /// that took, and whether it returned `Ok`.
    pub async fn shut_down(&mut self) -> (Duration, bool) {
        let started = std::time::Instant::now();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("the server is running");
        let result = tokio::time::timeout(Duration::from_secs(60), server).await.expect("serve returned");
        (started.elapsed(), matches!(result, Ok(Ok(()))))
    }

    /// Stops the server and removes the test database. A test that panics before calling this
    /// still gets its database removed by `TestDatabase`'s `Drop`.
    pub async fn cleanup(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        self.db.close().await;
        self.database.remove().await;
    }
}

/// A test server with the default settings.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// Ids of a listing's `items`.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
}

/// Checks the whole error envelope: message, code, slug, status, request id (= header).
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, slug: &str) {
    assert_error_ctx(r, status, slug, "");
}

/// [`assert_error`] with a case name for table-driven tests.
#[track_caller]
pub fn assert_error_ctx(r: &Resp, status: u16, slug: &str, case: &str) {
    assert_eq!(r.status, status, "[{case}] status; body: {}", r.text);
    let e = &r.body["error"];
    assert!(e.is_object(), "[{case}] no error envelope: {}", r.text);
    let message = e["message"].as_str().unwrap_or_else(|| panic!("[{case}] error.message not a string: {}", r.text));
    assert!(!message.is_empty(), "[{case}] empty error.message");
    assert!(e["code"].is_number(), "[{case}] error.code not a number: {}", r.text);
    assert_eq!(e["slug"], slug, "[{case}] error.slug; body: {}", r.text);
    assert_eq!(e["status"], status, "[{case}] error.status; body: {}", r.text);
    let request_id = e["request_id"].as_str().unwrap_or_else(|| panic!("[{case}] no request_id: {}", r.text));
    assert!(!request_id.is_empty(), "[{case}] empty request_id");
    assert_eq!(r.header("x-request-id"), Some(request_id), "[{case}] request_id differs from x-request-id header");
    let content_type = r.header("content-type").unwrap_or("");
    assert!(content_type.starts_with("application/json"), "[{case}] content-type {content_type}");
}

/// A 503 the client may retry: the contract envelope with `HTTP_ServiceUnavailable`, a
/// `Retry-After` header of whole seconds, and nothing about the database in the body.
#[track_caller]
pub fn assert_unavailable(r: &Resp, case: &str) {
    assert_error_ctx(r, 503, "HTTP_ServiceUnavailable", case);
    let retry_after = r.header("retry-after").unwrap_or_else(|| panic!("[{case}] no Retry-After header"));
    assert!(retry_after.parse::<u32>().is_ok_and(|s| s > 0), "[{case}] Retry-After {retry_after:?}");
    let lower = r.text.to_lowercase();
    for leak in ["sqlx", "postgres", "sqlite", "authlink_test_", "pool", "connection refused", "does not exist"] {
        assert!(!lower.contains(leak), "[{case}] the error leaks {leak:?}: {}", r.text);
    }
}

/// The error message of an envelope.
pub fn message(r: &Resp) -> String {
    r.body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

/// Message plus `errors[]`, for "names the field" checks.
pub fn error_text(r: &Resp) -> String {
    let mut out = message(r);
    if let Some(errors) = r.body["error"]["errors"].as_array() {
        for e in errors {
            out.push('\n');
            out.push_str(e.as_str().unwrap_or_default());
        }
    }
    out
}

/// `prefix` + 12 nanoid characters.
pub fn is_id(value: &Value, prefix: &str) -> bool {
    value
        .as_str()
        .and_then(|s| s.strip_prefix(prefix))
        .is_some_and(|rest| rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b)))
}

/// Parses an ISO-8601 timestamp.
#[track_caller]
pub fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let raw = value.as_str().unwrap_or_else(|| panic!("not a string timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(raw).unwrap_or_else(|e| panic!("{raw}: {e}")).with_timezone(&chrono::Utc)
}

/// A well-formed id that exists nowhere.
pub fn unknown_id(prefix: &str) -> String {
    format!("{prefix}Zz9Yy8Xx7Ww6")
}
