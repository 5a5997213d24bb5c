//! The hosted form (issue 15 must-haves 3 and 7), over plain HTTP on both stores: a link for an
//! API-key, bearer or basic toolkit shows labelled inputs; a valid POST connects the account
//! (ACTIVE, sealed, back to the callback with `status=success`); every bad input gives the form
//! again with the error inline or the right page, never a 500, with nothing stored and no secret
//! echoed; the link stays single use, also under two concurrent posts.

use std::collections::HashMap;

use reqwest::redirect::Policy;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::TestApp;

/// Toolkits of the tests' own catalog file (`AUTHLINK_CATALOG_DIR`), one per scheme.
const CATALOG: &str = r#"
toolkits:
  - slug: formkey
    name: Form Key
    categories: [analytics]
    description: An API-key service.
    source: https://formkey.example/docs/auth
    auth_scheme: API_KEY
    credential: {in: header, name: Authorization, prefix: "Bearer "}
    fields:
      - name: api_key
        display_name: API key
        description: Create one at https://formkey.example/keys.
        secret: true
        pattern: "fk-[A-Za-z0-9]{16,}"
  - slug: formbearer
    name: Form Bearer
    categories: [analytics]
    source: https://formbearer.example/docs/auth
    auth_scheme: BEARER_TOKEN
    credential: {in: header, name: Authorization, prefix: "Bearer "}
    fields:
      - name: token
        display_name: Access token
        secret: true
  - slug: formbasic
    name: Form Basic
    categories: [analytics]
    source: https://formbasic.example/docs/auth
    auth_scheme: BASIC
    base_url: https://{subdomain}.formbasic.example/api
    fields:
      - name: subdomain
        display_name: Subdomain
        description: The part before .formbasic.example in your address.
        pattern: "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
      - name: username
        display_name: Username
      - name: password
        display_name: Password
        secret: true
      - name: region
        display_name: Region
        required: false
  - slug: formodd
    name: Form Odd
    categories: [analytics]
    source: https://formodd.example/docs/auth
    auth_scheme: API_KEY
    credential: {in: header, name: X-Key}
    base_url: https://{tenant}.formodd.example/api
    fields:
      - name: tenant
        display_name: Tenant
        description: A pattern loose enough to let `&` and `<` through, so the template checks speak.
        pattern: "[a-z0-9&<-]+"
      - name: api_key
        display_name: API key
        secret: true
"#;

/// Toolkit, scheme, posted pairs, the secret, the expected `state.val`.
type SchemeCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str, Value);
/// Case, posted pairs, the field blamed, the English page text of the rule broken.
type FieldCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
/// Case, cookie, content type, body, status, text of the page.
type PageCase<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Vec<u8>, u16, &'a str);

pub const KEY: &str = "fk-abcdefghijklmnop0123";
pub const PASSWORD: &str = "correct horse battery staple";

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// A fresh directory holding the tests' catalog file, for `AUTHLINK_CATALOG_DIR`.
pub fn catalog_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("authlink_form_catalog_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("forms.yaml"), CATALOG).unwrap();
    dir
}

pub async fn form_app() -> TestApp {
    TestApp::builder().catalog_dir(&catalog_dir()).spawn().await
}

/// An auth config of `scheme` for `toolkit` (no client credentials: the user brings them).
pub async fn scheme_config(app: &TestApp, toolkit: &str, scheme: &str) -> String {
    let r = app
        .post(
            "auth_configs",
            json!({"toolkit": {"slug": toolkit}, "auth_config": {"type": "use_custom_auth", "authScheme": scheme}}),
        )
        .await;
    r.expect(201, "create auth config");
    r.body["auth_config"]["id"].as_str().unwrap().to_owned()
}

/// A link (callback on app.example.com); returns `(redirect_url, connected_account_id)`.
pub async fn form_link(app: &TestApp, toolkit: &str, scheme: &str) -> (String, String) {
    let config = scheme_config(app, toolkit, scheme).await;
    let session = app.create_session(json!({"user_id": "u1", "auth_configs": {toolkit: config}})).await;
    let r = app.link(&session, json!({"toolkit": toolkit, "callback_url": "https://app.example.com/cb?from=t"})).await;
    let body = r.expect(201, "link");
    (body["redirect_url"].as_str().unwrap().to_owned(), body["connected_account_id"].as_str().unwrap().to_owned())
}

/// The form page as a browser got it: HTML, binding cookie (`name=value`) and `_csrf`.
pub struct Opened {
    pub html: String,
    pub cookie: String,
    pub csrf: String,
    pub csp: String,
}

pub async fn open(redirect_url: &str) -> Opened {
    let page = browser().get(redirect_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    Opened { html, cookie, csrf, csp }
}

/// The `_csrf` value of a binding cookie (`name=value`), as the form computes it.
pub fn csrf_of(cookie: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let value = cookie.split_once('=').unwrap().1;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(format!("authlink form {value}")))
}

/// What a POST of the form answered.
pub struct Posted {
    pub status: u16,
    pub location: Option<String>,
    pub html: String,
}

pub async fn post_raw(redirect_url: &str, cookie: Option<&str>, content_type: Option<&str>, body: Vec<u8>) -> Posted {
    let mut rb = browser().post(format!("{redirect_url}/fields")).body(body);
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    if let Some(t) = content_type {
        rb = rb.header("content-type", t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    Posted { status, location, html: r.text().await.unwrap() }
}

pub fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

pub async fn submit(redirect_url: &str, opened: &Opened, pairs: &[(&str, &str)]) -> Posted {
    let mut all = pairs.to_vec();
    all.push(("_csrf", &opened.csrf));
    post_raw(redirect_url, Some(&opened.cookie), Some("application/x-www-form-urlencoded"), encode(&all)).await
}

async fn account(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("connected_accounts/{id}")).await;
    r.expect(200, "account").clone()
}

#[track_caller]
fn assert_success(posted: &Posted, account_id: &str) {
    assert_eq!(posted.status, 302, "{}", posted.html);
    let url = Url::parse(posted.location.as_deref().unwrap()).unwrap();
    assert_eq!((url.host_str(), url.path()), (Some("app.example.com"), "/cb"));
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q["from"], "t");
    assert_eq!(q["status"], "success");
    assert_eq!(q["connected_account_id"], account_id);
}

#[tokio::test]
async fn the_form_has_a_labelled_input_per_field_and_no_script() {
    let app = form_app().await;
    let (url, _) = form_link(&app, "formbasic", "BASIC").await;
    let opened = open(&url).await;
    assert_eq!(opened.csp, "default-src 'self'; frame-ancestors 'none'; form-action 'self' https://app.example.com");
    assert!(opened.cookie.starts_with("authlink_binding_"), "{}", opened.cookie);
    let token = url.rsplit('/').next().unwrap();
    let html = &opened.html;
    assert!(html.contains(&format!("<form method=\"post\" action=\"{token}/fields\" class=\"fields\">")), "{html}");
    assert!(html.contains("<h1>Enter your Form Basic details</h1>"), "{html}");
    assert!(html.contains("sent back to <strong>app.example.com</strong>"), "{html}");
    for (name, label, kind) in
        [("subdomain", "Subdomain", "text"), ("username", "Username", "text"), ("password", "Password", "password")]
    {
        assert!(html.contains(&format!("<label for=\"f-{name}\">{label}</label>")), "{name}: {html}");
        let input = input_tag(html, name);
        assert!(input.contains(&format!("type=\"{kind}\"")) && input.contains(" required"), "{input}");
        assert!(input.contains("autocomplete=\"off\"") && !input.contains("value="), "{input}");
    }
    // Help text is tied to its input; the optional field says so and is not required.
    assert!(html.contains("<p class=\"help\" id=\"f-subdomain-help\">The part before .formbasic.example"), "{html}");
    assert!(input_tag(html, "subdomain").contains("aria-describedby=\"f-subdomain-help\""));
    assert!(html.contains("<label for=\"f-region\">Region <span class=\"optional\">(optional)</span></label>"));
    assert!(!input_tag(html, "region").contains("required"));
    assert!(html.contains("<button type=\"submit\">Connect Form Basic</button>"), "{html}");
    let handlers = html.split(|c: char| c.is_ascii_whitespace()).filter(|w| w.starts_with("on") && w.contains('='));
    assert!(!html.contains("<script") && handlers.count() == 0, "no script: {html}");
    assert!(!html.contains("aria-invalid"), "no errors yet");

    // The API-key form: one password input; its help text is there.
    let (url, _) = form_link(&app, "formkey", "API_KEY").await;
    let opened = open(&url).await;
    assert!(input_tag(&opened.html, "api_key").contains("type=\"password\""));
    assert!(opened.html.contains("Create one at https://formkey.example/keys."));
    assert_eq!(opened.html.matches("<input ").count(), 2, "api_key and _csrf: {}", opened.html);
    app.cleanup().await;
}

/// The label of a field of the basic form.
fn input_label(field: &str) -> &'static str {
    match field {
        "subdomain" => "Subdomain",
        "username" => "Username",
        _ => "Password",
    }
}

/// The `<input …>` tag of a field.
pub fn input_tag<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html.find(&format!("<input id=\"f-{name}\"")).unwrap_or_else(|| panic!("no input {name}: {html}"));
    let end = html[start..].find('>').unwrap() + start;
    &html[start..=end]
}

#[tokio::test]
async fn api_key_bearer_and_basic_forms_connect_the_account() {
    let app = form_app().await;
    let cases: [SchemeCase<'_>; 3] = [
        ("formkey", "API_KEY", vec![("api_key", KEY)], KEY, json!({"status": "ACTIVE", "api_key": KEY})),
        (
            "formbearer",
            "BEARER_TOKEN",
            vec![("token", "bearer-token-0123456789abcdef")],
            "bearer-token-0123456789abcdef",
            json!({"status": "ACTIVE", "token": "bearer-token-0123456789abcdef"}),
        ),
        (
            "formbasic",
            "BASIC",
            vec![("subdomain", "acme"), ("username", "alice"), ("password", PASSWORD), ("region", "")],
            PASSWORD,
            json!({"status": "ACTIVE", "subdomain": "acme", "username": "alice", "password": PASSWORD}),
        ),
    ];
    for (toolkit, scheme, pairs, secret, val) in cases {
        let (url, id) = form_link(&app, toolkit, scheme).await;
        assert_eq!(account(&app, &id).await["status"], "INITIATED");
        let opened = open(&url).await;
        let posted = submit(&url, &opened, &pairs).await;
        assert_success(&posted, &id);
        let acc = account(&app, &id).await;
        assert_eq!(acc["status"], "ACTIVE", "{toolkit}: {acc}");
        assert_eq!(acc["toolkit"]["slug"], toolkit);
        assert_eq!(acc["auth_config"]["auth_scheme"], scheme);
        // Read back exactly as an account created through the API (`service::credentials`).
        assert_eq!(acc["state"], json!({"authScheme": scheme, "val": val}), "{toolkit}");
        assert_eq!(acc["data"], val, "{toolkit}");
        assert!(!app.dump().await.contains(secret), "{toolkit}: the secret is sealed at rest");
        // Single use: the same form again, and the page, say the link was used.
        let again = submit(&url, &opened, &pairs).await;
        assert_eq!(again.status, 410, "{toolkit}: {}", again.html);
        assert!(again.html.contains("This link was already used"), "{}", again.html);
        let page = browser().get(&url).send().await.unwrap();
        assert_eq!(page.status(), 410);
    }
    app.cleanup().await;
}

/// Table: each bad submission of the basic form gives the form back (400) with the field's error
/// inline and in the summary, worded by its rule (`form.error.*`, not the API's message), the
/// non-secret values kept and no secret echoed; nothing is stored, and the same link still
/// connects afterwards.
#[tokio::test]
async fn bad_values_come_back_inline_without_echoing_secrets() {
    let app = form_app().await;
    let (url, id) = form_link(&app, "formbasic", "BASIC").await;
    let opened = open(&url).await;
    let long_secret = "p".repeat(8193);
    let good = [("subdomain", "acme"), ("username", "alice"), ("password", PASSWORD)];
    let with = |name: &'static str, value: &'static str| {
        let mut pairs: Vec<(&str, &str)> = good.iter().filter(|(k, _)| *k != name).copied().collect();
        pairs.push((name, value));
        pairs
    };
    let long: &'static str = Box::leak(long_secret.into_boxed_str());
    let pattern = "This does not match the expected format.";
    let control = "This contains control characters.";
    let cases: Vec<FieldCase<'_>> = vec![
        ("missing username", with("username", ""), "username", "This field is needed."),
        ("missing password", good[..2].to_vec(), "password", "This field is needed."),
        ("oversize password", with("password", long), "password", "This is too long (at most 8192 bytes)."),
        ("control character", with("username", "ali\u{7}ce"), "username", control),
        ("newline in a secret", with("password", "pass\nword"), "password", control),
        ("host breaker evil.com/", with("subdomain", "evil.com/"), "subdomain", pattern),
        ("host breaker a.b", with("subdomain", "a.b"), "subdomain", pattern),
        ("host breaker #", with("subdomain", "acme#"), "subdomain", pattern),
        ("host breaker @", with("subdomain", "x@evil"), "subdomain", pattern),
        ("leading space", with("username", " alice"), "username", "This must not start or end with a space."),
        ("unknown field", [&good[..], &[("admin", "1")]].concat(), "admin", "This is not a field of this form."),
        (
            "field sent twice",
            [&good[..], &[("username", "bob")]].concat(),
            "username",
            "This field was sent more than once.",
        ),
    ];
    for (case, pairs, field, rule) in cases {
        let posted = submit(&url, &opened, &pairs).await;
        assert_eq!(posted.status, 400, "{case}: {}", posted.html);
        let html = &posted.html;
        assert!(html.contains("<title>Error: Connect Form Basic · project-a</title>"), "{case}: {html}");
        assert!(html.contains("role=\"alert\""), "{case}: an error summary");
        if ["subdomain", "username", "password"].contains(&field) {
            let label = input_label(field);
            let input = input_tag(html, field);
            assert!(input.contains("aria-invalid=\"true\""), "{case}: {input}");
            assert!(input.contains(&format!("f-{field}-error")), "{case}: described by its error: {input}");
            let inline = format!("<p class=\"error\" id=\"f-{field}-error\">{label}: {rule}</p>");
            assert!(html.contains(&inline), "{case}: inline `{inline}`: {html}");
            let summary = format!("<li><a href=\"#f-{field}\">{label}: {rule}</a></li>");
            assert!(html.contains(&summary), "{case}: summarised `{summary}`: {html}");
        } else {
            let summary = format!("<li><code>{field}</code>: {rule}</li>");
            assert!(html.contains(&summary), "{case}: summarised `{summary}`: {html}");
        }
        // The API's English wording of the rule is not the page's.
        for api in
            ["is required", "is longer than", "must not contain", "does not match the pattern", "toolkit formbasic"]
        {
            assert!(!html.contains(api), "{case}: the API's message `{api}` on the page: {html}");
        }
        assert!(html.contains("action=\"fields\""), "{case}: posts back to the same URL");
        // No secret value ever comes back, valid or not; non-secret values are kept.
        for secret in [PASSWORD, "pass\nword", "pass&#10;word", &long[..64]] {
            assert!(!html.contains(secret), "{case}: echoed a secret");
        }
        assert!(!input_tag(html, "password").contains("value="), "{case}");
        if field != "subdomain" {
            assert!(input_tag(html, "subdomain").contains("value=\"acme\""), "{case}: kept the subdomain");
        }
        assert_eq!(account(&app, &id).await["status"], "INITIATED", "{case}: nothing stored");
    }
    // A kept value is shown back escaped, never as markup.
    let posted = submit(&url, &opened, &with("subdomain", "<b>\"x\"</b>")).await;
    assert_eq!(posted.status, 400);
    assert!(
        input_tag(&posted.html, "subdomain").contains("value=\"&lt;b&gt;&quot;x&quot;&lt;/b&gt;\""),
        "{}",
        posted.html
    );
    // The same link still connects.
    let posted = submit(&url, &opened, &with("username", "<b>\"x\"</b>")).await;
    assert_eq!(posted.status, 302, "any username is allowed: {}", posted.html);
    assert_success(&posted, &id);
    assert!(!app.dump().await.contains(PASSWORD));
    app.cleanup().await;
}

/// Table: posts that are not this page's form get a page saying so (never a 500); nothing is stored.
#[tokio::test]
async fn posts_that_are_not_the_form_are_refused_with_a_page() {
    let app = form_app().await;
    let (url, id) = form_link(&app, "formkey", "API_KEY").await;
    let opened = open(&url).await;
    let form = Some("application/x-www-form-urlencoded");
    let valid = |csrf: &str| encode(&[("api_key", KEY), ("_csrf", csrf)]);
    let big = {
        let mut b = valid(&opened.csrf);
        b.extend(b"&pad=");
        b.extend(std::iter::repeat_n(b'a', 33 * 1024));
        b
    };
    let cases: Vec<PageCase<'_>> = vec![
        ("no cookie", None, form, valid(&opened.csrf), 400, "Cookies are needed"),
        ("no _csrf", Some(&opened.cookie), form, encode(&[("api_key", KEY)]), 400, "This form cannot be accepted"),
        ("wrong _csrf", Some(&opened.cookie), form, valid("forged"), 400, "This form cannot be accepted"),
        (
            "_csrf twice",
            Some(&opened.cookie),
            form,
            encode(&[("api_key", KEY), ("_csrf", &opened.csrf), ("_csrf", &opened.csrf)]),
            400,
            "This form cannot be accepted",
        ),
        ("JSON", Some(&opened.cookie), Some("application/json"), br#"{"api_key":"x"}"#.to_vec(), 415, "cannot be read"),
        (
            "multipart",
            Some(&opened.cookie),
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
            415,
            "cannot be read",
        ),
        ("no content type", Some(&opened.cookie), None, valid(&opened.csrf), 415, "cannot be read"),
        ("body too large", Some(&opened.cookie), form, big, 413, "This form is too large"),
        ("not UTF-8", Some(&opened.cookie), form, b"api_key=%FF%FE&_csrf=x".to_vec(), 400, "not valid UTF-8"),
    ];
    for (case, cookie, content_type, body, status, text) in cases {
        let posted = post_raw(&url, cookie, content_type, body).await;
        assert_eq!(posted.status, status, "{case}: {}", posted.html);
        assert!(posted.html.contains(text), "{case}: {}", posted.html);
        assert!(!posted.html.contains(KEY), "{case}");
        assert_eq!(account(&app, &id).await["status"], "INITIATED", "{case}: nothing stored");
    }
    // A cookie of another link does not stand in for this one's.
    let (other_url, _) = form_link(&app, "formkey", "API_KEY").await;
    let other = open(&other_url).await;
    let posted = post_raw(&url, Some(&other.cookie), form, valid(&other.csrf)).await;
    assert_eq!(posted.status, 400, "{}", posted.html);
    assert!(posted.html.contains("Cookies are needed"));
    // Unknown and malformed links.
    for token in ["ln_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "nope"] {
        let posted = post_raw(&format!("{}/link/{token}", app.base), Some(&opened.cookie), form, valid("x")).await;
        assert_eq!(posted.status, 404, "{token}: {}", posted.html);
    }
    // Still usable after all that.
    assert_success(&submit(&url, &opened, &[("api_key", KEY)]).await, &id);
    app.cleanup().await;
}

#[tokio::test]
async fn an_expired_link_takes_no_form() {
    let app = TestApp::builder().catalog_dir(&catalog_dir()).ttl(std::time::Duration::from_secs(2)).spawn().await;
    let (url, id) = form_link(&app, "formkey", "API_KEY").await;
    let opened = open(&url).await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let posted = submit(&url, &opened, &[("api_key", KEY)]).await;
    assert_eq!(posted.status, 410, "{}", posted.html);
    assert!(posted.html.contains("This link has expired"), "{}", posted.html);
    // Without the cookie too: the link's state comes first.
    let posted = post_raw(&url, None, Some("application/x-www-form-urlencoded"), encode(&[("api_key", KEY)])).await;
    assert_eq!(posted.status, 410, "{}", posted.html);
    assert_ne!(account(&app, &id).await["status"], "ACTIVE");
    assert!(!app.dump().await.contains(KEY));
    app.cleanup().await;
}

/// Two browsers' posts of the same link at once: exactly one connects, the other is told the
/// link was used; one ACTIVE account, one `connected_account.active`-style event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_make_one_account() {
    let app = form_app().await;
    for round in 0..5 {
        let (url, id) = form_link(&app, "formkey", "API_KEY").await;
        let opened = open(&url).await;
        let posts = (0..4).map(|_| submit(&url, &opened, &[("api_key", KEY)]));
        let results = futures::future::join_all(posts).await;
        let won: Vec<&Posted> = results.iter().filter(|p| p.status == 302).collect();
        let lost: Vec<&Posted> = results.iter().filter(|p| p.status == 410).collect();
        assert_eq!(
            (won.len(), lost.len()),
            (1, 3),
            "round {round}: {:?}",
            results.iter().map(|p| p.status).collect::<Vec<_>>()
        );
        assert_success(won[0], &id);
        assert!(lost.iter().all(|p| p.html.contains("This link was already used")));
        assert_eq!(account(&app, &id).await["status"], "ACTIVE");
    }
    let listed = app.list_accounts("toolkit_slugs=formkey&limit=100").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 5, "one account per link: {listed}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_plain_oauth_link_takes_no_form() {
    let app = form_app().await;
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let r = app.link(&session, json!({"toolkit": "github"})).await;
    let url = r.expect(201, "link")["redirect_url"].as_str().unwrap().to_owned();
    let page = browser().get(&url).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("/continue\"><button type=\"submit\">Continue to GitHub</button>"), "{html}");
    let csrf = csrf_of(&cookie);
    let posted =
        post_raw(&url, Some(&cookie), Some("application/x-www-form-urlencoded"), encode(&[("_csrf", &csrf)])).await;
    assert_eq!(posted.status, 400, "{}", posted.html);
    assert!(posted.html.contains("This connection takes no details"), "{}", posted.html);
    app.cleanup().await;
}

/// An OAuth toolkit with a templated host (Zendesk's `{subdomain}`) gets the form: its CSP lets
/// the POST's redirect reach any tenant host of the provider's domain, and values that would move
/// the URL off that domain come back inline. A valid subdomain continues to that tenant's sign-in
/// (the whole flow is in `oauth_fields.rs`).
#[tokio::test]
async fn an_oauth_toolkit_with_a_templated_host_asks_for_the_subdomain() {
    let app = form_app().await;
    app.create_auth_config("zendesk").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["zendesk"]}})).await;
    let r =
        app.link(&session, json!({"toolkit": "zendesk", "callback_url": "https://app.example.com/cb?from=t"})).await;
    let body = r.expect(201, "link");
    let (url, id) =
        (body["redirect_url"].as_str().unwrap().to_owned(), body["connected_account_id"].as_str().unwrap().to_owned());
    let opened = open(&url).await;
    assert_eq!(
        opened.csp,
        "default-src 'self'; frame-ancestors 'none'; form-action 'self' https://*.zendesk.com https://app.example.com"
    );
    assert!(input_tag(&opened.html, "subdomain").contains("type=\"text\""), "{}", opened.html);
    assert!(opened.html.contains("<button type=\"submit\">Continue to Zendesk</button>"), "{}", opened.html);
    for breaker in ["evil.com/", "a.b", "acme#", "x@evil", "acme:443", &"a".repeat(64)] {
        let posted = submit(&url, &opened, &[("subdomain", breaker)]).await;
        assert_eq!(posted.status, 400, "{breaker}: {}", posted.html);
        assert!(input_tag(&posted.html, "subdomain").contains("aria-invalid=\"true\""), "{breaker}");
        assert_eq!(account(&app, &id).await["status"], "INITIATED", "{breaker}");
    }
    let posted = submit(&url, &opened, &[("subdomain", "acme")]).await;
    assert_eq!(posted.status, 302, "{}", posted.html);
    let to = Url::parse(posted.location.as_deref().unwrap()).unwrap();
    assert_eq!((to.host_str(), to.path()), (Some("acme.zendesk.com"), "/oauth/authorizations/new"), "{to}");
    assert_eq!(account(&app, &id).await["status"], "INITIATED");
    app.cleanup().await;
}

/// The form and its pages speak the browser's language: `?lang=de` on the link gives the German
/// heading and button and keeps the language on the POST (its error page German too);
/// `Accept-Language: ja` gives a Japanese error page, and the notice pages are translated.
#[tokio::test]
async fn the_form_and_its_pages_are_translated() {
    let app = form_app().await;
    let (url, _) = form_link(&app, "formbasic", "BASIC").await;
    let opened = open(&format!("{url}?lang=de")).await;
    let html = &opened.html;
    let token = url.rsplit('/').next().unwrap();
    assert!(html.contains("<html lang=\"de\""), "{html}");
    assert!(html.contains("<h1>Ihre Form Basic-Zugangsdaten eingeben</h1>"), "{html}");
    assert!(html.contains("<button type=\"submit\">Form Basic verbinden</button>"), "{html}");
    assert!(html.contains("<span class=\"optional\">(optional)</span>"), "{html}");
    assert!(html.contains("zurückgeleitet") && html.contains("<strong>app.example.com</strong>"), "{html}");
    assert!(html.contains(&format!("action=\"{token}/fields?lang=de\"")), "{html}");
    assert!(!html.contains("Connect"), "no English left: {html}");

    // The POST keeps `?lang=de` (the form comes back in German with its errors); with
    // `Accept-Language: ja` instead, in Japanese; a refused post's page too.
    let post = |query: &str, accept: &str, body: Vec<u8>| {
        browser()
            .post(format!("{url}/fields{query}"))
            .header("accept-language", accept.to_owned())
            .header("cookie", opened.cookie.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let bad = encode(&[("subdomain", "acme"), ("username", ""), ("password", PASSWORD), ("_csrf", &opened.csrf)]);
    let r = post("?lang=de", "en", bad.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("<title>Fehler: Form Basic verbinden · project-a</title>"), "{html}");
    assert!(html.contains("<h2 id=\"error-summary-title\">Bitte korrigieren Sie die unten markierten Felder.</h2>"));
    assert!(html.contains("Zu Ihrer Sicherheit werden geheime Werte nicht erneut angezeigt"), "{html}");
    assert!(html.contains("<button type=\"submit\">Form Basic verbinden</button>"), "{html}");
    assert!(html.contains("action=\"fields?lang=de\""), "{html}");

    let r = post("", "ja", bad).await.unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"ja\""), "{html}");
    assert!(html.contains("<title>エラー: Form Basic と連携 · project-a</title>"), "{html}");
    assert!(html.contains("<h1>Form Basic の情報を入力</h1>"), "{html}");
    assert!(html.contains("<h2 id=\"error-summary-title\">以下の項目を修正してください。</h2>"), "{html}");
    assert!(html.contains("<button type=\"submit\">Form Basic を連携する</button>"), "{html}");
    assert!(html.contains("action=\"fields\""), "{html}");

    let r = post("", "ja", encode(&[("username", "alice"), ("_csrf", "forged")])).await.unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("<h1>このフォームは受け付けられません</h1>"), "{html}");
    assert!(html.contains("<p>authlink がこのブラウザで表示したページから送信されていません。"), "{html}");
    app.cleanup().await;
}
