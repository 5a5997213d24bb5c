//! Bad input, issue 17 item 7: long comma-joined filters work or get a 400 naming the limit;
//! a non-UTF-8 `x-api-key` is an invalid key, not a missing one.

use reqwest::{Method, header::HeaderValue};

use crate::helpers::{assert_error, assert_error_ctx, send, spawn_app};

#[tokio::test]
async fn long_comma_joined_filters_work_up_to_the_limit_and_name_it_beyond() {
    let app = spawn_app().await;
    let ac = app.create_auth_config("github").await;
    let r = app.post("connected_accounts/link", serde_json::json!({"auth_config_id": ac, "user_id": "u8999"})).await;
    r.expect(201, "link");
    // As many ids as a URI holds (the HTTP layer's limit is 64 KiB): 9,000 with raw commas,
    // 6,000 with encoded ones, which the query parser must not re-encode into "malformed".
    for (count, separator, case) in [(9_000, ",", "raw commas"), (6_000, "%2C", "encoded commas")] {
        let mut ids: Vec<String> = (0..count).map(|i| format!("u{i}")).collect();
        ids.push("u8999".into());
        let r = app.get(&format!("connected_accounts?user_ids={}", ids.join(separator))).await;
        let body = r.expect(200, case);
        assert_eq!(body["items"].as_array().unwrap().len(), 1, "[{case}] the one account of u8999");
    }
    // Past the item limit: a 400 naming it, for every comma-joined filter.
    for key in ["user_ids", "toolkit_slugs", "statuses", "auth_config_ids", "connected_account_ids"] {
        let r = app.get(&format!("connected_accounts?{key}={}", vec!["x"; 20_001].join(","))).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", key);
        assert_eq!(r.body["error"]["errors"][0], format!("{key}: at most 20000 items"), "{}", r.text);
    }
    // A URI past 64 KiB never reaches authlink: the HTTP layer answers 414 and closes.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /api/v3.1/connected_accounts?user_ids={} HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\n\r\n",
        "u,".repeat(40_000),
        app.api_key
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 414"), "a 64 KiB+ URI: {answer}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_non_utf8_api_key_is_an_invalid_key() {
    let app = spawn_app().await;
    let value = HeaderValue::from_bytes(b"ak_caf\xc3\xa9\xff").unwrap();
    let r = send(app.anonymous().request(Method::GET, "connected_accounts").header("x-api-key", value)).await;
    assert_error(&r, 401, "APIKey_InvalidAPIKey");
    app.cleanup().await;
}
