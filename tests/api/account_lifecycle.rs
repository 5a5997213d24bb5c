//! Connected account lifecycle (issue 12): `PATCH connected_accounts/{id}/status`,
//! `POST connected_accounts/{id}/revoke`, PATCH credential updates, and the `state` the
//! TypeScript SDK keeps (`redirectUrl` while INITIATED, `access_token` while ACTIVE).

use serde_json::json;

use crate::{
    helpers::{assert_error, assert_error_ctx, spawn_app},
    oauth_flow::{Flow, TOOLKIT},
};

#[tokio::test]
async fn initiated_accounts_show_their_link_url_in_get_and_list() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let link = app.link(&session, json!({"toolkit": "github"})).await.expect(201, "link").clone();
    let id = link["connected_account_id"].as_str().unwrap();
    let got = app.get(&format!("connected_accounts/{id}")).await.expect(200, "get").clone();
    assert_eq!(
        got["state"],
        json!({"authScheme": "OAUTH2", "val": {"status": "INITIATED", "redirectUrl": link["redirect_url"]}})
    );
    let list = app.get("connected_accounts?user_ids=u1").await.expect(200, "list").clone();
    assert_eq!(list["items"][0]["state"], got["state"]);
    // Sealed at rest: the URL (it carries the link token) is not in the database in clear.
    let sealed: String = app.db.scalar("select link_url_sealed from connected_account where id = $1", [id]).await;
    assert!(!sealed.contains(link["link_token"].as_str().unwrap()));
    app.cleanup().await;
}

#[tokio::test]
async fn enable_and_disable_flip_is_disabled_and_keep_disabled_accounts_out_of_use() {
    let flow = Flow::new().await;
    let link = flow.connected().await;
    let id = &link.account;
    let r =
        flow.app.patch(&format!("connected_accounts/{id}/status"), json!({"enabled": false, "reason": "paused"})).await;
    assert_eq!(
        r.expect(200, "disable").clone(),
        json!({"success": true, "id": id, "status": "ACTIVE", "is_disabled": true})
    );
    let got = flow.account(id).await;
    assert_eq!((got["is_disabled"].clone(), got["status"].clone()), (json!(true), json!("ACTIVE")));
    // Never refreshed while disabled.
    let r = flow.app.post(&format!("connected_accounts/{id}/refresh"), json!({})).await;
    assert_error(&r, 400, "ToolRouterV2_BadRequest");
    assert!(r.text.contains("disabled"), "{}", r.text);
    // Never pinned.
    let r = flow.app.post("tool_router/session", json!({"user_id": "u1", "connected_accounts": {TOOLKIT: [id]}})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Never resolved for the session's toolkit list.
    let toolkits =
        flow.app.get(&format!("tool_router/session/{}/toolkits", flow.session)).await.expect(200, "toolkits").clone();
    assert!(!toolkits.to_string().contains(id.as_str()), "{toolkits}");

    flow.app.patch(&format!("connected_accounts/{id}/status"), json!({"enabled": true})).await.expect(200, "enable");
    assert_eq!(flow.account(id).await["is_disabled"], false);
    flow.app.post(&format!("connected_accounts/{id}/refresh"), json!({})).await.expect(200, "refresh after enable");

    for (body, case) in
        [(json!({}), "missing"), (json!({"enabled": "yes"}), "not a bool"), (json!({"enabled": null}), "null")]
    {
        let r = flow.app.patch(&format!("connected_accounts/{id}/status"), body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
    }
    let r = flow.app.patch("connected_accounts/ca_missing00000/status", json!({"enabled": true})).await;
    assert_error(&r, 404, "ConnectedAccount_NotFound");
    let other = flow.app.new_project_key("other").await;
    let r = flow.app.as_key(&other).patch(&format!("connected_accounts/{id}/status"), json!({"enabled": false})).await;
    assert_error(&r, 404, "ConnectedAccount_NotFound");
    flow.cleanup().await;
}

#[tokio::test]
async fn revoke_calls_the_providers_endpoint_erases_tokens_and_is_idempotent() {
    let flow = Flow::new().await;
    // Point the config at the provider's RFC 7009 endpoint.
    let configs = flow.app.get("auth_configs").await.expect(200, "configs").clone();
    let ac = configs["items"][0]["id"].as_str().unwrap().to_owned();
    flow.app
        .patch(&format!("auth_configs/{ac}"), json!({"credentials": {"revocation_url": flow.idp.revocation_url()}}))
        .await
        .expect(200, "set revocation_url");
    let link = flow.connected().await;
    let id = &link.account;
    let issued = flow.idp.last_issued();
    let r = flow.app.post(&format!("connected_accounts/{id}/revoke"), json!({})).await;
    assert_eq!(
        r.expect(200, "revoke").clone(),
        json!({"revoked_tokens": ["refresh_token", "access_token"], "connected_account": {"id": id, "status": "REVOKED"}})
    );
    let calls = flow.idp.revocations();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].0.as_str(), calls[1].0.as_str()), ("refresh_token", "access_token"));
    assert_eq!(Some(calls[0].1.as_str()), issued.refresh_token.as_deref());
    assert_eq!(calls[1].1, issued.access_token);
    let got = flow.account(id).await;
    assert_eq!(got["status"], "REVOKED");
    assert_eq!(got["state"], json!({"authScheme": "OAUTH2", "val": {"status": "REVOKED"}}));
    assert!(got["status_reason"].as_str().unwrap().contains("Revoked"));
    let left: Option<String> =
        flow.app.db.scalar("select tokens_sealed from connected_account where id = $1", [id]).await;
    assert_eq!(left, None);
    // Again: no provider call, nothing revoked, still REVOKED.
    let r = flow.app.post(&format!("connected_accounts/{id}/revoke"), json!({})).await;
    assert_eq!(r.expect(200, "again").clone()["revoked_tokens"], json!([]));
    assert_eq!(flow.idp.revocations().len(), 2);
    assert_error(
        &flow.app.post(&format!("connected_accounts/{id}/refresh"), json!({})).await,
        400,
        "ConnectedAccount_NotActive",
    );
    flow.cleanup().await;
}

#[tokio::test]
async fn revoke_without_an_endpoint_still_erases_and_refuses_other_statuses() {
    let flow = Flow::new().await;
    let link = flow.connected().await;
    let r = flow.app.post(&format!("connected_accounts/{}/revoke", link.account), json!({})).await;
    assert_eq!(r.expect(200, "revoke").clone()["revoked_tokens"], json!([]));
    assert_eq!(flow.account(&link.account).await["status"], "REVOKED");
    assert!(flow.idp.revocations().is_empty());

    let pending = flow.link().await;
    let r = flow.app.post(&format!("connected_accounts/{}/revoke", pending.account), json!({})).await;
    assert_error(&r, 409, "ConnectedAccount_NotRevocable");
    assert!(r.text.contains("INITIATED"), "{}", r.text);
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert_error(
        &flow.app.post("connected_accounts/ca_missing00000/revoke", json!({})).await,
        404,
        "ConnectedAccount_NotFound",
    );
    assert_error(&flow.app.post("connected_accounts/nope/revoke", json!({})).await, 400, "ToolRouterV2_BadRequest");
    flow.cleanup().await;
}

#[tokio::test]
async fn patch_clears_an_alias_with_an_empty_string_and_refuses_credential_updates() {
    let app = spawn_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let id = app.link_ok(&session, json!({"toolkit": "github", "alias": "work"})).await;
    app.patch(&format!("connected_accounts/{id}"), json!({"alias": ""})).await.expect(200, "clear");
    assert_eq!(app.get(&format!("connected_accounts/{id}")).await.body["alias"], json!(null));
    let r = app
        .patch(
            &format!("connected_accounts/{id}"),
            json!({"connection": {"authScheme": "OAUTH2", "val": {"access_token": "x"}}}),
        )
        .await;
    assert_error(&r, 400, "Authlink_Unsupported");
    assert!(r.text.contains("connect again"), "{}", r.text);
    app.cleanup().await;
}

/// A revoke racing refreshes of the same account ends REVOKED with no tokens: a refresh in flight
/// cannot write its fresh tokens back (PostgreSQL: the revoke waits for the refresh's row lock;
/// SQLite: the revoke drops the refresh lease, so the refresh's final write matches nothing).
#[tokio::test]
async fn a_revoke_racing_refreshes_leaves_no_tokens() {
    let flow = Flow::new().await;
    let link = flow.connected().await;
    let id = link.account.clone();
    flow.idp.set_latency(std::time::Duration::from_millis(300));
    let refresh_path = format!("connected_accounts/{id}/refresh");
    let revoke_path = format!("connected_accounts/{id}/revoke");
    let refreshes = (0..4).map(|_| flow.app.post(&refresh_path, json!({})));
    let revoke = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        flow.app.post(&revoke_path, json!({})).await
    };
    let (refreshed, revoked) = tokio::join!(futures::future::join_all(refreshes), revoke);
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    for r in &refreshed {
        assert!(r.status == 200 || r.status == 400, "a refresh answered {}: {}", r.status, r.text);
    }
    let got = flow.account(&id).await;
    assert_eq!(got["status"], "REVOKED", "{got}");
    assert_eq!(got["state"]["val"], json!({"status": "REVOKED"}));
    let left: Option<String> =
        flow.app.db.scalar("select tokens_sealed from connected_account where id = $1", [&id]).await;
    assert_eq!(left, None, "tokens written back after the revoke");
    flow.cleanup().await;
}
