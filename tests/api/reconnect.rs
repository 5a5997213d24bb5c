//! Issue 14 item 5: reconnect keeps the account. A link naming an existing `ca_…` account
//! re-runs the flow and updates that account in place (id, alias, audit trail kept), emitting
//! `recovered` when it was EXPIRED or FAILED; another identity at the provider is refused.

use serde_json::{Value, json};

use crate::{
    fake_oauth::TokenBehaviour,
    helpers::assert_error_ctx,
    oauth_flow::{APP_CALLBACK, Flow, TOOLKIT, query},
    webhooks::{fast, receiver, round, subscribe, verify, worker_context},
};

fn reconnect_body(account: &str) -> Value {
    json!({"toolkit": TOOLKIT, "callback_url": APP_CALLBACK, "connected_account_id": account})
}

/// A connected account (alias `work`, user `u1`, provider user `alice`) that the provider then
/// refused to refresh: EXPIRED.
async fn expired_account(flow: &Flow) -> String {
    flow.idp.set_subject(Some("alice"));
    flow.idp.set_expires_in(60);
    let link = flow.link_with(json!({"toolkit": TOOLKIT, "callback_url": APP_CALLBACK, "alias": "work"})).await;
    let page = flow.connect(&link).await;
    assert_eq!(query(&page.location())["status"], "success");
    flow.idp.set_refresh_grant(TokenBehaviour::InvalidGrant);
    flow.assert_status(&link.account, "EXPIRED", "after invalid_grant").await;
    flow.idp.set_refresh_grant(TokenBehaviour::Success);
    flow.idp.set_expires_in(3600);
    link.account
}

#[tokio::test]
async fn a_reconnect_recovers_the_same_account_in_place() {
    let rx = receiver().await;
    let flow = Flow::allowing(json!({}), &[&rx.origin]).await;
    let ctx = worker_context(&flow.app, &[&rx.origin]);
    let account = expired_account(&flow).await;
    let before = flow.account(&account).await;
    let audit_before = flow.app.get(&format!("connected_accounts/{account}/audit")).await.body["total_items"].clone();
    let sub = subscribe(&flow.app, &rx.url, &crate::webhooks::ALL_EVENTS).await;

    let link = flow.link_with(reconnect_body(&account)).await;
    assert_eq!(link.account, account, "the link names the existing account");
    assert_eq!(flow.account(&account).await["status"], "EXPIRED", "unchanged until the flow succeeds");
    let page = flow.connect(&link).await;
    let back = query(&page.location());
    assert_eq!(back["status"], "success");
    assert_eq!(back["connected_account_id"], account);

    let after = flow.account(&account).await;
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["status_reason"], Value::Null);
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["alias"], "work");
    assert_eq!(after["user_id"], "u1");
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["state"]["val"]["access_token"].as_str().unwrap().starts_with("at-"));
    assert_eq!(flow.app.account_ids("statuses=ACTIVE").await, vec![account.clone()], "no second account");
    let audit = flow.app.get(&format!("connected_accounts/{account}/audit")).await;
    assert_eq!(audit.body["total_items"].as_i64().unwrap(), audit_before.as_i64().unwrap() + 1, "audit kept, one more");
    assert_eq!(audit.body["items"][0]["kind"], "account_credentials_updated");
    assert_eq!(audit.body["items"][0]["details"]["source"], "reconnect");

    while round(&ctx, &fast()).await > 0 {}
    let got = rx.take();
    assert_eq!(got.len(), 1, "only the recovery");
    let body = verify(&got[0], sub["secret"].as_str().unwrap());
    assert_eq!(body["type"], "composio.connected_account.recovered");
    assert_eq!(body["data"]["id"], account.as_str());
    assert_eq!(body["data"]["status"], "ACTIVE");

    // The reconnect link is spent.
    let again = flow.connect_page(&link.redirect_url).await;
    assert_eq!(again, 410);

    // Reconnecting an ACTIVE account (new consent) reports `active`.
    let link = flow.link_with(reconnect_body(&account)).await;
    assert_eq!(query(&flow.connect(&link).await.location())["status"], "success");
    while round(&ctx, &fast()).await > 0 {}
    let got = rx.take();
    assert_eq!(verify(&got[0], sub["secret"].as_str().unwrap())["type"], "composio.connected_account.active");
    flow.cleanup().await;
}

#[tokio::test]
async fn a_reconnect_with_another_provider_identity_is_refused() {
    let flow = Flow::new().await;
    let account = expired_account(&flow).await;
    let sealed_before: String =
        flow.app.db.scalar("select tokens_sealed from connected_account where id = $1", [account.as_str()]).await;
    flow.idp.set_subject(Some("mallory"));
    let link = flow.link_with(reconnect_body(&account)).await;
    let page = flow.connect(&link).await;
    let back = query(&page.location());
    assert_eq!(back["status"], "failed");
    assert_eq!(back["error"], "identity_mismatch");
    let after = flow.account(&account).await;
    assert_eq!(after["status"], "EXPIRED", "the account was not changed: {after}");
    let sealed_after: String =
        flow.app.db.scalar("select tokens_sealed from connected_account where id = $1", [account.as_str()]).await;
    assert_eq!(sealed_before, sealed_after, "the other identity's tokens were not stored");
    // The same identity again works.
    flow.idp.set_subject(Some("alice"));
    let link = flow.link_with(reconnect_body(&account)).await;
    assert_eq!(query(&flow.connect(&link).await.location())["status"], "success");
    assert_eq!(flow.account(&account).await["status"], "ACTIVE");
    flow.cleanup().await;
}

#[tokio::test]
async fn bad_reconnects_are_refused_naming_the_field() {
    let flow = Flow::new().await;
    let account = expired_account(&flow).await;
    let pending = flow.link().await;
    let other_user = flow.app.create_session(json!({"user_id": "u2", "toolkits": {"enable": [TOOLKIT]}})).await;
    let cases = [
        (
            "malformed",
            &flow.session,
            json!({"toolkit": TOOLKIT, "connected_account_id": "ca_x"}),
            400,
            "connected_account_id",
        ),
        (
            "unknown",
            &flow.session,
            json!({"toolkit": TOOLKIT, "connected_account_id": "ca_AAAAAAAAAAAA"}),
            404,
            "ca_AAAAAAAAAAAA",
        ),
        (
            "other user",
            &other_user,
            json!({"toolkit": TOOLKIT, "connected_account_id": account}),
            400,
            "connected_account_id: belongs to another user",
        ),
        (
            "alias",
            &flow.session,
            json!({"toolkit": TOOLKIT, "connected_account_id": account, "alias": "x"}),
            400,
            "alias: cannot be set when reconnecting",
        ),
        (
            "experimental",
            &flow.session,
            json!({"toolkit": TOOLKIT, "connected_account_id": account, "experimental": {"account_type": "PRIVATE"}}),
            400,
            "experimental: cannot be set when reconnecting",
        ),
        (
            "in progress",
            &flow.session,
            json!({"toolkit": TOOLKIT, "connected_account_id": pending.account}),
            400,
            "has a connection in progress",
        ),
    ];
    for (case, session, body, status, fragment) in cases {
        let r = flow.app.link(session, body).await;
        let slug = if status == 404 { "ConnectedAccount_NotFound" } else { "ToolRouterV2_BadRequest" };
        assert_error_ctx(&r, status, slug, case);
        assert!(r.text.contains(fragment), "[{case}] {fragment} not in {}", r.text);
    }
    // connected_accounts/link: the auth config must be the account's own.
    let other_ac = flow.app.create_auth_config("github").await;
    let r = flow
        .app
        .post(
            "connected_accounts/link",
            json!({"auth_config_id": other_ac, "user_id": "u1", "connected_account_id": account}),
        )
        .await;
    assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", "other auth config");
    assert!(r.text.contains("reconnect with its own"), "{}", r.text);
    // Another project cannot name the account at all.
    let key = flow.app.new_project_key("project-b").await;
    let b = flow.app.as_key(&key);
    let ac_b = flow.app.create_auth_config_with(&b, "github", json!({})).await;
    let r = b
        .post(
            "connected_accounts/link",
            json!({"auth_config_id": ac_b, "user_id": "u1", "connected_account_id": account}),
        )
        .await;
    assert_error_ctx(&r, 404, "ConnectedAccount_NotFound", "other project");
    let links: i64 = flow.app.db.scalar("select count(*) from link where reconnect", crate::db::NO_ARGS).await;
    assert_eq!(links, 0, "no refused reconnect wrote a link");
    flow.cleanup().await;
}
