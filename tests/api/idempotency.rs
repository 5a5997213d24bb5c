//! `Idempotency-Key` on every create (issue 17 item 1): the same key and request replay the first
//! 2xx response (marked `Idempotency-Replayed: true`), another request under the key is 422, a
//! request while the first runs is 409 with `Retry-After`; keys are per project, stored hashed,
//! responses sealed; a retried create after a dropped response makes one link.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::{
    db::NO_ARGS,
    helpers::{Api, Resp, TestApp, assert_error, assert_error_ctx, send, spawn_app},
};

/// POST `body` to `path` through `api` with an `Idempotency-Key`.
async fn post_with_key(api: &Api<'_>, path: &str, key: &str, body: &Value) -> Resp {
    send(api.request(Method::POST, path).header("idempotency-key", key).json(body)).await
}

/// The creates and a body for each; `{ac}` and `{trs}` are filled in.
fn creates(ac: &str, session: &str) -> Vec<(&'static str, String, Value, &'static str)> {
    vec![
        ("session", "tool_router/session".to_owned(), json!({"user_id": "u1"}), "session_id"),
        (
            "session link",
            format!("tool_router/session/{session}/link"),
            json!({"toolkit": "github"}),
            "connected_account_id",
        ),
        (
            "user link",
            "connected_accounts/link".to_owned(),
            json!({"auth_config_id": ac, "user_id": "u2"}),
            "connected_account_id",
        ),
        (
            "auth config",
            "auth_configs".to_owned(),
            json!({"toolkit": {"slug": "slack"},
                   "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "name": "s",
                                   "credentials": {"client_id": "c", "client_secret": "s3cr3t"}}}),
            "/auth_config/id",
        ),
        (
            "connected account",
            "connected_accounts".to_owned(),
            json!({"auth_config": {"id": ac}, "connection": {"user_id": "u3"}}),
            "id",
        ),
        ("api key", "api_keys".to_owned(), json!({"name": "ci"}), "id"),
        (
            "webhook subscription",
            "webhook_subscriptions".to_owned(),
            json!({"webhook_url": "https://hooks.example.com/in",
                   "enabled_events": ["composio.connected_account.active"]}),
            "id",
        ),
    ]
}

fn id_of(body: &Value, field: &str) -> String {
    let value = if field.starts_with('/') { body.pointer(field) } else { body.get(field) };
    value.and_then(Value::as_str).unwrap_or_else(|| panic!("no {field} in {body}")).to_owned()
}

#[tokio::test]
async fn every_create_replays_its_first_response_for_the_same_key_and_request() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1"})).await;
    for (name, path, body, id_field) in creates(&ac, &session) {
        for api in [app.api(), app.v3()] {
            let key = format!("key-{name}-{}", uuid::Uuid::new_v4());
            let first = post_with_key(&api, &path, &key, &body).await;
            first.expect(201, name);
            assert_eq!(first.header("idempotency-replayed"), None, "[{name}] the first response is no replay");
            let again = post_with_key(&api, &path, &key, &body).await;
            again.expect(201, name);
            assert_eq!(again.header("idempotency-replayed"), Some("true"), "[{name}] replay marker");
            assert_eq!(again.body, first.body, "[{name}] the replay is the first response");
            assert!(again.header("content-type").unwrap_or("").starts_with("application/json"), "[{name}]");
            assert_eq!(again.header("cache-control"), Some("no-store"), "[{name}]");
            assert!(again.header("x-request-id").is_some(), "[{name}]");
            // Without the key (or with another) the same body creates anew.
            let fresh = post_with_key(&api, &path, &format!("{key}-2"), &body).await;
            fresh.expect(201, name);
            assert_ne!(id_of(&fresh.body, id_field), id_of(&first.body, id_field), "[{name}] a new key creates");
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_same_request_in_another_form_replays_and_another_request_is_422() {
    let app = spawn_app().await;
    let first = post_with_key(
        &app.api(),
        "tool_router/session",
        "k1",
        &json!({"user_id": "u1", "toolkits": {"enable": ["github"]}}),
    )
    .await;
    first.expect(201, "first");
    // Key order and whitespace do not make another request.
    let reordered = send(
        app.api()
            .request(Method::POST, "tool_router/session")
            .header("idempotency-key", "\"k1\"")
            .header("content-type", "application/json")
            .body(r#"{ "toolkits": {"enable": ["github"]},   "user_id": "u1" }"#),
    )
    .await;
    reordered.expect(201, "reordered");
    assert_eq!(reordered.header("idempotency-replayed"), Some("true"));
    assert_eq!(reordered.body["session_id"], first.body["session_id"]);

    let cases = [
        ("another body", "tool_router/session", json!({"user_id": "u2"})),
        ("another route", "api_keys", json!({"name": "x"})),
    ];
    for (case, path, body) in cases {
        let r = post_with_key(&app.api(), path, "k1", &body).await;
        assert_error_ctx(&r, 422, "Idempotency_KeyReused", case);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("Idempotency-Key"), "[{case}] {}", r.text);
    }
    // The /api/v3 twin of the route is another request too.
    let r = post_with_key(
        &app.v3(),
        "tool_router/session",
        "k1",
        &json!({"user_id": "u1", "toolkits": {"enable": ["github"]}}),
    )
    .await;
    assert_error(&r, 422, "Idempotency_KeyReused");
    let sessions: i64 = app.db.scalar("select count(*) from tool_router_session", NO_ARGS).await;
    assert_eq!(sessions, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn keys_are_per_project() {
    let app = spawn_app().await;
    let other = app.new_project_key("project-b").await;
    let body = json!({"user_id": "u1"});
    let a = post_with_key(&app.api(), "tool_router/session", "shared", &body).await;
    a.expect(201, "a");
    let b = post_with_key(&app.as_key(&other), "tool_router/session", "shared", &body).await;
    b.expect(201, "b");
    assert_eq!(b.header("idempotency-replayed"), None, "project B never sees A's response");
    assert_ne!(a.body["session_id"], b.body["session_id"]);
    // And B's different body under the same key is its own first use, not a 422.
    let b2 = post_with_key(&app.as_key(&other), "tool_router/session", "shared-2", &json!({"user_id": "u9"})).await;
    b2.expect(201, "b2");
    app.cleanup().await;
}

#[tokio::test]
async fn malformed_keys_are_400_naming_the_header() {
    let app = spawn_app().await;
    let long = "k".repeat(256);
    let cases: [(&str, &[u8]); 6] = [
        ("empty", b""),
        ("blank", b"   "),
        ("too long", long.as_bytes()),
        ("unterminated quote", b"\"abc"),
        ("escaped quote", b"\"a\\\"b\""),
        ("not ASCII", b"caf\xc3\xa9"),
    ];
    for (case, value) in cases {
        let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        let r = send(
            app.api()
                .request(Method::POST, "tool_router/session")
                .header("idempotency-key", value)
                .json(&json!({"user_id": "u"})),
        )
        .await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert_eq!(
            r.body["error"]["errors"][0], "Idempotency-Key: must be 1 to 255 visible ASCII characters",
            "[{case}]"
        );
    }
    let r = send(
        app.api()
            .request(Method::POST, "tool_router/session")
            .header("idempotency-key", "a")
            .header("idempotency-key", "b")
            .json(&json!({"user_id": "u"})),
    )
    .await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "twice");
    assert_eq!(r.body["error"]["errors"][0], "Idempotency-Key: must be sent once");
    // An unauthenticated request is refused as without the header, and claims nothing.
    let r = send(
        app.anonymous()
            .request(Method::POST, "tool_router/session")
            .header("idempotency-key", "x")
            .json(&json!({"user_id": "u"})),
    )
    .await;
    assert_error(&r, 401, "Auth_NoAuthProvided");
    assert_eq!(sessions_and_keys(&app).await, (0, 0));
    app.cleanup().await;
}

async fn sessions_and_keys(app: &TestApp) -> (i64, i64) {
    (
        app.db.scalar("select count(*) from tool_router_session", NO_ARGS).await,
        app.db.scalar("select count(*) from idempotency_key", NO_ARGS).await,
    )
}

#[tokio::test]
async fn a_failed_first_request_releases_the_key() {
    let app = spawn_app().await;
    let body = json!({"toolkit": "github"});
    let missing = format!("tool_router/session/{}/link", crate::helpers::unknown_id("trs_"));
    for attempt in 0..2 {
        let r = post_with_key(&app.api(), &missing, "kf", &body).await;
        assert_error_ctx(&r, 404, "ToolRouterV2_SessionNotFound", &format!("attempt {attempt}"));
        assert_eq!(r.header("idempotency-replayed"), None);
    }
    let invalid = post_with_key(&app.api(), "tool_router/session", "kv", &json!({"user_id": ""})).await;
    assert_error(&invalid, 400, "ToolRouterV2_BadRequest");
    assert_eq!(sessions_and_keys(&app).await, (0, 0), "failures keep no record");
    // The key is free for the corrected request.
    post_with_key(&app.api(), "tool_router/session", "kv", &json!({"user_id": "u"})).await.expect(201, "fixed");
    app.cleanup().await;
}

#[tokio::test]
async fn keys_are_stored_hashed_and_responses_sealed() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1"})).await;
    let key = "idem-key-that-must-not-be-in-the-dump";
    let r =
        post_with_key(&app.api(), &format!("tool_router/session/{session}/link"), key, &json!({"toolkit": "github"}))
            .await;
    r.expect(201, "link");
    let token = r.body["link_token"].as_str().unwrap();
    let dump = app.dump().await;
    assert!(!dump.contains(key), "the idempotency key is in the database in clear");
    assert!(!dump.contains(token), "the link token is in the database in clear");
    let records: i64 =
        app.db.scalar("select count(*) from idempotency_key where response_sealed is not null", NO_ARGS).await;
    assert_eq!(records, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn lapsed_and_abandoned_records_are_taken_over() {
    let app = spawn_app().await;
    let body = json!({"user_id": "u1"});
    post_with_key(&app.api(), "tool_router/session", "old", &body).await.expect(201, "first");
    // 25 h later the key is new again: another body is accepted.
    let past = (chrono::Utc::now() - chrono::Duration::hours(25)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    age_records(&app, &past, None).await;
    let r = post_with_key(&app.api(), "tool_router/session", "old", &json!({"user_id": "u2"})).await;
    r.expect(201, "after 24 h");
    assert_eq!(r.header("idempotency-replayed"), None);

    // A record left running by a process that died: the same request takes it over after the lease.
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let expired = (chrono::Utc::now() - chrono::Duration::seconds(1)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    post_with_key(&app.api(), "tool_router/session", "died", &body).await.expect(201, "first");
    age_records(&app, &now, Some(&expired)).await;
    let other = post_with_key(&app.api(), "tool_router/session", "died", &json!({"user_id": "zz"})).await;
    assert_error(&other, 422, "Idempotency_KeyReused");
    let r = post_with_key(&app.api(), "tool_router/session", "died", &body).await;
    r.expect(201, "take-over");
    assert_eq!(r.header("idempotency-replayed"), None, "an abandoned request runs again");
    // A running record within its lease is 409.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(60)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    age_records(&app, &now, Some(&later)).await;
    let r = post_with_key(&app.api(), "tool_router/session", "died", &body).await;
    assert_in_progress(&r, "running record");
    app.cleanup().await;
}

/// Sets every record's `created_at`, and with `running_until` makes it a running one.
async fn age_records(app: &TestApp, created_at: &str, running_until: Option<&str>) {
    let pg = matches!(app.db.backend(), crate::db::Backend::Postgres);
    let cast = if pg { "::timestamptz" } else { "" };
    match running_until {
        None => app.db.execute(&format!("update idempotency_key set created_at = $1{cast}"), [created_at]).await,
        Some(until) => {
            app.db
                .execute(
                    &format!(
                        "update idempotency_key set created_at = $1{cast}, locked_until = $2{cast},
                         status = null, response_sealed = null"
                    ),
                    [created_at, until],
                )
                .await
        }
    };
}

#[track_caller]
fn assert_in_progress(r: &Resp, case: &str) {
    assert_error_ctx(r, 409, "Idempotency_RequestInProgress", case);
    assert_eq!(r.header("retry-after"), Some("1"), "[{case}]");
    assert_eq!(r.header("x-should-retry"), Some("true"), "[{case}]");
}

/// Sends a create with a key over a raw connection and closes it without reading a byte of the
/// response: the client's view of a timeout or a dropped response.
async fn send_and_drop(app: &TestApp, path: &str, key: &str, body: &Value) {
    let body = body.to_string();
    let request = format!(
        "POST /api/v3.1/{path} HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\nidempotency-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        app.addr,
        app.api_key,
        body.len()
    );
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    drop(stream);
}

/// Retries like a client honouring 409 + `Retry-After` (at most 30 s).
async fn retry(app: &TestApp, path: &str, key: &str, body: &Value) -> Resp {
    for _ in 0..30 {
        let r = post_with_key(&app.api(), path, key, body).await;
        if r.status != 409 {
            return r;
        }
        assert_in_progress(&r, "retry while the first runs");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the first request never finished");
}

#[tokio::test]
async fn a_retried_create_after_a_dropped_response_makes_one_link() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1"})).await;
    let path = format!("tool_router/session/{session}/link");
    let body = json!({"toolkit": "github"});

    // Dropped at once, and dropped while the handler waits for the database (held by a writer).
    send_and_drop(&app, &path, "drop-1", &body).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = retry(&app, &path, "drop-1", &body).await;
    r.expect(201, "the retry");
    assert_eq!(r.header("idempotency-replayed"), Some("true"), "the retry is the first request's answer");
    let id = r.body["connected_account_id"].as_str().unwrap().to_owned();

    let lock = hold_write_lock(&app).await;
    send_and_drop(&app, &path, "drop-2", &body).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    release_write_lock(lock).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r2 = retry(&app, &path, "drop-2", &body).await;
    r2.expect(201, "the second retry");
    assert_eq!(r2.header("idempotency-replayed"), Some("true"));
    assert_ne!(r2.body["connected_account_id"], id);

    let (accounts, links, _) = app.row_counts().await;
    assert_eq!((accounts, links), (2, 2), "two creates, each retried once: two links");
    app.cleanup().await;
}

/// A transaction holding what link creation needs: SQLite's write lock, PostgreSQL's lock on
/// `connected_account`.
async fn hold_write_lock(app: &TestApp) -> Lock {
    use sqlx::Connection;
    match &app.db {
        crate::db::Db::Pg(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("lock table connected_account in exclusive mode").execute(&mut *tx).await.unwrap();
            Lock::Pg(tx)
        }
        crate::db::Db::Lite(_) => {
            let file = app.database.sqlite_file().unwrap();
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&file);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
            Lock::Lite(conn)
        }
    }
}

enum Lock {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::SqliteConnection),
}

async fn release_write_lock(lock: Lock) {
    use sqlx::Connection;
    match lock {
        Lock::Pg(tx) => tx.rollback().await.unwrap(),
        Lock::Lite(mut conn) => {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_make_one_link_and_the_others_wait_with_409() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1"})).await;
    let path = format!("tool_router/session/{session}/link");
    let body = json!({"toolkit": "github"});
    let mut in_progress = 0;
    for round in 0..5 {
        let key = format!("burst-{round}");
        let api = app.api();
        let answers = futures::future::join_all((0..16).map(|_| post_with_key(&api, &path, &key, &body))).await;
        let mut ids = std::collections::BTreeSet::new();
        let mut originals = 0;
        for r in &answers {
            match r.status {
                201 => {
                    ids.insert(r.body["connected_account_id"].as_str().unwrap().to_owned());
                    originals += usize::from(r.header("idempotency-replayed").is_none());
                }
                409 => {
                    assert_in_progress(r, "a concurrent duplicate");
                    in_progress += 1;
                }
                other => panic!("round {round}: unexpected {other}: {}", r.text),
            }
        }
        assert_eq!(originals, 1, "round {round}: exactly one request ran");
        assert_eq!(ids.len(), 1, "round {round}: every 201 names the one account");
        if in_progress > 0 {
            break;
        }
    }
    assert!(in_progress > 0, "no concurrent duplicate ever saw its first request running");
    let links: i64 = app.db.scalar("select count(*) from link", NO_ARGS).await;
    let rounds: i64 = app.db.scalar("select count(*) from idempotency_key", NO_ARGS).await;
    assert_eq!(links, rounds, "one link per key");
    app.cleanup().await;
}
