//! Retention (issue 11 item 4) and the audit trail beyond ACLs (item 9), on both stores.
//!
//! Retention runs through the store (`MaintenanceStore::purge`, or the service's `sweep`) with a
//! policy and a `now` chosen by the test, as the background task calls it; the audit trail is
//! read with raw SQL and through `GET connected_accounts/{id}/audit`.

use std::time::Duration;

use authlink::{
    crypto::sha256,
    domain::ConnectedAccountId,
    service::retention,
    store::{ProjectId, PurgeCounts, RetentionPolicy},
};
use chrono::Utc;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::{
    db::NO_ARGS,
    helpers::{CLIENT_SECRET, TestApp, spawn_app},
};

const FOREVER: chrono::Duration = chrono::Duration::days(36_500);

/// A policy with every period given, in batches of 7 rows (so floods take several batches).
fn policy(
    link_grace: chrono::Duration,
    deleted_after: chrono::Duration,
    audit_after: chrono::Duration,
) -> RetentionPolicy {
    RetentionPolicy { link_grace, deleted_after, audit_after, batch: 7 }
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.db.scalar::<i64, _>(&format!("select count(*) from {table}"), NO_ARGS).await
}

/// (links, oauth states, accounts, sessions).
async fn counts(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        count(app, "link").await,
        count(app, "oauth_state").await,
        count(app, "connected_account").await,
        count(app, "tool_router_session").await,
    )
}

/// Audit rows of `kind` about `subject`, oldest first: (`api_key_id`, `details`), as text.
async fn audit_rows(app: &TestApp, kind: &str, subject: &str) -> Vec<(Option<String>, Option<String>)> {
    let rows = app
        .db
        .rows(
            "select cast(api_key_id as text) as actor, cast(details as text) as details from audit_event
             where kind = $1 and subject_id = $2 order by id",
            [kind, subject],
        )
        .await;
    rows.iter().map(|r| (r.get("actor"), r.get("details"))).collect()
}

/// The `api_key.id` of a key, as text.
async fn key_id(app: &TestApp, key: &str) -> String {
    app.db.scalar("select cast(id as text) from api_key where key_hash = $1", [sha256(key)]).await
}

async fn project(app: &TestApp) -> ProjectId {
    app.store.project_for_key(&sha256(&app.api_key)).await.unwrap().expect("project").0
}

/// Opens a link page and presses Continue (one new OAuth state).
async fn press_continue(redirect_url: &str) {
    let browser = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let page = browser.get(redirect_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "link page");
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let cont = browser.post(format!("{redirect_url}/continue")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(cont.status(), 302, "continue");
}

/// A session for `user` with github enabled.
async fn session(app: &TestApp, user: &str) -> String {
    app.create_session(json!({"user_id": user, "toolkits": {"enable": ["github"]}})).await
}

/// A new link on `session`: (account id, `redirect_url`).
async fn link(app: &TestApp, session: &str) -> (String, String) {
    let r = app.link(session, json!({"toolkit": "github"})).await;
    let body = r.expect(201, "link");
    (body["connected_account_id"].as_str().unwrap().to_owned(), body["redirect_url"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_flood_of_links_and_continue_presses_is_purged_back_to_the_baseline() {
    let ttl = Duration::from_secs(2);
    let app = TestApp::builder().ttl(ttl).spawn().await;
    app.create_auth_config("github").await;
    let s = session(&app, "u1").await;
    let (links0, states0, accounts0, _) = counts(&app).await;

    for _ in 0..50 {
        let (_, url) = link(&app, &s).await;
        press_continue(&url).await;
        press_continue(&url).await;
    }
    let (links, states, accounts, _) = counts(&app).await;
    assert_eq!((links - links0, states - states0, accounts - accounts0), (50, 100, 50), "the flood's rows");

    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    // A live link (and its state), made after the flood expired: retention must not touch it.
    let (live, live_url) = link(&app, &s).await;
    press_continue(&live_url).await;

    // Within the grace period nothing goes.
    let graced = policy(chrono::Duration::hours(1), FOREVER, FOREVER);
    assert_eq!(app.store.purge(&graced, Utc::now()).await.unwrap(), PurgeCounts::default(), "within the grace");

    let no_grace = policy(chrono::Duration::zero(), FOREVER, FOREVER);
    let purged = retention::sweep(app.store.as_ref(), &no_grace, Utc::now()).await.unwrap();
    assert_eq!(purged.links, 50, "{purged:?}");
    let (links, states, accounts, _) = counts(&app).await;
    assert_eq!((links - links0, states - states0), (1, 1), "only the live link and its state are left");
    // The accounts the links created stay: they are the app's record (read as EXPIRED).
    assert_eq!(accounts - accounts0, 51);
    let left: String = app.db.scalar("select connected_account_id from link", NO_ARGS).await;
    assert_eq!(left, live);
    assert_eq!(app.list_accounts("statuses=EXPIRED").await["total_items"], 50);
    // The live link still works.
    press_continue(&live_url).await;

    // A second run finds nothing: purges are idempotent.
    assert_eq!(app.store.purge(&no_grace, Utc::now()).await.unwrap(), PurgeCounts::default());
    app.cleanup().await;
}

#[tokio::test]
async fn deleting_an_account_erases_its_tokens_at_once_and_records_the_acting_key() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let s = session(&app, "u1").await;
    let (id, _) = link(&app, &s).await;
    let set = app
        .db
        .execute("update connected_account set status = 'ACTIVE', tokens_sealed = 'v1.k.sealed' where id = $1", [&id])
        .await;
    assert_eq!(set, 1);

    app.delete(&format!("connected_accounts/{id}")).await.expect(200, "delete");
    let row = app.db.row("select tokens_sealed from connected_account where id = $1", [&id]).await;
    assert_eq!(row.get::<Option<String>>("tokens_sealed"), None, "sealed tokens kept after delete");
    let events = audit_rows(&app, "account_deleted", &id).await;
    assert_eq!(events, vec![(Some(key_id(&app, &app.api_key).await), None)]);

    // A delete that changes nothing records nothing.
    let again = app.delete(&format!("connected_accounts/{id}")).await;
    assert_eq!(again.status, 404);
    assert_eq!(audit_rows(&app, "account_deleted", &id).await.len(), 1, "a refused delete was audited");
    app.cleanup().await;
}

#[tokio::test]
async fn deleted_sessions_and_accounts_are_purged_after_the_configured_days_only() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let kept_session = session(&app, "u1").await;
    let (kept, _) = link(&app, &kept_session).await;
    let (gone_too, _) = link(&app, &kept_session).await;
    let gone_session = session(&app, "u2").await;
    let (gone, gone_url) = link(&app, &gone_session).await;
    press_continue(&gone_url).await;
    // An account that stays, whose link names the deleted session.
    let (waiting, _) = link(&app, &gone_session).await;
    app.delete(&format!("connected_accounts/{gone}")).await.expect(200, "delete account");
    app.delete(&format!("connected_accounts/{gone_too}")).await.expect(200, "delete account");
    app.delete(&format!("tool_router/session/{gone_session}")).await;
    let deleted: i64 =
        app.db.scalar("select count(*) from tool_router_session where deleted_at is not null", NO_ARGS).await;
    assert_eq!(deleted, 1, "the session delete");

    let thirty = policy(FOREVER, chrono::Duration::days(30), FOREVER);
    let before = counts(&app).await;
    let purged = app.store.purge(&thirty, Utc::now() + chrono::Duration::days(29)).await.unwrap();
    assert_eq!(purged, PurgeCounts::default(), "purged before 30 days");
    assert_eq!(counts(&app).await, before);

    // Past 30 days the deleted accounts go, with their links, state and audit entries; the
    // deleted session waits while a link (within its grace) still names it.
    let later = Utc::now() + chrono::Duration::days(31);
    let purged = app.store.purge(&thirty, later).await.unwrap();
    assert_eq!((purged.accounts, purged.sessions, purged.links), (2, 0, 0), "{purged:?}");
    assert_eq!(counts(&app).await, (2, 0, 2, 2), "(links, states, accounts, sessions)");
    let account_events: i64 =
        app.db.scalar("select count(*) from audit_event where connected_account_id is not null", NO_ARGS).await;
    assert_eq!(account_events, 0, "audit entries of purged accounts kept");
    let mut left: Vec<String> = app.db.scalars("select id from connected_account", NO_ARGS).await;
    left.sort();
    let mut expected = vec![kept.clone(), waiting.clone()];
    expected.sort();
    assert_eq!(left, expected);

    // With the default link grace the spent links go too, and then the session they named.
    let default = RetentionPolicy { batch: 7, ..RetentionPolicy::default() };
    let purged = app.store.purge(&default, later).await.unwrap();
    assert_eq!((purged.links, purged.sessions, purged.accounts), (2, 1, 0), "{purged:?}");
    let sessions: Vec<String> = app.db.scalars("select id from tool_router_session", NO_ARGS).await;
    assert_eq!(sessions, vec![kept_session.clone()]);
    app.get(&format!("connected_accounts/{kept}")).await.expect(200, "kept account");
    app.get(&format!("tool_router/session/{kept_session}")).await.expect(200, "kept session");
    app.cleanup().await;
}

#[tokio::test]
async fn audit_retention_removes_old_entries_only() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let old_total = count(&app, "audit_event").await;
    assert!(old_total >= 2, "api_key_created and auth_config_created rows expected");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.create_auth_config("gitlab").await;
    app.new_project_key("project-b").await;
    assert_eq!(count(&app, "audit_event").await, old_total + 2);

    let year = policy(FOREVER, FOREVER, chrono::Duration::days(365));
    let purged = app.store.purge(&year, cutoff + chrono::Duration::days(365)).await.unwrap();
    assert_eq!(purged, PurgeCounts { audit_events: u64::try_from(old_total).unwrap(), ..PurgeCounts::default() });
    let kinds: Vec<String> = app.db.scalars("select kind from audit_event order by id", NO_ARGS).await;
    assert_eq!(kinds, ["auth_config_created", "api_key_created"], "new entries purged or old ones kept");
    app.cleanup().await;
}

#[tokio::test]
async fn auth_configs_and_api_keys_are_audited_once_with_their_actor() {
    let app = spawn_app().await;
    // The harness's first key: created by the store, no acting key.
    let first = key_id(&app, &app.api_key).await;
    let events = audit_rows(&app, "api_key_created", &first).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, None);
    let details: Value = serde_json::from_str(events[0].1.as_deref().unwrap()).unwrap();
    assert_eq!(details["hint"].as_str().map(str::len), Some(4), "{details}");

    let id = app.create_auth_config("github").await;
    let events = audit_rows(&app, "auth_config_created", &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0.as_deref(), Some(first.as_str()), "acting key");
    let details: Value = serde_json::from_str(events[0].1.as_deref().unwrap()).unwrap();
    assert_eq!(details["toolkit"], "github", "{details}");
    assert!(!details.to_string().contains(CLIENT_SECRET), "client secret in the audit trail: {details}");

    // A refused create changes nothing and records nothing.
    let before = count(&app, "audit_event").await;
    let r = app
        .post(
            "auth_configs",
            json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_composio_managed_auth"}}),
        )
        .await;
    assert!((400..500).contains(&r.status), "refused create answered {}", r.status);
    assert_eq!(count(&app, "audit_event").await, before, "a refused create was audited");

    // A second project's key is audited in that project.
    let key_b = app.new_project_key("project-b").await;
    let b = key_id(&app, &key_b).await;
    assert_eq!(audit_rows(&app, "api_key_created", &b).await.len(), 1);
    let audited: String =
        app.db.scalar("select cast(project_id as text) from audit_event where subject_id = $1", [&b]).await;
    let owner: String =
        app.db.scalar("select cast(project_id as text) from api_key where cast(id as text) = $1", [&b]).await;
    assert_eq!(audited, owner);
    app.cleanup().await;
}

#[tokio::test]
async fn credential_updates_and_expiry_are_in_the_account_trail_without_an_actor() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let s = session(&app, "u1").await;
    let (id, _) = link(&app, &s).await;
    let project = project(&app).await;
    let account = ConnectedAccountId::parse(&id).unwrap();
    let token_hash: Vec<u8> = app.db.scalar("select token_hash from link where connected_account_id = $1", [&id]).await;

    assert!(app.store.complete_link(project, &account, &token_hash, "v1.k.first", None).await.unwrap());
    // A replayed completion changes nothing and records nothing.
    assert!(!app.store.complete_link(project, &account, &token_hash, "v1.k.again", None).await.unwrap());
    let lease = app.store.begin_refresh(project, &account).await.unwrap().expect("lease");
    lease.save("v1.k.refreshed".to_owned(), None).await.unwrap();
    // A lease dropped unsaved records nothing either.
    drop(app.store.begin_refresh(project, &account).await.unwrap().expect("lease"));
    let lease = tokio::time::timeout(Duration::from_secs(5), app.store.begin_refresh(project, &account))
        .await
        .expect("the dropped lease was not released")
        .unwrap()
        .expect("lease");
    lease.expire("the provider refused the refresh").await.unwrap();

    let events = audit_rows(&app, "account_credentials_updated", &id).await;
    let sources: Vec<(Option<String>, Value)> =
        events.into_iter().map(|(k, d)| (k, serde_json::from_str(&d.unwrap()).unwrap())).collect();
    assert_eq!(sources, vec![(None, json!({"source": "link"})), (None, json!({"source": "refresh"}))]);
    assert_eq!(audit_rows(&app, "account_expired", &id).await.len(), 1);

    // The account's audit endpoint lists them, newest first, with their details.
    let trail = app.get(&format!("connected_accounts/{id}/audit")).await.expect(200, "audit").clone();
    let kinds: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["account_expired", "account_credentials_updated", "account_credentials_updated"]);
    assert_eq!(trail["items"][1]["details"], json!({"source": "refresh"}));
    assert!(trail["items"][0].get("api_key_id").is_none(), "{trail}");
    app.cleanup().await;
}
