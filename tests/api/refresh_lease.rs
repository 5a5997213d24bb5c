//! The per-account refresh lock, on both stores: a second refresh of the same account waits for
//! the first and then sees what it saved; a lease dropped unsaved is released at once; and a held
//! lease (a provider call in flight, up to 15 s) never stalls other writes, such as link creation.

use std::time::{Duration, Instant};

use authlink::{crypto::sha256, domain::ConnectedAccountId, store::ProjectId};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, unknown_id};

async fn account(app: &TestApp) -> (ProjectId, ConnectedAccountId, String) {
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let id = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let (project, _) = app.store.project_for_key(&sha256(&app.api_key)).await.unwrap().expect("project");
    (project, ConnectedAccountId::parse(&id).unwrap(), session)
}

#[tokio::test]
async fn refreshes_of_one_account_are_serialized_and_block_no_other_write() {
    let app = spawn_app().await;
    let (project, id, session) = account(&app).await;

    let first = app.store.begin_refresh(project, &id).await.unwrap().expect("lease on an existing account");
    assert_eq!(first.account().id, id);

    // Other writes go on while the lease is held.
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(4), app.link(&session, json!({"toolkit": "github"})))
        .await
        .expect("link creation stalled behind a refresh lease");
    r.expect(201, "link while a refresh is in flight");
    assert!(started.elapsed() < Duration::from_secs(2), "link creation waited {:?}", started.elapsed());

    // A second refresh of the same account waits for the first...
    let store = app.store.clone();
    let waiter_id = id.clone();
    let second = tokio::spawn(async move { store.begin_refresh(project, &waiter_id).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!second.is_finished(), "a second lease was granted while the first was held");

    // ...and, once the first saves, reads what it saved.
    first.save("v1.test.sealed-by-the-first-refresh".to_owned(), None).await.expect("save");
    let second = tokio::time::timeout(Duration::from_secs(3), second)
        .await
        .expect("the second lease never came")
        .unwrap()
        .unwrap()
        .expect("lease");
    assert_eq!(second.account().tokens_sealed.as_deref(), Some("v1.test.sealed-by-the-first-refresh"));

    // A lease dropped without saving is released promptly, and changes nothing.
    drop(second);
    let third = tokio::time::timeout(Duration::from_secs(2), app.store.begin_refresh(project, &id))
        .await
        .expect("a dropped lease was not released")
        .unwrap()
        .expect("lease");
    assert_eq!(third.account().tokens_sealed.as_deref(), Some("v1.test.sealed-by-the-first-refresh"));
    third.expire("refresh token revoked (test)").await.expect("expire");
    let a = app.get(&format!("connected_accounts/{id}")).await;
    assert_eq!(a.expect(200, "get")["status"], "EXPIRED");
    assert_eq!(a.body["status_reason"], "refresh token revoked (test)");

    // No lease on an account that does not exist (or belongs to no one here).
    let unknown = ConnectedAccountId::parse(&unknown_id("ca_")).unwrap();
    assert!(app.store.begin_refresh(project, &unknown).await.unwrap().is_none());
    app.cleanup().await;
}
