//! Issue 14: webhook subscriptions (Composio's shape), the outbox and the delivery worker, on
//! the run's store. The receiver is a small axum server inside the test (a fake is fine here;
//! `tests/webhooks/run.sh` verifies deliveries with the real `standardwebhooks` and `composio`
//! packages). The worker runs one round at a time (`delivery::run_once`), so each step is
//! deterministic.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use authlink::{
    ServiceContext, Settings,
    catalog::Catalog,
    config::EncryptionKey,
    crypto::Sealer,
    outbound::OutboundPolicy,
    service::webhooks::delivery::{self, WebhookSettings},
};
use axum::{Router, extract::State, http::HeaderMap, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_error_ctx, spawn_app};

pub(crate) const ALL_EVENTS: [&str; 10] = [
    "composio.connected_account.initiated",
    "composio.connected_account.active",
    "composio.connected_account.failed",
    "composio.connected_account.expired",
    "composio.connected_account.refresh_failed",
    "composio.connected_account.recovered",
    "composio.connected_account.revoked",
    "composio.connected_account.deleted",
    "composio.connected_account.disabled",
    "composio.connected_account.enabled",
];

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

/// What the receiver's handler shares: the requests so far and the status to answer.
type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<u16>>);

/// A receiver on 127.0.0.1 answering `status` (changeable) and recording every request.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) origin: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<u16>>,
}

pub(crate) async fn receiver() -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(Mutex::new(200u16));
    let state = (got.clone(), status.clone());
    let app = Router::new()
        .route(
            "/hook",
            post(|State((got, status)): State<ReceiverState>, headers: HeaderMap, body: String| async move {
                got.lock().unwrap().push(Received { headers, body });
                let code = *status.lock().unwrap();
                axum::http::StatusCode::from_u16(code).unwrap()
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url: format!("http://{addr}/hook"), origin: format!("http://{addr}"), got, status }
}

impl Receiver {
    pub(crate) fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.got.lock().unwrap())
    }
    pub(crate) fn answer(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }
}

/// A services context on the app's store with the test server's sealing key, allowed to reach
/// the receiver: what `authlink serve` hands the delivery worker.
pub(crate) fn worker_context(app: &TestApp, origins: &[&str]) -> Arc<ServiceContext> {
    let settings = Settings {
        public_base: app.base.clone(),
        link_ttl: Duration::from_secs(600),
        callback_allowlist: "".parse().unwrap(),
        outbound: OutboundPolicy::new(origins.join(",").parse().unwrap(), false),
        link_url_allowlist: "".parse().unwrap(),
        mcp_allowed_origins: "".parse().unwrap(),
    };
    Arc::new(ServiceContext::new(
        app.store.clone(),
        Catalog::embedded().unwrap(),
        Sealer::new(&EncryptionKey([7u8; 32]), &[]),
        settings,
    ))
}

pub(crate) fn fast() -> WebhookSettings {
    WebhookSettings {
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(2),
        ..WebhookSettings::default()
    }
}

pub(crate) async fn round(ctx: &Arc<ServiceContext>, settings: &WebhookSettings) -> usize {
    let client = delivery::client(ctx).unwrap();
    delivery::run_once(ctx, &client, settings).await.unwrap()
}

/// Standard Webhooks verification, written out: some `v1,` signature in the header must be the
/// HMAC-SHA256 (key: the secret's bytes) of `id.timestamp.body`; the timestamp must be recent.
#[track_caller]
pub(crate) fn verify(r: &Received, secret: &str) -> Value {
    let h = |n: &str| r.headers.get(n).unwrap_or_else(|| panic!("no {n} header")).to_str().unwrap().to_owned();
    let (id, timestamp, signature) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
    let ts: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60, "webhook-timestamp {ts}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", r.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(signature.split(' ').any(|s| s == expected), "no signature by this secret in {signature}");
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("x-composio-webhook-version"), "V3");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["id"], id, "payload id is the webhook-id");
    body
}

pub(crate) async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let r = app.post("webhook_subscriptions", json!({"webhook_url": url, "enabled_events": events})).await;
    r.expect(201, "create subscription").clone()
}

async fn link(app: &TestApp, user: &str, alias: Option<&str>) -> crate::helpers::Resp {
    let ac = app.create_auth_config("github").await;
    let mut body = json!({"auth_config_id": ac, "user_id": user});
    if let Some(a) = alias {
        body["alias"] = json!(a);
    }
    app.post("connected_accounts/link", body).await
}

#[tokio::test]
async fn subscriptions_have_composios_shape_on_both_versions() {
    let app = spawn_app().await;
    for api in [app.api(), app.v3()] {
        let created = api
            .post(
                "webhook_subscriptions",
                json!({"webhook_url": "https://hooks.example.com/in", "enabled_events": ALL_EVENTS}),
            )
            .await;
        let s = created.expect(201, "create").clone();
        let id = s["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("ws_") && id.len() == 15, "{id}");
        assert_eq!(s["webhook_url"], "https://hooks.example.com/in");
        assert_eq!(s["version"], "V3");
        assert_eq!(s["enabled_events"], json!(ALL_EVENTS));
        let secret = s["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 64);
        assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(s["updated_at"].is_string());
        assert_eq!(s["enabled"], true);
        assert_eq!(s["disabled_at"], Value::Null);
        assert_eq!(s["disabled_reason"], Value::Null);

        let got = api.get(&format!("webhook_subscriptions/{id}")).await;
        assert_eq!(got.expect(200, "get"), &s);

        let patched = api
            .patch(
                &format!("webhook_subscriptions/{id}"),
                json!({"enabled_events": ["composio.connected_account.expired"]}),
            )
            .await;
        let p = patched.expect(200, "patch");
        assert_eq!(p["enabled_events"], json!(["composio.connected_account.expired"]));
        assert_eq!(p["webhook_url"], s["webhook_url"]);
        assert_eq!(p["secret"], s["secret"]);

        let rotated = api.post(&format!("webhook_subscriptions/{id}/rotate_secret"), json!({})).await;
        let r = rotated.expect(200, "rotate");
        assert_eq!(r["id"], id.as_str());
        assert_ne!(r["secret"], s["secret"]);
        assert_eq!(api.get(&format!("webhook_subscriptions/{id}")).await.body["secret"], r["secret"]);

        let types = api.get("webhook_subscriptions/event_types").await;
        let items = types.expect(200, "event types")["items"].as_array().unwrap().clone();
        let names: Vec<&str> = items.iter().map(|i| i["event_type"].as_str().unwrap()).collect();
        assert_eq!(names, ALL_EVENTS);
        for i in &items {
            assert!(!i["description"].as_str().unwrap().is_empty());
            assert_eq!(i["supported_versions"], json!(["V3"]));
        }

        let list = api.get("webhook_subscriptions").await;
        let l = list.expect(200, "list");
        assert_eq!(l["items"].as_array().unwrap().len(), 1);
        assert_eq!(l["total_items"], 1);
        assert_eq!(l["current_page"], 1);
        assert_eq!(l["total_pages"], 1);
        assert_eq!(l["next_cursor"], Value::Null);

        let deleted = api.delete(&format!("webhook_subscriptions/{id}")).await;
        assert_eq!(deleted.expect(200, "delete"), &json!({"success": true}));
        let gone = api.get(&format!("webhook_subscriptions/{id}")).await;
        assert_error_ctx(&gone, 404, "WebhookSubscription_NotFound", "after delete");
        let again = api.delete(&format!("webhook_subscriptions/{id}")).await;
        assert_error_ctx(&again, 404, "WebhookSubscription_NotFound", "delete twice");
    }
}

#[tokio::test]
async fn bad_subscriptions_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let ok_events = json!(["composio.connected_account.active"]);
    let cases = [
        ("no url", json!({"enabled_events": ok_events}), "webhook_url: is required"),
        ("no events", json!({"webhook_url": "https://e.com/h"}), "enabled_events: is required"),
        ("http", json!({"webhook_url": "http://e.com/h", "enabled_events": ok_events}), "webhook_url: must be https"),
        (
            "private http",
            json!({"webhook_url": "http://10.1.2.3/h", "enabled_events": ok_events}),
            "webhook_url: must be https",
        ),
        (
            "ftp",
            json!({"webhook_url": "ftp://e.com/h", "enabled_events": ok_events}),
            "webhook_url: must be an https URL",
        ),
        ("relative", json!({"webhook_url": "/h", "enabled_events": ok_events}), "webhook_url: must be an absolute URL"),
        (
            "userinfo",
            json!({"webhook_url": "https://u:p@e.com/h", "enabled_events": ok_events}),
            "webhook_url: must not contain credentials",
        ),
        (
            "empty events",
            json!({"webhook_url": "https://e.com/h", "enabled_events": []}),
            "enabled_events: must name at least one",
        ),
        (
            "unknown event",
            json!({"webhook_url": "https://e.com/h", "enabled_events": ["composio.trigger.message"]}),
            "enabled_events: [0] `composio.trigger.message` is not an event type",
        ),
        (
            "v2",
            json!({"webhook_url": "https://e.com/h", "enabled_events": ok_events, "version": "V2"}),
            "version: only V3 is supported",
        ),
        ("wrong type", json!({"webhook_url": 5, "enabled_events": ok_events}), "webhook_url"),
    ];
    for (case, body, fragment) in cases {
        let r = app.post("webhook_subscriptions", body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(r.text.contains(fragment), "[{case}] {fragment} not in {}", r.text);
    }
    let s = subscribe(&app, "https://e.com/h", &["composio.connected_account.active"]).await;
    let id = s["id"].as_str().unwrap();
    let r = app.patch(&format!("webhook_subscriptions/{id}"), json!({"webhook_url": "http://e.com/x"})).await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "patch http");
    assert!(r.text.contains("webhook_url: must be https"), "{}", r.text);
    let r = app.patch(&format!("webhook_subscriptions/{id}"), json!({"enabled": false})).await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "patch enabled false");
    let r = app.get("webhook_subscriptions/ws_nope").await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "bad id");
    assert_eq!(app.db.scalar::<i64, &str>("select count(*) from webhook_subscription", []).await, 1);
}

#[tokio::test]
async fn a_key_of_another_project_sees_no_subscription() {
    let app = spawn_app().await;
    let s = subscribe(&app, "https://e.com/h", &["composio.connected_account.active"]).await;
    let id = s["id"].as_str().unwrap();
    let other = app.new_project_key("project-b").await;
    let b = app.as_key(&other);
    assert_error_ctx(&b.get(&format!("webhook_subscriptions/{id}")).await, 404, "WebhookSubscription_NotFound", "get");
    assert_error_ctx(
        &b.delete(&format!("webhook_subscriptions/{id}")).await,
        404,
        "WebhookSubscription_NotFound",
        "del",
    );
    let r = b.post(&format!("webhook_subscriptions/{id}/rotate_secret"), json!({})).await;
    assert_error_ctx(&r, 404, "WebhookSubscription_NotFound", "rotate");
    assert_eq!(b.get("webhook_subscriptions").await.body["total_items"], 0);
    assert_eq!(app.get(&format!("webhook_subscriptions/{id}")).await.status, 200);
}

/// A link writes `initiated` in its transaction; the worker delivers it signed, in Composio's
/// V3 envelope; a failing receiver gets retries with the same `webhook-id`, every attempt is
/// listed, and a replay sends it once more.
#[tokio::test]
async fn events_are_delivered_signed_retried_listed_and_replayed() {
    let rx = receiver().await;
    let app = TestApp::builder().endpoint_allowlist(&rx.origin).spawn().await;
    let ctx = worker_context(&app, &[&rx.origin]);
    let settings = fast();
    let s = subscribe(&app, &rx.url, &ALL_EVENTS).await;
    let (sub, secret) = (s["id"].as_str().unwrap().to_owned(), s["secret"].as_str().unwrap().to_owned());

    let created = link(&app, "user_1", None).await;
    let account = created.expect(201, "link")["connected_account_id"].as_str().unwrap().to_owned();
    assert_eq!(round(&ctx, &settings).await, 1);
    let got = rx.take();
    assert_eq!(got.len(), 1);
    let body = verify(&got[0], &secret);
    assert_eq!(body["type"], "composio.connected_account.initiated");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["metadata"]["connected_account_id"], account.as_str());
    assert_eq!(body["metadata"]["user_id"], "user_1");
    assert_eq!(body["metadata"]["toolkit_slug"], "github");
    assert!(body["metadata"]["project_id"].is_string());
    let data = &body["data"];
    assert_eq!(data["id"], account.as_str());
    assert_eq!(data["user_id"], "user_1");
    assert_eq!(data["status"], "INITIATED");
    assert_eq!(data["status_reason"], Value::Null);
    assert_eq!(data["is_disabled"], false);
    assert_eq!(data["toolkit"], json!({"slug": "github"}));
    assert!(data["auth_config"]["id"].as_str().unwrap().starts_with("ac_"));
    assert_eq!(data["auth_config"]["auth_scheme"], "OAUTH2");
    assert_eq!(data["auth_config"]["is_composio_managed"], false);
    assert_eq!(got[0].headers["x-composio-delivery-attempt"], "1");
    assert_eq!(round(&ctx, &settings).await, 0, "delivered once");

    // Deleting the account emits `deleted`; the receiver fails twice, then takes it.
    rx.answer(503);
    app.delete(&format!("connected_accounts/{account}")).await.expect(200, "delete account");
    assert_eq!(round(&ctx, &settings).await, 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(round(&ctx, &settings).await, 1);
    rx.answer(200);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(round(&ctx, &settings).await, 1);
    let got = rx.take();
    assert_eq!(got.len(), 3);
    let ids: Vec<&str> = got.iter().map(|r| r.headers["webhook-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "webhook-id stable across retries: {ids:?}");
    let attempts: Vec<&str> = got.iter().map(|r| r.headers["x-composio-delivery-attempt"].to_str().unwrap()).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    for r in &got {
        let body = verify(r, &secret);
        assert_eq!(body["type"], "composio.connected_account.deleted");
        assert_eq!(body["data"]["id"], account.as_str());
    }
    assert_eq!(got[0].body, got[2].body, "the body is the same on every attempt");

    let list = app.get(&format!("webhook_subscriptions/{sub}/deliveries")).await;
    let l = list.expect(200, "deliveries");
    assert_eq!(l["total_items"], 2);
    let newest = &l["items"][0];
    assert_eq!(newest["event_type"], "composio.connected_account.deleted");
    assert_eq!(newest["event_id"], ids[0]);
    assert_eq!(newest["connected_account_id"], account.as_str());
    assert_eq!(newest["status"], "DELIVERED");
    assert_eq!(newest["next_attempt_at"], Value::Null);
    assert!(newest["delivered_at"].is_string());
    let a = newest["attempts"].as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a[0]["attempt"], 1);
    assert_eq!(a[0]["response_status"], 503);
    assert_eq!(a[0]["success"], false);
    assert_eq!(a[0]["error"], "receiver answered HTTP 503");
    assert!(a[0]["duration_ms"].as_i64().unwrap() >= 0);
    assert!(a[0]["started_at"].is_string());
    assert_eq!(a[2]["response_status"], 200);
    assert_eq!(a[2]["success"], true);
    assert_eq!(a[2]["error"], Value::Null);
    assert_eq!(l["items"][1]["status"], "DELIVERED");
    assert_eq!(l["items"][1]["attempts"].as_array().unwrap().len(), 1);

    // Paging: one per page, the cursor leads to the older one.
    let first = app.get(&format!("webhook_subscriptions/{sub}/deliveries?limit=1")).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("webhook_subscriptions/{sub}/deliveries?limit=1&cursor={cursor}")).await;
    assert_eq!(second.body["items"][0]["event_type"], "composio.connected_account.initiated");
    assert_eq!(second.body["next_cursor"], Value::Null);

    // Replay: the same webhook-id once more.
    let delivery_id = newest["id"].as_str().unwrap();
    let replayed = app.post(&format!("webhook_deliveries/{delivery_id}/replay"), json!({})).await;
    assert_eq!(replayed.expect(200, "replay")["status"], "PENDING");
    assert_eq!(round(&ctx, &settings).await, 1);
    let got = rx.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["webhook-id"].to_str().unwrap(), ids[0]);
    assert_eq!(got[0].headers["x-composio-delivery-attempt"], "4");
    for (case, path, status, slug) in [
        ("unknown delivery", "webhook_deliveries/999999/replay", 404, "WebhookDelivery_NotFound"),
        ("bad delivery id", "webhook_deliveries/abc/replay", 400, "ToolRouterV2_BadRequest"),
        ("zero", "webhook_deliveries/0/replay", 400, "ToolRouterV2_BadRequest"),
    ] {
        assert_error_ctx(&app.post(path, json!({})).await, status, slug, case);
    }
    let other = app.new_project_key("project-b").await;
    let r = app.as_key(&other).post(&format!("webhook_deliveries/{delivery_id}/replay"), json!({})).await;
    assert_error_ctx(&r, 404, "WebhookDelivery_NotFound", "other project");
    for (case, q) in [("limit", "limit=0"), ("cursor", "cursor=zzz")] {
        let r = app.get(&format!("webhook_subscriptions/{sub}/deliveries?{q}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
    }
}

/// Only subscribed event types are written and delivered; a change that rolls back (an alias
/// conflict) writes no event at all.
#[tokio::test]
async fn filtering_and_rollback_emit_nothing_extra() {
    let rx = receiver().await;
    let app = TestApp::builder().endpoint_allowlist(&rx.origin).spawn().await;
    let ctx = worker_context(&app, &[&rx.origin]);
    let count = |table: &'static str| {
        let app = &app;
        async move { app.db.scalar::<i64, &str>(&format!("select count(*) from {table}"), []).await }
    };
    // No subscription: no outbox row at all.
    let ac = app.create_auth_config("github").await;
    let early = app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": "u0"})).await;
    early.expect(201, "link before any subscription");
    assert_eq!(count("webhook_event").await, 0);

    subscribe(&app, &rx.url, &["composio.connected_account.initiated"]).await;
    let body = json!({"auth_config_id": ac, "user_id": "u", "alias": "work"});
    let first = app.post("connected_accounts/link", body.clone()).await;
    let account = first.expect(201, "first")["connected_account_id"].as_str().unwrap().to_owned();
    let conflict = app.post("connected_accounts/link", body).await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert_eq!(count("webhook_event").await, 1, "the rolled-back link wrote no event");
    assert_eq!(count("webhook_delivery").await, 1);
    // `deleted` is not subscribed: nothing written.
    app.delete(&format!("connected_accounts/{account}")).await.expect(200, "delete");
    assert_eq!(count("webhook_event").await, 1);
    assert_eq!(round(&ctx, &fast()).await, 1);
    let got = rx.take();
    assert_eq!(got.len(), 1);
    assert_eq!(serde_json::from_str::<Value>(&got[0].body).unwrap()["type"], "composio.connected_account.initiated");
}

/// During a rotation's overlap every delivery carries a signature by each secret.
#[tokio::test]
async fn a_rotation_signs_with_both_secrets() {
    let rx = receiver().await;
    let app = TestApp::builder().endpoint_allowlist(&rx.origin).spawn().await;
    let ctx = worker_context(&app, &[&rx.origin]);
    let s = subscribe(&app, &rx.url, &["composio.connected_account.initiated"]).await;
    let old = s["secret"].as_str().unwrap().to_owned();
    let rotated =
        app.post(&format!("webhook_subscriptions/{}/rotate_secret", s["id"].as_str().unwrap()), json!({})).await;
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    link(&app, "u", None).await.expect(201, "link");
    assert_eq!(round(&ctx, &fast()).await, 1);
    let got = rx.take();
    verify(&got[0], &new);
    verify(&got[0], &old);
    assert_eq!(got[0].headers["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
}

/// A subscription whose every attempt failed for the whole horizon is disabled and says so;
/// its deliveries gave up. PATCH `enabled: true` turns it back on.
#[tokio::test]
async fn a_subscription_failing_for_the_horizon_is_disabled() {
    let rx = receiver().await;
    let app = TestApp::builder().endpoint_allowlist(&rx.origin).spawn().await;
    rx.answer(500);
    let ctx = worker_context(&app, &[&rx.origin]);
    let settings = WebhookSettings { horizon: Duration::from_millis(300), ..fast() };
    let s = subscribe(&app, &rx.url, &["composio.connected_account.initiated"]).await;
    let id = s["id"].as_str().unwrap();
    link(&app, "u", None).await.expect(201, "link");
    assert_eq!(round(&ctx, &settings).await, 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(round(&ctx, &settings).await, 1, "the last attempt, past the horizon");
    let after = app.get(&format!("webhook_subscriptions/{id}")).await;
    let a = after.expect(200, "get");
    assert_eq!(a["enabled"], false);
    assert!(a["disabled_at"].is_string());
    assert!(a["disabled_reason"].as_str().unwrap().contains("whole delivery horizon"), "{a}");
    let list = app.get(&format!("webhook_subscriptions/{id}/deliveries")).await;
    assert_eq!(list.body["items"][0]["status"], "FAILED");
    assert_eq!(list.body["items"][0]["last_error"], "receiver answered HTTP 500");
    // Disabled: new events make no delivery, nothing is claimed.
    link(&app, "u2", None).await.expect(201, "link");
    assert_eq!(round(&ctx, &settings).await, 0);
    assert_eq!(app.db.scalar::<i64, &str>("select count(*) from webhook_delivery", []).await, 1);
    let enabled = app.patch(&format!("webhook_subscriptions/{id}"), json!({"enabled": true})).await;
    let e = enabled.expect(200, "enable");
    assert_eq!(e["enabled"], true);
    assert_eq!(e["disabled_reason"], Value::Null);
}

/// Two workers racing over the same due deliveries never send one attempt twice.
#[tokio::test]
async fn concurrent_workers_send_each_delivery_once() {
    let rx = receiver().await;
    let app = TestApp::builder().endpoint_allowlist(&rx.origin).spawn().await;
    let ctx = worker_context(&app, &[&rx.origin]);
    subscribe(&app, &rx.url, &["composio.connected_account.initiated"]).await;
    let ac = app.create_auth_config("github").await;
    for i in 0..20 {
        app.post("connected_accounts/link", json!({"auth_config_id": ac, "user_id": format!("u{i}")}))
            .await
            .expect(201, "link");
    }
    let settings = WebhookSettings { batch: 3, ..fast() };
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while round(&ctx, &settings).await > 0 {
                    n += 1;
                }
                n
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let got = rx.take();
    let mut ids: Vec<String> = got.iter().map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 20, "every event once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "no event twice");
}

/// `authlink rotate-keys` re-seals the signing secrets (current and previous) too.
#[tokio::test]
async fn key_rotation_reseals_webhook_secrets() {
    use base64::Engine;
    let app = spawn_app().await;
    let s = subscribe(&app, "https://e.com/h", &["composio.connected_account.active"]).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let first = s["secret"].as_str().unwrap().to_owned();
    let rotated = app.post(&format!("webhook_subscriptions/{id}/rotate_secret"), json!({})).await;
    let second = rotated.body["secret"].as_str().unwrap().to_owned();
    let new_key = [9u8; 32];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authlink"))
        .arg("rotate-keys")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database.url)
        .env("AUTHLINK_ENCRYPTION_KEY", STANDARD.encode(new_key))
        .env("AUTHLINK_ENCRYPTION_OLD_KEYS", base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed 2 value(s)"));
    let new_only = Sealer::new(&EncryptionKey(new_key), &[]);
    let current: String = app.db.scalar("select secret_sealed from webhook_subscription where id = $1", [&id]).await;
    let previous: String =
        app.db.scalar("select previous_secret_sealed from webhook_subscription where id = $1", [&id]).await;
    assert_eq!(new_only.open(&id, &current).unwrap(), second.as_bytes());
    assert_eq!(new_only.open(&id, &previous).unwrap(), first.as_bytes());
    assert!(!app.dump().await.contains(&second), "a secret in clear in the database");
}

/// Retention: webhook events (with their delivery log) go `deleted_after` after they were
/// written, except while a delivery is still pending.
#[tokio::test]
async fn old_webhook_events_are_purged_unless_pending() {
    let app = spawn_app().await;
    subscribe(&app, "https://hooks.example.com/in", &["composio.connected_account.initiated"]).await;
    link(&app, "u1", None).await.expect(201, "link");
    link(&app, "u2", None).await.expect(201, "link");
    let old = match app.db.backend() {
        crate::db::Backend::Postgres => "now() - interval '40 days'",
        crate::db::Backend::Sqlite => "strftime('%Y-%m-%dT%H:%M:%f', 'now', '-40 days') || '000Z'",
    };
    app.db.execute::<&str>(&format!("update webhook_event set created_at = {old}"), []).await;
    let delivered: String = app.db.scalar::<String, &str>("select min(id) from webhook_event", []).await;
    app.db.execute("update webhook_delivery set state = 'DELIVERED' where event_id = $1", [delivered.as_str()]).await;
    let counts = app.store.purge(&authlink::store::RetentionPolicy::default(), chrono::Utc::now()).await.unwrap();
    assert_eq!(counts.webhook_events, 1);
    let left: Vec<String> = app.db.scalars::<String, &str>("select id from webhook_event", []).await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0], delivered, "the pending one stays");
    assert_eq!(app.db.scalar::<i64, &str>("select count(*) from webhook_delivery", []).await, 1);
}
