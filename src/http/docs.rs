//! `GET /docs`: the API reference, rendered in the browser by Swagger UI from the same
//! `/openapi.json` the router is built with. Swagger UI (npm `swagger-ui-dist` 5.35.0,
//! Apache-2.0) is vendored in `assets/swagger-ui/` and embedded in the binary: the page loads
//! nothing from another origin, and its CSP says so.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

const BUNDLE: &str = include_str!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../../assets/swagger-ui/swagger-ui.css");
const INIT: &str = include_str!("../../assets/swagger-ui/init.js");

/// Scripts and styles from this origin only; Swagger UI sets inline `style` attributes, hence
/// `'unsafe-inline'` for styles (not scripts); its requests (the document, "Try it out") go to
/// this origin only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                       img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                       base-uri 'none'; form-action 'none'";

const PAGE: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>authlink API reference</title><link rel=\"icon\" href=\"data:,\">\
<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head>\
<body><div id=\"swagger-ui\"></div>\
<noscript>The API reference needs JavaScript; the document itself is at <a href=\"/openapi.json\">/openapi.json</a>.</noscript>\
<script src=\"/docs/swagger-ui-bundle.js\"></script><script src=\"/docs/init.js\"></script></body></html>\n";

fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `GET /docs`.
#[utoipa::path(get, path = "/docs", tag = "health", operation_id = "api_reference",
    responses((status = 200, description = "The API reference page (Swagger UI on /openapi.json)", content_type = "text/html")))]
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE, "no-cache")
}

/// `GET /docs/swagger-ui-bundle.js`.
#[utoipa::path(get, path = "/docs/swagger-ui-bundle.js", tag = "health", operation_id = "api_reference_script",
    responses((status = 200, description = "Swagger UI (vendored)", content_type = "text/javascript")))]
pub async fn bundle() -> Response {
    asset("text/javascript; charset=utf-8", BUNDLE, "public, max-age=86400")
}

/// `GET /docs/swagger-ui.css`.
#[utoipa::path(get, path = "/docs/swagger-ui.css", tag = "health", operation_id = "api_reference_stylesheet",
    responses((status = 200, description = "Swagger UI's stylesheet (vendored)", content_type = "text/css")))]
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", CSS, "public, max-age=86400")
}

/// `GET /docs/init.js`.
#[utoipa::path(get, path = "/docs/init.js", tag = "health", operation_id = "api_reference_init",
    responses((status = 200, description = "Starts Swagger UI on /openapi.json", content_type = "text/javascript")))]
pub async fn init() -> Response {
    asset("text/javascript; charset=utf-8", INIT, "no-cache")
}
