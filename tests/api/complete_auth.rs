//! User-bound completion (Composio's OAuth callback verifier and
//! `POST connected_accounts/complete_auth`), on both stores: with a project verifier URL the
//! callback keeps the account INITIATED and sends the browser to the app with a single-use
//! `session_uri`; only `complete_auth` with the link's own `user_id` makes it ACTIVE. Covers the
//! happy path, a mismatch, unknown / used / expired / foreign sessions, concurrent redemption,
//! a verifier the allowlist no longer accepts, and the hijack of a link opened by someone else.

use std::collections::HashMap;

use authlink::crypto::sha256;
use futures::future::join_all;
use serde_json::{Value, json};
use url::Url;

use crate::{
    db::NO_ARGS,
    helpers::{assert_error_ctx, message},
    oauth_flow::{APP_CALLBACK, Browser, Flow, Link, Page, query},
};

/// The app's verifier endpoint (on the test server's callback allowlist).
const VERIFIER: &str = "https://app.example.com/cb/verify";
const NOT_FOUND: &str = "ConnectedAccount_CompleteAuthSessionNotFound";
const MISMATCH: &str = "ConnectedAccount_CompleteAuthUserMismatch";

/// A flow whose project ("project-a") completes through [`VERIFIER`].
async fn verified_flow() -> Flow {
    let flow = Flow::new().await;
    assert!(flow.app.store.set_verifier_url("project-a", Some(VERIFIER)).await.unwrap(), "project-a exists");
    flow
}

/// The `session_uri` of a callback answer, checked to be a redirect to the verifier carrying
/// exactly `session_uri` and this `connected_account_id`.
#[track_caller]
fn session_uri(page: &Page, link: &Link) -> String {
    assert_eq!(page.status, 302, "callback: {}", page.html);
    page.assert_security_headers("redirect to the verifier");
    let location: Url = page.location();
    assert_eq!(format!("{}{}", location.origin().ascii_serialization(), location.path()), VERIFIER, "{location}");
    let q: HashMap<String, String> = query(&location);
    assert_eq!(q.len(), 2, "verifier parameters: {q:?}");
    assert_eq!(q["connected_account_id"], link.account);
    let session = q["session_uri"].clone();
    assert!(session.len() >= 43, "session_uri under 256 bits: {session}");
    session
}

/// The whole flow in a fresh browser, up to the verifier; returns the `session_uri`.
async fn to_verifier(flow: &Flow, link: &Link) -> String {
    session_uri(&flow.connect(link).await, link)
}

async fn complete(flow: &Flow, session_uri: &str, user_id: &str) -> crate::helpers::Resp {
    flow.app.post("connected_accounts/complete_auth", json!({"session_uri": session_uri, "user_id": user_id})).await
}

/// The account reads INITIATED (or `status`) and hands out no token.
async fn assert_no_tokens(flow: &Flow, id: &str, status: &str, what: &str) -> Value {
    let account = flow.assert_status(id, status, what).await;
    assert!(account["state"]["val"].get("access_token").is_none(), "{what}: tokens readable: {account}");
    account
}

#[tokio::test]
async fn complete_auth_activates_the_account_only_after_the_app_verified_its_user() {
    let flow = verified_flow().await;
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;

    // Exchanged and stored, but pending: INITIATED on the wire, no tokens, the link spent.
    assert_eq!(flow.idp.grants("authorization_code"), 1, "the code is exchanged at the callback");
    assert_no_tokens(&flow, &link.account, "INITIATED", "before complete_auth").await;
    let forced = flow.app.post(&format!("connected_accounts/{}/refresh", link.account), json!({})).await;
    assert_eq!(forced.status, 400, "a forced refresh of a pending account: {}", forced.text);
    assert!(!forced.text.contains(&flow.idp.last_issued().access_token), "{}", forced.text);
    assert_eq!(flow.idp.grants("refresh_token"), 0, "no refresh while pending");
    let again = Browser::new().get(&link.redirect_url).await;
    assert_eq!(again.status, 410, "the link page after consent: {}", again.html);
    assert!(again.html.contains("already used"), "{}", again.html);
    // The session is stored hashed, bound to the account.
    let hashes: Vec<Vec<u8>> = flow
        .app
        .db
        .scalars("select session_hash from completion_session where connected_account_id = $1", [&link.account])
        .await;
    assert_eq!(hashes, [sha256(&session)], "only the session_uri's SHA-256 is stored");

    let r = complete(&flow, &session, "u1").await;
    let body = r.expect(200, "complete_auth with the link's user");
    assert_eq!(body["id"], link.account.as_str());
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["user_id"], "u1");
    assert_eq!(body["state"]["val"]["access_token"], flow.idp.last_issued().access_token.as_str(), "{body}");
    let account = flow.assert_status(&link.account, "ACTIVE", "after complete_auth").await;
    assert!(account["status_reason"].is_null(), "{account}");
    assert_eq!(account["state"]["val"]["access_token"], flow.idp.last_issued().access_token.as_str());

    // Single use, on either API version.
    assert_error_ctx(&complete(&flow, &session, "u1").await, 404, NOT_FOUND, "a used session_uri");
    let v3 =
        flow.app.v3().post("connected_accounts/complete_auth", json!({"session_uri": session, "user_id": "u1"})).await;
    assert_error_ctx(&v3, 404, NOT_FOUND, "a used session_uri on /api/v3");
    flow.assert_status(&link.account, "ACTIVE", "a replay changes nothing").await;
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_works_on_api_v3_too() {
    let flow = verified_flow().await;
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;
    let r =
        flow.app.v3().post("connected_accounts/complete_auth", json!({"session_uri": session, "user_id": "u1"})).await;
    assert_eq!(r.expect(200, "v3 complete_auth")["status"], "ACTIVE");
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_with_another_user_id_fails_the_account_and_drops_its_tokens() {
    let flow = verified_flow().await;
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;

    let r = complete(&flow, &session, "u2").await;
    assert_error_ctx(&r, 400, MISMATCH, "user_id mismatch");
    assert!(message(&r).contains(&link.account), "the message names the account: {}", r.text);
    let account = assert_no_tokens(&flow, &link.account, "FAILED", "after a mismatch").await;
    let reason = account["status_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("user_id") && reason.contains("User verification failed"), "{reason}");
    let sealed: i64 = flow
        .app
        .db
        .scalar("select count(*) from connected_account where id = $1 and tokens_sealed is null", [&link.account])
        .await;
    assert_eq!(sealed, 1, "the tokens are dropped, not kept sealed");

    // Spent: the right user cannot complete it afterwards either.
    assert_error_ctx(&complete(&flow, &session, "u1").await, 404, NOT_FOUND, "after a mismatch");
    assert_no_tokens(&flow, &link.account, "FAILED", "still FAILED").await;
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_answers_404_for_unknown_expired_and_foreign_session_uris() {
    let flow = verified_flow().await;
    assert_error_ctx(&complete(&flow, "no-such-session", "u1").await, 404, NOT_FOUND, "unknown");

    // Another project's key cannot redeem (or learn about) project A's session.
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;
    let key_b = flow.app.new_project_key("project-b").await;
    let foreign = flow
        .app
        .as_key(&key_b)
        .post("connected_accounts/complete_auth", json!({"session_uri": session, "user_id": "u1"}))
        .await;
    assert_error_ctx(&foreign, 404, NOT_FOUND, "another project's session");
    assert_no_tokens(&flow, &link.account, "INITIATED", "untouched by project B").await;
    assert_eq!(complete(&flow, &session, "u1").await.status, 200, "still redeemable by its own project");

    // Expired: ten minutes after the callback, the session and the pending account run out.
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;
    let past = "2000-01-01T00:00:00.000000Z";
    flow.app
        .db
        .execute(
            &format!("update completion_session set expires_at = '{past}' where connected_account_id = $1"),
            [&link.account],
        )
        .await;
    flow.app
        .db
        .execute(
            &format!("update connected_account set initiation_expires_at = '{past}' where id = $1"),
            [&link.account],
        )
        .await;
    assert_error_ctx(&complete(&flow, &session, "u1").await, 404, NOT_FOUND, "expired");
    assert_no_tokens(&flow, &link.account, "EXPIRED", "a pending account past its session").await;
    // The sweep persists EXPIRED and drops the tokens that were never redeemed.
    assert!(flow.app.store.expire_stale_initiations().await.unwrap() >= 1, "the sweep expires it");
    let sealed: i64 = flow
        .app
        .db
        .scalar("select count(*) from connected_account where id = $1 and tokens_sealed is not null", [&link.account])
        .await;
    assert_eq!(sealed, 0, "an expired pending account keeps no sealed tokens");
    assert_no_tokens(&flow, &link.account, "EXPIRED", "after the sweep").await;

    // Bad bodies name the field.
    for (body, field) in [
        (json!({"user_id": "u1"}), "session_uri"),
        (json!({"session_uri": "x"}), "user_id"),
        (json!({"session_uri": "", "user_id": "u1"}), "session_uri"),
        (json!({"session_uri": "x", "user_id": ""}), "user_id"),
    ] {
        let r = flow.app.post("connected_accounts/complete_auth", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(crate::helpers::error_text(&r).contains(field), "{body}: does not name {field}: {}", r.text);
    }
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_session_of_a_deleted_account_is_gone() {
    let flow = verified_flow().await;
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;
    flow.app.delete(&format!("connected_accounts/{}", link.account)).await.expect(200, "delete");
    assert_error_ctx(&complete(&flow, &session, "u1").await, 404, NOT_FOUND, "deleted account");
    flow.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_complete_auth_calls_redeem_a_session_once() {
    const CALLERS: usize = 10;
    for round in 0..2 {
        let flow = verified_flow().await;
        let link = flow.link().await;
        let session = to_verifier(&flow, &link).await;
        // Round 0: every caller names the right user; round 1: half of them name another one.
        let users: Vec<&str> = (0..CALLERS).map(|i| if round == 1 && i % 2 == 1 { "u2" } else { "u1" }).collect();
        let results = join_all(users.iter().map(|u| complete(&flow, &session, u))).await;
        let winners: Vec<(usize, u16)> =
            results.iter().enumerate().filter(|(_, r)| r.status != 404).map(|(i, r)| (i, r.status)).collect();
        assert_eq!(winners.len(), 1, "[round {round}] exactly one redemption: {winners:?}");
        let (winner, status) = winners[0];
        let expected = if users[winner] == "u1" { (200, "ACTIVE") } else { (400, "FAILED") };
        assert_eq!(status, expected.0, "[round {round}] the winner's answer");
        for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != winner) {
            assert_error_ctx(r, 404, NOT_FOUND, &format!("round {round}, loser {i}"));
        }
        flow.assert_status(&link.account, expected.1, &format!("round {round}")).await;
        flow.cleanup().await;
    }
}

/// The hijack issue 11 describes: the victim app's user U1 gets a link; someone else opens it in
/// their own browser and consents with their own provider identity. Without verification U1's
/// account would carry the attacker's tokens (and U1's agent would act in the attacker's account,
/// or the attacker's data would be fed to U1). With a verifier, the browser lands at the app,
/// where the person logged in is the attacker's app user, so the app's `complete_auth` names the
/// attacker: 400, the account FAILED, nothing ever readable as U1's.
#[tokio::test]
async fn complete_auth_defeats_a_link_opened_by_someone_else() {
    let flow = verified_flow().await;
    let victim_link = flow.link().await;

    // The attacker's browser, at the provider as the attacker.
    let mut attacker = Browser::new();
    let (back, _) = flow.to_callback(&mut attacker, &victim_link).await;
    let landed = attacker.get(back.as_str()).await;
    let session = session_uri(&landed, &victim_link);
    let attackers_token = flow.idp.last_issued().access_token;
    // Still nothing for U1 to use.
    assert_no_tokens(&flow, &victim_link.account, "INITIATED", "after the attacker's consent").await;

    // The app verifies whoever is logged in in that browser: the attacker's own app user.
    let r = complete(&flow, &session, "mallory").await;
    assert_error_ctx(&r, 400, MISMATCH, "the attacker's app user");
    assert_no_tokens(&flow, &victim_link.account, "FAILED", "the hijacked link").await;
    // Logging in at the app as U1 is exactly what the attacker cannot do; and the spent session
    // does not help anyone who guesses U1's id later.
    assert_error_ctx(&complete(&flow, &session, "u1").await, 404, NOT_FOUND, "replay as u1");

    // U1 holds no ACTIVE account with the attacker's token anywhere.
    let listed = flow.app.get("connected_accounts?user_ids=u1&statuses=ACTIVE").await;
    let items = listed.expect(200, "list u1's accounts")["items"].as_array().cloned().unwrap_or_default();
    assert!(items.is_empty(), "u1 has an ACTIVE account: {items:?}");
    let dump: Vec<String> = flow
        .app
        .db
        .scalars("select coalesce(tokens_sealed, '') from connected_account where user_id = 'u1'", NO_ARGS)
        .await;
    assert!(dump.iter().all(String::is_empty), "sealed tokens kept for u1: {dump:?}");
    assert!(!listed.text.contains(&attackers_token));

    // U1's own attempt, in U1's browser, completes as usual.
    let link = flow.link().await;
    let session = to_verifier(&flow, &link).await;
    let r = complete(&flow, &session, "u1").await;
    assert_eq!(r.expect(200, "u1's own link")["status"], "ACTIVE");
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_is_not_needed_without_a_verifier_and_clearing_it_restores_that() {
    let flow = verified_flow().await;
    assert!(flow.app.store.set_verifier_url("project-a", None).await.unwrap());
    assert!(!flow.app.store.set_verifier_url("no-such-project", Some(VERIFIER)).await.unwrap());
    let link = flow.link().await;
    let page = flow.connect(&link).await;
    assert_eq!(page.status, 302, "{}", page.html);
    let location = page.location();
    assert!(location.as_str().starts_with(APP_CALLBACK), "{location}");
    assert_eq!(query(&location)["status"], "success");
    flow.assert_status(&link.account, "ACTIVE", "no verifier").await;
    let rows: i64 = flow.app.db.scalar("select count(*) from completion_session", NO_ARGS).await;
    assert_eq!(rows, 0, "no completion session without a verifier");
    flow.cleanup().await;
}

#[tokio::test]
async fn complete_auth_verifier_the_allowlist_refuses_fails_the_account_before_any_exchange() {
    let flow = Flow::new().await;
    // Stored behind the CLI's back (or the operator narrowed AUTHLINK_CALLBACK_ALLOWLIST since).
    flow.app.store.set_verifier_url("project-a", Some("https://evil.example.net/steal")).await.unwrap();
    let link = flow.link().await;
    let page = flow.connect(&link).await;
    assert_eq!(page.status, 302, "{}", page.html);
    let location = page.location();
    assert!(location.as_str().starts_with(APP_CALLBACK), "sent to {location}");
    let q = query(&location);
    assert_eq!((q["status"].as_str(), q["error"].as_str()), ("failed", "verifier_not_allowed"), "{q:?}");
    assert_eq!(flow.idp.grants("authorization_code"), 0, "no code exchange for a refused verifier");
    let account = assert_no_tokens(&flow, &link.account, "FAILED", "refused verifier").await;
    assert!(account["status_reason"].as_str().unwrap_or_default().contains("AUTHLINK_CALLBACK_ALLOWLIST"));
    flow.cleanup().await;
}
