//! OAuth 1.0a (RFC 5849) end to end on both stores, against the signature-checking stand-in
//! provider (`oauth1_provider.rs`): auth configs, the link's Continue (temporary credentials),
//! the callback (token credentials), the account read-back, refresh and revoke, and every bad
//! callback (declined, unknown or reused token, a foreign browser, a wrong verifier) with
//! nothing stored.

use serde_json::{Value, json};
use url::Url;

use crate::{
    helpers::{TestApp, error_text},
    oauth_flow::{APP_CALLBACK, Browser, Page, query},
    oauth1_provider::{ACCESS_SECRET, ACCESS_TOKEN, CONSUMER_KEY, CONSUMER_SECRET, NOTE_STORE, OAuth1Provider},
};

struct Flow {
    app: TestApp,
    provider: OAuth1Provider,
    session: String,
    toolkit: &'static str,
}

impl Flow {
    /// `evernote` (the catalog's entry: GET, parameters in the query) or a toolkit outside the
    /// catalog (POST, `Authorization` header), its endpoints pointed at the stand-in.
    async fn new(toolkit: &'static str) -> Self {
        let provider = OAuth1Provider::start().await;
        let app = TestApp::builder().endpoint_allowlist(&provider.base).spawn().await;
        let r = app
            .post(
                "auth_configs",
                json!({"toolkit": {"slug": toolkit}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH1",
                    "credentials": {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
                        "request_token_url": provider.request_token_url(),
                        "authorization_url": provider.authorize_url(),
                        "token_url": provider.access_token_url()}}}),
            )
            .await;
        assert_eq!(r.body["auth_config"]["auth_scheme"], "OAUTH1", "{}", r.text);
        r.expect(201, "create the OAUTH1 auth config");
        let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": [toolkit]}})).await;
        Self { app, provider, session, toolkit }
    }

    /// A new link: (account id, redirect URL).
    async fn link(&self) -> (String, String) {
        let r = self.app.link(&self.session, json!({"toolkit": self.toolkit, "callback_url": APP_CALLBACK})).await;
        let body = r.expect(201, "create link");
        (body["connected_account_id"].as_str().unwrap().to_owned(), body["redirect_url"].as_str().unwrap().to_owned())
    }

    /// Link page, Continue, the provider's consent: the callback URL it sends the browser to.
    async fn to_callback(&self, browser: &mut Browser, redirect_url: &str) -> Url {
        let page = browser.get(redirect_url).await;
        assert_eq!(page.status, 200, "link page: {}", page.html);
        let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains(&self.provider.base), "Continue may go to the provider: {csp}");
        let cont = browser.post(&format!("{redirect_url}/continue")).await;
        assert_eq!(cont.status, 302, "continue: {}", cont.html);
        let authorize = cont.location();
        assert_eq!(
            format!("{}{}", authorize.origin().ascii_serialization(), authorize.path()),
            self.provider.authorize_url()
        );
        assert!(query(&authorize)["oauth_token"].starts_with("temp-"), "{authorize}");
        let consent = browser.get(authorize.as_str()).await;
        assert_eq!(consent.status, 302, "consent: {}", consent.html);
        let back = consent.location();
        assert!(back.as_str().starts_with(&format!("{}/oauth/callback?", self.app.base)), "{back}");
        back
    }

    async fn account(&self, id: &str) -> Value {
        self.app.get(&format!("connected_accounts/{id}")).await.expect(200, "get account").clone()
    }
}

#[track_caller]
fn assert_app_redirect(page: &Page, status: &str, account: &str) -> std::collections::HashMap<String, String> {
    assert_eq!(page.status, 302, "{}", page.html);
    let to = page.location();
    assert_eq!(format!("{}{}", to.origin().ascii_serialization(), to.path()), APP_CALLBACK);
    let q = query(&to);
    assert_eq!((q["status"].as_str(), q["connected_account_id"].as_str()), (status, account), "{to}");
    q
}

#[tokio::test]
async fn oauth1_connects_reads_back_refuses_refresh_and_revokes() {
    for (toolkit, method, in_header) in [("evernote", "GET", false), ("notes1", "POST", true)] {
        let flow = Flow::new(toolkit).await;
        let (account, redirect_url) = flow.link().await;
        let mut browser = Browser::new();
        let back = flow.to_callback(&mut browser, &redirect_url).await;
        let page = browser.get(back.as_str()).await;
        assert_app_redirect(&page, "success", &account);

        // The provider checked both signed requests: the right method and place, no refusal.
        let seen = flow.provider.seen();
        assert_eq!(seen.iter().map(|s| s.endpoint).collect::<Vec<_>>(), ["request", "access"], "[{toolkit}] {seen:?}");
        for s in &seen {
            assert_eq!((s.method.as_str(), s.in_header, s.refused), (method, in_header, None), "[{toolkit}] {s:?}");
        }
        assert_eq!(seen[0].params["oauth_callback"], format!("{}/oauth/callback", flow.app.base));
        assert!(seen[1].params.contains_key("oauth_verifier") && seen[1].params["oauth_token"].starts_with("temp-"));

        // Read back as Composio shapes OAUTH1.
        let a = flow.account(&account).await;
        assert_eq!((a["status"].as_str(), a["state"]["authScheme"].as_str()), (Some("ACTIVE"), Some("OAUTH1")), "{a}");
        let val = &a["state"]["val"];
        assert_eq!(val["oauth_token"], ACCESS_TOKEN, "{a}");
        assert_eq!(val["oauth_token_secret"], ACCESS_SECRET);
        assert_eq!((val["edam_noteStoreUrl"].as_str(), val["edam_userId"].as_str()), (Some(NOTE_STORE), Some("42")));
        assert!(val["edam_expires"].as_str().is_some_and(|e| e.parse::<i64>().is_ok()), "{val}");
        assert_eq!(a["auth_config"]["auth_scheme"], "OAUTH1");

        // No secret in clear at rest: not the consumer secret, the temporary or the token secret.
        let dump = flow.app.dump().await;
        for secret in [CONSUMER_SECRET, ACCESS_SECRET, ACCESS_TOKEN, "temp-secret-1"] {
            assert!(!dump.contains(secret), "[{toolkit}] {secret} in clear in the database");
        }

        // Tokens do not refresh: a clear 400, the account unchanged.
        let r = flow.app.post(&format!("connected_accounts/{account}/refresh"), json!({})).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(error_text(&r).contains("do not refresh"), "{}", r.text);
        assert_eq!(flow.account(&account).await["status"], "ACTIVE");

        // Revoke: REVOKED here (OAuth 1.0a has no revocation endpoint), the tokens erased.
        let r = flow.app.post(&format!("connected_accounts/{account}/revoke"), json!({})).await;
        r.expect(200, "revoke");
        let a = flow.account(&account).await;
        assert_eq!(a["status"], "REVOKED", "{a}");
        assert!(a["state"]["val"].get("oauth_token").is_none(), "{a}");
        assert_eq!(flow.provider.seen().len(), 2, "nothing more was sent to the provider");
        flow.app.cleanup().await;
    }
}

/// Table: every bad callback gets its page (or the app's failure redirect), and no tokens are
/// stored.
#[tokio::test]
async fn bad_oauth1_callbacks_store_nothing() {
    #[derive(Debug, Clone, Copy)]
    enum Case {
        Declined,
        UnknownToken,
        NoToken,
        ForeignBrowser,
        WrongVerifier,
        Reused,
    }
    for case in
        [Case::Declined, Case::UnknownToken, Case::NoToken, Case::ForeignBrowser, Case::WrongVerifier, Case::Reused]
    {
        let flow = Flow::new("evernote").await;
        if matches!(case, Case::Declined) {
            flow.provider.deny();
        }
        let (account, redirect_url) = flow.link().await;
        let mut browser = Browser::new();
        let back = flow.to_callback(&mut browser, &redirect_url).await;
        let mut tampered = back.clone();
        let set_query = |url: &mut Url, pairs: &[(&str, &str)]| {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        };
        let (page, expected_status) = match case {
            Case::Declined => {
                assert!(!query(&back).contains_key("oauth_verifier"));
                (browser.get(back.as_str()).await, "FAILED")
            }
            Case::UnknownToken => {
                set_query(&mut tampered, &[("oauth_token", "temp-999"), ("oauth_verifier", "verifier-1")]);
                (browser.get(tampered.as_str()).await, "INITIATED")
            }
            Case::NoToken => {
                set_query(&mut tampered, &[("oauth_verifier", "verifier-1")]);
                (browser.get(tampered.as_str()).await, "INITIATED")
            }
            Case::ForeignBrowser => (Browser::new().get(back.as_str()).await, "INITIATED"),
            Case::WrongVerifier => {
                let token = query(&back)["oauth_token"].clone();
                set_query(&mut tampered, &[("oauth_token", &token), ("oauth_verifier", "forged")]);
                (browser.get(tampered.as_str()).await, "FAILED")
            }
            Case::Reused => {
                let first = browser.get(back.as_str()).await;
                assert_app_redirect(&first, "success", &account);
                (browser.get(back.as_str()).await, "ACTIVE")
            }
        };
        match case {
            Case::Declined => {
                assert_eq!(assert_app_redirect(&page, "failed", &account)["error"], "access_denied");
            }
            Case::WrongVerifier => {
                assert_app_redirect(&page, "failed", &account);
                let refused: Vec<_> = flow.provider.seen().into_iter().filter_map(|s| s.refused).collect();
                assert!(refused.is_empty(), "the signature was right, only the verifier wrong: {refused:?}");
            }
            Case::UnknownToken | Case::NoToken | Case::ForeignBrowser | Case::Reused => {
                assert_eq!(page.status, 400, "[{case:?}] {}", page.html);
                assert!(page.location.is_none(), "[{case:?}]");
                let needle = match case {
                    Case::UnknownToken => "attempt is unknown",
                    Case::NoToken => "did not send back a state",
                    Case::ForeignBrowser => "different browser",
                    _ => "already completed",
                };
                assert!(page.html.contains(needle), "[{case:?}] {}", page.html);
            }
        }
        let a = flow.account(&account).await;
        assert_eq!(a["status"], expected_status, "[{case:?}] {a}");
        if !matches!(case, Case::Reused) {
            assert!(a["state"]["val"].get("oauth_token").is_none(), "[{case:?}] tokens stored: {a}");
            assert!(!flow.app.dump().await.contains(ACCESS_SECRET), "[{case:?}]");
        }
        flow.app.cleanup().await;
    }
}

/// Table: OAUTH1 auth configs refuse bad input with a 400 naming the field.
#[tokio::test]
async fn oauth1_auth_configs_validate_their_input() {
    let app = TestApp::builder().spawn().await;
    let create = |toolkit: &str, scheme: &str, credentials: Value| {
        json!({"toolkit": {"slug": toolkit}, "auth_config": {"type": "use_custom_auth", "authScheme": scheme,
               "credentials": credentials}})
    };
    let ok = json!({"consumer_key": "ck", "consumer_secret": "cs"});
    let cases = [
        ("no consumer key", create("evernote", "OAUTH1", json!({"consumer_secret": "cs"})), "credentials.consumer_key"),
        (
            "no consumer secret",
            create("evernote", "OAUTH1", json!({"consumer_key": "ck"})),
            "credentials.consumer_secret",
        ),
        (
            "no credentials",
            json!({"toolkit": {"slug": "evernote"}, "auth_config": {"type": "use_custom_auth", "authScheme": "OAUTH1"}}),
            "auth_config.credentials",
        ),
        (
            "scopes",
            create("evernote", "OAUTH1", json!({"consumer_key": "ck", "consumer_secret": "cs", "scopes": ["a"]})),
            "credentials.scopes",
        ),
        (
            "control character",
            create("evernote", "OAUTH1", json!({"consumer_key": "c\u{7}k", "consumer_secret": "cs"})),
            "credentials.consumer_key",
        ),
        ("an OAUTH2 toolkit", create("github", "OAUTH1", ok.clone()), "auth_config.authScheme"),
        ("OAUTH2 on evernote", create("evernote", "OAUTH2", json!({"client_id": "a", "client_secret": "b"})), "OAUTH1"),
        (
            "bad endpoint",
            create(
                "evernote",
                "OAUTH1",
                json!({"consumer_key": "ck", "consumer_secret": "cs", "request_token_url": "not a url"}),
            ),
            "credentials.request_token_url",
        ),
        ("custom toolkit without endpoints", create("notes1", "OAUTH1", ok.clone()), "request_token_url"),
    ];
    for (what, body, needle) in cases {
        let r = app.post("auth_configs", body).await;
        assert_eq!(r.status, 400, "[{what}] {}", r.text);
        assert!(error_text(&r).contains(needle), "[{what}] {}", r.text);
    }
    // client_id / client_secret are taken for the consumer key and secret.
    let r =
        app.post("auth_configs", create("evernote", "OAUTH1", json!({"client_id": "ck", "client_secret": "cs"}))).await;
    assert_eq!(r.body["auth_config"]["auth_scheme"], "OAUTH1", "{}", r.text);
    r.expect(201, "client_id alias");
    app.cleanup().await;
}
