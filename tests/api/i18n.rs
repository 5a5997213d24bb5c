//! The pages' language: `Accept-Language` (q-values, region and script subtags), the `?lang=`
//! override carried on by the page's form and a cookie, English as the fallback, and every
//! locale complete, on both stores.

use std::collections::HashMap;

use reqwest::redirect::Policy;
use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_app},
    link_form::{PASSWORD, encode, form_app, form_link, open},
};

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The translations as shipped, read from the data files themselves.
fn texts(code: &str) -> HashMap<String, String> {
    let path = format!("{}/assets/i18n/{code}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const CODES: [(&str, &str); 6] =
    [("en", "en"), ("de", "de"), ("es", "es"), ("fr", "fr"), ("ja", "ja"), ("zh", "zh-Hans")];

async fn link(app: &TestApp) -> String {
    app.create_auth_config("github").await;
    let session = app.create_session(json!({"user_id": "u1", "toolkits": {"enable": ["github"]}})).await;
    let r = app.link(&session, json!({"toolkit": "github", "callback_url": "https://app.example.com/cb"})).await;
    app.local(r.expect(201, "link")["redirect_url"].as_str().unwrap())
}

fn lang_of(html: &str) -> &str {
    html.split("<html lang=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("")
}

#[test]
fn every_locale_has_exactly_the_keys_and_placeholders_of_english() {
    assert_eq!(authlink::i18n::problems(), Vec::<String>::new());
    let en = texts("en");
    for (code, _) in CODES {
        let mut keys: Vec<String> = texts(code).into_keys().collect();
        keys.sort();
        let mut want: Vec<String> = en.keys().cloned().collect();
        want.sort();
        assert_eq!(keys, want, "{code}");
    }
    // The form's strings the hosted form uses exist.
    for key in [
        "form.heading",
        "form.intro_credentials",
        "form.intro_oauth",
        "form.submit_credentials",
        "form.optional",
        "form.errors",
        "form.error_title",
        "form.secrets_cleared",
        "form.cookies.body",
        "form.forged.title",
        "form.too_large.title",
        "form.unreadable.title",
        "form.wrong_type.body",
        "form.error.missing",
        "form.error.pattern",
        "form.error.too_long",
        "form.error.control",
        "form.error.whitespace",
        "form.error.host_label",
        "form.error.off_host",
        "form.error.unknown",
        "form.error.duplicate",
        "form.error.unusable",
        "form.error.item",
    ] {
        assert!(en.contains_key(key), "{key}");
    }
}

#[tokio::test]
async fn accept_language_picks_the_page_language_by_q_value_and_primary_subtag() {
    let app = spawn_app().await;
    let url = link(&app).await;
    for (header, code, tag) in [
        (None, "en", "en"),
        (Some("de-DE,de;q=0.9,en;q=0.8"), "de", "de"),
        (Some("en;q=0.3, es-MX;q=0.9"), "es", "es"),
        (Some("fr-CA"), "fr", "fr"),
        (Some("ja"), "ja", "ja"),
        (Some("zh-CN,zh;q=0.9"), "zh", "zh-Hans"),
        (Some("zh-Hans-SG"), "zh", "zh-Hans"),
        (Some("nl,it;q=0.9"), "en", "en"),
        (Some("nl, ja;q=0.1"), "ja", "ja"),
        (Some("de;q=0, fr;q=0.5"), "fr", "fr"),
        (Some("*"), "en", "en"),
        (Some("garbage;;q=x,,"), "en", "en"),
    ] {
        let mut rb = browser().get(&url);
        if let Some(h) = header {
            rb = rb.header("accept-language", h);
        }
        let html = rb.send().await.unwrap().text().await.unwrap();
        assert_eq!(lang_of(&html), tag, "{header:?}");
        let button = texts(code)["link.continue"].replace("{provider}", "GitHub");
        assert!(html.contains(&format!("<button type=\"submit\">{button}</button>")), "{header:?}: {html}");
        let heading = texts(code)["link.heading"].replace("{provider}", "GitHub");
        assert!(html.contains(&format!("<h1>{heading}</h1>")), "{header:?}: {html}");
    }
    // A page without a link (404) speaks the language too.
    for (code, tag) in CODES {
        let r = browser()
            .get(format!("{}/link/ln_{}", app.base, "A".repeat(32)))
            .header("accept-language", format!("{tag};q=0.8"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let html = r.text().await.unwrap();
        assert_eq!(lang_of(&html), tag);
        assert!(html.contains(&format!("<h1>{}</h1>", texts(code)["stop.not_found.title"])), "{code}: {html}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn lang_in_the_query_wins_and_is_carried_through_the_form_and_a_cookie() {
    let app = spawn_app().await;
    let url = link(&app).await;
    let r = browser().get(format!("{url}?lang=ja")).header("accept-language", "de").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let lang_cookie = cookies.iter().find(|c| c.starts_with("authlink_lang=")).expect("the language cookie").clone();
    assert!(lang_cookie.starts_with("authlink_lang=ja;"), "{lang_cookie}");
    let attrs = lang_cookie.to_ascii_lowercase();
    assert!(attrs.contains("httponly") && attrs.contains("samesite=lax") && attrs.contains("path=/"), "{lang_cookie}");
    let html = r.text().await.unwrap();
    assert_eq!(lang_of(&html), "ja");
    let token = url.rsplit('/').next().unwrap();
    assert!(html.contains(&format!("action=\"{token}/continue?lang=ja\"")), "the form keeps the language: {html}");
    // The language links, each in its own language, the current one marked.
    for (code, tag) in CODES {
        let name = &texts(code)["lang.name"];
        let current = if code == "ja" { " aria-current=\"true\"" } else { "" };
        let a = format!("<a href=\"?lang={code}\" hreflang=\"{tag}\" lang=\"{tag}\"{current}>{name}</a>");
        assert!(html.contains(&a), "{a}: {html}");
    }
    // Without ?lang= no cookie is set; an unknown ?lang= falls back to the header.
    let r = browser().get(format!("{url}?lang=xx")).header("accept-language", "fr").send().await.unwrap();
    assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("authlink_lang=")));
    assert_eq!(lang_of(&r.text().await.unwrap()), "fr");

    // Continue without the binding cookie, in the query's language.
    let r = browser().post(format!("{url}/continue?lang=zh")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert_eq!(lang_of(&html), "zh-Hans");
    assert!(html.contains(&format!("<h1>{}</h1>", texts("zh")["cookies.title"])), "{html}");

    // The callback has no ?lang= of its own (the provider builds its URL): the cookie carries it.
    let r = browser()
        .get(format!("{}/oauth/callback", app.base))
        .header("cookie", "authlink_lang=es")
        .header("accept-language", "de")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert_eq!(lang_of(&html), "es");
    assert!(html.contains(&texts("es")["stop.missing_state.body"]), "{html}");
    assert!(!html.contains("class=\"langs\""), "no language links where ?lang= alone would break the URL");
    app.cleanup().await;
}

/// The page's own escaping of a text (`&`, `<`, `>`, `"`, `'`).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A rule kind broken by a post: case, toolkit, pairs, the field blamed, whether it is an input
/// of the form (an unknown name is not), its label as HTML, the rule's `form.error.*` key, its `{max}`.
type RuleCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str, bool, &'a str, &'a str, &'a str);

/// Table over every rule kind the form can meet (each of `FieldRule`, but `Unusable`, which only
/// a catalog the validator refuses could produce): posted with `?lang=de`, `?lang=ja` and in
/// English, the inline error and the summary say the rule in that language, from the data
/// files, and never the API's English message or the value.
#[tokio::test]
async fn a_form_error_is_in_the_page_language_for_every_rule_kind() {
    let app = form_app().await;
    let good = [("subdomain", "acme"), ("username", "alice"), ("password", PASSWORD)];
    let with = |name: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<(&str, &str)> = good.iter().filter(|(k, _)| *k != name).copied().collect();
        pairs.push((name, value));
        pairs
    };
    let long: &'static str = Box::leak("p".repeat(8193).into_boxed_str());
    let long_tenant: &'static str = Box::leak("a".repeat(64).into_boxed_str());
    let odd = |tenant: &'static str| vec![("tenant", tenant), ("api_key", "key-0123456789")];
    let cases: Vec<RuleCase<'_>> = vec![
        ("required", "formbasic", with("username", ""), "username", true, "Username", "form.error.missing", ""),
        ("too long", "formbasic", with("password", long), "password", true, "Password", "form.error.too_long", "8192"),
        ("control", "formbasic", with("username", "a\tb"), "username", true, "Username", "form.error.control", ""),
        (
            "whitespace",
            "formbasic",
            with("username", "alice "),
            "username",
            true,
            "Username",
            "form.error.whitespace",
            "",
        ),
        (
            "pattern",
            "formbasic",
            with("subdomain", "evil.com/"),
            "subdomain",
            true,
            "Subdomain",
            "form.error.pattern",
            "",
        ),
        (
            "unknown",
            "formbasic",
            [&good[..], &[("admin", "1")]].concat(),
            "admin",
            false,
            "<code>admin</code>",
            "form.error.unknown",
            "",
        ),
        (
            "duplicate",
            "formbasic",
            [&good[..], &[("username", "bob")]].concat(),
            "username",
            true,
            "Username",
            "form.error.duplicate",
            "",
        ),
        ("host label", "formodd", odd("a&b"), "tenant", true, "Tenant", "form.error.host_label", ""),
        ("off host", "formodd", odd("a<b"), "tenant", true, "Tenant", "form.error.off_host", ""),
        ("template length", "formodd", odd(long_tenant), "tenant", true, "Tenant", "form.error.too_long", "63"),
    ];
    let scheme = |toolkit: &str| if toolkit == "formbasic" { "BASIC" } else { "API_KEY" };
    for (code, tag) in [("de", "de"), ("ja", "ja"), ("en", "en")] {
        let t = texts(code);
        for (case, toolkit, pairs, field, input, label, key, max) in &cases {
            let (url, id) = form_link(&app, toolkit, scheme(toolkit)).await;
            let opened = open(&format!("{url}?lang={code}")).await;
            let mut all = pairs.clone();
            all.push(("_csrf", opened.csrf.as_str()));
            let r = browser()
                .post(format!("{url}/fields?lang={code}"))
                .header("cookie", &opened.cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encode(&all))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{code}/{case}");
            let html = r.text().await.unwrap();
            assert_eq!(lang_of(&html), tag, "{code}/{case}");
            let provider = if *toolkit == "formbasic" { "Form Basic" } else { "Form Odd" };
            let message = escaped(&t[*key].replace("{max}", max).replace("{provider}", provider));
            let item = escaped(&t["form.error.item"]).replace("{message}", &message).replace("{label}", label);
            if *input {
                let inline = format!("<p class=\"error\" id=\"f-{field}-error\">{item}</p>");
                assert!(html.contains(&inline), "{code}/{case}: inline `{inline}`: {html}");
                let summary = format!("<li><a href=\"#f-{field}\">{item}</a></li>");
                assert!(html.contains(&summary), "{code}/{case}: summary `{summary}`: {html}");
            } else {
                assert!(html.contains(&format!("<li>{item}</li>")), "{code}/{case}: summary `{item}`: {html}");
            }
            assert_eq!(html.matches("<li>").count(), 1, "{code}/{case}: one error in the summary");
            if code != "en" {
                let english = escaped(&texts("en")[*key].replace("{max}", max).replace("{provider}", provider));
                assert!(!html.contains(&english), "{code}/{case}: English left: {html}");
            }
            for api in [
                "is required",
                "is longer than",
                "must not contain control",
                "must not start or end with whitespace",
                "does not match the pattern",
                "single host label",
                "off the provider",
                "is not a field of toolkit",
                "was sent more than once",
            ] {
                // (English's own wording may share words with the API's; its exact texts are checked above.)
                assert!(code == "en" || !html.contains(api), "{code}/{case}: the API's message `{api}`: {html}");
            }
            for secret in [PASSWORD, &long[..64]] {
                assert!(!html.contains(secret), "{code}/{case}: a secret echoed");
            }
            let account = app.get(&format!("connected_accounts/{id}")).await;
            assert_eq!(account.expect(200, "account")["status"], "INITIATED", "{code}/{case}: nothing stored");
        }
    }
    app.cleanup().await;
}
