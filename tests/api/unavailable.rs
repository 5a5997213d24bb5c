//! A database that is there but cannot be used: PostgreSQL behind a host that stopped answering
//! (sockets open, no byte moving), SQLite locked by another writer. Both are 503s with
//! `Retry-After`, readiness answers within its 1 s budget, and the service recovers by itself.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::JoinHandle,
};

use crate::{
    db::{Backend, pg_server},
    helpers::{Resp, TestApp, assert_unavailable},
};

/// A TCP proxy in front of PostgreSQL that can stall: paused, it accepts connections and keeps
/// every socket open but moves no byte, like a database host that stopped answering (no RST, no
/// FIN: the case timeouts, not errors, have to catch).
struct StallProxy {
    addr: SocketAddr,
    paused: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl StallProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (paused, flow) = watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, mut flow) = (upstream.clone(), flow.clone());
                tokio::spawn(async move {
                    flowing(&mut flow).await;
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(pump(client_read, server_write, flow.clone()), pump(server_read, client_write, flow));
                });
            }
        });
        Self { addr, paused, accept }
    }

    fn pause(&self) {
        self.paused.send_replace(true);
    }

    fn resume(&self) {
        self.paused.send_replace(false);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Waits while the proxy is paused.
async fn flowing(flow: &mut watch::Receiver<bool>) {
    let _ = flow.wait_for(|paused| !paused).await;
}

/// Copies one direction of a connection, holding the bytes while the proxy is paused.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut flow: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        flowing(&mut flow).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        flowing(&mut flow).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Sends requests until one answers `status`, for at most `within`; returns that response.
async fn eventually(app: &TestApp, path: &str, status: u16, within: Duration) -> Resp {
    let deadline = Instant::now() + within;
    loop {
        let r = app.api().get(path).await;
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL: the 1 s target (the store's acquire timeout is 0.8 s) plus room for a loaded
/// 2-core machine. SQLite's lock wait is its 5 s busy timeout: [`SQLITE_BUDGET`].
const ACQUIRE_BUDGET: Duration = Duration::from_millis(1500);
const SQLITE_BUDGET: Duration = Duration::from_secs(8);

/// How long the service may take to answer again once the database does: connections stuck on
/// the stalled one are dropped and new ones opened (generous: a loaded 2-core machine is slow).
const RECOVERY_BUDGET: Duration = Duration::from_secs(30);

/// One test, one case per backend: SQLite has no network to stall, a lock is its counterpart.
#[tokio::test]
async fn a_database_that_cannot_be_used_is_503_within_the_budgets_and_recovers() {
    match Backend::from_env() {
        Backend::Postgres => a_postgres_server_that_stops_answering().await,
        Backend::Sqlite => a_sqlite_database_locked_by_another_writer().await,
    }
}

/// The server's host stops answering (sockets stay open): readiness gives up within its 1 s,
/// API calls within the pool's acquire timeout, and all recovers when the host answers again.
async fn a_postgres_server_that_stops_answering() {
    let proxy = StallProxy::start(pg_server()).await;
    let app = TestApp::builder().store_through(proxy.addr).spawn().await;
    app.get("connected_accounts").await.expect(200, "before");
    app.anonymous().get("/readyz").await.expect(200, "readyz before");

    proxy.pause();
    let started = Instant::now();
    let r = app.anonymous().get("/readyz").await;
    let took = started.elapsed();
    assert_unavailable(&r, "readyz of a stalled database");
    assert!(took < Duration::from_millis(1500), "readyz took {took:?} to give up on a stalled database");
    app.anonymous().get("/healthz").await.expect(200, "healthz only says the process is up");

    // API calls wait for a connection up to the pool's acquire timeout, then answer 503 (a
    // read and a write, concurrently so the test waits for one timeout).
    let started = Instant::now();
    let (read, write) =
        tokio::join!(app.get("connected_accounts"), app.post("tool_router/session", json!({"user_id": "u"})));
    let took = started.elapsed();
    assert_unavailable(&read, "a read on a stalled database");
    assert_unavailable(&write, "a write on a stalled database");
    assert!(took < ACQUIRE_BUDGET, "the API took {took:?} to give up on a stalled database");

    proxy.resume();
    let resumed = Instant::now();
    let r = eventually(&app, "/readyz", 200, RECOVERY_BUDGET).await;
    r.expect(200, "readyz after the database answers again");
    let recovered = resumed.elapsed();
    println!("PostgreSQL stalled: API 503s in {took:?}; first success {recovered:?} after the database answered");
    assert!(
        recovered < Duration::from_millis(1500),
        "the first success came {recovered:?} after the database answered"
    );
    app.get("connected_accounts").await.expect(200, "a read after recovery");
    app.post("tool_router/session", json!({"user_id": "u"})).await.expect(201, "a write after recovery");
    app.cleanup().await;
}

/// Another process holds SQLite's write lock (`BEGIN IMMEDIATE`) past the store's busy timeout
/// (5 s): writes answer 503, reads go on (WAL), and writes work again once the lock is released.
async fn a_sqlite_database_locked_by_another_writer() {
    use sqlx::{Connection, SqliteConnection, sqlite::SqliteConnectOptions};

    let app = TestApp::builder().spawn().await;
    let file = app.database.sqlite_file().expect("a SQLite test database has a file");
    let mut locker = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&file))
        .await
        .expect("a second connection to the test database");
    sqlx::query("BEGIN IMMEDIATE").execute(&mut locker).await.expect("take the write lock");

    let started = Instant::now();
    let r = app.post("tool_router/session", json!({"user_id": "u"})).await;
    let took = started.elapsed();
    assert_unavailable(&r, "a write on a locked database");
    assert!(took < SQLITE_BUDGET, "the write took {took:?} to give up on a locked database");
    app.get("connected_accounts").await.expect(200, "a read while another connection writes");

    sqlx::query("ROLLBACK").execute(&mut locker).await.expect("release the write lock");
    locker.close().await.expect("close the locker");
    app.post("tool_router/session", json!({"user_id": "u"})).await.expect(201, "a write after the lock is released");
    app.cleanup().await;
}
