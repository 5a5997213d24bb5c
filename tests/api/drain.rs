//! Shutdown under load (issue 17 item 2): once the signal comes, no new connection is accepted,
//! every request already sent on an open (kept-alive) connection is answered, each such
//! connection is told `Connection: close`, and `serve` returns well within the drain time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::json;

use crate::{db::NO_ARGS, helpers::TestApp};

#[derive(Debug, Default)]
struct Tally {
    created: usize,
    other_status: Vec<u16>,
    /// Errors after the request was sent on a connection (a dropped request).
    dropped: Vec<String>,
    /// Connections refused: the server was no longer accepting (expected once it drains).
    refused: usize,
    closing: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_answers_every_request_already_sent_and_exits_within_the_drain_time() {
    let drain = Duration::from_secs(5);
    let mut app = TestApp::builder().drain_timeout(drain).spawn().await;
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("{}/api/v3.1/tool_router/session", app.base);
    let mut clients = Vec::new();
    for c in 0..16 {
        // One client each: its own kept-alive connection.
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let (url, key, stop) = (url.clone(), app.api_key.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!({"user_id": format!("c{c}-{i}")});
                match client.post(&url).header("x-api-key", &key).json(&body).send().await {
                    Ok(r) => {
                        tally.closing += usize::from(r.headers().get("connection").is_some_and(|v| v == "close"));
                        match r.status().as_u16() {
                            201 => tally.created += 1,
                            other => tally.other_status.push(other),
                        }
                        let _ = r.bytes().await;
                    }
                    Err(e) if e.is_connect() => {
                        tally.refused += 1;
                        break;
                    }
                    Err(e) => {
                        tally.dropped.push(format!("{e:?}"));
                        break;
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (took, clean) = app.shut_down().await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for client in clients {
        let t = client.await.unwrap();
        total.created += t.created;
        total.other_status.extend(t.other_status);
        total.dropped.extend(t.dropped);
        total.refused += t.refused;
        total.closing += t.closing;
    }
    println!(
        "drain: {} created, {} told Connection: close, {} refused after the listener closed, {} dropped; serve returned after {took:?}",
        total.created,
        total.closing,
        total.refused,
        total.dropped.len()
    );
    assert!(clean, "serve returned an error");
    assert!(total.created > 16, "too little load to mean anything: {total:?}");
    assert!(total.dropped.is_empty(), "requests sent on open connections were dropped: {:?}", total.dropped);
    assert!(total.other_status.is_empty(), "statuses other than 201: {:?}", total.other_status);
    assert!(total.closing >= 1, "no connection was told to close");
    assert!(took < drain, "the drain took {took:?}, more than {drain:?}");
    let sessions: i64 = app.db.scalar("select count(*) from tool_router_session", NO_ARGS).await;
    assert_eq!(usize::try_from(sessions).unwrap(), total.created, "every 201 is a stored session, and nothing more");
    app.cleanup().await;
}

/// One HTTP/1.1 request on a raw connection; the response head and body as text, or what the
/// connection did instead (closed, reset).
async fn exchange(stream: &mut tokio::net::TcpStream, key: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"user_id":"raw"}"#;
    let request = format!(
        "POST /api/v3.1/tool_router/session HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return if answer.is_empty() {
                Err("closed without an answer".into())
            } else {
                Ok(String::from_utf8_lossy(&answer).into())
            };
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if rest.len() >= length {
                return Ok(text);
            }
        }
    }
}

#[tokio::test]
async fn a_request_sent_on_a_kept_alive_connection_as_the_drain_starts_is_answered() {
    let mut app = TestApp::builder().drain_timeout(Duration::from_secs(4)).spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let first = exchange(&mut stream, &app.api_key).await.unwrap();
    assert!(first.starts_with("HTTP/1.1 201"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
    // The connection is idle and kept alive; the shutdown begins, and a request is on its way.
    app.signal_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = exchange(&mut stream, &app.api_key).await.expect("the request sent during the drain is answered");
    assert!(second.starts_with("HTTP/1.1 201"), "{second}");
    assert!(second.to_ascii_lowercase().contains("connection: close"), "the answer says the connection ends: {second}");
    // And no new connection is accepted.
    assert!(tokio::net::TcpStream::connect(app.addr).await.is_err(), "a new connection was accepted while draining");
    let sessions: i64 = app.db.scalar("select count(*) from tool_router_session", NO_ARGS).await;
    assert_eq!(sessions, 2);
    app.cleanup().await;
}
