//! `authlink rotate-keys`, run as operators run it (the binary, against the test server's
//! database): every sealed value moves to the current key, nothing is lost, a second run changes
//! nothing, and a value whose key is not configured stops the rotation with a clear message.

use std::process::Command;

use authlink::{
    config::EncryptionKey,
    crypto::{Sealer, sha256},
    domain::ConnectedAccountId,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::{
    db::NO_ARGS,
    helpers::{CLIENT_SECRET, spawn_app},
};

/// The key every test server seals with (see helpers.rs).
const OLD: [u8; 32] = [7; 32];
const NEW: [u8; 32] = [9; 32];

fn rotate(database_url: &str, current: [u8; 32], old: &[[u8; 32]]) -> (bool, String, String) {
    let old: Vec<String> = old.iter().map(|k| STANDARD.encode(k)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_authlink"))
        .arg("rotate-keys")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("AUTHLINK_ENCRYPTION_KEY", STANDARD.encode(current))
        .env("AUTHLINK_ENCRYPTION_OLD_KEYS", old.join(","))
        .output()
        .expect("run authlink rotate-keys");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test]
async fn rotate_keys_reseals_every_secret_under_the_new_key() {
    let app = spawn_app().await;
    let old_sealer = Sealer::new(&EncryptionKey(OLD), &[]);
    let new_only = Sealer::new(&EncryptionKey(NEW), &[]);

    // Two kinds of sealed values: a client secret (through the API) and an account's token set
    // (written as the OAuth callback writes it).
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    let link = r.expect(201, "link").clone();
    let account = link["connected_account_id"].as_str().unwrap().to_owned();
    let token = link["link_token"].as_str().unwrap();
    let tokens = json!({"access_token": "at-rotate-me", "refresh_token": "rt-rotate-me", "token_type": "Bearer"});
    let (project, _) = app.store.project_for_key(&sha256(&app.api_key)).await.unwrap().expect("project");
    let id = ConnectedAccountId::parse(&account).unwrap();
    let sealed_tokens = old_sealer.seal(&account, tokens.to_string().as_bytes());
    assert!(app.store.complete_link(project, &id, &sha256(token), &sealed_tokens, None).await.unwrap(), "complete");

    let secrets = || async {
        let secret: String = app.db.scalar("select client_secret_sealed from auth_config", NO_ARGS).await;
        let tokens: String =
            app.db.scalar("select tokens_sealed from connected_account where id = $1", [&account]).await;
        let auth_config: String = app.db.scalar("select id from auth_config", NO_ARGS).await;
        (auth_config, secret, tokens)
    };
    let (auth_config, secret_before, tokens_before) = secrets().await;
    assert_eq!(Sealer::key_id_of(&secret_before), Some(old_sealer.current_key_id()));

    // Without the old key the rotation refuses, names what to do, and changes nothing.
    let (ok, _, stderr) = rotate(&app.database.url, NEW, &[]);
    assert!(!ok, "rotation without the old key succeeded");
    assert!(stderr.contains("AUTHLINK_ENCRYPTION_OLD_KEYS"), "{stderr}");
    assert!(!stderr.contains(CLIENT_SECRET), "the secret was echoed: {stderr}");
    assert_eq!(secrets().await, (auth_config.clone(), secret_before.clone(), tokens_before.clone()));

    // With it, both values move to the new key and open to the same plaintext.
    let (ok, stdout, stderr) = rotate(&app.database.url, NEW, &[OLD]);
    assert!(ok, "rotate-keys failed: {stderr}");
    assert!(stdout.contains("re-sealed 2 value(s)"), "{stdout}");
    let (_, secret_after, tokens_after) = secrets().await;
    for sealed in [&secret_after, &tokens_after] {
        assert_eq!(Sealer::key_id_of(sealed), Some(new_only.current_key_id()), "{sealed}");
    }
    assert_eq!(
        new_only.open(&auth_config, &secret_after).expect("secret opens with the new key"),
        CLIENT_SECRET.as_bytes()
    );
    let opened: Value = serde_json::from_slice(&new_only.open(&account, &tokens_after).expect("tokens open")).unwrap();
    assert_eq!(opened, tokens);
    assert!(old_sealer.open(&account, &tokens_after).is_err(), "the old key still opens the new value");

    // A second run finds everything current.
    let (ok, stdout, _) = rotate(&app.database.url, NEW, &[OLD]);
    assert!(ok);
    assert!(stdout.contains("re-sealed 0 value(s)") && stdout.contains("2 already current"), "{stdout}");
    app.cleanup().await;
}

#[tokio::test]
async fn rotate_keys_reseals_stored_idempotent_responses() {
    let app = spawn_app().await;
    let r = crate::helpers::send(
        app.api()
            .request(reqwest::Method::POST, "tool_router/session")
            .header("idempotency-key", "rot-1")
            .json(&json!({"user_id": "u1"})),
    )
    .await;
    r.expect(201, "idempotent create");
    let hex: String = match app.db.backend() {
        crate::db::Backend::Postgres => {
            app.db.scalar("select encode(key_hash, 'hex') from idempotency_key", NO_ARGS).await
        }
        crate::db::Backend::Sqlite => app.db.scalar("select lower(hex(key_hash)) from idempotency_key", NO_ARGS).await,
    };
    let before: String = app.db.scalar("select response_sealed from idempotency_key", NO_ARGS).await;
    assert_eq!(Sealer::key_id_of(&before), Some(Sealer::new(&EncryptionKey(OLD), &[]).current_key_id()));
    let (ok, stdout, stderr) = rotate(&app.database.url, NEW, &[OLD]);
    assert!(ok, "rotate-keys failed: {stderr}");
    assert!(stdout.contains("re-sealed 1 value(s)"), "{stdout}");
    let after: String = app.db.scalar("select response_sealed from idempotency_key", NO_ARGS).await;
    let new_only = Sealer::new(&EncryptionKey(NEW), &[]);
    let opened = new_only.open(&hex, &after).expect("the response opens with the new key");
    let text = String::from_utf8(opened).unwrap();
    let (content_type, body) = text.split_once('\n').unwrap();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    assert_eq!(serde_json::from_str::<Value>(body).unwrap(), r.body);
    app.cleanup().await;
}

/// The connection fields of an OAuth account (a tenant `subdomain`), on the account and on the
/// sign-in attempt's state, move to the new key too and open to the same values.
#[tokio::test]
async fn rotate_keys_reseals_oauth_connection_fields() {
    let app = spawn_app().await;
    let old_sealer = Sealer::new(&EncryptionKey(OLD), &[]);
    let new_only = Sealer::new(&EncryptionKey(NEW), &[]);
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let link = app.link(&session, json!({"toolkit": "github"})).await.expect(201, "link").clone();
    let account = link["connected_account_id"].as_str().unwrap().to_owned();
    let token = link["link_token"].as_str().unwrap();
    let (project, _) = app.store.project_for_key(&sha256(&app.api_key)).await.unwrap().expect("project");
    let id = ConnectedAccountId::parse(&account).unwrap();
    let fields = br#"{"subdomain":"rotate-tenant"}"#;
    let sealed = old_sealer.seal(&account, fields);
    assert!(app.store.set_account_fields(project, &id, &sealed, true).await.unwrap());
    let state = authlink::store::OAuthStateRecord {
        state_hash: sha256("state-of-the-rotation-test"),
        project,
        link_token_hash: sha256(token),
        account_id: id.clone(),
        binding_hash: sha256("binding"),
        verifier_sealed: None,
        fields_sealed: Some(old_sealer.seal(&account, fields)),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
        used_at: None,
    };
    app.store.insert_oauth_state(&state).await.unwrap();

    let (ok, _, stderr) = rotate(&app.database.url, NEW, &[OLD]);
    assert!(ok, "rotate-keys failed: {stderr}");
    let on_account: String =
        app.db.scalar("select fields_sealed from connected_account where id = $1", [&account]).await;
    let on_state: String = app.db.scalar("select fields_sealed from oauth_state", NO_ARGS).await;
    for (what, value) in [("account", &on_account), ("state", &on_state)] {
        assert_eq!(Sealer::key_id_of(value), Some(new_only.current_key_id()), "{what}");
        assert_eq!(new_only.open(&account, value).expect("opens with the new key"), fields, "{what}");
    }
    let (ok, stdout, _) = rotate(&app.database.url, NEW, &[OLD]);
    assert!(ok && stdout.contains("re-sealed 0 value(s)"), "{stdout}");
    app.cleanup().await;
}
