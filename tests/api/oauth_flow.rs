//! Every OAuth flow end to end on both stores, against the in-process fake provider
//! (`tests/support/fake_oauth.rs`): link page → Continue → consent → callback → ACTIVE, and every
//! way that can go wrong (denied consent, bad or replayed state, a foreign browser, a mix-up
//! `iss`, a failing, malformed or slow token endpoint), then refresh: rotation, `invalid_grant`,
//! the forced-refresh errors, and one refresh for many concurrent readers. Mirrors the Node suite
//! in `tests/e2e/tests/` that runs against a real `oidc-provider`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use authlink::{config::EncryptionKey, crypto::Sealer};
use futures::future::join_all;
use reqwest::{Method, header::HeaderMap, redirect::Policy};
use serde_json::{Value, json};
use url::Url;

use crate::{
    fake_oauth::{ClientAuthSeen, Consent, FakeOAuth, TokenBehaviour, s256},
    helpers::{CLIENT_SECRET, TestApp, assert_error_ctx, message, send, spawn_app},
};

/// A toolkit outside the catalog, so the auth config's endpoints and scopes are all there is.
pub(crate) const TOOLKIT: &str = "fake_idp";
const CLIENT_ID: &str = "client-fake_idp";
/// The app's `callback_url` (on the test server's allowlist).
pub(crate) const APP_CALLBACK: &str = "https://app.example.com/cb/done";

/// The CSP of every page without the Continue form (and of redirects).
const PAGE_CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// A response as a browser sees it: nothing followed.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) location: Option<String>,
    pub(crate) html: String,
}

impl Page {
    #[track_caller]
    pub(crate) fn location(&self) -> Url {
        let raw = self.location.as_deref().unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.html));
        Url::parse(raw).unwrap_or_else(|e| panic!("Location {raw}: {e}"))
    }

    /// The design's page headers, on pages and redirects alike.
    #[track_caller]
    pub(crate) fn assert_security_headers(&self, what: &str) {
        let h = |name: &str| self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(h("content-security-policy"), PAGE_CSP, "{what}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(h("cache-control"), "no-store", "{what}");
    }

    /// A 400 HTML page (never a 500, never a redirect) saying `needle`.
    #[track_caller]
    fn assert_refused(&self, needle: &str, what: &str) {
        assert_eq!(self.status, 400, "{what}: {}", self.html);
        assert!(self.location.is_none(), "{what}: redirected to {:?}", self.location);
        self.assert_security_headers(what);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/html"), "{what}: content-type {content_type}");
        assert!(
            self.html.to_lowercase().contains(&needle.to_lowercase()),
            "{what}: page lacks {needle:?}: {}",
            self.html
        );
    }
}

/// A browser that follows no redirect and keeps its cookies (one origin matters: authlink's).
pub(crate) struct Browser {
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        // Longer than authlink's 15 s token timeout, for the slow-provider case.
        let client = reqwest::Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(90)).build();
        Self { client: client.unwrap(), cookies: Vec::new() }
    }

    /// The browser-binding cookies it holds, one per link it opened, as (name, value).
    fn bindings(&self) -> Vec<(String, String)> {
        let binding = |n: &str| n.starts_with("authlink_binding_") || n.starts_with("__Host-authlink_binding_");
        self.cookies.iter().filter(|(n, _)| binding(n)).cloned().collect()
    }

    /// Its only binding cookie.
    #[track_caller]
    fn binding(&self) -> (String, String) {
        let mut all = self.bindings();
        assert_eq!(all.len(), 1, "expected one binding cookie: {all:?}");
        all.remove(0)
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        self.send(self.client.get(url)).await
    }

    pub(crate) async fn post(&mut self, url: &str) -> Page {
        self.send(self.client.post(url)).await
    }

    async fn send(&mut self, mut rb: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            let header: Vec<String> = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
            rb = rb.header("cookie", header.join("; "));
        }
        let r = rb.send().await.expect("browser request");
        for set in r.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').expect("name=value");
            self.set_cookie(name.trim(), value.trim());
        }
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let html = r.text().await.unwrap_or_default();
        Page { status, headers, location, html }
    }
}

pub(crate) fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A link: the account it made and the URL the end user opens.
pub(crate) struct Link {
    pub(crate) account: String,
    pub(crate) redirect_url: String,
}

/// A test server, a fake provider, an auth config pointing at it and a session enabling it.
pub(crate) struct Flow {
    pub(crate) app: TestApp,
    pub(crate) idp: FakeOAuth,
    pub(crate) session: String,
}

impl Flow {
    pub(crate) async fn new() -> Self {
        Self::with(json!({})).await
    }

    /// With extra auth config `credentials` (`client_auth`, `issuer`, …).
    pub(crate) async fn with(extra_credentials: Value) -> Self {
        Self::allowing(extra_credentials, &[]).await
    }

    /// Also allowlisting these provider origins (besides the flow's own fake provider).
    pub(crate) async fn allowing(extra_credentials: Value, origins: &[&str]) -> Self {
        let idp = FakeOAuth::start().await;
        let allowlist = std::iter::once(idp.base.as_str()).chain(origins.iter().copied()).collect::<Vec<_>>();
        let app = TestApp::builder().endpoint_allowlist(&allowlist.join(",")).spawn().await;
        let mut credentials = json!({"authorization_url": idp.authorization_url(), "token_url": idp.token_url()});
        for (k, v) in extra_credentials.as_object().expect("object") {
            credentials[k] = v.clone();
        }
        app.create_auth_config_with(&app.api(), TOOLKIT, credentials).await;
        let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]}})).await;
        Self { app, idp, session }
    }

    /// authlink's one fixed callback.
    fn callback_uri(&self) -> String {
        format!("{}/oauth/callback", self.app.base)
    }

    pub(crate) async fn link_with(&self, body: Value) -> Link {
        let r = self.app.link(&self.session, body).await;
        let body = r.expect(201, "create link");
        Link {
            account: body["connected_account_id"].as_str().unwrap().to_owned(),
            redirect_url: body["redirect_url"].as_str().unwrap().to_owned(),
        }
    }

    /// A link whose account returns to [`APP_CALLBACK`].
    pub(crate) async fn link(&self) -> Link {
        self.link_with(json!({"toolkit": TOOLKIT, "callback_url": APP_CALLBACK})).await
    }

    pub(crate) async fn account(&self, id: &str) -> Value {
        self.app.get(&format!("connected_accounts/{id}")).await.expect(200, "get account").clone()
    }

    pub(crate) async fn assert_status(&self, id: &str, status: &str, what: &str) -> Value {
        let account = self.account(id).await;
        assert_eq!(account["status"], status, "{what}: {account}");
        account
    }

    /// Opens the link page, presses Continue with its cookie, returns the authorization URL.
    async fn press_continue(&self, browser: &mut Browser, link: &Link) -> Url {
        let page = browser.get(&link.redirect_url).await;
        assert_eq!(page.status, 200, "link page: {}", page.html);
        // Continue's POST ends in a redirect to the provider (and, should it ask nothing, back
        // through authlink to the app): the form may go there and nowhere else.
        let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        let provider_only = format!("{PAGE_CSP} {}", self.idp.base);
        assert!(
            csp == provider_only || csp == format!("{provider_only} https://app.example.com"),
            "link page CSP {csp}"
        );
        assert!(!browser.bindings().is_empty(), "the link page set no binding cookie");
        let cont = browser.post(&format!("{}/continue", link.redirect_url)).await;
        assert_eq!(cont.status, 302, "continue: {}", cont.html);
        let authorize = cont.location();
        assert_eq!(
            format!("{}{}", authorize.origin().ascii_serialization(), authorize.path()),
            self.idp.authorization_url()
        );
        authorize
    }

    /// At the provider: returns where its consent screen sends the browser (authlink's callback).
    async fn consent(&self, browser: &mut Browser, authorize: &Url) -> Url {
        let r = browser.get(authorize.as_str()).await;
        assert_eq!(r.status, 302, "the fake provider's authorize answered {}: {}", r.status, r.html);
        let back = r.location();
        assert!(back.as_str().starts_with(&self.callback_uri()), "the provider sent the browser to {back}");
        back
    }

    /// Link page → Continue → consent; returns the callback URL and the authorization query.
    pub(crate) async fn to_callback(&self, browser: &mut Browser, link: &Link) -> (Url, HashMap<String, String>) {
        let authorize = self.press_continue(browser, link).await;
        let back = self.consent(browser, &authorize).await;
        (back, query(&authorize))
    }

    /// The whole flow in a fresh browser; returns authlink's answer to the callback.
    pub(crate) async fn connect(&self, link: &Link) -> Page {
        let mut browser = Browser::new();
        let (back, _) = self.to_callback(&mut browser, link).await;
        browser.get(back.as_str()).await
    }

    /// A link connected successfully (checked).
    pub(crate) async fn connected(&self) -> Link {
        let link = self.link().await;
        let page = self.connect(&link).await;
        assert_eq!(query(&page.location())["status"], "success", "{page:?}");
        link
    }

    /// The status of the link page in a fresh browser.
    pub(crate) async fn connect_page(&self, url: &str) -> u16 {
        Browser::new().get(url).await.status
    }

    pub(crate) async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

/// Asserts a redirect to the app's callback with exactly these parameters.
#[track_caller]
fn assert_app_redirect(page: &Page, expected: &[(&str, &str)], what: &str) {
    assert_eq!(page.status, 302, "{what}: {}", page.html);
    page.assert_security_headers(what);
    let location = page.location();
    assert_eq!(
        format!("{}{}", location.origin().ascii_serialization(), location.path()),
        APP_CALLBACK,
        "{what}: redirected to {location}"
    );
    let got = query(&location);
    let want: HashMap<String, String> = expected.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    assert_eq!(got, want, "{what}: callback parameters");
}

/// A `status_reason` (or message) that names no address, port, path or URL of the provider.
#[track_caller]
fn assert_no_network_details(text: &str, idp: &FakeOAuth, what: &str) {
    let port = idp.base.rsplit(':').next().unwrap();
    for leak in [idp.base.as_str(), "127.0.0.1", "localhost", "http://", "/token", port] {
        assert!(!text.contains(leak), "{what}: leaks {leak:?}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The successful flow
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn callback_success_activates_the_account_with_the_providers_tokens() {
    for (client_auth, credentials) in [
        ("client_secret_basic (default)", json!({})),
        ("client_secret_post", json!({"client_auth": "client_secret_post"})),
    ] {
        let flow = Flow::with(credentials).await;
        let link = flow.link().await;
        let mut browser = Browser::new();
        let (back, authorize) = flow.to_callback(&mut browser, &link).await;

        // The authorization request.
        assert_eq!(flow.idp.authorize_requests(), vec![authorize.clone()], "[{client_auth}]");
        assert_eq!(authorize["response_type"], "code");
        assert_eq!(authorize["client_id"], CLIENT_ID);
        assert_eq!(authorize["redirect_uri"], flow.callback_uri(), "[{client_auth}] one fixed callback");
        assert_eq!(authorize["scope"], "read write", "[{client_auth}] the auth config's scopes");
        assert!(authorize["state"].len() >= 22, "[{client_auth}] state under 128 bits: {}", authorize["state"]);
        assert_eq!(authorize["code_challenge_method"], "S256");
        let challenge = authorize["code_challenge"].clone();
        assert_eq!(challenge.len(), 43, "[{client_auth}] a base64url SHA-256: {challenge}");
        let back_query = query(&back);
        assert_eq!(back_query["state"], authorize["state"]);
        assert_eq!(back_query["iss"], flow.idp.base);
        assert!(back_query["code"].starts_with("code-"));

        // The callback.
        let page = browser.get(back.as_str()).await;
        assert_app_redirect(&page, &[("status", "success"), ("connected_account_id", &link.account)], client_auth);

        // The code exchange the provider saw.
        let requests = flow.idp.token_requests();
        assert_eq!(requests.len(), 1, "[{client_auth}] {requests:?}");
        let exchange = &requests[0];
        assert_eq!(exchange.grant_type, "authorization_code");
        assert_eq!(exchange.field("code"), Some(back_query["code"].as_str()));
        assert_eq!(exchange.field("redirect_uri"), Some(flow.callback_uri().as_str()), "[{client_auth}]");
        let verifier = exchange.field("code_verifier").unwrap_or_else(|| panic!("[{client_auth}] no code_verifier"));
        assert!((43..=128).contains(&verifier.len()), "[{client_auth}] RFC 7636 verifier length: {verifier}");
        assert_eq!(s256(verifier), challenge, "[{client_auth}] the verifier does not match the challenge");
        let expected_auth = if client_auth == "client_secret_post" {
            ClientAuthSeen::Post { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into() }
        } else {
            ClientAuthSeen::Basic { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into() }
        };
        assert_eq!(exchange.client_auth, expected_auth, "[{client_auth}]");
        if client_auth != "client_secret_post" {
            assert!(exchange.field("client_id").is_none(), "[{client_auth}] client_id in the body as well");
        }

        // The account, with the tokens the provider issued.
        let issued = flow.idp.last_issued();
        let account = flow.assert_status(&link.account, "ACTIVE", client_auth).await;
        assert!(account["status_reason"].is_null(), "[{client_auth}] {account}");
        let val = &account["state"]["val"];
        assert_eq!(val["status"], "ACTIVE");
        assert_eq!(val["access_token"], issued.access_token.as_str(), "[{client_auth}]");
        assert_eq!(val["refresh_token"], issued.refresh_token.as_deref().unwrap(), "[{client_auth}]");
        let expires_in = val["expires_in"].as_i64().expect("expires_in");
        assert!((3000..=3600).contains(&expires_in), "[{client_auth}] expires_in {expires_in}");
        assert_eq!(val["token_type"], "Bearer");

        // Tokens are sealed at rest.
        let dump = flow.app.dump().await;
        assert!(!dump.contains(&issued.access_token), "[{client_auth}] the access token is stored in clear");
        assert!(!dump.contains(issued.refresh_token.as_deref().unwrap()), "[{client_auth}] refresh token in clear");
        assert!(!dump.contains(verifier), "[{client_auth}] the PKCE verifier is stored in clear");

        // The link is spent.
        let again = browser.get(&link.redirect_url).await;
        assert_eq!(again.status, 410, "[{client_auth}] the link page after use: {}", again.html);
        flow.cleanup().await;
    }
}

#[tokio::test]
async fn without_a_callback_url_the_flow_ends_on_authlinks_page() {
    let flow = Flow::new().await;
    let link = flow.link_with(json!({"toolkit": TOOLKIT})).await;
    let page = flow.connect(&link).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.location.is_none());
    page.assert_security_headers("connected page");
    assert!(page.html.contains("is connected"), "{}", page.html);
    flow.assert_status(&link.account, "ACTIVE", "no callback_url").await;

    // Failures end on a page too: a 400 page, not a redirect and not a 500.
    flow.idp.set_consent(Consent::Deny);
    let link = flow.link_with(json!({"toolkit": TOOLKIT})).await;
    let page = flow.connect(&link).await;
    page.assert_refused("access_denied", "denied without callback_url");
    flow.assert_status(&link.account, "FAILED", "denied without callback_url").await;
    flow.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Consent denied, bad state, foreign browser, mix-up
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn denied_consent_fails_the_account_and_tells_the_app() {
    let flow = Flow::new().await;
    flow.idp.set_consent(Consent::Deny);
    let link = flow.link().await;
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &link).await;
    assert_eq!(query(&back)["error"], "access_denied");

    let page = browser.get(back.as_str()).await;
    assert_app_redirect(
        &page,
        &[("status", "failed"), ("connected_account_id", &link.account), ("error", "access_denied")],
        "denied",
    );
    let account = flow.assert_status(&link.account, "FAILED", "denied").await;
    let reason = account["status_reason"].as_str().expect("status_reason");
    assert!(reason.contains("access_denied"), "{reason}");
    assert!(account["state"]["val"].get("access_token").is_none(), "{account}");
    assert_eq!(flow.idp.token_requests().len(), 0, "a denied consent reached the token endpoint");

    // The link is spent: neither the page nor Continue starts again.
    assert_eq!(browser.get(&link.redirect_url).await.status, 410);
    let cont = browser.post(&format!("{}/continue", link.redirect_url)).await;
    assert_eq!(cont.status, 410, "{}", cont.html);
    assert_eq!(flow.idp.authorize_requests().len(), 1);
    flow.cleanup().await;
}

#[tokio::test]
async fn callback_state_must_be_present_known_and_unused() {
    let flow = Flow::new().await;
    let link = flow.link().await;
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &link).await;
    let q = query(&back);
    let with_state = |state: Option<&str>| {
        let mut url = Url::parse(&flow.callback_uri()).unwrap();
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("code", &q["code"]);
            if let Some(s) = state {
                pairs.append_pair("state", s);
            }
            pairs.append_pair("iss", &q["iss"]);
        }
        url
    };
    let unknown = "A".repeat(43);
    let tampered = format!("{}x", q["state"]);
    let long = "s".repeat(600);
    let cases = [
        ("no state", with_state(None), "did not send back a state"),
        ("empty state", with_state(Some("")), "did not send back a state"),
        ("unknown state", with_state(Some(&unknown)), "unknown"),
        ("tampered state", with_state(Some(&tampered)), "unknown"),
        ("over-long state", with_state(Some(&long)), "did not send back a state"),
    ];
    for (case, url, needle) in cases {
        let page = browser.get(url.as_str()).await;
        page.assert_refused(needle, case);
        flow.assert_status(&link.account, "INITIATED", case).await;
    }
    assert_eq!(flow.idp.token_requests().len(), 0, "a refused callback reached the token endpoint");

    // The genuine callback still completes...
    let page = browser.get(back.as_str()).await;
    assert_app_redirect(&page, &[("status", "success"), ("connected_account_id", &link.account)], "genuine");
    let active = flow.assert_status(&link.account, "ACTIVE", "genuine").await;

    // ...once: a replay is refused and changes nothing.
    let replay = browser.get(back.as_str()).await;
    replay.assert_refused("already completed", "replayed callback");
    assert_eq!(flow.account(&link.account).await["state"], active["state"], "the replay changed the tokens");
    assert_eq!(flow.idp.grants("authorization_code"), 1, "the replay reached the token endpoint");
    flow.cleanup().await;
}

#[tokio::test]
async fn the_callback_only_completes_in_the_browser_that_pressed_continue() {
    let flow = Flow::new().await;
    let link = flow.link().await;
    let mut victim = Browser::new();
    let (back, _) = flow.to_callback(&mut victim, &link).await;
    let (cookie_name, genuine_cookie) = victim.binding();

    // Another browser that opened the same link has a binding cookie of its own.
    let mut other = Browser::new();
    assert_eq!(other.get(&link.redirect_url).await.status, 200);
    let (other_name, other_cookie) = other.binding();
    assert_eq!(other_name, cookie_name, "one cookie name per link");
    assert_ne!(other_cookie, genuine_cookie);
    let mut altered = Browser::new();
    altered.set_cookie(&cookie_name, &format!("{genuine_cookie}x"));
    let mut foreign = Browser::new();
    foreign.set_cookie(&cookie_name, "c29tZW9uZSBlbHNlJ3MgY29va2ll");

    let mut cookieless = Browser::new();
    for (case, browser) in [
        ("no cookie", &mut cookieless),
        ("another browser", &mut other),
        ("altered cookie", &mut altered),
        ("foreign cookie", &mut foreign),
    ] {
        let page = browser.get(back.as_str()).await;
        page.assert_refused("different browser", case);
        flow.assert_status(&link.account, "INITIATED", case).await;
    }
    assert_eq!(flow.idp.token_requests().len(), 0, "nothing may reach the token endpoint");

    // Refusals did not use the state up: the victim's browser completes.
    let page = victim.get(back.as_str()).await;
    assert_app_redirect(&page, &[("status", "success"), ("connected_account_id", &link.account)], "genuine");
    flow.assert_status(&link.account, "ACTIVE", "genuine").await;
    flow.cleanup().await;
}

#[tokio::test]
async fn an_unexpected_iss_fails_the_account_before_any_code_exchange() {
    // (case, auth config issuer, iss the provider sends, completes?)
    let cases: Vec<(&str, Option<&str>, Option<&str>, bool)> = vec![
        ("default issuer, iss = the authorization origin", None, Some("{base}"), true),
        ("default issuer, iss with a trailing slash", None, Some("{base}/"), true),
        ("default issuer, no iss (RFC 9207 is optional)", None, None, true),
        ("default issuer, another issuer", None, Some("https://evil.example"), false),
        ("default issuer, another port", None, Some("http://127.0.0.1:1"), false),
        ("configured issuer, matching iss", Some("{base}/realms/main"), Some("{base}/realms/main"), true),
        ("configured issuer, iss = origin only", Some("{base}/realms/main"), Some("{base}"), false),
    ];
    for (case, issuer, iss, completes) in cases {
        let idp_base = |s: &str, base: &str| s.replace("{base}", base);
        // The issuer names the provider's own port, so start the provider first.
        let idp = FakeOAuth::start().await;
        let app = TestApp::builder().endpoint_allowlist(&idp.base).spawn().await;
        let mut credentials = json!({"authorization_url": idp.authorization_url(), "token_url": idp.token_url()});
        if let Some(issuer) = issuer {
            credentials["issuer"] = idp_base(issuer, &idp.base).into();
        }
        app.create_auth_config_with(&app.api(), TOOLKIT, credentials).await;
        let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]}})).await;
        let flow = Flow { app, idp, session };
        flow.idp.set_iss(iss.map(|i| idp_base(i, &flow.idp.base)).as_deref());

        let link = flow.link().await;
        let page = flow.connect(&link).await;
        if completes {
            assert_app_redirect(&page, &[("status", "success"), ("connected_account_id", &link.account)], case);
            flow.assert_status(&link.account, "ACTIVE", case).await;
            assert_eq!(flow.idp.grants("authorization_code"), 1, "[{case}]");
        } else {
            assert_app_redirect(
                &page,
                &[("status", "failed"), ("connected_account_id", &link.account), ("error", "invalid_issuer")],
                case,
            );
            let account = flow.assert_status(&link.account, "FAILED", case).await;
            assert!(account["status_reason"].as_str().is_some_and(|r| r.contains("issuer")), "[{case}] {account}");
            assert_eq!(flow.idp.token_requests().len(), 0, "[{case}] the code of a mixed-up response was exchanged");
        }
        flow.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Code exchange failures
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_exchange_failures_fail_the_account_without_leaking_network_details() {
    let flow = Flow::new().await;
    let cases = [
        ("invalid_grant", TokenBehaviour::InvalidGrant, "invalid_grant"),
        ("a body that is not JSON", TokenBehaviour::NotJson, "server_error"),
        ("JSON without access_token", TokenBehaviour::NoAccessToken, "server_error"),
    ];
    for (n, (case, behaviour, code)) in cases.into_iter().enumerate() {
        flow.idp.set_code_grant(behaviour);
        let link = flow.link().await;
        let page = flow.connect(&link).await;
        assert_app_redirect(
            &page,
            &[("status", "failed"), ("connected_account_id", &link.account), ("error", code)],
            case,
        );
        assert_eq!(flow.idp.grants("authorization_code"), n + 1, "[{case}] one exchange per callback");
        let account = flow.assert_status(&link.account, "FAILED", case).await;
        let reason = account["status_reason"].as_str().unwrap_or_else(|| panic!("[{case}] no status_reason"));
        assert!(reason.contains("token exchange"), "[{case}] {reason}");
        assert_no_network_details(reason, &flow.idp, case);
        assert!(account["state"]["val"].get("access_token").is_none(), "[{case}] {account}");
    }

    // The same failure without a callback_url: a 400 page, not a 500.
    let link = flow.link_with(json!({"toolkit": TOOLKIT})).await;
    let page = flow.connect(&link).await;
    page.assert_refused("token exchange", "exchange failure without callback_url");
    assert_no_network_details(&page.html, &flow.idp, "failure page");
    flow.assert_status(&link.account, "FAILED", "exchange failure without callback_url").await;
    flow.cleanup().await;
}

#[tokio::test]
async fn a_token_endpoint_slower_than_the_timeout_fails_the_account() {
    let flow = Flow::new().await;
    // Far past authlink's 15 s token timeout (src/service/oauth.rs).
    flow.idp.set_code_grant(TokenBehaviour::Slow(Duration::from_secs(120)));
    let link = flow.link().await;
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &link).await;
    let started = Instant::now();
    let page = browser.get(back.as_str()).await;
    let waited = started.elapsed();
    // A generous bound: authlink gave up on its own, long before the provider answered.
    assert!(waited < Duration::from_secs(60), "the callback waited {waited:?}");
    assert_app_redirect(
        &page,
        &[("status", "failed"), ("connected_account_id", &link.account), ("error", "temporarily_unavailable")],
        "slow provider",
    );
    let account = flow.assert_status(&link.account, "FAILED", "slow provider").await;
    let reason = account["status_reason"].as_str().expect("status_reason");
    assert!(reason.contains("token exchange"), "{reason}");
    assert_no_network_details(reason, &flow.idp, "slow provider");
    assert_eq!(flow.idp.grants("authorization_code"), 1);
    flow.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------------

/// Issue 11 item 8(e): every link has its own binding cookie, so two links open in one browser
/// both complete; under https (a public URL behind TLS) the cookie is `__Host-` prefixed:
/// Secure, `Path=/`, no `Domain`. One link's cookie does not start another link.
#[tokio::test]
async fn each_link_has_its_own_binding_cookie_host_prefixed_under_https() {
    for public in [None, Some("https://authlink.example.test")] {
        let case = public.unwrap_or("http");
        let idp = FakeOAuth::start().await;
        let mut builder = TestApp::builder().endpoint_allowlist(&idp.base);
        if let Some(public) = public {
            builder = builder.public_url(public);
        }
        let app = builder.spawn().await;
        let credentials = json!({"authorization_url": idp.authorization_url(), "token_url": idp.token_url()});
        app.create_auth_config_with(&app.api(), TOOLKIT, credentials).await;
        let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]}})).await;
        let mut links = Vec::new();
        for _ in 0..2 {
            let r = app.link(&session, json!({"toolkit": TOOLKIT, "callback_url": APP_CALLBACK})).await;
            let body = r.expect(201, "link");
            let redirect_url = body["redirect_url"].as_str().unwrap();
            assert!(redirect_url.starts_with(&app.public), "[{case}] {redirect_url}");
            links.push(Link {
                account: body["connected_account_id"].as_str().unwrap().to_owned(),
                redirect_url: app.local(redirect_url),
            });
        }

        // One browser opens both links: two cookies, with the attributes the scheme asks for.
        let mut browser = Browser::new();
        let mut names = Vec::new();
        for link in &links {
            let page = browser.get(&link.redirect_url).await;
            assert_eq!(page.status, 200, "[{case}] {}", page.html);
            let set: Vec<&str> = page.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
            assert_eq!(set.len(), 1, "[{case}] {set:?}");
            let cookie = set[0];
            let attributes: Vec<String> = cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
            let name = cookie.split('=').next().unwrap().to_owned();
            let has = |a: &str| attributes.iter().any(|x| x == a);
            assert!(has("httponly") && has("samesite=lax") && has("path=/"), "[{case}] {cookie}");
            assert!(attributes.iter().all(|a| !a.starts_with("domain")), "[{case}] a Domain: {cookie}");
            assert!(attributes.iter().any(|a| a.starts_with("max-age=")), "[{case}] no Max-Age: {cookie}");
            if public.is_some() {
                assert!(name.starts_with("__Host-authlink_binding_"), "[{case}] {cookie}");
                assert!(has("secure"), "[{case}] not Secure: {cookie}");
            } else {
                assert!(name.starts_with("authlink_binding_"), "[{case}] {cookie}");
                assert!(!has("secure"), "[{case}] Secure on plain http: {cookie}");
            }
            // Reloading the page keeps the link's cookie.
            let again = browser.get(&link.redirect_url).await;
            assert!(again.headers.get("set-cookie").is_none(), "[{case}] a reload replaced the cookie");
            names.push(name);
        }
        assert_ne!(names[0], names[1], "[{case}] two links share a cookie name");
        let bindings = browser.bindings();
        assert_eq!(bindings.len(), 2, "[{case}] {bindings:?}");
        assert_ne!(bindings[0].1, bindings[1].1, "[{case}] two links share a binding");

        // A browser holding only the first link's cookie cannot start the second.
        let mut first_only = Browser::new();
        assert_eq!(first_only.get(&links[0].redirect_url).await.status, 200);
        let refused = first_only.post(&format!("{}/continue", links[1].redirect_url)).await;
        assert_eq!(refused.status, 400, "[{case}] {}", refused.html);
        assert!(refused.html.contains("Cookies are needed"), "[{case}] {}", refused.html);

        // Both authorizations start, then both callbacks complete, in the one browser.
        let mut authorizations = Vec::new();
        for link in &links {
            let cont = browser.post(&format!("{}/continue", link.redirect_url)).await;
            assert_eq!(cont.status, 302, "[{case}] continue: {}", cont.html);
            let authorize = cont.location();
            assert_eq!(query(&authorize)["redirect_uri"], format!("{}/oauth/callback", app.public), "[{case}]");
            authorizations.push(authorize);
        }
        for (link, authorize) in links.iter().zip(&authorizations) {
            let consent = browser.get(authorize.as_str()).await;
            assert_eq!(consent.status, 302, "[{case}] {}", consent.html);
            let back = app.local(consent.location().as_str());
            let page = browser.get(&back).await;
            assert_app_redirect(&page, &[("status", "success"), ("connected_account_id", &link.account)], case);
            let account = app.get(&format!("connected_accounts/{}", link.account)).await;
            assert_eq!(account.expect(200, "account")["status"], "ACTIVE", "[{case}]");
        }
        app.cleanup().await;
    }
}

/// Tokens that expire within authlink's 5-minute refresh window.
pub(crate) const EXPIRING: i64 = 60;

/// Issue 11 item 8(d): every /api response, the ones carrying credentials (an account's tokens,
/// a link token, a forced refresh) and every error alike, is `Cache-Control: no-store` and
/// `X-Content-Type-Options: nosniff`, on both API versions.
#[tokio::test]
async fn every_api_response_is_no_store_and_nosniff() {
    let flow = Flow::new().await;
    let link = flow.connected().await;
    let app = &flow.app;
    let account = format!("connected_accounts/{}", link.account);
    let refresh = format!("connected_accounts/{}/refresh", link.account);
    let session_link = format!("tool_router/session/{}/link", flow.session);
    let mut responses = Vec::new();
    for (version, api) in [("v3.1", app.api()), ("v3", app.v3())] {
        let got = api.get(&account).await;
        assert!(got.text.contains("access_token"), "[{version}] the account carries its token: {}", got.text);
        responses.push((format!("{version} GET account (tokens)"), 200, got));
        responses.push((format!("{version} POST refresh"), 200, api.post(&refresh, json!({})).await));
        responses.push((
            format!("{version} POST session link (link token)"),
            201,
            api.post(&session_link, json!({"toolkit": TOOLKIT})).await,
        ));
        responses.push((format!("{version} GET accounts"), 200, api.get("connected_accounts").await));
        responses.push((format!("{version} GET auth configs"), 200, api.get("auth_configs").await));
        responses.push((
            format!("{version} POST auth config"),
            201,
            api.post(
                "auth_configs",
                json!({"toolkit": {"slug": "github"},
                       "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                                       "credentials": {"client_id": "id", "client_secret": CLIENT_SECRET}}}),
            )
            .await,
        ));
        responses.push((format!("{version} 400"), 400, api.post(&session_link, json!({})).await));
        responses.push((format!("{version} 404 account"), 404, api.get("connected_accounts/ca_Zz9Yy8Xx7Ww6").await));
        responses.push((format!("{version} 404 route"), 404, api.get("nope").await));
        responses.push((format!("{version} 405"), 405, send(api.request(Method::PUT, "auth_configs")).await));
    }
    responses.push(("401 without a key".into(), 401, app.anonymous().get(&account).await));
    responses.push(("401 with a wrong key".into(), 401, app.as_key("ak_wrong").get(&account).await));
    for (case, status, r) in &responses {
        assert_eq!(r.status, *status, "[{case}] {}", r.text);
        assert_eq!(r.header("cache-control"), Some("no-store"), "[{case}]");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "[{case}]");
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "[{case}]");
    }
    // Outside /api the stylesheet stays cacheable.
    let css = app.anonymous().get("/assets/authlink.css").await;
    assert_eq!(css.header("cache-control"), Some("public, max-age=3600"));
    flow.cleanup().await;
}

#[tokio::test]
async fn refresh_rotation_stores_the_new_refresh_token_and_uses_it_next_time() {
    let flow = Flow::new().await;
    flow.idp.set_expires_in(EXPIRING);
    let link = flow.connected().await;
    let first = flow.idp.last_issued();
    assert_eq!(flow.idp.grants("refresh_token"), 0, "no refresh during the connect flow");

    // Each read of the expiring account refreshes, with the refresh token stored last; the
    // provider retires each one it rotates, so an old one would come back invalid_grant.
    let mut current = first.clone();
    for round in 1..=2 {
        let account = flow.assert_status(&link.account, "ACTIVE", &format!("read {round}")).await;
        let refresh = flow.idp.token_requests().last().cloned().unwrap();
        assert_eq!(refresh.grant_type, "refresh_token", "read {round}");
        assert_eq!(refresh.field("refresh_token"), current.refresh_token.as_deref(), "read {round}: the stored token");
        assert_eq!(
            refresh.client_auth,
            ClientAuthSeen::Basic { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into() },
            "read {round}"
        );
        let fresh = flow.idp.last_issued();
        assert_ne!(fresh.refresh_token, current.refresh_token, "read {round}: the provider rotated");
        assert_eq!(account["state"]["val"]["access_token"], fresh.access_token.as_str(), "read {round}");
        assert_eq!(account["state"]["val"]["refresh_token"], fresh.refresh_token.as_deref().unwrap(), "read {round}");
        assert_eq!(flow.idp.grants("refresh_token"), round, "read {round}");
        current = fresh;
    }

    // A provider that does not rotate omits refresh_token: the stored one is kept and reused.
    flow.idp.set_rotate_refresh_tokens(false);
    for round in 3..=4 {
        let account = flow.assert_status(&link.account, "ACTIVE", &format!("read {round}")).await;
        let refresh = flow.idp.token_requests().last().cloned().unwrap();
        assert_eq!(refresh.field("refresh_token"), current.refresh_token.as_deref(), "read {round}");
        let fresh = flow.idp.last_issued();
        assert_eq!(fresh.refresh_token, None, "read {round}: the provider sent no refresh token");
        assert_eq!(account["state"]["val"]["access_token"], fresh.access_token.as_str(), "read {round}");
        assert_eq!(account["state"]["val"]["refresh_token"], current.refresh_token.as_deref().unwrap(), "read {round}");
    }
    assert_eq!(flow.idp.grants("refresh_token"), 4);

    // A token outside the window is handed out as is; a forced refresh refreshes anyway.
    flow.idp.set_expires_in(3600);
    let r = flow.app.post(&format!("connected_accounts/{}/refresh", link.account), json!({})).await;
    let forced = r.expect(200, "forced refresh").clone();
    assert_eq!(flow.idp.grants("refresh_token"), 5);
    assert_eq!(forced["state"]["val"]["access_token"], flow.idp.last_issued().access_token.as_str());
    let account = flow.account(&link.account).await;
    assert_eq!(account["state"]["val"]["access_token"], forced["state"]["val"]["access_token"]);
    assert_eq!(flow.idp.grants("refresh_token"), 5, "a token valid for an hour was refreshed on read");
    flow.cleanup().await;
}

#[tokio::test]
async fn invalid_grant_at_refresh_expires_the_account() {
    let flow = Flow::new().await;
    flow.idp.set_expires_in(EXPIRING);
    let link = flow.connected().await;
    flow.idp.set_refresh_grant(TokenBehaviour::InvalidGrant);

    let account = flow.assert_status(&link.account, "EXPIRED", "read after invalid_grant").await;
    let reason = account["status_reason"].as_str().expect("status_reason");
    assert!(reason.contains("invalid_grant"), "{reason}");
    assert_no_network_details(reason, &flow.idp, "status_reason");
    assert!(account["state"]["val"].get("access_token").is_none(), "tokens of an EXPIRED account: {account}");
    assert!(account["state"]["val"].get("refresh_token").is_none(), "{account}");
    assert_eq!(flow.idp.grants("refresh_token"), 1);
    assert_eq!(flow.app.account_ids("statuses=EXPIRED").await, vec![link.account.clone()]);

    // Nothing calls the provider again for an EXPIRED account.
    flow.assert_status(&link.account, "EXPIRED", "second read").await;
    let r = flow.app.post(&format!("connected_accounts/{}/refresh", link.account), json!({})).await;
    assert_error_ctx(&r, 400, "ConnectedAccount_NotActive", "forced refresh of an EXPIRED account");
    assert!(message(&r).contains("EXPIRED"), "{}", r.text);
    assert_eq!(flow.idp.grants("refresh_token"), 1, "an EXPIRED account was refreshed");
    flow.cleanup().await;
}

#[tokio::test]
async fn forced_refresh_errors_use_the_contract_envelope() {
    let flow = Flow::new().await;

    // Not ACTIVE (still INITIATED): refused without calling the provider.
    let initiated = flow.link().await;
    let r = flow.app.post(&format!("connected_accounts/{}/refresh", initiated.account), json!({})).await;
    assert_error_ctx(&r, 400, "ConnectedAccount_NotActive", "INITIATED");
    assert!(message(&r).contains("INITIATED"), "{}", r.text);

    // (case, refresh behaviour, provider issues refresh tokens, status, slug, account after, grants sent)
    let cases = [
        ("invalid_grant", TokenBehaviour::InvalidGrant, true, 400, "ConnectedAccount_RefreshFailed", "EXPIRED", 1),
        ("not JSON", TokenBehaviour::NotJson, true, 502, "ConnectedAccount_ProviderUnavailable", "ACTIVE", 1),
        (
            "no access_token",
            TokenBehaviour::NoAccessToken,
            true,
            502,
            "ConnectedAccount_ProviderUnavailable",
            "ACTIVE",
            1,
        ),
        ("no refresh token issued", TokenBehaviour::Success, false, 400, "ConnectedAccount_RefreshFailed", "ACTIVE", 0),
    ];
    for (case, behaviour, refresh_tokens, status, slug, after, grants) in cases {
        flow.idp.set_refresh_grant(TokenBehaviour::Success);
        flow.idp.set_issue_refresh_tokens(refresh_tokens);
        let link = flow.connected().await;
        let before = flow.account(&link.account).await;
        let sent = flow.idp.grants("refresh_token");
        flow.idp.set_refresh_grant(behaviour);

        let r = flow.app.post(&format!("connected_accounts/{}/refresh", link.account), json!({})).await;
        assert_error_ctx(&r, status, slug, case);
        assert_no_network_details(&message(&r), &flow.idp, case);
        assert_eq!(flow.idp.grants("refresh_token") - sent, grants, "[{case}] refresh grants sent");
        let account = flow.assert_status(&link.account, after, case).await;
        if after == "ACTIVE" {
            assert_eq!(account["state"]["val"]["access_token"], before["state"]["val"]["access_token"], "[{case}]");
        }
    }
    flow.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_of_an_expiring_account_cause_exactly_one_refresh() {
    const READERS: usize = 12;
    let flow = Flow::new().await;
    flow.idp.set_expires_in(EXPIRING);
    let link = flow.connected().await;
    // The refreshed token is good for an hour; a slow answer lets every reader arrive first.
    flow.idp.set_expires_in(3600);
    flow.idp.set_latency(Duration::from_millis(300));

    let path = format!("connected_accounts/{}", link.account);
    let results = join_all((0..READERS).map(|_| flow.app.get(&path))).await;

    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200; READERS], "every concurrent read must succeed");
    assert_eq!(flow.idp.grants("refresh_token"), 1, "exactly one refresh grant at the provider");
    let issued = flow.idp.issued();
    let grant_types: Vec<&str> = issued.iter().map(|i| i.grant_type.as_str()).collect();
    assert_eq!(grant_types, ["authorization_code", "refresh_token"], "token sets issued");
    let fresh = flow.idp.last_issued();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.body["status"], "ACTIVE", "reader {i}: {}", r.text);
        assert_eq!(r.body["state"]["val"]["access_token"], fresh.access_token.as_str(), "reader {i}: a stale token");
        assert_eq!(r.body["state"]["val"]["refresh_token"], fresh.refresh_token.as_deref().unwrap(), "reader {i}");
    }
    flow.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// A stored value authlink cannot open
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_sealed_under_a_key_no_longer_configured_are_a_500_that_names_no_internals() {
    // What an operator causes by dropping a key from AUTHLINK_ENCRYPTION_OLD_KEYS before
    // `authlink rotate-keys` moved every value off it.
    let flow = Flow::new().await;
    let link = flow.connected().await;
    let retired = Sealer::new(&EncryptionKey([9; 32]), &[]);
    let sealed = retired.seal(&link.account, br#"{"access_token":"at-under-a-retired-key"}"#);
    let n = flow
        .app
        .db
        .execute("update connected_account set tokens_sealed = $1 where id = $2", [sealed, link.account.clone()])
        .await;
    assert_eq!(n, 1);

    let r = flow.app.get(&format!("connected_accounts/{}", link.account)).await;
    assert_error_ctx(&r, 500, "HTTP_InternalServerError", "unopenable token set");
    assert_eq!(message(&r), "Internal server error.");
    let lower = r.text.to_lowercase();
    for leak in ["seal", "key", "aes", "decrypt", "at-under"] {
        assert!(!lower.contains(leak), "the error leaks {leak:?}: {}", r.text);
    }
    flow.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Codes go only to the tenant that asked (per-project redirect URIs)
// ---------------------------------------------------------------------------------------------

/// The attack: tenant B creates an auth config with tenant A's public `client_id` and B's own
/// token endpoint, and sends a link to a user. B's authorization request must name B's own
/// redirect URI (which a provider refuses for A's client, whose registered URI is A's), and a
/// callback delivered to the wrong project's URI never reaches a token endpoint.
#[tokio::test]
async fn a_tenant_never_receives_codes_minted_for_another_tenants_client() {
    // Tenant B's (attacker's) token endpoint; allowlisted so that only the redirect URIs stand
    // between the attacker and the code (an operator may well allowlist a tenant's host).
    let attacker = FakeOAuth::start().await;
    // Tenant A: the first project, the shared redirect URI; its honest provider.
    let flow = Flow::allowing(json!({}), &[&attacker.base]).await;
    // Tenant B: a second project, with A's client id and the attacker's token endpoint.
    let b_key = flow.app.new_project_key("tenant-b").await;
    let b = flow.app.as_key(&b_key);
    let r = b
        .post(
            "auth_configs",
            json!({"toolkit": {"slug": TOOLKIT}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2",
                   "credentials": {"client_id": CLIENT_ID, "client_secret": "attacker-secret",
                                   "authorization_url": flow.idp.authorization_url(),
                                   "token_url": attacker.token_url()}}}),
        )
        .await;
    r.expect(201, "tenant B's auth config with A's client id");
    let r = b.post("tool_router/session", json!({"user_id": "victim", "toolkits": {"enable": [TOOLKIT]}})).await;
    let b_session = r.expect(201, "tenant B's session")["session_id"].as_str().unwrap().to_owned();
    let r = b.post(&format!("tool_router/session/{b_session}/link"), json!({"toolkit": TOOLKIT})).await;
    let b_link = Link {
        account: r.expect(201, "tenant B's link")["connected_account_id"].as_str().unwrap().to_owned(),
        redirect_url: r.body["redirect_url"].as_str().unwrap().to_owned(),
    };

    // B's authorization request names B's own redirect URI, never A's registered one.
    let mut victim = Browser::new();
    let b_authorize = flow.press_continue(&mut victim, &b_link).await;
    let b_redirect = query(&b_authorize)["redirect_uri"].clone();
    assert_ne!(b_redirect, flow.callback_uri(), "tenant B's request names A's redirect URI");
    let key = b_redirect.strip_prefix(&format!("{}/oauth/callback/", flow.app.base)).expect("B's own callback");
    assert_eq!(key.len(), 32, "a 128-bit redirect key: {key}");
    assert!(key.bytes().all(|c| c.is_ascii_hexdigit()), "{key}");

    // A provider that ignored the registration would send the code to B's URI; suppose instead
    // the code reaches A's shared URI with B's state (or B's URI with A's state): refused, and
    // no token endpoint hears of it.
    let consent = victim.get(b_authorize.as_str()).await.location();
    let mut misdelivered = Url::parse(&flow.callback_uri()).unwrap();
    misdelivered.set_query(consent.query());
    let page = victim.get(misdelivered.as_str()).await;
    page.assert_refused("wrong address", "B's state on A's redirect URI");
    assert!(attacker.token_requests().is_empty(), "the attacker's token endpoint got {:?}", attacker.token_requests());

    let a_link = flow.link().await;
    let mut user = Browser::new();
    let (back, _) = flow.to_callback(&mut user, &a_link).await;
    let mut wrong = Url::parse(&b_redirect).unwrap();
    wrong.set_query(back.query());
    let page = user.get(wrong.as_str()).await;
    page.assert_refused("wrong address", "A's state on B's redirect URI");
    assert!(attacker.token_requests().is_empty(), "{:?}", attacker.token_requests());
    assert!(flow.idp.token_requests().is_empty(), "A's code was exchanged: {:?}", flow.idp.token_requests());
    // Neither account turned ACTIVE; the states are spent.
    flow.assert_status(&a_link.account, "INITIATED", "A's account").await;
    let r = b.get(&format!("connected_accounts/{}", b_link.account)).await;
    assert_eq!(r.expect(200, "B's account")["status"], "INITIATED");
    let replay = user.get(back.as_str()).await;
    replay.assert_refused("already completed", "a misdelivered state cannot be replayed on the right URI");
    flow.cleanup().await;
}

/// A second tenant's own flow works end to end on its own redirect URI.
#[tokio::test]
async fn a_second_project_connects_on_its_own_redirect_uri() {
    let idp = FakeOAuth::start().await;
    let app = TestApp::builder().endpoint_allowlist(&idp.base).spawn().await;
    let key = app.new_project_key("tenant-b").await;
    let b = app.as_key(&key);
    app.create_auth_config_with(
        &b,
        TOOLKIT,
        json!({"authorization_url": idp.authorization_url(), "token_url": idp.token_url()}),
    )
    .await;
    let r = b.post("tool_router/session", json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]}})).await;
    let session = r.expect(201, "session")["session_id"].as_str().unwrap().to_owned();
    let r = b.post(&format!("tool_router/session/{session}/link"), json!({"toolkit": TOOLKIT})).await;
    let account = r.expect(201, "link")["connected_account_id"].as_str().unwrap().to_owned();
    let mut browser = Browser::new();
    let page = browser.get(r.body["redirect_url"].as_str().unwrap()).await;
    assert_eq!(page.status, 200);
    let cont = browser.post(&format!("{}/continue", r.body["redirect_url"].as_str().unwrap())).await;
    let authorize = cont.location();
    let redirect_uri = query(&authorize)["redirect_uri"].clone();
    assert!(redirect_uri.starts_with(&format!("{}/oauth/callback/", app.base)), "{redirect_uri}");
    let back = browser.get(authorize.as_str()).await.location();
    assert!(back.as_str().starts_with(&redirect_uri), "{back}");
    let done = browser.get(back.as_str()).await;
    assert_eq!(done.status, 200, "no callback URL: authlink's own page: {}", done.html);
    assert!(done.html.contains("is connected"), "{}", done.html);
    let exchange = &idp.token_requests()[0];
    assert_eq!(exchange.field("redirect_uri"), Some(redirect_uri.as_str()), "the exchange names the same URI");
    let r = b.get(&format!("connected_accounts/{account}")).await;
    assert_eq!(r.expect(200, "account")["status"], "ACTIVE");
    app.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// The outbound guard (issue 11): no request to where it should not go
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_loopback_provider_outside_the_endpoint_allowlist_cannot_even_be_configured() {
    let idp = FakeOAuth::start().await;
    // The harness's default: AUTHLINK_ENDPOINT_ALLOWLIST empty.
    let app = spawn_app().await;
    for (field, credentials) in [
        ("token_url", json!({"authorization_url": "https://idp.example.com/authorize", "token_url": idp.token_url()})),
        (
            "authorization_url",
            json!({"authorization_url": idp.authorization_url(), "token_url": "https://idp.example.com/token"}),
        ),
    ] {
        let mut credentials = credentials;
        credentials["client_id"] = "id".into();
        credentials["client_secret"] = CLIENT_SECRET.into();
        let r = app
            .post(
                "auth_configs",
                json!({"toolkit": {"slug": TOOLKIT},
                       "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH2", "credentials": credentials}}),
            )
            .await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", field);
        assert!(r.text.contains(&format!("auth_config.credentials.{field}")), "[{field}] names the field: {}", r.text);
    }
    assert!(idp.token_requests().is_empty() && idp.authorize_requests().is_empty());
    app.cleanup().await;
}

/// A name other than `localhost` that the machine resolves to forbidden addresses only (its own
/// host name usually maps to 127.0.0.1 or a private address in /etc/hosts), or `None`.
async fn a_name_resolving_to_a_forbidden_address() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?.trim().to_ascii_lowercase();
    if name.is_empty() || name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let url = Url::parse(&format!("https://{name}/")).ok()?;
    authlink::outbound::OutboundPolicy::default().check_url_as_written(&url).ok()?;
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 443)).await.ok()?.collect();
    (!addrs.is_empty() && addrs.iter().all(|a| authlink::outbound::is_forbidden(a.ip()))).then_some(name)
}

/// DNS rebinding in miniature: a token URL whose host name passes the as-written check (so the
/// auth config is created) but resolves to a loopback/private address is refused when authlink
/// connects. A listener on that address proves no connection was even attempted, and the
/// account's `status_reason` says nothing about the network.
#[tokio::test]
async fn a_token_url_resolving_to_a_forbidden_address_is_refused_at_connect_time() {
    let Some(name) = a_name_resolving_to_a_forbidden_address().await else {
        eprintln!("skipped: this machine's host name does not resolve to a loopback or private address");
        return;
    };
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a trap listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().unwrap().port();
    let flow = Flow::with(json!({"token_url": format!("https://{name}:{port}/token")})).await;
    let link = flow.link().await;
    let page = flow.connect(&link).await;
    assert_app_redirect(
        &page,
        &[("status", "failed"), ("connected_account_id", &link.account), ("error", "temporarily_unavailable")],
        "token URL resolving to a forbidden address",
    );
    let account = flow.assert_status(&link.account, "FAILED", "forbidden after DNS").await;
    let reason = account["status_reason"].as_str().expect("status_reason");
    assert!(reason.contains("token exchange"), "{reason}");
    assert_no_network_details(reason, &flow.idp, "forbidden after DNS");
    for leak in [name.as_str(), &port.to_string(), "resolve", "refused", "address", "reach"] {
        assert!(!reason.contains(leak), "status_reason leaks {leak:?}: {reason}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "authlink connected to the forbidden address"
    );
    assert_eq!(flow.idp.token_requests().len(), 0);
    flow.cleanup().await;
}
