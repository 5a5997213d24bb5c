//! A project's link-page branding: display name, accent colour, support URL and logo (stored in
//! the database, served from authlink's own origin). One row per project, made on first write.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ProjectId, StoreResult};

/// What a project's pages show; all `None` until set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkBranding {
    /// The project's own name, the app's name on the page when no display name is set.
    pub project_name: String,
    pub display_name: Option<String>,
    /// `#rrggbb`, lower case.
    pub accent_color: Option<String>,
    pub support_url: Option<String>,
    pub logo: Option<LogoMeta>,
    /// When any setting last changed; `None` when none ever was.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A stored logo, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoMeta {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// Lower-case hex SHA-256 of the bytes: the logo URL's last segment and its `ETag`.
    pub sha256: String,
    pub size: i64,
}

/// A logo to store.
#[derive(Debug, Clone)]
pub struct NewLogo {
    pub content_type: String,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// A PATCH of the settings: `None` leaves a field, `Some(None)` clears it, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default)]
pub struct BrandingPatch {
    pub display_name: Option<Option<String>>,
    pub accent_color: Option<Option<String>>,
    pub support_url: Option<Option<String>>,
}

#[async_trait]
pub trait BrandingStore: Send + Sync {
    /// The project's branding (all `None` when never set). `None` for an unknown project.
    async fn link_branding(&self, project: ProjectId) -> StoreResult<Option<LinkBranding>>;
    /// Applies `patch` in one statement (concurrent patches of different fields both land).
    async fn update_link_branding(&self, project: ProjectId, patch: &BrandingPatch) -> StoreResult<()>;
    /// Stores (`Some`) or removes (`None`) the logo.
    async fn set_link_logo(&self, project: ProjectId, logo: Option<&NewLogo>) -> StoreResult<()>;
    /// The logo's content type and bytes when `sha256` is the project's current logo.
    async fn link_logo(&self, project: ProjectId, sha256: &str) -> StoreResult<Option<(String, Vec<u8>)>>;
}
