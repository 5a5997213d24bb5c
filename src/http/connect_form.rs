//! The hosted form's pages: `GET /link/{token}` of a link that takes connection details (API key,
//! bearer token, username and password, or an OAuth toolkit's `subdomain`), and its
//! `POST /link/{token}/fields`. Plain server-rendered HTML: labelled inputs, help text,
//! `type=password` for secrets, errors inline (`aria-invalid`, `aria-describedby`) and in a
//! summary; no JavaScript. A secret is never written back into a page.
//!
//! CSRF: the POST must carry the link's browser-binding cookie (set by the form page,
//! `SameSite=Lax`, so no cross-site form post carries it) and the form's hidden `_csrf` value, a
//! digest of that cookie (which the `HttpOnly` cookie's holder alone can produce). A post without
//! either stores nothing.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{
    connect::{binding_cookie, binding_name, link_stop_page, redirect},
    extract::IdPath,
    pages::{CSP, PageLang, View, brand, branding::brand_for, connected_page, escape, message_page, page, stop_page},
};
use crate::{
    AppState,
    catalog::{AuthScheme, FieldError, FieldRule},
    crypto::sha256,
    domain::LinkToken,
    i18n::Lang,
    service::{
        connect::Outcome,
        connect_form::{self, FormView, Submitted},
        oauth::random_secret,
    },
};

/// Largest accepted form body: a few fields of at most 8 KiB each.
pub const MAX_FORM_BYTES: usize = 32 * 1024;

/// Name of the form's hidden anti-forgery input (not a valid field name, so never a field).
const CSRF_FIELD: &str = "_csrf";

/// The form's hidden anti-forgery value for a binding cookie value.
fn csrf_value(binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(&format!("authlink form {binding}")))
}

/// For `GET /link/{token}`: the form page when the link takes details, its stop page when it
/// cannot be used (both branded with the link's project), `None` for a plain OAuth link (the
/// Continue page).
pub(crate) async fn intercept(
    state: &AppState,
    jar: &CookieJar,
    token: &LinkToken,
    page_view: &View,
) -> Option<Response> {
    let view = match connect_form::form_page(state, token.as_str()).await {
        Ok(Some(view)) => view,
        Ok(None) => return None,
        Err(stop) => return Some(link_stop_page(state, token, stop, page_view.clone()).await),
    };
    let page_view = &page_view.clone().branded(Some(brand_for(state, view.project).await));
    let name = binding_name(state, token);
    let (jar, binding) = match jar.get(&name) {
        Some(c) => (jar.clone(), c.value().to_owned()),
        None => {
            let value = random_secret();
            (jar.clone().add(binding_cookie(state, name, value.clone())), value)
        }
    };
    let form = Form {
        view: &view,
        action: format!("{}/fields{}", token.as_str(), page_view.lang.query_suffix()),
        csrf: csrf_value(&binding),
    };
    let response = form.render(StatusCode::OK, &[], &Default::default(), page_view);
    Some((jar, response).into_response())
}

/// One rendering of the form.
struct Form<'a> {
    view: &'a FormView,
    /// Relative to the page's URL; keeps an explicitly picked language (`?lang=`).
    action: String,
    csrf: String,
}

impl Form<'_> {
    fn render(
        &self,
        status: StatusCode,
        errors: &[FieldError],
        kept: &std::collections::BTreeMap<String, String>,
        page_view: &View,
    ) -> Response {
        let t = page_view;
        let view = self.view;
        let provider = escape(&view.provider);
        let fill = |key: &str| t.html(key, &[("provider", &provider)]);
        let oauth = view.scheme == AuthScheme::OAuth2;
        let back = match &view.return_host {
            Some(h) => t.html("link.back_to", &[("host", &format!("<strong>{}</strong>", escape(h)))]),
            None => t.html("link.close", &[]),
        };
        // Japanese and Chinese put no space between sentences.
        let sep = if matches!(t.lang.lang, Lang::Ja | Lang::Zh) { "" } else { " " };
        let mut body = format!(
            "<h1>{}</h1><p>{}{sep}{back}</p>",
            fill("form.heading"),
            fill(if oauth { "form.intro_oauth" } else { "form.intro_credentials" })
        );
        if !errors.is_empty() {
            body.push_str(&error_summary(view, errors, t, &provider));
        }
        body.push_str(&format!("<form method=\"post\" action=\"{}\" class=\"fields\">", escape(&self.action)));
        for field in &view.fields {
            let id = format!("f-{}", field.name);
            let error = errors.iter().find(|e| e.field == field.name);
            let mut described = Vec::new();
            let mut html = format!("<div class=\"field{}\">", if error.is_some() { " invalid" } else { "" });
            html.push_str(&format!("<label for=\"{id}\">{}", escape(&field.label)));
            if !field.required {
                html.push_str(&format!(" <span class=\"optional\">({})</span>", t.html("form.optional", &[])));
            }
            html.push_str("</label>");
            if !field.help.is_empty() {
                html.push_str(&format!("<p class=\"help\" id=\"{id}-help\">{}</p>", escape(&field.help)));
                described.push(format!("{id}-help"));
            }
            if let Some(e) = error {
                html.push_str(&format!(
                    "<p class=\"error\" id=\"{id}-error\">{}</p>",
                    error_item(t, &escape(&field.label), e, &provider)
                ));
                described.push(format!("{id}-error"));
            }
            let value = if field.secret { None } else { kept.get(&field.name) };
            html.push_str(&format!(
                "<input id=\"{id}\" name=\"{name}\" type=\"{kind}\"{value}{required}{invalid}{described} \
                 autocomplete=\"off\" autocapitalize=\"none\" spellcheck=\"false\">",
                name = escape(&field.name),
                kind = if field.secret { "password" } else { "text" },
                value = value.map(|v| format!(" value=\"{}\"", escape(v))).unwrap_or_default(),
                required = if field.required { " required" } else { "" },
                invalid = if error.is_some() { " aria-invalid=\"true\"" } else { "" },
                described = if described.is_empty() {
                    String::new()
                } else {
                    format!(" aria-describedby=\"{}\"", described.join(" "))
                },
            ));
            html.push_str("</div>");
            body.push_str(&html);
        }
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\"><button type=\"submit\">{}</button></form>\
             <p class=\"fine\">{}</p>",
            escape(&self.csrf),
            fill(if oauth { "link.continue" } else { "form.submit_credentials" }),
            t.html("link.fine", &[])
        ));
        // Plain text: `page` escapes the title.
        let title = t.t("link.title").replace("{provider}", &view.provider);
        let title = if errors.is_empty() { title } else { t.t("form.error_title").replace("{title}", &title) };
        let mut response = page(status, page_view, &title, &body);
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, form_csp(&view.form_targets));
        response
    }
}

/// One error as the page says it: the field's label and its rule's text in the page's language
/// (`form.error.*`; the API's English message is not shown), which never holds the value.
/// `label` and `provider` are HTML.
fn error_item(t: &View, label: &str, e: &FieldError, provider: &str) -> String {
    let max = match e.rule {
        FieldRule::TooLong { max } => max.to_string(),
        _ => String::new(),
    };
    let message = t.html(e.rule.text_key(), &[("max", &max), ("provider", provider)]);
    t.html("form.error.item", &[("message", &message), ("label", label)])
}

/// The summary above the form: every error, each linking to its input (errors of names that
/// are not inputs, such as an unknown field, appear here only).
fn error_summary(view: &FormView, errors: &[FieldError], t: &View, provider: &str) -> String {
    let mut items = String::new();
    for e in errors {
        match view.fields.iter().find(|f| f.name == e.field) {
            Some(f) => items.push_str(&format!(
                "<li><a href=\"#f-{}\">{}</a></li>",
                escape(&f.name),
                error_item(t, &escape(&f.label), e, provider)
            )),
            None => items.push_str(&format!(
                "<li>{}</li>",
                error_item(t, &format!("<code>{}</code>", escape(&e.field)), e, provider)
            )),
        }
    }
    let secrets = if view.fields.iter().any(|f| f.secret) {
        format!("<p>{}</p>", t.html("form.secrets_cleared", &[]))
    } else {
        String::new()
    };
    format!(
        "<div class=\"error-summary\" role=\"alert\" aria-labelledby=\"error-summary-title\" tabindex=\"-1\">\
         <h2 id=\"error-summary-title\">{}</h2><ul>{items}</ul>{secrets}</div>",
        t.html("form.errors", &[])
    )
}

/// [`CSP`] letting the form's POST (and the redirects after it) reach the given sources: each
/// `http(s)://host[:port]`, the host optionally `*.`-prefixed (a templated provider host) or a
/// bracketed IPv6 literal; anything else (a space, quote or semicolon could add directives) is
/// left out.
fn form_csp(sources: &[String]) -> HeaderValue {
    let plain = |s: &&String| {
        let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else { return false };
        let rest = rest.strip_prefix("*.").unwrap_or(rest);
        !rest.is_empty()
            && !rest.starts_with(['.', ':'])
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    };
    let mut csp = CSP.to_owned();
    for source in sources.iter().filter(plain) {
        if !csp.split(' ').any(|s| s == source) {
            csp.push(' ');
            csp.push_str(source);
        }
    }
    HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(CSP))
}

/// A page of one title key and one body key.
fn notice(view: &View, status: StatusCode, title: &str, body: &str) -> Response {
    message_page(status, view, view.t(title), &view.html(body, &[]))
}

fn is_form_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// `application/x-www-form-urlencoded` pairs; `None` when a name or value is not UTF-8 once
/// decoded (the lossy decoder's U+FFFD stands for that) or holds NUL.
fn parse_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if k.contains(['\u{FFFD}', '\0']) || v.contains(['\u{FFFD}', '\0']) {
            return None;
        }
        pairs.push((k.into_owned(), v.into_owned()));
    }
    Some(pairs)
}

/// The form's POST: the details checked, then the account connected (or the provider's
/// sign-in started), or the form again with its errors.
#[utoipa::path(post, path = "/link/{token}/fields", tag = "connect", operation_id = "link_fields",
    params(("token" = String, Path, description = "`ln_…` link token")),
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "One pair per connection field of the toolkit (`api_key`, `username`, `password`, \
                       `subdomain`, …) and the form's hidden `_csrf` value"),
    responses(
        (status = 302, description = "Connected: back to the app's callback with `status=success`; or, for OAuth, on to the provider's authorization endpoint"),
        (status = 200, description = "Connected; no callback URL to return to", content_type = "text/html"),
        (status = 400, description = "Invalid values (the form again, errors inline), or no browser-binding cookie or `_csrf`", content_type = "text/html"),
        (status = 404, description = "Unknown or malformed link", content_type = "text/html"),
        (status = 410, description = "Expired or already used link", content_type = "text/html"),
        (status = 413, description = "Body larger than 32 KiB", content_type = "text/html"),
        (status = 415, description = "Not `application/x-www-form-urlencoded`", content_type = "text/html"),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    lang: PageLang,
    IdPath(token): IdPath<LinkToken>,
    body: Body,
) -> Response {
    // Every page this POST answers with is of this link: its project's brand, when it has one.
    let pv = View::new(lang, "../../").branded(brand::of_link(&state, &token).await);
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
        return close(notice(&pv, StatusCode::PAYLOAD_TOO_LARGE, "form.too_large.title", "form.too_large.body"));
    }
    if !is_form_type(&headers) {
        return close(notice(&pv, StatusCode::UNSUPPORTED_MEDIA_TYPE, "form.unreadable.title", "form.wrong_type.body"));
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return close(notice(&pv, StatusCode::PAYLOAD_TOO_LARGE, "form.too_large.title", "form.too_large.body"));
    };
    let Some(binding) = jar.get(&binding_name(&state, &token)).map(|c| c.value().to_owned()) else {
        // The link's own state first (a used or expired link says so), else that cookies are needed.
        return match connect_form::form_page(&state, token.as_str()).await {
            Ok(_) => notice(&pv, StatusCode::BAD_REQUEST, "cookies.title", "form.cookies.body"),
            Err(stop) => stop_page(stop, &pv),
        };
    };
    let Some(mut pairs) = parse_pairs(&bytes) else {
        return notice(&pv, StatusCode::BAD_REQUEST, "form.unreadable.title", "form.unreadable.body");
    };
    let csrf = csrf_value(&binding);
    let sent: Vec<String> = pairs.iter().filter(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.clone()).collect();
    if sent.len() != 1 || sha256(&sent[0]) != sha256(&csrf) {
        tracing::warn!("link form posted without its anti-forgery value");
        return notice(&pv, StatusCode::BAD_REQUEST, "form.forged.title", "form.forged.body");
    }
    pairs.retain(|(k, _)| k != CSRF_FIELD);
    match connect_form::submit(&state, token.as_str(), &binding, pairs).await {
        Ok(Submitted::Outcome(Outcome::Redirect(url))) => redirect(url.as_str()),
        Ok(Submitted::Outcome(Outcome::Done { provider })) => connected_page(&pv, &provider),
        Ok(Submitted::Invalid { view, errors, kept }) => {
            let form = Form { view: &view, action: format!("fields{}", pv.lang.query_suffix()), csrf };
            form.render(StatusCode::BAD_REQUEST, &errors, &kept, &pv)
        }
        Err(stop) => stop_page(stop, &pv),
    }
}

/// A body left (partly) unread: the connection is not reused.
fn close(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::{CSP, form_csp, parse_pairs};

    #[test]
    fn form_csp_takes_plain_and_wildcard_origins_only() {
        let sources =
            ["https://*.zendesk.com", "http://127.0.0.1:9000", "http://[::1]:9000", "http://*.localhost:4000"]
                .map(String::from);
        assert_eq!(
            form_csp(&sources),
            format!("{CSP} https://*.zendesk.com http://127.0.0.1:9000 http://[::1]:9000 http://*.localhost:4000")
        );
        for bad in [
            "https://a.example; script-src *",
            "https://*",
            "https://*.",
            "https://**.a.example",
            "'self'",
            "https://a b",
        ] {
            assert_eq!(form_csp(&[bad.to_owned()]), CSP, "{bad}");
        }
    }

    #[test]
    fn pairs_must_be_utf8_without_nul() {
        assert_eq!(
            parse_pairs(b"api_key=sk-1%2B2+3&_csrf=x").unwrap(),
            [("api_key".to_owned(), "sk-1+2 3".to_owned()), ("_csrf".to_owned(), "x".to_owned())]
        );
        assert!(parse_pairs(b"api_key=%FF").is_none());
        assert!(parse_pairs(b"api_key=a%00b").is_none());
        assert!(parse_pairs(b"%C3=x").is_none());
        assert_eq!(parse_pairs(b"").unwrap(), []);
    }
}
