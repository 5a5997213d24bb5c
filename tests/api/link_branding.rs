//! The project's link-page branding (`GET/PATCH /api/v3.1/link_page`, `PUT/DELETE
//! …/link_page/logo`) and what the page and its assets make of it, on both stores.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, assert_error_ctx, send, spawn_app};

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";
const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1, 0xFF, 0xD9];
const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0\x2f\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0";

async fn put_logo(app: &TestApp, key: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
    let mut rb = app.as_key(key).request(Method::PUT, "link_page/logo").body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    send(rb).await
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[track_caller]
fn assert_settings(body: &Value, project: &str, display: Option<&str>, accent: Option<&str>, support: Option<&str>) {
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "project_name",
            "app_name",
            "display_name",
            "accent_color",
            "accent_text_color",
            "support_url",
            "logo",
            "updated_at"
        ],
        "{body}"
    );
    assert_eq!(body["project_name"], project, "{body}");
    assert_eq!(body["app_name"], display.unwrap_or(project), "{body}");
    assert_eq!(body["display_name"], json!(display), "{body}");
    assert_eq!(body["accent_color"], json!(accent), "{body}");
    let text = accent.map(|a| if a == "#ffcc00" { "#000000" } else { "#ffffff" });
    assert_eq!(body["accent_text_color"], json!(text), "{body}");
    assert_eq!(body["support_url"], json!(support), "{body}");
}

#[tokio::test]
async fn settings_start_empty_and_patch_sets_keeps_and_clears_each_field() {
    let app = spawn_app().await;
    let body = app.get("link_page").await.expect(200, "get").clone();
    let project = body["project_name"].as_str().unwrap().to_owned();
    assert_settings(&body, &project, None, None, None);
    assert_eq!(body["logo"], Value::Null);
    assert_eq!(body["updated_at"], Value::Null, "never set");

    let r = app
        .patch(
            "link_page",
            json!({"display_name": "  Acme Mail ", "accent_color": "#FFCC00", "support_url": "https://help.acme.example/connect"}),
        )
        .await;
    let body = r.expect(200, "patch").clone();
    assert_settings(&body, &project, Some("Acme Mail"), Some("#ffcc00"), Some("https://help.acme.example/connect"));
    assert!(body["updated_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    assert_eq!(app.v3().get("link_page").await.expect(200, "v3 get"), &body, "both versions, same settings");

    // Absent fields stay; null clears only the field it names.
    let r = app.patch("link_page", json!({"accent_color": "#123456"})).await;
    assert_settings(
        r.expect(200, "accent"),
        &project,
        Some("Acme Mail"),
        Some("#123456"),
        Some("https://help.acme.example/connect"),
    );
    let r = app.patch("link_page", json!({"display_name": null, "support_url": null})).await;
    assert_settings(r.expect(200, "clear"), &project, None, Some("#123456"), None);
    let r = app.patch("link_page", json!({})).await;
    assert_settings(r.expect(200, "empty patch"), &project, None, Some("#123456"), None);
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_settings_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let before = app.patch("link_page", json!({"display_name": "Keep", "accent_color": "#2454d6"})).await;
    let before = before.expect(200, "setup").clone();
    let long = "x".repeat(81);
    let long_url = format!("https://h.example/{}", "a".repeat(2040));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("colour without #", json!({"accent_color": "2454d6"}), "accent_color"),
        ("short colour", json!({"accent_color": "#fff"}), "accent_color"),
        ("named colour", json!({"accent_color": "red"}), "accent_color"),
        ("non-hex colour", json!({"accent_color": "#gg0000"}), "accent_color"),
        ("css injection", json!({"accent_color": "#000000;}body{x:y"}), "accent_color"),
        ("http support URL", json!({"support_url": "http://help.example.com"}), "support_url"),
        ("javascript URL", json!({"support_url": "javascript:alert(1)"}), "support_url"),
        ("relative URL", json!({"support_url": "/help"}), "support_url"),
        ("user info", json!({"support_url": "https://user:pw@help.example.com"}), "support_url"),
        ("long URL", json!({"support_url": long_url}), "support_url"),
        ("empty name", json!({"display_name": "  "}), "display_name"),
        ("long name", json!({"display_name": long}), "display_name"),
        ("control character", json!({"display_name": "Ac\u{7}me"}), "display_name"),
        ("newline", json!({"display_name": "Ac\nme"}), "display_name"),
        ("number", json!({"display_name": 5}), "display_name"),
        ("unknown field", json!({"logo_url": "https://x.example/l.png"}), "logo_url"),
        ("two bad fields", json!({"accent_color": "blue", "support_url": "ftp://x"}), "support_url"),
    ];
    for (case, body, field) in cases {
        let r = app.patch("link_page", body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "[{case}] the message does not name {field}: {message}");
    }
    let r = app.patch("link_page", json!({"accent_color": "blue", "support_url": "ftp://x"})).await;
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("accent_color") && message.contains("support_url"), "every broken rule: {message}");
    assert_eq!(app.get("link_page").await.expect(200, "after"), &before, "nothing stored");
    let r = app.anonymous().get("link_page").await;
    assert_error_ctx(&r, 401, "Auth_NoAuthProvided", "no key");
    app.cleanup().await;
}

#[tokio::test]
async fn a_logo_is_served_from_authlink_at_its_content_address_to_anyone_and_only_while_current() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let r = put_logo(&app, &key, Some("image/png"), PNG.to_vec()).await;
    let body = r.expect(200, "put png").clone();
    let logo = &body["logo"];
    let sha = sha256_hex(PNG);
    assert_eq!(logo["content_type"], "image/png");
    assert_eq!(logo["sha256"], sha);
    assert_eq!(logo["size"], PNG.len());
    let url = logo["url"].as_str().unwrap().to_owned();
    let project = url.strip_prefix(&format!("{}/link-assets/logo/", app.public)).unwrap().split('/').next().unwrap();
    assert_eq!(url, format!("{}/link-assets/logo/{project}/{sha}", app.public));

    // Anyone can fetch it (the page has no API key): the bytes, typed, cached by content.
    let r = app.client.get(app.local(&url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(h("content-type"), "image/png");
    assert_eq!(h("etag"), format!("\"{sha}\""));
    assert_eq!(h("cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("content-security-policy"), "default-src 'none'; sandbox");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r = app.client.get(app.local(&url)).header("if-none-match", format!("\"{sha}\"")).send().await.unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());

    // Another project: no logo of its own, and the first project's logo is not reachable
    // under its id; a wrong hash or a malformed id are 404s too.
    let other = app.new_project_key("branding-other").await;
    let theirs = app.as_key(&other).get("link_page").await.expect(200, "other").clone();
    assert_eq!(theirs["logo"], Value::Null);
    assert_eq!(theirs["project_name"], "branding-other");
    let r = put_logo(&app, &other, Some("image/jpeg"), JPEG.to_vec()).await;
    let other_url = r.expect(200, "other jpeg")["logo"]["url"].as_str().unwrap().to_owned();
    let other_project = other_url.split('/').nth_back(1).unwrap().to_owned();
    assert_ne!(other_project, project);
    for (case, path) in [
        ("the other project's id with this logo", format!("/link-assets/logo/{other_project}/{sha}")),
        ("this project with the other's logo", format!("/link-assets/logo/{project}/{}", sha256_hex(JPEG))),
        ("a hash of nothing stored", format!("/link-assets/logo/{project}/{}", "0".repeat(64))),
        ("upper-case hash", format!("/link-assets/logo/{project}/{}", sha.to_uppercase())),
        ("short hash", format!("/link-assets/logo/{project}/abc")),
        ("malformed project", format!("/link-assets/logo/not-a-uuid/{sha}")),
    ] {
        let r = app.anonymous().get(&path).await;
        assert_error_ctx(&r, 404, "LinkPage_AssetNotFound", case);
    }
    let r = app.anonymous().get(&app.local(&other_url).replacen(&app.base, "", 1)).await;
    assert_eq!(r.status, 200, "the other project's own logo");
    assert_eq!(r.header("content-type"), Some("image/jpeg"));

    // A new logo has a new URL; the old one is gone. DELETE removes it.
    let r = put_logo(&app, &key, Some("image/webp"), WEBP.to_vec()).await;
    let body = r.expect(200, "put webp").clone();
    assert_eq!(body["logo"]["content_type"], "image/webp");
    assert_ne!(body["logo"]["url"], url.as_str());
    let r = app.client.get(app.local(&url)).send().await.unwrap();
    assert_eq!(r.status(), 404, "the replaced logo");
    let webp_url = body["logo"]["url"].as_str().unwrap().to_owned();
    let r = app.delete("link_page/logo").await;
    assert_eq!(r.expect(200, "delete")["logo"], Value::Null);
    let r = app.client.get(app.local(&webp_url)).send().await.unwrap();
    assert_eq!(r.status(), 404, "the deleted logo");
    app.cleanup().await;
}

#[tokio::test]
async fn bad_logos_are_refused_naming_the_rule_and_nothing_is_stored() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let mut oversize = PNG.to_vec();
    oversize.resize(256 * 1024 + 1, 0);
    let mut at_limit = PNG.to_vec();
    at_limit.resize(256 * 1024, 0);
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        ("empty", Some("image/png"), vec![], "body"),
        ("over 256 KiB", Some("image/png"), oversize, "262144"),
        ("svg", Some("image/svg+xml"), svg.clone(), "Content-Type"),
        ("svg declared as png", Some("image/png"), svg, "body"),
        ("html", Some("text/html"), b"<html></html>".to_vec(), "Content-Type"),
        ("gif", Some("image/gif"), b"GIF89a".to_vec(), "Content-Type"),
        ("no content type", None, PNG.to_vec(), "Content-Type"),
        ("jpeg bytes as png", Some("image/png"), JPEG.to_vec(), "body"),
        ("png bytes as webp", Some("image/webp"), PNG.to_vec(), "body"),
        ("riff without webp", Some("image/webp"), b"RIFF\0\0\0\0AVI LIST".to_vec(), "body"),
    ];
    for (case, content_type, body, names) in cases {
        let r = put_logo(&app, &key, content_type, body).await;
        assert_error_ctx(&r, 400, "ToolRouterV2_BadRequest", case);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "[{case}] {message}");
    }
    assert_eq!(app.get("link_page").await.expect(200, "after")["logo"], Value::Null, "nothing stored");
    let r = put_logo(&app, &key, Some("image/png"), at_limit).await;
    assert_eq!(r.expect(200, "exactly 256 KiB")["logo"]["size"], 256 * 1024);
    app.cleanup().await;
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_land() {
    let app = spawn_app().await;
    for round in 0..5 {
        let name = format!("Name {round}");
        let color = format!("#00000{round}");
        let (a, b) = tokio::join!(
            app.patch("link_page", json!({"display_name": name})),
            app.patch("link_page", json!({"accent_color": color})),
        );
        a.expect(200, "name");
        b.expect(200, "colour");
        let now = app.get("link_page").await.expect(200, "get").clone();
        assert_eq!(now["display_name"], name.as_str(), "round {round}: {now}");
        assert_eq!(now["accent_color"], color.as_str(), "round {round}: {now}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn the_link_page_shows_the_app_its_logo_accent_support_link_provider_and_scopes() {
    let app = spawn_app().await;
    let project = app.get("link_page").await.expect(200, "get")["project_name"].as_str().unwrap().to_owned();
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    // Unbranded: the project's name is the app's.
    let html = app.client.get(link(&app, &session).await).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains(&format!("<strong>{project}</strong> asks to connect your <strong>GitHub</strong> account")),
        "{html}"
    );
    assert!(!html.contains("link-assets/"), "no branding assets: {html}");
    for scope in ["repo", "read:user", "user:email"] {
        assert!(html.contains(&format!("<li><code>{scope}</code></li>")), "scope {scope}: {html}");
    }
    assert!(html.contains("<h2>Access requested</h2>"), "{html}");

    app.patch(
        "link_page",
        json!({"display_name": "Acme <Mail>", "accent_color": "#ffcc00", "support_url": "https://help.acme.example/?a=1&b=2"}),
    )
    .await
    .expect(200, "brand");
    let logo = put_logo(&app, &app.api_key, Some("image/png"), PNG.to_vec()).await;
    let logo_url = logo.expect(200, "logo")["logo"]["url"].as_str().unwrap().to_owned();
    let page_url = link(&app, &session).await;
    let r = app.client.get(&page_url).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'self'; frame-ancestors 'none'; form-action 'self'"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<span class=\"app\">Acme &lt;Mail&gt;</span>"), "escaped app name: {html}");
    assert!(html.contains("<strong>Acme &lt;Mail&gt;</strong> asks to connect"), "{html}");
    assert!(html.contains("<title>Connect GitHub · Acme &lt;Mail&gt;</title>"), "{html}");
    assert!(html.contains("href=\"https://help.acme.example/?a=1&amp;b=2\""), "support link: {html}");
    assert!(html.contains(">Need help? Contact Acme &lt;Mail&gt; support</a>"), "{html}");
    let path = logo_url.strip_prefix(&format!("{}/", app.public)).unwrap();
    assert!(html.contains(&format!("<img src=\"../{path}\"")), "relative logo: {html}");
    assert!(html.contains("<link rel=\"stylesheet\" href=\"../link-assets/accent/ffcc00\">"), "{html}");
    // Both resolve on authlink's origin.
    let base = url::Url::parse(&page_url).unwrap();
    let logo = app.client.get(base.join(&format!("../{path}")).unwrap()).send().await.unwrap();
    assert_eq!(logo.status(), 200);
    let css = app.client.get(base.join("../link-assets/accent/ffcc00").unwrap()).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        css.text().await.unwrap(),
        ":root { --accent: #ffcc00; --on-accent: #000000; }\n",
        "dark text on yellow"
    );
    let css = app.anonymous().get("/link-assets/accent/1A3FA6").await;
    assert_eq!(css.text, ":root { --accent: #1a3fa6; --on-accent: #ffffff; }\n");
    for bad in ["fff", "gggggg", "ffcc00;x", "ffcc000"] {
        let r = app.anonymous().get(&format!("/link-assets/accent/{bad}")).await;
        assert_error_ctx(&r, 404, "LinkPage_AssetNotFound", bad);
    }
    app.cleanup().await;
}

async fn link(app: &TestApp, session: &str) -> String {
    let r = app.link(session, json!({"toolkit": "github", "callback_url": "https://app.example.com/cb"})).await;
    app.local(r.expect(201, "link")["redirect_url"].as_str().unwrap())
}

/// The support link every branded page carries.
const SUPPORT: &str = "https://help.acme.example/connect";

/// The path of the project's logo, which a branded page's `<img>` must resolve to.
struct Branded {
    logo_path: String,
}

/// Brands the key's project fully: name, accent colour, support link and logo.
async fn brand(app: &TestApp, key: &str) -> Branded {
    let r = app
        .as_key(key)
        .patch("link_page", json!({"display_name": "Acme Mail", "accent_color": "#6d28d9", "support_url": SUPPORT}))
        .await;
    r.expect(200, "brand");
    let r = put_logo(app, key, Some("image/png"), PNG.to_vec()).await;
    let url = r.expect(200, "logo")["logo"]["url"].as_str().unwrap().to_owned();
    Branded { logo_path: url::Url::parse(&url).unwrap().path().to_owned() }
}

/// The value of the attribute that ends `before` (`…src="`).
#[track_caller]
fn attr<'a>(html: &'a str, before: &str, what: &str) -> &'a str {
    html.split(before).nth(1).and_then(|r| r.split('"').next()).unwrap_or_else(|| panic!("{what}: no {before}: {html}"))
}

/// The page at `page_url` shows the brand: the app's name (header and title), the logo and the
/// accent stylesheet, both relative links that resolve on authlink's origin from this URL, and
/// the support link.
#[track_caller]
fn assert_branded(page_url: &str, html: &str, brand: &Branded, what: &str) {
    assert!(html.contains("<span class=\"app\">Acme Mail</span>"), "{what}: the app's name: {html}");
    assert!(html.contains(" · Acme Mail</title>"), "{what}: the title names the app: {html}");
    let base = url::Url::parse(page_url).unwrap();
    let logo = base.join(attr(html, "<div class=\"brand\"><img src=\"", what)).unwrap();
    assert_eq!(logo.path(), brand.logo_path, "{what}: the logo");
    let accent = base.join(attr(html, "authlink.css\"><link rel=\"stylesheet\" href=\"", what)).unwrap();
    assert_eq!(accent.path(), "/link-assets/accent/6d28d9", "{what}: the accent stylesheet");
    let support = attr(html, "<p class=\"support\"><a href=\"", what);
    assert_eq!(support, SUPPORT, "{what}: the support link");
    let text = html.split("rel=\"noopener noreferrer\">").nth(1).and_then(|r| r.split("</a>").next()).unwrap_or("");
    assert!(text.contains("Acme Mail"), "{what}: the support link names the app: {html}");
}

/// A page that belongs to no project: authlink's own look.
#[track_caller]
fn assert_unbranded(html: &str, what: &str) {
    assert!(html.contains(" · authlink</title>"), "{what}: {html}");
    for mark in ["class=\"brand\"", "link-assets/", "class=\"support\"", "Acme"] {
        assert!(!html.contains(mark), "{what}: {mark}: {html}");
    }
}

/// Every page state of an OAuth link of a branded project carries the brand: the link page, the
/// connected page, a replayed callback (state used), the used link (page and Continue), the
/// cookies-needed page, a callback in a foreign browser and the failed page (consent denied).
/// The pages that belong to no project (an unknown link, a callback without or with an unknown
/// state) stay authlink's, and another project's link shows that project, not this brand.
#[tokio::test]
async fn every_page_state_of_an_oauth_link_carries_the_projects_brand() {
    use crate::oauth_flow::{Browser, Flow, TOOLKIT};
    let flow = Flow::new().await;
    let b = brand(&flow.app, &flow.app.api_key).await;
    // No callback URL: the flow ends on authlink's own pages.
    let body = json!({"toolkit": TOOLKIT});

    let link = flow.link_with(body.clone()).await;
    let mut browser = Browser::new();
    let page = browser.get(&link.redirect_url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert_branded(&link.redirect_url, &page.html, &b, "link page");
    let (back, _) = flow.to_callback(&mut browser, &link).await;
    let page = browser.get(back.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("is connected"), "{}", page.html);
    assert_branded(back.as_str(), &page.html, &b, "connected");
    let page = browser.get(back.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("already completed"), "{}", page.html);
    assert_branded(back.as_str(), &page.html, &b, "state used");
    let page = Browser::new().get(&link.redirect_url).await;
    assert_eq!(page.status, 410, "{}", page.html);
    assert_branded(&link.redirect_url, &page.html, &b, "used link");
    let continue_url = format!("{}/continue", link.redirect_url);
    let page = browser.post(&continue_url).await;
    assert_eq!(page.status, 410, "{}", page.html);
    assert_branded(&continue_url, &page.html, &b, "Continue on a used link");

    let fresh = flow.link_with(body.clone()).await;
    let continue_url = format!("{}/continue", fresh.redirect_url);
    let page = Browser::new().post(&continue_url).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("Cookies are needed"), "{}", page.html);
    assert_branded(&continue_url, &page.html, &b, "cookies needed");
    let (back, _) = flow.to_callback(&mut Browser::new(), &fresh).await;
    let page = Browser::new().get(back.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("different browser"), "{}", page.html);
    assert_branded(back.as_str(), &page.html, &b, "foreign browser");

    flow.idp.set_consent(crate::fake_oauth::Consent::Deny);
    let denied = flow.link_with(body.clone()).await;
    let mut browser = Browser::new();
    let (back, _) = flow.to_callback(&mut browser, &denied).await;
    let page = browser.get(back.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("The connection failed"), "{}", page.html);
    assert_branded(back.as_str(), &page.html, &b, "failed");

    let base = &flow.app.base;
    for (what, url, status) in [
        ("unknown link", format!("{base}/link/ln_{}", "A".repeat(32)), 404),
        ("malformed link", format!("{base}/link/nope"), 404),
        ("callback without state", format!("{base}/oauth/callback"), 400),
        ("unknown state", format!("{base}/oauth/callback?state={}&code=c", "x".repeat(43)), 400),
    ] {
        let page = Browser::new().get(&url).await;
        assert_eq!(page.status, status, "{what}: {}", page.html);
        assert_unbranded(&page.html, what);
    }

    // Another project's link: its own name, none of this brand.
    let other = flow.app.new_project_key("plain-project").await;
    let api = flow.app.as_key(&other);
    let credentials = json!({"authorization_url": flow.idp.authorization_url(), "token_url": flow.idp.token_url()});
    flow.app.create_auth_config_with(&api, TOOLKIT, credentials).await;
    let r = api.post("tool_router/session", json!({"user_id": "u1", "toolkits": {"enable": [TOOLKIT]}})).await;
    let session = r.expect(201, "session")["session_id"].as_str().unwrap().to_owned();
    let r = api.post(&format!("tool_router/session/{session}/link"), body).await;
    let url = r.expect(201, "link")["redirect_url"].as_str().unwrap().to_owned();
    let page = Browser::new().get(&url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("<span class=\"app\">plain-project</span>"), "{}", page.html);
    for mark in ["link-assets/", "class=\"support\"", "Acme"] {
        assert!(!page.html.contains(mark), "the other project's page shows {mark}: {}", page.html);
    }
    flow.cleanup().await;
}

/// A link of the form catalog without a callback URL (the flow ends on authlink's pages).
async fn plain_form_link(app: &TestApp, toolkit: &str, scheme: &str) -> String {
    let config = crate::link_form::scheme_config(app, toolkit, scheme).await;
    let session = app.create_session(json!({"user_id": "u1", "auth_configs": {toolkit: config}})).await;
    let r = app.link(&session, json!({"toolkit": toolkit})).await;
    r.expect(201, "link")["redirect_url"].as_str().unwrap().to_owned()
}

/// Every page state of a form link of a branded project carries the brand: the form, the form
/// with its errors (in German too), every refused post (no cookie, forged, wrong type, too
/// large), the connected page, and the used and expired pages, on GET and POST alike.
#[tokio::test]
async fn every_page_state_of_a_form_link_carries_the_projects_brand() {
    use crate::link_form::{KEY, encode, form_app, open, post_raw, submit};
    let app = form_app().await;
    let b = brand(&app, &app.api_key.clone()).await;
    let url = plain_form_link(&app, "formkey", "API_KEY").await;
    let fields = format!("{url}/fields");
    let opened = open(&url).await;
    assert_branded(&url, &opened.html, &b, "form");
    assert!(opened.csp.starts_with("default-src 'self'; frame-ancestors 'none'; form-action 'self'"), "{}", opened.csp);
    let posted = submit(&url, &opened, &[("api_key", "nope")]).await;
    assert_eq!(posted.status, 400, "{}", posted.html);
    assert!(posted.html.contains("role=\"alert\""), "{}", posted.html);
    assert_branded(&fields, &posted.html, &b, "form with errors");
    let german = open(&format!("{url}?lang=de")).await;
    assert_branded(&url, &german.html, &b, "German form");
    assert!(
        german.html.contains(">Brauchen Sie Hilfe? Wenden Sie sich an den Support von Acme Mail</a>"),
        "{}",
        german.html
    );

    let form = Some("application/x-www-form-urlencoded");
    let valid = encode(&[("api_key", KEY), ("_csrf", &opened.csrf)]);
    let mut big = valid.clone();
    big.extend(b"&pad=");
    big.extend(std::iter::repeat_n(b'a', 33 * 1024));
    for (what, cookie, content_type, body, status) in [
        ("no cookie", None, form, valid.clone(), 400),
        ("forged", Some(opened.cookie.as_str()), form, encode(&[("api_key", KEY), ("_csrf", "x")]), 400),
        ("not a form", Some(opened.cookie.as_str()), Some("application/json"), b"{}".to_vec(), 415),
        ("too large", Some(opened.cookie.as_str()), form, big, 413),
        ("not UTF-8", Some(opened.cookie.as_str()), form, b"api_key=%FF".to_vec(), 400),
    ] {
        let posted = post_raw(&url, cookie, content_type, body).await;
        assert_eq!(posted.status, status, "{what}: {}", posted.html);
        assert_branded(&fields, &posted.html, &b, what);
    }

    let posted = submit(&url, &opened, &[("api_key", KEY)]).await;
    assert_eq!(posted.status, 200, "{}", posted.html);
    assert!(posted.html.contains("Your Form Key account is connected"), "{}", posted.html);
    assert_branded(&fields, &posted.html, &b, "connected");
    let posted = submit(&url, &opened, &[("api_key", KEY)]).await;
    assert_eq!(posted.status, 410, "{}", posted.html);
    assert_branded(&fields, &posted.html, &b, "posted again (used)");
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 410);
    assert_branded(&url, &page.text().await.unwrap(), &b, "used link");
    let unknown = format!("{}/link/ln_{}", app.base, "A".repeat(32));
    let posted = post_raw(&unknown, Some(&opened.cookie), form, valid).await;
    assert_eq!(posted.status, 404, "{}", posted.html);
    assert_unbranded(&posted.html, "unknown link's form post");
    app.cleanup().await;

    // Expired: the page and a post of the form opened before.
    let app = TestApp::builder()
        .catalog_dir(&crate::link_form::catalog_dir())
        .ttl(std::time::Duration::from_secs(2))
        .spawn()
        .await;
    let b = brand(&app, &app.api_key.clone()).await;
    let url = plain_form_link(&app, "formkey", "API_KEY").await;
    let opened = open(&url).await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 410);
    let html = page.text().await.unwrap();
    assert!(html.contains("This link has expired"), "{html}");
    assert_branded(&url, &html, &b, "expired link");
    let posted = submit(&url, &opened, &[("api_key", KEY)]).await;
    assert_eq!(posted.status, 410, "{}", posted.html);
    assert_branded(&format!("{url}/fields"), &posted.html, &b, "expired post");
    app.cleanup().await;
}
