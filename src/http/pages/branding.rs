//! `GET/PATCH /api/v3.1/link_page` and `PUT/DELETE /api/v3.1/link_page/logo`: the caller's
//! project's link-page branding (authlink's own API; Composio has no such route). The logo is
//! uploaded as the raw body, checked by its magic bytes (PNG, JPEG or WebP, never SVG, which can
//! carry script), at most [`MAX_LOGO_BYTES`], and served by authlink itself
//! (`/link-assets/logo/{project}/{sha256}`), so the pages' CSP stays `default-src 'self'`.

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use utoipa::ToSchema;
use validator::Validate;

use super::{Brand, assets::on_accent};
use crate::{
    AppState,
    error::{ApiError, ApiResult, ErrorEnvelope, FieldError},
    http::{
        common::iso,
        extract::{Project, ValidatedJson, body_rejection},
    },
    store::{BrandingPatch, LinkBranding, NewLogo, ProjectId},
};

/// Largest logo accepted, in bytes (256 KiB).
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 80;
/// Longest support URL, in bytes.
pub const MAX_SUPPORT_URL: usize = 2048;

/// The stored logo.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoResponse {
    /// Absolute URL on authlink's origin; changes with the content (its last segment is the SHA-256).
    pub url: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// Lower-case hex SHA-256 of the bytes (also the `ETag`).
    pub sha256: String,
    pub size: i64,
}

/// The project's link-page settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkPageSettings {
    /// The project's name (the app's name on the page when `display_name` is null).
    pub project_name: String,
    /// The name the page shows for the app: `display_name`, else `project_name`.
    pub app_name: String,
    pub display_name: Option<String>,
    /// `#rrggbb` (lower case): the Continue button's colour.
    pub accent_color: Option<String>,
    /// `#000000` or `#ffffff`, whichever contrasts more with `accent_color` (always ≥ 4.5:1).
    pub accent_text_color: Option<String>,
    /// https URL the page links to for help.
    pub support_url: Option<String>,
    pub logo: Option<LogoResponse>,
    /// When a setting last changed; null when none ever was.
    pub updated_at: Option<String>,
}

/// Body of `PATCH link_page`: absent fields stay, `null` clears a field.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPagePatch {
    /// 1–80 characters, no control characters.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// `#rrggbb`.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub accent_color: Option<Option<String>>,
    /// An https URL with a host and no user info, at most 2048 bytes.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub support_url: Option<Option<String>>,
}

/// A present field (value or `null`) is `Some`; an absent one stays `None` (`serde(default)`).
fn some<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn logo_url(base: &str, project: ProjectId, sha256: &str) -> String {
    format!("{base}/{}", logo_path(project, sha256))
}

fn logo_path(project: ProjectId, sha256: &str) -> String {
    format!("link-assets/logo/{}/{sha256}", project.0)
}

fn respond(state: &AppState, project: ProjectId, b: LinkBranding) -> LinkPageSettings {
    LinkPageSettings {
        app_name: b.display_name.clone().unwrap_or_else(|| b.project_name.clone()),
        project_name: b.project_name,
        display_name: b.display_name,
        accent_text_color: b.accent_color.as_deref().and_then(on_accent).map(str::to_owned),
        accent_color: b.accent_color,
        support_url: b.support_url,
        logo: b.logo.map(|l| LogoResponse {
            url: logo_url(&state.settings.public_base, project, &l.sha256),
            content_type: l.content_type,
            sha256: l.sha256,
            size: l.size,
        }),
        updated_at: b.updated_at.map(iso),
    }
}

async fn current(state: &AppState, project: ProjectId) -> ApiResult<Json<LinkPageSettings>> {
    let branding = state
        .store
        .link_branding(project)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's project has no row".into()))?;
    Ok(Json(respond(state, project, branding)))
}

/// The branding the pages of `project`'s links show; without it (a store error, logged) the
/// page still renders, as authlink's.
pub async fn brand_for(state: &AppState, project: ProjectId) -> Brand {
    match state.store.link_branding(project).await {
        Ok(Some(b)) => Brand {
            app_name: b.display_name.unwrap_or(b.project_name),
            logo_path: b.logo.map(|l| logo_path(project, &l.sha256)),
            accent: b.accent_color.map(|c| c.trim_start_matches('#').to_owned()),
            support_url: b.support_url,
        },
        Ok(None) => Brand { app_name: "authlink".into(), ..Brand::default() },
        Err(err) => {
            tracing::warn!(error.cause = %err, "link page branding could not be read");
            Brand { app_name: "authlink".into(), ..Brand::default() }
        }
    }
}

/// The project's link-page settings.
#[utoipa::path(get, path = "/link_page", tag = "link_page", operation_id = "get_link_page_settings",
    responses(
        (status = 200, body = LinkPageSettings),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn get(State(state): State<AppState>, Project(project, _): Project) -> ApiResult<Json<LinkPageSettings>> {
    current(&state, project).await
}

/// Changes the display name, accent colour or support URL; `null` clears one.
#[utoipa::path(patch, path = "/link_page", tag = "link_page", operation_id = "update_link_page_settings",
    request_body = LinkPagePatch,
    responses(
        (status = 200, body = LinkPageSettings),
        (status = 400, description = "A field breaks its rule (the error names it)", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Project(project, _): Project,
    ValidatedJson(body): ValidatedJson<LinkPagePatch>,
) -> ApiResult<Json<LinkPageSettings>> {
    let patch = validate(body)?;
    state.store.update_link_branding(project, &patch).await?;
    current(&state, project).await
}

/// Checks and normalizes a PATCH: every broken rule is reported, each naming its field.
pub fn validate(body: LinkPagePatch) -> Result<BrandingPatch, ApiError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<Option<String>>, rule: fn(&str) -> Result<String, String>| {
        value.map(|v| {
            v.and_then(|v| match rule(&v) {
                Ok(v) => Some(v),
                Err(message) => {
                    errors.push(FieldError::new(field, message));
                    None
                }
            })
        })
    };
    let patch = BrandingPatch {
        display_name: check("display_name", body.display_name, display_name),
        accent_color: check("accent_color", body.accent_color, accent_color),
        support_url: check("support_url", body.support_url, support_url),
    };
    if errors.is_empty() { Ok(patch) } else { Err(ApiError::Validation(errors)) }
}

pub(crate) fn display_name(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("must not be empty (send null to clear it)".into());
    }
    if v.chars().count() > MAX_DISPLAY_NAME {
        return Err(format!("must be at most {MAX_DISPLAY_NAME} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(v.to_owned())
}

fn accent_color(v: &str) -> Result<String, String> {
    match v.strip_prefix('#') {
        Some(hex) if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(v.to_ascii_lowercase()),
        _ => Err("must be a colour as #rrggbb (six hexadecimal digits)".into()),
    }
}

fn support_url(v: &str) -> Result<String, String> {
    if v.len() > MAX_SUPPORT_URL {
        return Err(format!("must be at most {MAX_SUPPORT_URL} bytes"));
    }
    let url = Url::parse(v).map_err(|_| "must be an absolute https URL".to_owned())?;
    if url.scheme() != "https" {
        return Err("must use https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info".into());
    }
    Ok(url.to_string())
}

/// The logo types accepted, by `Content-Type`, and the magic bytes each must start with.
fn sniff(content_type: &str, bytes: &[u8]) -> Result<&'static str, FieldError> {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (kind, matches) = match essence.as_str() {
        "image/png" => ("image/png", bytes.starts_with(b"\x89PNG\r\n\x1a\n")),
        "image/jpeg" => ("image/jpeg", bytes.starts_with(&[0xFF, 0xD8, 0xFF])),
        "image/webp" => ("image/webp", bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"),
        _ => {
            return Err(FieldError::new(
                "Content-Type",
                "must be image/png, image/jpeg or image/webp (SVG and other types are not accepted)",
            ));
        }
    };
    if matches {
        Ok(kind)
    } else {
        Err(FieldError::new("body", format!("is not a {kind} image (its bytes do not match Content-Type)")))
    }
}

/// Uploads (replaces) the logo: the raw image as the body, its type in `Content-Type`.
#[utoipa::path(put, path = "/link_page/logo", tag = "link_page", operation_id = "put_link_page_logo",
    request_body(description = "The image, at most 262144 bytes", content(
        (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/webp"))),
    responses(
        (status = 200, body = LinkPageSettings),
        (status = 400, description = "Empty, too large, another type (SVG included), or bytes not of the declared type", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn put_logo(
    State(state): State<AppState>,
    Project(project, _): Project,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_rejection(&rejection),
    };
    let result: ApiResult<Json<LinkPageSettings>> = async {
        if body.is_empty() {
            return Err(ApiError::field("body", "must not be empty (send DELETE to remove the logo)"));
        }
        if body.len() > MAX_LOGO_BYTES {
            return Err(ApiError::field("body", format!("must be at most {MAX_LOGO_BYTES} bytes")));
        }
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let kind = sniff(content_type, &body).map_err(|e| ApiError::Validation(vec![e]))?;
        let digest: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let logo = NewLogo { content_type: kind.to_owned(), sha256: digest, bytes: body.to_vec() };
        state.store.set_link_logo(project, Some(&logo)).await?;
        current(&state, project).await
    }
    .await;
    result.into_response()
}

/// Removes the logo.
#[utoipa::path(delete, path = "/link_page/logo", tag = "link_page", operation_id = "delete_link_page_logo",
    responses(
        (status = 200, body = LinkPageSettings),
        (status = 401, body = ErrorEnvelope),
    ))]
pub async fn delete_logo(
    State(state): State<AppState>,
    Project(project, _): Project,
) -> ApiResult<Json<LinkPageSettings>> {
    state.store.set_link_logo(project, None).await?;
    current(&state, project).await
}

#[cfg(test)]
mod tests {
    use super::{accent_color, display_name, sniff, support_url};

    #[test]
    fn rules_accept_good_values_and_name_what_is_wrong() {
        assert_eq!(accent_color("#A0b1C2").unwrap(), "#a0b1c2");
        for bad in ["a0b1c2", "#a0b1c", "#a0b1c2d", "#ggg000", "red", "#12345６"] {
            assert!(accent_color(bad).is_err(), "{bad}");
        }
        assert_eq!(display_name("  Acme  ").unwrap(), "Acme");
        for bad in ["", "   ", "a\u{0}b", "a\nb", &"x".repeat(81)] {
            assert!(display_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(support_url("https://help.example.com/x?y").unwrap(), "https://help.example.com/x?y");
        for bad in [
            "http://help.example.com",
            "javascript:alert(1)",
            "https://u:p@h.example",
            "help.example.com",
            "data:text/html,x",
        ] {
            assert!(support_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logos_are_sniffed_by_magic_bytes() {
        assert_eq!(sniff("image/png", b"\x89PNG\r\n\x1a\nrest").unwrap(), "image/png");
        assert_eq!(sniff("IMAGE/JPEG; q=1", &[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(), "image/jpeg");
        assert_eq!(sniff("image/webp", b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), "image/webp");
        assert_eq!(sniff("image/png", &[0xFF, 0xD8, 0xFF]).unwrap_err().path, "body");
        assert_eq!(sniff("image/svg+xml", b"<svg/>").unwrap_err().path, "Content-Type");
        assert_eq!(sniff("", b"\x89PNG\r\n\x1a\n").unwrap_err().path, "Content-Type");
    }
}
