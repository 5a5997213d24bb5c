//! The HTML shell of every page the end user sees: [`page`] is the one place that builds it, in
//! the user's language ([`View::lang`], from `?lang=`, the language cookie or `Accept-Language`)
//! and, when the project is known, with its branding (name, logo, accent colour, support link;
//! [`brand`] says which pages know it).
//! Pages load nothing from third parties and carry the headers of design §5.

pub mod assets;
pub mod brand;
pub mod branding;
mod stops;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header, request::Parts},
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

pub use self::stops::{connected_page, stop_page};
use crate::i18n::Lang;

/// The cookie keeping a language picked with `?lang=` for the later pages of the flow (the
/// provider's redirect back to the callback carries no `?lang=`).
pub const LANG_COOKIE: &str = "authlink_lang";

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages' Content-Security-Policy. `form-action` does not fall back to `default-src`, and
/// browsers apply it to every redirect after a form's POST too, so the link page (the Continue
/// form) names the provider's authorization origin beside `'self'`; every other page only `'self'`.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'";

pub fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// The language of a page request: `?lang=` when it names a language authlink speaks, else the
/// [`LANG_COOKIE`], else `Accept-Language`, else English. `pinned` is the explicit choice (query
/// or cookie), which the page's links and forms carry on.
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    pub lang: Lang,
    pub pinned: Option<Lang>,
}

impl PageLang {
    pub fn from_parts(parts: &Parts) -> Self {
        Self::from_request(&parts.uri, &parts.headers)
    }

    pub fn from_request(uri: &Uri, headers: &HeaderMap) -> Self {
        let query = uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::from_tag(&v))
        });
        let cookie = || CookieJar::from_headers(headers).get(LANG_COOKIE).and_then(|c| Lang::from_tag(c.value()));
        let pinned = query.or_else(cookie);
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let lang = pinned.unwrap_or_else(|| Lang::negotiate(None, accept));
        Self { lang, pinned }
    }

    /// `?lang=xx` when the language was picked explicitly, else nothing.
    pub fn query_suffix(&self) -> String {
        self.pinned.map(|l| format!("?lang={}", l.code())).unwrap_or_default()
    }

    /// The cookie remembering an explicit `?lang=` choice for `lifetime`.
    pub fn cookie(&self, lifetime: std::time::Duration, secure: bool) -> Option<Cookie<'static>> {
        let lang = self.pinned?;
        Some(
            Cookie::build((LANG_COOKIE, lang.code()))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .path("/")
                .max_age(time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)))
                .build(),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

/// A project's look on its pages (see [`branding`]).
#[derive(Debug, Clone, Default)]
pub struct Brand {
    /// The display name, else the project's name.
    pub app_name: String,
    /// The logo's path from the site root (`link-assets/logo/{project}/{sha256}`).
    pub logo_path: Option<String>,
    /// `rrggbb`, lower case.
    pub accent: Option<String>,
    pub support_url: Option<String>,
}

/// How a page is rendered: language, the way back to the site root, branding, and whether the
/// language links are shown (only where `?lang=` alone is a valid URL of the same page).
#[derive(Debug, Clone)]
pub struct View {
    pub lang: PageLang,
    /// Relative path back to the site root (`../`, `../../`).
    pub prefix: String,
    pub brand: Option<Brand>,
    pub switcher: bool,
}

impl View {
    pub fn new(lang: PageLang, prefix: &str) -> Self {
        Self { lang, prefix: prefix.to_owned(), brand: None, switcher: false }
    }

    /// The view with `brand` (see [`brand`] for which page shows which project's).
    #[must_use]
    pub fn branded(mut self, brand: Option<Brand>) -> Self {
        self.brand = brand;
        self
    }

    /// For a request whose path is `path`: one `../` per directory level back to the root.
    pub fn for_path(lang: PageLang, path: &str) -> Self {
        Self::new(lang, &"../".repeat(path.matches('/').count().saturating_sub(1)))
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.lang.text(key)
    }

    pub fn html(&self, key: &str, values: &[(&str, &str)]) -> String {
        self.lang.lang.html(key, values)
    }
}

/// A complete page: `<html lang>` of the view's language, the project's branding when known,
/// `title` (plain text) in `<title>`, `body` (HTML) inside `<main>`.
pub fn page(status: StatusCode, view: &View, title: &str, body: &str) -> Response {
    let prefix = &view.prefix;
    let brand = view.brand.as_ref();
    let accent = brand
        .and_then(|b| b.accent.as_deref())
        .map(|hex| format!("<link rel=\"stylesheet\" href=\"{prefix}link-assets/accent/{hex}\">"))
        .unwrap_or_default();
    let header = brand
        .map(|b| {
            let logo = b
                .logo_path
                .as_deref()
                .map(|p| format!("<img src=\"{prefix}{}\" alt=\"\" width=\"40\" height=\"40\">", escape(p)))
                .unwrap_or_default();
            format!("<div class=\"brand\">{logo}<span class=\"app\">{}</span></div>", escape(&b.app_name))
        })
        .unwrap_or_default();
    let support = brand
        .and_then(|b| Some((b, b.support_url.as_deref()?)))
        .map(|(b, url)| {
            format!(
                "<p class=\"support\"><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></p>",
                escape(url),
                view.html("link.support", &[("app", &escape(&b.app_name))])
            )
        })
        .unwrap_or_default();
    let switcher = if view.switcher { switcher(view.lang.lang) } else { String::new() };
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\" dir=\"ltr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {site}</title><link rel=\"stylesheet\" href=\"{prefix}assets/authlink.css\">{accent}</head>\
         <body><main>{header}{body}{support}</main>{switcher}</body></html>\n",
        lang = view.lang.lang.tag(),
        title = escape(title),
        site = escape(brand.map_or("authlink", |b| b.app_name.as_str())),
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    security_headers(response.headers_mut());
    response
}

/// The links to the page in every language, each named in its own.
fn switcher(current: Lang) -> String {
    let items: String = Lang::ALL
        .iter()
        .map(|&l| {
            let current = if l == current { " aria-current=\"true\"" } else { "" };
            format!(
                "<li><a href=\"?lang={code}\" hreflang=\"{tag}\" lang=\"{tag}\"{current}>{name}</a></li>",
                code = l.code(),
                tag = l.tag(),
                name = escape(l.text("lang.name")),
            )
        })
        .collect();
    format!("<nav class=\"langs\" aria-label=\"{}\"><ul>{items}</ul></nav>", escape(current.text("lang.label")))
}

/// A page with a title and one paragraph.
pub fn message_page(status: StatusCode, view: &View, title: &str, message_html: &str) -> Response {
    page(status, view, title, &format!("<h1>{}</h1><p>{message_html}</p>", escape(title)))
}

/// The rate limiter's 429 page (outside the connect flow's handlers), in the request's language.
pub(crate) fn rate_limited_page(uri: &Uri, headers: &HeaderMap, reset_secs: u64) -> Response {
    let view = View::for_path(PageLang::from_request(uri, headers), uri.path());
    let seconds = reset_secs.to_string();
    message_page(
        StatusCode::TOO_MANY_REQUESTS,
        &view,
        view.t("limit.title"),
        &view.html("limit.body", &[("seconds", &seconds)]),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
