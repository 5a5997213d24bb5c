//! The branding assets the pages load from authlink's own origin: a project's logo
//! (`/link-assets/logo/{project}/{sha256}`, immutable: a new logo has a new URL) and the accent
//! stylesheet (`/link-assets/accent/{rrggbb}`, which sets the button colour through CSS custom
//! properties, so the pages need no inline style and the CSP stays `default-src 'self'`).

use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use uuid::Uuid;

use crate::{AppState, error::ApiError, store::ProjectId};

/// WCAG 2.x relative luminance of an sRGB colour given as `rrggbb`.
fn luminance(hex: &str) -> Option<f64> {
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| -> Option<f64> {
        let c = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

/// The contrast ratio of two luminances (1 to 21).
pub fn contrast(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    (hi + 0.05) / (lo + 0.05)
}

/// `#000000` or `#ffffff`, whichever contrasts more with the accent (`#rrggbb` or `rrggbb`). The
/// better of the two is always at least 4.58:1, above WCAG AA's 4.5:1 for text.
pub fn on_accent(accent: &str) -> Option<&'static str> {
    let l = luminance(accent.trim_start_matches('#'))?;
    Some(if contrast(l, 1.0) >= contrast(l, 0.0) { "#ffffff" } else { "#000000" })
}

/// The accent stylesheet for `rrggbb`.
#[utoipa::path(get, path = "/link-assets/accent/{color}", tag = "connect", operation_id = "accent_stylesheet",
    params(("color" = String, Path, description = "The accent colour as six hexadecimal digits, no `#`")),
    responses(
        (status = 200, description = "`--accent` and `--on-accent` (black or white, whichever contrasts more)", content_type = "text/css"),
        (status = 404, description = "Not a colour", body = crate::error::ErrorEnvelope),
    ))]
pub async fn accent(color: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(color)) = color else { return ApiError::LinkAssetNotFound("accent".into()).into_response() };
    let hex = color.to_ascii_lowercase();
    let Some(text) = on_accent(&hex) else {
        return ApiError::LinkAssetNotFound(format!("accent/{}", color.chars().take(16).collect::<String>()))
            .into_response();
    };
    let css = format!(":root {{ --accent: #{hex}; --on-accent: {text}; }}\n");
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400, immutable"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A project's logo, as uploaded with `PUT /api/v3.1/link_page/logo`. Public (the page needs it
/// without an API key) but only at the URL naming the project and the current logo's SHA-256.
#[utoipa::path(get, path = "/link-assets/logo/{project}/{sha256}", tag = "connect", operation_id = "link_logo",
    params(
        ("project" = String, Path, description = "The project's id (from `logo.url` of `GET /api/v3.1/link_page`)"),
        ("sha256" = String, Path, description = "The logo's SHA-256, lower-case hex"),
    ),
    responses(
        (status = 200, description = "The image, with `ETag`, `Cache-Control: public, max-age=31536000, immutable` and `X-Content-Type-Options: nosniff`", content_type = "image/png"),
        (status = 304, description = "`If-None-Match` names the logo"),
        (status = 404, description = "No such logo (unknown project, an old or another project's logo)", body = crate::error::ErrorEnvelope),
    ))]
pub async fn logo(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let not_found = || ApiError::LinkAssetNotFound("logo".into()).into_response();
    let Ok(Path((project, digest))) = path else { return not_found() };
    let Ok(project) = Uuid::parse_str(&project) else { return not_found() };
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return not_found();
    }
    let etag = format!("\"{digest}\"");
    let (content_type, bytes) = match state.store.link_logo(ProjectId(project), &digest).await {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { bytes.into_response() };
    let h = response.headers_mut();
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::{contrast, luminance, on_accent};

    #[test]
    fn text_on_the_accent_always_has_at_least_4_5_to_1() {
        assert_eq!(on_accent("#ffffff"), Some("#000000"));
        assert_eq!(on_accent("000000"), Some("#ffffff"));
        assert_eq!(on_accent("#2454d6"), Some("#ffffff"));
        assert_eq!(on_accent("#ffcc00"), Some("#000000"));
        assert_eq!(on_accent("#zzzzzz"), None);
        assert_eq!(on_accent("#fff"), None);
        // Every 17th step of each channel: the chosen text colour clears AA.
        for r in (0..=255).step_by(17) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(17) {
                    let hex = format!("{r:02x}{g:02x}{b:02x}");
                    let l = luminance(&hex).unwrap();
                    let text = if on_accent(&hex) == Some("#ffffff") { 1.0 } else { 0.0 };
                    assert!(contrast(l, text) >= 4.5, "{hex}: {}", contrast(l, text));
                }
            }
        }
    }
}
