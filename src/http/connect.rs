//! The end user's pages: `GET /link/{token}`, `POST /link/{token}/continue` and
//! `GET /oauth/callback`. Server-rendered HTML that works without JavaScript, loads nothing from
//! third parties, and carries the headers of design §5 on every response.

use axum::{
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{
    extract::{IdPath, PathId},
    pages::{
        CSP, PageLang, View, brand, branding, connected_page, escape, message_page, page, security_headers, stop_page,
    },
};
use crate::{
    AppState,
    crypto::sha256,
    domain::LinkToken,
    i18n::Lang,
    service::{
        connect::{self, CallbackParams, LinkPage, Outcome, Stop},
        oauth::random_secret,
    },
};

/// Name prefix of the browser-binding cookies, which tie an OAuth `state` to the browser that
/// pressed Continue. Each link has its own cookie (`authlink_binding_{link id}`), so two links
/// open in one browser never share or overwrite a binding; under https the name carries the
/// `__Host-` prefix, which browsers accept only Secure, with `Path=/` and no `Domain`, so no
/// sibling host can plant one.
const BINDING_COOKIE: &str = "authlink_binding_";
/// The `__Host-` form of [`BINDING_COOKIE`].
const HOST_BINDING_COOKIE: &str = "__Host-authlink_binding_";
/// At most this many binding cookies are tried at the callback.
const MAX_BINDINGS: usize = 32;

const STYLESHEET: &str = include_str!("../../assets/authlink.css");

/// [`CSP`] letting forms (Continue) also reach `origins`, each an `ascii_serialization` of a
/// URL origin (scheme, host, port); one carrying anything else (a space, quote or semicolon
/// could add directives) is left out.
fn csp_with_form_targets<'a>(origins: impl IntoIterator<Item = &'a str>) -> HeaderValue {
    let plain =
        |o: &&str| o.starts_with("http") && o.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:/[]".contains(&b));
    let mut csp = CSP.to_owned();
    for origin in origins.into_iter().filter(plain) {
        if !csp.split(' ').any(|s| s == origin) {
            csp.push(' ');
            csp.push_str(origin);
        }
    }
    HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(CSP))
}

fn is_https(state: &AppState) -> bool {
    state.settings.public_base.starts_with("https://")
}

fn binding_prefix(state: &AppState) -> &'static str {
    if is_https(state) { HOST_BINDING_COOKIE } else { BINDING_COOKIE }
}

/// The name of a link's binding cookie: the prefix and 72 bits of a digest of the token's hash,
/// which tells links apart without revealing anything of the token.
pub(crate) fn binding_name(state: &AppState, token: &LinkToken) -> String {
    let digest = sha256(&URL_SAFE_NO_PAD.encode(token.hash()));
    format!("{}{}", binding_prefix(state), URL_SAFE_NO_PAD.encode(&digest[..9]))
}

/// A link's binding cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` under https, no `Domain`; it
/// lasts as long as the link and a sign-in started at its end can.
pub(crate) fn binding_cookie(state: &AppState, name: String, value: String) -> Cookie<'static> {
    let lifetime = cookie_lifetime(state);
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(is_https(state))
        .path("/")
        .max_age(time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)))
        .build()
}

/// How long the flow's cookies last: the link's lifetime and the longest sign-in started at its end.
fn cookie_lifetime(state: &AppState) -> std::time::Duration {
    state.settings.link_ttl + std::time::Duration::from_secs(15 * 60)
}

/// The values of every binding cookie the browser sent (one per link it opened).
fn bindings<'a>(state: &AppState, jar: &'a CookieJar) -> Vec<&'a str> {
    let prefix = binding_prefix(state);
    jar.iter().filter(|c| c.name().starts_with(prefix)).map(Cookie::value).take(MAX_BINDINGS).collect()
}

/// A malformed token (or one that is not UTF-8) is a link that does not exist: the end user gets
/// the same "Link not found" page as for an unknown one, not an API error.
impl PathId for LinkToken {
    fn from_path(_: &str, raw: Option<&str>, parts: &Parts) -> Result<Self, Response> {
        raw.and_then(LinkToken::parse).ok_or_else(|| {
            stop_page(Stop::LinkNotFound, &View::for_path(PageLang::from_parts(parts), parts.uri.path()))
        })
    }
}

/// The link page: names the provider and the site the user returns to, one Continue button.
#[utoipa::path(get, path = "/link/{token}", tag = "connect", operation_id = "link_page",
    params(("token" = String, Path, description = "`ln_…` link token from `redirect_url`")),
    responses(
        (status = 200, description = "The page with the Continue button; sets the browser-binding cookie", content_type = "text/html"),
        (status = 404, description = "Unknown or malformed link", content_type = "text/html"),
        (status = 410, description = "Expired or already used link", content_type = "text/html"),
    ))]
pub async fn link_page(
    State(state): State<AppState>,
    jar: CookieJar,
    lang: PageLang,
    IdPath(token): IdPath<LinkToken>,
) -> Response {
    let mut view = View::new(lang, "../");
    // A toolkit that takes connection details (API key, basic, bearer, OAuth with fields) gets
    // the form of `connect_form` instead of the Continue button.
    if let Some(form) = super::connect_form::intercept(&state, &jar, &token, &view).await {
        return form;
    }
    let LinkPage { project, provider, toolkit: _, scopes, return_host, authorization_origin, callback_origin } =
        match connect::link_page(&state, token.as_str()).await {
            Ok(ready) => ready,
            // Only a usable link binds the browser: error pages set no cookie.
            Err(stop) => return link_stop_page(&state, &token, stop, view).await,
        };
    let name = binding_name(&state, &token);
    let jar = if jar.get(&name).is_some() { jar } else { jar.add(binding_cookie(&state, name, random_secret())) };
    let jar = match lang.cookie(cookie_lifetime(&state), is_https(&state)) {
        Some(cookie) => jar.add(cookie),
        None => jar,
    };
    let brand = branding::brand_for(&state, project).await;
    view.switcher = true;
    let provider_html = format!("<strong>{}</strong>", escape(&provider));
    let app_html = format!("<strong>{}</strong>", escape(&brand.app_name));
    let back = match return_host {
        Some(h) => view.html("link.back_to", &[("host", &format!("<strong>{}</strong>", escape(&h)))]),
        None => view.html("link.close", &[]),
    };
    let scopes_html = if scopes.is_empty() {
        format!("<p>{}</p>", view.html("link.no_scopes", &[]))
    } else {
        let items: String = scopes.iter().map(|s| format!("<li><code>{}</code></li>", escape(s))).collect();
        format!("<ul class=\"scopes\">{items}</ul>")
    };
    let body = format!(
        "<h1>{heading}</h1><p>{intro}{sep}{back}</p>\
         <h2>{scopes_title}</h2>{scopes_html}\
         <form method=\"post\" action=\"{token}/continue{lang}\"><button type=\"submit\">{button}</button></form>\
         <p class=\"fine\">{fine}</p>",
        heading = view.html("link.heading", &[("provider", &escape(&provider))]),
        // Japanese and Chinese put no space between sentences.
        sep = if matches!(lang.lang, Lang::Ja | Lang::Zh) { "" } else { " " },
        intro = view.html("link.intro", &[("app", &app_html), ("provider", &provider_html)]),
        scopes_title = view.html("link.scopes", &[]),
        token = escape(token.as_str()),
        lang = lang.query_suffix(),
        button = view.html("link.continue", &[("provider", &escape(&provider))]),
        fine = view.html("link.fine", &[]),
    );
    view.brand = Some(brand);
    let title = view.t("link.title").replace("{provider}", &provider);
    let mut response = page(StatusCode::OK, &view, &title, &body);
    // Continue's navigation: the provider, and when it asks nothing, back through authlink to the app.
    let csp = csp_with_form_targets(authorization_origin.iter().chain(&callback_origin).map(String::as_str));
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    (jar, response).into_response()
}

/// Continue: starts the authorization-code flow and redirects to the provider.
#[utoipa::path(post, path = "/link/{token}/continue", tag = "connect", operation_id = "link_continue",
    params(("token" = String, Path, description = "`ln_…` link token")),
    responses(
        (status = 302, description = "Redirect to the provider's authorization endpoint"),
        (status = 400, description = "No browser-binding cookie", content_type = "text/html"),
        (status = 404, description = "Unknown or malformed link", content_type = "text/html"),
        (status = 410, description = "Expired or already used link", content_type = "text/html"),
    ))]
pub async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    lang: PageLang,
    IdPath(token): IdPath<LinkToken>,
) -> Response {
    let view = View::new(lang, "../../");
    let Some(binding) = jar.get(&binding_name(&state, &token)).map(|c| c.value().to_owned()) else {
        // Without the cookie nothing starts; the page says why: the link's own state first (a used
        // or expired link says so), else that cookies are needed.
        return match connect::link_page(&state, token.as_str()).await {
            Ok(ready) => {
                let view = view.branded(Some(branding::brand_for(&state, ready.project).await));
                message_page(StatusCode::BAD_REQUEST, &view, view.t("cookies.title"), &view.html("cookies.body", &[]))
            }
            Err(stop) => link_stop_page(&state, &token, stop, view).await,
        };
    };
    match connect::start(&state, token.as_str(), &binding).await {
        Ok(url) => redirect(url.as_str()),
        Err(stop) => link_stop_page(&state, &token, stop, view).await,
    }
}

/// The page of a stop of the link `token`, branded with the link's project when it has one
/// (see [`brand`]).
pub(crate) async fn link_stop_page(state: &AppState, token: &LinkToken, stop: Stop, view: View) -> Response {
    let brand = if brand::has_project(&stop) { brand::of_link(state, token).await } else { None };
    stop_page(stop, &view.branded(brand))
}

/// The shared OAuth redirect URI, used by the one project without a redirect key (the first).
#[utoipa::path(get, path = "/oauth/callback", tag = "connect", operation_id = "oauth_callback",
    params(
        ("state" = Option<String>, Query, description = "The state authlink sent"),
        ("code" = Option<String>, Query, description = "Authorization code"),
        ("error" = Option<String>, Query, description = "The provider's error code"),
        ("error_description" = Option<String>, Query),
        ("iss" = Option<String>, Query, description = "Issuer (RFC 9207), checked when sent"),
        ("oauth_token" = Option<String>, Query, description = "OAuth 1.0a: the temporary token (instead of state)"),
        ("oauth_verifier" = Option<String>, Query, description = "OAuth 1.0a: the verifier, once the user approved"),
    ),
    responses(
        (status = 200, description = "Connected; no callback URL to return to", content_type = "text/html"),
        (status = 302, description = "Back to the app's callback_url"),
        (status = 400, description = "Bad, expired or foreign state, or a provider error", content_type = "text/html"),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    lang: PageLang,
    query: Result<Query<CallbackParams>, QueryRejection>,
) -> Response {
    finish_callback(&state, &jar, query, None, View::new(lang, "../")).await
}

/// A project's own OAuth redirect URI: a provider sends codes of that project's OAuth clients
/// here and nowhere else, so no tenant receives a code minted for another tenant's client.
#[utoipa::path(get, path = "/oauth/callback/{redirect_key}", tag = "connect",
    operation_id = "oauth_callback_for_project",
    params(
        ("redirect_key" = String, Path, description = "The project's redirect key"),
        ("state" = Option<String>, Query, description = "The state authlink sent"),
        ("code" = Option<String>, Query, description = "Authorization code"),
        ("error" = Option<String>, Query, description = "The provider's error code"),
        ("error_description" = Option<String>, Query),
        ("iss" = Option<String>, Query, description = "Issuer (RFC 9207), checked when sent"),
        ("oauth_token" = Option<String>, Query, description = "OAuth 1.0a: the temporary token (instead of state)"),
        ("oauth_verifier" = Option<String>, Query, description = "OAuth 1.0a: the verifier, once the user approved"),
    ),
    responses(
        (status = 200, description = "Connected; no callback URL to return to", content_type = "text/html"),
        (status = 302, description = "Back to the app's callback_url"),
        (status = 400, description = "Bad, expired or foreign state, a state of another project, or a provider error", content_type = "text/html"),
    ))]
pub async fn callback_for_project(
    State(state): State<AppState>,
    jar: CookieJar,
    lang: PageLang,
    redirect_key: Result<Path<String>, PathRejection>,
    query: Result<Query<CallbackParams>, QueryRejection>,
) -> Response {
    let view = View::new(lang, "../../");
    let Ok(Path(redirect_key)) = redirect_key else {
        let sent = query.as_ref().ok().and_then(|q| q.state.as_deref());
        return stop_page(Stop::WrongCallback, &view.branded(brand::of_state(&state, sent).await));
    };
    finish_callback(&state, &jar, query, Some(&redirect_key), view).await
}

async fn finish_callback(
    state: &AppState,
    jar: &CookieJar,
    query: Result<Query<CallbackParams>, QueryRejection>,
    redirect_key: Option<&str>,
    view: View,
) -> Response {
    let params = query.map(|q| q.0).unwrap_or_default();
    // Kept for the page's branding: the state names the project (see `brand::of_state`).
    let sent = params.state.clone();
    let bindings = bindings(state, jar);
    match connect::callback(state, params, &bindings, redirect_key).await {
        Ok(Outcome::Redirect(url)) => redirect(url.as_str()),
        Ok(Outcome::Done { provider }) => {
            connected_page(&view.branded(brand::of_state(state, sent.as_deref()).await), &provider)
        }
        Err(stop) => {
            let brand = if brand::has_project(&stop) { brand::of_state(state, sent.as_deref()).await } else { None };
            stop_page(stop, &view.branded(brand))
        }
    }
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    security_headers(response.headers_mut());
    response
}

/// The pages' only stylesheet, served from authlink itself (CSP `default-src 'self'`).
#[utoipa::path(get, path = "/assets/authlink.css", tag = "connect", operation_id = "stylesheet",
    responses((status = 200, description = "The link pages' stylesheet", content_type = "text/css")))]
pub async fn stylesheet() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

#[cfg(test)]
mod tests {
    use super::{CSP, csp_with_form_targets};

    #[test]
    fn form_targets_are_appended_only_when_they_are_plain_origins() {
        let csp = csp_with_form_targets(["https://idp.example.com:8443", "https://app.example.com"]);
        assert_eq!(
            csp,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self' https://idp.example.com:8443 https://app.example.com"
        );
        let csp = csp_with_form_targets(["http://[::1]:9000", "http://[::1]:9000"]);
        assert_eq!(csp, format!("{CSP} http://[::1]:9000"), "once");
        for bad in [
            "https://a.example; script-src *",
            "https://a.example 'unsafe-inline'",
            "https://a,b",
            "x\ny",
            "null",
            "'self'",
        ] {
            assert_eq!(csp_with_form_targets([bad]), CSP, "{bad}");
        }
        assert_eq!(csp_with_form_targets([]), CSP);
    }
}
