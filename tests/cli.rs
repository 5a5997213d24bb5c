//! The binary as operators use it: `--help`, configuration errors naming the variable, API key
//! creation, and a clean stop on SIGTERM.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed setup step or lookup should fail the test, loudly"
)]

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[path = "support/db.rs"]
#[expect(dead_code, reason = "the CLI tests use only part of the shared test database module")]
mod db;

use db::{Backend, Db, NO_ARGS, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_authlink");
const TEST_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Raw SQL on a test database, whichever the backend.
async fn open(database: &TestDatabase) -> Db {
    match database.backend {
        Backend::Postgres => Db::Pg(sqlx::PgPool::connect(&database.url).await.expect("connect")),
        Backend::Sqlite => Db::Lite(sqlx::SqlitePool::connect(&database.url).await.expect("open")),
    }
}

/// A scratch working directory, so nothing a test starts writes `./data` into the repository.
fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("authlink_cli_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).current_dir(scratch_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn help_is_available_for_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["api-key", "--help"],
        &["api-key", "create", "--help"],
        &["api-key", "list", "--help"],
        &["api-key", "revoke", "--help"],
        &["rotate-keys", "--help"],
        &["project", "--help"],
        &["project", "set-verifier", "--help"],
        &["catalog", "--help"],
        &["catalog", "check", "--help"],
    ] {
        let (ok, stdout, _) = run(args, &[]);
        assert!(ok, "{args:?} failed");
        assert!(stdout.contains("Usage: authlink"), "{args:?}: {stdout}");
    }
    let (_, create, _) = run(&["api-key", "create", "--help"], &[]);
    assert!(create.contains("--name") && create.contains("--expires-in-days"), "{create}");
    let (_, list, _) = run(&["api-key", "list", "--help"], &[]);
    assert!(list.contains("--project") && list.contains("masked"), "{list}");
    let (_, top, _) = run(&["--help"], &[]);
    for var in [
        "DATABASE_URL",
        "AUTHLINK_LISTEN",
        "AUTHLINK_PUBLIC_URL",
        "AUTHLINK_ENCRYPTION_KEY",
        "AUTHLINK_LINK_TTL_SECS",
        "AUTHLINK_CALLBACK_ALLOWLIST",
        "AUTHLINK_DATA_DIR",
        "AUTHLINK_BOOTSTRAP_API_KEY",
        "AUTHLINK_ENDPOINT_ALLOWLIST",
        "AUTHLINK_TENANT_ENDPOINTS",
        "AUTHLINK_CATALOG_DIR",
    ] {
        assert!(top.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn configuration_errors_name_the_variable_and_never_echo_secrets() {
    let key = "c2VjcmV0LWJ1dC1ub3QtMzItYnl0ZXM=";
    let weak = "short-key";
    let cases: [(&str, &[(&str, &str)]); 11] = [
        ("AUTHLINK_LINK_TTL_SECS", &[("AUTHLINK_LINK_TTL_SECS", "soon")]),
        ("AUTHLINK_LISTEN", &[("AUTHLINK_LISTEN", "not-an-address")]),
        ("AUTHLINK_CALLBACK_ALLOWLIST", &[("AUTHLINK_CALLBACK_ALLOWLIST", "ftp://x")]),
        ("AUTHLINK_ENDPOINT_ALLOWLIST", &[("AUTHLINK_ENDPOINT_ALLOWLIST", "http://127.0.0.1:9000/path")]),
        ("AUTHLINK_ENDPOINT_ALLOWLIST", &[("AUTHLINK_ENDPOINT_ALLOWLIST", "not a url")]),
        ("AUTHLINK_TENANT_ENDPOINTS", &[("AUTHLINK_TENANT_ENDPOINTS", "sometimes")]),
        ("AUTHLINK_ENCRYPTION_KEY", &[("DATABASE_URL", "postgres://127.0.0.1:1/x"), ("AUTHLINK_ENCRYPTION_KEY", key)]),
        // With PostgreSQL the key is required (only SQLite may generate one).
        ("AUTHLINK_ENCRYPTION_KEY", &[("DATABASE_URL", "postgres://127.0.0.1:1/x")]),
        ("DATABASE_URL", &[("DATABASE_URL", "mysql://root@127.0.0.1/x")]),
        ("AUTHLINK_BOOTSTRAP_API_KEY", &[("AUTHLINK_BOOTSTRAP_API_KEY", weak)]),
        ("AUTHLINK_BOOTSTRAP_API_KEY", &[("AUTHLINK_BOOTSTRAP_API_KEY", "has spaces in the middle of it, 32+ chars")]),
    ];
    for (var, env) in cases {
        let (ok, _, stderr) = run(&["serve"], env);
        assert!(!ok, "{var}: should fail");
        assert!(stderr.contains(var), "{var}: error does not name it: {stderr}");
        assert!(!stderr.contains(key) && !stderr.contains(weak), "{var}: a secret was echoed: {stderr}");
    }
}

#[tokio::test]
async fn api_key_create_prints_the_key_last_and_stores_only_its_hash() {
    let mut database = TestDatabase::create().await;
    let url = database.url.clone();
    let (ok, stdout, stderr) = run(&["api-key", "create", "--project", "ops"], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("ak_") && key.len() >= 30, "{stdout}");
    let db = open(&database).await;
    let hashes: Vec<Vec<u8>> = db.scalars("select key_hash from api_key", NO_ARGS).await;
    assert_eq!(hashes, [authlink::crypto::sha256(&key)], "the key's SHA-256 is stored");
    let hints: Vec<String> = db.scalars("select hint from api_key", NO_ARGS).await;
    assert!(hints.iter().all(|h| !key.starts_with(h.as_str()) && h.len() <= 4), "hint reveals the key: {hints:?}");
    let projects: i64 = db.scalar("select count(*) from project where name = 'ops'", NO_ARGS).await;
    assert_eq!(projects, 1);
    let (ok, _, _) = run(&["api-key", "create", "--project", "ops"], &[("DATABASE_URL", &url)]);
    assert!(ok);
    let keys: i64 = db.scalar("select count(*) from api_key", NO_ARGS).await;
    assert_eq!(keys, 2, "a second key for the same project");
    db.close().await;
    database.remove().await;
}

/// The verifier URL stored for project `ops`.
async fn stored(db: &Db) -> Option<String> {
    let url: String = db.scalar("select coalesce(verifier_url, '') from project where name = 'ops'", NO_ARGS).await;
    Some(url).filter(|u| !u.is_empty())
}

#[tokio::test]
async fn project_set_verifier_checks_the_url_against_the_callback_allowlist() {
    let mut database = TestDatabase::create().await;
    let url = database.url.clone();
    let (ok, _, stderr) = run(&["api-key", "create", "--project", "ops"], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    let env = [("DATABASE_URL", url.as_str()), ("AUTHLINK_CALLBACK_ALLOWLIST", "https://app.example.com/cb")];
    let db = open(&database).await;

    let verifier = "https://app.example.com/cb/verify";
    let (ok, stdout, stderr) = run(&["project", "set-verifier", "--project", "ops", "--url", verifier], &env);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(verifier), "{stdout}");
    assert_eq!(stored(&db).await.as_deref(), Some(verifier));

    // Refused by the allowlist, or no such project: an error, nothing changed.
    for (args, names) in [
        (&["project", "set-verifier", "--project", "ops", "--url", "https://evil.example.net/cb"][..], "--url"),
        (&["project", "set-verifier", "--project", "ops", "--url", "not a url"][..], "--url"),
        (&["project", "set-verifier", "--project", "nope", "--url", verifier][..], "nope"),
        (&["project", "set-verifier", "--project", "ops"][..], "--url"),
    ] {
        let (ok, _, stderr) = run(args, &env);
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert_eq!(stored(&db).await.as_deref(), Some(verifier), "{args:?} changed the verifier");
    }

    let (ok, _, stderr) = run(&["project", "set-verifier", "--project", "ops", "--clear"], &env);
    assert!(ok, "{stderr}");
    assert_eq!(stored(&db).await, None, "--clear removes the verifier");
    db.close().await;
    database.remove().await;
}

#[test]
fn a_bootstrap_key_with_too_little_entropy_is_refused() {
    let cases = [
        ("32 repeated characters", "a".repeat(32), false),
        ("two alternating characters", "ab".repeat(20), false),
        ("a repeated word", "password".repeat(5), false),
        ("a run", "abcdefghijklmnopqrstuvwxyz0123456789".to_owned(), false),
        ("a random key", "ak_9f2c61d0a7b54e38b1d2c3f4a5e6d7c8b9".to_owned(), true),
    ];
    for (case, key, good) in cases {
        // An unusable DATABASE_URL stops `serve` right after the key check.
        let (ok, _, stderr) =
            run(&["serve"], &[("AUTHLINK_BOOTSTRAP_API_KEY", &key), ("DATABASE_URL", "mysql://root@127.0.0.1/x")]);
        assert!(!ok, "{case}: serve should fail");
        assert!(!stderr.contains(&key), "{case}: the key was echoed: {stderr}");
        if good {
            assert!(!stderr.contains("AUTHLINK_BOOTSTRAP_API_KEY"), "{case}: refused: {stderr}");
            assert!(stderr.contains("DATABASE_URL"), "{case}: {stderr}");
        } else {
            assert!(stderr.contains("AUTHLINK_BOOTSTRAP_API_KEY") && stderr.contains("entropy"), "{case}: {stderr}");
        }
    }
}

/// The data lines of `api-key list` (after the header).
fn listed(url: &str, project: Option<&str>) -> Vec<String> {
    let mut args = vec!["api-key", "list"];
    if let Some(p) = project {
        args.extend(["--project", p]);
    }
    let (ok, stdout, stderr) = run(&args, &[("DATABASE_URL", url)]);
    assert!(ok, "list: {stderr}");
    let mut lines = stdout.lines().map(str::to_owned);
    let header = lines.next().unwrap_or_default();
    for column in ["ID", "PROJECT", "NAME", "KEY", "CREATED", "LAST USED", "EXPIRES", "REVOKED"] {
        assert!(header.contains(column), "header {header:?} lacks {column}");
    }
    lines.collect()
}

/// `api-key create` with extra arguments: (id, key) from its output.
fn create_key(url: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["api-key", "create"];
    args.extend(extra);
    let (ok, stdout, stderr) = run(&args, &[("DATABASE_URL", url)]);
    assert!(ok, "create: {stderr}");
    let key = stdout.lines().last().unwrap().trim().to_owned();
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("API key id "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no id line: {stdout}"))
        .to_owned();
    (id, key)
}

#[tokio::test]
async fn api_keys_are_listed_masked_and_revoked_from_the_cli() {
    let mut database = TestDatabase::create().await;
    let url = database.url.clone();
    let (ops_id, ops_key) = create_key(&url, &["--project", "ops", "--name", "deploy bot", "--expires-in-days", "7"]);
    let (ci_id, ci_key) = create_key(&url, &["--project", "ci"]);
    assert!(ops_key.starts_with("ak_") && ci_key.starts_with("ak_"));

    let all = listed(&url, None);
    assert_eq!(all.len(), 2, "{all:?}");
    let ops = all.iter().find(|l| l.starts_with(&ops_id)).expect("ops key listed");
    assert!(ops.contains("ops") && ops.contains("deploy bot"), "{ops}");
    assert!(ops.contains(&format!("****{}", &ops_key[ops_key.len() - 4..])), "{ops}");
    let in_7_days = (chrono::Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%d").to_string();
    assert!(ops.contains(&in_7_days), "expiry not listed: {ops}");
    let text = all.join("\n");
    let hash_hex: String = authlink::crypto::sha256(&ops_key).iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&ops_key) && !text.contains(&ci_key) && !text.contains(&hash_hex), "{text}");
    assert_eq!(listed(&url, Some("ci")).len(), 1);
    assert!(listed(&url, Some("ci"))[0].starts_with(&ci_id));

    let (ok, stdout, stderr) = run(&["api-key", "revoke", &ci_id], &[("DATABASE_URL", &url)]);
    assert!(ok, "revoke: {stderr}");
    assert!(stdout.contains("Revoked") && stdout.contains(&ci_id) && !stdout.contains(&ci_key), "{stdout}");
    let ci = &listed(&url, Some("ci"))[0];
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(ci.trim_end().ends_with('Z') && ci.matches(&today).count() >= 2, "no revocation time: {ci}");
    let db = open(&database).await;
    let revoked: i64 = db.scalar("select count(*) from api_key where revoked_at is not null", NO_ARGS).await;
    assert_eq!(revoked, 1, "only the ci key is revoked");
    db.close().await;

    for (args, names) in [
        (vec!["api-key", "revoke", "not-a-uuid"], "ID"),
        (vec!["api-key", "revoke", "00000000-0000-4000-8000-000000000000"], "no API key"),
        (vec!["api-key", "list", "--project", "nope"], "--project"),
        (vec!["api-key", "create", "--project", "ops", "--expires-in-days", "0"], "--expires-in-days"),
    ] {
        let (ok, _, stderr) = run(&args, &[("DATABASE_URL", &url)]);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
    database.remove().await;
}

#[tokio::test]
async fn a_key_revoked_with_the_cli_stops_working_on_a_running_server_within_5_seconds() {
    let mut database = TestDatabase::create().await;
    let dir = scratch_dir();
    let env = first_start_env(&database).await;
    let env = borrowed(&env);
    let mut server = Server::start(&dir, &env).await;
    // The CLI against the server's own database (for SQLite, the embedded file in `dir/data`).
    let url = match database.backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("data").join("authlink.db").display()),
        Backend::Postgres => database.url.clone(),
    };
    let (id, key) = create_key(&url, &["--project", "default", "--name", "to revoke"]);
    assert_eq!(server.get_status("connected_accounts", &key).await, 200, "the new key works (and is cached)");
    let (ok, _, stderr) = run(&["api-key", "revoke", &id], &[("DATABASE_URL", &url)]);
    let revoked_at = Instant::now();
    assert!(ok, "revoke: {stderr}");
    loop {
        let status = server.get_status("connected_accounts", &key).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "still accepted {:?} after revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("refused {:?} after the CLI revoked it", revoked_at.elapsed());
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    database.remove().await;
}

/// A running `authlink serve`; killed on drop.
struct Server {
    child: std::process::Child,
    listen: String,
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
    stderr: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Server {
    /// Starts `authlink serve` in `dir` with `env` (nothing inherited but PATH) and waits for /readyz.
    async fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUTHLINK_LISTEN", &listen)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = |r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || BufReader::new(r).lines().map_while(Result::ok).collect::<Vec<_>>())
        };
        let stdout = Some(lines(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(lines(Box::new(child.stderr.take().unwrap())));
        let mut server = Self { child, listen, stdout, stderr };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("http://{}/readyz", server.listen)).send().await
                && r.status() == 200
            {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let (out, err) = server.stop();
                panic!("authlink exited with {status}:\n{}\n{}", out.join("\n"), err.join("\n"));
            }
            assert!(Instant::now() < deadline, "authlink did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// GET an API route with a key; the status.
    async fn get_status(&self, path: &str, key: &str) -> u16 {
        let url = format!("http://{}/api/v3.1/{path}", self.listen);
        reqwest::Client::new().get(url).header("x-api-key", key).send().await.unwrap().status().as_u16()
    }

    /// SIGTERM, wait, and the lines of stdout and stderr.
    fn stop(&mut self) -> (Vec<String>, Vec<String>) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let out = self.stdout.take().map(|h| h.join().unwrap()).unwrap_or_default();
        let err = self.stderr.take().map(|h| h.join().unwrap()).unwrap_or_default();
        (out, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment that points a server at the run's backend: nothing at all for SQLite (the
/// zero-setup embedded mode), a fresh database and the required key for PostgreSQL.
async fn first_start_env(database: &TestDatabase) -> Vec<(&'static str, String)> {
    match database.backend {
        Backend::Sqlite => vec![],
        Backend::Postgres => {
            vec![("DATABASE_URL", database.url.clone()), ("AUTHLINK_ENCRYPTION_KEY", TEST_KEY.to_owned())]
        }
    }
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn first_start_creates_the_default_project_and_shows_its_key_once() {
    let mut database = TestDatabase::create().await;
    let dir = scratch_dir();
    let env = first_start_env(&database).await;

    let mut server = Server::start(&dir, &borrowed(&env)).await;
    // stdout is read to its end at exit: stop, read the key, then check it on a second start.
    let (out, err) = server.stop();
    let (out, err) = (out.join("\n"), err.join("\n"));
    let keys: Vec<&str> = out.lines().filter(|l| l.starts_with("ak_")).collect();
    assert_eq!(keys.len(), 1, "exactly one key line on stdout:\n{out}");
    let key = keys[0].trim();
    assert!(out.contains("x-api-key"), "no line says how to use the key:\n{out}");
    assert!(out.contains("default"), "the project is not named:\n{out}");
    assert!(!err.contains(key), "the key went to the log:\n{err}");

    if database.backend == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let key_file = dir.join("data").join("encryption.key");
        let meta = std::fs::metadata(&key_file).expect("a generated key file in ./data");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "key file mode");
        assert!(err.contains("production must set AUTHLINK_ENCRYPTION_KEY"), "no warning:\n{err}");
        assert!(dir.join("data").join("authlink.db").exists(), "no database file in ./data");
    }
    let key_before = std::fs::read(dir.join("data").join("encryption.key")).ok();

    // Second start: same database, no new key, the first key works, the key file is unchanged.
    let mut again = Server::start(&dir, &borrowed(&env)).await;
    assert_eq!(again.get_status("auth_configs", key).await, 200, "the printed key is refused");
    assert_eq!(again.get_status("auth_configs", "ak_wrong").await, 401);
    let (out2, _) = again.stop();
    assert!(!out2.iter().any(|l| l.contains("ak_")), "a second start printed a key: {out2:?}");
    assert_eq!(std::fs::read(dir.join("data").join("encryption.key")).ok(), key_before, "the key file changed");

    let _ = std::fs::remove_dir_all(&dir);
    database.remove().await;
}

#[tokio::test]
async fn a_bootstrap_key_from_the_environment_is_used_and_never_printed() {
    let mut database = TestDatabase::create().await;
    let dir = scratch_dir();
    let chosen = "ak_compose_file_key_0123456789abcdef";
    let mut env = first_start_env(&database).await;
    env.push(("AUTHLINK_BOOTSTRAP_API_KEY", chosen.to_owned()));
    let mut server = Server::start(&dir, &borrowed(&env)).await;
    assert_eq!(server.get_status("auth_configs", chosen).await, 200, "the bootstrap key is refused");
    let (out, err) = server.stop();
    let all = format!("{}\n{}", out.join("\n"), err.join("\n"));
    assert!(!all.contains(chosen), "the bootstrap key was echoed:\n{all}");

    // A database that already has keys is left alone: another bootstrap key is not added.
    env.retain(|(k, _)| *k != "AUTHLINK_BOOTSTRAP_API_KEY");
    env.push(("AUTHLINK_BOOTSTRAP_API_KEY", "ak_another_key_that_must_not_work_99".to_owned()));
    let mut server = Server::start(&dir, &borrowed(&env)).await;
    assert_eq!(server.get_status("auth_configs", "ak_another_key_that_must_not_work_99").await, 401);
    assert_eq!(server.get_status("auth_configs", chosen).await, 200);
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    database.remove().await;
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let mut database = TestDatabase::create().await;
    let url = database.url.clone();
    let dir = scratch_dir();
    let mut server =
        Server::start(&dir, &[("DATABASE_URL", url.as_str()), ("AUTHLINK_ENCRYPTION_KEY", TEST_KEY)]).await;
    let started = Instant::now();
    let (_, log) = server.stop();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    let log = log.join("\n");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    database.remove().await;
}

#[test]
fn retention_settings_are_documented_and_bad_values_name_the_variable() {
    let (_, top, _) = run(&["--help"], &[]);
    let vars = [
        "AUTHLINK_RETENTION_LINK_GRACE_SECS",
        "AUTHLINK_RETENTION_DELETED_DAYS",
        "AUTHLINK_RETENTION_AUDIT_DAYS",
        "AUTHLINK_RETENTION_INTERVAL_SECS",
    ];
    for var in vars {
        assert!(top.contains(var), "--help does not mention {var}");
    }
    for (var, value) in [
        ("AUTHLINK_RETENTION_LINK_GRACE_SECS", "-1"),
        ("AUTHLINK_RETENTION_DELETED_DAYS", "a month"),
        ("AUTHLINK_RETENTION_AUDIT_DAYS", "0"),
        ("AUTHLINK_RETENTION_INTERVAL_SECS", "1"),
    ] {
        let (ok, _, stderr) = run(&["serve"], &[(var, value)]);
        assert!(!ok, "{var}={value}: should fail");
        assert!(stderr.contains(var), "{var}: error does not name it: {stderr}");
    }
}

/// A catalog directory with one file; returns the directory.
fn catalog_dir(name: &str, text: &str) -> std::path::PathBuf {
    let dir = scratch_dir().join("catalog");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    dir
}

const GOOD_ENTRY: &str = "toolkits:
  - slug: acme
    name: Acme
    source: https://acme.example/docs/oauth
    authorization_url: https://acme.example/oauth/authorize
    token_url: https://acme.example/oauth/token
    default_scopes: [read]
    scope_separator: \" \"
    pkce: true
    client_auth: client_secret_post
";

const NANGO_FILE: &str = "acme-nango:
  display_name: Acme (Nango)
  auth_mode: OAUTH2
  authorization_url: https://${connectionConfig.subdomain}.acme.example/authorize
  token_url: https://${connectionConfig.subdomain}.acme.example/token
  docs: https://acme.example/docs
acme-basic:
  display_name: Acme basic
  auth_mode: BASIC
  docs: https://acme.example/docs
";

#[test]
fn catalog_check_validates_a_directory_without_starting() {
    let (_, builtin, _) = run(&["catalog", "check", scratch_dir().to_str().unwrap()], &[]);
    let builtin: usize = builtin.rsplit("would have ").next().unwrap().split(' ').next().unwrap().parse().unwrap();

    let dir = catalog_dir("acme.yaml", GOOD_ENTRY);
    std::fs::write(dir.join("nango.yml"), NANGO_FILE).unwrap();
    let (ok, stdout, stderr) = run(&["catalog", "check", dir.to_str().unwrap()], &[]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("valid; the catalog would have {} toolkits", builtin + 2)), "{stdout}");
    assert!(stdout.contains("skipped (not OAuth 2.0):") && stdout.contains("acme-basic (auth_mode BASIC)"), "{stdout}");

    // Table: each defect is refused with the file, the line and the field.
    let cases = [
        ("token_url: https://acme.example/oauth/token", "token_url: http://acme.example/oauth/token", 6, "`token_url`"),
        ("    source: https://acme.example/docs/oauth\n", "", 2, "source"),
        ("client_auth: client_secret_post", "client_auth: private_key_jwt", 10, "`client_auth`"),
        ("oauth/token", "{tenant}/oauth/token", 6, "not one of the entry's fields"),
        ("pkce: true", "pkce: false", 9, "`pkce_off_reason`"),
        ("default_scopes: [read]", "default_scopes: [read]\n    scopes: [x]", 8, "scopes"),
    ];
    for (from, to, line, field) in cases {
        let text = GOOD_ENTRY.replacen(from, to, 1);
        assert_ne!(text, GOOD_ENTRY, "{from}");
        let dir = catalog_dir("bad.yaml", &text);
        let (ok, stdout, stderr) = run(&["catalog", "check", dir.to_str().unwrap()], &[]);
        assert!(!ok, "{field}: accepted: {stdout}");
        let file = dir.join("bad.yaml");
        let expected = format!("{}, line {line}: toolkit `acme`", file.display());
        assert!(stderr.contains(&expected) && stderr.contains(field), "{field}: {stderr}");
    }

    let (ok, _, stderr) = run(&["catalog", "check", "/nonexistent/authlink-catalog"], &[]);
    assert!(!ok && stderr.contains("/nonexistent/authlink-catalog") && stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn serve_refuses_to_start_on_an_invalid_catalog_dir() {
    let dir =
        catalog_dir("nango.yaml", &NANGO_FILE.replace("  docs: https://acme.example/docs\nacme-basic", "acme-basic"));
    let (ok, stdout, stderr) = run(&["serve"], &[("AUTHLINK_CATALOG_DIR", dir.to_str().unwrap())]);
    assert!(!ok, "started: {stdout}");
    let expected = format!("{}, line 1: toolkit `acme-nango`", dir.join("nango.yaml").display());
    assert!(stderr.contains(&expected) && stderr.contains("source"), "{stderr}");
    assert!(!stdout.contains("API key"), "nothing was set up: {stdout}");
}
