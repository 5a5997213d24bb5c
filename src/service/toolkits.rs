//! Which toolkits exist for a project: the catalog's, plus any the project configured itself
//! through an auth config with its own endpoints.

use std::collections::BTreeSet;

use crate::{
    catalog::{AuthScheme, CATEGORIES, Provider, category_name},
    domain::ToolkitSlug,
    error::{ApiError, ApiResult},
    service::context::ServiceContext,
    store::{Cursor, Page, ProjectId},
};

/// Fails with `ToolRouterV2_InvalidToolkitSlugs` naming every unknown slug.
pub async fn ensure_known<'a>(
    ctx: &ServiceContext,
    project: ProjectId,
    slugs: impl IntoIterator<Item = &'a ToolkitSlug>,
) -> ApiResult<()> {
    let missing: BTreeSet<ToolkitSlug> = slugs.into_iter().filter(|s| !ctx.catalog.contains(s)).cloned().collect();
    if missing.is_empty() {
        return Ok(());
    }
    let wanted: Vec<ToolkitSlug> = missing.iter().cloned().collect();
    let custom: BTreeSet<ToolkitSlug> =
        ctx.store.toolkits_with_auth_configs(project, &wanted).await?.into_iter().collect();
    let unknown: Vec<String> = missing.difference(&custom).map(ToString::to_string).collect();
    if unknown.is_empty() { Ok(()) } else { Err(ApiError::InvalidToolkitSlugs(unknown)) }
}

/// When the embedded catalog was last revised: the `created_at`/`updated_at` toolkits report
/// (authlink keeps no per-toolkit history).
pub const CATALOG_DATE: &str = "2026-12-01T00:00:00.000Z";

/// One field an auth config or a connection initiation takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthField {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub required: bool,
    pub is_secret: bool,
}

/// Where one connection value goes on the provider's API calls (a catalog `credential` placement
/// with its field resolved), so an app or agent can build the call from `state.val` alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `header` or `query`.
    pub location: &'static str,
    pub name: String,
    pub prefix: Option<String>,
    /// The `state.val` member whose value is placed.
    pub field: String,
}

/// A toolkit as the SDKs see it: from the catalog (`native`) or known only through one of the
/// project's auth configs (`custom`, always `OAUTH2`). Each toolkit has the one scheme its catalog
/// entry names; authlink manages no OAuth apps, so none is Composio-managed.
#[derive(Debug, Clone)]
pub struct Toolkit {
    pub slug: ToolkitSlug,
    pub name: String,
    pub description: String,
    pub logo: String,
    /// `(id, display name)`.
    pub categories: Vec<(String, String)>,
    pub is_custom: bool,
    pub auth_scheme: AuthScheme,
    pub default_scopes: Vec<String>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    /// What `POST auth_configs` needs (`credentials.*`), required ones first.
    pub auth_config_fields: Vec<AuthField>,
    /// What a connection must supply: the catalog's fields (an API key, a `subdomain`, ...).
    pub initiation_fields: Vec<AuthField>,
    /// Where an `API_KEY` / `BEARER_TOKEN` connection's values go (empty for other schemes).
    pub placements: Vec<Placement>,
}

impl Toolkit {
    fn native(p: &Provider) -> Self {
        let categories =
            p.categories.iter().filter_map(|id| category_name(id).map(|name| (id.clone(), name.to_owned()))).collect();
        let initiation_fields = p
            .fields
            .iter()
            .map(|f| AuthField {
                name: f.name.clone(),
                display_name: f.display_name.clone(),
                description: f.description.clone(),
                required: f.required,
                is_secret: f.secret,
            })
            .collect();
        let oauth = p.oauth();
        Self {
            slug: p.slug.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            logo: p.logo.clone().unwrap_or_default(),
            categories,
            is_custom: false,
            auth_scheme: p.auth_scheme,
            default_scopes: oauth.map(|o| o.default_scopes.clone()).unwrap_or_default(),
            authorization_url: oauth
                .map(|o| o.authorization_url.clone())
                .or_else(|| p.oauth1.as_ref().map(|o| o.authorize_url.clone())),
            token_url: oauth
                .map(|o| o.token_url.clone())
                .or_else(|| p.oauth1.as_ref().map(|o| o.access_token_url.clone())),
            // An API key, bearer or basic auth config needs no credentials: the secret is the
            // connection's. An OAuth 1.0a one takes the app's consumer key and secret.
            auth_config_fields: match (oauth, &p.oauth1) {
                (Some(_), _) => auth_config_fields(false),
                (None, Some(_)) => oauth1_config_fields(),
                (None, None) => Vec::new(),
            },
            initiation_fields,
            placements: p
                .placements()
                .into_iter()
                .map(|(c, f)| Placement {
                    location: c.location.as_str(),
                    name: c.name.clone(),
                    prefix: c.prefix.clone(),
                    field: f.name.clone(),
                })
                .collect(),
        }
    }

    fn custom(slug: ToolkitSlug) -> Self {
        Self {
            name: slug.to_string(),
            description: format!(
                "Custom OAuth 2.0 toolkit `{slug}`, configured by this project through an auth config."
            ),
            slug,
            logo: String::new(),
            categories: Vec::new(),
            is_custom: true,
            auth_scheme: AuthScheme::OAuth2,
            default_scopes: Vec::new(),
            authorization_url: None,
            token_url: None,
            auth_config_fields: auth_config_fields(true),
            initiation_fields: Vec::new(),
            placements: Vec::new(),
        }
    }
}

/// `credentials.*` of an OAUTH1 `POST auth_configs` (catalog toolkits).
fn oauth1_config_fields() -> Vec<AuthField> {
    let field = |name: &str, display_name: &str, description: &str, required, is_secret| AuthField {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        description: description.to_owned(),
        required,
        is_secret,
    };
    vec![
        field("consumer_key", "Consumer Key", "The OAuth 1.0a app's consumer key.", true, false),
        field(
            "consumer_secret",
            "Consumer Secret",
            "The OAuth 1.0a app's consumer secret (stored sealed, never returned).",
            true,
            true,
        ),
        field(
            "request_token_url",
            "Request Token URL",
            "Overrides the catalog's temporary credentials endpoint.",
            false,
            false,
        ),
        field(
            "authorization_url",
            "Authorization URL",
            "Overrides the catalog's authorization endpoint.",
            false,
            false,
        ),
        field("token_url", "Access Token URL", "Overrides the catalog's token credentials endpoint.", false, false),
    ]
}

/// `credentials.*` of `POST auth_configs`: a custom toolkit must name its endpoints.
fn auth_config_fields(custom: bool) -> Vec<AuthField> {
    let field = |name: &str, display_name: &str, description: &str, required, is_secret| AuthField {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        description: description.to_owned(),
        required,
        is_secret,
    };
    vec![
        field("client_id", "Client ID", "The OAuth app's client id.", true, false),
        field(
            "client_secret",
            "Client Secret",
            "The OAuth app's client secret (stored sealed, never returned).",
            true,
            true,
        ),
        field(
            "authorization_url",
            "Authorization URL",
            if custom {
                "The provider's authorization endpoint."
            } else {
                "Overrides the catalog's authorization endpoint."
            },
            custom,
            false,
        ),
        field(
            "token_url",
            "Token URL",
            if custom { "The provider's token endpoint." } else { "Overrides the catalog's token endpoint." },
            custom,
            false,
        ),
        field("scopes", "Scopes", "Scopes to request, as a list or a comma/space separated string.", false, false),
        field("client_auth", "Client authentication", "client_secret_basic or client_secret_post.", false, false),
        field("issuer", "Issuer", "Expected `iss` of authorization responses (RFC 9207).", false, false),
        field("revocation_url", "Revocation URL", "RFC 7009 token revocation endpoint.", false, false),
    ]
}

/// Which toolkits a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    All,
    /// From the catalog.
    Native,
    /// Known only through the project's auth configs.
    Custom,
}

/// Who manages a toolkit's auth (`managed_by`): authlink manages no OAuth apps, so
/// `Composio` matches nothing and `Project` matches the toolkits the project has configs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManagedBy {
    #[default]
    All,
    Composio,
    Project,
}

/// Filters and paging of `GET toolkits`.
#[derive(Debug, Clone, Default)]
pub struct ToolkitQuery {
    pub category: Option<String>,
    /// Case-insensitive substring of slug, name or description.
    pub search: Option<String>,
    pub kind: Kind,
    pub managed_by: ManagedBy,
    /// Only these toolkits (`POST toolkits/multi`); `None` means any.
    pub slugs: Option<Vec<ToolkitSlug>>,
    pub limit: i64,
    /// The last slug of the previous page.
    pub after: Option<Cursor>,
}

/// Every toolkit the project can use, in slug order: the catalog's and its custom ones.
pub async fn all(ctx: &ServiceContext, project: ProjectId) -> ApiResult<Vec<(Toolkit, bool)>> {
    let configured: BTreeSet<ToolkitSlug> = ctx.store.auth_config_toolkits(project).await?.into_iter().collect();
    let mut out: Vec<(Toolkit, bool)> =
        ctx.catalog.iter().map(|p| (Toolkit::native(p), configured.contains(&p.slug))).collect();
    out.extend(configured.iter().filter(|s| !ctx.catalog.contains(s)).map(|s| (Toolkit::custom(s.clone()), true)));
    out.sort_by(|a, b| a.0.slug.cmp(&b.0.slug));
    Ok(out)
}

/// One page of `GET toolkits`, sorted by slug (authlink has no usage figures to sort by).
pub async fn list(ctx: &ServiceContext, project: ProjectId, q: &ToolkitQuery) -> ApiResult<Page<Toolkit>> {
    let search = q.search.as_deref().map(str::to_lowercase);
    let matching: Vec<Toolkit> = all(ctx, project)
        .await?
        .into_iter()
        .filter(|(_, configured)| match q.managed_by {
            ManagedBy::All => true,
            ManagedBy::Composio => false,
            ManagedBy::Project => *configured,
        })
        .map(|(t, _)| t)
        .filter(|t| q.slugs.as_ref().is_none_or(|only| only.contains(&t.slug)))
        .filter(|t| match q.kind {
            Kind::All => true,
            Kind::Native => !t.is_custom,
            Kind::Custom => t.is_custom,
        })
        .filter(|t| q.category.as_ref().is_none_or(|c| t.categories.iter().any(|(id, _)| id.eq_ignore_ascii_case(c))))
        .filter(|t| {
            search.as_ref().is_none_or(|s| {
                t.slug.as_str().contains(s.as_str())
                    || t.name.to_lowercase().contains(s.as_str())
                    || t.description.to_lowercase().contains(s.as_str())
            })
        })
        .collect();
    let total = i64::try_from(matching.len()).unwrap_or(i64::MAX);
    let after_slug = q.after.as_ref().map(|c| c.id.clone());
    let rest: Vec<Toolkit> =
        matching.into_iter().filter(|t| after_slug.as_deref().is_none_or(|a| t.slug.as_str() > a)).collect();
    let epoch = chrono::DateTime::UNIX_EPOCH;
    Ok(Page::from_rows(rest, q.limit, total, q.after.as_ref(), |t| (epoch, t.slug.to_string())))
}

/// One toolkit; 404 when neither the catalog nor the project's auth configs know it.
pub async fn get(ctx: &ServiceContext, project: ProjectId, slug: &ToolkitSlug) -> ApiResult<Toolkit> {
    if let Some(p) = ctx.catalog.get(slug) {
        return Ok(Toolkit::native(p));
    }
    let known = ctx.store.toolkits_with_auth_configs(project, std::slice::from_ref(slug)).await?;
    if known.contains(slug) {
        Ok(Toolkit::custom(slug.clone()))
    } else {
        Err(ApiError::ToolkitNotFound(slug.to_string()))
    }
}

/// The toolkits of `slugs` that exist (unknown ones are left out, as Composio's `multi` does),
/// in the order asked, each once.
pub async fn get_many(ctx: &ServiceContext, project: ProjectId, slugs: &[ToolkitSlug]) -> ApiResult<Vec<Toolkit>> {
    let custom: BTreeSet<ToolkitSlug> =
        ctx.store.toolkits_with_auth_configs(project, slugs).await?.into_iter().collect();
    let mut seen = BTreeSet::new();
    Ok(slugs
        .iter()
        .filter(|s| seen.insert((*s).clone()))
        .filter_map(|s| match ctx.catalog.get(s) {
            Some(p) => Some(Toolkit::native(p)),
            None => custom.contains(s).then(|| Toolkit::custom(s.clone())),
        })
        .collect())
}

/// Every category a catalog toolkit is in: `(id, display name)`, by id.
pub fn categories(ctx: &ServiceContext) -> Vec<(&'static str, &'static str)> {
    let used: BTreeSet<&str> = ctx.catalog.iter().flat_map(|p| p.categories.iter().map(String::as_str)).collect();
    CATEGORIES.iter().copied().filter(|(id, _)| used.contains(id)).collect()
}
