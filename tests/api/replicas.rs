//! Two authlink servers on one database (issue 17 item 6), each with its own pool, API-key cache
//! and limiters, as two replicas behind a load balancer: a link created through one completes
//! through the other, refreshes of one account serialize across both, a revoked API key stops
//! working on both, and the sweeps never do the same work twice.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::{
    db::NO_ARGS,
    helpers::{Replica, TestApp, send},
    oauth_flow::{APP_CALLBACK, Browser, EXPIRING, Flow, TOOLKIT, query},
};

async fn get_on(base: &str, key: &str, path: &str) -> crate::helpers::Resp {
    send(reqwest::Client::new().request(Method::GET, format!("{base}/api/v3.1/{path}")).header("x-api-key", key)).await
}

#[tokio::test]
async fn a_link_created_through_one_replica_completes_through_the_other() {
    let flow = Flow::new().await;
    let b = flow.app.replica().await;
    let mut link = flow.link_with(json!({"toolkit": TOOLKIT, "callback_url": APP_CALLBACK})).await;
    // The end user's browser reaches replica B for the page, Continue and the callback.
    link.redirect_url = b.local(&flow.app, &link.redirect_url);
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &link).await;
    let page = browser.get(&b.local(&flow.app, back.as_str())).await;
    assert_eq!(query(&page.location())["status"], "success", "{page:?}");
    for base in [&flow.app.base, &b.base] {
        let r = get_on(base, &flow.app.api_key, &format!("connected_accounts/{}", link.account)).await;
        assert_eq!(r.body["status"], "ACTIVE", "{base}: {}", r.text);
    }
    b.stop();
    flow.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_of_one_account_serialize_across_replicas() {
    let flow = Flow::new().await;
    let b = flow.app.replica().await;
    flow.idp.set_expires_in(EXPIRING);
    let link = flow.connected().await;
    flow.idp.set_expires_in(3600);
    flow.idp.set_latency(Duration::from_millis(300));
    let path = format!("connected_accounts/{}", link.account);
    let key = flow.app.api_key.clone();
    let reads = (0..12).map(|i| {
        let base = if i % 2 == 0 { flow.app.base.clone() } else { b.base.clone() };
        let (key, path) = (key.clone(), path.clone());
        async move { get_on(&base, &key, &path).await }
    });
    let results = join_all(reads).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.status, 200, "reader {i}: {}", r.text);
    }
    assert_eq!(flow.idp.grants("refresh_token"), 1, "one refresh grant at the provider for both replicas");
    let fresh = flow.idp.last_issued();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.body["state"]["val"]["access_token"], fresh.access_token.as_str(), "reader {i}: a stale token");
    }
    b.stop();
    flow.cleanup().await;
}

#[tokio::test]
async fn a_revoked_api_key_stops_working_on_both_replicas() {
    let app = TestApp::builder().spawn().await;
    let b = app.replica().await;
    let created = app.post("api_keys", json!({"name": "ci"})).await;
    let body = created.expect(201, "create key");
    let (id, key) = (body["id"].as_str().unwrap().to_owned(), body["key"].as_str().unwrap().to_owned());
    for base in [&app.base, &b.base] {
        assert_eq!(get_on(base, &key, "connected_accounts").await.status, 200, "{base} before");
    }
    app.delete(&format!("api_keys/{id}")).await.expect(200, "revoke through A");
    let revoked = Instant::now();
    let mut refused_after = Vec::new();
    for base in [&app.base, &b.base] {
        loop {
            let r = get_on(base, &key, "connected_accounts").await;
            if r.status == 401 {
                assert_eq!(r.body["error"]["slug"], "APIKey_InvalidAPIKey", "{base}");
                refused_after.push(revoked.elapsed());
                break;
            }
            assert!(revoked.elapsed() < Duration::from_secs(7), "{base} still accepts the revoked key");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!("revoked key refused by A after {:?}, by B after {:?}", refused_after[0], refused_after[1]);
    b.stop();
    app.cleanup().await;
}

/// Stale links the sweep test leaves for the replicas.
const LINKS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeps_of_two_replicas_never_do_the_same_work_twice() {
    let app = TestApp::builder().spawn().await;
    let b: Replica = app.replica().await;
    let ac = app.create_auth_config("github").await;
    for i in 0..LINKS {
        app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": format!("u{i}")}))
            .await
            .expect(201, "link");
    }
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let cast = if matches!(app.db.backend(), crate::db::Backend::Postgres) { "::timestamptz" } else { "" };
    app.db.execute(&format!("update connected_account set initiation_expires_at = $1{cast}"), [past.as_str()]).await;
    for round in 0..3 {
        let sweeps = join_all((0..4).map(|i| {
            let store = if i % 2 == 0 { app.store.clone() } else { b.store.clone() };
            async move { store.expire_stale_initiations().await.expect("sweep") }
        }))
        .await;
        let total: u64 = sweeps.iter().sum();
        assert_eq!(total, if round == 0 { LINKS } else { 0 }, "round {round}: {sweeps:?}");
    }
    let expired: i64 = app.db.scalar("select count(*) from connected_account where status = 'EXPIRED'", NO_ARGS).await;
    assert_eq!(expired, i64::try_from(LINKS).unwrap());
    b.stop();
    app.cleanup().await;
}
