//! `PATCH auth_configs/{id}`, `PATCH auth_configs/{id}/{ENABLED|DISABLED}`, `DELETE
//! auth_configs/{id}` (issue 12).

use serde_json::json;

use crate::helpers::{CLIENT_SECRET, assert_error, assert_error_ctx, spawn_app};

#[tokio::test]
async fn patch_changes_credentials_keeps_an_omitted_secret_and_never_returns_it() {
    let app = spawn_app().await;
    let id = app.create_auth_config("github").await;
    let r = app
        .patch(
            &format!("auth_configs/{id}"),
            json!({"type": "custom", "name": "Renamed",
                   "credentials": {"client_id": "new-client", "scopes": "repo,gist",
                                   "revocation_url": "https://github.example/revoke"},
                   "is_enabled_for_tool_router": true, "tool_access_config": {}}),
        )
        .await;
    assert_eq!(
        r.expect(200, "patch").clone(),
        json!({"success": true, "message": format!("Auth config {id} updated")})
    );
    let got = app.get(&format!("auth_configs/{id}")).await.expect(200, "get").clone();
    assert_eq!(got["name"], "Renamed");
    assert_eq!(got["credentials"]["client_id"], "new-client");
    assert_eq!(got["credentials"]["scopes"], json!(["repo", "gist"]));
    assert_eq!(got["credentials"]["revocation_url"], "https://github.example/revoke");
    assert!(!got.to_string().contains(CLIENT_SECRET));
    assert_ne!(got["last_updated_at"], got["created_at"]);
    // The secret was kept: it still opens to the original one.
    let kept: String = app.db.scalar("select client_secret_sealed from auth_config where id = $1", [&id]).await;
    assert!(!kept.contains(CLIENT_SECRET));

    // A new secret is sealed (the stored value changes, never in clear).
    app.patch(
        &format!("auth_configs/{id}"),
        json!({"type": "custom", "credentials": {"client_secret": "brand-new-secret"}}),
    )
    .await
    .expect(200, "new secret");
    let sealed: String = app.db.scalar("select client_secret_sealed from auth_config where id = $1", [&id]).await;
    assert_ne!(sealed, kept);
    assert!(!sealed.contains("brand-new-secret"));
    // Top-level scopes (the SDKs' `default` shape puts them there) are accepted with type custom.
    app.patch(&format!("auth_configs/{id}"), json!({"scopes": ["read:user"]})).await.expect(200, "scopes");
    assert_eq!(app.get(&format!("auth_configs/{id}")).await.body["credentials"]["scopes"], json!(["read:user"]));
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_patches_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let id = app.create_auth_config("github").await;
    for (body, status, slug, field) in [
        (json!({"type": "default", "scopes": ["a"]}), 400, "Authlink_Unsupported", "authlink manages no OAuth apps"),
        (json!({"type": "other"}), 400, "ToolRouterV2_BadRequest", "type"),
        (json!({"name": ""}), 400, "ToolRouterV2_BadRequest", "name"),
        (json!({"credentials": {"client_id": ""}}), 400, "ToolRouterV2_BadRequest", "client_id"),
        (json!({"credentials": {"client_secret": ""}}), 400, "ToolRouterV2_BadRequest", "client_secret"),
        (
            json!({"credentials": {"token_url": "http://example.com/t"}}),
            400,
            "ToolRouterV2_BadRequest",
            "credentials.token_url",
        ),
        (
            json!({"credentials": {"revocation_url": "https://127.0.0.1/r"}}),
            400,
            "ToolRouterV2_BadRequest",
            "credentials.revocation_url",
        ),
        (
            json!({"credentials": {"authorization_url": "https://a.example/x?state=1"}}),
            400,
            "ToolRouterV2_BadRequest",
            "credentials.authorization_url",
        ),
        (json!({"credentials": {"client_auth": "private_key_jwt"}}), 400, "ToolRouterV2_BadRequest", "client_auth"),
        (json!({"credentials": "x"}), 400, "ToolRouterV2_BadRequest", "credentials"),
    ] {
        let r = app.patch(&format!("auth_configs/{id}"), body.clone()).await;
        assert_error_ctx(&r, status, slug, &body.to_string());
        assert!(r.text.contains(field), "{body}: {}", r.text);
    }
    assert_error(&app.patch("auth_configs/ac_missing00000", json!({})).await, 404, "AuthConfig_NotFound");
    let other = app.new_project_key("other").await;
    assert_error(&app.as_key(&other).patch(&format!("auth_configs/{id}"), json!({})).await, 404, "AuthConfig_NotFound");
    app.cleanup().await;
}

#[tokio::test]
async fn a_disabled_config_is_reported_and_never_picked_for_new_links() {
    let app = spawn_app().await;
    let id = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let early = app.link_ok(&session, json!({"toolkit": "github"})).await;

    let r = app.patch(&format!("auth_configs/{id}/DISABLED"), json!({})).await;
    assert_eq!(
        r.expect(200, "disable").clone(),
        json!({"success": true, "message": format!("Auth config {id} is now DISABLED")})
    );
    let got = app.get(&format!("auth_configs/{id}")).await.expect(200, "get").clone();
    assert_eq!((got["status"].clone(), got["is_enabled_for_tool_router"].clone()), (json!("DISABLED"), json!(false)));
    assert_eq!(app.get("auth_configs").await.body["total_items"], 0, "hidden without show_disabled");
    assert_eq!(app.get("auth_configs?show_disabled=true").await.body["total_items"], 1);
    // No new link through it: neither as the default nor as the session's override.
    assert_error(&app.link(&session, json!({"toolkit": "github"})).await, 400, "ToolRouterV2_NoManagedAuth");
    let pinned = app.create_session(json!({"user_id": "u1", "auth_configs": {"github": id}})).await;
    assert_eq!(app.link(&pinned, json!({"toolkit": "github"})).await.status, 400);
    let r = app.post("connected_accounts/link", json!({"auth_config_id": id, "user_id": "u1"})).await;
    assert_error(&r, 404, "AuthConfig_NotFound");
    // The account made before shows it.
    let account = app.get(&format!("connected_accounts/{early}")).await.expect(200, "account").clone();
    assert_eq!(account["auth_config"]["is_disabled"], true);

    app.patch(&format!("auth_configs/{id}/ENABLED"), json!({})).await.expect(200, "enable");
    assert_eq!(app.get(&format!("auth_configs/{id}")).await.body["status"], "ENABLED");
    app.link_ok(&session, json!({"toolkit": "github"})).await;

    for (path, status, slug) in [
        (format!("auth_configs/{id}/enabled"), 400, "ToolRouterV2_BadRequest"),
        (format!("auth_configs/{id}/PAUSED"), 400, "ToolRouterV2_BadRequest"),
        ("auth_configs/nope/ENABLED".to_owned(), 400, "ToolRouterV2_BadRequest"),
        ("auth_configs/ac_missing00000/ENABLED".to_owned(), 404, "AuthConfig_NotFound"),
    ] {
        assert_error_ctx(&app.patch(&path, json!({})).await, status, slug, &path);
    }
    app.cleanup().await;
}

#[tokio::test]
async fn delete_takes_the_accounts_with_it_in_one_go() {
    let app = spawn_app().await;
    let id = app.create_auth_config("github").await;
    let keep = app.create_auth_config("slack").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github", "slack"]}})).await;
    let a1 = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let a2 = app.link_ok(&session, json!({"toolkit": "github"})).await;
    let other = app.link_ok(&session, json!({"toolkit": "slack"})).await;

    let r = app.delete(&format!("auth_configs/{id}")).await;
    assert_eq!(
        r.expect(200, "delete").clone(),
        json!({"success": true, "message": format!("Auth config {id} deleted with its 2 connected account(s)")})
    );
    assert_error(&app.get(&format!("auth_configs/{id}")).await, 404, "AuthConfig_NotFound");
    assert_error(&app.delete(&format!("auth_configs/{id}")).await, 404, "AuthConfig_NotFound");
    for a in [&a1, &a2] {
        assert_error(&app.get(&format!("connected_accounts/{a}")).await, 404, "ConnectedAccount_NotFound");
    }
    app.get(&format!("connected_accounts/{other}")).await.expect(200, "other config's account");
    app.get(&format!("auth_configs/{keep}")).await.expect(200, "other config");
    let list = app.get("auth_configs?show_disabled=true").await.expect(200, "list").clone();
    assert_eq!(list["total_items"], 1);
    // Nothing secret is left on the deleted rows.
    let left: Vec<String> = app
        .db
        .scalars(
            "select id from auth_config where id = $1 and client_secret_sealed is not null
             union all select id from connected_account where auth_config_id = $1 and (tokens_sealed is not null or link_url_sealed is not null)",
            [&id],
        )
        .await;
    assert!(left.is_empty(), "{left:?}");
    // New links fall back to nothing for the toolkit; the custom toolkit vanishes from toolkits.
    assert_error(&app.link(&session, json!({"toolkit": "github"})).await, 400, "ToolRouterV2_NoManagedAuth");
    let other_key = app.new_project_key("other").await;
    assert_error(&app.as_key(&other_key).delete(&format!("auth_configs/{keep}")).await, 404, "AuthConfig_NotFound");
    app.cleanup().await;
}

#[tokio::test]
async fn a_deleted_custom_toolkit_is_no_longer_known() {
    let app = spawn_app().await;
    let id = app
        .create_auth_config_with(
            &app.api(),
            "acme_gone",
            json!({"authorization_url": "https://acme.example/a", "token_url": "https://acme.example/t"}),
        )
        .await;
    app.get("toolkits/acme_gone").await.expect(200, "known");
    app.delete(&format!("auth_configs/{id}")).await.expect(200, "delete");
    assert_error(&app.get("toolkits/acme_gone").await, 404, "Toolkit_NotFound");
    let r = app.post("tool_router/session", json!({"user_id": "u", "toolkits": {"enable": ["acme_gone"]}})).await;
    assert_error(&r, 400, "ToolRouterV2_InvalidToolkitSlugs");
    app.cleanup().await;
}

/// Links created while their auth config is deleted either fail or are deleted with it: no live
/// account ever points at a deleted config.
#[tokio::test]
async fn links_racing_a_delete_leave_no_live_account_behind() {
    let app = spawn_app().await;
    let id = app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let link_path = format!("tool_router/session/{session}/link");
    let user_link = json!({"auth_config_id": id, "user_id": "u2"});
    let links = (0..12).map(|i| {
        let (path, body) = if i % 2 == 0 {
            (link_path.as_str(), json!({"toolkit": "github"}))
        } else {
            ("connected_accounts/link", user_link.clone())
        };
        app.post(path, body)
    });
    let delete = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        app.delete(&format!("auth_configs/{id}")).await
    };
    let (made, deleted) = tokio::join!(futures::future::join_all(links), delete);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    for r in &made {
        assert!(matches!(r.status, 201 | 400 | 404), "a link answered {}: {}", r.status, r.text);
        if r.status == 201 {
            let ca = r.body["connected_account_id"].as_str().unwrap();
            assert_error(&app.get(&format!("connected_accounts/{ca}")).await, 404, "ConnectedAccount_NotFound");
        }
    }
    let live: i64 = app
        .db
        .scalar("select count(*) from connected_account where auth_config_id = $1 and deleted_at is null", [&id])
        .await;
    assert_eq!(live, 0);
    app.cleanup().await;
}
