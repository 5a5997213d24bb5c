//! The listener's limits (design §5): a connection that does not finish its request headers in
//! time is closed (slowloris), an idle keep-alive connection too, and no more than
//! `max_connections` are served at once.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::helpers::{TestApp, send};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: authlink\r\n\r\n";

/// Reads until the peer closes; the bytes it sent before.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, &'static str> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut buf)).await {
            Err(_) => return Err("still open"),
            Ok(Ok(0) | Err(_)) => return Ok(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one response head (enough for /healthz's small answer).
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_after_the_header_read_timeout() {
    let app = TestApp::builder().header_read_timeout(Duration::from_secs(1)).spawn().await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for i in 0..60 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        // Half a request line, then nothing; every tenth sends nothing at all.
        if i % 10 != 0 {
            stream.write_all(b"GET /healthz HT").await.unwrap();
        }
        slow.push(stream);
    }
    // Meanwhile the server answers others.
    let r = send(app.client.get(format!("{}/healthz", app.base))).await;
    assert_eq!(r.status, 200);
    app.get("auth_configs").await.expect(200, "an API request while 60 connections hang");

    // A keep-alive connection that goes quiet after its response is closed as well.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(HEALTHZ).await.unwrap();
    let head = read_response(&mut idle, Duration::from_secs(5)).await.expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    assert_eq!(read_to_close(&mut slow[1], Duration::from_millis(200)).await, Err("still open"), "closed too early");
    for (i, stream) in slow.iter_mut().enumerate() {
        let sent = read_to_close(stream, Duration::from_secs(5)).await;
        let sent = sent.unwrap_or_else(|e| panic!("connection {i}: {e} {:?} after opening", opened.elapsed()));
        let text = String::from_utf8_lossy(&sent);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "connection {i} got {text}");
    }
    assert!(opened.elapsed() < Duration::from_secs(5), "closed after {:?}", opened.elapsed());
    read_to_close(&mut idle, Duration::from_secs(3)).await.expect("the idle keep-alive connection is closed");
    app.get("auth_configs").await.expect(200, "the server still serves");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let app = TestApp::builder().max_connections(5).header_read_timeout(Duration::from_secs(30)).spawn().await;
    let mut open = Vec::new();
    for i in 0..5 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        let head = read_response(&mut stream, Duration::from_secs(5)).await;
        assert!(head.is_some_and(|h| h.starts_with("HTTP/1.1 200")), "connection {i} is served");
        open.push(stream);
    }
    // The sixth is accepted by the kernel but not served while five are open.
    let mut sixth = TcpStream::connect(app.addr).await.unwrap();
    sixth.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut sixth, Duration::from_millis(700)).await.is_none(), "the sixth connection was served");

    drop(open.pop());
    let head = read_response(&mut sixth, Duration::from_secs(5)).await.expect("served once a slot is free");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(open);
    drop(sixth);
    app.cleanup().await;
}
