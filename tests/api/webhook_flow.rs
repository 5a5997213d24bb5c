//! Issue 14 on the OAuth flow (the in-process fake provider): every transition of a connection's
//! life emits its event, in order, delivered and signed; and the background refresh sweeper
//! refreshes ahead of expiry, backs off on transient errors and expires a dead grant.

use std::collections::BTreeMap;

use authlink::{
    service::refresher::{self, RefreshSettings},
    store::ProjectId,
};
use serde_json::{Value, json};

use crate::{
    fake_oauth::{Consent, TokenBehaviour},
    oauth_flow::{Browser, Flow, query},
    webhooks::{ALL_EVENTS, fast, receiver, round, subscribe, verify, worker_context},
};

/// Delivered event types by account, sorted (a round sends its deliveries concurrently, so
/// arrival order is not event order; receivers order by `timestamp` / `data.updated_at`).
fn by_account(got: &[crate::webhooks::Received], secret: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in got {
        let body = verify(r, secret);
        let account = body["data"]["id"].as_str().unwrap().to_owned();
        let short = body["type"].as_str().unwrap().trim_start_matches("composio.connected_account.").to_owned();
        out.entry(account).or_default().push(short);
    }
    out.values_mut().for_each(|v| v.sort());
    out
}

#[tokio::test]
async fn every_transition_of_a_connection_emits_its_event() {
    let rx = receiver().await;
    let flow = Flow::allowing(json!({}), &[&rx.origin]).await;
    let ctx = worker_context(&flow.app, &[&rx.origin]);
    let sub = subscribe(&flow.app, &rx.url, &ALL_EVENTS).await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    let mut expected: BTreeMap<String, Vec<&str>> = BTreeMap::new();

    // initiated → active → (invalid_grant at refresh) refresh_failed, expired → deleted.
    flow.idp.set_expires_in(60);
    let ok = flow.connected().await;
    flow.idp.set_refresh_grant(TokenBehaviour::InvalidGrant);
    let r = flow.app.post(&format!("connected_accounts/{}/refresh", ok.account), json!({})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    flow.app.delete(&format!("connected_accounts/{}", ok.account)).await.expect(200, "delete");
    expected.insert(ok.account.clone(), vec!["initiated", "active", "refresh_failed", "expired", "deleted"]);

    // initiated → failed (denied consent).
    flow.idp.set_consent(Consent::Deny);
    let denied = flow.link().await;
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &denied).await;
    let page = browser.get(back.as_str()).await;
    assert_eq!(query(&page.location())["status"], "failed");
    expected.insert(denied.account.clone(), vec!["initiated", "failed"]);

    // initiated → expired (the link ran out; the sweeper persists it).
    let stale = flow.link().await;
    flow.app
        .db
        .execute(
            "update connected_account set initiation_expires_at = created_at where id = $1",
            [stale.account.as_str()],
        )
        .await;
    assert_eq!(flow.app.store.expire_stale_initiations().await.unwrap(), 1);
    expected.insert(stale.account.clone(), vec!["initiated", "expired"]);

    while round(&ctx, &fast()).await > 0 {}
    let got = rx.take();
    let seen = by_account(&got, &secret);
    let seen: BTreeMap<String, Vec<&str>> =
        seen.iter().map(|(k, v)| (k.clone(), v.iter().map(String::as_str).collect())).collect();
    expected.values_mut().for_each(|v| v.sort_unstable());
    assert_eq!(seen, expected);

    // Each event's data is the account right after its change.
    let bodies: Vec<Value> = got.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let of = |account: &str, kind: &str| {
        bodies
            .iter()
            .find(|b| b["data"]["id"] == account && b["type"] == format!("composio.connected_account.{kind}"))
            .unwrap()
            .clone()
    };
    assert_eq!(of(&ok.account, "active")["data"]["status"], "ACTIVE");
    let expired = of(&ok.account, "expired");
    assert_eq!(expired["data"]["status"], "EXPIRED");
    assert!(expired["data"]["status_reason"].as_str().unwrap().contains("invalid_grant"), "{expired}");
    assert_eq!(of(&ok.account, "refresh_failed")["data"]["status"], "EXPIRED");
    assert_eq!(of(&denied.account, "failed")["data"]["status"], "FAILED");
    assert!(of(&denied.account, "failed")["data"]["status_reason"].as_str().unwrap().contains("access_denied"));
    let link_expired = of(&stale.account, "expired");
    assert_eq!(link_expired["data"]["status"], "EXPIRED");
    assert!(link_expired["data"]["status_reason"].as_str().unwrap().contains("link expired"), "{link_expired}");
    assert_eq!(of(&ok.account, "deleted")["data"]["user_id"], "u1");
    // Event ids are distinct: one message per change.
    let mut ids: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), bodies.len());
    flow.cleanup().await;
}

async fn project_of(flow: &Flow) -> ProjectId {
    let hash = authlink::crypto::sha256(&flow.app.api_key);
    flow.app.store.project_for_key(&hash).await.unwrap().unwrap().0
}

#[tokio::test]
async fn the_sweeper_refreshes_ahead_backs_off_and_expires_dead_grants() {
    let rx = receiver().await;
    let flow = Flow::allowing(json!({}), &[&rx.origin]).await;
    let ctx = worker_context(&flow.app, &[&rx.origin, &flow.idp.base]);
    let settings = RefreshSettings { ahead: std::time::Duration::from_secs(600), ..RefreshSettings::default() };
    let _ = project_of(&flow).await;

    // A token good for an hour is left alone; one expiring within the window is refreshed.
    flow.idp.set_expires_in(3600);
    let long = flow.connected().await;
    flow.idp.set_expires_in(400); // inside the sweeper's 600 s window, outside the read path's 300 s
    let short = flow.connected().await;
    flow.idp.set_expires_in(3600); // what the refresh issues
    let before = flow.app.get(&format!("connected_accounts/{}", short.account)).await.body.clone();
    let c = refresher::sweep_once(&ctx, &settings, "owner-a").await.unwrap();
    assert_eq!((c.ran, c.refreshed, c.expired, c.deferred), (true, 1, 0, 0));
    assert_eq!(flow.idp.grants("refresh_token"), 1);
    let after = flow.app.get(&format!("connected_accounts/{}", short.account)).await.body.clone();
    assert_eq!(after["status"], "ACTIVE");
    assert_ne!(after["state"]["val"]["access_token"], before["state"]["val"]["access_token"], "new tokens stored");
    assert_eq!(flow.idp.grants("refresh_token"), 1, "the read after the sweep needed no refresh");
    let untouched = flow.app.get(&format!("connected_accounts/{}", long.account)).await.body.clone();
    assert_eq!(untouched["status"], "ACTIVE");

    // One sweeper at a time: another owner is turned away while the lease is held.
    let other = refresher::sweep_once(&ctx, &settings, "owner-b").await.unwrap();
    assert!(!other.ran, "a second sweeper ran while the first held the lease");

    // A transient provider error: the account stays ACTIVE and waits out its backoff.
    flow.app
        .db
        .execute("update connected_account set token_expires_at = created_at where id = $1", [short.account.as_str()])
        .await;
    flow.idp.set_refresh_grant(TokenBehaviour::NotJson);
    let c = refresher::sweep_once(&ctx, &settings, "owner-a").await.unwrap();
    assert_eq!((c.refreshed, c.expired, c.deferred), (0, 0, 1));
    assert_eq!(flow.app.get(&format!("connected_accounts/{}", short.account)).await.body["status"], "ACTIVE");
    let grants = flow.idp.grants("refresh_token");
    let c = refresher::sweep_once(&ctx, &settings, "owner-a").await.unwrap();
    assert_eq!((c.refreshed, c.deferred), (0, 0), "retried before its backoff");
    assert_eq!(flow.idp.grants("refresh_token"), grants);

    // invalid_grant once the backoff is over: EXPIRED with a reason, and the events.
    let sub = subscribe(
        &flow.app,
        &rx.url,
        &["composio.connected_account.refresh_failed", "composio.connected_account.expired"],
    )
    .await;
    flow.app
        .db
        .execute("update connected_account set refresh_retry_at = null where id = $1", [short.account.as_str()])
        .await;
    flow.idp.set_refresh_grant(TokenBehaviour::InvalidGrant);
    let c = refresher::sweep_once(&ctx, &settings, "owner-a").await.unwrap();
    assert_eq!((c.refreshed, c.expired, c.deferred), (0, 1, 0));
    let dead = flow.app.get(&format!("connected_accounts/{}", short.account)).await.body.clone();
    assert_eq!(dead["status"], "EXPIRED");
    assert!(dead["status_reason"].as_str().unwrap().contains("invalid_grant"), "{dead}");
    while round(&ctx, &fast()).await > 0 {}
    let got = rx.take();
    let types: Vec<String> =
        got.iter().map(|r| verify(r, sub["secret"].as_str().unwrap())["type"].as_str().unwrap().to_owned()).collect();
    let mut types = types;
    types.sort();
    assert_eq!(types, ["composio.connected_account.expired", "composio.connected_account.refresh_failed"]);
    flow.cleanup().await;
}

/// The account lifecycle of issue 12 emits its events in the change's transaction: `disabled`
/// and `enabled` only when the flag really flips, `revoked` once (a second revoke changes
/// nothing), and `deleted` for every account an auth config's deletion takes with it.
#[tokio::test]
async fn disable_enable_revoke_and_config_delete_emit_their_events_once() {
    let rx = receiver().await;
    let flow = Flow::allowing(json!({}), &[&rx.origin]).await;
    let ctx = worker_context(&flow.app, &[&rx.origin]);
    let sub = subscribe(&flow.app, &rx.url, &ALL_EVENTS).await;
    let secret = sub["secret"].as_str().unwrap().to_owned();

    let revoked = flow.connected().await;
    let status = |enabled: bool| json!({"enabled": enabled});
    for (enabled, what) in [(false, "disable"), (false, "disable again"), (true, "enable"), (true, "enable again")] {
        let r = flow.app.patch(&format!("connected_accounts/{}/status", revoked.account), status(enabled)).await;
        r.expect(200, what);
    }
    for what in ["revoke", "revoke again"] {
        flow.app.post(&format!("connected_accounts/{}/revoke", revoked.account), json!({})).await.expect(200, what);
    }
    // A second account of the same config, taken by the config's deletion.
    let taken = flow.connected().await;
    let configs = flow.app.get("auth_configs").await.expect(200, "configs").clone();
    let ac = configs["items"][0]["id"].as_str().unwrap().to_owned();
    flow.app.delete(&format!("auth_configs/{ac}")).await.expect(200, "delete config");

    while round(&ctx, &fast()).await > 0 {}
    let got = rx.take();
    let seen = by_account(&got, &secret);
    let mut want_revoked = vec!["initiated", "active", "disabled", "enabled", "revoked", "deleted"];
    want_revoked.sort_unstable();
    let mut want_taken = vec!["initiated", "active", "deleted"];
    want_taken.sort_unstable();
    assert_eq!(seen[&revoked.account], want_revoked, "{seen:?}");
    assert_eq!(seen[&taken.account], want_taken, "{seen:?}");
    let bodies: Vec<Value> = got.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let of = |account: &str, kind: &str| {
        bodies
            .iter()
            .find(|b| b["data"]["id"] == account && b["type"] == format!("composio.connected_account.{kind}"))
            .unwrap()
            .clone()
    };
    assert_eq!(of(&revoked.account, "disabled")["data"]["is_disabled"], true);
    assert_eq!(of(&revoked.account, "enabled")["data"]["is_disabled"], false);
    assert_eq!(of(&revoked.account, "revoked")["data"]["status"], "REVOKED");
    assert_eq!(of(&taken.account, "deleted")["data"]["auth_config"]["id"], ac);
    flow.cleanup().await;
}
