//! The binary as operators use it: `--help`, configuration errors naming the variable, API key
//! creation, and a clean stop on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sqlx::{Connection, Executor, PgConnection};

const BIN: &str = env!("CARGO_BIN_EXE_authlink");

fn admin_url() -> String {
    std::env::var("AUTHLINK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn fresh_database() -> (String, String) {
    let name = format!("authlink_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin_url()).await.expect("PostgreSQL answers");
    conn.execute(format!("create database \"{name}\"").as_str()).await.unwrap();
    let url = admin_url().rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).unwrap();
    (name, url)
}

async fn drop_database(name: &str) {
    let mut conn = PgConnection::connect(&admin_url()).await.unwrap();
    conn.execute(format!("drop database if exists \"{name}\" with (force)").as_str()).await.unwrap();
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
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
        &["rotate-keys", "--help"],
    ] {
        let (ok, stdout, _) = run(args, &[]);
        assert!(ok, "{args:?} failed");
        assert!(stdout.contains("Usage: authlink"), "{args:?}: {stdout}");
    }
    let (_, top, _) = run(&["--help"], &[]);
    for var in [
        "DATABASE_URL",
        "AUTHLINK_LISTEN",
        "AUTHLINK_PUBLIC_URL",
        "AUTHLINK_ENCRYPTION_KEY",
        "AUTHLINK_LINK_TTL_SECS",
        "AUTHLINK_CALLBACK_ALLOWLIST",
    ] {
        assert!(top.contains(var), "--help does not mention {var}");
    }
}

#[test]
fn configuration_errors_name_the_variable_and_never_echo_secrets() {
    let key = "c2VjcmV0LWJ1dC1ub3QtMzItYnl0ZXM=";
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("AUTHLINK_LINK_TTL_SECS", &[("AUTHLINK_LINK_TTL_SECS", "soon")]),
        ("AUTHLINK_LISTEN", &[("AUTHLINK_LISTEN", "not-an-address")]),
        ("AUTHLINK_CALLBACK_ALLOWLIST", &[("AUTHLINK_CALLBACK_ALLOWLIST", "ftp://x")]),
        ("AUTHLINK_ENCRYPTION_KEY", &[("DATABASE_URL", "postgres://127.0.0.1:1/x"), ("AUTHLINK_ENCRYPTION_KEY", key)]),
        ("AUTHLINK_ENCRYPTION_KEY", &[("DATABASE_URL", "postgres://127.0.0.1:1/x")]),
    ];
    for (var, env) in cases {
        let (ok, _, stderr) = run(&["serve"], env);
        assert!(!ok, "{var}: should fail");
        assert!(stderr.contains(var), "{var}: error does not name it: {stderr}");
        assert!(!stderr.contains(key), "{var}: the key was echoed: {stderr}");
    }
}

#[tokio::test]
async fn api_key_create_prints_the_key_last_and_stores_only_its_hash() {
    let (name, url) = fresh_database().await;
    let (ok, stdout, stderr) = run(&["api-key", "create", "--project", "ops"], &[("DATABASE_URL", &url)]);
    assert!(ok, "{stderr}");
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("ak_") && key.len() >= 30, "{stdout}");
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, ' ') from api_key t").fetch_one(&mut conn).await.unwrap();
    assert!(!dump.contains(&key), "API key stored in clear");
    let projects: i64 =
        sqlx::query_scalar("select count(*) from project where name = 'ops'").fetch_one(&mut conn).await.unwrap();
    assert_eq!(projects, 1);
    let (ok, _, _) = run(&["api-key", "create", "--project", "ops"], &[("DATABASE_URL", &url)]);
    assert!(ok);
    let keys: i64 = sqlx::query_scalar("select count(*) from api_key").fetch_one(&mut conn).await.unwrap();
    assert_eq!(keys, 2, "a second key for the same project");
    conn.close().await.unwrap();
    drop_database(&name).await;
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    let (name, url) = fresh_database().await;
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("AUTHLINK_LISTEN", &listen)
        .env("AUTHLINK_ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("http://{listen}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "authlink did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(started.elapsed() < Duration::from_secs(10), "shutdown took {:?}", started.elapsed());
    let log = lines.join().unwrap().join("\n");
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    drop_database(&name).await;
}
