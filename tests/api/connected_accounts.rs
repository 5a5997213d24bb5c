//! `connected_accounts`: retrieve, list, patch, delete (contract §7).

use std::{collections::BTreeSet, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_error_ctx, error_text, ids, is_id, message, spawn_app, timestamp, unknown_id,
};

const ACL_FRAGMENT: &str = "acl_config_for_shared is only valid on SHARED";

/// Auth configs for github and slack, and one session per user.
struct Fixture {
    github: String,
    slack: String,
    sessions: Vec<(String, String)>,
}

impl Fixture {
    async fn new(app: &TestApp, users: &[&str]) -> Self {
        let github = app.create_auth_config("github").await;
        let slack = app.create_auth_config("slack").await;
        let mut sessions = Vec::new();
        for user in users {
            sessions.push((user.to_string(), app.create_session(json!({"user_id": user})).await));
        }
        Self { github, slack, sessions }
    }

    fn session(&self, user: &str) -> &str {
        &self.sessions.iter().find(|(u, _)| u == user).expect("session of user").1
    }
}

#[tokio::test]
async fn get_returns_every_field_of_the_contract() {
    let app = spawn_app().await;
    let f = Fixture::new(&app, &["user_1"]).await;
    let id = app.link_ok(f.session("user_1"), json!({"toolkit": "github", "alias": "work"})).await;
    let r = app.get(&format!("connected_accounts/{id}")).await;
    let a = r.expect(200, "get").clone();
    assert_eq!(a["id"], id);
    assert!(is_id(&a["id"], "ca_"));
    assert_eq!(a["status"], "INITIATED");
    assert!(a.get("status_reason").is_some_and(Value::is_null), "status_reason present and null: {a}");
    assert_eq!(
        a["auth_config"],
        json!({"id": f.github, "auth_scheme": "OAUTH2", "is_composio_managed": false, "is_disabled": false})
    );
    assert_eq!(a["toolkit"], json!({"slug": "github"}));
    assert_eq!(a["user_id"], "user_1");
    assert_eq!(a["is_disabled"], false);
    let created = timestamp(&a["created_at"]);
    let updated = timestamp(&a["updated_at"]);
    assert!(updated >= created);
    assert!((chrono::Utc::now() - created).num_seconds().abs() < 60, "created_at {created}");
    assert_eq!(a["state"]["authScheme"], "OAUTH2");
    assert_eq!(a["state"]["val"]["status"], "INITIATED");
    assert!(a["data"].is_object(), "data {}", a["data"]);
    assert!(a["params"].is_object(), "params {}", a["params"]);
    assert_eq!(a["alias"], "work");
    assert_eq!(a["experimental"]["account_type"], "PRIVATE");

    // v3 answers the same document.
    let v3 = app.v3().get(&format!("connected_accounts/{id}")).await;
    assert_eq!(v3.expect(200, "v3 get"), &a);
    // So does the listing's item (contract: "7.1 item without params" at most).
    let list = app.list_accounts("").await;
    let mut item = list["items"][0].clone();
    let mut expected = a.clone();
    item.as_object_mut().unwrap().remove("params");
    expected.as_object_mut().unwrap().remove("params");
    assert_eq!(item, expected);
    app.cleanup().await;
}

#[tokio::test]
async fn an_expired_link_reads_expired_and_filters_as_expired() {
    let app = TestApp::builder().ttl(Duration::from_secs(1)).spawn().await;
    let f = Fixture::new(&app, &["user_1"]).await;
    let expired = app.link_ok(f.session("user_1"), json!({"toolkit": "github"})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = app.link_ok(f.session("user_1"), json!({"toolkit": "github"})).await;

    let r = app.get(&format!("connected_accounts/{expired}")).await;
    let a = r.expect(200, "get expired");
    assert_eq!(a["status"], "EXPIRED");
    assert!(a["status_reason"].as_str().is_some_and(|s| !s.is_empty()), "status_reason {}", a["status_reason"]);
    assert_eq!(a["state"]["val"]["status"], "EXPIRED");

    assert_eq!(app.account_ids("statuses=EXPIRED").await, vec![expired.clone()]);
    assert_eq!(app.account_ids("statuses=INITIATED").await, vec![fresh.clone()]);
    let both: BTreeSet<String> = app.account_ids("statuses=INITIATED%2CEXPIRED").await.into_iter().collect();
    assert_eq!(both, BTreeSet::from([expired, fresh]));
    app.cleanup().await;
}

#[tokio::test]
async fn the_sweeper_persists_expiry_once_and_leaves_live_links_alone() {
    let app = TestApp::builder().ttl(Duration::from_secs(1)).spawn().await;
    let f = Fixture::new(&app, &["user_1"]).await;
    let expired = app.link_ok(f.session("user_1"), json!({"toolkit": "github"})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = app.link_ok(f.session("user_1"), json!({"toolkit": "github"})).await;
    let stored = |id: String| {
        let db = app.db.clone();
        async move {
            let row = db.row("select status, status_reason from connected_account where id = $1", [id]).await;
            (row.get::<String>("status"), row.get::<Option<String>>("status_reason"))
        }
    };
    assert_eq!(stored(expired.clone()).await.0, "INITIATED", "reads derive EXPIRED; the row waits for the sweep");

    assert_eq!(app.store.expire_stale_initiations().await.expect("sweep"), 1, "one stale initiation");
    let (status, reason) = stored(expired.clone()).await;
    assert_eq!(status, "EXPIRED");
    assert!(reason.is_some_and(|r| r.contains("did not complete")), "status_reason of a swept account");
    assert_eq!(stored(fresh.clone()).await.0, "INITIATED", "a live link was swept");
    assert_eq!(app.store.expire_stale_initiations().await.expect("sweep again"), 0, "a second sweep changes nothing");
    // The API agrees with the stored state.
    assert_eq!(app.account_ids("statuses=EXPIRED").await, vec![expired]);
    assert_eq!(app.account_ids("statuses=INITIATED").await, vec![fresh]);
    app.cleanup().await;
}

/// u1: github ×2 + slack, u2: github, u3: github (oldest first).
async fn five_accounts(app: &TestApp) -> (Fixture, Vec<String>) {
    let f = Fixture::new(app, &["u1", "u2", "u3"]).await;
    let mut created = Vec::new();
    for (user, toolkit) in [("u1", "github"), ("u1", "github"), ("u1", "slack"), ("u2", "github"), ("u3", "github")] {
        created.push(app.link_ok(f.session(user), json!({"toolkit": toolkit})).await);
    }
    (f, created)
}

fn set(ids: Vec<String>) -> BTreeSet<String> {
    ids.into_iter().collect()
}

#[tokio::test]
async fn list_filters() {
    let app = spawn_app().await;
    let (f, c) = five_accounts(&app).await;
    let pick = |idx: &[usize]| idx.iter().map(|&i| c[i].clone()).collect::<BTreeSet<_>>();
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (String::new(), pick(&[0, 1, 2, 3, 4])),
        ("user_ids=u1".into(), pick(&[0, 1, 2])),
        ("user_ids=u1%2Cu2".into(), pick(&[0, 1, 2, 3])),
        ("user_ids=u1,u3".into(), pick(&[0, 1, 2, 4])),
        ("user_ids=nobody".into(), pick(&[])),
        ("toolkit_slugs=slack".into(), pick(&[2])),
        ("toolkit_slugs=GitHub".into(), pick(&[0, 1, 3, 4])),
        ("toolkit_slugs=github%2Cslack".into(), pick(&[0, 1, 2, 3, 4])),
        ("toolkit_slugs=notion".into(), pick(&[])),
        ("statuses=INITIATED".into(), pick(&[0, 1, 2, 3, 4])),
        ("statuses=ACTIVE".into(), pick(&[])),
        ("statuses=ACTIVE%2CINITIATED".into(), pick(&[0, 1, 2, 3, 4])),
        (format!("auth_config_ids={}", f.slack), pick(&[2])),
        (format!("auth_config_ids={}%2C{}", f.github, f.slack), pick(&[0, 1, 2, 3, 4])),
        (format!("connected_account_ids={}%2C{}", c[1], c[3]), pick(&[1, 3])),
        (format!("connected_account_ids={}", unknown_id("ca_")), pick(&[])),
        ("user_ids=u1&toolkit_slugs=github".into(), pick(&[0, 1])),
        (format!("user_ids=u1%2Cu2&toolkit_slugs=github&connected_account_ids={}%2C{}", c[0], c[2]), pick(&[0])),
        ("user_ids=u1&unknown_param=1&another=x".into(), pick(&[0, 1, 2])),
    ];
    for (query, expected) in cases {
        let list = app.list_accounts(&query).await;
        assert_eq!(set(ids(&list)), expected, "?{query}");
        assert_eq!(list["total_items"], expected.len(), "?{query} total_items");
    }
    // The SDK's pre-flight query, on v3 too.
    let r = app.v3().get(&format!("connected_accounts?statuses=ACTIVE&user_ids=u1&auth_config_ids={}", f.github)).await;
    assert_eq!(r.expect(200, "v3 list")["items"], json!([]));
    app.cleanup().await;
}

#[tokio::test]
async fn list_account_type_defaults_to_private() {
    let app = spawn_app().await;
    let f = Fixture::new(&app, &["u1"]).await;
    let private = app.link_ok(f.session("u1"), json!({"toolkit": "github"})).await;
    let shared = app
        .link_ok(
            f.session("u1"),
            json!({"toolkit": "github", "experimental": {"account_type": "SHARED",
                   "acl_config_for_shared": {"allow_all_users": true}}}),
        )
        .await;
    for (query, expected) in [
        ("", vec![private.clone()]),
        ("account_type=PRIVATE", vec![private.clone()]),
        ("account_type=SHARED", vec![shared.clone()]),
        ("account_type=", vec![private.clone()]),
    ] {
        assert_eq!(app.account_ids(query).await, expected, "?{query}");
    }
    assert_eq!(set(app.account_ids("account_type=ALL").await), BTreeSet::from([private, shared.clone()]));
    // A SHARED account is still readable by id.
    let r = app.get(&format!("connected_accounts/{shared}")).await;
    assert_eq!(r.expect(200, "get shared")["experimental"]["account_type"], "SHARED");
    app.cleanup().await;
}

#[tokio::test]
async fn pagination_visits_every_account_exactly_once() {
    let app = spawn_app().await;
    let (_, created) = five_accounts(&app).await;
    for (direction, query) in [("desc", ""), ("asc", "&order_direction=asc"), ("desc", "&order_direction=desc")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut stamps = Vec::new();
        for page in 1..=3 {
            let q = match &cursor {
                Some(c) => format!("limit=2{query}&cursor={c}"),
                None => format!("limit=2{query}"),
            };
            let list = app.list_accounts(&q).await;
            assert_eq!(list["total_items"], 5, "{q}");
            assert_eq!(list["total_pages"], 3, "{q}");
            assert_eq!(list["current_page"], page, "{q}");
            let items = list["items"].as_array().unwrap();
            assert_eq!(items.len(), if page < 3 { 2 } else { 1 }, "{q}");
            for item in items {
                stamps.push(timestamp(&item["created_at"]));
            }
            seen.extend(ids(&list));
            cursor = list["next_cursor"].as_str().map(str::to_owned);
            if page < 3 {
                assert!(cursor.is_some(), "{q}: next_cursor missing before the end");
            } else {
                assert!(
                    list["next_cursor"].is_null(),
                    "{q}: next_cursor must be null at the end: {}",
                    list["next_cursor"]
                );
            }
        }
        assert_eq!(seen.len(), 5, "{direction}: {seen:?}");
        assert_eq!(set(seen.clone()), set(created.clone()), "{direction}: every account exactly once");
        let mut expected = created.clone();
        if direction == "desc" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{direction}: order by created_at");
        let sorted = stamps.windows(2).all(|w| if direction == "desc" { w[0] >= w[1] } else { w[0] <= w[1] });
        assert!(sorted, "{direction}: created_at not monotonic: {stamps:?}");
    }
    // One page holding everything.
    let list = app.list_accounts("limit=5").await;
    assert_eq!((list["total_pages"].clone(), list["next_cursor"].clone()), (json!(1), Value::Null));
    // order_by=updated_at: touching the oldest account makes it the most recently updated, so
    // this order differs from created_at's in both directions.
    app.patch(&format!("connected_accounts/{}", created[0]), json!({"alias": "touched"})).await.expect(200, "touch");
    let mut by_update: Vec<String> = created[1..].to_vec();
    by_update.push(created[0].clone());
    let list = app.list_accounts("order_by=updated_at&order_direction=asc").await;
    assert_eq!(ids(&list), by_update, "updated_at ascending");
    by_update.reverse();
    let list = app.list_accounts("order_by=updated_at&order_direction=desc").await;
    assert_eq!(ids(&list), by_update, "updated_at descending");
    let mut by_creation = created.clone();
    by_creation.reverse();
    assert_eq!(app.account_ids("").await, by_creation, "the default order is still created_at descending");
    app.cleanup().await;
}

#[tokio::test]
async fn bad_list_queries_are_400() {
    let app = spawn_app().await;
    let (_, _) = five_accounts(&app).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("statuses=NOPE", "statuses"),
        ("statuses=ACTIVE%2CNOPE", "statuses"),
        ("toolkit_slugs=git%20hub", "toolkit_slugs"),
        ("auth_config_ids=nope", "auth_config_ids"),
        ("connected_account_ids=nope", "connected_account_ids"),
        ("order_direction=up", "order_direction"),
        ("order_by=name", "order_by"),
        ("account_type=OTHER", "account_type"),
    ] {
        let r = app.get(&format!("connected_accounts?{query}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", query);
        assert!(error_text(&r).contains(field), "[{query}] should name {field}: {}", r.text);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn empty_query_values_are_absent() {
    let app = spawn_app().await;
    let (_, created) = five_accounts(&app).await;
    let all = app.list_accounts("").await;
    let empty = app.list_accounts(
        "user_ids=&toolkit_slugs=&statuses=&auth_config_ids=&connected_account_ids=&cursor=&limit=&order_by=&order_direction=&account_type=",
    )
    .await;
    assert_eq!(empty, all);
    assert_eq!(set(ids(&empty)), set(created));
    app.cleanup().await;
}

#[tokio::test]
async fn patch_alias() {
    let app = spawn_app().await;
    let f = Fixture::new(&app, &["u1"]).await;
    let a = app.link_ok(f.session("u1"), json!({"toolkit": "github", "alias": "work"})).await;
    let b = app.link_ok(f.session("u1"), json!({"toolkit": "github"})).await;

    let r = app
        .patch(&format!("connected_accounts/{b}"), json!({"alias": "home", "connection": {"x": 1}, "future": true}))
        .await;
    assert_eq!(r.expect(200, "patch alias"), &json!({"id": b, "status": "INITIATED", "success": true}));
    let got = app.get(&format!("connected_accounts/{b}")).await;
    assert_eq!(got.expect(200, "get")["alias"], "home");

    // Taken by another live account of the same user and toolkit.
    let r = app.patch(&format!("connected_accounts/{b}"), json!({"alias": "work"})).await;
    assert_error(&r, 409, "ConnectedAccount_AliasAlreadyExists");
    assert_eq!(r.header("x-should-retry"), Some("false"));
    // Setting an account's own alias again is not a conflict.
    app.patch(&format!("connected_accounts/{a}"), json!({"alias": "work"})).await.expect(200, "same alias");

    // null removes it (so does "", as Composio documents: tests/api/account_lifecycle.rs); then
    // the other account may take it.
    app.patch(&format!("connected_accounts/{a}"), json!({"alias": null})).await.expect(200, "null alias");
    let got = app.get(&format!("connected_accounts/{a}")).await;
    assert!(got.expect(200, "get")["alias"].is_null());
    app.patch(&format!("connected_accounts/{b}"), json!({"alias": "work"})).await.expect(200, "alias freed");

    for (case, body, field) in [
        ("257-character alias", json!({"alias": "a".repeat(257)}), "alias"),
        ("alias number", json!({"alias": 1}), "alias"),
        ("array body", json!([]), "body"),
    ] {
        let r = app.patch(&format!("connected_accounts/{a}"), body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        assert!(error_text(&r).contains(field), "[{case}] {}", r.text);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn patch_acl() {
    let app = spawn_app().await;
    let f = Fixture::new(&app, &["u1"]).await;
    let private = app.link_ok(f.session("u1"), json!({"toolkit": "github"})).await;
    let shared =
        app.link_ok(f.session("u1"), json!({"toolkit": "github", "experimental": {"account_type": "SHARED"}})).await;

    let acl = json!({"allow_all_users": false, "allowed_user_ids": ["u2"], "not_allowed_user_ids": ["u3"]});
    let r = app
        .patch(&format!("connected_accounts/{private}"), json!({"experimental": {"acl_config_for_shared": acl}}))
        .await;
    assert_error(&r, 400, "ConnectedAccount_AclOnlyForShared");
    assert!(message(&r).contains(ACL_FRAGMENT), "{}", r.text);
    let got = app.get(&format!("connected_accounts/{private}")).await;
    assert_eq!(got.expect(200, "private unchanged")["experimental"], json!({"account_type": "PRIVATE"}));

    let r = app
        .patch(&format!("connected_accounts/{shared}"), json!({"experimental": {"acl_config_for_shared": acl}}))
        .await;
    assert_eq!(r.expect(200, "shared acl"), &json!({"id": shared, "status": "INITIATED", "success": true}));
    let got = app.get(&format!("connected_accounts/{shared}")).await;
    assert_eq!(got.expect(200, "get")["experimental"], json!({"account_type": "SHARED", "acl_config_for_shared": acl}));

    // The account type is fixed at creation: a PATCH cannot turn PRIVATE into SHARED.
    let r =
        app.patch(&format!("connected_accounts/{private}"), json!({"experimental": {"account_type": "SHARED"}})).await;
    assert!(r.status == 200 || r.status == 400, "{}: {}", r.status, r.text);
    let got = app.get(&format!("connected_accounts/{private}")).await;
    assert_eq!(got.expect(200, "still private")["experimental"], json!({"account_type": "PRIVATE"}));

    // ACL items are validated like on link creation.
    let r = app
        .patch(
            &format!("connected_accounts/{shared}"),
            json!({"experimental": {"acl_config_for_shared": {"allowed_user_ids": ["ok", ""]}}}),
        )
        .await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert!(error_text(&r).contains("experimental.acl_config_for_shared.allowed_user_ids[1]"), "{}", r.text);
    app.cleanup().await;
}

#[tokio::test]
async fn delete_is_soft_and_hides_the_account() {
    let app = spawn_app().await;
    let f = Fixture::new(&app, &["u1"]).await;
    let a = app.link_ok(f.session("u1"), json!({"toolkit": "github"})).await;
    let b = app.link_ok(f.session("u1"), json!({"toolkit": "github"})).await;
    let r = app.delete(&format!("connected_accounts/{a}")).await;
    assert_eq!(r.expect(200, "delete"), &json!({"success": true}));
    for r in [
        app.get(&format!("connected_accounts/{a}")).await,
        app.delete(&format!("connected_accounts/{a}")).await,
        app.patch(&format!("connected_accounts/{a}"), json!({"alias": "x"})).await,
    ] {
        assert_error(&r, 404, "ConnectedAccount_NotFound");
    }
    assert_eq!(app.account_ids("account_type=ALL").await, vec![b.clone()]);
    assert_eq!(app.account_ids(&format!("connected_account_ids={a}")).await, Vec::<String>::new());
    // A deleted account can no longer be pinned.
    let r = app.post("tool_router/session", json!({"user_id": "u1", "connected_accounts": {"github": [a]}})).await;
    assert_error(&r, 400, "ToolRouterV2_InvalidConnectedAccountIds");
    // The row is still there (soft delete).
    let deleted: Option<chrono::DateTime<chrono::Utc>> =
        app.db.scalar("select deleted_at from connected_account where id = $1", [&a]).await;
    assert!(deleted.is_some());
    // The auth config's connection count excludes it.
    let r = app.get(&format!("auth_configs/{}", f.github)).await;
    assert_eq!(r.expect(200, "auth config")["no_of_connections"], 1);
    // v3 deletes too, and the revoke_on_delete flag is accepted.
    let r = app.v3().delete(&format!("connected_accounts/{b}?revoke_on_delete=false")).await;
    assert_eq!(r.expect(200, "v3 delete"), &json!({"success": true}));
    app.cleanup().await;
}

#[tokio::test]
async fn account_ids_are_checked() {
    let app = spawn_app().await;
    for bad in ["nope", "ca_short", "trs_Zz9Yy8Xx7Ww6", "ca_Zz9Yy8Xx7Ww6x", "ca_Zz9Yy8Xx7W%20w"] {
        for (method, r) in [
            ("GET", app.get(&format!("connected_accounts/{bad}")).await),
            ("PATCH", app.patch(&format!("connected_accounts/{bad}"), json!({"alias": "x"})).await),
            ("DELETE", app.delete(&format!("connected_accounts/{bad}")).await),
        ] {
            assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &format!("{method} {bad}"));
        }
    }
    let unknown = unknown_id("ca_");
    for (method, r) in [
        ("GET", app.get(&format!("connected_accounts/{unknown}")).await),
        ("PATCH", app.patch(&format!("connected_accounts/{unknown}"), json!({"alias": "x"})).await),
        ("DELETE", app.delete(&format!("connected_accounts/{unknown}")).await),
    ] {
        assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", method);
        assert_eq!(r.body["error"]["code"], 1803, "{method}");
    }
    app.cleanup().await;
}
