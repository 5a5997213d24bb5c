//! The end user's first two steps, over plain HTTP on both stores: the link page (found by the
//! token's hash, HTML, no third-party resources, the security headers, the browser-binding
//! cookie) and Continue (the authorization redirect with every parameter the issue names).

use std::collections::HashMap;

use reqwest::redirect::Policy;
use serde_json::json;
use url::Url;

use crate::helpers::{TestApp, spawn_app};

/// A browser that does not follow redirects, so each step can be checked.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The CSP of every page without the Continue form.
const PAGE_CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

#[track_caller]
fn assert_page_headers(r: &reqwest::Response, what: &str) {
    assert_page_headers_with_csp(r, PAGE_CSP, what);
}

#[track_caller]
fn assert_page_headers_with_csp(r: &reqwest::Response, csp: &str, what: &str) {
    let h = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(h("content-security-policy"), csp, "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert!(h("content-type").starts_with("text/html"), "{what}: content-type {}", h("content-type"));
}

/// A link for `toolkit` with a callback on app.example.com; returns its `redirect_url`.
async fn link(app: &TestApp, toolkit: &str) -> String {
    app.create_auth_config(toolkit).await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": [toolkit]}})).await;
    let r = app.link(&session, json!({"toolkit": toolkit, "callback_url": "https://app.example.com/cb/ok"})).await;
    r.expect(201, "link")["redirect_url"].as_str().unwrap().to_owned()
}

/// Opens the link page, presses Continue with its cookie; returns the page's HTML and the
/// authorization URL's query. The page's CSP lets its form reach `provider_origin`, where
/// Continue redirects, and the app's callback origin, where a provider that asks nothing ends
/// the same navigation (browsers apply `form-action` to the redirects after a POST).
async fn start(redirect_url: &str, provider_origin: &str) -> (String, Url, HashMap<String, String>) {
    let browser = browser();
    let page = browser.get(redirect_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = format!("{PAGE_CSP} {provider_origin} https://app.example.com");
    assert_page_headers_with_csp(&page, &csp, "link page");
    let cookie = page.headers().get("set-cookie").expect("the link page sets the binding cookie").to_str().unwrap();
    let attributes: Vec<String> = cookie.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(cookie.starts_with("authlink_binding_"), "{cookie}");
    assert!(attributes.contains(&"httponly".to_owned()), "not HttpOnly: {cookie}");
    assert!(attributes.contains(&"samesite=lax".to_owned()), "not SameSite=Lax: {cookie}");
    assert!(!attributes.contains(&"secure".to_owned()), "Secure on a plain-http origin: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();

    let cont = browser.post(format!("{redirect_url}/continue")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(cont.status(), 302, "continue: {}", cont.text().await.unwrap_or_default());
    let location = Url::parse(cont.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    (html, location, query)
}

#[tokio::test]
async fn unknown_and_malformed_links_get_a_404_page() {
    let app = spawn_app().await;
    for token in [
        "ln_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not-a-token",
        "ln_%3Cscript%3E",
        "%FF",
        "ln_%FFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = browser().get(format!("{}/link/{token}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{token}");
        assert_page_headers(&r, token);
        assert!(r.headers().get("set-cookie").is_none(), "{token}: a cookie for a link that does not exist");
        let html = r.text().await.unwrap();
        assert!(html.contains("<html") && !html.contains("<script"), "{token}: {html}");
        let r = browser().post(format!("{}/link/{token}/continue", app.base)).send().await.unwrap();
        assert!(r.status() == 404 || r.status() == 400, "{token}: continue answered {}", r.status());
        assert!(r.headers().get("location").is_none(), "{token}: continue redirected");
        let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/html"), "{token}: continue answered {content_type}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_link_page_names_the_provider_and_the_return_site_and_loads_nothing_from_elsewhere() {
    let app = spawn_app().await;
    let redirect_url = link(&app, "github").await;
    let (html, _, _) = start(&redirect_url, "https://github.com").await;
    assert!(html.contains("GitHub"), "provider not named: {html}");
    assert!(html.contains("app.example.com"), "return site not named: {html}");
    assert!(html.contains("Continue to GitHub"), "no Continue button: {html}");
    assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"), "no document language: {html}");
    assert!(!html.contains("<script"), "the page needs JavaScript: {html}");
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(http"] {
        assert!(!html.contains(attr), "a third-party resource ({attr}): {html}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn continue_redirects_to_the_provider_with_every_parameter() {
    let app = spawn_app().await;
    let (_, location, q) = start(&link(&app, "github").await, "https://github.com").await;
    assert_eq!(location.origin().ascii_serialization(), "https://github.com");
    assert_eq!(location.path(), "/login/oauth/authorize");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-github");
    assert_eq!(q["redirect_uri"], format!("{}/oauth/callback", app.base), "one fixed callback");
    assert_eq!(q["scope"], "repo read:user user:email read write", "catalog defaults, then the auth config's");
    assert!(q["state"].len() >= 22, "state under 128 bits: {}", q["state"]);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "a base64url SHA-256");

    // Slack: scopes joined with commas, PKCE off in the catalog.
    let (_, location, q) = start(&link(&app, "slack").await, "https://slack.com").await;
    assert_eq!(location.host_str(), Some("slack.com"));
    assert_eq!(q["scope"], "channels:read,channels:history,chat:write,users:read,read,write");
    assert!(!q.contains_key("code_challenge") && !q.contains_key("code_challenge_method"), "{q:?}");
    assert_ne!(q["state"], "", "state");
    app.cleanup().await;
}

#[tokio::test]
async fn continue_without_the_binding_cookie_starts_nothing() {
    let app = spawn_app().await;
    let redirect_url = link(&app, "github").await;
    let r = browser().post(format!("{redirect_url}/continue")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_page_headers(&r, "continue without cookie");
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("Cookies are needed"));
    app.cleanup().await;
}
