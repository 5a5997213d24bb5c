//! Managed API keys (issue 11 item 7): the admin API lists keys masked, creates them (the key is
//! shown once) and revokes them; a revocation made elsewhere (the CLI, another process: here the
//! store directly, bypassing the server's cache) stops the key within 5 s; expired keys are 401
//! code 811; `last_used_at` is recorded; one project never sees or revokes another's keys.

use std::time::{Duration, Instant};

use authlink::{
    crypto::sha256,
    store::{ApiKeyId, NewApiKey},
};
use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_error_ctx, error_text, spawn_app};

/// Creates a key through the API with `api_key` (project A's by default); returns (id, key).
async fn create_key(app: &TestApp, body: Value) -> (String, String) {
    let r = app.post("api_keys", body).await;
    let b = r.expect(201, "create api key");
    (b["id"].as_str().expect("id").to_owned(), b["key"].as_str().expect("key").to_owned())
}

/// The listed entry of a key id.
fn entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["items"].as_array().expect("items").iter().find(|k| k["id"] == id).unwrap_or_else(|| panic!("{id} not listed"))
}

/// Polls until `key` is refused (401 `APIKey_InvalidAPIKey`); fails when it is still accepted, or
/// only refused, 5 s or more after `revoked_at`. Returns how long after `revoked_at` it was refused.
async fn until_refused(app: &TestApp, key: &str, revoked_at: Instant) -> Duration {
    let deadline = Duration::from_secs(5);
    loop {
        let r = app.as_key(key).get("connected_accounts").await;
        let took = revoked_at.elapsed();
        if r.status == 401 {
            assert_error(&r, 401, "APIKey_InvalidAPIKey");
            assert!(took < deadline, "refused only {took:?} after the revocation");
            return took;
        }
        assert_eq!(r.status, 200, "before it is refused the key works: {}", r.text);
        assert!(took < deadline, "the revoked key still works {took:?} after the revocation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn keys_are_created_shown_once_listed_masked_and_revoked() {
    let app = spawn_app().await;
    // 30.0 is the integer 30, as JSON Schema counts it.
    let (id, key) = create_key(&app, json!({"name": " ci deploy ", "expires_in_days": 30.0})).await;
    assert!(key.starts_with("ak_") && key.len() >= 30, "{key}");

    // The new key works, for the same project.
    let r = app.as_key(&key).get("api_keys").await;
    let list = r.expect(200, "list with the new key").clone();
    let listed = entry(&list, &id);
    assert_eq!(listed["name"], "ci deploy");
    assert_eq!(listed["status"], "ACTIVE");
    assert_eq!(listed["masked_key"], format!("****{}", &key[key.len() - 4..]));
    assert!(listed["revoked_at"].is_null());
    let expires = crate::helpers::timestamp(&listed["expires_at"]);
    let in_30_days = Utc::now() + chrono::Duration::days(30);
    assert!((expires - in_30_days).num_seconds().abs() < 60, "expires_at {expires}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "the project's first key and the new one");

    // Neither listing nor any later answer holds a key or its hash.
    let hash_hex: String = sha256(&key).iter().map(|b| format!("{b:02x}")).collect();
    for text in [&r.text, &app.get("api_keys").await.text, &app.v3().get("api_keys").await.text] {
        assert!(!text.contains(&key) && !text.contains(&app.api_key), "a key is listed: {text}");
        assert!(!text.contains(&hash_hex) && !text.contains("key_hash"), "a hash is listed: {text}");
    }

    // Revoke (through /api/v3, the mirror): at once in this process, and listed as REVOKED.
    let r = app.v3().delete(&format!("api_keys/{id}")).await;
    let revoked = r.expect(200, "revoke").clone();
    assert_eq!(revoked["status"], "REVOKED");
    assert!(revoked["revoked_at"].is_string());
    let r = app.as_key(&key).get("connected_accounts").await;
    assert_error(&r, 401, "APIKey_InvalidAPIKey");
    assert!(!r.text.contains(&key), "the 401 echoes the key: {}", r.text);
    let list = app.get("api_keys").await.expect(200, "list").clone();
    assert_eq!(entry(&list, &id)["status"], "REVOKED");
    // Revoking again answers the same record; the other key still works.
    let again = app.delete(&format!("api_keys/{id}")).await.expect(200, "revoke again").clone();
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    app.get("connected_accounts").await.expect(200, "the project's other key");
    app.cleanup().await;
}

#[tokio::test]
async fn bad_requests_name_the_field_or_parameter() {
    let app = spawn_app().await;
    for (body, fields) in [
        (json!({}), &["name"][..]),
        (json!({"name": "  "}), &["name"]),
        (json!({"name": "x".repeat(129)}), &["name"]),
        (json!({"name": "ok", "expires_in_days": 0}), &["expires_in_days"]),
        (json!({"name": "", "expires_in_days": 4000}), &["name", "expires_in_days"]),
        (json!({"name": "ok", "expires_in_days": "soon"}), &["expires_in_days"]),
        (json!({"name": "ok", "expires_in_days": 1.5}), &["expires_in_days"]),
    ] {
        let case = body.to_string();
        let r = app.post("api_keys", body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", &case);
        let errors = r.body["error"]["errors"].as_array().expect("errors");
        for field in fields {
            assert!(errors.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with(field))), "{case}: {}", r.text);
        }
    }
    for bad in ["not-a-uuid", "ak_Zz9Yy8Xx7Ww6", "%FF%FE"] {
        let r = app.delete(&format!("api_keys/{bad}")).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", bad);
        assert!(error_text(&r).contains("id: "), "{bad}: {}", r.text);
    }
    let r = app.delete(&format!("api_keys/{}", uuid::Uuid::new_v4())).await;
    assert_error(&r, 404, "APIKey_NotFound");
    app.cleanup().await;
}

#[tokio::test]
async fn a_key_revoked_in_another_process_stops_working_within_5_seconds() {
    let app = spawn_app().await;
    let (id, key) = create_key(&app, json!({"name": "elsewhere"})).await;
    // Warm this server's cache with the key, then revoke it behind the server's back: the store
    // is what the CLI or another authlink process writes through.
    app.as_key(&key).get("connected_accounts").await.expect(200, "the key works");
    let id = ApiKeyId(uuid::Uuid::parse_str(&id).expect("uuid"));
    let revoked_at = Instant::now();
    let record = app.store.revoke_api_key(None, id, None).await.expect("revoke").expect("the key exists");
    assert!(record.revoked_at.is_some());
    let took = until_refused(&app, &key, revoked_at).await;
    eprintln!("revoked key refused after {took:?}");
    app.cleanup().await;
}

#[tokio::test]
async fn expired_keys_answer_811_even_while_cached() {
    let app = spawn_app().await;
    let project = app.store.project_by_name("project-a").await.expect("lookup").expect("project-a");
    let expired = "ak_expired-key-for-the-test-00000000".to_owned();
    let new = NewApiKey {
        key_hash: sha256(&expired),
        hint: "0000".into(),
        name: "old".into(),
        expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
    };
    app.store.add_api_key(project, &new).await.expect("add");
    let r = app.as_key(&expired).get("connected_accounts").await;
    assert_error(&r, 401, "APIKey_APIKeyExpired");
    assert_eq!(r.body["error"]["code"], 811);
    assert!(!r.text.contains(&expired), "{}", r.text);
    let list = app.get("api_keys").await.expect(200, "list").clone();
    assert!(list["items"].as_array().expect("items").iter().any(|k| k["name"] == "old" && k["status"] == "EXPIRED"));

    // A key that expires while this server has it cached: refused at its expiry, not a TTL later.
    let soon = "ak_expires-in-a-moment-000000000001".to_owned();
    let expires_at = Utc::now() + chrono::Duration::milliseconds(1500);
    let new =
        NewApiKey { key_hash: sha256(&soon), hint: "0001".into(), name: "soon".into(), expires_at: Some(expires_at) };
    app.store.add_api_key(project, &new).await.expect("add");
    app.as_key(&soon).get("connected_accounts").await.expect(200, "before its expiry");
    let wait = (expires_at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100);
    tokio::time::sleep(wait).await;
    let r = app.as_key(&soon).get("connected_accounts").await;
    assert_error(&r, 401, "APIKey_APIKeyExpired");
    app.cleanup().await;
}

#[tokio::test]
async fn last_used_at_is_recorded_at_most_about_once_a_minute() {
    let app = spawn_app().await;
    let (id, key) = create_key(&app, json!({"name": "used"})).await;
    let list = app.get("api_keys").await.expect(200, "list").clone();
    assert!(entry(&list, &id)["last_used_at"].is_null(), "never used yet");
    app.as_key(&key).get("connected_accounts").await.expect(200, "use the key");
    let start = Instant::now();
    let first = loop {
        let list = app.get("api_keys").await.expect(200, "list").clone();
        let at = entry(&list, &id)["last_used_at"].clone();
        if at.is_string() {
            break at;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "last_used_at not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let used = crate::helpers::timestamp(&first);
    assert!((Utc::now() - used).num_seconds().abs() < 10, "last_used_at {used}");
    // More requests within the minute do not write it again.
    for _ in 0..3 {
        app.as_key(&key).get("connected_accounts").await.expect(200, "use again");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let list = app.get("api_keys").await.expect(200, "list").clone();
    assert_eq!(entry(&list, &id)["last_used_at"], first);
    app.cleanup().await;
}

#[tokio::test]
async fn a_project_never_sees_nor_revokes_another_projects_keys() {
    let app = spawn_app().await;
    let (a_id, a_key) = create_key(&app, json!({"name": "a's key"})).await;
    let b_key = app.new_project_key("project-b").await;
    let b = app.as_key(&b_key);
    let r = b.get("api_keys").await;
    let list = r.expect(200, "B lists").clone();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "only B's own key: {}", r.text);
    assert!(!r.text.contains(&a_id) && !r.text.contains("a's key"));
    let r = b.delete(&format!("api_keys/{a_id}")).await;
    assert_error(&r, 404, "APIKey_NotFound");
    app.as_key(&a_key).get("connected_accounts").await.expect(200, "A's key survives B's attempt");
    // B creates a key: it is B's, not A's.
    let r = b.post("api_keys", json!({"name": "b's second"})).await;
    let b_id = r.expect(201, "B creates").clone()["id"].as_str().expect("id").to_owned();
    let a_list = app.get("api_keys").await.expect(200, "A lists").clone();
    assert!(!crate::helpers::ids(&a_list).contains(&b_id));
    let r = app.delete(&format!("api_keys/{b_id}")).await;
    assert_error(&r, 404, "APIKey_NotFound");
    app.cleanup().await;
}

/// The actors (`api_key_id`, as text) of the `api_key_revoked` audit rows of a key.
async fn revocations(app: &TestApp, id: &str) -> Vec<Option<String>> {
    let rows = app
        .db
        .rows(
            "select cast(api_key_id as text) as actor from audit_event
             where kind = 'api_key_revoked' and subject_type = 'api_key' and subject_id = $1 order by id",
            [id],
        )
        .await;
    rows.iter().map(|r| r.get("actor")).collect()
}

#[tokio::test]
async fn a_revocation_is_audited_once_with_the_acting_key() {
    let app = spawn_app().await;
    let (by_api, _) = create_key(&app, json!({"name": "revoked by the API"})).await;
    let (by_cli, _) = create_key(&app, json!({"name": "revoked by the CLI"})).await;
    let actor: String =
        app.db.scalar("select cast(id as text) from api_key where key_hash = $1", [sha256(&app.api_key)]).await;
    assert!(revocations(&app, &by_api).await.is_empty(), "nothing is recorded before a revocation");

    // Through the API: the acting key is recorded; revoking again records nothing more.
    app.delete(&format!("api_keys/{by_api}")).await.expect(200, "revoke");
    app.delete(&format!("api_keys/{by_api}")).await.expect(200, "revoke again");
    assert_eq!(revocations(&app, &by_api).await, vec![Some(actor)]);

    // As the CLI does (no acting key).
    let id = ApiKeyId(uuid::Uuid::parse_str(&by_cli).expect("uuid"));
    app.store.revoke_api_key(None, id, None).await.expect("revoke").expect("the key exists");
    assert_eq!(revocations(&app, &by_cli).await, vec![None]);

    // Another project cannot revoke (nor audit) this project's key.
    let other = app.new_project_key("other").await;
    let (third, _) = create_key(&app, json!({"name": "kept"})).await;
    assert_error_ctx(&app.as_key(&other).delete(&format!("api_keys/{third}")).await, 404, "APIKey_NotFound", "foreign");
    assert!(revocations(&app, &third).await.is_empty(), "a refused revocation is not audited");
    app.cleanup().await;
}
